package interceptor

import (
	"fmt"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/vscope/vscope/agent/component"
	"github.com/vscope/vscope/agent/event"
)

// RegexExtractorConfig: Flume's RegexExtractorInterceptor. Serializers
// holds the serializers.* keys: "s1.name", "s1.type", "s1.pattern".
type RegexExtractorConfig struct {
	Regex       string            `prop:"regex,required"`
	Names       []string          `prop:"serializers,required"`
	Serializers map[string]string `prop:"serializers.*"`

	re     *regexp.Regexp
	fields []extractField
}

// extractField is where capture group i+1 goes and how it is written.
type extractField struct {
	header string
	millis string // Go time layout; empty writes the group as is
}

// millisSerializer is Flume's serializer that turns a date into epoch
// milliseconds.
const millisSerializer = "org.apache.flume.interceptor.RegexExtractorInterceptorMillisSerializer"

// passThroughSerializer is Flume's default serializer: the group as is.
const passThroughSerializer = "org.apache.flume.interceptor.RegexExtractorInterceptorPassThroughSerializer"

// Validate compiles the regex and matches serializers to groups.
func (c *RegexExtractorConfig) Validate() error {
	if c.Regex == "" {
		return fmt.Errorf("regex must not be empty")
	}
	if len(c.Names) == 0 {
		return fmt.Errorf("serializers must name at least one serializer")
	}
	re, err := regexp.Compile(c.Regex)
	if err != nil {
		return fmt.Errorf("regex: %w", err)
	}
	c.re = re
	known := map[string]bool{}
	for _, n := range c.Names {
		known[n] = true
	}
	var unknown []string
	for k := range c.Serializers {
		n, prop, _ := strings.Cut(k, ".")
		if !known[n] {
			unknown = append(unknown, fmt.Sprintf("serializer %q is not listed in serializers", n))
		} else if prop != "name" && prop != "type" && prop != "pattern" {
			unknown = append(unknown, fmt.Sprintf("unknown serializer property %q", k))
		}
	}
	sort.Strings(unknown)
	if len(unknown) > 0 {
		return fmt.Errorf("%s", strings.Join(unknown, "; "))
	}
	if len(c.Names) > re.NumSubexp() {
		return fmt.Errorf("%d serializers but the regex has %d groups", len(c.Names), re.NumSubexp())
	}
	c.fields = nil
	for _, n := range c.Names {
		f := extractField{header: c.Serializers[n+".name"]}
		if f.header == "" {
			return fmt.Errorf("serializers.%s.name is required", n)
		}
		switch typ := strings.TrimSpace(c.Serializers[n+".type"]); {
		case typ == "", strings.EqualFold(typ, "default"), typ == passThroughSerializer:
		case typ == millisSerializer:
			p := c.Serializers[n+".pattern"]
			if p == "" {
				return fmt.Errorf("serializers.%s.pattern is required by %s", n, typ)
			}
			layout, err := jodaToGo(p)
			if err != nil {
				return fmt.Errorf("serializers.%s.pattern: %w", n, err)
			}
			f.millis = layout
		default:
			return fmt.Errorf("serializers.%s.type: unknown serializer %q", n, typ)
		}
		c.fields = append(c.fields, f)
	}
	return nil
}

// jodaFields maps Joda-Time pattern letters, by run length, to Go layout
// elements. Only what both libraries can parse is listed; anything else is
// a configuration error rather than a silently wrong timestamp.
var jodaFields = []struct{ joda, gol string }{
	{"yyyy", "2006"}, {"yy", "06"},
	{"MMMM", "January"}, {"MMM", "Jan"}, {"MM", "01"}, {"M", "1"},
	{"dd", "02"}, {"d", "2"},
	{"EEEE", "Monday"}, {"EEE", "Mon"},
	{"HH", "15"}, {"H", "15"}, // Go's "15" parses one or two digits
	{"hh", "03"}, {"h", "3"},
	{"mm", "04"}, {"m", "4"},
	{"ss", "05"}, {"s", "5"},
	{"SSS", "000"},
	{"a", "PM"},
	{"ZZ", "-07:00"}, {"Z", "-0700"},
}

