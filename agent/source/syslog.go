package source

import (
	"bytes"
	"fmt"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/vscope/vscope/agent/event"
)

// Header names and values the syslog sources set, as Flume's SyslogUtils
// does.
const (
	// SyslogHeaderFacility is the facility (priority / 8); "0" when the
	// priority is invalid.
	SyslogHeaderFacility = "Facility"
	// SyslogHeaderSeverity is the severity (priority % 8); "0" when the
	// priority is invalid.
	SyslogHeaderSeverity = "Severity"
	// SyslogHeaderPriority is the priority as it was written, e.g. "34".
	SyslogHeaderPriority = "priority"
	// SyslogHeaderVersion is the RFC 5424 version, e.g. "1", when present.
	SyslogHeaderVersion = "version"
	// SyslogHeaderTimestamp is the message's time in milliseconds since
	// the Unix epoch, in decimal.
	SyslogHeaderTimestamp = "timestamp"
	// SyslogHeaderHost is the message's host name field.
	SyslogHeaderHost = "host"
	// SyslogHeaderStatus flags a message that was not well formed:
	// SyslogStatusInvalid or SyslogStatusIncomplete.
	SyslogHeaderStatus = "flume.syslog.status"
	// SyslogStatusInvalid marks a message without a valid "<PRI>" prefix
	// (or, on a multiport source, not in its port's charset). Its body is
	// the raw message.
	SyslogStatusInvalid = "Invalid"
	// SyslogStatusIncomplete marks a message cut at eventSize bytes, or
	// cut short when its connection ended.
	SyslogStatusIncomplete = "Incomplete"
)

// syslogKeep is the set of fields the keepFields property keeps in the
// body in front of the message.
type syslogKeep uint8

const (
	syslogKeepPriority syslogKeep = 1 << iota
	syslogKeepVersion
	syslogKeepTimestamp
	syslogKeepHostname
	// syslogKeepAll keeps the whole line as the body.
	syslogKeepAll
)

// parseSyslogKeep reads a keepFields value as Flume does: "none" or
// "false" keeps nothing, "all" or "true" keeps the whole line, otherwise
// the value lists the fields to keep (priority, version, timestamp,
// hostname) separated by spaces or commas. Unlike Flume, which looks for
// the names as substrings and ignores the rest, an unknown word is an
// error.
func parseSyslogKeep(s string) (syslogKeep, error) {
	s = strings.ToLower(strings.TrimSpace(s))
	switch s {
	case "", "none", "false":
		return 0, nil
	case "all", "true":
		return syslogKeepAll, nil
	}
	var k syslogKeep
	for _, f := range strings.FieldsFunc(s, func(r rune) bool { return r == ' ' || r == ',' || r == '\t' }) {
		switch f {
		case "priority":
			k |= syslogKeepPriority
		case "version":
			k |= syslogKeepVersion
		case "timestamp":
			k |= syslogKeepTimestamp
		case "hostname":
			k |= syslogKeepHostname
		default:
			return 0, fmt.Errorf("keepFields: unknown field %q (use none, all, or a list of priority version timestamp hostname)", f)
		}
	}
	return k, nil
}

// syslogFormat says which of Flume's two message patterns matched.
type syslogFormat uint8

const (
	syslogUnparsed syslogFormat = iota // a valid <PRI>, but neither pattern matched
	syslogRFC5424
	syslogRFC3164
)

// syslogMessage is what parseSyslog found in one message. Its byte slices
// point into the parsed line.
type syslogMessage struct {
	// Invalid is set when the line does not start with "<", one to three
	// digits and ">"; nothing else is set then.
	Invalid bool
	Pri     int    // the priority value, 0 to 999
	PriText []byte // the priority digits as written
	Format  syslogFormat
	// The fields below are set when Format is not syslogUnparsed.
	Version []byte // the version digit, or empty
	// TimeText is the timestamp field as written; nil for RFC 5424's
	// NILVALUE "-".
	TimeText []byte
	// Millis is the timestamp in milliseconds since the epoch; HasTime
	// says whether TimeText could be read as a time.
	Millis  int64
	HasTime bool
	Host    []byte // the host name field; nil for NILVALUE "-"
	Msg     []byte // the rest of the line after the host name and one space
}

