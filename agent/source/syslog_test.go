package source

import (
	"bytes"
	"maps"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
)

// syslogNow is the reception time of the parser tests: 15 March 2024,
// noon UTC.
var syslogNow = time.Date(2024, 3, 15, 12, 0, 0, 0, time.UTC)

func ms(y int, mo time.Month, d, h, mi, s, milli int, loc *time.Location) string {
	return strconv.FormatInt(time.Date(y, mo, d, h, mi, s, milli*int(time.Millisecond), loc).UnixMilli(), 10)
}

// decodeLine decodes one line with keepFields keep, in UTC, at syslogNow.
func decodeLine(t *testing.T, line, keep string) (map[string]string, string) {
	t.Helper()
	k, err := parseSyslogKeep(keep)
	if err != nil {
		t.Fatal(err)
	}
	d := syslogDecoder{keep: k, loc: time.UTC}
	ev, _ := d.decode([]byte(line), false, syslogNow)
	return ev.Headers, string(ev.Body)
}

// hdr builds a header map from "k=v" pairs.
func hdr(kv ...string) map[string]string {
	m := map[string]string{}
	for _, s := range kv {
		k, v, _ := strings.Cut(s, "=")
		m[k] = v
	}
	return m
}

func TestParseSyslogRFCExamples(t *testing.T) {
	const bom = "\xEF\xBB\xBF"
	f := func(line string, wantH map[string]string, wantBody string) {
		t.Helper()
		h, body := decodeLine(t, line, "none")
		if !maps.Equal(h, wantH) {
			t.Errorf("%q:\nheaders %v\nwant    %v", line, h, wantH)
		}
		if body != wantBody {
			t.Errorf("%q:\nbody %q\nwant %q", line, body, wantBody)
		}
	}
	// RFC 5424 section 6.5, examples 1 to 4. APP-NAME, PROCID, MSGID and
	// STRUCTURED-DATA stay in the body, as in Flume.
	f("<34>1 2003-10-11T22:14:15.003Z mymachine.example.com su - ID47 - "+bom+"'su root' failed for lonvick on /dev/pts/8",
		hdr("Facility=4", "Severity=2", "priority=34", "version=1", "host=mymachine.example.com",
			"timestamp="+ms(2003, 10, 11, 22, 14, 15, 3, time.UTC)),
		"su - ID47 - "+bom+"'su root' failed for lonvick on /dev/pts/8")
	f("<165>1 2003-08-24T05:14:15.000003-07:00 192.0.2.1 myproc 8710 - - %% It's time to make the do-nuts.",
		hdr("Facility=20", "Severity=5", "priority=165", "version=1", "host=192.0.2.1",
			"timestamp="+ms(2003, 8, 24, 12, 14, 15, 0, time.UTC)),
		"myproc 8710 - - %% It's time to make the do-nuts.")
	f(`<165>1 2003-10-11T22:14:15.003Z mymachine.example.com evntslog - ID47 [exampleSDID@32473 iut="3" eventSource="Application" eventID="1011"] `+bom+`An application event log entry...`,
		hdr("Facility=20", "Severity=5", "priority=165", "version=1", "host=mymachine.example.com",
			"timestamp="+ms(2003, 10, 11, 22, 14, 15, 3, time.UTC)),
		`evntslog - ID47 [exampleSDID@32473 iut="3" eventSource="Application" eventID="1011"] `+bom+`An application event log entry...`)
	f(`<165>1 2003-10-11T22:14:15.003Z mymachine.example.com evntslog - ID47 [exampleSDID@32473 iut="3" eventSource="Application" eventID="1011"][examplePriority@32473 class="high"]`,
		hdr("Facility=20", "Severity=5", "priority=165", "version=1", "host=mymachine.example.com",
			"timestamp="+ms(2003, 10, 11, 22, 14, 15, 3, time.UTC)),
		`evntslog - ID47 [exampleSDID@32473 iut="3" eventSource="Application" eventID="1011"][examplePriority@32473 class="high"]`)

	// RFC 3164 section 5.4. The year is the current one (2024 at
	// syslogNow, or 2023 for a date more than a month ahead of it).
	f("<34>Oct 11 22:14:15 mymachine su: 'su root' failed for lonvick on /dev/pts/8",
		hdr("Facility=4", "Severity=2", "priority=34", "host=mymachine", "timestamp="+ms(2023, 10, 11, 22, 14, 15, 0, time.UTC)),
		"su: 'su root' failed for lonvick on /dev/pts/8")
	f("<13>Feb  5 17:32:18 10.0.0.99 Use the BFG!",
		hdr("Facility=1", "Severity=5", "priority=13", "host=10.0.0.99", "timestamp="+ms(2024, 2, 5, 17, 32, 18, 0, time.UTC)),
		"Use the BFG!")
	// Flume's pattern takes "CST" for the host name.
	f("<165>Aug 24 05:34:00 CST 1987 mymachine myproc[10]: %% It's time to make the do-nuts.  %%  Ingredients: Mix=OK, Jet=OK, Fill=OK, Powder=OK",
		hdr("Facility=20", "Severity=5", "priority=165", "host=CST", "timestamp="+ms(2023, 8, 24, 5, 34, 0, 0, time.UTC)),
		"1987 mymachine myproc[10]: %% It's time to make the do-nuts.  %%  Ingredients: Mix=OK, Jet=OK, Fill=OK, Powder=OK")
	// Neither pattern matches: a valid priority, the whole line as body,
	// no status header (as in Flume).
	f("<0>1990 Oct 22 10:52:01 TZ-6 scapegoat.dmz.example.org 10.1.2.3 sched[0]: That's All Folks!",
		hdr("Facility=0", "Severity=0"),
		"<0>1990 Oct 22 10:52:01 TZ-6 scapegoat.dmz.example.org 10.1.2.3 sched[0]: That's All Folks!")
}

