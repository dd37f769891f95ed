//go:build !unix

package sink

import "os"

// lockFile is a no-op where flock is missing: recovery then relies on no
// two sinks sharing a path root.
func lockFile(*os.File) (bool, error) { return true, nil }

// lockFileWait is a no-op where flock is missing.
func lockFileWait(*os.File) error { return nil }
