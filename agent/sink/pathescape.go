package sink

import (
	"errors"
	"fmt"
	"net"
	"os"
	"strconv"
	"strings"
	"time"
)

// pathPattern is a compiled Flume escape string, the syntax of the HDFS
// sink's hdfs.path and hdfs.filePrefix (Flume's BucketPath):
//
//   - %{name} is the value of header name; a missing header is "".
//   - %a %A %b %B %c %d %D %H %I %j %k %l %m %M %p %s %S %y %Y %z format
//     the event time as Java's SimpleDateFormat does for Flume (%Y is the
//     four-digit year, %m the two-digit month, %d the two-digit day, %H
//     the two-digit hour and so on), %t is the time in Unix milliseconds
//     (never rounded) and %% is a literal %.
//   - %[localhost], %[IP] and %[FQDN] are this machine's host name, IP
//     address and fully-qualified name, resolved once at compile time.
//
// Unlike Flume, an unknown or malformed escape is a configuration error
// rather than silently "". Header values never add or climb directory
// levels when sanitize is set: '/' and NUL become '_', and a value that
// is "." or ".." has its dots replaced by '_', because headers can come
// from untrusted clients (the http source lets them set any header).
type pathPattern struct {
	src      string
	parts    []escapePart
	needTime bool // some part formats the event time
	sanitize bool // header values are made safe as path components
}

// escapePart is one piece of a pattern: literal text, a header, or a time
// escape.
type escapePart struct {
	kind byte   // partLiteral, partHeader, or the time escape letter
	text string // the literal text or the header name
}

const (
	partLiteral = 0
	partHeader  = 1
)

// timeEscapes are the %x letters that format the event time.
const timeEscapes = "aAbBcdDHIjklmMpsStyYz"

// hostInfo resolves %[localhost], %[IP] and %[FQDN]; a variable so tests
// can replace it.
var hostInfo = func(what string) (string, error) {
	host, err := os.Hostname()
	if err != nil {
		return "", err
	}
	if what == "localhost" {
		return host, nil
	}
	addrs, err := net.LookupHost(host)
	if err != nil || len(addrs) == 0 {
		return "", fmt.Errorf("resolve %s: %v", host, err)
	}
	ip := addrs[0]
	for _, a := range addrs {
		if p := net.ParseIP(a); p != nil && p.To4() != nil {
			ip = a
			break
		}
	}
	if what == "IP" {
		return ip, nil
	}
	names, err := net.LookupAddr(ip)
	if err != nil || len(names) == 0 {
		return host, nil
	}
	return strings.TrimSuffix(names[0], "."), nil
}

// compilePattern parses s. sanitize makes header values safe as parts of a
// path (see pathPattern).
func compilePattern(s string, sanitize bool) (*pathPattern, error) {
	p := &pathPattern{src: s, sanitize: sanitize}
	var lit strings.Builder
	flush := func() {
		if lit.Len() > 0 {
			p.parts = append(p.parts, escapePart{kind: partLiteral, text: lit.String()})
			lit.Reset()
		}
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c != '%' {
			lit.WriteByte(c)
			continue
		}
		if i+1 >= len(s) {
			return nil, fmt.Errorf("%q: %% at the end", s)
		}
		i++
		switch e := s[i]; {
		case e == '%':
			lit.WriteByte('%')
		case e == '{':
			end := strings.IndexByte(s[i:], '}')
			if end < 0 {
				return nil, fmt.Errorf("%q: %%{ without }", s)
			}
			name := s[i+1 : i+end]
			if !validHeaderName(name) {
				return nil, fmt.Errorf("%q: bad header name %q in %%{...} (letters, digits, _ . - only)", s, name)
			}
			flush()
			p.parts = append(p.parts, escapePart{kind: partHeader, text: name})
			i += end
		case e == '[':
			end := strings.IndexByte(s[i:], ']')
			if end < 0 {
				return nil, fmt.Errorf("%q: %%[ without ]", s)
			}
			what := s[i+1 : i+end]
			switch what {
			case "localhost", "IP", "FQDN":
			default:
				return nil, fmt.Errorf("%q: unknown escape %%[%s] (supported: localhost, IP, FQDN)", s, what)
			}
			v, err := hostInfo(what)
			if err != nil {
				return nil, fmt.Errorf("%q: %%[%s]: %w", s, what, err)
			}
			lit.WriteString(v)
			i += end
		case strings.IndexByte(timeEscapes, e) >= 0:
			flush()
			p.parts = append(p.parts, escapePart{kind: e})
			p.needTime = true
		default:
			return nil, fmt.Errorf("%q: unknown escape %%%c", s, e)
		}
	}
	flush()
	return p, nil
}

// validHeaderName is Flume's [\w.-]+.
func validHeaderName(n string) bool {
	if n == "" {
		return false
	}
	for i := 0; i < len(n); i++ {
		c := n[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '.' || c == '-') {
			return false
		}
	}
	return true
}

// static reports whether the pattern has no escapes that vary per event.
func (p *pathPattern) static() bool {
	for _, part := range p.parts {
		if part.kind != partLiteral {
			return false
		}
	}
	return true
}