// parseSyslog parses one syslog message (without its newline) the way
// Flume's SyslogUtils does. It is pure: now is the time of reception
// (RFC 3164 timestamps have no year, so the year is chosen near now) and
// loc is the zone of timestamps that carry none.
//
// The line must start with "<PRI>" (one to three digits); otherwise it is
// Invalid. After the priority, Flume's two patterns are tried in order,
// with the results its regular expressions give:
//
//	RFC 5424: [VERSION][SP] (TIMESTAMP|-) SP (HOSTNAME|-) SP MSG
//	RFC 3164: [VERSION][SP] Mmm [SP]d HH:MM:SS SP HOSTNAME SP MSG
//
// where TIMESTAMP is YYYY-MM-DDTHH:MM:SS[.1-6 digits][Z|+hh:mm|-hh:mm]
// and HOSTNAME is a word character followed by word characters, '.',
// '@' or '-'. For RFC 5424 MSG is everything after the host name, so
// APP-NAME, PROCID, MSGID and STRUCTURED-DATA stay in the body, as in
// Flume. A line that matches neither pattern is still valid (Facility and
// Severity come from its priority) with Format syslogUnparsed.
//
// Where Flume's behaviour is an artefact of java.text.SimpleDateFormat,
// vscope does what the RFCs mean: a timestamp with fractional seconds
// keeps its offset (Flume ignores it and reads the time in the JVM's
// zone), and ".5" is 500 ms (Flume reads 5 ms); digits past milliseconds
// are dropped, as in Flume. Out-of-range fields roll over (month 13 is
// January of the next year), as SimpleDateFormat's lenient parsing does.
// MSG may contain any byte; Java's regular expressions do not match a
// line terminator inside it, which leaves such a line unparsed in Flume.
func parseSyslog(line []byte, now time.Time, loc *time.Location) syslogMessage {
	var m syslogMessage
	// "<" 1*3DIGIT ">"
	k := 1
	for k < len(line) && k <= 4 && isDigit(line[k]) {
		k++
	}
	if len(line) < 3 || line[0] != '<' || k == 1 || k > 4 || k >= len(line) || line[k] != '>' {
		m.Invalid = true
		return m
	}
	m.PriText = line[1:k]
	for _, c := range m.PriText {
		m.Pri = m.Pri*10 + int(c-'0')
	}
	rest := line[k+1:]
	if match5424(rest, &m, loc) {
		m.Format = syslogRFC5424
	} else if match3164(rest, &m, now, loc) {
		m.Format = syslogRFC3164
	}
	return m
}

func isDigit(c byte) bool { return c >= '0' && c <= '9' }

// isSpace is Java's \s: [ \t\n\x0B\f\r].
func isSpace(c byte) bool {
	return c == ' ' || (c >= '\t' && c <= '\r')
}

// isWord is Java's \w without UNICODE_CHARACTER_CLASS: [a-zA-Z_0-9].
func isWord(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || isDigit(c) || c == '_'
}

// isHostChar is Flume's [\w\d\.@\-].
func isHostChar(c byte) bool { return isWord(c) || c == '.' || c == '@' || c == '-' }

// syslogVersionStarts returns the offsets in rest where the timestamp may
// start after Flume's "(\d?)\s?" (with the version length each implies),
// in the order a backtracking matcher tries them. A timestamp never
// starts with a space, so at most two starts are possible.
func syslogVersionStarts(rest []byte) (starts [2]int, vlen [2]int, n int) {
	if len(rest) == 0 {
		return starts, vlen, 0
	}
	switch c := rest[0]; {
	case isDigit(c):
		if len(rest) > 1 && isSpace(rest[1]) {
			return [2]int{2}, [2]int{1}, 1
		}
		return [2]int{1, 0}, [2]int{1, 0}, 2
	case isSpace(c):
		return [2]int{1}, [2]int{0}, 1
	default:
		return [2]int{0}, [2]int{0}, 1
	}
}

// match5424 matches Flume's SYSLOG_MSG_RFC5424_0 on the text after the
// priority and fills m.
func match5424(rest []byte, m *syslogMessage, loc *time.Location) bool {
	starts, vlen, n := syslogVersionStarts(rest)
	for i := 0; i < n; i++ {
		p := starts[i]
		// TIMESTAMP or "-", then one space.
		var ts []byte
		end := p + 1
		if p < len(rest) && rest[p] == '-' {
			ts = nil
		} else {
			end = p + len5424Time(rest[p:])
			if end == p {
				continue
			}
			ts = rest[p:end]
		}
		if end >= len(rest) || !isSpace(rest[end]) {
			continue
		}
		host, after, ok := matchHost(rest, end+1, true)
		if !ok {
			continue
		}
		m.Version = rest[:vlen[i]]
		m.TimeText = ts
		m.Host = host
		m.Msg = rest[after:]
		if ts != nil {
			m.Millis = millis5424(ts, loc)
			m.HasTime = true
		}
		return true
	}
	return false
}

