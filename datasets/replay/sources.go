package replay

import (
	"strings"
	"time"

	"github.com/vscope/vscope/datasets/loghub"
	"github.com/vscope/vscope/datasets/webstore"
)

// Webstore replays a web-store generator: host and tier as generated.
func Webstore(g *webstore.Generator) Source { return &webstoreSource{g: g} }

type webstoreSource struct{ g *webstore.Generator }

func (s *webstoreSource) Next() (Record, bool) {
	r, ok := s.g.Next()
	if !ok {
		return Record{}, false
	}
	return Record{Time: r.Time, Host: r.Host, Tier: r.Tier.String(), Line: r.Line}, true
}

func (s *webstoreSource) Err() error { return nil }

func (s *webstoreSource) Span() (time.Time, time.Time) { return s.g.Span() }

// Loghub replays a loghub sample in time order (it sorts the Log). The
// host is the line's own (BGL's node, OpenStack's service) or, failing
// that, the system's name in lower case; the tier is the system's name.
func Loghub(lg *loghub.Log) Source {
	lg.SortByTime()
	return &loghubSource{lg: lg, host: strings.ToLower(lg.System)}
}

type loghubSource struct {
	lg   *loghub.Log
	host string
	i    int
}

func (s *loghubSource) Next() (Record, bool) {
	if s.i >= len(s.lg.Lines) {
		return Record{}, false
	}
	ln := &s.lg.Lines[s.i]
	s.i++
	host := ln.Host
	if host == "" {
		host = s.host
	}
	return Record{Time: ln.Time, Host: host, Tier: s.lg.System, Line: []byte(ln.Raw)}, true
}

func (s *loghubSource) Err() error { return nil }

func (s *loghubSource) Span() (time.Time, time.Time) { return s.lg.Span() }

// LineReader is what Lines reads: a loghub.Reader or loghub.File.
type LineReader interface {
	Next() (loghub.Line, bool)
	Err() error
}

// Lines replays a plain log read line by line, in file order (a line
// stamped earlier than the one before it is sent at once). Every record
// gets the given host and tier.
func Lines(r LineReader, host, tier string) Source {
	return &linesSource{r: r, host: host, tier: tier}
}

type linesSource struct {
	r          LineReader
	host, tier string
}

func (s *linesSource) Next() (Record, bool) {
	ln, ok := s.r.Next()
	if !ok {
		return Record{}, false
	}
	return Record{Time: ln.Time, Host: s.host, Tier: s.tier, Line: []byte(ln.Raw)}, true
}

func (s *linesSource) Err() error { return s.r.Err() }