func TestParseSyslogVariants(t *testing.T) {
	plus2 := time.FixedZone("+02:00", 2*3600)
	f := func(line string, wantH map[string]string, wantBody string) {
		t.Helper()
		h, body := decodeLine(t, line, "none")
		if !maps.Equal(h, wantH) {
			t.Errorf("%q:\nheaders %v\nwant    %v", line, h, wantH)
		}
		if body != wantBody {
			t.Errorf("%q:\nbody %q\nwant %q", line, body, wantBody)
		}
	}
	// Flume's own test messages: no version, offsets with a colon.
	f("<10>2012-04-13T11:11:11+08:00 ubuntu-11.cloudera.com some msg",
		hdr("Facility=1", "Severity=2", "priority=10", "host=ubuntu-11.cloudera.com", "timestamp="+ms(2012, 4, 13, 3, 11, 11, 0, time.UTC)),
		"some msg")
	// Fractional seconds: one to six digits, cut to milliseconds.
	for frac, milli := range map[string]int{".5": 500, ".05": 50, ".123": 123, ".1234": 123, ".999999": 999, ".000001": 0} {
		f("<14>1 2024-01-02T03:04:05"+frac+"+02:00 h m",
			hdr("Facility=1", "Severity=6", "priority=14", "version=1", "host=h", "timestamp="+ms(2024, 1, 2, 3, 4, 5, milli, plus2)),
			"m")
	}
	// Seven digits do not match the pattern: the line is unparsed.
	f("<14>1 2024-01-02T03:04:05.1234567Z h m", hdr("Facility=1", "Severity=6"), "<14>1 2024-01-02T03:04:05.1234567Z h m")
	// No offset: the source's zone (UTC here).
	f("<14>1 2024-01-02T03:04:05 h m",
		hdr("Facility=1", "Severity=6", "priority=14", "version=1", "host=h", "timestamp="+ms(2024, 1, 2, 3, 4, 5, 0, time.UTC)), "m")
	f("<14>1 2024-01-02T03:04:05-05:30 h m",
		hdr("Facility=1", "Severity=6", "priority=14", "version=1", "host=h", "timestamp="+ms(2024, 1, 2, 8, 34, 5, 0, time.UTC)), "m")
	// Out-of-range fields roll over, as SimpleDateFormat's lenient parse.
	f("<14>1 2023-13-01T00:00:00Z h m",
		hdr("Facility=1", "Severity=6", "priority=14", "version=1", "host=h", "timestamp="+ms(2024, 1, 1, 0, 0, 0, 0, time.UTC)), "m")
	// NILVALUE timestamp and host: no header.
	f("<14>1 - - app - - msg", hdr("Facility=1", "Severity=6", "priority=14", "version=1"), "app - - msg")
	f("<14>1 - host - - - msg", hdr("Facility=1", "Severity=6", "priority=14", "version=1", "host=host"), "- - - msg")
	// The whole message is the NILVALUEs: the body is the rest.
	f("<14>1 - - - - - -", hdr("Facility=1", "Severity=6", "priority=14", "version=1"), "- - - -")
	// An empty message body is replaced by the whole line (Flume's
	// fallback).
	f("<14>1 - host ", hdr("Facility=1", "Severity=6", "priority=14", "version=1", "host=host"), "<14>1 - host ")
	// Leading zeros in the priority are kept in the priority header.
	f("<007>Mar  1 00:00:00 h x", hdr("Facility=0", "Severity=7", "priority=007", "host=h", "timestamp="+ms(2024, 3, 1, 0, 0, 0, 0, time.UTC)), "x")
	// Facility above 23 is not checked, as in Flume.
	f("<999>Mar  1 00:00:00 h x", hdr("Facility=124", "Severity=7", "priority=999", "host=h", "timestamp="+ms(2024, 3, 1, 0, 0, 0, 0, time.UTC)), "x")
	// 3164 with a version digit, and a month name that is not one: the
	// pattern matches, but there is no timestamp.
	f("<13>1 Mar  1 00:00:00 h x", hdr("Facility=1", "Severity=5", "priority=13", "version=1", "host=h", "timestamp="+ms(2024, 3, 1, 0, 0, 0, 0, time.UTC)), "x")
	f("<13>Foo  1 00:00:00 h x", hdr("Facility=1", "Severity=5", "priority=13", "host=h"), "x")
	// A host with characters outside [\w.@-] leaves the line unparsed.
	f("<13>Mar  1 00:00:00 h:x y", hdr("Facility=1", "Severity=5"), "<13>Mar  1 00:00:00 h:x y")
	// Just the priority, or a message without header.
	f("<13>", hdr("Facility=1", "Severity=5"), "<13>")
	f("<13>hello world", hdr("Facility=1", "Severity=5"), "<13>hello world")
	// Bytes that are not UTF-8 pass through unchanged (Flume would
	// replace them).
	f("<13>Mar  1 00:00:00 h \xff\xfe", hdr("Facility=1", "Severity=5", "priority=13", "host=h", "timestamp="+ms(2024, 3, 1, 0, 0, 0, 0, time.UTC)), "\xff\xfe")
}

