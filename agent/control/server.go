package control

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/vscope/vscope/dpg/watch"
)

// Options configure a control server.
type Options struct {
	// Addr is where to listen; ":PORT" (and "") bind 127.0.0.1.
	Addr string
	// Token is the control token; at least MinTokenLen characters.
	Token string
	// AddrFile, when set, receives the server's URL once it listens.
	AddrFile string
	// Agents names the agents of the process, for status.
	Agents []string
	Logger *slog.Logger
	// MaxSpecBytes and MaxDataBytes bound request bodies (1 MiB, 16 MiB).
	MaxSpecBytes, MaxDataBytes int64
}

// MinTokenLen is the shortest control token accepted.
const MinTokenLen = 16

// TokenEnv is the environment variable LoadToken falls back to.
const TokenEnv = "VSCOPE_CONTROL_TOKEN"

// Server is a running control endpoint.
type Server struct {
	host    *watch.Host
	opts    Options
	token   [32]byte // SHA-256 of the control token
	url     string
	srv     *http.Server
	started time.Time

	authMissing, authMalformed, authWrong atomic.Int64

	logMu   sync.Mutex // protects lastLog
	lastLog time.Time
}

// AuthFailures counts refused requests by reason.
type AuthFailures struct {
	Missing   int64 `json:"missing"`
	Malformed int64 `json:"malformed"`
	Wrong     int64 `json:"wrong"`
}

// Total is the number of refused requests.
func (a AuthFailures) Total() int64 { return a.Missing + a.Malformed + a.Wrong }

// StatusResponse is GET /v1/status.
type StatusResponse struct {
	Host         string         `json:"host"`
	Agents       []string       `json:"agents"`
	URL          string         `json:"url"`
	Started      time.Time      `json:"started"`
	Interval     string         `json:"sample_interval"`
	AuthFailures AuthFailures   `json:"auth_failures"`
	Operators    []watch.Status `json:"operators"`
}

// LoadToken reads the control token from file, or from $VSCOPE_CONTROL_TOKEN
// when file is empty. Surrounding white space is trimmed.
func LoadToken(file string) (string, error) {
	var tok, from string
	if file != "" {
		b, err := os.ReadFile(file)
		if err != nil {
			return "", fmt.Errorf("control token: %w", err)
		}
		tok, from = strings.TrimSpace(string(b)), file
	} else {
		tok, from = strings.TrimSpace(os.Getenv(TokenEnv)), "$"+TokenEnv
		if tok == "" {
			return "", fmt.Errorf("control token: give --control-token-file FILE or set $%s", TokenEnv)
		}
	}
	if len(tok) < MinTokenLen {
		return "", fmt.Errorf("control token in %s: %d characters, want at least %d", from, len(tok), MinTokenLen)
	}
	return tok, nil
}

// Start listens on o.Addr and serves the control API for host.
func Start(host *watch.Host, o Options) (*Server, error) {
	if len(o.Token) < MinTokenLen {
		return nil, fmt.Errorf("control: token of %d characters, want at least %d", len(o.Token), MinTokenLen)
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	if o.MaxSpecBytes <= 0 {
		o.MaxSpecBytes = 1 << 20
	}
	if o.MaxDataBytes <= 0 {
		o.MaxDataBytes = 16 << 20
	}
	addr := o.Addr
	if addr == "" || strings.HasPrefix(addr, ":") {
		addr = "127.0.0.1" + addr
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("control endpoint: %w", err)
	}
	s := &Server{host: host, opts: o, token: sha256.Sum256([]byte(o.Token)), url: "http://" + ln.Addr().String(), started: time.Now()}
	s.srv = &http.Server{Handler: s.Handler(), ReadHeaderTimeout: 10 * time.Second, ReadTimeout: time.Minute}
	if o.AddrFile != "" {
		if err := writeAtomic(o.AddrFile, s.url+"\n"); err != nil {
			ln.Close()
			return nil, fmt.Errorf("control address file: %w", err)
		}
	}
	go func() { _ = s.srv.Serve(ln) }()
	o.Logger.Info("control API", "url", s.url, "host", host.Name())
	return s, nil
}

// writeAtomic writes text to path through a temporary file and a rename,
// so a reader never sees half an address.
func writeAtomic(path, text string) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".*")
	if err != nil {
		return err
	}
	if _, err := tmp.WriteString(text); err != nil {
		tmp.Close()
		os.Remove(tmp.Name())
		return err
	}
	if err := tmp.Close(); err != nil {
		os.Remove(tmp.Name())
		return err
	}
	return os.Rename(tmp.Name(), path)
}

