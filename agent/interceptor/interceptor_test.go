package interceptor

import (
	"fmt"
	"net"
	"os"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/vscope/vscope/agent/component"
	"github.com/vscope/vscope/agent/event"
)

func TestAllTypesAndFlumeClassNames(t *testing.T) {
	want := map[string][]string{
		"timestamp":       {"org.apache.flume.interceptor.TimestampInterceptor$Builder"},
		"host":            {"org.apache.flume.interceptor.HostInterceptor$Builder"},
		"static":          {"org.apache.flume.interceptor.StaticInterceptor$Builder"},
		"remove_header":   {"org.apache.flume.interceptor.RemoveHeaderInterceptor$Builder"},
		"uuid":            {"org.apache.flume.sink.solr.morphline.UUIDInterceptor$Builder"},
		"search_replace":  {"org.apache.flume.interceptor.SearchAndReplaceInterceptor$Builder"},
		"regex_filter":    {"org.apache.flume.interceptor.RegexFilteringInterceptor$Builder"},
		"regex_extractor": {"org.apache.flume.interceptor.RegexExtractorInterceptor$Builder"},
	}
	all := All()
	if len(all) != len(want) {
		t.Fatalf("All() has %d types, want %d", len(all), len(want))
	}
	for _, f := range all {
		aliases, ok := want[f.Type]
		if !ok {
			t.Fatalf("unexpected type %q", f.Type)
		}
		for _, a := range aliases {
			if !slices.Contains(f.Aliases, a) {
				t.Errorf("%s: alias %s missing (have %v)", f.Type, a, f.Aliases)
			}
		}
		// Every type works with Flume's defaults alone, except the two whose
		// pattern Flume requires.
		_, err := newInterceptor(f, nil)
		required := f.Type == "search_replace" || f.Type == "regex_extractor"
		if (err != nil) != required {
			t.Errorf("%s with no properties: err = %v", f.Type, err)
		}
	}
}

func TestTimestamp(t *testing.T) {
	f := func(props map[string]string, in event.Event, header string, keep string) {
		t.Helper()
		ic := mustInterceptor(t, TimestampFactory(), props)
		before := time.Now().UnixMilli()
		out := one(t, ic, in)
		after := time.Now().UnixMilli()
		v, ok := out.Headers[header]
		if !ok {
			t.Fatalf("%v: header %q not set: %v", props, header, out.Headers)
		}
		if keep != "" {
			if v != keep {
				t.Fatalf("%v: %s = %q, want the existing %q", props, header, v, keep)
			}
			return
		}
		ms, err := strconv.ParseInt(v, 10, 64)
		if err != nil || ms < before || ms > after {
			t.Fatalf("%v: %s = %q, want epoch millis in [%d, %d]", props, header, v, before, after)
		}
	}
	f(nil, ev("x"), "timestamp", "")                                                              // nil Headers: created
	f(nil, ev("x", "timestamp", "1"), "timestamp", "")                                            // preserveExisting defaults to false
	f(map[string]string{"preserveExisting": "false"}, ev("x", "timestamp", "1"), "timestamp", "") // overwritten
	f(map[string]string{"preserveExisting": "true"}, ev("x", "timestamp", "1"), "timestamp", "1") // kept
	f(map[string]string{"preserveExisting": "true"}, ev("x", "other", "1"), "timestamp", "")      // absent: set
	f(map[string]string{"headerName": "ts"}, ev("x"), "ts", "")
	f(map[string]string{"headerName": "ts", "preserveExisting": "true"}, ev("x", "ts", "7"), "ts", "7")

	// headerName is the key Flume reads; "header" is unknown.
	checkConfigError(t, TimestampFactory(), map[string]string{"header": "ts"}, `test.conf:2: a1.sources.r1.interceptors.i1.header: unknown property "header"`)
	checkConfigError(t, TimestampFactory(), map[string]string{"preserveExisting": "yes"}, `"yes" is not true or false`)

	// Only the named header is touched.
	out := one(t, mustInterceptor(t, TimestampFactory(), map[string]string{"headerName": "ts"}), ev("x", "timestamp", "1"))
	if out.Headers["timestamp"] != "1" || len(out.Headers) != 2 {
		t.Fatalf("headers %v", out.Headers)
	}
}

