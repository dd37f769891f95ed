package interceptor

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	mrand "math/rand/v2"
	"net"
	"os"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/vscope/vscope/agent/component"
	"github.com/vscope/vscope/agent/event"
)

// All returns the factories of every interceptor type.
func All() []component.InterceptorFactory {
	return []component.InterceptorFactory{
		TimestampFactory(), HostFactory(), StaticFactory(), RemoveHeaderFactory(),
		UUIDFactory(), SearchReplaceFactory(), RegexFilterFactory(), RegexExtractorFactory(),
	}
}

func setHeader(e *event.Event, k, v string, preserve bool) {
	if e.Headers == nil {
		e.Headers = make(map[string]string, 2)
	} else if _, ok := e.Headers[k]; ok && preserve {
		return
	}
	e.Headers[k] = v
}

// factory builds an InterceptorFactory from a typed constructor.
func factory[C any](typ, alias string, defaults func() *C, build func(*C) (component.Interceptor, error)) component.InterceptorFactory {
	return component.InterceptorFactory{
		Type:      typ,
		Aliases:   []string{alias},
		NewConfig: func() component.Config { return defaults() },
		Create: func(_ component.Settings, cfg component.Config) (component.Interceptor, error) {
			c := cfg.(*C)
			// A config built by hand (not decoded) is checked too, so a
			// bad pattern is an error here rather than a panic later.
			if v, ok := any(c).(component.Validator); ok {
				if err := v.Validate(); err != nil {
					return nil, err
				}
			}
			return build(c)
		},
	}
}

// TimestampConfig: Flume's TimestampInterceptor. The header's name is
// set with headerName, the key Flume's code reads (its class comment says
// "header", which Flume ignores).
type TimestampConfig struct {
	PreserveExisting bool   `prop:"preserveExisting"`
	Header           string `prop:"headerName"`
}

// TimestampFactory sets a header to the time of interception, in epoch
// milliseconds.
func TimestampFactory() component.InterceptorFactory {
	return factory("timestamp", "org.apache.flume.interceptor.TimestampInterceptor$Builder",
		func() *TimestampConfig { return &TimestampConfig{Header: "timestamp"} },
		func(c *TimestampConfig) (component.Interceptor, error) {
			return component.InterceptorFunc(func(b []event.Event) []event.Event {
				now := strconv.FormatInt(time.Now().UnixMilli(), 10)
				for i := range b {
					setHeader(&b[i], c.Header, now, c.PreserveExisting)
				}
				return b
			}), nil
		})
}

// HostConfig: Flume's HostInterceptor.
type HostConfig struct {
	PreserveExisting bool   `prop:"preserveExisting"`
	UseIP            bool   `prop:"useIP"`
	HostHeader       string `prop:"hostHeader"`
}

// HostFactory sets a header to this host's IP address or name.
func HostFactory() component.InterceptorFactory {
	return factory("host", "org.apache.flume.interceptor.HostInterceptor$Builder",
		func() *HostConfig { return &HostConfig{UseIP: true, HostHeader: "host"} },
		func(c *HostConfig) (component.Interceptor, error) {
			host, err := localHost(c.UseIP)
			if err != nil {
				return nil, err
			}
			return component.InterceptorFunc(func(b []event.Event) []event.Event {
				for i := range b {
					setHeader(&b[i], c.HostHeader, host, c.PreserveExisting)
				}
				return b
			}), nil
		})
}

// localHost is the host name, or the first non-loopback IPv4 address (the
// loopback address if there is no other).
func localHost(useIP bool) (string, error) {
	name, err := os.Hostname()
	if err != nil {
		return "", fmt.Errorf("host interceptor: %w", err)
	}
	if !useIP {
		return name, nil
	}
	addrs, err := net.InterfaceAddrs()
	if err != nil {
		return "", fmt.Errorf("host interceptor: %w", err)
	}
	ip := "127.0.0.1"
	for _, a := range addrs {
		if n, ok := a.(*net.IPNet); ok && !n.IP.IsLoopback() && n.IP.To4() != nil {
			return n.IP.String(), nil
		}
	}
	return ip, nil
}

// StaticConfig: Flume's StaticInterceptor.
type StaticConfig struct {
	PreserveExisting bool   `prop:"preserveExisting"`
	Key              string `prop:"key"`
	Value            string `prop:"value"`
}

// StaticFactory sets one fixed header.
func StaticFactory() component.InterceptorFactory {
	return factory("static", "org.apache.flume.interceptor.StaticInterceptor$Builder",
		func() *StaticConfig { return &StaticConfig{PreserveExisting: true, Key: "key", Value: "value"} },
		func(c *StaticConfig) (component.Interceptor, error) {
			return component.InterceptorFunc(func(b []event.Event) []event.Event {
				for i := range b {
					setHeader(&b[i], c.Key, c.Value, c.PreserveExisting)
				}
				return b
			}), nil
		})
}

// RemoveHeaderConfig: Flume's RemoveHeaderInterceptor.
type RemoveHeaderConfig struct {
	WithName          string `prop:"withName"`
	FromList          string `prop:"fromList"`
	FromListSeparator string `prop:"fromListSeparator"`
	Matching          string `prop:"matching"`

	names map[string]bool
	match *regexp.Regexp
}