// URL is the server's base URL, http://HOST:PORT.
func (s *Server) URL() string { return s.url }

// Close stops accepting requests and waits for those under way, within
// ctx.
func (s *Server) Close(ctx context.Context) error {
	err := s.srv.Shutdown(ctx)
	if errors.Is(err, context.DeadlineExceeded) {
		return s.srv.Close()
	}
	return err
}

// AuthFailures reports the requests refused so far.
func (s *Server) AuthFailures() AuthFailures {
	return AuthFailures{s.authMissing.Load(), s.authMalformed.Load(), s.authWrong.Load()}
}

// Handler is the API; Start serves it.
func (s *Server) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) { _, _ = io.WriteString(w, "ok\n") })
	mux.HandleFunc("GET /v1/status", s.control(s.status))
	mux.HandleFunc("GET /v1/operators", s.control(func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusOK, s.host.Statuses())
	}))
	mux.HandleFunc("GET /v1/operators/{id}", s.control(s.get))
	mux.HandleFunc("PUT /v1/operators/{id}", s.control(s.put))
	mux.HandleFunc("DELETE /v1/operators/{id}", s.control(s.delete))
	mux.HandleFunc("DELETE /v1/operators", s.control(s.deleteDeployment))
	mux.HandleFunc("POST /v1/operators/{id}/{kind}", s.data)
	return mux
}

// bearer extracts the token of an Authorization header.
func bearer(r *http.Request) (tok string, reason string) {
	h := r.Header.Get("Authorization")
	if h == "" {
		return "", "missing"
	}
	scheme, tok, ok := strings.Cut(h, " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") || strings.TrimSpace(tok) == "" {
		return "", "malformed"
	}
	return strings.TrimSpace(tok), ""
}

func equalToken(tok string, want [32]byte) bool {
	got := sha256.Sum256([]byte(tok))
	return subtle.ConstantTimeCompare(got[:], want[:]) == 1
}

// refuse answers 401, counts it and logs it without the token.
func (s *Server) refuse(w http.ResponseWriter, r *http.Request, reason, msg string) {
	switch reason {
	case "missing":
		s.authMissing.Add(1)
	case "malformed":
		s.authMalformed.Add(1)
	default:
		s.authWrong.Add(1)
	}
	s.logMu.Lock()
	if time.Since(s.lastLog) >= time.Second {
		s.lastLog = time.Now()
		s.logMu.Unlock()
		s.opts.Logger.Warn("control: request refused", "client", r.RemoteAddr, "method", r.Method, "path", r.URL.Path, "reason", reason, "refused_so_far", s.AuthFailures().Total())
	} else {
		s.logMu.Unlock()
	}
	w.Header().Set("WWW-Authenticate", `Bearer realm="vscope-control"`)
	writeError(w, http.StatusUnauthorized, msg)
}

const (
	msgMissing   = "missing bearer token: send Authorization: Bearer <token> (the agent's --control-token-file)"
	msgMalformed = "malformed Authorization header: want \"Bearer <token>\""
	msgWrong     = "wrong bearer token"
)

// control wraps a management handler: the control token only.
func (s *Server) control(h http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		tok, reason := bearer(r)
		switch {
		case reason == "missing":
			s.refuse(w, r, reason, msgMissing)
		case reason == "malformed":
			s.refuse(w, r, reason, msgMalformed)
		case !equalToken(tok, s.token):
			s.refuse(w, r, "wrong", msgWrong)
		default:
			h(w, r)
		}
	}
}

