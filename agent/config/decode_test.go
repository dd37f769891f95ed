package config

import (
	"errors"
	"fmt"
	"reflect"
	"strings"
	"testing"
)

type decodeConfig struct {
	Port     int               `prop:"port,required"`
	Size     int64             `prop:"size"`
	Small    int32             `prop:"small"`
	Enabled  bool              `prop:"enabled"`
	Name     string            `prop:"name"`
	Ratio    float64           `prop:"ratio"`
	Hosts    []string          `prop:"hosts"`
	Headers  map[string]string `prop:"headers.*"`
	Untagged string
	Skipped  string `prop:"-"`
}

func (c *decodeConfig) Validate() error {
	if c.Port < 1 || c.Port > 65535 {
		return fmt.Errorf("port %d is not between 1 and 65535", c.Port)
	}
	return nil
}

// noValidate has no Validate method.
type noValidate struct {
	N int `prop:"n"`
}

// unsupported has a field type Decode does not know.
type unsupported struct {
	U uint  `prop:"u"`
	L []int `prop:"l"`
}

// where is the type line of the component under test.
var where = Prop{Key: "a1.sources.r1.type", Value: "test", File: "f.conf", Line: 1}

// section parses text as the keys of a1.sources.r1, starting at line 2 of
// f.conf (line 1 is where, the type line).
func section(t *testing.T, text string) Section {
	t.Helper()
	props, err := Parse(strings.NewReader("\n"+text), "f.conf")
	if err != nil {
		t.Fatal(err)
	}
	s := Section{Prefix: "a1.sources.r1.", Props: map[string]Prop{}}
	for _, p := range props {
		p.Key = s.Prefix + p.Key
		s.Props[strings.TrimPrefix(p.Key, s.Prefix)] = p
	}
	return s
}

func TestDecode(t *testing.T) {
	s := section(t, `
port = 4141
size = 9000000000
small = -7
enabled = TRUE
name = web  server
ratio = 0.25
hosts = a  b	c
headers.dc = eu-1
headers.team.name = ops
`)
	var got decodeConfig
	if errs := Decode(s, &got, where); errs != nil {
		t.Fatalf("Decode: %v", errs)
	}
	want := decodeConfig{
		Port: 4141, Size: 9000000000, Small: -7, Enabled: true, Name: "web  server", Ratio: 0.25,
		Hosts:   []string{"a", "b", "c"},
		Headers: map[string]string{"dc": "eu-1", "team.name": "ops"},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got  %+v\nwant %+v", got, want)
	}
}

// TestDecodeDefaults checks that absent keys keep the values NewConfig set.
func TestDecodeDefaults(t *testing.T) {
	got := decodeConfig{Port: 1, Size: 5, Enabled: true, Name: "n", Hosts: []string{"h"}, Headers: map[string]string{"k": "v"}, Untagged: "u", Skipped: "s"}
	want := got
	want.Port = 2
	want.Enabled = false
	if errs := Decode(section(t, "port = 2\nenabled = False\n"), &got, where); errs != nil {
		t.Fatalf("Decode: %v", errs)
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got  %+v\nwant %+v", got, want)
	}
}