// Validate compiles fromListSeparator and matching and splits fromList.
func (c *RemoveHeaderConfig) Validate() error {
	c.names = map[string]bool{}
	if c.WithName != "" {
		c.names[c.WithName] = true
	}
	if c.FromList != "" {
		sep, err := regexp.Compile(c.FromListSeparator)
		if err != nil {
			return fmt.Errorf("fromListSeparator: %w", err)
		}
		for _, n := range sep.Split(c.FromList, -1) {
			if n != "" { // Java's split drops trailing empty strings
				c.names[n] = true
			}
		}
	}
	c.match = nil
	if c.Matching != "" {
		if _, err := regexp.Compile(c.Matching); err != nil {
			return fmt.Errorf("matching: %w", err)
		}
		// Java's Matcher.matches(): the whole name must match.
		m, err := regexp.Compile(`^(?:` + c.Matching + `)\z`)
		if err != nil {
			return fmt.Errorf("matching: %w", err)
		}
		c.match = m
	}
	return nil
}

// RemoveHeaderFactory removes headers by name, by list or by regex.
func RemoveHeaderFactory() component.InterceptorFactory {
	return factory("remove_header", "org.apache.flume.interceptor.RemoveHeaderInterceptor$Builder",
		func() *RemoveHeaderConfig { return &RemoveHeaderConfig{FromListSeparator: `\s*,\s*`} },
		func(c *RemoveHeaderConfig) (component.Interceptor, error) {
			names, match := c.names, c.match
			return component.InterceptorFunc(func(b []event.Event) []event.Event {
				for i := range b {
					for k := range b[i].Headers {
						if names[k] || (match != nil && match.MatchString(k)) {
							delete(b[i].Headers, k)
						}
					}
				}
				return b
			}), nil
		})
}

// UUIDConfig: Flume's UUIDInterceptor.
type UUIDConfig struct {
	HeaderName       string `prop:"headerName"`
	PreserveExisting bool   `prop:"preserveExisting"`
	Prefix           string `prop:"prefix"`
}

// UUIDFactory sets a header to a random (version 4) UUID.
func UUIDFactory() component.InterceptorFactory {
	f := factory("uuid", "org.apache.flume.sink.solr.morphline.UUIDInterceptor$Builder",
		func() *UUIDConfig { return &UUIDConfig{HeaderName: "id", PreserveExisting: true} },
		func(c *UUIDConfig) (component.Interceptor, error) {
			var seed [32]byte
			if _, err := rand.Read(seed[:]); err != nil {
				return nil, err
			}
			var mu sync.Mutex // the generator is shared by concurrent sources' goroutines
			gen := mrand.NewChaCha8(seed)
			header, prefix, preserve := c.HeaderName, c.Prefix, c.PreserveExisting
			return component.InterceptorFunc(func(b []event.Event) []event.Event {
				var u [16]byte
				var s [36]byte
				mu.Lock() // once per batch, not per event
				defer mu.Unlock()
				for i := range b {
					if _, ok := b[i].Headers[header]; ok && preserve {
						continue
					}
					_, _ = gen.Read(u[:])
					setHeader(&b[i], header, prefix+formatUUID(&u, &s), false)
				}
				return b
			}), nil
		})
	f.Aliases = append(f.Aliases, "org.apache.flume.interceptor.UUIDInterceptor$Builder")
	return f
}

func formatUUID(u *[16]byte, s *[36]byte) string {
	u[6] = u[6]&0x0f | 0x40 // version 4
	u[8] = u[8]&0x3f | 0x80 // RFC 4122 variant
	hex.Encode(s[0:8], u[0:4])
	s[8] = '-'
	hex.Encode(s[9:13], u[4:6])
	s[13] = '-'
	hex.Encode(s[14:18], u[6:8])
	s[18] = '-'
	hex.Encode(s[19:23], u[8:10])
	s[23] = '-'
	hex.Encode(s[24:], u[10:])
	return string(s[:])
}

// SearchReplaceConfig: Flume's SearchAndReplaceInterceptor.
type SearchReplaceConfig struct {
	SearchPattern string `prop:"searchPattern,required"`
	ReplaceString string `prop:"replaceString"`
	Charset       string `prop:"charset"`

	re   *regexp.Regexp
	tmpl []byte // ReplaceString as a Go template for Regexp.Expand
}

// Validate compiles the pattern, checks the charset and translates the
// replacement from Java's syntax.
func (c *SearchReplaceConfig) Validate() error {
	if c.SearchPattern == "" {
		return fmt.Errorf("searchPattern must not be empty")
	}
	re, err := regexp.Compile(c.SearchPattern)
	if err != nil {
		return fmt.Errorf("searchPattern: %w", err)
	}
	if cs := strings.ToUpper(c.Charset); cs != "UTF-8" && cs != "UTF8" {
		return fmt.Errorf("charset %q: only UTF-8 is supported", c.Charset)
	}
	tmpl, err := javaReplacement(c.ReplaceString, re)
	if err != nil {
		return fmt.Errorf("replaceString: %w", err)
	}
	c.re, c.tmpl = re, tmpl
	return nil
}