func TestParseSyslogInvalid(t *testing.T) {
	for _, line := range []string{
		"hello", "<>x", "<1234>x", "<12", "<a>b", "<1 2>x", " <13>x", "\x00\xff\x01", "<", "<<13>x", "-13>x",
		strings.Repeat("\xff", 100),
	} {
		h, body := decodeLine(t, line, "none")
		want := hdr("Facility=0", "Severity=0", "flume.syslog.status=Invalid")
		if !maps.Equal(h, want) || body != line {
			t.Errorf("%q: headers %v body %q, want %v and the line", line, h, body, want)
		}
		// keepFields does not change an invalid line either.
		if _, body := decodeLine(t, line, "priority hostname"); body != line {
			t.Errorf("%q with keepFields: body %q", line, body)
		}
	}
}

// TestSyslogYear checks the year chosen for an RFC 3164 date: the current
// year, unless that puts the date more than a month ahead (then the year
// before) or more than eleven months behind (then the year after).
func TestSyslogYear(t *testing.T) {
	f := func(now time.Time, stamp string, want time.Time) {
		t.Helper()
		m := parseSyslog([]byte("<13>"+stamp+" host msg"), now, time.UTC)
		if m.Format != syslogRFC3164 || !m.HasTime {
			t.Fatalf("%s: not parsed: %+v", stamp, m)
		}
		if got := time.UnixMilli(m.Millis).UTC(); !got.Equal(want) {
			t.Errorf("now %s, %q: got %s, want %s", now.Format(time.DateTime), stamp, got, want)
		}
	}
	d := func(y int, mo time.Month, day, h int) time.Time { return time.Date(y, mo, day, h, 0, 0, 0, time.UTC) }
	f(d(2024, 3, 15, 12), "Mar 15 11:00:00", d(2024, 3, 15, 11))
	f(d(2024, 3, 15, 12), "Apr 14 11:00:00", d(2024, 4, 14, 11))                    // less than a month ahead
	f(d(2024, 3, 15, 12), "Apr 16 11:00:00", d(2023, 4, 16, 11))                    // more than a month ahead
	f(d(2024, 12, 31, 23), "Jan  1 00:10:00", d(2025, 1, 1, 0).Add(10*time.Minute)) // new year on the sender first
	f(d(2025, 1, 1, 0), "Dec 31 23:59:00", d(2024, 12, 31, 23).Add(59*time.Minute)) // new year here first
	f(d(2024, 3, 15, 12), "Feb 29 01:00:00", d(2024, 2, 29, 1))                     // leap day
	f(d(2024, 3, 15, 12), "Jan  1 00:00:00", d(2024, 1, 1, 0))
	// The real clock: a date from a minute ago is this year's.
	now := time.Now().Truncate(time.Second)
	ago := now.Add(-time.Minute)
	f(now, ago.UTC().Format(time.Stamp), ago)
}

