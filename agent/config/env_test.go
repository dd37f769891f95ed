package config

import (
	"reflect"
	"testing"
)

func lookupMap(m map[string]string) func(string) (string, bool) {
	return func(k string) (string, bool) {
		v, ok := m[k]
		return v, ok
	}
}

var testEnv = lookupMap(map[string]string{
	"HOST":  "example.org",
	"PORT":  "4141",
	"EMPTY": "",
	"REF":   "${HOST}", // values are not expanded again
})

func TestSubstitute(t *testing.T) {
	f := func(in, want string) {
		t.Helper()
		out, err := Substitute([]Prop{{Key: "k", Value: in, File: "f.conf", Line: 7}}, testEnv)
		if err != nil {
			t.Errorf("Substitute(%q): %v", in, err)
			return
		}
		if got := out[0].Value; got != want {
			t.Errorf("Substitute(%q) = %q, want %q", in, got, want)
		}
	}
	f("plain", "plain")
	f("${HOST}", "example.org")
	f("${HOST}:${PORT}", "example.org:4141")
	f("tcp://${HOST}:${PORT}/x", "tcp://example.org:4141/x")
	f("${EMPTY}", "")
	f("a${EMPTY}b", "ab")
	f("$${HOST}", "${HOST}")
	f("$${HOST} is ${HOST}", "${HOST} is example.org")
	f("${REF}", "${HOST}")
	f("$HOST", "$HOST")
	f("$", "$")
	f("{HOST}", "{HOST}")
	f("cost $5", "cost $5")
}

func TestSubstituteErrors(t *testing.T) {
	f := func(in, want string) {
		t.Helper()
		out, err := Substitute([]Prop{{Key: "a1.sources.r1.port", Value: in, File: "f.conf", Line: 7}}, testEnv)
		if err == nil || err.Error() != want {
			t.Errorf("Substitute(%q): got error %v, want %s", in, err, want)
		}
		if out[0].Value != in {
			t.Errorf("Substitute(%q): value changed to %q despite the error", in, out[0].Value)
		}
	}
	f("${NOPE}", "f.conf:7: a1.sources.r1.port: environment variable NOPE is not set")
	f("${HOST}:${NOPE}", "f.conf:7: a1.sources.r1.port: environment variable NOPE is not set")
	f("${HOST", `f.conf:7: a1.sources.r1.port: unterminated ${ in "${HOST"`)
	f("${}", "f.conf:7: a1.sources.r1.port: empty variable name in ${}")
}

// TestSubstituteAll checks that every bad value is reported, in order, and
// that keys are left alone.
func TestSubstituteAll(t *testing.T) {
	in := []Prop{
		{Key: "a", Value: "${A}", File: "f.conf", Line: 1},
		{Key: "${HOST}", Value: "${HOST}", File: "f.conf", Line: 2},
		{Key: "c", Value: "${C}", File: "f.conf", Line: 3},
	}
	out, err := Substitute(in, testEnv)
	want := "f.conf:1: a: environment variable A is not set\nf.conf:3: c: environment variable C is not set"
	if err == nil || err.Error() != want {
		t.Errorf("got error\n%v\nwant\n%s", err, want)
	}
	if got := out[1]; !reflect.DeepEqual(got, Prop{Key: "${HOST}", Value: "example.org", File: "f.conf", Line: 2}) {
		t.Errorf("out[1] = %+v", got)
	}
	if in[1].Value != "${HOST}" {
		t.Errorf("input modified: %+v", in[1])
	}
}
