package ui

import (
	"context"
	"crypto/subtle"
	"embed"
	"encoding/json"
	"errors"
	"fmt"
	"html/template"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/vscope/vscope/vscope/diagnose"
	"github.com/vscope/vscope/vscope/store"
	"github.com/vscope/vscope/vscope/web"
)

//go:embed static
var static embed.FS

// Errors of the package.
var (
	// ErrBusy: a diagnosis is already running; the view runs one at a time.
	ErrBusy = errors.New("a diagnosis is already running")
	// ErrNoDiagnosis: none has been run yet.
	ErrNoDiagnosis = errors.New("no diagnosis yet")
)

// Config configures a Server. Zero fields take the defaults documented on
// them.
type Config struct {
	// Stores opens the metric store for each request (required).
	Stores *Stores
	// Diagnose holds the defaults of every diagnosis the view runs
	// (window, baseline, step, filter, topology); a request can change the
	// window, baseline and filter.
	Diagnose diagnose.Options
	// Span is how much of the store the live charts show (default 10
	// minutes), at Step (default Span/300, at least 1 second).
	Span, Step time.Duration
	// Refresh is how often the page reads the live data again (default 5
	// seconds).
	Refresh time.Duration
	// Every diagnoses the newest window this often; 0 means once, when the
	// server starts; negative never (only on request).
	Every time.Duration
	// Token, when set, is required of every request but the static assets:
	// "Authorization: Bearer TOKEN" or ?token=TOKEN.
	Token string
	// Logger (default slog.Default()).
	Logger *slog.Logger
	// Now is the clock (default time.Now), for a store that cannot tell
	// its newest point.
	Now func() time.Time
}

func (c Config) withDefaults() Config {
	if c.Span <= 0 {
		c.Span = 10 * time.Minute
	}
	if c.Step <= 0 {
		c.Step = max(time.Second, (c.Span / 300).Truncate(time.Second))
	}
	if c.Refresh <= 0 {
		c.Refresh = 5 * time.Second
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	return c
}

// Server is the live view: an http.Handler, and Run to serve it with its
// background diagnoses.
type Server struct {
	cfg Config
	mux *http.ServeMux

	run sync.Mutex // held while a diagnosis runs (TryLock: one at a time)

	mu   sync.Mutex // protects last
	last *Diagnosis
}

// Diagnosis is one diagnosis the view ran: on what, when, and the result.
type Diagnosis struct {
	Request DiagnoseRequest  `json:"request"`
	RanAt   time.Time        `json:"ran_at"`
	TookMS  float64          `json:"took_ms"`
	Result  *diagnose.Result `json:"result"`
}

// DiagnoseRequest is the body of POST /api/diagnose. Every field is
// optional: At is the end of the window (RFC 3339, "2006-01-02T15:04:05"
// in UTC, or unix milliseconds; empty: the store's newest point), Window
// and Baseline are durations ("10m"), Filter is store.ParseFilter's syntax.
type DiagnoseRequest struct {
	At       string `json:"at"`
	Window   string `json:"window"`
	Baseline string `json:"baseline"`
	Filter   string `json:"filter"`
}

// New returns a server for cfg.
func New(cfg Config) (*Server, error) {
	if cfg.Stores == nil {
		return nil, errors.New("ui: Config.Stores is required")
	}
	cfg = cfg.withDefaults()
	if err := cfg.Diagnose.Validate(); err != nil {
		return nil, err
	}
	s := &Server{cfg: cfg, mux: http.NewServeMux()}
	s.mux.HandleFunc("GET /{$}", s.guard(s.index))
	s.mux.HandleFunc("GET /assets/{name}", s.asset)
	s.mux.HandleFunc("GET /api/live", s.guard(s.live))
	s.mux.HandleFunc("GET /api/diagnosis", s.guard(s.diagnosis))
	s.mux.HandleFunc("POST /api/diagnose", s.guard(s.diagnose))
	s.mux.HandleFunc("GET /report", s.guard(s.report))
	return s, nil
}

// ServeHTTP serves the view.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) { s.mux.ServeHTTP(w, r) }

// Run serves on ln until ctx ends, diagnosing the newest window as
// Config.Every says, then shuts the server down (requests under way get 5
// seconds) and waits for its background work.
func (s *Server) Run(ctx context.Context, ln net.Listener) error {
	srv := &http.Server{Handler: s, ReadHeaderTimeout: 10 * time.Second}
	var wg sync.WaitGroup
	bg, cancel := context.WithCancel(ctx)
	defer func() {
		cancel()
		wg.Wait()
	}()
	if s.cfg.Every >= 0 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			s.every(bg)
		}()
	}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	sctx, stop := context.WithTimeout(context.Background(), 5*time.Second)
	defer stop()
	err := srv.Shutdown(sctx)
	if serr := <-errc; !errors.Is(serr, http.ErrServerClosed) && err == nil {
		err = serr
	}
	return err
}

