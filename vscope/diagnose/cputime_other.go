//go:build !unix

package diagnose

import "time"

// cpuTime is unknown here: the CPU figures of Result.TimingMS are 0.
func cpuTime() time.Duration { return 0 }
