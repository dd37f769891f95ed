package loghub

import (
	"bufio"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"
)

// Errors returned by the loaders.
var (
	// ErrUnknownSystem reports a system name that is not one of Systems.
	ErrUnknownSystem = errors.New("loghub: unknown system")
	// ErrFormat reports a file that does not have loghub's layout.
	ErrFormat = errors.New("loghub: bad format")
	// ErrNoTimestamp reports a plain log whose timestamps cannot be found.
	ErrNoTimestamp = errors.New("loghub: no timestamp")
)

// Systems are the loghub systems whose samples this package reads.
var Systems = []string{"HDFS", "Hadoop", "Spark", "Zookeeper", "OpenStack", "BGL"}

// Line is one log line of a loghub sample, joined with its structured row.
type Line struct {
	// LineID is the 1-based line number (the CSV's LineId).
	LineID int
	// Time is the line's timestamp (UTC; see ParseTime).
	Time time.Time
	// Host is the node or service that wrote the line, where the format
	// says: BGL's node, OpenStack's service (nova-api, nova-compute, ...).
	// Empty otherwise.
	Host string
	// Level, Component and Content are the structured CSV's fields.
	Level, Component, Content string
	// EventID and EventTemplate are the line's template ("E10",
	// "PacketResponder <*> for block blk_<*> terminating").
	EventID, EventTemplate string
	// Label is BGL's first token: "-" for a normal line, otherwise the
	// alert category (KERNDTLB, APPSEV, ...). Empty for other systems.
	Label string
	// Raw is the line as in the log file, without the line ending.
	Raw string
}

// Alert reports whether a BGL line is labelled as an alert.
func (l *Line) Alert() bool { return l.Label != "" && l.Label != "-" }

// Log is one system's sample.
type Log struct {
	System string
	Lines  []Line
}

// Span returns the earliest and the latest time of the lines.
func (l *Log) Span() (first, last time.Time) {
	for i, ln := range l.Lines {
		if i == 0 || ln.Time.Before(first) {
			first = ln.Time
		}
		if i == 0 || ln.Time.After(last) {
			last = ln.Time
		}
	}
	return first, last
}

// Sorted reports whether the lines are in time order.
func (l *Log) Sorted() bool {
	return sort.SliceIsSorted(l.Lines, func(i, j int) bool { return l.Lines[i].Time.Before(l.Lines[j].Time) })
}

// SortByTime puts the lines in time order, keeping the file order of equal
// times. (Zookeeper's sample interleaves nodes and is not in order.)
func (l *Log) SortByTime() {
	sort.SliceStable(l.Lines, func(i, j int) bool { return l.Lines[i].Time.Before(l.Lines[j].Time) })
}

// canonical returns the system's name as in Systems.
func canonical(system string) (string, error) {
	for _, s := range Systems {
		if strings.EqualFold(s, system) {
			return s, nil
		}
	}
	return "", fmt.Errorf("%w: %q (want one of %s)", ErrUnknownSystem, system, strings.Join(Systems, ", "))
}

// Load reads a system's 2k sample from dir, loghub's layout:
// dir/<System>/<System>_2k.log and, when present,
// dir/<System>/<System>_2k.log_structured.csv for the structured fields.
// The system name is matched without regard to case.
func Load(dir, system string) (*Log, error) {
	sys, err := canonical(system)
	if err != nil {
		return nil, err
	}
	base := filepath.Join(dir, sys, sys+"_2k.log")
	f, err := os.Open(base)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	lg, err := ReadLog(f, sys)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", base, err)
	}
	cf, err := os.Open(base + "_structured.csv")
	if errors.Is(err, os.ErrNotExist) {
		return lg, nil
	}
	if err != nil {
		return nil, err
	}
	defer cf.Close()
	if err := lg.ReadStructured(cf); err != nil {
		return nil, fmt.Errorf("%s_structured.csv: %w", base, err)
	}
	return lg, nil
}

// ReadLog reads a system's raw log: one line each, timestamps parsed with
// the system's pattern. A line whose stamp does not parse is an error.
func ReadLog(r io.Reader, system string) (*Log, error) {
	sys, err := canonical(system)
	if err != nil {
		return nil, err
	}
	pat := SystemPattern(sys)
	lg := &Log{System: sys}
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 4<<20)
	for n := 1; sc.Scan(); n++ {
		raw := strings.TrimRight(sc.Text(), "\r")
		if raw == "" {
			continue
		}
		t, err := pat.Parse(raw)
		if err != nil {
			return nil, fmt.Errorf("%w: line %d: %v", ErrFormat, n, err)
		}
		ln := Line{LineID: n, Time: t, Raw: raw}
		switch sys {
		case "BGL":
			ln.Label, _, _ = strings.Cut(raw, " ")
			if f := strings.Fields(raw); len(f) > 3 {
				ln.Host = f[3]
			}
		case "OpenStack":
			rec, _, _ := strings.Cut(raw, " ")
			ln.Host, _, _ = strings.Cut(rec, ".log")
		}
		lg.Lines = append(lg.Lines, ln)
	}
	if err := sc.Err(); err != nil {
		return nil, err
	}
	return lg, nil
}

// ReadStructured joins loghub's structured CSV (LineId, ..., Content,
// EventId, EventTemplate) to the lines by LineId.
func (l *Log) ReadStructured(r io.Reader) error {
	cr := csv.NewReader(r)
	cr.FieldsPerRecord = -1
	head, err := cr.Read()
	if err != nil {
		return fmt.Errorf("%w: header: %v", ErrFormat, err)
	}
	col := map[string]int{}
	for i, h := range head {
		col[strings.TrimPrefix(h, "\ufeff")] = i
	}
	for _, need := range []string{"LineId", "EventId", "EventTemplate"} {
		if _, ok := col[need]; !ok {
			return fmt.Errorf("%w: no %s column in %v", ErrFormat, need, head)
		}
	}
	byID := make(map[int]*Line, len(l.Lines))
	for i := range l.Lines {
		byID[l.Lines[i].LineID] = &l.Lines[i]
	}
	get := func(rec []string, name string) string {
		if i, ok := col[name]; ok && i < len(rec) {
			return rec[i]
		}
		return ""
	}
	rows := 0
	for {
		rec, err := cr.Read()
		if err == io.EOF {
			break
		}
		if err != nil {
			return fmt.Errorf("%w: %v", ErrFormat, err)
		}
		rows++
		id, err := strconv.Atoi(get(rec, "LineId"))
		if err != nil {
			return fmt.Errorf("%w: row %d: LineId %q", ErrFormat, rows, get(rec, "LineId"))
		}
		ln, ok := byID[id]
		if !ok {
			return fmt.Errorf("%w: row %d: LineId %d is not a line of the log", ErrFormat, rows, id)
		}
		ln.Level, ln.Component, ln.Content = get(rec, "Level"), get(rec, "Component"), get(rec, "Content")
		ln.EventID, ln.EventTemplate = get(rec, "EventId"), get(rec, "EventTemplate")
		if lab := get(rec, "Label"); lab != "" && lab != ln.Label {
			return fmt.Errorf("%w: line %d: label %q in the CSV, %q in the log", ErrFormat, id, lab, ln.Label)
		}
	}
	if rows != len(l.Lines) {
		return fmt.Errorf("%w: %d rows for %d lines", ErrFormat, rows, len(l.Lines))
	}
	return nil
}