func TestSyslogKeepFields(t *testing.T) {
	const l5424 = "<34>1 2003-10-11T22:14:15.003Z mymachine.example.com su - ID47 - msg"
	const l3164 = "<13>Feb  5 17:32:18 10.0.0.99 Use the BFG!"
	const lnil = "<14>1 - - app - - msg"
	f := func(keep, line, want string) {
		t.Helper()
		if _, body := decodeLine(t, line, keep); body != want {
			t.Errorf("keepFields %q, %q:\nbody %q\nwant %q", keep, line, body, want)
		}
	}
	for _, none := range []string{"none", "false", "FALSE", " None ", ""} {
		f(none, l5424, "su - ID47 - msg")
	}
	for _, all := range []string{"all", "true", "ALL"} {
		f(all, l5424, l5424)
		f(all, l3164, l3164)
	}
	f("priority version timestamp hostname", l5424, l5424)
	f("hostname,timestamp,version,priority", l5424, l5424)
	f("priority version timestamp hostname", l3164, l3164) // no version: nothing for it
	f("priority", l5424, "<34>su - ID47 - msg")
	f("version", l5424, "1 su - ID47 - msg")
	f("timestamp", l3164, "Feb  5 17:32:18 Use the BFG!")
	f("hostname", l3164, "10.0.0.99 Use the BFG!")
	f("priority hostname", l3164, "<13>10.0.0.99 Use the BFG!")
	f("timestamp hostname", lnil, "- - app - - msg") // NILVALUEs are kept as "-"
	// The headers do not depend on keepFields.
	h1, _ := decodeLine(t, l5424, "none")
	h2, _ := decodeLine(t, l5424, "all")
	if !maps.Equal(h1, h2) {
		t.Errorf("headers differ: %v and %v", h1, h2)
	}
	for _, bad := range []string{"priority,host", "everything", "yes"} {
		if _, err := parseSyslogKeep(bad); err == nil || !strings.Contains(err.Error(), "keepFields: unknown field") {
			t.Errorf("keepFields %q: error %v", bad, err)
		}
	}
}

