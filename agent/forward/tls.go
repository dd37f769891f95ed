package forward

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"os"
	"slices"
	"strings"
)

// TLSOptions are the TLS settings of one end, with PEM files in place of
// Flume's Java keystores and truststores.
type TLSOptions struct {
	// Cert and Key are PEM files: the server's certificate (required on a
	// server), or the client's certificate for mutual TLS.
	Cert, Key string
	// CA is a PEM file of certificate authorities: on a client, the ones
	// the server's certificate must chain to (default: the system's); on
	// a server, the ones a client certificate must chain to.
	CA string
	// VerifyClient (server) requires every client to present a
	// certificate that chains to CA: mutual TLS.
	VerifyClient bool
	// TrustAll (client) skips verifying the server's certificate, as
	// Flume's trust-all-certs does. For tests only.
	TrustAll bool
	// ServerName (client) is the name the server's certificate must carry;
	// default: the host of the address dialled.
	ServerName string
	// Protocols and cipher suites, with Flume's (Java's) names: TLSv1,
	// TLSv1.1, TLSv1.2, TLSv1.3; suites by their IANA names, which Go and
	// Java share. Empty include lists mean TLSv1.2 and TLSv1.3, and Go's
	// default suites. TLS 1.3 suites are not configurable.
	IncludeProtocols, ExcludeProtocols       []string
	IncludeCipherSuites, ExcludeCipherSuites []string
}

// protocols in order; SSLv3 and SSLv2Hello are accepted in exclude lists
// (Flume excludes SSLv3 by default) and never enabled.
var protocols = []struct {
	name    string
	version uint16
}{
	{"TLSv1", tls.VersionTLS10},
	{"TLSv1.1", tls.VersionTLS11},
	{"TLSv1.2", tls.VersionTLS12},
	{"TLSv1.3", tls.VersionTLS13},
}

// versionRange turns include/exclude protocol lists into a contiguous
// range of TLS versions.
func versionRange(include, exclude []string) (lo, hi uint16, err error) {
	known := func(n string) bool {
		if n == "SSLv3" || n == "SSLv2Hello" {
			return true
		}
		for _, p := range protocols {
			if p.name == n {
				return true
			}
		}
		return false
	}
	for _, n := range append(slices.Clone(include), exclude...) {
		if !known(n) {
			return 0, 0, fmt.Errorf("unknown protocol %q (known: TLSv1, TLSv1.1, TLSv1.2, TLSv1.3, SSLv3)", n)
		}
	}
	if len(include) == 0 {
		include = []string{"TLSv1.2", "TLSv1.3"}
	}
	var on []bool
	for _, p := range protocols {
		on = append(on, slices.Contains(include, p.name) && !slices.Contains(exclude, p.name))
	}
	first, last := slices.Index(on, true), -1
	for i := range on {
		if on[i] {
			last = i
		}
	}
	if first < 0 {
		return 0, 0, errors.New("include-protocols and exclude-protocols leave no TLS version enabled")
	}
	for i := first; i <= last; i++ {
		if !on[i] {
			return 0, 0, fmt.Errorf("enabled TLS versions must be contiguous: %s is off between %s and %s",
				protocols[i].name, protocols[first].name, protocols[last].name)
		}
	}
	return protocols[first].version, protocols[last].version, nil
}

// cipherSuites turns include/exclude lists into Go's cipher suite IDs; nil
// means Go's defaults.
func cipherSuites(include, exclude []string) ([]uint16, error) {
	if len(include) == 0 && len(exclude) == 0 {
		return nil, nil
	}
	byName := map[string]*tls.CipherSuite{}
	for _, s := range tls.CipherSuites() {
		byName[s.Name] = s
	}
	insecure := map[string]bool{}
	for _, s := range tls.InsecureCipherSuites() {
		byName[s.Name] = s
		insecure[s.Name] = true
	}
	for _, n := range append(slices.Clone(include), exclude...) {
		if byName[n] == nil {
			return nil, fmt.Errorf("unknown cipher suite %q", n)
		}
	}
	var names []string
	if len(include) > 0 {
		names = include
	} else {
		for _, s := range tls.CipherSuites() {
			names = append(names, s.Name)
		}
	}
	var ids []uint16
	for _, n := range names {
		if !slices.Contains(exclude, n) {
			ids = append(ids, byName[n].ID)
		}
	}
	if len(ids) == 0 {
		return nil, errors.New("include-cipher-suites and exclude-cipher-suites leave no cipher suite")
	}
	return ids, nil
}

func (o *TLSOptions) base() (*tls.Config, error) {
	lo, hi, err := versionRange(o.IncludeProtocols, o.ExcludeProtocols)
	if err != nil {
		return nil, err
	}
	suites, err := cipherSuites(o.IncludeCipherSuites, o.ExcludeCipherSuites)
	if err != nil {
		return nil, err
	}
	cfg := &tls.Config{MinVersion: lo, MaxVersion: hi, CipherSuites: suites}
	if (o.Cert == "") != (o.Key == "") {
		return nil, errors.New("ssl.cert and ssl.key go together")
	}
	if o.Cert != "" {
		pair, err := tls.LoadX509KeyPair(o.Cert, o.Key)
		if err != nil {
			return nil, fmt.Errorf("load ssl.cert %s and ssl.key %s: %w", o.Cert, o.Key, err)
		}
		cfg.Certificates = []tls.Certificate{pair}
	}
	return cfg, nil
}

func loadPool(path string) (*x509.CertPool, error) {
	pem, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read ssl.ca: %w", err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pem) {
		return nil, fmt.Errorf("ssl.ca %s holds no PEM certificate", path)
	}
	return pool, nil
}

// ServerConfig builds the TLS configuration of a server. It reads the
// PEM files now, so a bad file is a configuration error.
func (o *TLSOptions) ServerConfig() (*tls.Config, error) {
	cfg, err := o.base()
	if err != nil {
		return nil, err
	}
	if len(cfg.Certificates) == 0 {
		return nil, errors.New("ssl needs ssl.cert and ssl.key (PEM files) on the server")
	}
	if o.VerifyClient && o.CA == "" {
		return nil, errors.New("ssl.verify-client needs ssl.ca: the authorities client certificates must chain to")
	}
	if o.CA != "" {
		if cfg.ClientCAs, err = loadPool(o.CA); err != nil {
			return nil, err
		}
		cfg.ClientAuth = tls.VerifyClientCertIfGiven
		if o.VerifyClient {
			cfg.ClientAuth = tls.RequireAndVerifyClientCert
		}
	}
	return cfg, nil
}

// ClientConfig builds the TLS configuration of a client. ServerName is
// filled per address by the dialer when not set here.
func (o *TLSOptions) ClientConfig() (*tls.Config, error) {
	cfg, err := o.base()
	if err != nil {
		return nil, err
	}
	if o.CA != "" {
		if cfg.RootCAs, err = loadPool(o.CA); err != nil {
			return nil, err
		}
	}
	cfg.InsecureSkipVerify = o.TrustAll
	cfg.ServerName = o.ServerName
	return cfg, nil
}

// splitList splits a Flume list property: blanks or commas.
func splitList(s string) []string {
	return strings.FieldsFunc(s, func(r rune) bool { return r == ',' || r == ' ' || r == '\t' })
}
