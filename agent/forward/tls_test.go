package forward

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// pki is a throwaway certificate authority with PEM files on disk.
type pki struct {
	dir    string
	caCert *x509.Certificate
	caKey  *ecdsa.PrivateKey
	CA     string // PEM file of the CA certificate
}

func newPKI(t *testing.T, name string) *pki {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: name},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(time.Hour),
		IsCA:                  true,
		KeyUsage:              x509.KeyUsageCertSign,
		BasicConstraintsValid: true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, _ := x509.ParseCertificate(der)
	p := &pki{dir: t.TempDir(), caCert: cert, caKey: key}
	p.CA = p.write(t, name+"-ca.pem", "CERTIFICATE", der)
	return p
}

func (p *pki) write(t *testing.T, name, typ string, der []byte) string {
	t.Helper()
	path := filepath.Join(p.dir, name)
	if err := os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// issue makes a certificate for 127.0.0.1 and localhost, usable by a
// server and a client; it returns the cert and key files.
func (p *pki) issue(t *testing.T, name string) (cert, key string) {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(time.Now().UnixNano()),
		Subject:      pkix.Name{CommonName: name},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth},
		IPAddresses:  []net.IP{net.ParseIP("127.0.0.1")},
		DNSNames:     []string{"localhost"},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, p.caCert, &k.PublicKey, p.caKey)
	if err != nil {
		t.Fatal(err)
	}
	kder, err := x509.MarshalPKCS8PrivateKey(k)
	if err != nil {
		t.Fatal(err)
	}
	return p.write(t, name+".pem", "CERTIFICATE", der), p.write(t, name+"-key.pem", "PRIVATE KEY", kder)
}

// Mutual TLS: a client with a certificate from the collector's CA gets
// through; one without a certificate, or with one from another CA, is
// refused, counted as tls; a client that does not trust the collector's
// CA refuses the collector.
func TestMutualTLS(t *testing.T) {
	ca := newPKI(t, "vscope-test")
	other := newPKI(t, "intruder")
	srvCert, srvKey := ca.issue(t, "collector")
	cliCert, cliKey := ca.issue(t, "agent")
	badCert, badKey := other.issue(t, "agent")

	so := TLSOptions{Cert: srvCert, Key: srvKey, CA: ca.CA, VerifyClient: true}
	scfg, err := so.ServerConfig()
	if err != nil {
		t.Fatal(err)
	}
	col := startCollector(t, 1000, func(c *ServerConfig) { c.TLS = scfg })
	client := func(o TLSOptions) ClientConfig {
		t.Helper()
		cc, err := o.ClientConfig()
		if err != nil {
			t.Fatal(err)
		}
		return ClientConfig{TLS: cc, ConnectTimeout: 5 * time.Second}
	}
	send := func(o TLSOptions) error {
		c, err := Dial(context.Background(), col.addr(), client(o))
		if err != nil {
			return err
		}
		defer c.Close()
		_, err = c.Send(context.Background(), makeEvents("tls", 0, 3))
		return err
	}
	if err := send(TLSOptions{CA: ca.CA, Cert: cliCert, Key: cliKey}); err != nil {
		t.Fatalf("client with the right certificate: %v", err)
	}
	if n := len(col.drain(t)); n != 3 {
		t.Fatalf("%d events arrived over TLS", n)
	}
	if err := send(TLSOptions{CA: ca.CA}); err == nil {
		t.Fatal("client without a certificate got through")
	}
	if err := send(TLSOptions{CA: ca.CA, Cert: badCert, Key: badKey}); err == nil {
		t.Fatal("client with a certificate of another CA got through")
	}
	eventually(t, "two tls refusals", func() bool { return col.srv.Refused()["tls"] == 2 })
	err = send(TLSOptions{CA: other.CA, Cert: cliCert, Key: cliKey})
	var uerr x509.UnknownAuthorityError
	if !errors.As(err, &uerr) {
		t.Fatalf("client not trusting the collector's CA: %v", err)
	}
	if err := send(TLSOptions{TrustAll: true, Cert: cliCert, Key: cliKey}); err != nil {
		t.Fatalf("trust-all-certs: %v", err)
	}
	// A plain TCP client is refused too (its hello is not a TLS record).
	if _, err := Dial(context.Background(), col.addr(), ClientConfig{ConnectTimeout: 2 * time.Second}); err == nil {
		t.Fatal("plain client got through")
	}
	if l := col.log.String(); !strings.Contains(l, "reason=tls") {
		t.Errorf("log lacks the tls refusal:\n%s", l)
	}
}

func TestTLSProtocolOptions(t *testing.T) {
	f := func(include, exclude string, lo, hi uint16, wantErr string) {
		t.Helper()
		l, h, err := versionRange(splitList(include), splitList(exclude))
		if wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), wantErr) {
				t.Errorf("%q/%q: error %v, want %q", include, exclude, err, wantErr)
			}
			return
		}
		if err != nil || l != lo || h != hi {
			t.Errorf("%q/%q: %x-%x %v, want %x-%x", include, exclude, l, h, err, lo, hi)
		}
	}
	f("", "SSLv3", 0x0303, 0x0304, "")
	f("TLSv1 TLSv1.1 TLSv1.2", "", 0x0301, 0x0303, "")
	f("", "TLSv1.2", 0x0304, 0x0304, "")
	f("TLSv1.2", "TLSv1.2", 0, 0, "no TLS version")
	f("TLSv1 TLSv1.3", "", 0, 0, "contiguous")
	f("", "SSLv4", 0, 0, "unknown protocol")
	if _, err := cipherSuites([]string{"TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256"}, nil); err != nil {
		t.Error(err)
	}
	if _, err := cipherSuites([]string{"TLS_NOPE"}, nil); err == nil {
		t.Error("unknown suite accepted")
	}
	o := TLSOptions{Cert: "/nonexistent.pem", Key: "/nonexistent-key.pem"}
	if _, err := o.ServerConfig(); err == nil || !strings.Contains(err.Error(), "load ssl.cert") {
		t.Errorf("missing files: %v", err)
	}
	o = TLSOptions{}
	if _, err := o.ServerConfig(); err == nil {
		t.Error("server TLS without a certificate accepted")
	}
}
