package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// proc is a vscope process under test with its combined output captured.
type proc struct {
	cmd  *exec.Cmd
	mu   sync.Mutex
	out  bytes.Buffer
	done chan error
}

func (p *proc) Write(b []byte) (int, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.out.Write(b)
}

func (p *proc) output() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.out.String()
}

func startVscope(t *testing.T, args ...string) *proc {
	t.Helper()
	p := &proc{cmd: exec.Command(vscopeBin, args...), done: make(chan error, 1)}
	p.cmd.Stdout, p.cmd.Stderr = p, p
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { p.done <- p.cmd.Wait() }()
	t.Cleanup(func() {
		_ = p.cmd.Process.Kill()
		<-p.done
		if t.Failed() {
			t.Logf("vscope output:\n%s", p.output())
		}
	})
	return p
}

// stop sends SIGTERM and waits for a clean exit.
func (p *proc) stop(t *testing.T) {
	t.Helper()
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case err := <-p.done:
		p.done <- err
		if err != nil {
			t.Fatalf("vscope exited with %v", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("vscope did not stop within 30 s of SIGTERM")
	}
}

func freeTestPort(t *testing.T) int {
	t.Helper()
	p, err := freePort()
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// dialWhenUp dials addr until the server accepts or the deadline passes.
func dialWhenUp(t *testing.T, addr string) net.Conn {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for {
		c, err := net.DialTimeout("tcp", addr, time.Second)
		if err == nil {
			return c
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s never came up: %v", addr, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func writeConf(t *testing.T, text string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "flume.conf")
	if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// The Flume user guide's first example runs unchanged, answers netcat
// lines with OK, logs them, and exposes Flume's counters.
func TestAgentFlumeGuideExample(t *testing.T) {
	port, mport := freeTestPort(t), freeTestPort(t)
	conf := writeConf(t, fmt.Sprintf(`# example.conf: A single-node Flume configuration

# Name the components on this agent
a1.sources = r1
a1.sinks = k1
a1.channels = c1

# Describe/configure the source
a1.sources.r1.type = netcat
a1.sources.r1.bind = localhost
a1.sources.r1.port = %d

# Describe the sink
a1.sinks.k1.type = logger

# Use a channel which buffers events in memory
a1.channels.c1.type = memory
a1.channels.c1.capacity = 1000
a1.channels.c1.transactionCapacity = 100

# Bind the source and sink to the channel
a1.sources.r1.channels = c1
a1.sinks.k1.channel = c1
`, port))
	p := startVscope(t, "agent", "--conf", "conf", "--conf-file", conf, "--name", "a1", "--http", fmt.Sprintf(":%d", mport))
	c := dialWhenUp(t, fmt.Sprintf("localhost:%d", port))
	defer c.Close()
	if _, err := io.WriteString(c, "Hello world!\r\n"); err != nil {
		t.Fatal(err)
	}
	reply, err := bufio.NewReader(c).ReadString('\n')
	if err != nil || reply != "OK\n" {
		t.Fatalf("reply %q, %v", reply, err)
	}
	var got map[string]map[string]string
	deadline := time.Now().Add(10 * time.Second)
	for got["SINK.k1"]["EventDrainSuccessCount"] != "1" {
		if time.Now().After(deadline) {
			t.Fatalf("metrics.json never showed the drained event: %v", got)
		}
		resp, err := http.Get(fmt.Sprintf("http://127.0.0.1:%d/metrics.json", mport))
		if err == nil {
			_ = json.NewDecoder(resp.Body).Decode(&got)
			resp.Body.Close()
		}
		time.Sleep(20 * time.Millisecond)
	}
	if got["SOURCE.r1"]["EventAcceptedCount"] != "1" || got["CHANNEL.c1"]["ChannelCapacity"] != "1000" {
		t.Fatalf("counters: %v", got)
	}
	p.stop(t)
	if !strings.Contains(p.output(), "Hello world!") {
		t.Fatalf("logger did not log the event:\n%s", p.output())
	}
}

func TestAgentCheckReportsAllErrors(t *testing.T) {
	conf := writeConf(t, `a1.sources = r1
a1.channels = c1
a1.sinks = k1
a1.sources.r1.type = netcat
a1.sources.r1.bind = localhost
a1.sources.r1.port = 44444
a1.sources.r1.channels = c9
a1.channels.c1.type = memory
a1.channels.c1.capacity = ten
a1.sinks.k1.type = logger
`)
	out, err := exec.Command(vscopeBin, "agent", "-f", conf, "-n", "a1", "--check").CombinedOutput()
	if err == nil {
		t.Fatalf("--check accepted a bad file:\n%s", out)
	}
	for _, want := range []string{
		conf + `:7: a1.sources.r1.channels: channel "c9" does not exist`,
		conf + `:9: a1.channels.c1.capacity: "ten" is not an integer`,
		conf + `:10: a1.sinks.k1.channel: sink has no channel`,
	} {
		if !strings.Contains(string(out), want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
}

// Events acknowledged by the netcat source all reach the files while the
// configuration is rewritten under a running agent, twice.
func TestAgentReloadLosesNothing(t *testing.T) {
	port := freeTestPort(t)
	dir := t.TempDir()
	confText := func(capacity int, roll int) string {
		return fmt.Sprintf(`a1.sources = r1
a1.channels = c1
a1.sinks = k1
a1.sources.r1.type = netcat
a1.sources.r1.bind = 127.0.0.1
a1.sources.r1.port = %d
a1.sources.r1.channels = c1
a1.channels.c1.type = memory
a1.channels.c1.capacity = %d
a1.sinks.k1.type = file_roll
a1.sinks.k1.channel = c1
a1.sinks.k1.sink.directory = %s
a1.sinks.k1.sink.rollInterval = %d
`, port, capacity, dir, roll)
	}
	conf := writeConf(t, confText(1000, 0))
	p := startVscope(t, "agent", "-f", conf, "-n", "a1", "--reload-interval", "50ms")

	var acked []string
	send := func(ctx context.Context) {
		for i := 0; ctx.Err() == nil; i++ {
			// Not dialWhenUp: t.Fatal must not be called off the test goroutine.
			c, err := net.DialTimeout("tcp", fmt.Sprintf("127.0.0.1:%d", port), time.Second)
			if err != nil {
				time.Sleep(10 * time.Millisecond) // the source is restarting
				continue
			}
			r := bufio.NewReader(c)
			for ; ctx.Err() == nil; i++ {
				line := fmt.Sprintf("event-%07d", i)
				if _, err := fmt.Fprintln(c, line); err != nil {
					break
				}
				reply, err := r.ReadString('\n')
				if err != nil {
					break // the source restarted: reconnect
				}
				if reply == "OK\n" {
					acked = append(acked, line)
				}
			}
			c.Close()
		}
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { send(ctx); close(done) }()
	waitFor := func(what string, cond func() bool) {
		deadline := time.Now().Add(20 * time.Second)
		for !cond() {
			if time.Now().After(deadline) {
				t.Fatalf("timed out waiting for %s", what)
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
	reloads := func() int { return strings.Count(p.output(), "reload applied") }
	waitFor("first events", func() bool { return len(filesLines(t, dir)) > 200 })
	for i, text := range []string{confText(5000, 0), confText(5000, 1)} {
		if err := os.WriteFile(conf, []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
		waitFor(fmt.Sprintf("reload %d", i+1), func() bool { return reloads() == i+1 })
		n := len(filesLines(t, dir))
		waitFor("events after the reload", func() bool { return len(filesLines(t, dir)) > n+200 })
	}
	cancel()
	<-done
	p.stop(t)
	got := map[string]int{}
	for _, l := range filesLines(t, dir) {
		got[l]++
	}
	for _, l := range acked {
		if got[l] != 1 {
			t.Fatalf("acked %s found %d times in the files (acked %d, files hold %d)", l, got[l], len(acked), len(got))
		}
	}
	t.Logf("%d acked events, all in the files once, across 2 reloads", len(acked))
}

func filesLines(t *testing.T, dir string) []string {
	t.Helper()
	var lines []string
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		b, err := os.ReadFile(filepath.Join(dir, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		for _, l := range strings.Split(string(b), "\n") {
			if l != "" {
				lines = append(lines, l)
			}
		}
	}
	return lines
}

// freePort is a TCP port on 127.0.0.1 that was free a moment ago.
func freePort() (int, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port, nil
}