func TestSyslogIncompleteFlag(t *testing.T) {
	d := syslogDecoder{loc: time.UTC}
	ev, st := d.decode([]byte("<13>Feb  5 17:32:18 host cut he"), true, syslogNow)
	if st != syslogIncomplete || ev.Headers[SyslogHeaderStatus] != SyslogStatusIncomplete || ev.Headers["host"] != "host" || string(ev.Body) != "cut he" {
		t.Errorf("incomplete valid message: %v %q (%v)", ev.Headers, ev.Body, st)
	}
	// Invalid wins over Incomplete, as in Flume.
	ev, st = d.decode([]byte("continuation"), true, syslogNow)
	if st != syslogInvalid || ev.Headers[SyslogHeaderStatus] != SyslogStatusInvalid {
		t.Errorf("incomplete invalid message: %v (%v)", ev.Headers, st)
	}
}

func TestSyslogCharset(t *testing.T) {
	for _, name := range []string{"UTF-8", "utf8", "US-ASCII", "iso-8859-1", "latin1"} {
		if _, err := parseSyslogCharset(name); err != nil {
			t.Errorf("%s: %v", name, err)
		}
	}
	if _, err := parseSyslogCharset("UTF-16"); err == nil {
		t.Error("UTF-16 accepted")
	}
	line := []byte("<13>Feb  5 17:32:18 host caf\xe9")
	for cs, wantInvalid := range map[syslogCharset]bool{syslogUTF8: true, syslogASCII: true, syslogAnyBytes: false} {
		d := syslogDecoder{loc: time.UTC, charset: cs}
		_, st := d.decode(line, false, syslogNow)
		if (st == syslogInvalid) != wantInvalid {
			t.Errorf("charset %d: status %d", cs, st)
		}
	}
}

// frames runs a framer over chunks of data, read through a buffer of the
// least size the framer needs, as a connection reads, and returns the
// frames as "text" or "text+" (incomplete), "$" marking those ended by the
// end of the stream.
func frames(t testing.TB, max int, chunks ...string) []string {
	t.Helper()
	fr := syslogFramer{max: max}
	buf := make([]byte, syslogFramerBuffer(max))
	lo, hi := 0, 0
	var out []string
	pending := strings.Join(chunks, "")
	ci := 0
	for {
		// "Read" the next chunk, or as much of it as fits.
		atEOF := ci == len(chunks)
		if !atEOF {
			n := copy(buf[hi:], chunks[ci])
			if n == 0 && len(chunks[ci]) > 0 {
				t.Fatalf("framer made no progress with a full buffer (max %d, %q)", max, buf[lo:hi])
			}
			hi += n
			chunks[ci] = chunks[ci][n:]
			if chunks[ci] == "" {
				ci++
			}
		}
		for {
			f, used, ok := fr.next(buf[lo:hi], atEOF)
			if used < 0 || lo+used > hi {
				t.Fatalf("used %d of %d bytes", used, hi-lo)
			}
			if ok {
				if f.start < 0 || f.end > hi-lo || f.start >= f.end || f.end-f.start > max {
					t.Fatalf("bad frame %+v in %d bytes (max %d)", f, hi-lo, max)
				}
				s := string(buf[lo+f.start : lo+f.end])
				if f.incomplete {
					s += "+"
				}
				if f.atEnd {
					s += "$"
				}
				out = append(out, s)
			}
			lo += used
			if !ok {
				break
			}
		}
		hi = copy(buf, buf[lo:hi])
		lo = 0
		if atEOF {
			if hi != 0 {
				t.Fatalf("%d bytes left at the end of %q", hi, pending)
			}
			return out
		}
	}
}

