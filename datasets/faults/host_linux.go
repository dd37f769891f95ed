//go:build linux

package faults

import (
	"bufio"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"time"
	"unsafe"
)

// Emulated hosts. Every agent of a local flow runs on this one machine, so
// /proc/stat's CPU is the same for all of them. Each emulated host gets a
// CPU-accounting cgroup instead: its agent process, and whatever runs "on
// that host" (a CPU-interference process), are put in it, and the agent's
// host cpu metrics are read from it: user_percent is the host's processes'
// user CPU time over the machine's capacity, idle_percent what they leave.
// This is measurement scoped to the emulated host, not a made-up value.

// cgroupRoot finds where a cgroup hierarchy with CPU accounting is mounted:
// cgroup v1's cpuacct controller, else the cgroup v2 unified hierarchy.
func cgroupRoot() (dir string, v2 bool, err error) {
	f, err := os.Open("/proc/self/mountinfo")
	if err != nil {
		return "", false, err
	}
	defer f.Close()
	var unified string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		pre, post, ok := strings.Cut(sc.Text(), " - ")
		if !ok {
			continue
		}
		fields, tail := strings.Fields(pre), strings.Fields(post)
		if len(fields) < 5 || len(tail) < 3 {
			continue
		}
		switch tail[0] {
		case "cgroup":
			for _, o := range strings.Split(tail[2], ",") {
				if o == "cpuacct" {
					return fields[4], false, nil
				}
			}
		case "cgroup2":
			unified = fields[4]
		}
	}
	if unified != "" {
		return unified, true, nil
	}
	return "", false, errors.New("no cgroup hierarchy with CPU accounting is mounted")
}

// makeHostCgroup creates the cgroup of an emulated host: ROOT/vscope-RUN/HOST.
func makeHostCgroup(run, host string) (string, error) {
	root, _, err := cgroupRoot()
	if err != nil {
		return "", err
	}
	dir := filepath.Join(root, "vscope-"+run, host)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", fmt.Errorf("cgroup for host %s: %w", host, err)
	}
	return dir, nil
}

// removeHostCgroups removes the run's cgroups (they must be empty: their
// processes have exited).
func removeHostCgroups(run string, dirs []string) {
	for _, d := range dirs {
		if d != "" {
			_ = os.Remove(d)
		}
	}
	if root, _, err := cgroupRoot(); err == nil {
		_ = os.Remove(filepath.Join(root, "vscope-"+run))
	}
}

// joinCgroup moves process pid (all its threads) into the cgroup dir.
func joinCgroup(dir string, pid int) error {
	if dir == "" {
		return nil
	}
	return os.WriteFile(filepath.Join(dir, "cgroup.procs"), []byte(strconv.Itoa(pid)), 0o644)
}

// hostCPU reads an emulated host's CPU time from its cgroup.
type hostCPU struct {
	dir        string
	v2         bool
	prevUser   time.Duration
	prevSys    time.Duration
	prevAt     time.Time
	ncpu       float64
	readFailed bool
}

func newHostCPU(dir string) *hostCPU {
	if dir == "" {
		return nil
	}
	_, err := os.Stat(filepath.Join(dir, "cpuacct.usage_user"))
	return &hostCPU{dir: dir, v2: err != nil, ncpu: float64(runtime.NumCPU())}
}

// times returns the cgroup's cumulative user and system CPU time.
func (h *hostCPU) times() (user, sys time.Duration, err error) {
	if !h.v2 {
		u, err := readInt(filepath.Join(h.dir, "cpuacct.usage_user"))
		if err != nil {
			return 0, 0, err
		}
		s, err := readInt(filepath.Join(h.dir, "cpuacct.usage_sys"))
		return time.Duration(u), time.Duration(s), err
	}
	b, err := os.ReadFile(filepath.Join(h.dir, "cpu.stat"))
	if err != nil {
		return 0, 0, err
	}
	for _, line := range strings.Split(string(b), "\n") {
		k, v, _ := strings.Cut(line, " ")
		n, _ := strconv.ParseInt(strings.TrimSpace(v), 10, 64)
		switch k {
		case "user_usec":
			user = time.Duration(n) * time.Microsecond
		case "system_usec":
			sys = time.Duration(n) * time.Microsecond
		}
	}
	return user, sys, nil
}

