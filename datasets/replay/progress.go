package replay

import (
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"time"
)

// IsTerminal reports whether f is a terminal (a character device).
func IsTerminal(f *os.File) bool {
	fi, err := f.Stat()
	return err == nil && fi.Mode()&os.ModeCharDevice != 0
}

// Reporter shows a replay's progress: on a terminal, one line redrawn in
// place with a bar; otherwise a plain line every Every.
type Reporter struct {
	w     io.Writer
	tty   bool
	every time.Duration
	last  time.Time
	width int // of the bar, in cells
	drew  bool
}

// NewReporter returns a reporter writing to w; tty selects the redrawn
// bar (see IsTerminal). Plain lines come every 5 s.
func NewReporter(w io.Writer, tty bool) *Reporter {
	every := 5 * time.Second
	if tty {
		every = 200 * time.Millisecond
	}
	return &Reporter{w: w, tty: tty, every: every, width: 30}
}

// SetEvery changes how often a plain line is written.
func (r *Reporter) SetEvery(d time.Duration) { r.every = d }

// Update shows p, at most once per interval, and always when p.Done.
func (r *Reporter) Update(p Progress) {
	now := time.Now()
	if !p.Done && now.Sub(r.last) < r.every {
		return
	}
	r.last = now
	if r.tty {
		fmt.Fprintf(r.w, "\r%s %s\x1b[K", r.bar(p.Fraction), r.text(p))
		r.drew = true
		if p.Done {
			fmt.Fprintln(r.w)
		}
		return
	}
	fmt.Fprintf(r.w, "replay: %s\n", r.text(p))
}

// bar draws [=====>    ] for a fraction, or a bouncing marker when
// unknown.
func (r *Reporter) bar(f float64) string {
	cells := make([]byte, r.width)
	for i := range cells {
		cells[i] = ' '
	}
	if f < 0 {
		pos := int(time.Now().UnixMilli()/100) % (2 * (r.width - 1))
		if pos >= r.width {
			pos = 2*(r.width-1) - pos
		}
		cells[pos] = '#'
	} else {
		n := int(f * float64(r.width))
		for i := 0; i < n && i < r.width; i++ {
			cells[i] = '='
		}
		if n < r.width {
			cells[n] = '>'
		}
	}
	return "[" + string(cells) + "]"
}

func (r *Reporter) text(p Progress) string {
	var b strings.Builder
	if p.Fraction >= 0 {
		fmt.Fprintf(&b, "%5.1f%% ", 100*p.Fraction)
	}
	fmt.Fprintf(&b, "%s events sent, %s acked, %s lost, %s/s", count(p.Sent), count(p.Acked), count(p.Failed), count(int64(p.Rate)))
	if !p.LogTime.IsZero() {
		fmt.Fprintf(&b, ", log time %s", p.LogTime.Format("2006-01-02 15:04:05"))
	}
	switch {
	case p.Done:
		fmt.Fprintf(&b, ", done in %s", p.Elapsed.Round(time.Millisecond))
	case p.ETA >= 0:
		fmt.Fprintf(&b, ", ETA %s", p.ETA.Round(time.Second))
	}
	return b.String()
}

// count writes n with k and M suffixes past 10000.
func count(n int64) string {
	switch {
	case n >= 10_000_000:
		return strconv.FormatFloat(float64(n)/1e6, 'f', 1, 64) + "M"
	case n >= 10_000:
		return strconv.FormatFloat(float64(n)/1e3, 'f', 1, 64) + "k"
	}
	return strconv.FormatInt(n, 10)
}
