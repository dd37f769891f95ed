//go:build !unix

package wal

import "os"

// lockFile is a no-op where flock(2) does not exist.
func lockFile(*os.File) error { return nil }

// statfsFree reports unlimited space where statfs(2) does not exist.
func statfsFree(string) (int64, error) { return 1 << 62, nil }

func isNoSpace(error) bool { return false }
