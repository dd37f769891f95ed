//go:build !linux

package faults

import (
	"errors"
	"os"
	"path/filepath"
	"syscall"
	"time"
)

var errNotLinux = errors.New("needs Linux")

func makeHostCgroup(run, host string) (string, error) { return "", errNotLinux }
func removeHostCgroups(run string, dirs []string)     {}
func joinCgroup(dir string, pid int) error {
	if dir == "" {
		return nil
	}
	return errNotLinux
}

type hostCPU struct{}

func newHostCPU(dir string) *hostCPU { return nil }
func (h *hostCPU) percents(now time.Time) (user, sys, idle float64, ok bool) {
	return 0, 0, 0, false
}
func setAffinity(pid int, cpus []int) error   { return errNotLinux }
func mountTmpfs(dir string, size int64) error { return errNotLinux }
func unmount(dir string) error                { return errNotLinux }
func freeBytes(dir string) (int64, error)     { return 0, errNotLinux }
func fillTo(path string, free int64) (int64, error) {
	_ = os.Remove(filepath.Clean(path))
	return 0, errNotLinux
}

func childAttr() *syscall.SysProcAttr { return nil }
