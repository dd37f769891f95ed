package loghub

import (
	"errors"
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"time"
)

// Pattern finds and parses the timestamp of a log line.
type Pattern struct {
	// Name says what the pattern is for: "HDFS", "log4j", "layout ...".
	Name string
	// re finds the stamp: its first group, or the whole match. Nil: the
	// layout is matched at the start of the line.
	re     *regexp.Regexp
	layout string
	loc    *time.Location
	// year is given to stamps without one (syslog's "Jan _2 15:04:05").
	year int
	// parse replaces layout for stamps Go layouts cannot express.
	parse func(s string) (time.Time, error)
}

// Layouts with a special meaning in NewPattern.
const (
	LayoutUnix   = "unix"    // seconds since the Unix epoch, maybe fractional
	LayoutUnixMs = "unix_ms" // milliseconds since the Unix epoch
)

// NewPattern builds a pattern from a Go time layout (or LayoutUnix,
// LayoutUnixMs) and an optional regular expression. With an expression,
// its first group (or the whole match if it has none) is parsed with the
// layout; without one, the layout is matched at the start of the line.
// Stamps without a zone are read in loc (nil: UTC).
func NewPattern(layout, expr string, loc *time.Location) (*Pattern, error) {
	if layout == "" {
		return nil, errors.New("time pattern: empty layout")
	}
	if loc == nil {
		loc = time.UTC
	}
	p := &Pattern{Name: "layout " + strconv.Quote(layout), layout: layout, loc: loc}
	if expr != "" {
		re, err := regexp.Compile(expr)
		if err != nil {
			return nil, fmt.Errorf("time pattern: %w", err)
		}
		p.re = re
		p.Name += " regexp " + strconv.Quote(expr)
	}
	switch layout {
	case LayoutUnix:
		p.parse = parseUnix(1e9)
	case LayoutUnixMs:
		p.parse = parseUnix(1e6)
	default:
		if expr == "" && !strings.ContainsAny(layout, "0123456789") {
			return nil, fmt.Errorf("time pattern: layout %q has no reference-time field (write it as Go's reference time, Mon Jan 2 15:04:05 MST 2006)", layout)
		}
	}
	return p, nil
}

// parseUnix parses a decimal count of units (1e9: seconds, 1e6:
// milliseconds, as nanoseconds per unit) with an optional fraction, exactly.
func parseUnix(unit int64) func(string) (time.Time, error) {
	return func(s string) (time.Time, error) {
		whole, frac, _ := strings.Cut(s, ".")
		v, err := strconv.ParseInt(whole, 10, 64)
		if err != nil {
			return time.Time{}, err
		}
		var ns int64
		for i, scale := 0, unit/10; i < len(frac) && scale > 0; i, scale = i+1, scale/10 {
			c := frac[i]
			if c < '0' || c > '9' {
				return time.Time{}, fmt.Errorf("bad fraction %q", frac)
			}
			ns += int64(c-'0') * scale
		}
		return time.Unix(0, v*unit+ns).UTC(), nil
	}
}

// mustPattern builds one of the known patterns.
func mustPattern(name, layout, expr string) *Pattern {
	p, err := NewPattern(layout, expr, nil)
	if err != nil {
		panic(err)
	}
	p.Name = name
	return p
}

// Parse returns the time stamped on line.
func (p *Pattern) Parse(line string) (time.Time, error) {
	s := line
	if p.re != nil {
		m := p.re.FindStringSubmatchIndex(line)
		if m == nil {
			return time.Time{}, fmt.Errorf("%s: no timestamp in %q", p.Name, abbrev(line))
		}
		lo, hi := m[0], m[1]
		if len(m) > 2 && m[2] >= 0 {
			lo, hi = m[2], m[3]
		}
		s = line[lo:hi]
	}
	var (
		t   time.Time
		err error
	)
	switch {
	case p.parse != nil:
		t, err = p.parse(s)
	case p.re != nil:
		t, err = time.ParseInLocation(p.layout, s, p.loc)
	default:
		t, err = p.prefix(s)
	}
	if err != nil {
		return time.Time{}, fmt.Errorf("%s: %q: %w", p.Name, abbrev(line), err)
	}
	if t.Year() == 0 && p.year != 0 {
		t = t.AddDate(p.year, 0, 0)
	}
	return t, nil
}

// prefix parses the layout at the start of s: the stamp is as long as the
// layout, or ends at a space near that length.
func (p *Pattern) prefix(s string) (time.Time, error) {
	n := len(p.layout)
	if n <= len(s) {
		if t, err := time.ParseInLocation(p.layout, s[:n], p.loc); err == nil {
			return t, nil
		}
	}
	var first error
	for i := 1; i <= min(len(s), n+12); i++ {
		if i < len(s) && s[i] != ' ' && s[i] != '\t' {
			continue
		}
		t, err := time.ParseInLocation(p.layout, s[:i], p.loc)
		if err == nil {
			return t, nil
		}
		if first == nil {
			first = err
		}
	}
	if first == nil {
		first = errors.New("no timestamp at the start of the line")
	}
	return time.Time{}, first
}

func abbrev(s string) string {
	if len(s) > 80 {
		return s[:77] + "..."
	}
	return s
}

