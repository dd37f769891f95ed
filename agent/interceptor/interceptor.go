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
			return build(cfg.(*C))
		},
	}
}

// TimestampConfig: Flume's TimestampInterceptor.
type TimestampConfig struct {
	PreserveExisting bool   `prop:"preserveExisting"`
	Header           string `prop:"header"`
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
}

// RemoveHeaderFactory removes headers by name, by list or by regex.
func RemoveHeaderFactory() component.InterceptorFactory {
	return factory("remove_header", "org.apache.flume.interceptor.RemoveHeaderInterceptor$Builder",
		func() *RemoveHeaderConfig { return &RemoveHeaderConfig{FromListSeparator: `\s*,\s*`} },
		func(c *RemoveHeaderConfig) (component.Interceptor, error) {
			names := map[string]bool{}
			if c.WithName != "" {
				names[c.WithName] = true
			}
			if c.FromList != "" {
				sep, err := regexp.Compile(c.FromListSeparator)
				if err != nil {
					return nil, fmt.Errorf("fromListSeparator: %w", err)
				}
				for _, n := range sep.Split(c.FromList, -1) {
					names[n] = true
				}
			}
			var match *regexp.Regexp
			if c.Matching != "" {
				m, err := regexp.Compile(c.Matching)
				if err != nil {
					return nil, fmt.Errorf("matching: %w", err)
				}
				match = m
			}
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
			return component.InterceptorFunc(func(b []event.Event) []event.Event {
				var u [16]byte
				var s [36]byte
				for i := range b {
					if _, ok := b[i].Headers[c.HeaderName]; ok && c.PreserveExisting {
						continue
					}
					mu.Lock()
					_, _ = gen.Read(u[:])
					mu.Unlock()
					setHeader(&b[i], c.HeaderName, c.Prefix+formatUUID(&u, &s), false)
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
}

// Validate checks the pattern and the charset.
func (c *SearchReplaceConfig) Validate() error {
	if _, err := regexp.Compile(c.SearchPattern); err != nil {
		return fmt.Errorf("searchPattern: %w", err)
	}
	if cs := strings.ToUpper(c.Charset); cs != "UTF-8" && cs != "UTF8" {
		return fmt.Errorf("charset %q: only UTF-8 is supported", c.Charset)
	}
	return nil
}

// SearchReplaceFactory rewrites bodies with a regular expression. The
// replacement uses $1 / ${name} for groups, as Java's does.
func SearchReplaceFactory() component.InterceptorFactory {
	return factory("search_replace", "org.apache.flume.interceptor.SearchAndReplaceInterceptor$Builder",
		func() *SearchReplaceConfig { return &SearchReplaceConfig{Charset: "UTF-8"} },
		func(c *SearchReplaceConfig) (component.Interceptor, error) {
			re := regexp.MustCompile(c.SearchPattern) // checked by Validate
			repl := []byte(c.ReplaceString)
			return component.InterceptorFunc(func(b []event.Event) []event.Event {
				for i := range b {
					b[i].Body = re.ReplaceAll(b[i].Body, repl)
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
			re := regexp.MustCompile(c.Regex)
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
