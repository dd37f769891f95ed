package source

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"mime"
	"net"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/vscope/vscope/agent/component"
	"github.com/vscope/vscope/agent/event"
)

// JSONHandlerClass is Flume's class name of the JSON handler, the only
// handler the http source has.
const JSONHandlerClass = "org.apache.flume.source.http.JSONHandler"

// HTTPConfig is the configuration of an http source (Flume's HTTPSource),
// with Flume's property names and defaults except where noted.
type HTTPConfig struct {
	// Bind is the address to listen on. Default 127.0.0.1: unlike Flume's
	// 0.0.0.0, vscope does not accept events from the network unless told
	// to, because the source has no authentication.
	Bind string `prop:"bind"`
	// Port is the TCP port to listen on. Required; 0 picks a free port
	// (see HTTP.Addr).
	Port int `prop:"port,required"`
	// Handler is the request handler: only Flume's JSONHandler, named
	// either "org.apache.flume.source.http.JSONHandler" (the default) or
	// "JSONHandler".
	Handler string `prop:"handler"`
	// MaxRequestBytes is a vscope extension: the largest request body
	// accepted; a larger one is answered 413. Default 16 MiB.
	MaxRequestBytes int64 `prop:"maxRequestBytes"`
}

// NewHTTPConfig returns the defaults.
func NewHTTPConfig() *HTTPConfig {
	return &HTTPConfig{Bind: "127.0.0.1", Handler: JSONHandlerClass, MaxRequestBytes: 16 << 20}
}

// Validate checks the bounds and the handler.
func (c *HTTPConfig) Validate() error {
	switch {
	case c.Port < 0 || c.Port > 65535:
		return fmt.Errorf("port must be 0 to 65535, got %d", c.Port)
	case c.Handler != JSONHandlerClass && c.Handler != "JSONHandler":
		return fmt.Errorf("handler %q is not supported; the only handler is %s (or JSONHandler)", c.Handler, JSONHandlerClass)
	case c.MaxRequestBytes <= 0:
		return fmt.Errorf("maxRequestBytes must be positive, got %d", c.MaxRequestBytes)
	}
	return nil
}

// Timeouts of the http source's server. The write timeout runs from the
// end of the request headers to the end of the response, so it covers the
// put, which may wait for the channel's keep-alive.
const (
	httpReadHeaderTimeout = 10 * time.Second
	httpReadTimeout       = 60 * time.Second
	httpWriteTimeout      = 60 * time.Second
	httpIdleTimeout       = 120 * time.Second
)

// HTTP is an event-driven source that accepts events over HTTP in the
// format of Flume's JSONHandler: a POST whose body is a JSON array of
// events, each an object with optional "headers" (an object of string
// values) and "body" (a string, stored as its UTF-8 bytes):
//
//	[{"headers": {"host": "web1"}, "body": "GET /index.html 200"}, ...]
//
// All events of one request are put as one batch; the response is sent
// after the put committed or failed:
//
//	200  the events are in the channel (an empty array puts nothing)
//	400  the body is not such an array; the text says where and why
//	405  the method is not POST (Flume also accepts GET)
//	413  the body exceeds maxRequestBytes, or the batch can never fit the
//	     channel's transactionCapacity or byteCapacity (ErrTooLarge):
//	     split the request
//	415  a charset other than UTF-8 (Flume converts other charsets)
//	503  the channel is full (ErrChannelFull) or stopping: retry later
//	500  any other put failure
//
// Unlike Flume (whose Gson turns numbers into strings), a header value or
// body that is not a JSON string is a 400. Unknown fields of an event are
// ignored, as in Flume.
type HTTP struct {
	cfg HTTPConfig
	set component.SourceSettings

	mu  sync.Mutex // protects run
	run *httpRun   // nil when not running
}

// httpRun is one Start..Stop of an HTTP source.
type httpRun struct {
	srv    *http.Server
	ln     net.Listener
	cancel context.CancelFunc // cancels every request's context
	served chan struct{}      // closed when Serve returned

	mu       sync.Mutex     // protects closed
	closed   bool           // set once the server is shut down
	handlers sync.WaitGroup // requests being handled; Add only while !closed
}

// NewHTTP builds an http source. set.Processor is required; a nil Logger
// or Counter is replaced by a discarding logger or private counters.
func NewHTTP(set component.SourceSettings, cfg HTTPConfig) (*HTTP, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if set.Processor == nil {
		return nil, errors.New("http: no processor")
	}
	return &HTTP{cfg: cfg, set: withDefaults(set)}, nil
}

