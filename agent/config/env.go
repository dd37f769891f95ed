package config

import (
	"fmt"
	"strings"
)

// Substitute replaces ${NAME} in every value with lookup(NAME), as Flume's
// EnvVarResolverProperties does. A reference to an unset variable is an
// error at that key; "$${" escapes a literal "${".
func Substitute(props []Prop, lookup func(string) (string, bool)) ([]Prop, error) {
	var errs Errors
	out := make([]Prop, len(props))
	for i, p := range props {
		out[i] = p
		if !strings.Contains(p.Value, "${") {
			continue
		}
		v, err := expand(p.Value, lookup)
		if err != nil {
			errs = append(errs, &Error{File: p.File, Line: p.Line, Key: p.Key, Msg: err.Error()})
			continue
		}
		out[i].Value = v
	}
	return out, errs.Err()
}

func expand(s string, lookup func(string) (string, bool)) (string, error) {
	var b strings.Builder
	for {
		i := strings.Index(s, "${")
		if i < 0 {
			b.WriteString(s)
			return b.String(), nil
		}
		if i > 0 && s[i-1] == '$' {
			b.WriteString(s[:i-1])
			b.WriteString("${")
			s = s[i+2:]
			continue
		}
		b.WriteString(s[:i])
		j := strings.IndexByte(s[i:], '}')
		if j < 0 {
			return "", fmt.Errorf("unterminated ${ in %q", s)
		}
		name := s[i+2 : i+j]
		if name == "" {
			return "", fmt.Errorf("empty variable name in ${}")
		}
		v, ok := lookup(name)
		if !ok {
			return "", fmt.Errorf("environment variable %s is not set", name)
		}
		b.WriteString(v)
		s = s[i+j+1:]
	}
}
