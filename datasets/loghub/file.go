package loghub

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"os"
	"strings"
	"time"
)

// maxLeading is how many lines without a timestamp a Reader holds while
// looking for the first stamp.
const maxLeading = 10000

// Reader reads a plain log line by line, stamping each with the time its
// pattern finds in it. A line without a stamp (a stack trace, a wrapped
// message) takes the time of the line before it; lines before the first
// stamp take the first stamp. It holds one line at a time, so a file of
// any size streams.
type Reader struct {
	sc      *bufio.Scanner
	pat     *Pattern
	n       int    // lines read
	ahead   []Line // leading lines waiting for the first stamp
	last    time.Time
	stamped bool
	err     error
	untimed int64
}

// NewReader reads lines from r with the timestamp pattern pat.
func NewReader(r io.Reader, pat *Pattern) *Reader {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 4<<20)
	return &Reader{sc: sc, pat: pat}
}

// Pattern is the reader's timestamp pattern.
func (r *Reader) Pattern() *Pattern { return r.pat }

// Untimed counts the lines that had no timestamp of their own.
func (r *Reader) Untimed() int64 { return r.untimed }

// Next returns the next non-empty line, or false at the end or on an error
// (see Err).
func (r *Reader) Next() (Line, bool) {
	if len(r.ahead) > 0 && r.stamped {
		ln := r.ahead[0]
		r.ahead = r.ahead[1:]
		return ln, true
	}
	for r.err == nil && r.sc.Scan() {
		r.n++
		raw := strings.TrimRight(r.sc.Text(), "\r")
		if strings.TrimSpace(raw) == "" {
			continue
		}
		ln := Line{LineID: r.n, Raw: raw}
		t, err := r.pat.Parse(raw)
		if err != nil {
			r.untimed++
			if !r.stamped {
				if len(r.ahead) >= maxLeading {
					r.err = fmt.Errorf("%w: no line of the first %d matches %s", ErrNoTimestamp, maxLeading, r.pat.Name)
					return Line{}, false
				}
				r.ahead = append(r.ahead, ln)
				continue
			}
			t = r.last
		}
		ln.Time = t
		r.last = t
		if !r.stamped {
			r.stamped = true
			for i := range r.ahead {
				r.ahead[i].Time = t
			}
			if len(r.ahead) > 0 {
				r.ahead = append(r.ahead, ln)
				first := r.ahead[0]
				r.ahead = r.ahead[1:]
				return first, true
			}
		}
		return ln, true
	}
	if r.err == nil {
		r.err = r.sc.Err()
	}
	if r.err == nil && len(r.ahead) > 0 {
		r.err = fmt.Errorf("%w: no line matches %s", ErrNoTimestamp, r.pat.Name)
	}
	return Line{}, false
}

// Err is the error that ended Next, if any.
func (r *Reader) Err() error { return r.err }

// File is a plain log file opened for reading.
type File struct {
	*Reader
	f *os.File
}

// detectBytes is how much of a file DetectPattern sees.
const detectBytes = 256 << 10

// OpenFile opens a plain log file. With pat nil, the timestamp pattern is
// detected from the file's first lines (DetectPattern).
func OpenFile(path string, pat *Pattern) (*File, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	br := bufio.NewReaderSize(f, detectBytes)
	if pat == nil {
		head, err := br.Peek(detectBytes)
		if err != nil && err != io.EOF && err != bufio.ErrBufferFull {
			f.Close()
			return nil, err
		}
		if i := bytes.LastIndexByte(head, '\n'); i >= 0 && len(head) == detectBytes {
			head = head[:i]
		}
		lines := strings.Split(strings.ReplaceAll(string(head), "\r", ""), "\n")
		if len(lines) > 500 {
			lines = lines[:500]
		}
		if pat, err = DetectPattern(lines); err != nil {
			f.Close()
			return nil, fmt.Errorf("%s: %w", path, err)
		}
	}
	return &File{Reader: NewReader(br, pat), f: f}, nil
}

// Close closes the file.
func (f *File) Close() error { return f.f.Close() }
