package config

import (
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

type kv struct{ k, v string }

func kvs(props []Prop) []kv {
	out := make([]kv, len(props))
	for i, p := range props {
		out[i] = kv{p.Key, p.Value}
	}
	return out
}

// TestParse checks the java.util.Properties rules. Every expectation was
// produced by Properties.load(Reader) of Java 17, except where a comment
// says otherwise: values are trimmed at the end, as Flume's
// FlumeConfiguration.addRawProperty trims them.
func TestParse(t *testing.T) {
	f := func(name, in string, want ...kv) {
		t.Helper()
		props, err := Parse(strings.NewReader(in), "f.conf")
		if err != nil {
			t.Errorf("%s: Parse(%q): %v", name, in, err)
			return
		}
		if got := kvs(props); !reflect.DeepEqual(got, want) && !(len(got) == 0 && len(want) == 0) {
			t.Errorf("%s: Parse(%q)\n got %q\nwant %q", name, in, got, want)
		}
	}

	// Separators.
	f("equals", "a=b\n", kv{"a", "b"})
	f("colon", "a:b\n", kv{"a", "b"})
	f("space", "a b\n", kv{"a", "b"})
	f("spaced equals", "a = b\n", kv{"a", "b"})
	f("tabs around colon", "a\t:\tb\n", kv{"a", "b"})
	f("form feed", "a\fb\n", kv{"a", "b"})
	f("second equals is value", "a  = = b\n", kv{"a", "= b"})
	f("whitespace separator then equals in value", "a  b = c\n", kv{"a", "b = c"})
	f("colon then equals", "a:=b\n", kv{"a", "=b"})
	f("equals then colon", "a=:b\n", kv{"a", ":b"})
	f("empty key", "=b\n", kv{"", "b"})
	f("no trailing newline", "a=b", kv{"a", "b"})

	// Whitespace. Java keeps "b  "; Flume trims it.
	f("leading and trailing whitespace", "  a  =  b  \n", kv{"a", "b"})
	f("leading tab and form feed", "\t\f a = b\n", kv{"a", "b"})
	f("trailing tab", "a = b\t\n", kv{"a", "b"})
	f("inner whitespace kept", "a = b  c\n", kv{"a", "b  c"})

	// Keys without values.
	f("key alone", "a\n", kv{"a", ""})
	f("key and spaces", "a   \n", kv{"a", ""})
	f("key and equals", "a =\n", kv{"a", ""})

	// Comments and blank lines.
	f("comments and blanks", "# c\n! c\n\n  \n  # indented\n\t! x\n")
	f("hash inside value", "a = b # not a comment\n", kv{"a", "b # not a comment"})
	f("comment does not continue", "# comment \\\na = b\n", kv{"a", "b"})
	f("continued line is not a comment", "a = b\\\n# not comment\n", kv{"a", "b# not comment"})

	// Line continuation.
	f("continuation", "a = b \\\n    c \\\n   d\n", kv{"a", "b c d"})
	f("continuation in key", "a\\\n  b = c\n", kv{"ab", "c"})
	f("even backslashes do not continue", "a = b\\\\\nc = d\n", kv{"a", `b\`}, kv{"c", "d"})
	f("three backslashes continue", "a=\\\\\\\n  b\n", kv{"a", `\b`})
	f("continuation onto blank line ends", "a = b\\\n\nc = d\n", kv{"a", "b"}, kv{"c", "d"})
	f("continuation onto lone backslash", "a = b \\\n  \\\n  c\n", kv{"a", "b c"})
	f("continuation at end of file", "a = b\\", kv{"a", "b"})
	f("continuation onto whitespace at end of file", "a = b\\\n  ", kv{"a", "b"})
	f("key continued at end of file", "a\\\n", kv{"a", ""})

	// Line endings.
	f("CRLF", "a=b\r\nc=d\r\n", kv{"a", "b"}, kv{"c", "d"})
	f("CRLF continuation", "a=b\\\r\n  c\r\n", kv{"a", "bc"})
	f("CR only", "a=b\rc=d\r", kv{"a", "b"}, kv{"c", "d"})
	f("CR only continuation", "a=b\\\r  c\r", kv{"a", "bc"})
	f("mixed endings", "a=b\r\nc=d\re=f\n", kv{"a", "b"}, kv{"c", "d"}, kv{"e", "f"})

	// Escapes.
	f("escaped equals in key", "a\\=b = c\n", kv{"a=b", "c"})
	f("escaped space in key", "a\\ b = c\n", kv{"a b", "c"})
	f("escaped colon in key", "a\\:b:c\n", kv{"a:b", "c"})
	f("escaped leading space in key", "\\ a = b\n", kv{" a", "b"})
	f("control escapes", "a = x\\ty\\nz\\rw\\fv\n", kv{"a", "x\ty\nz\rw\fv"})
	f("unicode escapes", "a = \\u0041\\u00e9\\u00E9\n", kv{"a", "Aéé"})
	f("unicode escape mid-value", "a = x\\u0041y\n", kv{"a", "xAy"})
	f("unicode escape takes four digits", "a=\\u00410\n", kv{"a", "A0"})
	f("surrogate pair", "a = \\uD83D\\uDE00\n", kv{"a", "😀"})
	f("other escapes drop the backslash", "a = \\q\\\"\\#\n", kv{"a", `q"#`})
	f("escaped leading space in value", "a = \\ b\n", kv{"a", " b"})
	f("UTF-8 text", "a = héllo\n", kv{"a", "héllo"})

	// Duplicates are kept in order; Load warns and the last wins.
	f("duplicates", "a = 1\na = 2\n", kv{"a", "1"}, kv{"a", "2"})
}

// TestParseLines checks that each property is located at the first line of
// its logical line.
func TestParseLines(t *testing.T) {
	in := "# comment\n" + // 1
		"\n" + // 2
		"a = 1\n" + // 3
		"b = x \\\n" + // 4
		"    y \\\n" + // 5
		"    z\n" + // 6
		"! comment\n" + // 7
		"c = 3\r\n" + // 8
		"d = 4\r" + // 9
		"e = 5\n" // 10
	props, err := Parse(strings.NewReader(in), "f.conf")
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, p := range props {
		got = append(got, p.Pos()+" "+p.Key+"="+p.Value)
	}
	want := []string{"f.conf:3 a=1", "f.conf:4 b=x y z", "f.conf:8 c=3", "f.conf:9 d=4", "f.conf:10 e=5"}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got  %q\nwant %q", got, want)
	}
}

// TestParseErrors checks that a malformed \u escape is an error at
// file:line (Java throws "Malformed \uxxxx encoding"), that every one is
// reported, and that the good lines are still returned.
func TestParseErrors(t *testing.T) {
	in := "a = 1\n" + // 1
		"b = \\u12G4\n" + // 2
		"c = 3\n" + // 3
		"d = x \\\n" + // 4
		"   \\u12\n" + // 5
		"e\\u00 = 5\n" + // 6
		"f = 6\n" // 7
	props, err := Parse(strings.NewReader(in), "f.conf")
	want := `f.conf:2: b: malformed \uXXXX escape "\u12G4"
f.conf:4: d: malformed \uXXXX escape "\u12"
f.conf:6: e\u00: malformed \uXXXX escape "\u00"`
	if err == nil || err.Error() != want {
		t.Errorf("got error\n%v\nwant\n%s", err, want)
	}
	var es Errors
	if !errors.As(err, &es) || len(es) != 3 {
		t.Errorf("error is not Errors of 3: %#v", err)
	}
	if got, want := kvs(props), []kv{{"a", "1"}, {"c", "3"}, {"f", "6"}}; !reflect.DeepEqual(got, want) {
		t.Errorf("props: got %q, want %q", got, want)
	}
}

func TestParseFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "a.conf")
	if err := os.WriteFile(path, []byte("x = 1\ny = \\u004\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	props, err := ParseFile(path)
	if want := path + `:2: y: malformed \uXXXX escape "\u004"`; err == nil || err.Error() != want {
		t.Errorf("got %v, want %s", err, want)
	}
	if len(props) != 1 || props[0].File != path || props[0].Line != 1 {
		t.Errorf("props: %+v", props)
	}
	if _, err := ParseFile(filepath.Join(t.TempDir(), "missing.conf")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("missing file: got %v, want os.ErrNotExist", err)
	}
}
