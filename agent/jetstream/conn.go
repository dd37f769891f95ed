package jetstream

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/nats-io/nats.go"
	js "github.com/nats-io/nats.go/jetstream"

	"github.com/vscope/vscope/agent/event"
	"github.com/vscope/vscope/agent/forward"
)

// connConfig is what every jetstream component needs to reach its stream.
type connConfig struct {
	Servers        []string
	User, Password string
	Token          string
	Credentials    string // a NATS .creds file
	CA, Cert, Key  string // PEM files for TLS
	ConnectTimeout time.Duration
	Name           string // the client name the servers see
}

// connect dials the servers. The connection reconnects forever on its own;
// calls made while it is down fail and are retried by the caller.
func (c connConfig) connect() (*nats.Conn, js.JetStream, error) {
	opts := []nats.Option{
		nats.Name(c.Name),
		nats.Timeout(c.ConnectTimeout),
		nats.MaxReconnects(-1),
		nats.ReconnectWait(250 * time.Millisecond),
	}
	switch {
	case c.Credentials != "":
		opts = append(opts, nats.UserCredentials(c.Credentials))
	case c.Token != "":
		opts = append(opts, nats.Token(c.Token))
	case c.User != "":
		opts = append(opts, nats.UserInfo(c.User, c.Password))
	}
	if c.CA != "" {
		opts = append(opts, nats.RootCAs(c.CA))
	}
	if c.Cert != "" {
		opts = append(opts, nats.ClientCert(c.Cert, c.Key))
	}
	nc, err := nats.Connect(strings.Join(c.Servers, ","), opts...)
	if err != nil {
		return nil, nil, fmt.Errorf("connect to NATS %s: %w", strings.Join(c.Servers, ","), err)
	}
	j, err := js.New(nc)
	if err != nil {
		nc.Close()
		return nil, nil, err
	}
	return nc, j, nil
}

// eventHeader marks a message holding a whole event in forward encoding.
const eventHeader = "Vscope-Event"

// message turns an event into a NATS message on subject.
func message(subject string, e *event.Event, buf []byte) *nats.Msg {
	m := nats.NewMsg(subject)
	if len(e.Headers) == 0 {
		m.Data = e.Body
		return m
	}
	m.Data = forward.AppendBatch(buf, []event.Event{*e})
	m.Header.Set(eventHeader, "v1")
	return m
}

// toEvent turns a stored message back into an event.
func toEvent(data []byte, h nats.Header) (event.Event, error) {
	if h == nil || h.Get(eventHeader) == "" {
		return event.Event{Body: data}, nil
	}
	if v := h.Get(eventHeader); v != "v1" {
		return event.Event{}, fmt.Errorf("message in unknown vscope encoding %q", v)
	}
	evs, err := forward.DecodeBatch(data, 1)
	if err != nil || len(evs) != 1 {
		return event.Event{}, fmt.Errorf("undecodable vscope event message: %v", err)
	}
	return evs[0], nil
}

// isFull reports a publish refused because the stream is at its limits.
func isFull(err error) bool {
	if err == nil {
		return false
	}
	s := err.Error()
	return strings.Contains(s, "maximum messages") || strings.Contains(s, "maximum bytes") ||
		strings.Contains(s, "insufficient resources")
}

// publishAll publishes events asynchronously and waits until the stream
// acknowledged every one or timeout passed. On failure some messages may
// be stored.
func publishAll(ctx context.Context, j js.JetStream, subject, stream string, events []event.Event, timeout time.Duration) error {
	futures := make([]js.PubAckFuture, 0, len(events))
	var pubErr error
	for i := range events {
		f, err := j.PublishMsgAsync(message(subject, &events[i], nil), js.WithExpectStream(stream))
		if err != nil {
			pubErr = fmt.Errorf("publish: %w", err)
			break
		}
		futures = append(futures, f)
	}
	t := time.NewTimer(timeout)
	defer t.Stop()
	var errs []error
	if pubErr != nil {
		errs = append(errs, pubErr)
	}
	for _, f := range futures {
		select {
		case <-f.Ok():
		case err := <-f.Err():
			if len(errs) < 3 {
				errs = append(errs, err)
			}
		case <-t.C:
			return fmt.Errorf("publish: no acknowledgement within %v", timeout)
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	return errors.Join(errs...)
}

// sanitize makes s usable in a stream or consumer name.
func sanitize(s string) string {
	return strings.Map(func(r rune) rune {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9', r == '_', r == '-':
			return r
		}
		return '_'
	}, s)
}

// checkName checks a stream or consumer name.
func checkName(what, s string) error {
	if s == "" || strings.ContainsAny(s, ".*> \t\r\n/\\") {
		return fmt.Errorf("%s %q must be non-empty without . * > / \\ or blanks", what, s)
	}
	return nil
}

// checkSubject checks a literal subject to publish to.
func checkSubject(s string) error {
	if s == "" || strings.ContainsAny(s, "*> \t\r\n") || strings.HasPrefix(s, ".") || strings.HasSuffix(s, ".") || strings.Contains(s, "..") {
		return fmt.Errorf("subject %q must be a literal subject such as vscope.a1.c1", s)
	}
	return nil
}

func splitServers(s string) []string {
	return strings.FieldsFunc(s, func(r rune) bool { return r == ',' || r == ' ' || r == '\t' })
}