// matchHost matches "([\w][\w\d\.@\-]*)" (or "-" when nilOK) at rest[p:]
// followed by one space, and returns the host (nil for "-") and the
// offset of the message after the space.
func matchHost(rest []byte, p int, nilOK bool) (host []byte, after int, ok bool) {
	if p >= len(rest) {
		return nil, 0, false
	}
	if isWord(rest[p]) {
		q := p + 1
		for q < len(rest) && isHostChar(rest[q]) {
			q++
		}
		if q < len(rest) && isSpace(rest[q]) {
			return rest[p:q], q + 1, true
		}
		return nil, 0, false
	}
	if nilOK && rest[p] == '-' && p+1 < len(rest) && isSpace(rest[p+1]) {
		return nil, p + 2, true
	}
	return nil, 0, false
}

// len5424Time returns the length of the RFC 5424 timestamp at the start
// of b as Flume's pattern matches it greedily, or 0:
// \d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,6})?([+-]\d{2}:\d{2}|Z)?
func len5424Time(b []byte) int {
	const shape = "dddd-dd-ddTdd:dd:dd"
	if len(b) < len(shape) {
		return 0
	}
	for i := 0; i < len(shape); i++ {
		if shape[i] == 'd' {
			if !isDigit(b[i]) {
				return 0
			}
		} else if b[i] != shape[i] {
			return 0
		}
	}
	n := len(shape)
	if n < len(b) && b[n] == '.' {
		d := 0
		for n+1+d < len(b) && d < 6 && isDigit(b[n+1+d]) {
			d++
		}
		if d > 0 {
			n += 1 + d
		}
	}
	if n < len(b) {
		switch b[n] {
		case 'Z':
			n++
		case '+', '-':
			if n+6 <= len(b) && isDigit(b[n+1]) && isDigit(b[n+2]) && b[n+3] == ':' && isDigit(b[n+4]) && isDigit(b[n+5]) {
				n += 6
			}
		}
	}
	return n
}

// num reads the decimal digits of b (all digits, already checked).
func num(b []byte) int {
	n := 0
	for _, c := range b {
		n = n*10 + int(c-'0')
	}
	return n
}

// millis5424 converts a timestamp len5424Time accepted. Without an
// offset the time is read in loc.
func millis5424(ts []byte, loc *time.Location) int64 {
	year, month, day := num(ts[0:4]), num(ts[5:7]), num(ts[8:10])
	hour, minute, sec := num(ts[11:13]), num(ts[14:16]), num(ts[17:19])
	n := 19
	ms := 0
	if n < len(ts) && ts[n] == '.' {
		d := 0
		for n+1+d < len(ts) && isDigit(ts[n+1+d]) {
			if d < 3 {
				ms = ms*10 + int(ts[n+1+d]-'0')
			}
			d++
		}
		for i := d; i < 3; i++ {
			ms *= 10
		}
		n += 1 + d
	}
	zone := loc
	offset := 0 // seconds east of UTC, when the timestamp has one
	hasOffset := false
	if n < len(ts) {
		hasOffset = true
		zone = time.UTC
		if ts[n] != 'Z' {
			offset = (num(ts[n+1:n+3])*60 + num(ts[n+4:n+6])) * 60
			if ts[n] == '-' {
				offset = -offset
			}
		}
	}
	t := time.Date(year, time.Month(month), day, hour, minute, sec, 0, zone)
	out := t.UnixMilli() + int64(ms)
	if hasOffset {
		out -= int64(offset) * 1000
	}
	return out
}

// match3164 matches Flume's SYSLOG_MSG_RFC3164_0 on the text after the
// priority and fills m.
func match3164(rest []byte, m *syslogMessage, now time.Time, loc *time.Location) bool {
	starts, vlen, n := syslogVersionStarts(rest)
	for i := 0; i < n; i++ {
		p := starts[i]
		end := p + len3164Time(rest[p:])
		if end == p || end >= len(rest) || !isSpace(rest[end]) {
			continue
		}
		host, after, ok := matchHost(rest, end+1, false)
		if !ok {
			continue
		}
		m.Version = rest[:vlen[i]]
		m.TimeText = rest[p:end]
		m.Host = host
		m.Msg = rest[after:]
		m.Millis, m.HasTime = millis3164(m.TimeText, now, loc)
		return true
	}
	return false
}

