package webstore

import (
	"strconv"
	"time"
)

// Append-based formatting for the hot path: no fmt, no allocation once the
// buffers have grown. Calendar fields are computed once per second of log
// time and cached per format.

const hexDigits = "0123456789abcdef"

// appendPad2 appends v (0..99) as two digits.
func appendPad2(b []byte, v int) []byte {
	return append(b, byte('0'+v/10), byte('0'+v%10))
}

// appendPad3 appends v (0..999) as three digits.
func appendPad3(b []byte, v int) []byte {
	return append(b, byte('0'+v/100), byte('0'+v/10%10), byte('0'+v%10))
}

// appendPad4 appends v (0..9999) as four digits.
func appendPad4(b []byte, v int) []byte {
	return append(b, byte('0'+v/1000), byte('0'+v/100%10), byte('0'+v/10%10), byte('0'+v%10))
}

// appendInt appends a non-negative decimal.
func appendInt(b []byte, v int64) []byte {
	if v >= 0 && v < 10 {
		return append(b, byte('0'+v))
	}
	return strconv.AppendInt(b, v, 10)
}

// appendFixed3 appends v/1000 with three decimals: 43 -> "0.043".
func appendFixed3(b []byte, v int64) []byte {
	b = appendInt(b, v/1000)
	b = append(b, '.')
	return appendPad3(b, int(v%1000))
}

// appendHex64 appends v as 16 lower-case hex digits.
func appendHex64(b []byte, v uint64) []byte {
	for s := 60; s >= 0; s -= 4 {
		b = append(b, hexDigits[(v>>uint(s))&0xf])
	}
	return b
}

// appendIP appends a dotted IPv4 address.
func appendIP(b []byte, ip uint32) []byte {
	b = appendInt(b, int64(ip>>24))
	b = append(b, '.')
	b = appendInt(b, int64(ip>>16&0xff))
	b = append(b, '.')
	b = appendInt(b, int64(ip>>8&0xff))
	b = append(b, '.')
	return appendInt(b, int64(ip&0xff))
}

// appendZone appends a numeric UTC offset, "+0000" or "-0700".
func appendZone(b []byte, off int, colon bool) []byte {
	sign := byte('+')
	if off < 0 {
		sign, off = '-', -off
	}
	b = append(b, sign)
	b = appendPad2(b, off/3600)
	if colon {
		b = append(b, ':')
	}
	return appendPad2(b, off/60%60)
}

// clock caches the text of one timestamp format for the current second.
type clock struct {
	loc  *time.Location
	sec  int64 // the cached second (Unix), or minInt64
	apa  []byte
	iso  []byte
	ngx  []byte
	pg   []byte
	zone []byte // zone suffix of iso: "Z" or "+01:00"
	pgz  []byte // zone of the PostgreSQL prefix: "UTC" or "+01"
}

var monthAbbr = [...]string{"Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"}

func newClock(loc *time.Location) *clock {
	return &clock{loc: loc, sec: -1 << 63}
}

// set recomputes the cached texts when ns falls in another second.
func (c *clock) set(ns int64) {
	sec := ns / 1e9
	if ns < 0 && ns%1e9 != 0 {
		sec--
	}
	if sec == c.sec {
		return
	}
	c.sec = sec
	t := time.Unix(sec, 0).In(c.loc)
	y, mo, d := t.Date()
	h, mi, s := t.Clock()
	_, off := t.Zone()

	// Apache/NGINX $time_local: 02/Jan/2006:15:04:05 -0700
	b := c.apa[:0]
	b = appendPad2(b, d)
	b = append(b, '/')
	b = append(b, monthAbbr[mo-1]...)
	b = append(b, '/')
	b = appendPad4(b, y)
	b = append(b, ':')
	b = appendPad2(b, h)
	b = append(b, ':')
	b = appendPad2(b, mi)
	b = append(b, ':')
	b = appendPad2(b, s)
	b = append(b, ' ')
	c.apa = appendZone(b, off, false)

	// ISO 8601 up to the seconds: 2006-01-02T15:04:05
	b = c.iso[:0]
	b = appendPad4(b, y)
	b = append(b, '-')
	b = appendPad2(b, int(mo))
	b = append(b, '-')
	b = appendPad2(b, d)
	b = append(b, 'T')
	b = appendPad2(b, h)
	b = append(b, ':')
	b = appendPad2(b, mi)
	b = append(b, ':')
	c.iso = appendPad2(b, s)
	if off == 0 {
		c.zone = append(c.zone[:0], 'Z')
	} else {
		c.zone = appendZone(c.zone[:0], off, true)
	}

	// NGINX error log: 2006/01/02 15:04:05
	b = c.ngx[:0]
	b = appendPad4(b, y)
	b = append(b, '/')
	b = appendPad2(b, int(mo))
	b = append(b, '/')
	b = appendPad2(b, d)
	b = append(b, ' ')
	b = appendPad2(b, h)
	b = append(b, ':')
	b = appendPad2(b, mi)
	b = append(b, ':')
	c.ngx = appendPad2(b, s)

	// PostgreSQL %m: 2006-01-02 15:04:05 (then .mmm and the zone)
	b = append(c.pg[:0], c.iso...)
	b[10] = ' '
	c.pg = b
	if off == 0 {
		c.pgz = append(c.pgz[:0], "UTC"...)
	} else {
		c.pgz = appendZone(c.pgz[:0], off, false)
	}
}

// millis is the millisecond within the second of ns.
func millis(ns int64) int {
	m := ns % 1e9
	if m < 0 {
		m += 1e9
	}
	return int(m / 1e6)
}
