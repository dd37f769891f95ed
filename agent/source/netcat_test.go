package source

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/vscope/vscope/agent/component"
)

// startNetcat starts a netcat source on 127.0.0.1, port 0, configured by
// the defaults changed by edit, and stops it when the test ends.
func startNetcat(t *testing.T, p *pipe, edit func(*NetcatConfig)) *Netcat {
	t.Helper()
	cfg := NewNetcatConfig()
	cfg.Bind = "127.0.0.1"
	if edit != nil {
		edit(cfg)
	}
	n, err := NewNetcat(p.set, *cfg)
	if err != nil {
		t.Fatal(err)
	}
	host := component.HostFunc(func(err error) { t.Errorf("ReportFatal(%v)", err) })
	if err := n.Start(context.Background(), host); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := n.Stop(context.Background()); err != nil {
			t.Errorf("Stop: %v", err)
		}
	})
	return n
}

// client is a test connection to a netcat source.
type client struct {
	t *testing.T
	c net.Conn
	r *bufio.Reader
}

func dial(t *testing.T, n *Netcat) *client {
	t.Helper()
	c, err := net.Dial("tcp", n.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return &client{t: t, c: c, r: bufio.NewReader(c)}
}

func (c *client) write(s string) {
	c.t.Helper()
	if _, err := io.WriteString(c.c, s); err != nil {
		c.t.Fatal(err)
	}
}

// replies reads n reply lines, without their newlines.
func (c *client) replies(n int) []string {
	c.t.Helper()
	_ = c.c.SetReadDeadline(time.Now().Add(10 * time.Second))
	out := make([]string, 0, n)
	for len(out) < n {
		line, err := c.r.ReadString('\n')
		if err != nil {
			c.t.Fatalf("reading reply %d of %d: %v (have %q)", len(out)+1, n, err, out)
		}
		out = append(out, strings.TrimSuffix(line, "\n"))
	}
	return out
}

// wantReplies reads len(want) replies and compares them.
func (c *client) wantReplies(want ...string) {
	c.t.Helper()
	if got := c.replies(len(want)); strings.Join(got, "|") != strings.Join(want, "|") {
		c.t.Errorf("replies %q, want %q", got, want)
	}
}

func repeat(s string, n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = s
	}
	return out
}

const tooLong = "FAILED: Event exceeds the maximum length (%d chars, including newline)"

func TestNetcatLinesInOneWrite(t *testing.T) {
	p := newPipe(t, "netcat", 1000, 0)
	n := startNetcat(t, p, func(c *NetcatConfig) { c.Batch = 7 })
	c := dial(t, n)
	var sent []string
	var b strings.Builder
	for i := 0; i < 100; i++ {
		line := fmt.Sprintf("line %d", i)
		sent = append(sent, line)
		end := "\n"
		if i%3 == 0 {
			end = "\r\n" // the \r is stripped
		}
		b.WriteString(line + end)
	}
	b.WriteString("\n") // an empty line is an empty event, as in Flume
	sent = append(sent, "")
	c.write(b.String())
	c.wantReplies(repeat("OK", len(sent))...)
	if got := bodies(p.drain(t)); strings.Join(got, "|") != strings.Join(sent, "|") {
		t.Errorf("channel holds %q, want %q", got, sent)
	}
	m := float64(len(sent))
	p.wantMetrics(t, map[string]float64{"EventReceivedCount": m, "EventAcceptedCount": m, "EventReadFail": 0, "ChannelWriteFail": 0})
	// One write of 101 lines with batchSize 7 is at least 15 batches.
	if b := p.metric(t, "AppendBatchAcceptedCount"); b < 15 {
		t.Errorf("AppendBatchAcceptedCount = %v, want >= 15", b)
	}
}

func TestNetcatSplitLines(t *testing.T) {
	p := newPipe(t, "netcat", 1000, 0)
	n := startNetcat(t, p, nil)
	c := dial(t, n)
	c.write("hel")
	c.write("lo\nwor")
	c.write("ld\r")
	c.write("\n")
	c.wantReplies("OK", "OK")
	c.write("sp")
	c.write("lit\n")
	c.wantReplies("OK")
	if got := strings.Join(bodies(p.drain(t)), "|"); got != "hello|world|split" {
		t.Errorf("channel holds %q", got)
	}
}