// every diagnoses the newest window now and then every Config.Every.
func (s *Server) every(ctx context.Context) {
	for {
		if _, err := s.Diagnose(ctx, DiagnoseRequest{}); err != nil && ctx.Err() == nil && !errors.Is(err, ErrBusy) {
			s.cfg.Logger.Warn("diagnosis of the newest window failed", "err", err)
		}
		if s.cfg.Every == 0 {
			return
		}
		t := time.NewTimer(s.cfg.Every)
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-t.C:
		}
	}
}

// Diagnose runs a diagnosis and keeps it as the latest; ErrBusy when one
// is running.
func (s *Server) Diagnose(ctx context.Context, req DiagnoseRequest) (*Diagnosis, error) {
	o := s.cfg.Diagnose
	var err error
	if req.Window != "" {
		if o.Window, err = time.ParseDuration(req.Window); err != nil {
			return nil, badRequest("window %q: %v", req.Window, err)
		}
	}
	if req.Baseline != "" {
		if o.Baseline, err = time.ParseDuration(req.Baseline); err != nil {
			return nil, badRequest("baseline %q: %v", req.Baseline, err)
		}
	}
	if req.Filter != "" {
		if o.Filter, err = store.ParseFilter(req.Filter); err != nil {
			return nil, badRequest("filter: %v", err)
		}
	}
	if req.At != "" {
		if o.At, err = parseTime(req.At); err != nil {
			return nil, badRequest("at %q: %v", req.At, err)
		}
	}
	if err := o.Validate(); err != nil {
		return nil, badRequest("%v", err)
	}
	if !s.run.TryLock() {
		return nil, ErrBusy
	}
	defer s.run.Unlock()
	st, release, err := s.cfg.Stores.Acquire(ctx)
	if err != nil {
		return nil, err
	}
	defer release()
	if o.At.IsZero() {
		latest, err := Latest(ctx, st)
		if err != nil {
			return nil, err
		}
		o.At = s.cfg.Now()
		if !latest.IsZero() {
			o.At = latest.Add(time.Millisecond) // the window holds the newest point
		}
	}
	t0 := time.Now()
	r, err := diagnose.Run(ctx, st, o)
	if err != nil {
		return nil, err
	}
	req.At = o.At.UTC().Format(time.RFC3339Nano)
	if req.Window == "" {
		req.Window = windowOf(o).String()
	}
	d := &Diagnosis{Request: req, RanAt: time.Now().UTC(), TookMS: float64(time.Since(t0).Microseconds()) / 1000, Result: r}
	s.mu.Lock()
	s.last = d
	s.mu.Unlock()
	s.cfg.Logger.Info("diagnosed", "at", req.At, "window", req.Window, "status", r.Status, "took_ms", d.TookMS)
	return d, nil
}

func windowOf(o diagnose.Options) time.Duration {
	if o.Window == 0 {
		return 10 * time.Minute
	}
	return o.Window
}

// Last is the latest diagnosis, nil before the first.
func (s *Server) Last() *Diagnosis {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.last
}

// requestError is a request the view refuses (400).
type requestError struct{ msg string }

func (e *requestError) Error() string { return e.msg }

func badRequest(format string, args ...any) error {
	return &requestError{fmt.Sprintf(format, args...)}
}

// parseTime reads RFC 3339, a date and time in UTC (what a browser's
// datetime-local input sends), or unix milliseconds.
func parseTime(s string) (time.Time, error) {
	s = strings.TrimSpace(s)
	if ms, err := strconv.ParseInt(s, 10, 64); err == nil {
		return time.UnixMilli(ms).UTC(), nil
	}
	for _, layout := range []string{time.RFC3339Nano, "2006-01-02T15:04:05", "2006-01-02T15:04", "2006-01-02 15:04:05", "2006-01-02 15:04"} {
		if t, err := time.Parse(layout, s); err == nil {
			return t.UTC(), nil
		}
	}
	return time.Time{}, errors.New(`want RFC 3339, "2006-01-02T15:04:05" (UTC) or unix ms`)
}

// guard checks the token, when one is set.
func (s *Server) guard(h http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if s.cfg.Token != "" {
			got, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
			if !ok {
				got = r.URL.Query().Get("token")
			}
			if subtle.ConstantTimeCompare([]byte(got), []byte(s.cfg.Token)) != 1 {
				http.Error(w, "missing or wrong token: open the address vscope ui printed, with its ?token=", http.StatusUnauthorized)
				return
			}
		}
		h(w, r)
	}
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(v)
}

func writeError(w http.ResponseWriter, code int, err error) {
	writeJSON(w, code, map[string]string{"error": err.Error()})
}