// len3164Time returns the length of the RFC 3164 timestamp at the start
// of b, or 0: [A-Z][a-z][a-z]\s{1,2}\d{1,2}\s\d{2}:\d{2}:\d{2}
func len3164Time(b []byte) int {
	if len(b) < 3 || b[0] < 'A' || b[0] > 'Z' || b[1] < 'a' || b[1] > 'z' || b[2] < 'a' || b[2] > 'z' {
		return 0
	}
	n := 3
	sp := 0
	for n < len(b) && sp < 2 && isSpace(b[n]) {
		n++
		sp++
	}
	if sp == 0 {
		return 0
	}
	d := 0
	for n < len(b) && d < 2 && isDigit(b[n]) {
		n++
		d++
	}
	if d == 0 || n >= len(b) || !isSpace(b[n]) {
		return 0
	}
	n++
	const shape = "dd:dd:dd"
	if len(b)-n < len(shape) {
		return 0
	}
	for i := 0; i < len(shape); i++ {
		c := b[n+i]
		if shape[i] == 'd' && !isDigit(c) || shape[i] == ':' && c != ':' {
			return 0
		}
	}
	return n + len(shape)
}

var syslogMonths = [12]string{"jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"}

// millis3164 reads "Mmm d HH:MM:SS" in loc, in the year of now (in UTC),
// then moves it a year back when it is more than a month in the future,
// or a year forward when it is more than eleven months in the past, as
// Flume does. A month name that is not English gives no time.
func millis3164(ts []byte, now time.Time, loc *time.Location) (int64, bool) {
	month := 0
	for i, name := range syslogMonths {
		if (ts[0]|0x20) == name[0] && (ts[1]|0x20) == name[1] && (ts[2]|0x20) == name[2] {
			month = i + 1
			break
		}
	}
	if month == 0 {
		return 0, false
	}
	n := 3
	for isSpace(ts[n]) {
		n++
	}
	d := n
	for isDigit(ts[d]) {
		d++
	}
	day := num(ts[n:d])
	clock := ts[d+1:]
	hour, minute, sec := num(clock[0:2]), num(clock[3:5]), num(clock[6:8])
	t := time.Date(now.UTC().Year(), time.Month(month), day, hour, minute, sec, 0, loc)
	switch {
	case t.After(now) && addMonthsClamped(t, -1).After(now):
		t = addMonthsClamped(t, -12)
	case t.Before(now) && addMonthsClamped(t, 11).Before(now):
		t = addMonthsClamped(t, 12)
	}
	return t.UnixMilli(), true
}

// addMonthsClamped adds months the way java.util.Calendar.add(MONTH, n)
// does: the day is kept unless the new month is shorter, in which case it
// becomes the month's last day (time.AddDate would roll over instead).
func addMonthsClamped(t time.Time, months int) time.Time {
	y, mo, d := t.Date()
	h, mi, s := t.Clock()
	total := int(mo) - 1 + months
	y += total / 12
	total %= 12
	if total < 0 {
		total += 12
		y--
	}
	m := time.Month(total + 1)
	if last := time.Date(y, m+1, 0, 0, 0, 0, 0, t.Location()).Day(); d > last {
		d = last
	}
	return time.Date(y, m, d, h, mi, s, t.Nanosecond(), t.Location())
}

// syslogCharset is the charset a multiport source checks messages
// against; a message that is not valid in it is Invalid, as in Flume,
// whose decoder rejects it.
type syslogCharset uint8

const (
	syslogAnyBytes syslogCharset = iota // ISO-8859-1: every byte sequence is valid
	syslogUTF8
	syslogASCII
)

// parseSyslogCharset accepts the charsets whose bytes vscope can pass
// through unchanged: UTF-8, US-ASCII and ISO-8859-1 (Flume decodes with
// the charset and re-encodes the body with it, which for these is the
// identity on valid input).
func parseSyslogCharset(name string) (syslogCharset, error) {
	switch strings.ToUpper(strings.TrimSpace(name)) {
	case "UTF-8", "UTF8":
		return syslogUTF8, nil
	case "US-ASCII", "ASCII":
		return syslogASCII, nil
	case "ISO-8859-1", "ISO8859-1", "ISO_8859_1", "LATIN1":
		return syslogAnyBytes, nil
	}
	return 0, fmt.Errorf("charset %q is not supported (use UTF-8, US-ASCII or ISO-8859-1)", name)
}

