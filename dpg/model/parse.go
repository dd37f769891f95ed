package model

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"reflect"
	"sort"
	"strings"
)

// Errors of this package.
var (
	// ErrInvalid is wrapped by every error about a topology's content.
	ErrInvalid = errors.New("invalid topology")
)

// Problems is every problem found in a topology, each with its key path
// ("hosts[web-03].agents[a1].components[2].kind: required"). It wraps
// ErrInvalid.
type Problems []string

func (p Problems) Error() string {
	if len(p) == 1 {
		return "invalid topology: " + p[0]
	}
	return fmt.Sprintf("invalid topology: %d problems:\n  %s", len(p), strings.Join(p, "\n  "))
}

// Unwrap makes errors.Is(err, ErrInvalid) true.
func (p Problems) Unwrap() error { return ErrInvalid }

// LoadFile reads and compiles a JSON topology file.
func LoadFile(path string) (*Instance, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	t, err := Parse(b)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	in, err := Compile(t)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return in, nil
}

// Parse decodes a JSON topology strictly: a syntax error is reported with
// its line and column, and every unknown key with its path.
func Parse(b []byte) (*Topology, error) {
	var raw any
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	if err := dec.Decode(&raw); err != nil {
		return nil, fmt.Errorf("%w: %s", ErrInvalid, jsonErr(b, err))
	}
	if dec.More() {
		return nil, fmt.Errorf("%w: data after the top-level object", ErrInvalid)
	}
	var probs Problems
	unknownKeys(raw, reflect.TypeFor[Topology](), "", &probs)
	if len(probs) > 0 {
		return nil, probs
	}
	var t Topology
	if err := json.Unmarshal(b, &t); err != nil {
		var ute *json.UnmarshalTypeError
		if errors.As(err, &ute) && ute.Field != "" {
			return nil, Problems{fmt.Sprintf("%s: want %s, got a JSON %s", ute.Field, ute.Type, ute.Value)}
		}
		return nil, fmt.Errorf("%w: %s", ErrInvalid, jsonErr(b, err))
	}
	return &t, nil
}

// jsonErr adds line:column to a JSON syntax error.
func jsonErr(b []byte, err error) string {
	var se *json.SyntaxError
	if errors.As(err, &se) {
		line, col := 1, 1
		for _, c := range b[:min(int(se.Offset), len(b))] {
			if c == '\n' {
				line, col = line+1, 1
			} else {
				col++
			}
		}
		return fmt.Sprintf("line %d:%d: %v", line, col, err)
	}
	return err.Error()
}

var unmarshalerType = reflect.TypeFor[json.Unmarshaler]()

// unknownKeys walks decoded JSON against the Go type it will be decoded
// into and records every object key that has no field.
func unknownKeys(v any, t reflect.Type, path string, probs *Problems) {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if reflect.PointerTo(t).Implements(unmarshalerType) {
		// Values with units: check them here, where the path is known.
		b, err := json.Marshal(v)
		if err == nil {
			err = reflect.New(t).Interface().(json.Unmarshaler).UnmarshalJSON(b)
		}
		if err != nil {
			*probs = append(*probs, fmt.Sprintf("%s: %v", path, err))
		}
		return
	}
	switch t.Kind() {
	case reflect.Struct:
		obj, ok := v.(map[string]any)
		if !ok {
			return // the type error is reported by json.Unmarshal
		}
		fields := map[string]reflect.Type{}
		collectFields(t, fields)
		keys := make([]string, 0, len(obj))
		for k := range obj {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			ft, ok := fields[k]
			if !ok {
				*probs = append(*probs, fmt.Sprintf("%s: unknown key", joinPath(path, k)))
				continue
			}
			unknownKeys(obj[k], ft, joinPath(path, k), probs)
		}
	case reflect.Slice:
		arr, ok := v.([]any)
		if !ok {
			return
		}
		for i, e := range arr {
			unknownKeys(e, t.Elem(), fmt.Sprintf("%s[%s]", path, elemName(e, i)), probs)
		}
	case reflect.Map:
		obj, ok := v.(map[string]any)
		if !ok {
			return
		}
		for k, e := range obj {
			unknownKeys(e, t.Elem(), fmt.Sprintf("%s[%s]", path, k), probs)
		}
	}
}

func collectFields(t reflect.Type, out map[string]reflect.Type) {
	for i := range t.NumField() {
		f := t.Field(i)
		tag := f.Tag.Get("json")
		name, _, _ := strings.Cut(tag, ",")
		if f.Anonymous && name == "" {
			collectFields(f.Type, out)
			continue
		}
		if !f.IsExported() || name == "-" {
			continue
		}
		if name == "" {
			name = f.Name
		}
		out[name] = f.Type
	}
}

// elemName names an array element by its "name" key when it has one.
func elemName(e any, i int) string {
	if obj, ok := e.(map[string]any); ok {
		if n, ok := obj["name"].(string); ok && n != "" {
			return n
		}
	}
	return fmt.Sprint(i)
}

func joinPath(path, k string) string {
	if path == "" {
		return k
	}
	return path + "." + k
}