// Start listens on bind:port and serves requests until Stop. A listen
// error is returned; a server failure after that is reported to host.
func (h *HTTP) Start(_ context.Context, host component.Host) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.run != nil {
		return errors.New("http: already started")
	}
	addr := net.JoinHostPort(strings.TrimSpace(h.cfg.Bind), strconv.Itoa(h.cfg.Port))
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("http: listen %s: %w", addr, err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	r := &httpRun{ln: ln, cancel: cancel, served: make(chan struct{})}
	r.srv = &http.Server{
		Handler:           r.track(h),
		ReadHeaderTimeout: httpReadHeaderTimeout,
		ReadTimeout:       httpReadTimeout,
		WriteTimeout:      httpWriteTimeout,
		IdleTimeout:       httpIdleTimeout,
		BaseContext:       func(net.Listener) context.Context { return ctx },
		ErrorLog:          slog.NewLogLogger(h.set.Logger.Handler(), slog.LevelDebug),
		ConnState: func(_ net.Conn, st http.ConnState) {
			switch st {
			case http.StateNew:
				h.set.Counter.ConnOpened()
			case http.StateClosed, http.StateHijacked:
				h.set.Counter.ConnClosed()
			}
		},
	}
	h.run = r
	h.set.Counter.MarkStarted()
	h.set.Logger.Info("http source listening", "addr", ln.Addr().String())
	host = hostOrNop(host, h.set.Logger)
	go func() {
		defer close(r.served)
		if err := r.srv.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
			host.ReportFatal(fmt.Errorf("http: serve: %w", err))
		}
	}()
	return nil
}

// track counts the requests being handled, so Stop can wait for them even
// when it has to close connections under them.
func (r *httpRun) track(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		r.mu.Lock()
		if r.closed {
			r.mu.Unlock()
			http.Error(w, "source is stopping", http.StatusServiceUnavailable)
			return
		}
		r.handlers.Add(1)
		r.mu.Unlock()
		defer r.handlers.Done()
		next.ServeHTTP(w, req)
	})
}

// Addr is the address the source listens on, or nil when it is not
// running. With port 0 it tells which port was picked.
func (h *HTTP) Addr() net.Addr {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.run == nil {
		return nil
	}
	return h.run.ln.Addr()
}

// Stop shuts the server down gracefully: it stops accepting, lets the
// requests in flight finish their puts and responses, and closes idle
// connections. If ctx ends first, the connections are closed and the puts
// in flight cancelled. Stop returns after every request handler ended.
func (h *HTTP) Stop(ctx context.Context) error {
	h.mu.Lock()
	r := h.run
	h.run = nil
	h.mu.Unlock()
	if r == nil {
		return nil
	}
	var err error
	if serr := r.srv.Shutdown(ctx); serr != nil {
		err = fmt.Errorf("http: stop: %w", serr)
		_ = r.srv.Close()
	}
	r.cancel()
	r.mu.Lock()
	r.closed = true
	r.mu.Unlock()
	r.handlers.Wait()
	<-r.served
	h.set.Counter.MarkStopped()
	return err
}

// badRequest is a request body that is not a JSON array of events.
type badRequest struct{ msg string }

func (e *badRequest) Error() string { return e.msg }

// ServeHTTP handles one request as described on HTTP. It is exported so
// the source can also be mounted in another server.
func (h *HTTP) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	if req.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		http.Error(w, "method "+req.Method+" not allowed: POST a JSON array of events", http.StatusMethodNotAllowed)
		return
	}
	c := h.set.Counter
	if ct := req.Header.Get("Content-Type"); ct != "" {
		if _, params, err := mime.ParseMediaType(ct); err == nil {
			if cs := params["charset"]; cs != "" && !strings.EqualFold(cs, "utf-8") && !strings.EqualFold(cs, "utf8") {
				c.EventReadFail.Inc()
				http.Error(w, "charset "+cs+" is not supported: send UTF-8", http.StatusUnsupportedMediaType)
				return
			}
		}
	}
	limit := h.cfg.MaxRequestBytes
	if req.ContentLength > limit {
		c.EventReadFail.Inc()
		http.Error(w, fmt.Sprintf("request body of %d bytes exceeds maxRequestBytes %d", req.ContentLength, limit), http.StatusRequestEntityTooLarge)
		return
	}
	body, err := readBody(http.MaxBytesReader(w, req.Body, limit), req.ContentLength)
	if err != nil {
		c.EventReadFail.Inc()
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			http.Error(w, fmt.Sprintf("request body exceeds maxRequestBytes %d", limit), http.StatusRequestEntityTooLarge)
			return
		}
		http.Error(w, "reading request body: "+err.Error(), http.StatusBadRequest)
		return
	}
	events, err := decodeJSONEvents(body)
	if err != nil {
		c.EventReadFail.Inc()
		http.Error(w, "bad request: "+err.Error(), http.StatusBadRequest)
		return
	}
	if len(events) == 0 {
		w.WriteHeader(http.StatusOK)
		return
	}
	err = deliver(req.Context(), &h.set, events)
	switch {
	case err == nil:
		w.WriteHeader(http.StatusOK)
	case errors.Is(err, component.ErrTooLarge):
		http.Error(w, fmt.Sprintf("batch of %d events can never fit the channel, split the request: %v", len(events), err), http.StatusRequestEntityTooLarge)
	case errors.Is(err, component.ErrChannelFull), errors.Is(err, component.ErrStopped),
		errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		w.Header().Set("Retry-After", "1")
		http.Error(w, "channel unavailable, retry later: "+err.Error(), http.StatusServiceUnavailable)
	default:
		h.set.Logger.Warn("http put failed", "events", len(events), "err", err)
		http.Error(w, "put failed: "+err.Error(), http.StatusInternalServerError)
	}
}

