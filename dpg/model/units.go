package model

import (
	"encoding/json"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"
)

// ByteRate is a rate in bytes per second. In JSON it is a number of bytes
// per second or a string with a unit: "125MB/s", "10Gbit/s", "512KiB/s"
// (decimal kB, MB, GB, TB; binary KiB, MiB, GiB, TiB; bit, kbit, Mbit,
// Gbit, Tbit). It is written back as a string in decimal units.
type ByteRate float64

// Bytes is a size in bytes, in JSON a number or a string with a unit as for
// ByteRate but without "/s": "256MiB", "16GB".
type Bytes float64

// Duration is a time span, in JSON a Go duration string ("0.2ms", "20ms",
// "10s") or a number of seconds.
type Duration time.Duration

// Seconds is d in seconds.
func (d Duration) Seconds() float64 { return time.Duration(d).Seconds() }

// String formats d as a Go duration.
func (d Duration) String() string { return time.Duration(d).String() }

// MarshalJSON writes d as a Go duration string.
func (d Duration) MarshalJSON() ([]byte, error) { return json.Marshal(d.String()) }

// UnmarshalJSON reads a Go duration string or a number of seconds.
func (d *Duration) UnmarshalJSON(b []byte) error {
	var f float64
	if err := json.Unmarshal(b, &f); err == nil {
		if f < 0 || math.IsNaN(f) {
			return fmt.Errorf("duration %v: must be >= 0", f)
		}
		*d = Duration(f * float64(time.Second))
		return nil
	}
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return fmt.Errorf("duration: want a string like \"20ms\" or a number of seconds, got %s", b)
	}
	v, err := time.ParseDuration(strings.TrimSpace(s))
	if err != nil {
		return fmt.Errorf("duration %q: %v", s, err)
	}
	if v < 0 {
		return fmt.Errorf("duration %q: must be >= 0", s)
	}
	*d = Duration(v)
	return nil
}

// MarshalJSON writes r as a string in decimal units.
func (r ByteRate) MarshalJSON() ([]byte, error) { return json.Marshal(FormatRate(float64(r))) }

// UnmarshalJSON reads a number of bytes per second or a string with a unit.
func (r *ByteRate) UnmarshalJSON(b []byte) error {
	v, err := parseQuantity(b, true)
	if err != nil {
		return err
	}
	*r = ByteRate(v)
	return nil
}

// MarshalJSON writes n as a string in binary units.
func (n Bytes) MarshalJSON() ([]byte, error) { return json.Marshal(FormatBytes(float64(n))) }

// UnmarshalJSON reads a number of bytes or a string with a unit.
func (n *Bytes) UnmarshalJSON(b []byte) error {
	v, err := parseQuantity(b, false)
	if err != nil {
		return err
	}
	*n = Bytes(v)
	return nil
}

// ParseByteRate parses a rate such as "10MB/s" or "1Gbit/s"; a bare number
// is bytes per second.
func ParseByteRate(s string) (float64, error) { return parseUnit(s, true) }

// ParseBytes parses a size such as "256MiB"; a bare number is bytes.
func ParseBytes(s string) (float64, error) { return parseUnit(s, false) }

func parseQuantity(b []byte, rate bool) (float64, error) {
	var f float64
	if err := json.Unmarshal(b, &f); err == nil {
		if f < 0 || math.IsNaN(f) || math.IsInf(f, 0) {
			return 0, fmt.Errorf("%v: must be a finite number >= 0", f)
		}
		return f, nil
	}
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		if rate {
			return 0, fmt.Errorf("want a rate like \"10MB/s\" or a number of bytes per second, got %s", b)
		}
		return 0, fmt.Errorf("want a size like \"256MiB\" or a number of bytes, got %s", b)
	}
	return parseUnit(s, rate)
}

var unitFactors = map[string]float64{
	"": 1, "b": 1, "byte": 1, "bytes": 1,
	"kb": 1e3, "mb": 1e6, "gb": 1e9, "tb": 1e12,
	"kib": 1 << 10, "mib": 1 << 20, "gib": 1 << 30, "tib": 1 << 40,
	"bit": 1.0 / 8, "kbit": 1e3 / 8, "mbit": 1e6 / 8, "gbit": 1e9 / 8, "tbit": 1e12 / 8,
}

func parseUnit(s string, rate bool) (float64, error) {
	orig := s
	s = strings.TrimSpace(s)
	if rate {
		if t, ok := strings.CutSuffix(s, "/s"); ok {
			s = strings.TrimSpace(t)
		} else if t, ok := strings.CutSuffix(s, "ps"); ok && strings.HasSuffix(strings.ToLower(t), "bit") {
			s = strings.TrimSpace(t) // "Gbps"-like spelled "Gbitps"
		}
	}
	i := len(s)
	for i > 0 && (s[i-1] < '0' || s[i-1] > '9') && s[i-1] != '.' {
		i--
	}
	num, unit := strings.TrimSpace(s[:i]), strings.ToLower(strings.TrimSpace(s[i:]))
	f, ok := unitFactors[unit]
	if !ok {
		return 0, fmt.Errorf("%q: unknown unit %q (B, kB, MB, GB, KiB, MiB, GiB, bit, Mbit, Gbit)", orig, strings.TrimSpace(s[i:]))
	}
	v, err := strconv.ParseFloat(num, 64)
	if err != nil || v < 0 || math.IsInf(v, 0) {
		return 0, fmt.Errorf("%q: not a number >= 0", orig)
	}
	return v * f, nil
}

// FormatRate formats bytes per second with a decimal unit and three
// significant digits: "73 MB/s", "1.25 GB/s", "812 B/s".
func FormatRate(v float64) string { return formatDecimal(v) + "/s" }

// FormatBytes formats a size with a binary unit: "256 MiB".
func FormatBytes(v float64) string {
	if math.IsInf(v, 1) {
		return "unlimited"
	}
	units := []string{"B", "KiB", "MiB", "GiB", "TiB"}
	i := 0
	for i < len(units)-1 && math.Abs(v) >= 1024 {
		v /= 1024
		i++
	}
	return sig3(v) + " " + units[i]
}

func formatDecimal(v float64) string {
	if math.IsInf(v, 1) {
		return "unlimited"
	}
	units := []string{"B", "kB", "MB", "GB", "TB"}
	i := 0
	for i < len(units)-1 && math.Abs(v) >= 999.5 {
		v /= 1000
		i++
	}
	return sig3(v) + " " + units[i]
}

// sig3 formats v with three significant digits and no trailing zeros.
func sig3(v float64) string {
	if v == 0 {
		return "0"
	}
	s := strconv.FormatFloat(v, 'g', 3, 64)
	if strings.ContainsAny(s, "e") {
		s = strconv.FormatFloat(v, 'f', 0, 64)
	}
	return s
}
