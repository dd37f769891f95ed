package forward

import (
	"bufio"
	"context"
	"errors"
	"io"
	"net"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/vscope/vscope/agent/component"
	"github.com/vscope/vscope/agent/event"
)

// Each Send returns only once its events are in the collector's channel,
// headers and bodies intact, in order.
func TestSendAcksAfterCommit(t *testing.T) {
	col := startCollector(t, 1000, nil)
	for _, codec := range []Codec{CodecNone, CodecDeflate, CodecZstd, CodecSnappy} {
		c := dial(t, col.addr(), ClientConfig{Codec: codec, Name: "test"})
		var want []string
		for i := 0; i < 3; i++ {
			evs := makeEvents(codec.String(), i*10, 10)
			want = append(want, bodies(evs)...)
			if _, err := c.Send(context.Background(), evs); err != nil {
				t.Fatal(err)
			}
			if got := col.ch.Len(); got != (i+1)*10 {
				t.Fatalf("%s: Send returned with %d events committed, want %d", codec, got, (i+1)*10)
			}
		}
		got := col.drain(t)
		if !slices.Equal(bodies(got), want) {
			t.Fatalf("%s: bodies %v, want %v", codec, bodies(got), want)
		}
		if got[0].Headers["src"] != codec.String() || got[1].Headers != nil {
			t.Fatalf("%s: headers %v %v", codec, got[0].Headers, got[1].Headers)
		}
	}
}

// A take larger than the collector's batchSize or max-frame-size goes as
// several frames; one event larger than a frame is refused up front.
func TestSendSplitsFrames(t *testing.T) {
	col := startCollector(t, 1000, func(c *ServerConfig) { c.MaxEvents, c.MaxFrame = 7, 2048 })
	c := dial(t, col.addr(), ClientConfig{})
	evs := makeEvents("s", 0, 50)
	res, err := c.Send(context.Background(), evs)
	if err != nil || res.Frames != 8 {
		t.Fatalf("50 events at 7 per frame: %d frames, %v", res.Frames, err)
	}
	big := make([]event.Event, 20)
	for i := range big {
		big[i].Body = []byte(strings.Repeat(itoa(i%10), 300))
	}
	res, err = c.Send(context.Background(), big)
	if err != nil || res.Frames < 3 {
		t.Fatalf("20 events of 300 bytes in 2 KiB frames: %d frames, %v", res.Frames, err)
	}
	got := col.drain(t)
	if len(got) != 70 || !slices.Equal(bodies(got[:50]), bodies(evs)) || string(got[69].Body) != string(big[19].Body) {
		t.Fatalf("got %d events", len(got))
	}
	_, err = c.Send(context.Background(), []event.Event{{Body: make([]byte, 4096)}})
	if !errors.Is(err, ErrEventTooLarge) {
		t.Fatalf("oversized event: %v", err)
	}
	// The connection is still in step.
	if _, err := c.Send(context.Background(), makeEvents("after", 0, 2)); err != nil {
		t.Fatal(err)
	}
}

// A full channel is a retryable nack on a connection that stays usable;
// a batch the channel can never hold is a permanent nack.
func TestNacks(t *testing.T) {
	col := startCollector(t, 10, func(c *ServerConfig) { c.MaxEvents = 100 })
	c := dial(t, col.addr(), ClientConfig{})
	if _, err := c.Send(context.Background(), makeEvents("a", 0, 8)); err != nil {
		t.Fatal(err)
	}
	_, err := c.Send(context.Background(), makeEvents("b", 0, 8))
	var ne *NackError
	if !errors.As(err, &ne) || ne.Code != NackRetry || !strings.Contains(ne.Reason, "full") {
		t.Fatalf("full channel: %v", err)
	}
	col.drain(t)
	if _, err := c.Send(context.Background(), makeEvents("b", 0, 8)); err != nil {
		t.Fatalf("retry after drain: %v", err)
	}
	_, err = c.Send(context.Background(), makeEvents("c", 0, 20))
	if !errors.As(err, &ne) || ne.Code != NackPermanent {
		t.Fatalf("batch over capacity: %v", err)
	}
	if got := bodies(col.drain(t)); len(got) != 8 || got[0] != "b-0" {
		t.Fatalf("channel holds %v", got)
	}
}

// handshakeRaw says hello on a raw connection and reads the welcome.
func handshakeRaw(t *testing.T, c net.Conn, group string) *bufio.Reader {
	t.Helper()
	if _, err := c.Write(AppendFrame(nil, KindHello, CodecNone, 0, hello{Group: group, Name: "raw"}.append(nil))); err != nil {
		t.Fatal(err)
	}
	br := bufio.NewReader(c)
	f, err := readFrame(br, make([]byte, HeaderSize), 1<<20)
	if err != nil || f.Kind != KindWelcome {
		t.Fatalf("welcome: %v %v", f.Kind, err)
	}
	return br
}