// javaReplacement translates a java.util.regex replacement string into a
// template for Go's Regexp.Expand: "$n" takes as many digits as still name
// a group of re (Java's rule: with 3 groups "$12" is group 1 then "2"),
// "${name}" is a named group, a backslash quotes the next character, and
// references to groups re does not have are errors, as Java's
// Matcher.appendReplacement reports them.
func javaReplacement(r string, re *regexp.Regexp) ([]byte, error) {
	var out []byte
	for i := 0; i < len(r); i++ {
		switch ch := r[i]; ch {
		case '\\':
			i++
			if i == len(r) {
				return nil, fmt.Errorf("character to be escaped is missing at the end of %q", r)
			}
			if r[i] == '$' {
				out = append(out, "$$"...)
			} else {
				out = append(out, r[i])
			}
		case '$':
			i++
			if i == len(r) {
				return nil, fmt.Errorf("illegal group reference: group index is missing at the end of %q", r)
			}
			if r[i] == '{' {
				j := i + 1
				for j < len(r) && isASCIIAlnum(r[j]) {
					j++
				}
				name := r[i+1 : j]
				switch {
				case name == "":
					return nil, fmt.Errorf("named group reference in %q has no name", r)
				case j == len(r) || r[j] != '}':
					return nil, fmt.Errorf("named group reference ${%s in %q is missing its closing '}'", name, r)
				case name[0] >= '0' && name[0] <= '9':
					return nil, fmt.Errorf("group name {%s} in %q starts with a digit", name, r)
				}
				n := re.SubexpIndex(name)
				if n < 0 {
					return nil, fmt.Errorf("no group named %q in searchPattern", name)
				}
				out = fmt.Appendf(out, "${%d}", n)
				i = j
				continue
			}
			if r[i] < '0' || r[i] > '9' {
				return nil, fmt.Errorf("illegal group reference $%c in %q (a group number or ${name}; write \\$ for a dollar sign)", r[i], r)
			}
			n := int(r[i] - '0')
			if n > re.NumSubexp() {
				return nil, fmt.Errorf("no group %d in searchPattern (it has %d)", n, re.NumSubexp())
			}
			for i+1 < len(r) && r[i+1] >= '0' && r[i+1] <= '9' {
				next := n*10 + int(r[i+1]-'0')
				if next > re.NumSubexp() {
					break
				}
				n = next
				i++
			}
			out = fmt.Appendf(out, "${%d}", n)
		default:
			out = append(out, ch)
		}
	}
	return out, nil
}

func isASCIIAlnum(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9'
}

// SearchReplaceFactory rewrites bodies with a regular expression, as
// Java's Matcher.replaceAll does: $1 and ${name} in replaceString are
// groups, \$ is a dollar sign.
func SearchReplaceFactory() component.InterceptorFactory {
	return factory("search_replace", "org.apache.flume.interceptor.SearchAndReplaceInterceptor$Builder",
		func() *SearchReplaceConfig { return &SearchReplaceConfig{Charset: "UTF-8"} },
		func(c *SearchReplaceConfig) (component.Interceptor, error) {
			re, tmpl := c.re, c.tmpl
			return component.InterceptorFunc(func(b []event.Event) []event.Event {
				for i := range b {
					b[i].Body = re.ReplaceAll(b[i].Body, tmpl)
				}
				return b
			}), nil
		})
}

// RegexFilterConfig: Flume's RegexFilteringInterceptor.
type RegexFilterConfig struct {
	Regex         string `prop:"regex"`
	ExcludeEvents bool   `prop:"excludeEvents"`
}

// Validate checks the pattern.
func (c *RegexFilterConfig) Validate() error {
	if _, err := regexp.Compile(c.Regex); err != nil {
		return fmt.Errorf("regex: %w", err)
	}
	return nil
}

// RegexFilterFactory keeps the events whose body matches (or, with
// excludeEvents, drops them).
func RegexFilterFactory() component.InterceptorFactory {
	return factory("regex_filter", "org.apache.flume.interceptor.RegexFilteringInterceptor$Builder",
		func() *RegexFilterConfig { return &RegexFilterConfig{Regex: ".*"} },
		func(c *RegexFilterConfig) (component.Interceptor, error) {
			// Java's matcher.find(): a match anywhere in the body.
			re, err := regexp.Compile(c.Regex)
			if err != nil {
				return nil, fmt.Errorf("regex: %w", err)
			}
			return component.InterceptorFunc(func(b []event.Event) []event.Event {
				// The source's batch is left as it was: a new slice is
				// made only when something is dropped.
				var out []event.Event
				for i, e := range b {
					keep := re.Match(e.Body) != c.ExcludeEvents
					switch {
					case !keep && out == nil:
						out = append(make([]event.Event, 0, len(b)), b[:i]...)
					case keep && out != nil:
						out = append(out, e)
					}
				}
				if out == nil {
					return b
				}
				return out
			}), nil
		})
}
