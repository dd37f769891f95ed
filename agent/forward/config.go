package forward

import (
	"errors"
	"fmt"
	"net"
	"sort"
	"strconv"
	"strings"
	"time"
)

// sslConfig is the TLS part of the forward source's and sink's
// configuration (the same properties on both: Flume's names where they
// exist, PEM files in place of Java keystores).
type sslConfig struct {
	SSL                                            bool
	Cert, Key, CA                                  string
	ExcludeProtocols, IncludeProtocols             string
	ExcludeCipherSuites, IncludeCipherSuites       string
	Keystore, KeystorePassword, KeystoreType       string
	Truststore, TruststorePassword, TruststoreType string
}

func (c *sslConfig) validate() []error {
	var errs []error
	if c.Keystore != "" || c.KeystorePassword != "" || c.KeystoreType != "" {
		errs = append(errs, errors.New("keystore, keystore-password and keystore-type are Java KeyStore settings: vscope reads PEM files, set ssl.cert and ssl.key"))
	}
	if c.Truststore != "" || c.TruststorePassword != "" || c.TruststoreType != "" {
		errs = append(errs, errors.New("truststore, truststore-password and truststore-type are Java KeyStore settings: vscope reads PEM files, set ssl.ca"))
	}
	if !c.SSL && (c.Cert != "" || c.Key != "" || c.CA != "") {
		errs = append(errs, errors.New("ssl.cert, ssl.key and ssl.ca need ssl = true"))
	}
	if (c.Cert == "") != (c.Key == "") {
		errs = append(errs, errors.New("ssl.cert and ssl.key go together"))
	}
	if _, _, err := versionRange(splitList(c.IncludeProtocols), splitList(c.ExcludeProtocols)); err != nil {
		errs = append(errs, err)
	}
	if _, err := cipherSuites(splitList(c.IncludeCipherSuites), splitList(c.ExcludeCipherSuites)); err != nil {
		errs = append(errs, err)
	}
	return errs
}

func (c *sslConfig) options() TLSOptions {
	return TLSOptions{
		Cert: c.Cert, Key: c.Key, CA: c.CA,
		IncludeProtocols: splitList(c.IncludeProtocols), ExcludeProtocols: splitList(c.ExcludeProtocols),
		IncludeCipherSuites: splitList(c.IncludeCipherSuites), ExcludeCipherSuites: splitList(c.ExcludeCipherSuites),
	}
}

// checkAddr checks a host:port member address.
func checkAddr(a string) error {
	host, port, err := net.SplitHostPort(a)
	if err != nil {
		return fmt.Errorf("member %q is not host:port", a)
	}
	if host == "" {
		return fmt.Errorf("member %q has no host", a)
	}
	p, err := strconv.Atoi(port)
	if err != nil || p < 1 || p > 65535 {
		return fmt.Errorf("member %q: port must be 1 to 65535", a)
	}
	return nil
}

// GroupSpec is one group defined in a forward sink's properties:
// groups.NAME.members, .file, .mode, .backoff, .maxBackoff,
// .checkInterval.
type GroupSpec struct {
	Name          string
	Members       []string
	File          string
	Mode          Mode
	Backoff       time.Duration
	MaxBackoff    time.Duration
	CheckInterval time.Duration
}

var groupKeys = []string{"members", "file", "mode", "backoff", "maxBackoff", "checkInterval"}

// parseGroups turns the groups.* properties of a sink into specs.
func parseGroups(props map[string]string) (map[string]*GroupSpec, []error) {
	var errs []error
	out := map[string]*GroupSpec{}
	keys := make([]string, 0, len(props))
	for k := range props {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		v := strings.TrimSpace(props[k])
		name, key, ok := strings.Cut(k, ".")
		if !ok || name == "" {
			errs = append(errs, fmt.Errorf("groups.%s: expected groups.NAME.{%s}", k, strings.Join(groupKeys, ",")))
			continue
		}
		g := out[name]
		if g == nil {
			g = &GroupSpec{Name: name, Backoff: time.Second, MaxBackoff: 30 * time.Second, CheckInterval: time.Second}
			out[name] = g
		}
		ms := func() time.Duration {
			n, err := strconv.ParseInt(v, 10, 64)
			if err != nil || n <= 0 {
				errs = append(errs, fmt.Errorf("groups.%s: %q is not a positive number of milliseconds", k, v))
				return 0
			}
			return time.Duration(n) * time.Millisecond
		}
		switch key {
		case "members":
			for _, a := range splitList(v) {
				if err := checkAddr(a); err != nil {
					errs = append(errs, fmt.Errorf("groups.%s: %w", k, err))
				}
				g.Members = append(g.Members, a)
			}
		case "file":
			g.File = v
		case "mode":
			m, err := ParseMode(v)
			if err != nil {
				errs = append(errs, fmt.Errorf("groups.%s: %w", k, err))
			}
			g.Mode = m
		case "backoff":
			g.Backoff = ms()
		case "maxBackoff":
			g.MaxBackoff = ms()
		case "checkInterval":
			g.CheckInterval = ms()
		default:
			errs = append(errs, fmt.Errorf("groups.%s: unknown group property %q (known: %s)", k, key, strings.Join(groupKeys, ", ")))
		}
	}
	for _, g := range out {
		switch {
		case len(g.Members) == 0 && g.File == "":
			errs = append(errs, fmt.Errorf("group %s: set groups.%s.members or groups.%s.file", g.Name, g.Name, g.Name))
		case len(g.Members) > 0 && g.File != "":
			errs = append(errs, fmt.Errorf("group %s: set groups.%s.members or groups.%s.file, not both", g.Name, g.Name, g.Name))
		}
		if g.MaxBackoff > 0 && g.Backoff > g.MaxBackoff {
			errs = append(errs, fmt.Errorf("group %s: backoff %v exceeds maxBackoff %v", g.Name, g.Backoff, g.MaxBackoff))
		}
	}
	return out, errs
}

// millis converts a millisecond property.
func millis(ms int64) time.Duration { return time.Duration(ms) * time.Millisecond }
