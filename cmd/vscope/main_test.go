package main

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"go.uber.org/goleak"
)

// vscopeBin is the binary under test, built once by TestMain, so tests run
// real agent processes and can signal or kill them.
var vscopeBin string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "vscope-bin-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	vscopeBin = filepath.Join(dir, "vscope")
	out, err := exec.Command("go", "build", "-o", vscopeBin, ".").CombinedOutput()
	if err != nil {
		fmt.Fprintf(os.Stderr, "build vscope: %v\n%s", err, out)
		os.Exit(1)
	}
	code := 0
	func() {
		defer func() { _ = os.RemoveAll(dir) }()
		code = goleakRun(m)
	}()
	os.Exit(code)
}

func goleakRun(m *testing.M) int {
	code := m.Run()
	if code == 0 {
		if err := goleak.Find(); err != nil {
			fmt.Fprintln(os.Stderr, "goleak:", err)
			return 1
		}
	}
	return code
}