// readNack reads the nack a refused peer gets, if any, and its reason.
func readNack(br *bufio.Reader) string {
	f, err := readFrame(br, make([]byte, HeaderSize), 1<<20)
	if err != nil || f.Kind != KindNack {
		return ""
	}
	ne, err := decodeNack(f.Payload)
	if err != nil {
		return ""
	}
	return ne.Reason
}

// Bad peers are refused with a logged reason and counted, and the server
// keeps serving good clients.
func TestBadPeers(t *testing.T) {
	var refusedSeen []string
	col := startCollector(t, 100000, func(c *ServerConfig) {
		c.MaxFrame = 64 << 10
		c.FrameTimeout = 300 * time.Millisecond
		c.WriteTimeout = 300 * time.Millisecond
		c.Group = "collectors"
		c.sendBuffer = 4096
		c.OnRefused = func(r string) { refusedSeen = append(refusedSeen, r) }
	})
	good := func() {
		t.Helper()
		c := dial(t, col.addr(), ClientConfig{Group: "collectors"})
		if _, err := c.Send(context.Background(), makeEvents("good", 0, 5)); err != nil {
			t.Fatalf("good client after bad peers: %v", err)
		}
		_ = c.Close()
	}
	good()
	batch := AppendFrame(nil, KindBatch, CodecNone, 1, AppendBatch(nil, makeEvents("x", 0, 10)))
	cases := []struct {
		reason string
		run    func(t *testing.T) string // returns the nack reason the peer read, if any
	}{
		{"garbage", func(t *testing.T) string {
			c := rawConn(t, col.addr())
			_, _ = io.WriteString(c, "GET / HTTP/1.1\r\nHost: collector\r\n\r\n")
			return readNack(bufio.NewReader(c))
		}},
		{"garbage", func(t *testing.T) string { // garbage after a good handshake
			c := rawConn(t, col.addr())
			br := handshakeRaw(t, c, "collectors")
			_, _ = c.Write([]byte(strings.Repeat("\x00\x01garbage", 10)))
			return readNack(br)
		}},
		{"truncated", func(t *testing.T) string {
			c := rawConn(t, col.addr())
			br := handshakeRaw(t, c, "collectors")
			_, _ = c.Write(batch[:len(batch)/2])
			_ = c.(*net.TCPConn).CloseWrite()
			return readNack(br)
		}},
		{"too_large", func(t *testing.T) string {
			c := rawConn(t, col.addr())
			br := handshakeRaw(t, c, "collectors")
			h := make([]byte, HeaderSize)
			putHeader(h, KindBatch, CodecNone, 1, 1<<30)
			_, _ = c.Write(h)
			return readNack(br)
		}},
		{"checksum", func(t *testing.T) string {
			c := rawConn(t, col.addr())
			br := handshakeRaw(t, c, "collectors")
			bad := slices.Clone(batch)
			bad[len(bad)-3] ^= 1
			_, _ = c.Write(bad)
			return readNack(br)
		}},
		{"malformed", func(t *testing.T) string {
			c := rawConn(t, col.addr())
			br := handshakeRaw(t, c, "collectors")
			_, _ = c.Write(AppendFrame(nil, KindBatch, CodecNone, 1, []byte{5, 1, 2}))
			return readNack(br)
		}},
		{"handshake", func(t *testing.T) string { // wrong group
			c := rawConn(t, col.addr())
			_, _ = c.Write(AppendFrame(nil, KindHello, CodecNone, 0, hello{Group: "other"}.append(nil)))
			return readNack(bufio.NewReader(c))
		}},
		{"handshake", func(t *testing.T) string { // a batch before hello
			c := rawConn(t, col.addr())
			_, _ = c.Write(batch)
			return readNack(bufio.NewReader(c))
		}},
		{"timeout", func(t *testing.T) string { // a slow sender: a frame trickled
			c := rawConn(t, col.addr())
			br := handshakeRaw(t, c, "collectors")
			for i := 0; i < 10; i++ {
				if _, err := c.Write(batch[i : i+1]); err != nil {
					break
				}
				time.Sleep(50 * time.Millisecond)
			}
			return readNack(br)
		}},
		{"slow_reader", func(t *testing.T) string { // sends batches, never reads the acks
			c := rawConn(t, col.addr())
			_ = c.(*net.TCPConn).SetReadBuffer(4096)
			handshakeRaw(t, c, "collectors")
			tiny := AppendBatch(nil, []event.Event{{Body: []byte("x")}})
			var frames []byte
			for i := 0; i < 200; i++ {
				frames = AppendFrame(frames, KindBatch, CodecNone, uint64(i+1), tiny)
			}
			deadline := time.Now().Add(10 * time.Second)
			for time.Now().Before(deadline) && col.srv.Refused()["slow_reader"] == 0 {
				_ = c.SetWriteDeadline(time.Now().Add(time.Second))
				if _, err := c.Write(frames); err != nil {
					break
				}
			}
			return ""
		}},
	}
	for i, tc := range cases {
		before := col.srv.Refused()[tc.reason]
		nack := tc.run(t)
		eventually(t, tc.reason+" counted", func() bool { return col.srv.Refused()[tc.reason] == before+1 })
		if nack != "" && !strings.HasPrefix(nack, tc.reason) {
			t.Errorf("case %d: peer was told %q, want the reason %s", i, nack, tc.reason)
		}
		good()
	}
	if l := col.log.String(); !strings.Contains(l, "reason=slow_reader") || !strings.Contains(l, "reason=too_large") ||
		!strings.Contains(l, "exceeds max-frame-size") || !strings.Contains(l, `asks for group \"other\"`) {
		t.Errorf("log lacks reasons:\n%s", l)
	}
	if len(refusedSeen) != len(cases) {
		t.Errorf("OnRefused saw %v", refusedSeen)
	}
}

