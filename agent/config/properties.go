package config

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf16"
)

// Prop is one key = value line of a properties file.
type Prop struct {
	Key   string
	Value string
	File  string
	Line  int // line where the logical line starts, 1-based
}

// Pos is the file:line of the property, for error messages.
func (p Prop) Pos() string { return fmt.Sprintf("%s:%d", p.File, p.Line) }

// ParseFile reads a properties file.
func ParseFile(path string) ([]Prop, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return Parse(f, path)
}

// Parse reads Java properties: '#' and '!' comments, key/value separated by
// '=', ':' or whitespace, backslash line continuation and escapes (\t, \n,
// \uXXXX, ...); lines end at "\n", "\r\n" or "\r". Trailing whitespace
// is trimmed from values, as Flume does (java.util.Properties keeps it).
// name is used in positions. Duplicate keys are kept in order; the last
// one wins when a Section is built, as in Java.
func Parse(r io.Reader, name string) ([]Prop, error) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64*1024), 16*1024*1024)
	sc.Split(scanLines)
	var props []Prop
	var errs Errors
	lineNo := 0
	for sc.Scan() {
		lineNo++
		start := lineNo
		line := strings.TrimLeft(sc.Text(), " \t\f")
		if line == "" || line[0] == '#' || line[0] == '!' {
			continue
		}
		for continues(line) {
			line = line[:len(line)-1]
			if !sc.Scan() {
				break
			}
			lineNo++
			line += strings.TrimLeft(sc.Text(), " \t\f")
		}
		key, value := splitKV(line)
		k, err := unescape(key)
		if err != nil {
			errs = append(errs, &Error{File: name, Line: start, Key: key, Msg: err.Error()})
			continue
		}
		v, err := unescape(value)
		if err != nil {
			errs = append(errs, &Error{File: name, Line: start, Key: k, Msg: err.Error()})
			continue
		}
		props = append(props, Prop{Key: k, Value: strings.TrimRight(v, " \t\f\r"), File: name, Line: start})
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("read %s: %w", name, err)
	}
	return props, errs.Err()
}

// scanLines is bufio.ScanLines that also ends a line at a lone '\r', as
// Java's LineReader does.
func scanLines(data []byte, atEOF bool) (advance int, token []byte, err error) {
	for i, c := range data {
		switch c {
		case '\n':
			return i + 1, data[:i], nil
		case '\r':
			if i+1 < len(data) {
				if data[i+1] == '\n' {
					return i + 2, data[:i], nil
				}
				return i + 1, data[:i], nil
			}
			if !atEOF {
				return 0, nil, nil // a '\n' may follow
			}
			return i + 1, data[:i], nil
		}
	}
	if atEOF && len(data) > 0 {
		return len(data), data, nil
	}
	return 0, nil, nil
}

// continues reports whether line ends in an odd number of backslashes.
func continues(line string) bool {
	n := 0
	for i := len(line) - 1; i >= 0 && line[i] == '\\'; i-- {
		n++
	}
	return n%2 == 1
}

// splitKV splits a logical line at the first unescaped separator.
func splitKV(line string) (key, value string) {
	i := 0
	for i < len(line) {
		c := line[i]
		if c == '\\' {
			i += 2
			continue
		}
		if c == '=' || c == ':' || c == ' ' || c == '\t' || c == '\f' {
			break
		}
		i++
	}
	if i >= len(line) {
		return line, ""
	}
	key = line[:i]
	rest := strings.TrimLeft(line[i:], " \t\f")
	if rest != "" && (rest[0] == '=' || rest[0] == ':') {
		rest = strings.TrimLeft(rest[1:], " \t\f")
	}
	return key, rest
}

// hex4 decodes the four hex digits that start s.
func hex4(s string) (rune, error) {
	if len(s) < 4 {
		return 0, strconv.ErrSyntax
	}
	n, err := strconv.ParseUint(s[:4], 16, 32)
	return rune(n), err
}

func unescape(s string) (string, error) {
	if !strings.Contains(s, `\`) {
		return s, nil
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c != '\\' || i == len(s)-1 {
			b.WriteByte(c)
			continue
		}
		i++
		switch s[i] {
		case 't':
			b.WriteByte('\t')
		case 'n':
			b.WriteByte('\n')
		case 'r':
			b.WriteByte('\r')
		case 'f':
			b.WriteByte('\f')
		case 'u':
			r, err := hex4(s[i+1:])
			if err != nil {
				return "", fmt.Errorf(`malformed \uXXXX escape "%s"`, s[i-1:min(i+5, len(s))])
			}
			i += 4
			// Java strings are UTF-16: a pair of escaped surrogates is
			// one character.
			if utf16.IsSurrogate(r) && strings.HasPrefix(s[i+1:], `\u`) {
				if r2, err := hex4(s[i+3:]); err == nil {
					if c := utf16.DecodeRune(r, r2); c != unicode.ReplacementChar {
						r = c
						i += 6
					}
				}
			}
			b.WriteRune(r)
		default:
			b.WriteByte(s[i])
		}
	}
	return b.String(), nil
}
