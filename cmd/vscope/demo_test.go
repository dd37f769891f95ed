package main

import (
	"bytes"
	"context"
	"regexp"
	"strings"
	"testing"
)

func TestDemoShowsWhatMoved(t *testing.T) {
	var out bytes.Buffer
	if err := runDemo(context.Background(), &out, 20000, t.TempDir(), true); err != nil {
		t.Fatalf("%v\n%s", err, out.String())
	}
	s := out.String()
	for _, want := range []string{
		"demo.sources.gen.type        = seq",
		"-> 200 OK",
		"-> 400 Bad Request",
		"FAILED: Event exceeds the maximum length",
		"landed in",
	} {
		if !strings.Contains(s, want) {
			t.Errorf("demo output lacks %q", want)
		}
	}
	if !regexp.MustCompile(`SINK\s+│ files\s+│ file_roll │ 20000\s+│ 20000\s+│`).MatchString(s) {
		t.Error("the table does not show the file_roll sink draining all 20000 events")
	}
	if t.Failed() {
		t.Log(s)
	}
}