func TestDecodeErrors(t *testing.T) {
	f := func(name string, dst any, text, want string) {
		t.Helper()
		errs := Decode(section(t, text), dst, where)
		if got := errs.Error(); got != want {
			t.Errorf("%s:\ngot\n%s\nwant\n%s", name, got, want)
		}
	}
	f("bad int", &decodeConfig{}, "port = ten\n",
		`f.conf:2: a1.sources.r1.port: "ten" is not an integer`)
	f("float for int", &decodeConfig{}, "port = 1.5\n",
		`f.conf:2: a1.sources.r1.port: "1.5" is not an integer`)
	f("empty int", &decodeConfig{}, "port =\n",
		`f.conf:2: a1.sources.r1.port: "" is not an integer`)
	f("int64 out of range", &decodeConfig{Port: 1}, "port = 1\nsize = 99999999999999999999\n",
		`f.conf:3: a1.sources.r1.size: "99999999999999999999" is out of range`)
	f("int32 out of range", &decodeConfig{Port: 1}, "port = 1\nsmall = 3000000000\n",
		`f.conf:3: a1.sources.r1.small: "3000000000" is out of range`)
	f("bad bool", &decodeConfig{Port: 1}, "port = 1\nenabled = yes\n",
		`f.conf:3: a1.sources.r1.enabled: "yes" is not true or false`)
	f("bad float", &decodeConfig{Port: 1}, "port = 1\nratio = half\n",
		`f.conf:3: a1.sources.r1.ratio: "half" is not a number`)
	f("required missing", &decodeConfig{}, "name = x\n",
		`f.conf:1: a1.sources.r1.port: required property is missing`)
	f("unknown key", &decodeConfig{}, "port = 1\nprot = 2\n",
		`f.conf:3: a1.sources.r1.prot: unknown property "prot"`)
	f("map prefix alone is unknown", &decodeConfig{}, "port = 1\nheaders = x\nheaders. = y\n",
		`f.conf:3: a1.sources.r1.headers: unknown property "headers"
f.conf:4: a1.sources.r1.headers.: unknown property "headers."`)
	f("untagged and skipped fields are not keys", &decodeConfig{}, "port = 1\nUntagged = x\nSkipped = y\n",
		`f.conf:4: a1.sources.r1.Skipped: unknown property "Skipped"
f.conf:3: a1.sources.r1.Untagged: unknown property "Untagged"`)
	f("unsupported field type", &unsupported{}, "u = 1\nl = 1 2\n",
		`f.conf:2: a1.sources.r1.u: unsupported field type uint
f.conf:3: a1.sources.r1.l: unsupported field type []int`)
	f("all at once", &decodeConfig{}, "size = big\nenabled = maybe\nzz = 1\naa = 2\n",
		`f.conf:1: a1.sources.r1.port: required property is missing
f.conf:2: a1.sources.r1.size: "big" is not an integer
f.conf:3: a1.sources.r1.enabled: "maybe" is not true or false
f.conf:5: a1.sources.r1.aa: unknown property "aa"
f.conf:4: a1.sources.r1.zz: unknown property "zz"`)
	f("Validate", &decodeConfig{}, "port = 70000\n",
		`f.conf:1: a1.sources.r1: port 70000 is not between 1 and 65535`)
	// Validate runs only on a config that decoded cleanly, so it never
	// reports on half-set fields.
	f("no Validate after errors", &decodeConfig{}, "port = 70000\nx = 1\n",
		`f.conf:3: a1.sources.r1.x: unknown property "x"`)
}

func TestDecodeNoValidate(t *testing.T) {
	var c noValidate
	if errs := Decode(section(t, "n = 3\n"), &c, where); errs != nil || c.N != 3 {
		t.Errorf("got %+v, %v", c, errs)
	}
	if errs := Decode(section(t, ""), &c, where); errs != nil {
		t.Errorf("empty section: %v", errs)
	}
}

// TestDecodeErrorType checks that Decode's errors are *Error values with
// their parts, so callers can inspect them.
func TestDecodeErrorType(t *testing.T) {
	errs := Decode(section(t, "port = 0\n"), &decodeConfig{}, where)
	var es Errors
	if !errors.As(errs.Err(), &es) || len(es) != 1 {
		t.Fatalf("got %#v", errs)
	}
	want := Error{File: "f.conf", Line: 1, Key: "a1.sources.r1", Msg: "port 0 is not between 1 and 65535"}
	if *es[0] != want {
		t.Errorf("got %+v, want %+v", *es[0], want)
	}
}

func TestSection(t *testing.T) {
	s := section(t, "selector.type = replicating\nselector.optional = c2\nselectors = x\nchannels = c1 c2\n")
	sub := s.Sub("selector")
	if sub.Prefix != "a1.sources.r1.selector." || len(sub.Props) != 2 || sub.Props["optional"].Value != "c2" {
		t.Errorf("Sub: %+v", sub)
	}
	w := s.Without("channels", "selector.")
	if len(w.Props) != 1 || w.Props["selectors"].Value != "x" || w.Prefix != s.Prefix {
		t.Errorf("Without: %+v", w)
	}
}

func TestErrorFormat(t *testing.T) {
	f := func(e Error, want string) {
		t.Helper()
		if got := e.Error(); got != want {
			t.Errorf("got %q, want %q", got, want)
		}
	}
	f(Error{File: "f.conf", Line: 3, Key: "a1.x", Msg: "bad"}, "f.conf:3: a1.x: bad")
	f(Error{File: "f.conf", Key: "a1.x", Msg: "bad"}, "f.conf: a1.x: bad")
	f(Error{File: "f.conf", Msg: "bad"}, "f.conf: bad")
	f(Error{Key: "a1.x", Msg: "bad"}, "a1.x: bad")
	if Errors(nil).Err() != nil {
		t.Error("empty Errors is not a nil error")
	}
}
