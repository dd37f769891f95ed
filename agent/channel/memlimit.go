package channel

import (
	"math"
	"os"
	"runtime/debug"
	"strconv"
	"strings"
)

// defaultByteCapacity mirrors Flume's default (a share of the heap the
// process may use): a quarter of GOMEMLIMIT if set, else of the cgroup
// limit, else of physical memory, else 1 GiB.
func defaultByteCapacity() int64 {
	if lim := debug.SetMemoryLimit(-1); lim > 0 && lim != math.MaxInt64 {
		return lim / 4
	}
	if b, err := os.ReadFile("/sys/fs/cgroup/memory.max"); err == nil {
		if v, err := strconv.ParseInt(strings.TrimSpace(string(b)), 10, 64); err == nil && v > 0 {
			return v / 4
		}
	}
	if b, err := os.ReadFile("/proc/meminfo"); err == nil {
		for _, line := range strings.Split(string(b), "\n") {
			if f := strings.Fields(line); len(f) >= 2 && f[0] == "MemTotal:" {
				if kb, err := strconv.ParseInt(f[1], 10, 64); err == nil {
					return kb * 1024 / 4
				}
			}
		}
	}
	return 1 << 30
}