func (c syslogCharset) valid(b []byte) bool {
	switch c {
	case syslogUTF8:
		return utf8.Valid(b)
	case syslogASCII:
		for _, x := range b {
			if x >= 0x80 {
				return false
			}
		}
	}
	return true
}

// syslogSmall holds "0" to "999", so that the common header values are
// not allocated for every event.
var syslogSmall = func() (s [1000]string) {
	for i := range s {
		s[i] = strconv.Itoa(i)
	}
	return s
}()

// syslogStatus is how well formed a message was.
type syslogStatus uint8

const (
	syslogOK syslogStatus = iota
	syslogInvalid
	syslogIncomplete
)

// syslogDecoder turns frames into events with a source's options.
type syslogDecoder struct {
	keep    syslogKeep
	loc     *time.Location
	charset syslogCharset // syslogAnyBytes except on a multiport source
	// extra headers every event of the connection (or datagram) gets:
	// client IP, client host name, port; set by the caller.
	extra [3][2]string
	nx    int
}

// setExtra adds a header every event decoded next will carry; an empty
// name adds nothing.
func (d *syslogDecoder) setExtra(name, value string) {
	if name == "" || d.nx == len(d.extra) {
		return
	}
	d.extra[d.nx] = [2]string{name, value}
	d.nx++
}

// decode builds the event of one frame. Its body may share memory with
// frame; the caller copies it before reusing the frame's buffer.
// incomplete says the frame was cut (at eventSize, or by the end of its
// connection). Invalid takes precedence over Incomplete, as in Flume.
func (d *syslogDecoder) decode(frame []byte, incomplete bool, now time.Time) (event.Event, syslogStatus) {
	var m syslogMessage
	if d.charset.valid(frame) {
		m = parseSyslog(frame, now, d.loc)
	} else {
		m.Invalid = true
	}
	h := make(map[string]string, 7+d.nx)
	for _, x := range d.extra[:d.nx] {
		h[x[0]] = x[1]
	}
	if m.Invalid {
		h[SyslogHeaderFacility] = "0"
		h[SyslogHeaderSeverity] = "0"
		h[SyslogHeaderStatus] = SyslogStatusInvalid
		return event.Event{Headers: h, Body: frame}, syslogInvalid
	}
	h[SyslogHeaderFacility] = syslogSmall[m.Pri/8]
	h[SyslogHeaderSeverity] = syslogSmall[m.Pri%8]
	st := syslogOK
	if incomplete {
		h[SyslogHeaderStatus] = SyslogStatusIncomplete
		st = syslogIncomplete
	}
	if m.Format == syslogUnparsed {
		return event.Event{Headers: h, Body: frame}, st
	}
	if s := syslogSmall[m.Pri]; len(s) == len(m.PriText) { // no leading zeros
		h[SyslogHeaderPriority] = s
	} else {
		h[SyslogHeaderPriority] = string(m.PriText)
	}
	if len(m.Version) > 0 {
		h[SyslogHeaderVersion] = syslogSmall[m.Version[0]-'0']
	}
	if m.HasTime {
		h[SyslogHeaderTimestamp] = strconv.FormatInt(m.Millis, 10)
	}
	if len(m.Host) > 0 {
		h[SyslogHeaderHost] = string(m.Host)
	}
	if d.keep&syslogKeepAll != 0 {
		return event.Event{Headers: h, Body: frame}, st
	}
	body := m.Msg
	if d.keep != 0 {
		body = m.keptBody(d.keep)
	}
	if len(body) == 0 {
		// Flume's "parse failed" fallback: an empty message body is
		// replaced by the whole line.
		body = frame
	}
	return event.Event{Headers: h, Body: body}, st
}

// keptBody is Flume's addFieldsToBody: "<PRI>", "VERSION ", "TIMESTAMP "
// and "HOSTNAME " in front of the message, for the fields kept. A NILVALUE
// field is kept as "-" (Flume writes "null").
func (m *syslogMessage) keptBody(keep syslogKeep) []byte {
	orNil := func(b []byte) []byte {
		if b == nil {
			return []byte{'-'}
		}
		return b
	}
	b := make([]byte, 0, len(m.PriText)+len(m.Version)+len(m.TimeText)+len(m.Host)+len(m.Msg)+8)
	if keep&syslogKeepPriority != 0 {
		b = append(append(append(b, '<'), m.PriText...), '>')
	}
	if keep&syslogKeepVersion != 0 && len(m.Version) > 0 {
		b = append(append(b, m.Version...), ' ')
	}
	if keep&syslogKeepTimestamp != 0 {
		b = append(append(b, orNil(m.TimeText)...), ' ')
	}
	if keep&syslogKeepHostname != 0 {
		b = append(append(b, orNil(m.Host)...), ' ')
	}
	return append(b, m.Msg...)
}

