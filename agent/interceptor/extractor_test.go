package interceptor

import (
	"strconv"
	"strings"
	"testing"
	"time"
	_ "time/tzdata" // America/Los_Angeles on machines without a zoneinfo database

	"github.com/vscope/vscope/agent/event"
)

func TestRegexExtractor(t *testing.T) {
	f := func(props map[string]string, in event.Event, want map[string]string) {
		t.Helper()
		out := one(t, mustInterceptor(t, RegexExtractorFactory(), props), in)
		checkHeaders(t, out, want)
		if string(out.Body) != string(in.Body) {
			t.Fatalf("body changed to %q", out.Body)
		}
	}

	// The user guide's example 1.
	ex1 := map[string]string{
		"regex":               `(\d):(\d):(\d)`,
		"serializers":         "s1 s2 s3",
		"serializers.s1.name": "one",
		"serializers.s2.name": "two",
		"serializers.s3.name": "three",
	}
	f(ex1, ev("1:2:3.4foobar5"), map[string]string{"one": "1", "two": "2", "three": "3"})
	f(ex1, ev("1:2:3.4foobar5", "one", "old", "other", "x"), map[string]string{"one": "1", "two": "2", "three": "3", "other": "x"})
	f(ex1, ev("no digits here"), nil) // no match: nothing set, nil Headers stay nil
	// Fewer serializers than groups: the first groups only (Flume's
	// javadoc example 2).
	f(map[string]string{"regex": `(\d):(\d):(\d)`, "serializers": "s1 s2", "serializers.s1.name": "one", "serializers.s2.name": "two"},
		ev("1:2:3.4foobar5"), map[string]string{"one": "1", "two": "2"})
	// Type "default" and the pass-through class name are the same thing.
	f(map[string]string{"regex": `(\w+)=(\w+)`, "serializers": "k v",
		"serializers.k.name": "key", "serializers.k.type": "default",
		"serializers.v.name": "value", "serializers.v.type": "org.apache.flume.interceptor.RegexExtractorInterceptorPassThroughSerializer"},
		ev("user=alice"), map[string]string{"key": "user", "value": "alice"})
	f(map[string]string{"regex": `(x)`, "serializers": "s1", "serializers.s1.name": "h", "serializers.s1.type": "DEFAULT"},
		ev("x"), map[string]string{"h": "x"})
	// A group that took no part in the match sets nothing; an empty match
	// sets "".
	f(map[string]string{"regex": `(WARN)|(ERROR)()`, "serializers": "w e z",
		"serializers.w.name": "warn", "serializers.e.name": "error", "serializers.z.name": "empty"},
		ev("an ERROR"), map[string]string{"error": "ERROR", "empty": ""})

	// The millis serializer: the guide's example 2 and the form in the
	// brief (the guide's regex has (?:\n)? in front).
	local := time.Date(2012, 10, 18, 18, 47, 0, 0, time.Local).UnixMilli()
	for _, regex := range []string{`^(\d\d\d\d-\d\d-\d\d\s\d\d:\d\d)`, `^(?:\n)?(\d\d\d\d-\d\d-\d\d\s\d\d:\d\d)`} {
		millis := map[string]string{
			"regex":                  regex,
			"serializers":            "s1",
			"serializers.s1.type":    "org.apache.flume.interceptor.RegexExtractorInterceptorMillisSerializer",
			"serializers.s1.name":    "timestamp",
			"serializers.s1.pattern": "yyyy-MM-dd HH:mm",
		}
		f(millis, ev("2012-10-18 18:47:57,614 some log line"), map[string]string{"timestamp": strconv.FormatInt(local, 10)})
	}
	// The guide's value, 1350611220000, is that time in US Pacific time
	// (Joda parses in the JVM's zone, as this does in time.Local).
	layout, err := jodaToGo("yyyy-MM-dd HH:mm")
	if err != nil {
		t.Fatal(err)
	}
	la, err := time.LoadLocation("America/Los_Angeles")
	if err != nil {
		t.Fatal(err)
	}
	if ts, err := time.ParseInLocation(layout, "2012-10-18 18:47", la); err != nil || ts.UnixMilli() != 1350611220000 {
		t.Fatalf("2012-10-18 18:47 in Los Angeles: %v %v, want 1350611220000", ts.UnixMilli(), err)
	}
	// A date with an explicit offset does not depend on the zone.
	f(map[string]string{"regex": `\[([^\]]+)\]`, "serializers": "s1", "serializers.s1.name": "ts",
		"serializers.s1.type": millisSerializer, "serializers.s1.pattern": "dd/MMM/yyyy:HH:mm:ss Z"},
		ev(`127.0.0.1 - - [18/Oct/2012:18:47:57 -0700] "GET / HTTP/1.1" 200`), map[string]string{"ts": "1350611277000"})
	// A value the pattern cannot parse leaves that header unset; the other
	// groups are still extracted.
	f(map[string]string{"regex": `^(\S+) (\S+)`, "serializers": "s1 s2",
		"serializers.s1.name": "ts", "serializers.s1.type": millisSerializer, "serializers.s1.pattern": "yyyy-MM-dd",
		"serializers.s2.name": "word"},
		ev("not-a-date hello"), map[string]string{"word": "hello"})

	bad := func(props map[string]string, want string) {
		t.Helper()
		checkConfigError(t, RegexExtractorFactory(), props, want)
	}
	bad(map[string]string{"serializers": "s1", "serializers.s1.name": "a"}, "a1.sources.r1.interceptors.i1.regex: required property is missing")
	bad(map[string]string{"regex": "(a)"}, "a1.sources.r1.interceptors.i1.serializers: required property is missing")
	bad(map[string]string{"regex": "(a)", "serializers": " "}, "serializers must name at least one serializer")
	bad(map[string]string{"regex": "", "serializers": "s1", "serializers.s1.name": "a"}, "regex must not be empty")
	bad(map[string]string{"regex": "(a", "serializers": "s1", "serializers.s1.name": "a"}, "regex: error parsing regexp")
	bad(map[string]string{"regex": `(a)\1`, "serializers": "s1", "serializers.s1.name": "a"}, "regex: error parsing regexp") // back-references: Java only
	bad(map[string]string{"regex": "(a)", "serializers": "s1", "serializers.s1.name": "a", "serializers.s2.name": "b"},
		`serializer "s2" is not listed in serializers`)
	bad(map[string]string{"regex": "(a)(b)", "serializers": "s1 s2 s3",
		"serializers.s1.name": "a", "serializers.s2.name": "b", "serializers.s3.name": "c"},
		"3 serializers but the regex has 2 groups")
	bad(map[string]string{"regex": "(a)", "serializers": "s1"}, "serializers.s1.name is required")
	bad(map[string]string{"regex": "(a)", "serializers": "s1", "serializers.s1.name": "a", "serializers.s1.dateFormat": "x"},
		`unknown serializer property "s1.dateFormat"`)
	bad(map[string]string{"regex": "(a)", "serializers": "s1", "serializers.s1.name": "a", "serializers.s1.type": "com.example.Mine"},
		`serializers.s1.type: unknown serializer "com.example.Mine"`)
	bad(map[string]string{"regex": "(a)", "serializers": "s1", "serializers.s1.name": "a", "serializers.s1.type": millisSerializer},
		"serializers.s1.pattern is required")
	bad(map[string]string{"regex": "(a)", "serializers": "s1", "serializers.s1.name": "a", "serializers.s1.type": millisSerializer,
		"serializers.s1.pattern": "yyyy G"}, `unsupported date pattern field "G"`)
	// The error names the file, line and key path of the interceptor.
	bad(map[string]string{"regex": "(a)", "serializers": "s1 s2", "serializers.s1.name": "a", "serializers.s2.name": "b"},
		"test.conf:1: a1.sources.r1.interceptors.i1: 2 serializers but the regex has 1 groups")
}

