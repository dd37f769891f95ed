package config

import (
	"errors"
	"fmt"
	"reflect"
	"sort"
	"strconv"
	"strings"
)

// Section is the properties of one component, keyed by the part of the
// key after the component's prefix ("port" for a1.sources.r1.port).
type Section struct {
	Prefix string // e.g. "a1.sources.r1."
	Props  map[string]Prop
}

// Sub returns the keys that start with name + ".", with that part cut.
func (s Section) Sub(name string) Section {
	sub := Section{Prefix: s.Prefix + name + ".", Props: map[string]Prop{}}
	for k, p := range s.Props {
		if rest, ok := strings.CutPrefix(k, name+"."); ok {
			sub.Props[rest] = p
		}
	}
	return sub
}

// Without returns s less the given keys and the keys under the given
// prefixes (a name ending in ".").
func (s Section) Without(names ...string) Section {
	out := Section{Prefix: s.Prefix, Props: map[string]Prop{}}
next:
	for k, p := range s.Props {
		for _, n := range names {
			if k == n || (strings.HasSuffix(n, ".") && strings.HasPrefix(k, n)) {
				continue next
			}
		}
		out.Props[k] = p
	}
	return out
}

// errAt builds an Error located at the property p.
func errAt(p Prop, format string, args ...any) *Error {
	return &Error{File: p.File, Line: p.Line, Key: p.Key, Msg: fmt.Sprintf(format, args...)}
}

// Decode sets the tagged fields of the struct dst points to from s, then
// calls dst's Validate if it has one. Unknown keys, bad numbers and missing
// required keys are all reported; where locates errors that belong to no
// single key (a missing key, a failed Validate).
func Decode(s Section, dst any, where Prop) Errors {
	var errs Errors
	v := reflect.ValueOf(dst).Elem()
	t := v.Type()
	used := map[string]bool{}
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		tag := f.Tag.Get("prop")
		if tag == "" || tag == "-" {
			continue
		}
		name, opts, _ := strings.Cut(tag, ",")
		fv := v.Field(i)
		if base, ok := strings.CutSuffix(name, ".*"); ok {
			m := reflect.MakeMap(f.Type)
			for k, p := range s.Props {
				if rest, ok := strings.CutPrefix(k, base+"."); ok && rest != "" {
					used[k] = true
					m.SetMapIndex(reflect.ValueOf(rest), reflect.ValueOf(p.Value))
				}
			}
			if m.Len() > 0 {
				fv.Set(m)
			}
			continue
		}
		p, ok := s.Props[name]
		if !ok {
			if opts == "required" {
				errs = append(errs, &Error{File: where.File, Line: where.Line, Key: s.Prefix + name, Msg: "required property is missing"})
			}
			continue
		}
		used[name] = true
		if err := setValue(fv, p.Value); err != nil {
			errs = append(errs, errAt(p, "%v", err))
		}
	}
	var unknown []string
	for k := range s.Props {
		if !used[k] {
			unknown = append(unknown, k)
		}
	}
	sort.Strings(unknown)
	for _, k := range unknown {
		errs = append(errs, errAt(s.Props[k], "unknown property %q", k))
	}
	if len(errs) == 0 {
		if val, ok := dst.(interface{ Validate() error }); ok {
			if err := val.Validate(); err != nil {
				errs = append(errs, &Error{File: where.File, Line: where.Line, Key: strings.TrimSuffix(s.Prefix, "."), Msg: err.Error()})
			}
		}
	}
	return errs
}

func setValue(fv reflect.Value, text string) error {
	text = strings.TrimSpace(text)
	switch fv.Kind() {
	case reflect.String:
		fv.SetString(text)
	case reflect.Int, reflect.Int64, reflect.Int32:
		n, err := strconv.ParseInt(text, 10, 64)
		if errors.Is(err, strconv.ErrRange) || err == nil && fv.OverflowInt(n) {
			return fmt.Errorf("%q is out of range", text)
		}
		if err != nil {
			return fmt.Errorf("%q is not an integer", text)
		}
		fv.SetInt(n)
	case reflect.Float64:
		x, err := strconv.ParseFloat(text, 64)
		if err != nil {
			return fmt.Errorf("%q is not a number", text)
		}
		fv.SetFloat(x)
	case reflect.Bool:
		switch strings.ToLower(text) {
		case "true":
			fv.SetBool(true)
		case "false":
			fv.SetBool(false)
		default:
			return fmt.Errorf("%q is not true or false", text)
		}
	case reflect.Slice:
		if fv.Type().Elem().Kind() != reflect.String {
			return fmt.Errorf("unsupported field type %s", fv.Type())
		}
		fv.Set(reflect.ValueOf(strings.Fields(text)))
	default:
		return fmt.Errorf("unsupported field type %s", fv.Type())
	}
	return nil
}