func (s *Server) live(w http.ResponseWriter, r *http.Request) {
	st, release, err := s.cfg.Stores.Acquire(r.Context())
	if err != nil {
		writeError(w, http.StatusServiceUnavailable, err)
		return
	}
	defer release()
	l, err := ReadLive(r.Context(), st, s.cfg.Span, s.cfg.Step, s.cfg.Now())
	if err != nil {
		writeError(w, http.StatusInternalServerError, err)
		return
	}
	l.Store = s.cfg.Stores.String()
	writeJSON(w, http.StatusOK, l)
}

func (s *Server) diagnosis(w http.ResponseWriter, r *http.Request) {
	d := s.Last()
	if d == nil {
		writeError(w, http.StatusNotFound, ErrNoDiagnosis)
		return
	}
	writeJSON(w, http.StatusOK, d)
}

func (s *Server) diagnose(w http.ResponseWriter, r *http.Request) {
	// The body must be JSON: a page on another origin cannot send that to
	// this address without the browser asking first (CORS), and the view
	// never says yes.
	if ct := r.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
		writeError(w, http.StatusUnsupportedMediaType, fmt.Errorf("Content-Type %q: want application/json", ct))
		return
	}
	if o := r.Header.Get("Origin"); o != "" && o != "http://"+r.Host {
		writeError(w, http.StatusForbidden, fmt.Errorf("origin %s is not this view", o))
		return
	}
	var req DiagnoseRequest
	dec := json.NewDecoder(io.LimitReader(r.Body, 1<<16))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&req); err != nil && !errors.Is(err, io.EOF) {
		writeError(w, http.StatusBadRequest, fmt.Errorf("body: %w", err))
		return
	}
	d, err := s.Diagnose(r.Context(), req)
	var re *requestError
	switch {
	case errors.As(err, &re):
		writeError(w, http.StatusBadRequest, err)
	case errors.Is(err, ErrBusy):
		writeError(w, http.StatusConflict, err)
	case err != nil:
		writeError(w, http.StatusInternalServerError, err)
	default:
		writeJSON(w, http.StatusOK, d)
	}
}

func (s *Server) report(w http.ResponseWriter, r *http.Request) {
	d := s.Last()
	w.Header().Set("Cache-Control", "no-store")
	if d == nil {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		_, _ = io.WriteString(w, `<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><title>vscope: no diagnosis yet</title></head>`+
			`<body style="font-family:system-ui,sans-serif;color:#5d6678;padding:2em">No diagnosis yet: it runs when the view starts, or press Diagnose.</body></html>`)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	if r.URL.Query().Get("download") != "" {
		w.Header().Set("Content-Disposition", `attachment; filename="vscope-report.html"`)
	}
	if err := diagnose.WriteHTML(w, d.Result); err != nil {
		s.cfg.Logger.Warn("report", "err", err)
	}
}

// asset serves the page's script and styles, and ECharts when the build
// has it.
func (s *Server) asset(w http.ResponseWriter, r *http.Request) {
	var (
		b    []byte
		kind string
	)
	switch r.PathValue("name") {
	case "echarts.min.js":
		js, err := web.ECharts()
		if err != nil {
			http.Error(w, err.Error(), http.StatusNotFound)
			return
		}
		b, kind = js, "text/javascript; charset=utf-8"
	case "report.css":
		b, kind = web.ReportCSS(), "text/css; charset=utf-8"
	case "report.js":
		b, kind = web.ReportJS(), "text/javascript; charset=utf-8"
	case "ui.js":
		b, _ = static.ReadFile("static/ui.js")
		kind = "text/javascript; charset=utf-8"
	default:
		http.NotFound(w, r)
		return
	}
	w.Header().Set("Content-Type", kind)
	w.Header().Set("Cache-Control", "no-cache")
	_, _ = w.Write(b)
}

var indexPage = template.Must(template.ParseFS(static, "static/index.html"))

// pageConfig is what the page's script is told.
type pageConfig struct {
	Store     string `json:"store"`
	RefreshMS int64  `json:"refresh_ms"`
	Window    string `json:"window"`
	Baseline  string `json:"baseline"`
	Span      string `json:"span"`
	Token     string `json:"token"`
	NoCharts  string `json:"no_charts"`
}

func (s *Server) index(w http.ResponseWriter, r *http.Request) {
	o := s.cfg.Diagnose
	base := o.Baseline
	if base == 0 {
		base = time.Hour
	}
	pc := pageConfig{Store: s.cfg.Stores.String(), RefreshMS: s.cfg.Refresh.Milliseconds(),
		Window: windowOf(o).String(), Baseline: base.String(), Span: s.cfg.Span.String(), Token: r.URL.Query().Get("token")}
	if _, err := web.ECharts(); err != nil {
		pc.NoCharts = err.Error()
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	if err := indexPage.Execute(w, pc); err != nil {
		s.cfg.Logger.Warn("index page", "err", err)
	}
}