// literalPrefix is the text before the first escape that varies.
func (p *pathPattern) literalPrefix() string {
	if len(p.parts) > 0 && p.parts[0].kind == partLiteral {
		return p.parts[0].text
	}
	return ""
}

// expand appends the pattern for an event with headers h to dst. t is the
// event time (already rounded and in the wanted location) and ms the
// unrounded time in Unix milliseconds for %t.
func (p *pathPattern) expand(dst []byte, h map[string]string, t time.Time, ms int64) []byte {
	for _, part := range p.parts {
		switch part.kind {
		case partLiteral:
			dst = append(dst, part.text...)
		case partHeader:
			v := h[part.text]
			if p.sanitize {
				dst = appendSafe(dst, v)
			} else {
				dst = append(dst, v...)
			}
		default:
			dst = appendTime(dst, part.kind, t, ms)
		}
	}
	return dst
}

// appendSafe appends v so that it stays inside one path component.
func appendSafe(dst []byte, v string) []byte {
	if v == "." || v == ".." {
		return append(dst, strings.Repeat("_", len(v))...)
	}
	for i := 0; i < len(v); i++ {
		c := v[i]
		if c == '/' || c == 0 {
			c = '_'
		}
		dst = append(dst, c)
	}
	return dst
}

func appendPad(dst []byte, n, width int) []byte {
	s := strconv.Itoa(n)
	for i := len(s); i < width; i++ {
		dst = append(dst, '0')
	}
	return append(dst, s...)
}

func hour12(h int) int {
	if h%12 == 0 {
		return 12
	}
	return h % 12
}

// appendTime formats one time escape the way Flume's SimpleDateFormat
// patterns do (English names).
func appendTime(dst []byte, c byte, t time.Time, ms int64) []byte {
	switch c {
	case 'a':
		return append(dst, t.Weekday().String()[:3]...)
	case 'A':
		return append(dst, t.Weekday().String()...)
	case 'b':
		return append(dst, t.Month().String()[:3]...)
	case 'B':
		return append(dst, t.Month().String()...)
	case 'c': // EEE MMM d HH:mm:ss yyyy
		return t.AppendFormat(dst, "Mon Jan 2 15:04:05 2006")
	case 'd':
		return appendPad(dst, t.Day(), 2)
	case 'D': // MM/dd/yy
		dst = appendPad(dst, int(t.Month()), 2)
		dst = append(dst, '/')
		dst = appendPad(dst, t.Day(), 2)
		dst = append(dst, '/')
		return appendPad(dst, t.Year()%100, 2)
	case 'H':
		return appendPad(dst, t.Hour(), 2)
	case 'I':
		return appendPad(dst, hour12(t.Hour()), 2)
	case 'j':
		return appendPad(dst, t.YearDay(), 3)
	case 'k':
		return strconv.AppendInt(dst, int64(t.Hour()), 10)
	case 'l':
		return strconv.AppendInt(dst, int64(hour12(t.Hour())), 10)
	case 'm':
		return appendPad(dst, int(t.Month()), 2)
	case 'M':
		return appendPad(dst, t.Minute(), 2)
	case 'p':
		if t.Hour() < 12 {
			return append(dst, "AM"...)
		}
		return append(dst, "PM"...)
	case 's':
		return strconv.AppendInt(dst, t.Unix(), 10)
	case 'S':
		return appendPad(dst, t.Second(), 2)
	case 't':
		return strconv.AppendInt(dst, ms, 10)
	case 'y':
		return appendPad(dst, t.Year()%100, 2)
	case 'Y':
		return appendPad(dst, t.Year(), 4)
	case 'z': // RFC 822 zone, -0800
		return t.AppendFormat(dst, "-0700")
	}
	return dst
}

// Round units of hdfs.roundUnit.
const (
	roundSecond = "second"
	roundMinute = "minute"
	roundHour   = "hour"
)

// errRoundValue is returned for a roundValue out of Flume's range.
var errRoundValue = errors.New("roundValue must be in 1..60 for second and minute, 1..24 for hour")

// checkRound validates a roundValue/roundUnit pair the way Flume does.
func checkRound(value int, unit string) error {
	switch unit {
	case roundSecond, roundMinute:
		if value < 1 || value > 60 {
			return errRoundValue
		}
	case roundHour:
		if value < 1 || value > 24 {
			return errRoundValue
		}
	default:
		return fmt.Errorf("unknown roundUnit %q (supported: second, minute, hour)", unit)
	}
	return nil
}

// roundDown rounds t down to the highest multiple of value units within
// the enclosing minute, hour or day in t's location, like Flume's
// TimestampRoundDownUtil.
func roundDown(t time.Time, value int, unit string) time.Time {
	y, mo, d := t.Date()
	h, mi, s := t.Clock()
	loc := t.Location()
	switch unit {
	case roundSecond:
		return time.Date(y, mo, d, h, mi, s-s%value, 0, loc)
	case roundMinute:
		return time.Date(y, mo, d, h, mi-mi%value, 0, 0, loc)
	case roundHour:
		return time.Date(y, mo, d, h-h%value, 0, 0, 0, loc)
	}
	return t
}
