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
	Names       []string          `prop:"serializers"`
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

// Validate compiles the regex and matches serializers to groups.
func (c *RegexExtractorConfig) Validate() error {
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
		switch typ := c.Serializers[n+".type"]; typ {
		case "", "default", "org.apache.flume.interceptor.RegexExtractorInterceptorPassThroughSerializer":
		case millisSerializer:
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

// jodaToGo converts the common Joda-Time/SimpleDateFormat letters to a Go
// layout.
func jodaToGo(p string) (string, error) {
	repl := []struct{ joda, gol string }{
		{"yyyy", "2006"}, {"yy", "06"}, {"MMM", "Jan"}, {"MM", "01"}, {"dd", "02"},
		{"HH", "15"}, {"hh", "03"}, {"mm", "04"}, {"ss", "05"}, {"SSS", "000"},
		{"a", "PM"}, {"Z", "-0700"}, {"EEE", "Mon"},
	}
	var b strings.Builder
	for i := 0; i < len(p); {
		matched := false
		for _, r := range repl {
			if strings.HasPrefix(p[i:], r.joda) {
				b.WriteString(r.gol)
				i += len(r.joda)
				matched = true
				break
			}
		}
		if matched {
			continue
		}
		c := p[i]
		if (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') {
			return "", fmt.Errorf("unsupported date pattern letter %q in %q", c, p)
		}
		b.WriteByte(c)
		i++
	}
	return b.String(), nil
}

// RegexExtractorFactory copies the regex's capture groups into headers.
func RegexExtractorFactory() component.InterceptorFactory {
	return factory("regex_extractor", "org.apache.flume.interceptor.RegexExtractorInterceptor$Builder",
		func() *RegexExtractorConfig { return &RegexExtractorConfig{} },
		func(c *RegexExtractorConfig) (component.Interceptor, error) {
			if c.re == nil {
				if err := c.Validate(); err != nil {
					return nil, err
				}
			}
			return component.InterceptorFunc(func(b []event.Event) []event.Event {
				for i := range b {
					m := c.re.FindSubmatch(b[i].Body)
					if m == nil {
						continue
					}
					for j, f := range c.fields {
						v := string(m[j+1])
						if f.millis != "" {
							t, err := time.ParseInLocation(f.millis, v, time.Local)
							if err != nil {
								continue // Flume leaves the header unset too
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
