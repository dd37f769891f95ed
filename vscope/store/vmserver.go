package store

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// VMServer is a victoria-metrics single-node server run on 127.0.0.1 by
// tests and benchmarks (Debian package victoria-metrics).
type VMServer struct {
	URL  string // http://127.0.0.1:PORT
	Dir  string // -storageDataPath
	cmd  *exec.Cmd
	done chan error
}

// ErrNoVictoriaMetrics is returned by StartVictoriaMetrics when the binary
// is not installed.
var ErrNoVictoriaMetrics = errors.New("victoria-metrics is not installed (Debian: apt-get install -y victoria-metrics)")

// StartVictoriaMetrics starts victoria-metrics with its data under dir and
// waits until it answers /health. log receives its output (nil: dropped).
func StartVictoriaMetrics(ctx context.Context, dir string, log *os.File) (*VMServer, error) {
	bin, err := exec.LookPath("victoria-metrics")
	if err != nil {
		return nil, ErrNoVictoriaMetrics
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	addr := ln.Addr().String()
	_ = ln.Close()
	s := &VMServer{URL: "http://" + addr, Dir: dir, done: make(chan error, 1)}
	s.cmd = exec.Command(bin, "-httpListenAddr="+addr, "-storageDataPath="+dir, "-retentionPeriod=100y",
		"-search.disableCache", "-search.latencyOffset=0s", "-search.maxPointsPerTimeseries=1000000",
		"-search.maxExportSeries=10000000", "-search.maxUniqueTimeseries=10000000", "-loggerLevel=ERROR")
	if log != nil {
		s.cmd.Stdout, s.cmd.Stderr = log, log
	}
	if err := s.cmd.Start(); err != nil {
		return nil, fmt.Errorf("start victoria-metrics: %w", err)
	}
	go func() { s.done <- s.cmd.Wait() }()
	deadline := time.Now().Add(30 * time.Second)
	for {
		resp, err := http.Get(s.URL + "/health")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return s, nil
			}
		}
		select {
		case err := <-s.done:
			return nil, fmt.Errorf("victoria-metrics exited: %v", err)
		case <-ctx.Done():
			s.Stop()
			return nil, ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			s.Stop()
			return nil, fmt.Errorf("victoria-metrics on %s did not answer /health in 30 s", addr)
		}
	}
}

// CPUTime is the user+system time the server has used (Linux /proc; 0
// where unknown).
func (s *VMServer) CPUTime() time.Duration {
	if s.cmd.Process == nil {
		return 0
	}
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", s.cmd.Process.Pid))
	if err != nil {
		return 0
	}
	// Fields after the command name (in parentheses): utime and stime are
	// the 12th and 13th, in clock ticks of 100 Hz on Linux.
	i := bytes.LastIndexByte(data, ')')
	if i < 0 {
		return 0
	}
	f := strings.Fields(string(data[i+1:]))
	if len(f) < 13 {
		return 0
	}
	ut, _ := strconv.ParseInt(f[11], 10, 64)
	st, _ := strconv.ParseInt(f[12], 10, 64)
	return time.Duration(ut+st) * 10 * time.Millisecond
}

// DiskBytes is the size of the server's data directory.
func (s *VMServer) DiskBytes() int64 { return dirBytes(s.Dir) }

func dirBytes(dir string) int64 {
	var n int64
	_ = filepath.WalkDir(dir, func(_ string, d fs.DirEntry, err error) error {
		if err == nil && d.Type().IsRegular() {
			if info, err := d.Info(); err == nil {
				n += info.Size()
			}
		}
		return nil
	})
	return n
}

// Shutdown stops the server with SIGINT, so that it writes everything to
// its data directory, and waits up to a minute for it (then kills it).
func (s *VMServer) Shutdown() error {
	if s.cmd.Process == nil {
		return nil
	}
	_ = s.cmd.Process.Signal(os.Interrupt)
	select {
	case err, ok := <-s.done:
		if ok {
			close(s.done)
		}
		return err
	case <-time.After(time.Minute):
		s.Stop()
		return errors.New("victoria-metrics did not stop within a minute of SIGINT")
	}
}

// Stop kills the server and waits for it. Safe twice.
func (s *VMServer) Stop() {
	if s.cmd.Process != nil {
		_ = s.cmd.Process.Kill()
	}
	if err, ok := <-s.done; ok {
		_ = err
		close(s.done)
	}
}