func TestSyslogFramer(t *testing.T) {
	f := func(max int, in string, want ...string) {
		t.Helper()
		got := frames(t, max, in)
		if !slices.Equal(got, want) {
			t.Errorf("max %d, %q:\ngot  %q\nwant %q", max, in, got, want)
		}
		// The same frames whatever the reads: byte by byte.
		var bytewise []string
		for i := 0; i < len(in); i++ {
			bytewise = append(bytewise, in[i:i+1])
		}
		if got := frames(t, max, bytewise...); !slices.Equal(got, want) {
			t.Errorf("max %d, %q byte by byte:\ngot  %q\nwant %q", max, in, got, want)
		}
	}
	// Newline framing: "\r\n" too, blank lines skipped, an unterminated
	// last line kept.
	f(100, "a\nb\r\n\n\r\n\nc", "a", "b", "c$")
	f(100, "<13>x\n<14>y\n", "<13>x", "<14>y")
	f(100, "\r", nil...)
	f(100, "", nil...)
	// Octet counting, with or without a trailing newline inside or after.
	f(100, "5 hello3 abc", "hello", "abc")
	f(100, "6 hello\n", "hello")
	f(100, "7 hello\r\n", "hello")
	f(100, "5 hello\n<13>x\n", "hello", "<13>x")
	f(100, "12 <13>abc def\n<14>x\n", "<13>abc def", "<14>x")
	f(100, "1 \n2 ab", "ab")
	// Not octet counts: leading zero, ten digits, digits without space.
	f(100, "0 abc\n", "0 abc")
	f(100, "1234567890 x\n", "1234567890 x")
	f(100, "123abc\n", "123abc")
	f(100, "123", "123$")
	f(100, "999999999 abc", "abc+$")
	// Cut at max: the rest follows as its own frames; a continuation is
	// never taken for an octet count.
	f(10, "<1>3456789ABCDEFGHIJ\n", "<1>3456789+", "ABCDEFGHIJ")
	f(10, "<1>345678912 abcdefg\n", "<1>3456789+", "12 abcdefg")
	f(10, "0123456789\n", "0123456789")
	f(10, "01234567890\n", "0123456789+", "0")
	f(10, "0123456789012345678901234", "0123456789+", "0123456789+", "01234$")
	f(10, "25 "+"<1>3456789"+"0123456789"+"01234"+"<2>x\n", "<1>3456789+", "0123456789+", "01234", "<2>x")
	f(10, "20 "+"<1>3456789"+"0123456789", "<1>3456789+", "0123456789")
	f(10, "15 abc", "abc+$")
}

// syslogLineModel is what the framer must give for input with no '\r'
// and no digit 1-9 (so no octet counts): every line cut into pieces of
// max bytes, all but the last incomplete.
func syslogLineModel(in string, max int) []string {
	var out []string
	lines := strings.Split(in, "\n")
	for i, l := range lines {
		last := i == len(lines)-1
		for len(l) > max {
			out = append(out, l[:max]+"+")
			l = l[max:]
		}
		if l != "" {
			if last {
				l += "$"
			}
			out = append(out, l)
		}
	}
	return out
}

func FuzzSyslogTCPFraming(f *testing.F) {
	for _, s := range []string{
		"a\nb\r\n\n\r\n\nc", "5 hello3 abc", "12 <13>abc def\n<14>x\n", "0123456789012345678901234",
		"25 <1>34567890123456789012345<2>x\n", "999999999 abc", "1234567890 x\n", "<34>1 2003-10-11T22:14:15.003Z h a - - - m\n",
	} {
		f.Add(uint8(0), uint8(3), []byte(s))
	}
	f.Fuzz(func(t *testing.T, maxSel, split uint8, data []byte) {
		max := syslogMinEventSize + int(maxSel%54)
		whole := frames(t, max, string(data))
		// Split into reads of 1 to 8 bytes, sizes drawn from split.
		var chunks []string
		r := uint32(split) + 1
		for rest := string(data); rest != ""; {
			r = r*1664525 + 1013904223
			n := min(int(r>>29)+1, len(rest))
			chunks = append(chunks, rest[:n])
			rest = rest[n:]
		}
		if got := frames(t, max, chunks...); !slices.Equal(got, whole) {
			t.Fatalf("max %d: frames depend on the reads:\nwhole %q\nsplit %q", max, whole, got)
		}
		total := 0
		for _, fr := range whole {
			total += len(strings.TrimRight(fr, "+$"))
		}
		if total > len(data) {
			t.Fatalf("frames hold %d bytes of %d", total, len(data))
		}
		if !bytes.ContainsAny(data, "\r123456789") {
			if want := syslogLineModel(string(data), max); !slices.Equal(whole, want) {
				t.Fatalf("max %d, %q:\ngot  %q\nwant %q", max, data, whole, want)
			}
		}
	})
}

