package wal

import (
	"os"
	"syscall"
)

// datasync flushes f's data and the metadata needed to read it back
// (fdatasync(2)): what makes an appended record durable.
func datasync(f *os.File) error {
	for {
		err := syscall.Fdatasync(int(f.Fd()))
		if err != syscall.EINTR {
			return err
		}
	}
}

// syncAll is sync(2), for benchmarks that drop the page cache.
func syncAll() error {
	syscall.Sync()
	return nil
}