func TestNetcatLineTooLong(t *testing.T) {
	p := newPipe(t, "netcat", 1000, 0)
	n := startNetcat(t, p, func(c *NetcatConfig) { c.MaxLineLength = 10 })
	c := dial(t, n)
	fail := fmt.Sprintf(tooLong, 10)

	// Complete lines in one read: the long one is refused in its place,
	// the others are accepted. 9 bytes + newline is the longest accepted.
	c.write("short\n" + strings.Repeat("x", 50) + "\n123456789\n1234567890\n123456789\r\nafter\n")
	c.wantReplies("OK", fail, "OK", fail, fail, "OK")

	// A long line that arrives in pieces: refused once enough of it is
	// read, the rest of it discarded, then the connection goes on.
	c.write(strings.Repeat("y", 30))
	c.wantReplies(fail)
	c.write(strings.Repeat("y", 30))
	c.write(strings.Repeat("y", 5) + "\nnext\n")
	c.wantReplies("OK")

	if got := strings.Join(bodies(p.drain(t)), "|"); got != "short|123456789|after|next" {
		t.Errorf("channel holds %q", got)
	}
	p.wantMetrics(t, map[string]float64{"EventReadFail": 4, "EventAcceptedCount": 4})
}

// TestNetcatNoAcks checks ack-every-event = false sends no OK, but still
// sends FAILED.
func TestNetcatNoAcks(t *testing.T) {
	p := newPipe(t, "netcat", 1000, 0)
	n := startNetcat(t, p, func(c *NetcatConfig) { c.AckEveryEvent = false; c.MaxLineLength = 10 })
	c := dial(t, n)
	c.write("a\nb\nc\n" + strings.Repeat("z", 20) + "\n")
	// The first reply is the FAILED: there was no OK before it.
	c.wantReplies(fmt.Sprintf(tooLong, 10))
	if got := strings.Join(bodies(p.drain(t)), "|"); got != "a|b|c" {
		t.Errorf("channel holds %q", got)
	}
}

// TestNetcatChannelFull fills a small channel that nobody drains: every
// line is answered, OK lines are in the channel in order, FAILED lines are
// not, and nothing is lost silently.
func TestNetcatChannelFull(t *testing.T) {
	p := newPipe(t, "netcat", 10, 0)
	n := startNetcat(t, p, func(c *NetcatConfig) { c.Batch = 4 })
	c := dial(t, n)
	const lines = 50
	var b strings.Builder
	for i := 0; i < lines; i++ {
		fmt.Fprintf(&b, "e%d\n", i)
	}
	c.write(b.String())
	replies := c.replies(lines)
	var oks []string
	failed := 0
	for i, r := range replies {
		switch {
		case r == "OK":
			oks = append(oks, fmt.Sprintf("e%d", i))
		case strings.HasPrefix(r, "FAILED: Unable to process event: ") && strings.Contains(r, "channel full"):
			failed++
		default:
			t.Fatalf("reply %d: %q", i, r)
		}
	}
	got := bodies(p.drain(t))
	if strings.Join(got, "|") != strings.Join(oks, "|") {
		t.Errorf("channel holds %q, acknowledged %q", got, oks)
	}
	if failed == 0 || len(oks) == 0 || len(oks) > 10 {
		t.Errorf("%d OK and %d FAILED replies: want some of each, at most 10 OK", len(oks), failed)
	}
	if f := p.metric(t, "ChannelWriteFail"); f == 0 {
		t.Error("ChannelWriteFail = 0")
	}
	p.wantMetrics(t, map[string]float64{"EventAcceptedCount": float64(len(oks)), "EventReceivedCount": lines})

	// Room again: the connection still works.
	c.write("later\n")
	c.wantReplies("OK")
}