func TestJodaToGo(t *testing.T) {
	f := func(joda, want string) {
		t.Helper()
		got, err := jodaToGo(joda)
		if err != nil || got != want {
			t.Fatalf("jodaToGo(%q) = %q, %v; want %q", joda, got, err, want)
		}
	}
	f("yyyy-MM-dd HH:mm", "2006-01-02 15:04")
	f("yyyy-MM-dd HH:mm:ss,SSS", "2006-01-02 15:04:05,000")
	f("yyyy-MM-dd'T'HH:mm:ss.SSSZZ", "2006-01-02T15:04:05.000-07:00")
	f("dd/MMM/yyyy:HH:mm:ss Z", "02/Jan/2006:15:04:05 -0700")
	f("EEE, d MMMM yy h:mm a", "Mon, 2 January 06 3:04 PM")
	f("EEEE M/d H:m:s", "Monday 1/2 15:4:5")
	f("yyyyMMddHHmmss", "20060102150405")
	f("HH 'o''clock'", "15 o'clock")
	f("HH''mm", "15'04")

	// The layouts parse what the Joda patterns parse.
	parse := func(joda, value string, want time.Time) {
		t.Helper()
		layout, err := jodaToGo(joda)
		if err != nil {
			t.Fatal(err)
		}
		got, err := time.ParseInLocation(layout, value, time.UTC)
		if err != nil || !got.Equal(want) {
			t.Fatalf("%q on %q: %v %v, want %v", joda, value, got, err, want)
		}
	}
	parse("yyyy-MM-dd HH:mm:ss,SSS", "2012-10-18 18:47:57,614", time.Date(2012, 10, 18, 18, 47, 57, 614e6, time.UTC))
	parse("yyyyMMddHHmmss", "20121018184757", time.Date(2012, 10, 18, 18, 47, 57, 0, time.UTC))
	parse("d/M/yyyy H:m", "8/3/2012 7:5", time.Date(2012, 3, 8, 7, 5, 0, 0, time.UTC))
	parse("h:mm a yyyy-MM-dd", "6:47 PM 2012-10-18", time.Date(2012, 10, 18, 18, 47, 0, 0, time.UTC))

	bad := func(joda, want string) {
		t.Helper()
		if got, err := jodaToGo(joda); err == nil || !strings.Contains(err.Error(), want) {
			t.Fatalf("jodaToGo(%q) = %q, %v; want an error containing %q", joda, got, err, want)
		}
	}
	bad("yyyy-MM-dd G", `unsupported date pattern field "G"`)
	bad("yyy", `unsupported date pattern field "yyy"`)
	bad("HH:mm z", `unsupported date pattern field "z"`) // Joda cannot parse zone names either
	bad("HHmmssSSS", "SSS must follow '.' or ','")
	bad("yyyy 'unterminated", "unterminated quote")
	bad("yyyy 'Jan'", `literal "Jan" cannot be expressed`)
	bad("yyyy-MM-dd 1", `literal digits "1"`)
	bad("HH 'at 5'", `literal digits "at 5"`)
}