// syslogMaxLenDigits is the most digits of an RFC 6587 octet count.
const syslogMaxLenDigits = 9

// syslogFrame is one message found by syslogFramer.next: data[start:end]
// of the data passed in.
type syslogFrame struct {
	start, end int
	incomplete bool // cut at max bytes, or by the end of the stream
	atEnd      bool // the frame ended because the stream did
}

// syslogFramer splits a TCP byte stream into syslog messages. A message
// is either newline-terminated (RFC 6587 non-transparent framing: a "\r"
// before the "\n" is dropped, blank lines are skipped) or octet-counted
// (RFC 6587: "LEN SP MSG", recognised when a message starts with one to
// nine digits, the first not 0, and a space; one trailing "\n" inside MSG
// is dropped).
//
// A message longer than max bytes is cut, as Flume cuts it at eventSize:
// the first max bytes are a frame marked incomplete and the rest is
// framed on as the continuation of the message (so nothing is dropped; a
// continuation is usually Invalid, lacking a priority). The framer keeps
// state between calls, so the stream may arrive in pieces of any size;
// the frames do not depend on how it was split.
type syslogFramer struct {
	max   int  // eventSize
	octet int  // bytes left of the octet-counted message being read
	cont  bool // the next line continues a message cut at max bytes
}

// next returns the next frame at the start of data, the unread bytes,
// and how many bytes of data it used. When data holds no complete frame
// yet, ok is false and used counts the bytes already passed over (blank
// lines, an octet count). With atEOF the stream has ended: what is left
// becomes a last frame (marked incomplete if it was cut short). Frames
// are never empty and at most max bytes long. data must have room for at
// least max+syslogMaxLenDigits+2 bytes when it is full, or next cannot
// make progress.
func (f *syslogFramer) next(data []byte, atEOF bool) (fr syslogFrame, used int, ok bool) {
	for used < len(data) {
		rest := data[used:]
		if f.octet > 0 {
			want := min(f.octet, f.max)
			if len(rest) < want {
				if !atEOF {
					return fr, used, false
				}
				f.octet = 0
				return syslogFrame{used, len(data), true, true}, len(data), true
			}
			if f.octet > f.max {
				f.octet -= f.max
				return syslogFrame{used, used + f.max, true, false}, used + f.max, true
			}
			f.octet = 0
			end := want
			if end > 0 && rest[end-1] == '\n' {
				end--
				if end > 0 && rest[end-1] == '\r' {
					end--
				}
			}
			if end == 0 {
				used += want
				continue
			}
			return syslogFrame{used, used + end, false, false}, used + want, true
		}
		if !f.cont && rest[0] >= '1' && rest[0] <= '9' {
			j := 1
			for j < len(rest) && j <= syslogMaxLenDigits && isDigit(rest[j]) {
				j++
			}
			if j == len(rest) && !atEOF {
				return fr, used, false
			}
			if j <= syslogMaxLenDigits && j < len(rest) && rest[j] == ' ' {
				f.octet = num(rest[:j])
				used += j + 1
				continue
			}
		}
		limit := min(len(rest), f.max+1)
		k := bytes.IndexByte(rest[:limit], '\n')
		if k < 0 {
			if len(rest) > f.max {
				f.cont = true
				return syslogFrame{used, used + f.max, true, false}, used + f.max, true
			}
			if !atEOF {
				return fr, used, false
			}
			f.cont = false
			end := len(rest)
			if rest[end-1] == '\r' {
				end--
			}
			if end == 0 {
				return fr, len(data), false
			}
			return syslogFrame{used, used + end, false, true}, len(data), true
		}
		f.cont = false
		end := k
		if end > 0 && rest[end-1] == '\r' {
			end--
		}
		if end == 0 {
			used += k + 1
			continue
		}
		return syslogFrame{used, used + end, false, false}, used + k + 1, true
	}
	return fr, used, false
}

// syslogFramerBuffer is the least read buffer a framer with eventSize
// max needs.
func syslogFramerBuffer(max int) int { return max + syslogMaxLenDigits + 2 }