// A port probe (connect, close) is not a refusal; too many connections are.
func TestServerConnLimits(t *testing.T) {
	var open, opened atomic.Int64
	col := startCollector(t, 100, func(c *ServerConfig) {
		c.MaxConns = 1
		c.OnConn = func(d int) {
			if d > 0 {
				opened.Add(1)
			}
			open.Add(int64(d))
		}
	})
	c := rawConn(t, col.addr())
	_ = c.Close()
	eventually(t, "the probe's connection served and closed", func() bool { return opened.Load() == 1 && open.Load() == 0 })
	c1 := dial(t, col.addr(), ClientConfig{})
	_, err := Dial(context.Background(), col.addr(), ClientConfig{ConnectTimeout: 2 * time.Second})
	var ne *NackError
	if !errors.As(err, &ne) || !strings.Contains(ne.Reason, "max_connections") {
		t.Fatalf("second connection: %v", err)
	}
	if _, err := c1.Send(context.Background(), makeEvents("a", 0, 1)); err != nil {
		t.Fatal(err)
	}
	if r := col.srv.Refused(); r["max_connections"] != 1 || len(r) != 1 {
		t.Fatalf("refused %v", r)
	}
}

// Close lets a batch being committed finish and be acknowledged.
func TestServerCloseAcksInFlight(t *testing.T) {
	release := make(chan struct{})
	entered := make(chan struct{}, 1)
	srv, err := Listen(ServerConfig{Addr: "127.0.0.1:0", Handler: func(ctx context.Context, evs []event.Event) error {
		entered <- struct{}{}
		<-release
		return nil
	}})
	if err != nil {
		t.Fatal(err)
	}
	c := dial(t, srv.Addr().String(), ClientConfig{})
	done := make(chan error, 1)
	go func() { _, err := c.Send(context.Background(), makeEvents("x", 0, 3)); done <- err }()
	<-entered
	closed := make(chan error, 1)
	go func() { closed <- srv.Close(context.Background()) }()
	time.Sleep(50 * time.Millisecond)
	close(release)
	if err := <-done; err != nil {
		t.Fatalf("in-flight batch: %v", err)
	}
	if err := <-closed; err != nil {
		t.Fatal(err)
	}
	if err := srv.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	if _, err := Dial(context.Background(), srv.Addr().String(), ClientConfig{ConnectTimeout: time.Second}); err == nil {
		t.Fatal("dial after Close succeeded")
	}
}

// The handler's errors map to nack codes.
func TestServerNackCodes(t *testing.T) {
	var fail error
	srv, err := Listen(ServerConfig{Addr: "127.0.0.1:0", Handler: func(context.Context, []event.Event) error { return fail }})
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close(context.Background())
	c := dial(t, srv.Addr().String(), ClientConfig{})
	for _, tc := range []struct {
		err  error
		code NackCode
	}{{component.ErrChannelFull, NackRetry}, {component.ErrTooLarge, NackPermanent}, {errors.New("disk on fire"), NackRetry}} {
		fail = tc.err
		_, err := c.Send(context.Background(), makeEvents("x", 0, 1))
		var ne *NackError
		if !errors.As(err, &ne) || ne.Code != tc.code || !strings.Contains(ne.Reason, tc.err.Error()) {
			t.Errorf("%v: got %v", tc.err, err)
		}
	}
}