// percents returns user, system and idle percent of the machine's CPU
// capacity since the last call; ok is false on the first call.
func (h *hostCPU) percents(now time.Time) (user, sys, idle float64, ok bool) {
	u, s, err := h.times()
	if err != nil {
		h.readFailed = true
		return 0, 0, 0, false
	}
	prevAt := h.prevAt
	du, ds := u-h.prevUser, s-h.prevSys
	h.prevUser, h.prevSys, h.prevAt = u, s, now
	if prevAt.IsZero() || du < 0 || ds < 0 {
		return 0, 0, 0, false
	}
	capacity := now.Sub(prevAt).Seconds() * h.ncpu
	if capacity <= 0 {
		return 0, 0, 0, false
	}
	user = min(100, 100*du.Seconds()/capacity)
	sys = min(100-user, 100*ds.Seconds()/capacity)
	return user, sys, 100 - user - sys, true
}

func readInt(path string) (int64, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return 0, err
	}
	return strconv.ParseInt(strings.TrimSpace(string(b)), 10, 64)
}

// setAffinity pins every thread of process pid to the given CPUs (nil:
// all of them again). Threads the process makes later inherit the mask of
// the thread that makes them.
func setAffinity(pid int, cpus []int) error {
	if len(cpus) == 0 {
		for i := range runtime.NumCPU() {
			cpus = append(cpus, i)
		}
	}
	var mask [16]uint64 // 1024 CPUs
	for _, c := range cpus {
		if c >= 0 && c < 1024 {
			mask[c/64] |= 1 << (uint(c) % 64)
		}
	}
	tasks, err := os.ReadDir(fmt.Sprintf("/proc/%d/task", pid))
	if err != nil {
		return err
	}
	var errs []error
	for _, t := range tasks {
		tid, err := strconv.Atoi(t.Name())
		if err != nil {
			continue
		}
		_, _, e := syscall.RawSyscall(syscall.SYS_SCHED_SETAFFINITY, uintptr(tid), unsafe.Sizeof(mask), uintptr(unsafe.Pointer(&mask[0])))
		if e != 0 && e != syscall.ESRCH {
			errs = append(errs, fmt.Errorf("sched_setaffinity(%d): %w", tid, e))
		}
	}
	return errors.Join(errs...)
}

// tmpfs mounts a tmpfs of size bytes at dir (root only).
func mountTmpfs(dir string, size int64) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	if err := syscall.Mount("tmpfs", dir, "tmpfs", 0, "size="+strconv.FormatInt(size, 10)); err != nil {
		return fmt.Errorf("mount tmpfs at %s: %w", dir, err)
	}
	return nil
}

func unmount(dir string) error {
	return syscall.Unmount(dir, syscall.MNT_DETACH)
}

// freeBytes is the space left for unprivileged use on dir's file system.
func freeBytes(dir string) (int64, error) {
	var st syscall.Statfs_t
	if err := syscall.Statfs(dir, &st); err != nil {
		return 0, err
	}
	return int64(st.Bavail) * int64(st.Bsize), nil
}

// fillTo writes a ballast file at path so that dir's file system has
// about free bytes left; it returns the ballast's size.
func fillTo(path string, free int64) (int64, error) {
	avail, err := freeBytes(filepath.Dir(path))
	if err != nil {
		return 0, err
	}
	size := avail - free
	if size <= 0 {
		return 0, nil
	}
	f, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o644)
	if err != nil {
		return 0, err
	}
	defer f.Close()
	if err := syscall.Fallocate(int(f.Fd()), 0, 0, size); err == nil {
		return size, nil
	}
	buf := make([]byte, 1<<20)
	var n int64
	for n < size {
		w, err := f.Write(buf[:min(int64(len(buf)), size-n)])
		n += int64(w)
		if err != nil {
			return n, nil // the disk is full: that is the point
		}
	}
	return n, nil
}

// childAttr makes a child process die with the flow's process, and puts
// it in a process group of its own so a Ctrl-C at the terminal reaches
// only the flow's process, which stops the agents in order.
func childAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL, Setpgid: true}
}
