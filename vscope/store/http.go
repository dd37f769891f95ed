package store

import (
	"bytes"
	"context"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"mime"
	"net/http"
	"strings"
	"time"
)

// The collector's endpoints.
const (
	IngestPath = "/api/v1/ingest"
	SQLPath    = "/api/v1/sql"
)

// HandlerOptions configure the ingest endpoint.
type HandlerOptions struct {
	// Token, when set, is required as "Authorization: Bearer TOKEN".
	Token string
	// MaxBytes bounds a request body (default 64 MiB).
	MaxBytes int64
	// Logger receives refused and failed requests (default slog.Default()).
	Logger *slog.Logger
	// SQL, when set, is served at POST /api/v1/sql (the body is one SELECT)
	// with the same token.
	SQL Selecter
	// MaxRows bounds an SQL answer (default 1,000,000 rows).
	MaxRows int
}

// Handler serves POST /api/v1/ingest: a body of Content-Type
// application/vnd.apache.arrow.stream holding points, appended to app as
// one batch. Answers: 200 {"points":N,"series":M} once written; 400 with
// the reason for a malformed stream (nothing is written); 401 without the
// token; 405 not POST; 413 too large; 415 another content type; 500 when
// the store fails. With opts.SQL it also serves POST /api/v1/sql: the body
// is one SELECT, the answer a JSON [Table], 400 with the reason for
// anything else.
func Handler(app Appender, opts HandlerOptions) http.Handler {
	if opts.MaxBytes <= 0 {
		opts.MaxBytes = 64 << 20
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	if opts.MaxRows <= 0 {
		opts.MaxRows = 1_000_000
	}
	mux := http.NewServeMux()
	// admit checks method and token; false means it answered.
	admit := func(w http.ResponseWriter, r *http.Request, what string) (refuse func(int, string, ...any), ok bool) {
		refuse = func(code int, format string, args ...any) {
			msg := fmt.Sprintf(format, args...)
			opts.Logger.Warn(what+" refused", "remote", r.RemoteAddr, "status", code, "reason", msg)
			http.Error(w, msg, code)
		}
		if r.Method != http.MethodPost {
			w.Header().Set("Allow", http.MethodPost)
			refuse(http.StatusMethodNotAllowed, "POST to %s", r.URL.Path)
			return refuse, false
		}
		if opts.Token != "" {
			got, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
			if !ok || subtle.ConstantTimeCompare([]byte(got), []byte(opts.Token)) != 1 {
				refuse(http.StatusUnauthorized, "missing or wrong bearer token")
				return refuse, false
			}
		}
		return refuse, true
	}
	if opts.SQL != nil {
		mux.HandleFunc(SQLPath, func(w http.ResponseWriter, r *http.Request) {
			refuse, ok := admit(w, r, "sql")
			if !ok {
				return
			}
			q, err := io.ReadAll(http.MaxBytesReader(w, r.Body, 1<<20))
			if err != nil {
				refuse(http.StatusBadRequest, "reading body: %v", err)
				return
			}
			t, err := opts.SQL.Select(r.Context(), string(q), opts.MaxRows)
			if errors.Is(err, ErrClosed) {
				http.Error(w, err.Error(), http.StatusServiceUnavailable)
				return
			}
			if err != nil {
				refuse(http.StatusBadRequest, "%v", err)
				return
			}
			w.Header().Set("Content-Type", "application/json")
			_ = json.NewEncoder(w).Encode(t)
		})
	}
	mux.HandleFunc(IngestPath, func(w http.ResponseWriter, r *http.Request) {
		refuse, ok := admit(w, r, "ingest")
		if !ok {
			return
		}
		if mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type")); err != nil || mt != IPCContentType {
			refuse(http.StatusUnsupportedMediaType, "Content-Type %q: want %s", r.Header.Get("Content-Type"), IPCContentType)
			return
		}
		body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, opts.MaxBytes))
		if err != nil {
			var tooBig *http.MaxBytesError
			if errors.As(err, &tooBig) {
				refuse(http.StatusRequestEntityTooLarge, "body over %d bytes", opts.MaxBytes)
				return
			}
			refuse(http.StatusBadRequest, "reading body: %v", err)
			return
		}
		b, err := DecodeIPCBytes(body)
		if err == nil {
			err = app.Append(r.Context(), b)
		}
		if errors.Is(err, ErrBadBatch) {
			refuse(http.StatusBadRequest, "%v", err)
			return
		}
		if err != nil && r.Context().Err() != nil {
			opts.Logger.Info("ingest abandoned by the client", "remote", r.RemoteAddr, "err", err)
			return
		}
		if err != nil {
			opts.Logger.Error("ingest failed", "remote", r.RemoteAddr, "err", err)
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(map[string]int{"points": b.Len(), "series": len(b.Series)})
	})
	return mux
}

// Client posts batches to a collector's ingest endpoint. It is an
// [Appender] and safe for concurrent use.
type Client struct {
	url    string
	token  string
	client *http.Client
}

// NewClient returns a client of the collector at base
// (http://HOST:PORT). A nil client gets one with a 30 s timeout.
func NewClient(base, token string, client *http.Client) *Client {
	if client == nil {
		client = &http.Client{Timeout: 30 * time.Second}
	}
	return &Client{url: strings.TrimRight(base, "/") + IngestPath, token: token, client: client}
}

// Append posts b as an Arrow IPC stream. A refusal for a malformed batch
// matches ErrBadBatch.
func (c *Client) Append(ctx context.Context, b *Batch) error {
	var buf bytes.Buffer
	if err := EncodeIPC(&buf, b); err != nil {
		return err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.url, &buf)
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", IPCContentType)
	if c.token != "" {
		req.Header.Set("Authorization", "Bearer "+c.token)
	}
	resp, err := c.client.Do(req)
	if err != nil {
		return fmt.Errorf("post metrics: %w", err)
	}
	defer resp.Body.Close()
	msg, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
	switch {
	case resp.StatusCode == http.StatusOK:
		return nil
	case resp.StatusCode == http.StatusBadRequest:
		return &BadBatchError{Reason: "collector: " + string(bytes.TrimSpace(msg))}
	default:
		return fmt.Errorf("post metrics to %s: %s: %s", c.url, resp.Status, bytes.TrimSpace(msg))
	}
}

// Select runs one SELECT on the collector's store (POST /api/v1/sql).
func (c *Client) Select(ctx context.Context, query string) (*Table, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, strings.TrimSuffix(c.url, IngestPath)+SQLPath, strings.NewReader(query))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", "text/plain; charset=utf-8")
	if c.token != "" {
		req.Header.Set("Authorization", "Bearer "+c.token)
	}
	resp, err := c.client.Do(req)
	if err != nil {
		return nil, fmt.Errorf("sql: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		msg, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
		return nil, fmt.Errorf("sql on %s: %s: %s", strings.TrimSuffix(c.url, IngestPath), resp.Status, bytes.TrimSpace(msg))
	}
	dec := json.NewDecoder(resp.Body)
	dec.UseNumber()
	var t Table
	if err := dec.Decode(&t); err != nil {
		return nil, fmt.Errorf("sql answer: %w", err)
	}
	return &t, nil
}

// Close releases idle connections.
func (c *Client) Close() error {
	c.client.CloseIdleConnections()
	return nil
}