// readBody reads the whole body. A declared length sizes the buffer up
// front, up to 1 MiB, so a false Content-Length cannot make it allocate
// much more than the client sends.
func readBody(r io.Reader, length int64) ([]byte, error) {
	if length <= 0 {
		return io.ReadAll(r)
	}
	buf := bytes.NewBuffer(make([]byte, 0, min(length+1, 1<<20)))
	_, err := buf.ReadFrom(r)
	return buf.Bytes(), err
}

// jsonEvent is one event of Flume's JSONHandler format.
type jsonEvent struct {
	Headers map[string]string `json:"headers"`
	Body    string            `json:"body"`
}

// decodeJSONEvents parses a JSONHandler request body. Errors are
// badRequest values that say where the input is wrong: the line, column
// and byte of a syntax error, or the index of the bad event and the field.
func decodeJSONEvents(data []byte) ([]event.Event, error) {
	if len(bytes.TrimSpace(data)) == 0 {
		return nil, &badRequest{"empty body: expected a JSON array of events"}
	}
	var jes []jsonEvent
	if err := json.Unmarshal(data, &jes); err != nil {
		var se *json.SyntaxError
		if errors.As(err, &se) {
			line, col := position(data, se.Offset)
			return nil, &badRequest{fmt.Sprintf("invalid JSON at line %d, column %d (byte %d): %v", line, col, se.Offset, se)}
		}
		return nil, explainJSON(data, err)
	}
	events := make([]event.Event, len(jes))
	for i, je := range jes {
		events[i] = event.Event{Headers: je.Headers, Body: []byte(je.Body)}
	}
	return events, nil
}

// position turns the byte offset of a syntax error (the bytes read when
// the error was found) into a 1-based line and column.
func position(data []byte, off int64) (line, col int) {
	off = min(max(off, 1), int64(len(data)))
	before := data[:off-1]
	line = 1 + bytes.Count(before, []byte("\n"))
	col = int(off) - bytes.LastIndexByte(before, '\n') - 1
	return line, col
}

// explainJSON finds which event of a syntactically valid body has the
// wrong shape. It runs only on the error path, so it may decode twice.
func explainJSON(data []byte, orig error) error {
	var raw []json.RawMessage
	if err := json.Unmarshal(data, &raw); err != nil {
		return &badRequest{"expected a JSON array of events, got " + jsonKind(bytes.TrimSpace(data))}
	}
	for i, el := range raw {
		var fields struct {
			Headers json.RawMessage `json:"headers"`
			Body    json.RawMessage `json:"body"`
		}
		if err := json.Unmarshal(el, &fields); err != nil {
			return &badRequest{fmt.Sprintf("event at index %d must be a JSON object, got %s", i, jsonKind(el))}
		}
		if k := jsonKind(fields.Body); fields.Body != nil && k != "string" && k != "null" {
			return &badRequest{fmt.Sprintf("event at index %d: body must be a string, got %s", i, k)}
		}
		if fields.Headers == nil {
			continue
		}
		var headers map[string]json.RawMessage
		if err := json.Unmarshal(fields.Headers, &headers); err != nil {
			return &badRequest{fmt.Sprintf("event at index %d: headers must be an object of strings, got %s", i, jsonKind(fields.Headers))}
		}
		names := make([]string, 0, len(headers))
		for name := range headers {
			names = append(names, name)
		}
		sort.Strings(names)
		for _, name := range names {
			if k := jsonKind(headers[name]); k != "string" && k != "null" {
				return &badRequest{fmt.Sprintf("event at index %d: header %q must be a string, got %s", i, name, k)}
			}
		}
	}
	// Not expected: the shape checks above cover what jsonEvent rejects.
	return &badRequest{orig.Error()}
}

// jsonKind names the kind of a JSON value by its first byte.
func jsonKind(v []byte) string {
	v = bytes.TrimSpace(v)
	if len(v) == 0 {
		return "nothing"
	}
	switch v[0] {
	case '"':
		return "string"
	case '{':
		return "object"
	case '[':
		return "array"
	case 't', 'f':
		return "boolean"
	case 'n':
		return "null"
	default:
		return "number"
	}
}

// HTTPFactory is the factory of `type = http`.
func HTTPFactory() component.SourceFactory {
	return component.SourceFactory{
		Type:      "http",
		Aliases:   []string{"org.apache.flume.source.http.HTTPSource"},
		NewConfig: func() component.Config { return NewHTTPConfig() },
		Create: func(set component.SourceSettings, cfg component.Config) (component.Source, error) {
			s, err := NewHTTP(set, *cfg.(*HTTPConfig))
			if err != nil {
				return nil, err
			}
			return s, nil
		},
	}
}
