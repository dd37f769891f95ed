package faults

import (
	"bytes"
	"io"
	"math/rand/v2"
	"net"
	"sync"
	"testing"
	"time"
)

// echoServer answers every byte with itself until closed.
func echoServer(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	t.Cleanup(func() { ln.Close(); wg.Wait() })
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			wg.Add(1)
			go func() { defer wg.Done(); defer c.Close(); _, _ = io.Copy(c, c) }()
		}
	}()
	return ln.Addr().String()
}

func dialProxy(t *testing.T, l Link) (*Proxy, net.Conn) {
	t.Helper()
	p, err := NewProxy("127.0.0.1:0", echoServer(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Close() })
	p.Set(l)
	c, err := net.Dial("tcp", p.Addr())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return p, c
}

// rtt is the median round trip of a small message through c.
func rtt(t *testing.T, c net.Conn, n int) time.Duration {
	t.Helper()
	var ds []time.Duration
	buf := make([]byte, 16)
	for i := 0; i < n; i++ {
		start := time.Now()
		if _, err := c.Write(buf); err != nil {
			t.Fatal(err)
		}
		if _, err := io.ReadFull(c, buf); err != nil {
			t.Fatal(err)
		}
		ds = append(ds, time.Since(start))
	}
	for i := range ds {
		for j := i + 1; j < len(ds); j++ {
			if ds[j] < ds[i] {
				ds[i], ds[j] = ds[j], ds[i]
			}
		}
	}
	return ds[len(ds)/2]
}

func TestProxyDelay(t *testing.T) {
	p, c := dialProxy(t, Link{})
	base := rtt(t, c, 5)
	p.Set(Link{Delay: 40 * time.Millisecond})
	got := rtt(t, c, 5)
	// Each direction gets the delay: the round trip grows by 80 ms.
	if got < 80*time.Millisecond || got > 80*time.Millisecond+base+40*time.Millisecond {
		t.Errorf("round trip %v with delay 40ms each way (base %v), want about 80ms", got, base)
	}
	p.Set(Link{})
	if back := rtt(t, c, 5); back > 30*time.Millisecond {
		t.Errorf("round trip %v after the delay was taken out", back)
	}
	t.Logf("round trip %v without delay, %v with 40 ms each way", base, got)
}

func TestProxyLossCostsRTO(t *testing.T) {
	p, c := dialProxy(t, Link{Loss: 0.999, RTO: 30 * time.Millisecond})
	got := rtt(t, c, 3)
	if got < 60*time.Millisecond {
		t.Errorf("round trip %v with every chunk lost once (RTO 30ms each way), want at least 60ms", got)
	}
	if p.Stats().Lost == 0 {
		t.Error("no chunk counted lost")
	}
}

func TestProxyBandwidth(t *testing.T) {
	_, c := dialProxy(t, Link{Bandwidth: 200_000})
	data, got := make([]byte, 100_000), make([]byte, 100_000)
	start := time.Now()
	go func() { _, _ = c.Write(data) }()
	if _, err := io.ReadFull(c, got); err != nil {
		t.Fatal(err)
	}
	// 100 kB at 200 kB/s: about 0.5 s (the first chunk goes at once).
	if el := time.Since(start); el < 300*time.Millisecond || el > 3*time.Second {
		t.Errorf("100 kB at 200 kB/s took %v", el)
	}
}

// The stream arrives whole and in order under jitter and loss.
func TestProxyIntegrity(t *testing.T) {
	_, c := dialProxy(t, Link{Delay: time.Millisecond, Jitter: 5 * time.Millisecond, Loss: 0.05, RTO: 2 * time.Millisecond})
	data := make([]byte, 4<<20)
	for i := range data {
		data[i] = byte(rand.N(256))
	}
	errc := make(chan error, 1)
	go func() { _, err := c.Write(data); errc <- err }()
	got := make([]byte, len(data))
	if _, err := io.ReadFull(c, got); err != nil {
		t.Fatal(err)
	}
	if err := <-errc; err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, data) {
		t.Fatal("stream changed on its way through the proxy")
	}
}

// A target that is down closes the client's connection; Close cuts
// connections in flight and is safe twice.
func TestProxyTargetDownAndClose(t *testing.T) {
	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	dead := ln.Addr().String()
	ln.Close()
	p, err := NewProxy("127.0.0.1:0", dead)
	if err != nil {
		t.Fatal(err)
	}
	c, err := net.Dial("tcp", p.Addr())
	if err != nil {
		t.Fatal(err)
	}
	_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := c.Read(make([]byte, 1)); err == nil {
		t.Error("read through a proxy to a dead target succeeded")
	}
	c.Close()
	p2, c2 := dialProxy(t, Link{})
	if err := p2.Close(); err != nil {
		t.Fatal(err)
	}
	_ = c2.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := c2.Read(make([]byte, 1)); err == nil {
		t.Error("connection still open after Close")
	}
	if err := p.Close(); err != nil {
		t.Fatal(err)
	}
	if err := p.Close(); err != nil {
		t.Fatal(err)
	}
}
