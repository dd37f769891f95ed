package replay

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// HTTPSink posts batches to a Flume http source (JSONHandler format):
//
//	[{"headers":{"host":"web-01","tier":"web","timestamp":"1762128000000"},"body":"..."}, ...]
//
// timestamp is the record's log time in epoch milliseconds, as Flume's
// timestamp interceptor writes it. A 200 accepts the batch; 503 (channel
// full) and connection errors are retried with back-off for up to Retry;
// a 413 or a 400 splits the batch in halves until the records the source
// refuses on their own are found, and those are lost (a *PartialError).
type HTTPSink struct {
	// URL is the source's address, e.g. http://127.0.0.1:41414/.
	URL string
	// Client sends the requests (default: a client with a 60 s timeout).
	Client *http.Client
	// Retry is how long a batch is retried (default 30 s).
	Retry time.Duration
	// Headers are added to every event's headers.
	Headers map[string]string

	buf  []byte
	Sent int64 // requests sent, retries included
}

// NewHTTPSink returns a sink posting to url.
func NewHTTPSink(url string) *HTTPSink {
	return &HTTPSink{URL: url}
}

// errNoRetry marks a response that retrying will not change.
var errNoRetry = errors.New("not retryable")

// Send implements Sink.
func (s *HTTPSink) Send(ctx context.Context, batch []Record) error {
	lost, err := s.send(ctx, batch)
	if err != nil {
		return err
	}
	if lost > 0 {
		return &PartialError{Lost: lost, Err: errors.New("the http source refused them")}
	}
	return nil
}

// send delivers batch, splitting it on 413; it returns how many records
// were refused.
func (s *HTTPSink) send(ctx context.Context, batch []Record) (int, error) {
	status, reply, err := s.post(ctx, batch)
	if err != nil {
		return 0, err
	}
	switch {
	case status == http.StatusOK:
		return 0, nil
	case (status == http.StatusRequestEntityTooLarge || status == http.StatusBadRequest) && len(batch) > 1:
		h := len(batch) / 2
		a, err := s.send(ctx, batch[:h])
		if err != nil {
			return a, err
		}
		b, err := s.send(ctx, batch[h:])
		return a + b, err
	case status == http.StatusBadRequest || status == http.StatusRequestEntityTooLarge:
		return len(batch), nil
	}
	return 0, fmt.Errorf("http source answered %d: %s", status, strings.TrimSpace(reply))
}

// post sends one request, retrying 503s and connection errors.
func (s *HTTPSink) post(ctx context.Context, batch []Record) (int, string, error) {
	s.buf = s.encode(s.buf[:0], batch)
	client := s.Client
	if client == nil {
		client = defaultClient
	}
	retry := s.Retry
	if retry <= 0 {
		retry = 30 * time.Second
	}
	deadline := time.Now().Add(retry)
	backoff := 20 * time.Millisecond
	for {
		status, reply, err := s.try(ctx, client)
		if err == nil && status != http.StatusServiceUnavailable {
			return status, reply, nil
		}
		if ctx.Err() != nil {
			return 0, "", ctx.Err()
		}
		if time.Now().Add(backoff).After(deadline) {
			if err == nil {
				err = fmt.Errorf("http source answered %d: %s", status, strings.TrimSpace(reply))
			}
			return 0, "", fmt.Errorf("post %s: gave up after %v: %w", s.URL, retry, err)
		}
		t := time.NewTimer(backoff)
		select {
		case <-ctx.Done():
			t.Stop()
			return 0, "", ctx.Err()
		case <-t.C:
		}
		backoff = min(2*backoff, time.Second)
	}
}

var defaultClient = &http.Client{Timeout: 60 * time.Second}

func (s *HTTPSink) try(ctx context.Context, client *http.Client) (int, string, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, s.URL, bytes.NewReader(s.buf))
	if err != nil {
		return 0, "", fmt.Errorf("%w: %v", errNoRetry, err)
	}
	req.Header.Set("Content-Type", "application/json; charset=UTF-8")
	s.Sent++
	resp, err := client.Do(req)
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	reply, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
	_, _ = io.Copy(io.Discard, resp.Body)
	return resp.StatusCode, string(reply), nil
}

// encode appends the batch in the JSONHandler format.
func (s *HTTPSink) encode(b []byte, batch []Record) []byte {
	b = append(b, '[')
	for i := range batch {
		r := &batch[i]
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, `{"headers":{"host":`...)
		b = appendJSONString(b, r.Host)
		b = append(b, `,"tier":`...)
		b = appendJSONString(b, r.Tier)
		b = append(b, `,"timestamp":"`...)
		b = strconv.AppendInt(b, r.Time.UnixMilli(), 10)
		b = append(b, '"')
		for k, v := range s.Headers {
			b = append(b, ',')
			b = appendJSONString(b, k)
			b = append(b, ':')
			b = appendJSONString(b, v)
		}
		b = append(b, `},"body":`...)
		b = appendJSONString(b, r.Line)
		b = append(b, '}')
	}
	return append(b, ']')
}

// appendJSONString appends s as a JSON string; invalid UTF-8 becomes
// U+FFFD.
func appendJSONString[T string | []byte](b []byte, s T) []byte {
	const hex = "0123456789abcdef"
	b = append(b, '"')
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			switch {
			case c == '"' || c == '\\':
				b = append(b, '\\', c)
			case c == '\n':
				b = append(b, '\\', 'n')
			case c == '\t':
				b = append(b, '\\', 't')
			case c == '\r':
				b = append(b, '\\', 'r')
			case c < 0x20 || c == 0x7f:
				b = append(b, '\\', 'u', '0', '0', hex[c>>4], hex[c&0xf])
			default:
				b = append(b, c)
			}
			i++
			continue
		}
		r, size := utf8.DecodeRune([]byte(s[i:min(len(s), i+utf8.UTFMax)]))
		if r == utf8.RuneError && size == 1 {
			b = append(b, `\ufffd`...)
		} else {
			b = append(b, s[i:i+size]...)
		}
		i += size
	}
	return append(b, '"')
}