// The reference: Flume's two patterns as Go regular expressions with
// Java's character classes, and a body that may hold any byte. Go's
// regexp picks the submatches a backtracking matcher would, like Java's.
var (
	ref5424 = regexp.MustCompile(`\A<(\d{1,3})>(?:(\d?)[\t\n\v\f\r ]?)(?:(\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(?:\.\d{1,6})?(?:[+-]\d{2}:\d{2}|Z)?)|-)[\t\n\v\f\r ](?:([A-Za-z0-9_][A-Za-z0-9_.@-]*)|-)[\t\n\v\f\r ](?s:(.*))\z`)
	ref3164 = regexp.MustCompile(`\A<(\d{1,3})>(?:(\d)?[\t\n\v\f\r ]?)([A-Z][a-z][a-z][\t\n\v\f\r ]{1,2}\d{1,2}[\t\n\v\f\r ]\d{2}:\d{2}:\d{2})[\t\n\v\f\r ]([A-Za-z0-9_][A-Za-z0-9_.@-]*)[\t\n\v\f\r ](?s:(.*))\z`)
	refPri  = regexp.MustCompile(`\A<\d{1,3}>`)
)

// group is submatch i of m in s, or nil when it did not take part.
func group(s []byte, m []int, i int) []byte {
	if m[2*i] < 0 {
		return nil
	}
	return s[m[2*i]:m[2*i+1]]
}

