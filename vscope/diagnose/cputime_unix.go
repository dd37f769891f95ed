//go:build unix

package diagnose

import (
	"syscall"
	"time"
)

// cpuTime is the process's user + system CPU time so far, for the
// per-stage figures of Result.TimingMS (steadier than wall time on a
// shared machine).
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