func (s *Server) status(w http.ResponseWriter, r *http.Request) {
	agents := s.opts.Agents
	if agents == nil {
		agents = []string{}
	}
	writeJSON(w, http.StatusOK, StatusResponse{Host: s.host.Name(), Agents: agents, URL: s.url, Started: s.started,
		Interval: s.host.Interval().String(), AuthFailures: s.AuthFailures(), Operators: s.host.Statuses()})
}

func (s *Server) get(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	n, ok := s.host.Node(id)
	if !ok {
		writeError(w, http.StatusNotFound, fmt.Sprintf("no operator %q", id))
		return
	}
	writeJSON(w, http.StatusOK, n.Status())
}

func (s *Server) put(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	body, ok := readBody(w, r, s.opts.MaxSpecBytes)
	if !ok {
		return
	}
	st, created, err := s.host.Put(id, body)
	switch {
	case errors.Is(err, watch.ErrClosed):
		writeError(w, http.StatusServiceUnavailable, err.Error())
	case err != nil:
		writeError(w, http.StatusBadRequest, fmt.Sprintf("operator %s: %v", id, err))
	case created:
		writeJSON(w, http.StatusCreated, st)
	default:
		writeJSON(w, http.StatusOK, st)
	}
}

func (s *Server) delete(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	st, err := s.host.Delete(id)
	if err != nil {
		writeError(w, http.StatusNotFound, err.Error())
		return
	}
	writeJSON(w, http.StatusOK, st)
}

// DeleteResponse is DELETE /v1/operators?deployment=NAME.
type DeleteResponse struct {
	Deployment string   `json:"deployment"`
	Removed    []string `json:"removed"`
}

func (s *Server) deleteDeployment(w http.ResponseWriter, r *http.Request) {
	dep := r.URL.Query().Get("deployment")
	if !watch.ValidID(dep) {
		writeError(w, http.StatusBadRequest, fmt.Sprintf("deployment %q: give ?deployment=NAME (letters, digits, '.', '_', '-')", dep))
		return
	}
	writeJSON(w, http.StatusOK, DeleteResponse{Deployment: dep, Removed: s.host.DeleteDeployment(dep)})
}

// data takes a peer's message: the bearer is the target operator's
// deployment key or the control token.
func (s *Server) data(w http.ResponseWriter, r *http.Request) {
	id, kind := r.PathValue("id"), r.PathValue("kind")
	tok, reason := bearer(r)
	if reason != "" {
		s.refuse(w, r, reason, map[string]string{"missing": msgMissing, "malformed": msgMalformed}[reason])
		return
	}
	key, ok := s.host.Key(id)
	if !ok {
		// Checked after the token's form and before its value: a peer
		// whose parent was removed learns so without proving anything.
		writeError(w, http.StatusNotFound, fmt.Sprintf("no operator %q", id))
		return
	}
	if !equalToken(tok, sha256.Sum256([]byte(key))) && !equalToken(tok, s.token) {
		s.refuse(w, r, "wrong", msgWrong+" for operator "+id)
		return
	}
	body, ok := readBody(w, r, s.opts.MaxDataBytes)
	if !ok {
		return
	}
	if err := s.host.Deliver(id, kind, body); err != nil {
		code := http.StatusBadRequest
		if errors.Is(err, watch.ErrNotFound) {
			code = http.StatusNotFound
		}
		writeError(w, code, fmt.Sprintf("operator %s: %v", id, err))
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

func readBody(w http.ResponseWriter, r *http.Request, limit int64) ([]byte, bool) {
	b, err := io.ReadAll(http.MaxBytesReader(w, r.Body, limit))
	if err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			writeError(w, http.StatusRequestEntityTooLarge, fmt.Sprintf("body over %d bytes", limit))
		} else {
			writeError(w, http.StatusBadRequest, "read body: "+err.Error())
		}
		return nil, false
	}
	return b, true
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	_ = enc.Encode(v)
}

func writeError(w http.ResponseWriter, code int, msg string) {
	writeJSON(w, code, map[string]string{"error": msg})
}