// jodaToGo converts a Joda-Time pattern (what Flume's millis serializer
// takes) to a Go time layout. Text in single quotes is literal and two
// single quotes stand for one; other ASCII letters must be known fields.
func jodaToGo(p string) (string, error) {
	var b strings.Builder
	for i := 0; i < len(p); {
		c := p[i]
		switch {
		case c == '\'':
			var lit strings.Builder
			i++
			for {
				if i == len(p) {
					return "", fmt.Errorf("unterminated quote in date pattern %q", p)
				}
				if p[i] == '\'' {
					if i+1 < len(p) && p[i+1] == '\'' {
						lit.WriteByte('\'')
						i += 2
						continue
					}
					i++
					break
				}
				lit.WriteByte(p[i])
				i++
			}
			if lit.Len() == 0 { // '' outside a quote: one quote
				lit.WriteByte('\'')
			}
			if err := checkLiteral(lit.String(), p); err != nil {
				return "", err
			}
			b.WriteString(lit.String())
		case c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z':
			n := 1
			for i+n < len(p) && p[i+n] == c {
				n++
			}
			run := p[i : i+n]
			gol := ""
			for _, f := range jodaFields {
				if f.joda == run {
					gol = f.gol
					break
				}
			}
			if gol == "" {
				return "", fmt.Errorf("unsupported date pattern field %q in %q", run, p)
			}
			if run == "SSS" && (i == 0 || (p[i-1] != '.' && p[i-1] != ',')) {
				return "", fmt.Errorf("date pattern %q: SSS must follow '.' or ','", p)
			}
			b.WriteString(gol)
			i += n
		default:
			if err := checkLiteral(string(c), p); err != nil {
				return "", err
			}
			b.WriteByte(c)
			i++
		}
	}
	return b.String(), nil
}

// checkLiteral rejects literal text that Go would read as a layout
// element (digits, or words such as "Jan", "Mon", "PM", "MST").
func checkLiteral(lit, p string) error {
	for _, w := range []string{"Jan", "Mon", "MST", "PM", "pm"} {
		if strings.Contains(lit, w) {
			return fmt.Errorf("date pattern %q: literal %q cannot be expressed as a Go layout", p, lit)
		}
	}
	if strings.ContainsAny(lit, "0123456789") {
		return fmt.Errorf("date pattern %q: literal digits %q cannot be expressed as a Go layout", p, lit)
	}
	return nil
}

// RegexExtractorFactory copies the regex's capture groups into headers.
func RegexExtractorFactory() component.InterceptorFactory {
	return factory("regex_extractor", "org.apache.flume.interceptor.RegexExtractorInterceptor$Builder",
		func() *RegexExtractorConfig { return &RegexExtractorConfig{} },
		func(c *RegexExtractorConfig) (component.Interceptor, error) {
			re, fields := c.re, c.fields
			return component.InterceptorFunc(func(b []event.Event) []event.Event {
				for i := range b {
					m := re.FindSubmatchIndex(b[i].Body)
					if m == nil {
						continue
					}
					for j, f := range fields {
						lo, hi := m[2*j+2], m[2*j+3]
						if lo < 0 {
							continue // the group took no part in the match
						}
						v := string(b[i].Body[lo:hi])
						if f.millis != "" {
							t, err := time.ParseInLocation(f.millis, v, time.Local)
							if err != nil {
								// Flume's serializer throws and the whole
								// batch fails; here only this header is
								// left unset.
								continue
							}
							v = strconv.FormatInt(t.UnixMilli(), 10)
						}
						setHeader(&b[i], f.header, v, false)
					}
				}
				return b
			}), nil
		})
}