func FuzzParseSyslog(f *testing.F) {
	for _, s := range []string{
		"<34>1 2003-10-11T22:14:15.003Z mymachine.example.com su - ID47 - \xEF\xBB\xBF'su root' failed",
		"<165>1 2003-08-24T05:14:15.000003-07:00 192.0.2.1 myproc 8710 - - %% It's time",
		"<34>Oct 11 22:14:15 mymachine su: 'su root' failed for lonvick on /dev/pts/8",
		"<13>Feb  5 17:32:18 10.0.0.99 Use the BFG!",
		"<10>2012-04-13T11:11:11+08:00 ubuntu-11.cloudera.com some msg",
		"<14>1 - - app - - msg", "<13>12003-10-11T22:14:15Z h m", "<13>1 Mar  1 00:00:00 h x",
		"<13>", "<>", "hello", "<1234>x", "\x00\xff",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, line []byte) {
		m := parseSyslog(line, syslogNow, time.UTC)
		if m.Invalid == refPri.Match(line) {
			t.Fatalf("%q: Invalid = %v", line, m.Invalid)
		}
		for _, keep := range []syslogKeep{0, syslogKeepAll, syslogKeepPriority | syslogKeepHostname} {
			d := syslogDecoder{keep: keep, loc: time.UTC}
			ev, st := d.decode(line, false, syslogNow)
			if m.Invalid {
				if st != syslogInvalid || !bytes.Equal(ev.Body, line) || ev.Headers[SyslogHeaderStatus] != SyslogStatusInvalid {
					t.Fatalf("%q: invalid, but status %d, body %q, headers %v", line, st, ev.Body, ev.Headers)
				}
				continue
			}
			if keep == syslogKeepAll && !bytes.Equal(ev.Body, line) {
				t.Fatalf("%q: keepFields all, body %q", line, ev.Body)
			}
			if keep == 0 && m.Format != syslogUnparsed && len(m.Msg) > 0 && !bytes.Equal(ev.Body, m.Msg) {
				t.Fatalf("%q: body %q, message %q", line, ev.Body, m.Msg)
			}
			if len(ev.Body) == 0 && len(line) > 0 {
				t.Fatalf("%q: empty body", line)
			}
		}
		if m.Invalid {
			return
		}
		r5 := ref5424.FindSubmatchIndex(line)
		r3 := ref3164.FindSubmatchIndex(line)
		var ref []int
		switch {
		case r5 != nil:
			ref = r5
			if m.Format != syslogRFC5424 {
				t.Fatalf("%q: format %d, want RFC 5424", line, m.Format)
			}
		case r3 != nil:
			ref = r3
			if m.Format != syslogRFC3164 {
				t.Fatalf("%q: format %d, want RFC 3164", line, m.Format)
			}
		default:
			if m.Format != syslogUnparsed {
				t.Fatalf("%q: format %d, want unparsed", line, m.Format)
			}
			return
		}
		want := [][]byte{group(line, ref, 1), group(line, ref, 2), group(line, ref, 3), group(line, ref, 4), group(line, ref, 5)}
		got := [][]byte{m.PriText, m.Version, m.TimeText, m.Host, m.Msg}
		for i := range want {
			if !bytes.Equal(got[i], want[i]) || (got[i] == nil) != (want[i] == nil) && i >= 2 && i <= 3 {
				t.Fatalf("%q: group %d = %q, want %q", line, i+1, got[i], want[i])
			}
		}
		// A well-formed RFC 5424 time with an offset is what time.Parse
		// reads, to the millisecond.
		if m.Format == syslogRFC5424 && m.TimeText != nil {
			if tt, err := time.Parse("2006-01-02T15:04:05.999999Z07:00", string(m.TimeText)); err == nil && tt.Year() > 0 {
				if tt.UnixMilli() != m.Millis {
					t.Fatalf("%q: %d ms, time.Parse says %d", m.TimeText, m.Millis, tt.UnixMilli())
				}
			}
		}
	})
}

func BenchmarkSyslogParse(b *testing.B) {
	for _, bc := range []struct {
		name  string
		lines []string
	}{
		{"rfc3164", []string{
			"<34>Oct 11 22:14:15 mymachine su: 'su root' failed for lonvick on /dev/pts/8",
			"<13>Feb  5 17:32:18 10.0.0.99 Use the BFG!",
			"<30>Mar 15 08:01:02 web-17.example.com nginx[2211]: 10.1.2.3 - - \"GET /index.html HTTP/1.1\" 200 612",
		}},
		{"rfc5424", []string{
			"<34>1 2003-10-11T22:14:15.003Z mymachine.example.com su - ID47 - 'su root' failed for lonvick on /dev/pts/8",
			"<165>1 2003-08-24T05:14:15.000003-07:00 192.0.2.1 myproc 8710 - - %% It's time to make the do-nuts.",
			`<165>1 2003-10-11T22:14:15.003Z mymachine.example.com evntslog - ID47 [exampleSDID@32473 iut="3" eventSource="Application" eventID="1011"] An application event`,
		}},
	} {
		b.Run(bc.name, func(b *testing.B) {
			lines := make([][]byte, len(bc.lines))
			size := 0
			for i, l := range bc.lines {
				lines[i] = []byte(l)
				size += len(l)
			}
			d := syslogDecoder{loc: time.Local}
			now := time.Now()
			b.SetBytes(int64(size / len(lines)))
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; b.Loop(); i++ {
				ev, _ := d.decode(lines[i%len(lines)], false, now)
				if len(ev.Body) == 0 {
					b.Fatal("empty body")
				}
			}
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "lines/s")
		})
	}
}