func TestHost(t *testing.T) {
	name, err := os.Hostname()
	if err != nil {
		t.Fatal(err)
	}
	f := func(props map[string]string, in event.Event, header string, check func(string) bool) {
		t.Helper()
		out := one(t, mustInterceptor(t, HostFactory(), props), in)
		v, ok := out.Headers[header]
		if !ok || !check(v) {
			t.Fatalf("%v: headers %v, header %q not as expected", props, out.Headers, header)
		}
	}
	isIPv4 := func(v string) bool { ip := net.ParseIP(v); return ip != nil && ip.To4() != nil }
	isName := func(v string) bool { return v == name }
	is := func(want string) func(string) bool { return func(v string) bool { return v == want } }

	f(nil, ev("x"), "host", isIPv4) // useIP defaults to true; nil Headers created
	f(map[string]string{"useIP": "true"}, ev("x"), "host", isIPv4)
	f(map[string]string{"useIP": "false"}, ev("x"), "host", isName)
	f(map[string]string{"useIP": "false", "hostHeader": "hostname"}, ev("x"), "hostname", isName)
	f(map[string]string{"hostHeader": "hostname", "preserveExisting": "false"}, ev("x", "hostname", "old"), "hostname", isIPv4)
	f(nil, ev("x", "host", "old"), "host", isIPv4) // preserveExisting defaults to false
	f(map[string]string{"preserveExisting": "true"}, ev("x", "host", "old"), "host", is("old"))
	checkConfigError(t, HostFactory(), map[string]string{"useIp": "false"}, `unknown property "useIp"`)
}

func TestStatic(t *testing.T) {
	f := func(props map[string]string, in event.Event, want map[string]string) {
		t.Helper()
		checkHeaders(t, one(t, mustInterceptor(t, StaticFactory(), props), in), want)
	}
	f(nil, ev("x"), map[string]string{"key": "value"}) // Flume's defaults
	f(map[string]string{"key": "datacenter", "value": "NEW_YORK"}, ev("x"), map[string]string{"datacenter": "NEW_YORK"})
	// preserveExisting defaults to true for static.
	f(map[string]string{"key": "datacenter", "value": "NEW_YORK"}, ev("x", "datacenter", "LA"), map[string]string{"datacenter": "LA"})
	f(map[string]string{"key": "datacenter", "value": "NEW_YORK", "preserveExisting": "false"}, ev("x", "datacenter", "LA"), map[string]string{"datacenter": "NEW_YORK"})
	f(map[string]string{"key": "dc", "value": ""}, ev("x", "a", "1"), map[string]string{"a": "1", "dc": ""})
}

func TestRemoveHeader(t *testing.T) {
	in := func() event.Event {
		return ev("x", "a", "1", "b", "2", "c", "3", "x-1", "4", "x-2", "5", "ax-1", "6", "y", "7")
	}
	f := func(props map[string]string, want ...string) {
		t.Helper()
		out := one(t, mustInterceptor(t, RemoveHeaderFactory(), props), in())
		var got []string
		for k := range out.Headers {
			got = append(got, k)
		}
		slices.Sort(got)
		if !slices.Equal(got, want) {
			t.Fatalf("%v: headers left %v, want %v", props, got, want)
		}
	}
	all := []string{"a", "ax-1", "b", "c", "x-1", "x-2", "y"}
	f(nil, all...) // nothing configured: nothing removed
	f(map[string]string{"withName": "a"}, "ax-1", "b", "c", "x-1", "x-2", "y")
	f(map[string]string{"withName": "nosuch"}, all...)
	// The default separator is \s*,\s*.
	f(map[string]string{"fromList": "a, b ,c"}, "ax-1", "x-1", "x-2", "y")
	f(map[string]string{"fromList": "a,b,"}, "ax-1", "c", "x-1", "x-2", "y") // trailing separator
	f(map[string]string{"fromList": "a|b", "fromListSeparator": `\|`}, "ax-1", "c", "x-1", "x-2", "y")
	f(map[string]string{"fromList": "a b", "fromListSeparator": `\s+`}, "ax-1", "c", "x-1", "x-2", "y")
	// matching must match the whole name, as Java's Matcher.matches().
	f(map[string]string{"matching": "x-.*"}, "a", "ax-1", "b", "c", "y")
	f(map[string]string{"matching": "x-"}, all...)
	f(map[string]string{"matching": "[ab]"}, "ax-1", "c", "x-1", "x-2", "y")
	f(map[string]string{"matching": "a|x-1"}, "ax-1", "b", "c", "x-2", "y") // alternation is anchored as a whole
	// All three at once.
	f(map[string]string{"withName": "y", "fromList": "a,b", "matching": ".*-2"}, "ax-1", "c", "x-1")

	// Nil headers stay nil and do not panic.
	if out := one(t, mustInterceptor(t, RemoveHeaderFactory(), map[string]string{"withName": "a"}), ev("x")); out.Headers != nil {
		t.Fatalf("headers %v", out.Headers)
	}

	// Bad regexes are configuration errors, found by Validate.
	checkConfigError(t, RemoveHeaderFactory(), map[string]string{"matching": "("}, "test.conf:1: a1.sources.r1.interceptors.i1: matching: error parsing regexp")
	checkConfigError(t, RemoveHeaderFactory(), map[string]string{"matching": "a)|(b"}, "matching: error parsing regexp")
	checkConfigError(t, RemoveHeaderFactory(), map[string]string{"fromList": "a", "fromListSeparator": "["}, "fromListSeparator: error parsing regexp")
}

