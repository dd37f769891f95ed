//go:build !linux

package wal

import "os"

// datasync flushes f to stable storage; fdatasync(2) is Linux only.
func datasync(f *os.File) error { return f.Sync() }

func syncAll() error { return nil }
