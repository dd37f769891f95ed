package replay

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"strings"
	"time"
)

// NetcatSink writes lines to a Flume netcat source over one TCP connection
// and, with Ack, reads the source's reply to each line: "OK" accepts it,
// "FAILED: ..." refuses it (for example a line longer than the source's
// max-line-length). A newline inside a record becomes a space, since the
// source would cut the line there. When the connection breaks, the lines
// not yet answered are sent again on a new one (so a line may arrive
// twice, never not at all), for up to Retry.
type NetcatSink struct {
	// Addr is the source's host:port.
	Addr string
	// Ack reads one reply per line; set it as the source's
	// ack-every-event is (Flume's default: true). Without replies a line
	// counts as accepted once written.
	Ack bool
	// Retry is how long a batch is retried (default 30 s); it also bounds
	// the wait for replies.
	Retry time.Duration

	conn net.Conn
	br   *bufio.Reader
	buf  []byte
	// LastFailure is the text of the last FAILED reply.
	LastFailure string
}

// NewNetcatSink returns a sink to addr that reads the replies.
func NewNetcatSink(addr string) *NetcatSink {
	return &NetcatSink{Addr: addr, Ack: true}
}

// Send implements Sink.
func (s *NetcatSink) Send(ctx context.Context, batch []Record) error {
	retry := s.Retry
	if retry <= 0 {
		retry = 30 * time.Second
	}
	deadline := time.Now().Add(retry)
	backoff := 20 * time.Millisecond
	lost := 0
	for len(batch) > 0 {
		done, refused, err := s.try(ctx, batch, deadline)
		lost += refused
		batch = batch[done:]
		if err == nil {
			break
		}
		s.Close()
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if time.Now().Add(backoff).After(deadline) {
			hint := ""
			if ne, ok := errors.Unwrap(err).(net.Error); ok && ne.Timeout() && s.Ack {
				hint = " (if the source has ack-every-event = false, do not wait for replies: Ack false, --no-ack)"
			}
			return fmt.Errorf("netcat %s: gave up after %v with %d lines unanswered: %w%s", s.Addr, retry, len(batch), err, hint)
		}
		t := time.NewTimer(backoff)
		select {
		case <-ctx.Done():
			t.Stop()
			return ctx.Err()
		case <-t.C:
		}
		backoff = min(2*backoff, time.Second)
	}
	if lost > 0 {
		return &PartialError{Lost: lost, Err: errors.New(s.LastFailure)}
	}
	return nil
}

// try writes batch and reads its replies; it returns how many lines were
// answered (accepted or refused) before an error.
func (s *NetcatSink) try(ctx context.Context, batch []Record, deadline time.Time) (done, refused int, err error) {
	if s.conn == nil {
		var d net.Dialer
		dctx, cancel := context.WithDeadline(ctx, deadline)
		c, err := d.DialContext(dctx, "tcp", s.Addr)
		cancel()
		if err != nil {
			return 0, 0, err
		}
		s.conn, s.br = c, bufio.NewReader(c)
	}
	b := s.buf[:0]
	for i := range batch {
		line := batch[i].Line
		start := len(b)
		b = append(b, line...)
		if bytes.IndexByte(line, '\n') >= 0 {
			for j := start; j < len(b); j++ {
				if b[j] == '\n' {
					b[j] = ' '
				}
			}
		}
		b = append(b, '\n')
	}
	s.buf = b
	_ = s.conn.SetDeadline(deadline)
	// Write while reading the replies, so that neither side's buffers
	// fill up with the other waiting.
	werr := make(chan error, 1)
	go func() {
		_, err := s.conn.Write(b)
		werr <- err
	}()
	if !s.Ack {
		if err := <-werr; err != nil {
			return 0, 0, err
		}
		return len(batch), 0, nil
	}
	for done < len(batch) {
		reply, err := s.br.ReadString('\n')
		if err != nil {
			_ = s.conn.Close() // unblocks the writer
			<-werr
			return done, refused, fmt.Errorf("reading replies: %w", err)
		}
		reply = strings.TrimRight(reply, "\r\n")
		switch {
		case reply == "OK":
		case strings.HasPrefix(reply, "FAILED"):
			refused++
			s.LastFailure = reply
		default:
			_ = s.conn.Close()
			<-werr
			return done, refused, fmt.Errorf("unexpected reply %q", reply)
		}
		done++
	}
	if err := <-werr; err != nil {
		return done, refused, err
	}
	return done, refused, nil
}

// Close closes the connection; the next Send opens a new one.
func (s *NetcatSink) Close() error {
	if s.conn == nil {
		return nil
	}
	err := s.conn.Close()
	s.conn, s.br = nil, nil
	return err
}