// TestNetcatConnections serves several clients at once and counts them.
func TestNetcatConnections(t *testing.T) {
	p := newPipe(t, "netcat", 10000, 0)
	n := startNetcat(t, p, func(c *NetcatConfig) { c.Batch = 16 })
	const clients, lines = 8, 300
	cs := make([]*client, clients)
	for i := range cs {
		cs[i] = dial(t, n)
	}
	eventually(t, "8 open connections", func() bool { return p.metric(t, "OpenConnectionCount") == clients })
	var wg sync.WaitGroup
	errs := make(chan error, clients)
	for i, c := range cs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := 0; j < lines; j++ {
				if _, err := fmt.Fprintf(c.c, "c%d-%d\n", i, j); err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	for _, c := range cs {
		c.wantReplies(repeat("OK", lines)...)
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	next := make([]int, clients)
	for _, b := range bodies(p.drain(t)) {
		var i, j int
		if _, err := fmt.Sscanf(b, "c%d-%d", &i, &j); err != nil || j != next[i] {
			t.Fatalf("body %q out of order (next of c%d is %d)", b, i, next[i])
		}
		next[i]++
	}
	for i, k := range next {
		if k != lines {
			t.Errorf("client %d: %d events, want %d", i, k, lines)
		}
	}
	for _, c := range cs {
		_ = c.c.Close()
	}
	eventually(t, "connections to close", func() bool { return p.metric(t, "OpenConnectionCount") == 0 })
}

// TestNetcatStopClosesConnections checks Stop ends open connections and
// returns promptly with idle clients.
func TestNetcatStopClosesConnections(t *testing.T) {
	p := newPipe(t, "netcat", 100, 0)
	cfg := NewNetcatConfig()
	cfg.Bind = "127.0.0.1"
	n, err := NewNetcat(p.set, *cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := n.Start(context.Background(), nil); err != nil {
		t.Fatal(err)
	}
	c := dial(t, n)
	c.write("one\ntwo") // "two" has no newline yet
	c.wantReplies("OK")
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := n.Stop(ctx); err != nil {
		t.Fatalf("Stop: %v", err)
	}
	if _, err := c.r.ReadString('\n'); err == nil {
		t.Fatal("connection still open after Stop")
	}
	if got := strings.Join(bodies(p.drain(t)), "|"); got != "one" {
		t.Errorf("channel holds %q", got)
	}
	if v := p.metric(t, "OpenConnectionCount"); v != 0 {
		t.Errorf("OpenConnectionCount = %v after Stop", v)
	}
}

// TestNetcatStopDeadline stops while a put waits for room in a full
// channel: Stop gives up at its deadline, cancels the put, and still
// returns only after the connection's goroutine ended.
func TestNetcatStopDeadline(t *testing.T) {
	p := newPipe(t, "netcat", 1, 60) // a put waits up to a minute for room
	cfg := NewNetcatConfig()
	cfg.Bind = "127.0.0.1"
	n, err := NewNetcat(p.set, *cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := n.Start(context.Background(), nil); err != nil {
		t.Fatal(err)
	}
	c := dial(t, n)
	c.write("fits\n")
	c.wantReplies("OK")
	c.write("waits\n")
	chc := p.reg.Channel("c1", "memory")
	eventually(t, "the second put to start", func() bool { return chc.EventPutAttempt.Get() == 2 })
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	err = n.Stop(ctx)
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Stop: %v, want DeadlineExceeded", err)
	}
	if got := strings.Join(bodies(p.drain(t)), "|"); got != "fits" {
		t.Errorf("channel holds %q", got)
	}
	if f := p.metric(t, "ChannelWriteFail"); f != 1 {
		t.Errorf("ChannelWriteFail = %v, want 1", f)
	}
}

// TestNetcatAcceptFailure closes the listener under a running source: the
// accept loop reports the failure to the host.
func TestNetcatAcceptFailure(t *testing.T) {
	p := newPipe(t, "netcat", 100, 0)
	cfg := NewNetcatConfig()
	cfg.Bind = "127.0.0.1"
	n, err := NewNetcat(p.set, *cfg)
	if err != nil {
		t.Fatal(err)
	}
	fatal := make(chan error, 1)
	if err := n.Start(context.Background(), component.HostFunc(func(err error) { fatal <- err })); err != nil {
		t.Fatal(err)
	}
	n.mu.Lock()
	_ = n.run.ln.Close()
	n.mu.Unlock()
	select {
	case err := <-fatal:
		if !errors.Is(err, net.ErrClosed) {
			t.Errorf("ReportFatal(%v), want net.ErrClosed", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("no ReportFatal")
	}
	if err := n.Stop(context.Background()); err != nil {
		t.Fatal(err)
	}
}

func TestNetcatListenError(t *testing.T) {
	p := newPipe(t, "netcat", 100, 0)
	first := startNetcat(t, p, nil)
	_, port, _ := net.SplitHostPort(first.Addr().String())
	cfg := NewNetcatConfig()
	cfg.Bind = "127.0.0.1"
	fmt.Sscan(port, &cfg.Port)
	n, err := NewNetcat(p.set, *cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := n.Start(context.Background(), nil); err == nil || !strings.Contains(err.Error(), "listen") {
		t.Fatalf("Start on a used port: %v", err)
	}
	if err := n.Stop(context.Background()); err != nil {
		t.Fatal(err)
	}
}
