package ui

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"
	"strconv"
	"sync"
	"time"

	"github.com/vscope/vscope/vscope/store"
)

// Stores opens the metric store at a --store location for each request of
// the view:
//
//   - a DuckDB file is opened read-only while some request needs it and
//     closed when the last one is done, so that a writer that starts later
//     (an agent, vscope store serve) is kept out only for that long; while a
//     writer holds the file it cannot be read, and the error says to read
//     through the collector instead;
//   - a collector (http://HOST:PORT, vscope store serve) is read through
//     its SQL endpoint, the live way to watch flows whose agents post to it;
//   - VictoriaMetrics (vm+http://) is read through its HTTP API.
type Stores struct {
	loc store.Location

	// mu protects db and users: the open DuckDB store and how many
	// requests hold it.
	mu    sync.Mutex
	db    *store.DuckDB
	users int

	remote store.Store // a collector or VictoriaMetrics; nil for DuckDB
}

// NewStores checks location and prepares to open it.
func NewStores(location, token string) (*Stores, error) {
	loc, err := store.ParseLocation(location)
	if err != nil {
		return nil, err
	}
	s := &Stores{loc: loc}
	switch loc.Kind {
	case "duckdb":
		if _, err := os.Stat(loc.Path); err != nil {
			return nil, fmt.Errorf("no metric store at %s (run an agent with --store, or vscope store serve): %w", loc.Path, err)
		}
	case "collector":
		s.remote = newSQLStore(store.NewClient(loc.URL, token, &http.Client{Timeout: 5 * time.Minute}))
	default:
		st, err := store.Open(context.Background(), location, store.Options{ReadOnly: true})
		if err != nil {
			return nil, err
		}
		s.remote = st
	}
	return s, nil
}

// String names the store for the page.
func (s *Stores) String() string {
	if s.loc.Kind == "duckdb" {
		return s.loc.Path
	}
	if s.loc.Kind == "collector" {
		return s.loc.URL + " (collector)"
	}
	return s.loc.URL + " (VictoriaMetrics)"
}

// Acquire returns the store for one request; release gives it back.
func (s *Stores) Acquire(ctx context.Context) (st store.Store, release func(), err error) {
	if s.remote != nil {
		return s.remote, func() {}, nil
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.db == nil {
		db, err := store.OpenDuckDB(ctx, s.loc.Path, store.Options{ReadOnly: true})
		if err != nil {
			return nil, nil, err
		}
		s.db = db
	}
	s.users++
	db := s.db
	var once sync.Once
	return db, func() { once.Do(s.release) }, nil
}

func (s *Stores) release() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.users--
	if s.users == 0 && s.db != nil {
		_ = s.db.Close()
		s.db = nil
	}
}

// selecter runs one SELECT: the DuckDB store and the collector's SQL
// endpoint both can.
type selecter interface {
	Select(ctx context.Context, query string, limit int) (*store.Table, error)
}

// Latest is the time of the newest raw point in st, or the zero time when
// the store is empty or cannot tell (VictoriaMetrics: the view then uses
// the current time).
func Latest(ctx context.Context, st store.Store) (time.Time, error) {
	sel, ok := st.(selecter)
	if !ok {
		return time.Time{}, nil
	}
	t, err := sel.Select(ctx, `SELECT max(ts) FROM raw_points`, 1)
	if err != nil {
		return time.Time{}, fmt.Errorf("newest point: %w", err)
	}
	if len(t.Rows) == 0 || len(t.Rows[0]) == 0 || t.Rows[0][0] == nil {
		return time.Time{}, nil
	}
	ms, err := toInt(t.Rows[0][0])
	if err != nil {
		return time.Time{}, fmt.Errorf("newest point: %w", err)
	}
	return time.UnixMilli(ms).UTC(), nil
}

// Close closes what is open.
func (s *Stores) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	var errs []error
	if s.db != nil {
		errs = append(errs, s.db.Close())
		s.db = nil
	}
	if s.remote != nil {
		errs = append(errs, s.remote.Close())
	}
	return errors.Join(errs...)
}

// toInt reads an integer cell of a store.Table: an int64 from DuckDB, a
// json.Number or float64 from the collector's JSON.
func toInt(v any) (int64, error) {
	switch x := v.(type) {
	case int64:
		return x, nil
	case int32:
		return int64(x), nil
	case int:
		return int64(x), nil
	case uint64:
		return int64(x), nil
	case uint32:
		return int64(x), nil
	case float64:
		return int64(x), nil
	case interface{ String() string }:
		return strconv.ParseInt(x.String(), 10, 64)
	case string:
		return strconv.ParseInt(x, 10, 64)
	}
	return 0, fmt.Errorf("want an integer, got %T", v)
}

// toFloat reads a number cell of a store.Table (NaN and infinities come
// from the collector as strings).
func toFloat(v any) (float64, error) {
	switch x := v.(type) {
	case float64:
		return x, nil
	case float32:
		return float64(x), nil
	case int64:
		return float64(x), nil
	case int32:
		return float64(x), nil
	case int:
		return float64(x), nil
	case interface{ String() string }:
		return strconv.ParseFloat(x.String(), 64)
	case string:
		return strconv.ParseFloat(x, 64)
	}
	return 0, fmt.Errorf("want a number, got %T", v)
}