// parseBGL reads BGL's "- 1117838570 2005.06.03 R02-M1-N0-C:J12-U11
// 2005-06-03-15.42.50.675872 ...": the Unix seconds of the second field
// plus the microseconds of the fifth (whose clock is Livermore's local
// time, so its hours are not used).
func parseBGL(line string) (time.Time, error) {
	f := strings.Fields(line)
	if len(f) < 5 {
		return time.Time{}, errors.New("BGL: fewer than 5 fields")
	}
	sec, err := strconv.ParseInt(f[1], 10, 64)
	if err != nil {
		return time.Time{}, fmt.Errorf("BGL: epoch seconds: %w", err)
	}
	stamp := f[4]
	dot := strings.LastIndexByte(stamp, '.')
	if dot < 0 || len(stamp)-dot-1 != 6 {
		return time.Time{}, fmt.Errorf("BGL: stamp %q has no microseconds", stamp)
	}
	us, err := strconv.Atoi(stamp[dot+1:])
	if err != nil {
		return time.Time{}, fmt.Errorf("BGL: microseconds: %w", err)
	}
	return time.Unix(sec, int64(us)*1000).UTC(), nil
}

// Patterns of the loghub systems, by system name.
var systemPatterns = map[string]*Pattern{
	"HDFS":      mustPattern("HDFS", "060102 150405", `^(\d{6} \d{6})\b`),
	"Hadoop":    mustPattern("Hadoop", "2006-01-02 15:04:05,000", `^(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3})`),
	"Spark":     mustPattern("Spark", "06/01/02 15:04:05", `^(\d\d/\d\d/\d\d \d\d:\d\d:\d\d)\b`),
	"Zookeeper": mustPattern("Zookeeper", "2006-01-02 15:04:05,000", `^(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3}) - `),
	"OpenStack": mustPattern("OpenStack", "2006-01-02 15:04:05.000", `^\S+ (\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{3}) `),
	"BGL": func() *Pattern {
		p := mustPattern("BGL", LayoutUnix, `^\S+ \d+ \d{4}\.\d\d\.\d\d \S+ \d{4}-\d\d-\d\d-\d\d\.\d\d\.\d\d\.\d{6} `)
		p.parse = parseBGL
		return p
	}(),
}

// SystemPattern returns the timestamp pattern of a loghub system, or nil.
func SystemPattern(system string) *Pattern {
	if p, ok := systemPatterns[system]; ok {
		return p
	}
	for name, p := range systemPatterns {
		if strings.EqualFold(name, system) {
			return p
		}
	}
	return nil
}

// ParseTime parses the timestamp of a raw line of a loghub system. Stamps
// without a zone are taken as UTC; BGL's come from its Unix seconds.
func ParseTime(system, line string) (time.Time, error) {
	p := SystemPattern(system)
	if p == nil {
		return time.Time{}, fmt.Errorf("%w: %q", ErrUnknownSystem, system)
	}
	return p.Parse(line)
}

// knownPatterns are tried, in order, by DetectPattern.
var knownPatterns = []*Pattern{
	systemPatterns["BGL"],
	systemPatterns["OpenStack"],
	systemPatterns["Zookeeper"],
	mustPattern("log4j", "2006-01-02 15:04:05,000", `^(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3})`),
	mustPattern("ISO 8601", "2006-01-02T15:04:05.999999999Z07:00", `^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d+)?(?:Z|[+-]\d\d:\d\d))`),
	mustPattern("ISO 8601 local", "2006-01-02T15:04:05.999999999", `^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d+)?)`),
	mustPattern("date time", "2006-01-02 15:04:05.999999999", `^(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d(?:\.\d+)?)`),
	systemPatterns["HDFS"],
	systemPatterns["Spark"],
	mustPattern("NGINX error", "2006/01/02 15:04:05", `^(\d{4}/\d\d/\d\d \d\d:\d\d:\d\d) `),
	mustPattern("common log", "02/Jan/2006:15:04:05 -0700", `\[(\d\d/[A-Z][a-z]{2}/\d{4}:\d\d:\d\d:\d\d [+-]\d{4})\]`),
	func() *Pattern {
		p := mustPattern("syslog", "Jan _2 15:04:05", `^([A-Z][a-z]{2} [ \d]\d \d\d:\d\d:\d\d) `)
		p.year = time.Now().Year()
		return p
	}(),
	mustPattern("Unix seconds", LayoutUnix, `^(\d{10}(?:\.\d+)?)\b`),
}

// DetectPattern returns the first known pattern that parses most of the
// sample lines (at least half of the non-empty ones): the loghub formats,
// log4j, ISO 8601, NGINX, Apache common/combined, syslog, Unix seconds.
func DetectPattern(sample []string) (*Pattern, error) {
	n := 0
	for _, l := range sample {
		if strings.TrimSpace(l) != "" {
			n++
		}
	}
	if n == 0 {
		return nil, ErrNoTimestamp
	}
	for _, p := range knownPatterns {
		ok := 0
		for _, l := range sample {
			if strings.TrimSpace(l) == "" {
				continue
			}
			if _, err := p.Parse(l); err == nil {
				ok++
			}
		}
		if 2*ok >= n {
			return p, nil
		}
	}
	return nil, fmt.Errorf("%w: none of the known formats fits the first %d lines; give a layout (and a regexp)", ErrNoTimestamp, n)
}
