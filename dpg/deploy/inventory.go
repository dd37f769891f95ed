package deploy

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/vscope/vscope/agent/control"
)

// Inventory maps the plan's host names to the control endpoints of the
// agent processes that run there.
//
//	{
//	  "token_file": "/etc/vscope/control.token",   // default for every host
//	  "hosts": {
//	    "web-01":  {"control": "http://10.0.0.11:7070"},
//	    "web-02":  {"control_file": "/run/vscope/web-02.addr"},   // --control-addr-file
//	    "store-1": {"control": "http://10.0.9.1:7070", "token_file": "store.token"}
//	  }
//	}
//
// Relative paths are relative to the inventory file. A host without a
// token file takes the default, then $VSCOPE_CONTROL_TOKEN.
type Inventory struct {
	TokenFile string              `json:"token_file,omitempty"`
	Hosts     map[string]Endpoint `json:"hosts"`

	dir string
}

// Endpoint is where one host's control API is.
type Endpoint struct {
	// Control is the URL, http://HOST:PORT; or ControlFile holds it.
	Control     string `json:"control,omitempty"`
	ControlFile string `json:"control_file,omitempty"`
	TokenFile   string `json:"token_file,omitempty"`
}

// Target is a resolved endpoint. Its token is never printed.
type Target struct {
	Host  string
	URL   string
	token string
}

// String is "host (url)".
func (t *Target) String() string { return t.Host + " (" + t.URL + ")" }

// LoadInventory reads an inventory strictly: unknown keys are errors.
func LoadInventory(path string) (*Inventory, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("inventory: %w", err)
	}
	var inv Inventory
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&inv); err != nil {
		return nil, fmt.Errorf("inventory %s: %w", path, err)
	}
	inv.dir = filepath.Dir(path)
	var errs []error
	if len(inv.Hosts) == 0 {
		errs = append(errs, fmt.Errorf("inventory %s: hosts: none", path))
	}
	for _, h := range sortedKeys(inv.Hosts) {
		e := inv.Hosts[h]
		switch {
		case e.Control == "" && e.ControlFile == "":
			errs = append(errs, fmt.Errorf("inventory %s: hosts.%s: give control (a URL) or control_file", path, h))
		case e.Control != "" && e.ControlFile != "":
			errs = append(errs, fmt.Errorf("inventory %s: hosts.%s: control and control_file exclude each other", path, h))
		case e.Control != "":
			if err := checkURL(e.Control); err != nil {
				errs = append(errs, fmt.Errorf("inventory %s: hosts.%s.control: %w", path, h, err))
			}
		}
	}
	return &inv, errors.Join(errs...)
}

func checkURL(s string) error {
	u, err := url.Parse(strings.TrimSpace(s))
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return fmt.Errorf("%q: want http://HOST:PORT", s)
	}
	return nil
}

func (inv *Inventory) path(p string) string {
	if p == "" || filepath.IsAbs(p) {
		return p
	}
	return filepath.Join(inv.dir, p)
}

// Targets resolves the endpoints of hosts (all of the inventory's when
// hosts is nil): URLs from control files, tokens from token files. Every
// problem is reported, each naming its host.
func (inv *Inventory) Targets(hosts []string) (map[string]*Target, error) {
	if hosts == nil {
		hosts = sortedKeys(inv.Hosts)
	}
	out := map[string]*Target{}
	var errs, missing []string
	tokens := map[string]string{} // by file; "" is the default
	token := func(file string) (string, error) {
		if t, ok := tokens[file]; ok {
			return t, nil
		}
		t, err := control.LoadToken(file)
		if err == nil {
			tokens[file] = t
		}
		return t, err
	}
	for _, h := range hosts {
		e, ok := inv.Hosts[h]
		if !ok {
			missing = append(missing, h)
			continue
		}
		t := &Target{Host: h, URL: strings.TrimRight(strings.TrimSpace(e.Control), "/")}
		if e.ControlFile != "" {
			b, err := os.ReadFile(inv.path(e.ControlFile))
			if err != nil {
				errs = append(errs, fmt.Sprintf("host %s: control_file: %v", h, err))
				continue
			}
			t.URL = strings.TrimRight(strings.TrimSpace(string(b)), "/")
			if err := checkURL(t.URL); err != nil {
				errs = append(errs, fmt.Sprintf("host %s: control_file %s: %v", h, e.ControlFile, err))
				continue
			}
		}
		file := e.TokenFile
		if file == "" {
			file = inv.TokenFile
		}
		tok, err := token(inv.path(file))
		if err != nil {
			errs = append(errs, fmt.Sprintf("host %s: %v", h, err))
			continue
		}
		t.token = tok
		out[h] = t
	}
	if len(missing) > 0 {
		errs = append([]string{fmt.Sprintf("no endpoint in the inventory for %d host(s) of the plan: %s", len(missing), strings.Join(missing, ", "))}, errs...)
	}
	if len(errs) > 0 {
		return out, errors.New(strings.Join(errs, "\n"))
	}
	return out, nil
}

func sortedKeys[V any](m map[string]V) []string {
	ks := make([]string, 0, len(m))
	for k := range m {
		ks = append(ks, k)
	}
	slices.Sort(ks)
	return ks
}