var uuidV4 = regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$`)

func TestUUID(t *testing.T) {
	ic := mustInterceptor(t, UUIDFactory(), nil)
	out := one(t, ic, ev("x")) // nil Headers: created
	if id := out.Headers["id"]; !uuidV4.MatchString(id) {
		t.Fatalf("id %q is not an RFC 4122 version 4 UUID", id)
	}

	// Unique over 100k events.
	seen := make(map[string]bool, 100_000)
	batch := make([]event.Event, 1000)
	for range 100 {
		for i := range batch {
			batch[i] = event.Event{}
		}
		for _, e := range ic.Intercept(batch) {
			id := e.Headers["id"]
			if !uuidV4.MatchString(id) {
				t.Fatalf("id %q is not an RFC 4122 version 4 UUID", id)
			}
			if seen[id] {
				t.Fatalf("duplicate id %s after %d", id, len(seen))
			}
			seen[id] = true
		}
	}

	f := func(props map[string]string, in event.Event, header, keep, prefix string) {
		t.Helper()
		out := one(t, mustInterceptor(t, UUIDFactory(), props), in)
		v := out.Headers[header]
		if keep != "" {
			if v != keep {
				t.Fatalf("%v: %s = %q, want the existing %q", props, header, v, keep)
			}
			return
		}
		rest, ok := strings.CutPrefix(v, prefix)
		if !ok || !uuidV4.MatchString(rest) {
			t.Fatalf("%v: %s = %q, want %q + a version 4 UUID", props, header, v, prefix)
		}
	}
	f(nil, ev("x", "id", "mine"), "id", "mine", "") // preserveExisting defaults to true
	f(map[string]string{"preserveExisting": "false"}, ev("x", "id", "mine"), "id", "", "")
	f(map[string]string{"headerName": "eventId"}, ev("x", "id", "mine"), "eventId", "", "")
	f(map[string]string{"prefix": "host1-"}, ev("x"), "id", "", "host1-")
	f(map[string]string{"prefix": "p:", "headerName": "uid", "preserveExisting": "false"}, ev("x", "uid", "old"), "uid", "", "p:")
}

func TestSearchReplace(t *testing.T) {
	f := func(props map[string]string, body, want string) {
		t.Helper()
		out := one(t, mustInterceptor(t, SearchReplaceFactory(), props), ev(body))
		if string(out.Body) != want {
			t.Fatalf("%v on %q: %q, want %q", props, body, out.Body, want)
		}
	}
	sr := func(search, replace string) map[string]string {
		return map[string]string{"searchPattern": search, "replaceString": replace}
	}
	// The user guide's examples.
	f(sr(`^[A-Za-z0-9_]+`, ""), "lorem_ipsum dolor", " dolor")
	f(sr(`^[A-Za-z0-9_]+`, ""), " leading space", " leading space")
	f(map[string]string{"searchPattern": `^[A-Za-z0-9_]+`}, "abc def", " def") // replaceString absent: ""
	f(sr(`The quick brown ([a-z]+) jumped over the lazy ([a-z]+)`, `The hungry $2 ate the careless $1`),
		"The quick brown fox jumped over the lazy dog", "The hungry dog ate the careless fox")
	// Every match is replaced, as replaceAll does.
	f(sr(`(\d{3})-(\d{3})`, `$2-$1`), "call 555-123 or 555-456", "call 123-555 or 456-555")
	f(sr(`(\d{3})-(\d{3})`, `[$0]`), "555-123", "[555-123]")
	// Java's reading of "$": the longest group number that exists, then
	// literal digits; letters after a number are literal.
	f(sr(`(\d{3})-(\d{3})`, `$1x$2`), "555-123", "555x123")
	f(sr(`(\d{3})-(\d{3})`, `$12`), "555-123", "5552")
	f(sr(`(a)(b)(c)(d)(e)(f)(g)(h)(i)(j)(k)`, `$11-$10-$1`), "abcdefghijk", "k-j-a")
	f(sr(`(?<area>\d{3})-(?<num>\d{3})`, `${num}/${area}`), "555-123", "123/555")
	f(sr(`(?P<area>\d{3})-(\d{3})`, `${area}`), "555-123", "555")
	// Backslash quotes the next character.
	f(sr(`(\d+)`, `\$$1`), "cost 5", "cost $5")
	f(sr(`x`, `\\`), "axb", `a\b`)
	f(sr(`x`, `\y`), "axb", "ayb")
	// A group that took no part in the match gives "".
	f(sr(`(a)|(b)`, `[$1$2]`), "ab", "[a][b]")
	// Bodies that do not match are unchanged.
	f(sr(`zzz`, "y"), "abc", "abc")
	f(map[string]string{"searchPattern": "é", "replaceString": "e", "charset": "utf-8"}, "café", "cafe")
	f(map[string]string{"searchPattern": "a", "replaceString": "b", "charset": "UTF8"}, "a", "b")

	bad := func(props map[string]string, want string) {
		t.Helper()
		checkConfigError(t, SearchReplaceFactory(), props, want)
	}
	bad(map[string]string{"replaceString": "x"}, "test.conf:1: a1.sources.r1.interceptors.i1.searchPattern: required property is missing")
	bad(sr("", "x"), "searchPattern must not be empty")
	bad(sr("(", "x"), "searchPattern: error parsing regexp")
	bad(sr(`a(?=b)`, "x"), "searchPattern: error parsing regexp") // lookahead: Java has it, RE2 does not
	bad(map[string]string{"searchPattern": "a", "charset": "ISO-8859-1"}, `charset "ISO-8859-1": only UTF-8 is supported`)
	bad(map[string]string{"searchPattern": "a", "charset": "latin1"}, `only UTF-8 is supported`)
	bad(sr(`(\d)`, "$2"), "no group 2 in searchPattern (it has 1)")
	bad(sr(`(\d)`, "$x"), "illegal group reference $x")
	bad(sr(`(\d)`, "cost $"), "group index is missing")
	bad(sr(`(\d)`, `a\`), "character to be escaped is missing")
	bad(sr(`(\d)`, "${nope}"), `no group named "nope"`)
	bad(sr(`(\d)`, "${}"), "has no name")
	bad(sr(`(\d)`, "${a"), "missing its closing '}'")
	bad(sr(`(\d)`, "${1}"), "starts with a digit")
}

func TestRegexFilter(t *testing.T) {
	bodies := func(b []event.Event) []string {
		var s []string
		for _, e := range b {
			s = append(s, string(e.Body))
		}
		return s
	}
	input := []string{"ERROR disk", "INFO ok", "WARN slow", "ERROR net", "INFO done"}
	f := func(props map[string]string, want ...string) {
		t.Helper()
		ic := mustInterceptor(t, RegexFilterFactory(), props)
		batch := make([]event.Event, len(input))
		for i, s := range input {
			batch[i] = ev(s, "n", strconv.Itoa(i))
		}
		orig := slices.Clone(batch)
		out := ic.Intercept(batch)
		if got := bodies(out); !slices.Equal(got, want) {
			t.Fatalf("%v: kept %q, want %q", props, got, want)
		}
		// The source's batch is as it was, whatever was dropped.
		if got := bodies(batch); !slices.Equal(got, input) {
			t.Fatalf("%v: the source's batch became %q", props, got)
		}
		for i := range batch {
			if batch[i].Headers["n"] != orig[i].Headers["n"] || &batch[i].Body[0] != &orig[i].Body[0] {
				t.Fatalf("%v: event %d of the source's batch was changed", props, i)
			}
		}
		// Nothing dropped: the batch itself comes back, no copy.
		if len(out) == len(batch) && len(out) > 0 && &out[0] != &batch[0] {
			t.Fatalf("%v: nothing dropped but the batch was copied", props)
		}
	}
	f(nil, input...) // regex defaults to ".*": everything kept
	f(map[string]string{"regex": "^ERROR"}, "ERROR disk", "ERROR net")
	f(map[string]string{"regex": "^ERROR", "excludeEvents": "false"}, "ERROR disk", "ERROR net")
	f(map[string]string{"regex": "^ERROR", "excludeEvents": "true"}, "INFO ok", "WARN slow", "INFO done")
	f(map[string]string{"regex": "o"}, "INFO ok", "WARN slow", "INFO done") // a match anywhere, as find()
	f(map[string]string{"regex": "^INFO", "excludeEvents": "true"}, "ERROR disk", "WARN slow", "ERROR net")
	f(map[string]string{"regex": "nothing"})
	f(map[string]string{"regex": ".", "excludeEvents": "true"})
	f(map[string]string{"regex": "done$"}, "INFO done")

	if out := mustInterceptor(t, RegexFilterFactory(), map[string]string{"regex": "x"}).Intercept(nil); len(out) != 0 {
		t.Fatalf("empty batch: %v", out)
	}
	checkConfigError(t, RegexFilterFactory(), map[string]string{"regex": "(["}, "regex: error parsing regexp")
	checkConfigError(t, RegexFilterFactory(), map[string]string{"regex": "a", "excludeEvents": "1"}, `"1" is not true or false`)
}

// TestNilHeadersCreated: every interceptor that adds a header creates the
// map of an event that has none.
func TestNilHeadersCreated(t *testing.T) {
	cases := []struct {
		f      component.InterceptorFactory
		props  map[string]string
		header string
	}{
		{TimestampFactory(), nil, "timestamp"},
		{HostFactory(), nil, "host"},
		{StaticFactory(), nil, "key"},
		{UUIDFactory(), nil, "id"},
		{RegexExtractorFactory(), map[string]string{"regex": "(.)", "serializers": "s1", "serializers.s1.name": "first"}, "first"},
	}
	for _, c := range cases {
		out := one(t, mustInterceptor(t, c.f, c.props), event.Event{Body: []byte("x")})
		if _, ok := out.Headers[c.header]; !ok {
			t.Errorf("%s: header %q not set on an event with nil Headers: %v", c.f.Type, c.header, out.Headers)
		}
	}
}

// TestConcurrentBatches runs every interceptor from several goroutines at
// once, as a netcat or http source does with one goroutine per connection;
// the race detector checks them.
func TestConcurrentBatches(t *testing.T) {
	props := map[string]map[string]string{
		"search_replace":  {"searchPattern": "a", "replaceString": "b"},
		"regex_extractor": {"regex": "(.)", "serializers": "s1", "serializers.s1.name": "first"},
		"regex_filter":    {"regex": "[02468]$"},
		"remove_header":   {"matching": "h.*"},
	}
	for _, f := range All() {
		ic := mustInterceptor(t, f, props[f.Type])
		var wg sync.WaitGroup
		ids := make([][]string, 8)
		for g := range ids {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for range 20 {
					batch := make([]event.Event, 50)
					for i := range batch {
						batch[i] = ev(fmt.Sprintf("a%d", i), "h1", "x")
					}
					for _, e := range ic.Intercept(batch) {
						if id, ok := e.Headers["id"]; ok {
							ids[g] = append(ids[g], id)
						}
					}
				}
			}()
		}
		wg.Wait()
		if f.Type == "uuid" {
			seen := map[string]bool{}
			for _, l := range ids {
				for _, id := range l {
					if seen[id] {
						t.Fatalf("uuid: duplicate %s across goroutines", id)
					}
					seen[id] = true
				}
			}
			if len(seen) != 8*20*50 {
				t.Fatalf("uuid: %d ids, want %d", len(seen), 8*20*50)
			}
		}
	}
}
