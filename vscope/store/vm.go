package store

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"time"
	"unsafe"
)

// VictoriaMetrics is the store backed by a VictoriaMetrics server (single
// node or vminsert/vmselect behind one URL). A series is the metric name
// with the labels host, agent, component and kind; an empty name is an
// absent label. Points go in through /api/v1/import (JSON lines, one line
// per series) and windows come back through /api/v1/export. Retention is
// the server's (-retentionPeriod), so Retain does nothing.
type VictoriaMetrics struct {
	url    string
	client *http.Client
}

var _ Store = (*VictoriaMetrics)(nil)

// NewVictoriaMetrics returns the store of the server at base (for example
// http://127.0.0.1:8428). A nil client gets one with a 5 minute timeout.
func NewVictoriaMetrics(base string, client *http.Client) *VictoriaMetrics {
	if client == nil {
		client = &http.Client{Timeout: 5 * time.Minute}
	}
	return &VictoriaMetrics{url: strings.TrimRight(base, "/"), client: client}
}

// URL is the server's base URL.
func (v *VictoriaMetrics) URL() string { return v.url }

// Append imports b: one JSON line per series of the batch.
func (v *VictoriaMetrics) Append(ctx context.Context, b *Batch) error {
	if err := b.Validate(); err != nil {
		return err
	}
	if b.Len() == 0 {
		return nil
	}
	body := encodeVMImport(b)
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, v.url+"/api/v1/import", bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	return v.do(req, nil)
}

// encodeVMImport writes the JSON lines of /api/v1/import for b. Non-finite
// values, which JSON cannot carry, are left out.
func encodeVMImport(b *Batch) []byte {
	// Points of each series, in batch order.
	start := make([]int, len(b.Series)+1)
	for _, r := range b.Ref {
		start[r+1]++
	}
	for i := 1; i < len(start); i++ {
		start[i] += start[i-1]
	}
	order := make([]int32, len(b.Ref))
	fill := append([]int(nil), start[:len(b.Series)]...)
	for i, r := range b.Ref {
		order[fill[r]] = int32(i)
		fill[r]++
	}
	buf := make([]byte, 0, len(b.Ref)*32+len(b.Series)*96)
	for s, x := range b.Series {
		pts := order[start[s]:start[s+1]]
		if len(pts) == 0 {
			continue
		}
		buf = append(buf, `{"metric":{"__name__":`...)
		buf = strconv.AppendQuote(buf, x.Metric)
		for _, l := range [4][2]string{{"host", x.Host}, {"agent", x.Agent}, {"component", x.Component}, {"kind", x.Kind}} {
			if l[1] == "" {
				continue
			}
			buf = append(buf, `,"`...)
			buf = append(buf, l[0]...)
			buf = append(buf, `":`...)
			buf = strconv.AppendQuote(buf, l[1])
		}
		buf = append(buf, `},"values":[`...)
		n := 0
		for _, i := range pts {
			f := b.Value[i]
			if math.IsNaN(f) || math.IsInf(f, 0) {
				continue
			}
			if n > 0 {
				buf = append(buf, ',')
			}
			buf = strconv.AppendFloat(buf, f, 'g', -1, 64)
			n++
		}
		buf = append(buf, `],"timestamps":[`...)
		n = 0
		for _, i := range pts {
			f := b.Value[i]
			if math.IsNaN(f) || math.IsInf(f, 0) {
				continue
			}
			if n > 0 {
				buf = append(buf, ',')
			}
			buf = strconv.AppendInt(buf, b.TS[i], 10)
			n++
		}
		buf = append(buf, "]}\n"...)
	}
	return buf
}

// Flush asks the server to make everything imported so far searchable
// (/internal/force_flush), as tests and benchmarks need.
func (v *VictoriaMetrics) Flush(ctx context.Context) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, v.url+"/internal/force_flush", nil)
	if err != nil {
		return err
	}
	return v.do(req, nil)
}

func (v *VictoriaMetrics) do(req *http.Request, read func(io.Reader) error) error {
	resp, err := v.client.Do(req)
	if err != nil {
		return fmt.Errorf("victoriametrics: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode/100 != 2 {
		msg, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
		return fmt.Errorf("victoriametrics %s %s: %s: %s", req.Method, req.URL.Path, resp.Status, bytes.TrimSpace(msg))
	}
	if read != nil {
		if err := read(resp.Body); err != nil {
			return fmt.Errorf("victoriametrics %s: %w", req.URL.Path, err)
		}
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	return nil
}

// selector is a series selector matching at least the series f matches
// (globs become regexps); the exact selection is made again on the result.
func selector(f Filter) string {
	var parts []string
	add := func(label, g string) {
		switch {
		case g == "" || g == "*":
		case !strings.ContainsAny(g, `*?[\`):
			parts = append(parts, label+"="+strconv.Quote(g))
		default:
			parts = append(parts, label+"=~"+strconv.Quote(globRegexp(g)))
		}
	}
	add("__name__", f.Metric)
	add("host", f.Host)
	add("agent", f.Agent)
	add("component", f.Component)
	add("kind", f.Kind)
	if len(parts) == 0 {
		parts = append(parts, `__name__!=""`)
	}
	return "{" + strings.Join(parts, ",") + "}"
}

// globRegexp turns a path.Match glob into a regexp matching a superset.
func globRegexp(g string) string {
	var sb strings.Builder
	for i := 0; i < len(g); i++ {
		switch c := g[i]; c {
		case '*':
			sb.WriteString(".*")
		case '?':
			sb.WriteString(".")
		case '[':
			j := strings.IndexByte(g[i:], ']')
			if j < 0 {
				sb.WriteString(`\[`)
				continue
			}
			class := g[i+1 : i+j]
			if strings.HasPrefix(class, "^") || strings.HasPrefix(class, "!") {
				class = "^" + class[1:]
			}
			sb.WriteString("[" + strings.ReplaceAll(class, `\`, `\\`) + "]")
			i += j
		case '\\':
			if i+1 < len(g) {
				i++
				sb.WriteString(regexp.QuoteMeta(g[i : i+1]))
			}
		default:
			sb.WriteString(regexp.QuoteMeta(string(c)))
		}
	}
	return sb.String()
}

func msParam(ms int64) string { return strconv.FormatFloat(float64(ms)/1000, 'f', 3, 64) }

// Read exports the window's raw points and aligns them.
func (v *VictoriaMetrics) Read(ctx context.Context, q Query) (*Matrix, error) {
	from, to, step, err := q.window()
	if err != nil {
		return nil, err
	}
	form := url.Values{"match[]": {selector(q.Filter)}, "start": {msParam(from)}, "end": {msParam(to - 1)}}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, v.url+"/api/v1/export", strings.NewReader(form.Encode()))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	type got struct {
		ts []int64
		v  []float64
	}
	var series []Series
	var data []got
	err = v.do(req, func(r io.Reader) error {
		return readVMExport(r, func(s Series, ts []int64, vals []float64) {
			if q.Filter.Match(s) {
				series = append(series, s)
				data = append(data, got{append([]int64(nil), ts...), append([]float64(nil), vals...)})
			}
		})
	})
	if err != nil {
		return nil, err
	}
	// Columns sorted by name; a series may come back in several lines.
	idx := map[Series]int{}
	var names []Series
	for _, s := range series {
		if _, ok := idx[s]; !ok {
			idx[s] = 0
			names = append(names, s)
		}
	}
	sortSeriesNames(names)
	for i, s := range names {
		idx[s] = i
	}
	if err := checkCells(from, to, step, len(names)); err != nil {
		return nil, err
	}
	col := make([]int32, len(names))
	for i := range col {
		col[i] = int32(i)
	}
	mb := newMatrixBuilder(from, to, step, names, col, make([]float64, matrixRows(from, to, step)*len(names)))
	mb.clearRows(from, to)
	var sid []int32
	for i, d := range data {
		sid = sid[:0]
		for range d.ts {
			sid = append(sid, int32(idx[series[i]]))
		}
		mb.add(sid, d.ts, d.v)
	}
	return mb.finish(), nil
}

func sortSeriesNames(s []Series) {
	info := make([]SeriesInfo, len(s))
	for i := range s {
		info[i].Series = s[i]
	}
	sortSeries(info)
	for i := range s {
		s[i] = info[i].Series
	}
}

// readVMExport parses /api/v1/export JSON lines, calling fn per line with
// slices valid only during the call.
func readVMExport(r io.Reader, fn func(Series, []int64, []float64)) error {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 1<<20), 1<<30)
	var ts []int64
	var vals []float64
	for sc.Scan() {
		line := sc.Bytes()
		if len(bytes.TrimSpace(line)) == 0 {
			continue
		}
		mEnd := bytes.Index(line, []byte(`},"values":[`))
		tStart := bytes.Index(line, []byte(`],"timestamps":[`))
		if !bytes.HasPrefix(line, []byte(`{"metric":`)) || mEnd < 0 || tStart < mEnd {
			return fmt.Errorf("unexpected export line %.200q", line)
		}
		var labels map[string]string
		if err := json.Unmarshal(line[len(`{"metric":`):mEnd+1], &labels); err != nil {
			return fmt.Errorf("export labels: %w", err)
		}
		s := Series{Host: labels["host"], Agent: labels["agent"], Component: labels["component"], Kind: labels["kind"], Metric: labels["__name__"]}
		var err error
		vals, err = parseNumbers(vals[:0], line[mEnd+len(`},"values":[`):tStart], func(b []byte) (float64, error) {
			return strconv.ParseFloat(unsafe.String(unsafe.SliceData(b), len(b)), 64)
		})
		if err != nil {
			return err
		}
		rest := line[tStart+len(`],"timestamps":[`):]
		end := bytes.IndexByte(rest, ']')
		if end < 0 {
			return fmt.Errorf("unterminated timestamps in export line")
		}
		ts, err = parseNumbers(ts[:0], rest[:end], func(b []byte) (int64, error) {
			return strconv.ParseInt(unsafe.String(unsafe.SliceData(b), len(b)), 10, 64)
		})
		if err != nil {
			return err
		}
		if len(ts) != len(vals) {
			return fmt.Errorf("export line with %d values and %d timestamps", len(vals), len(ts))
		}
		fn(s, ts, vals)
	}
	return sc.Err()
}

func parseNumbers[T any](dst []T, b []byte, parse func([]byte) (T, error)) ([]T, error) {
	for len(b) > 0 {
		i := bytes.IndexByte(b, ',')
		tok := b
		if i >= 0 {
			tok, b = b[:i], b[i+1:]
		} else {
			b = nil
		}
		x, err := parse(bytes.TrimSpace(tok))
		if err != nil {
			return dst, fmt.Errorf("export number %q: %w", tok, err)
		}
		dst = append(dst, x)
	}
	return dst, nil
}

// Series lists the series matching f (point counts are unknown: -1).
func (v *VictoriaMetrics) Series(ctx context.Context, f Filter) ([]SeriesInfo, error) {
	if err := f.Validate(); err != nil {
		return nil, err
	}
	form := url.Values{"match[]": {selector(f)}, "start": {"1"}, "end": {msParam(time.Now().Add(24 * time.Hour).UnixMilli())}}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, v.url+"/api/v1/series", strings.NewReader(form.Encode()))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	var out []SeriesInfo
	err = v.do(req, func(r io.Reader) error {
		var resp struct {
			Status string              `json:"status"`
			Data   []map[string]string `json:"data"`
		}
		if err := json.NewDecoder(r).Decode(&resp); err != nil {
			return err
		}
		for _, l := range resp.Data {
			s := Series{Host: l["host"], Agent: l["agent"], Component: l["component"], Kind: l["kind"], Metric: l["__name__"]}
			if f.Match(s) {
				out = append(out, SeriesInfo{Series: s, Points: -1})
			}
		}
		return nil
	})
	sortSeries(out)
	return out, err
}

// Retain does nothing: the server applies its own -retentionPeriod.
func (v *VictoriaMetrics) Retain(context.Context, time.Time) error { return nil }

// Close releases idle connections.
func (v *VictoriaMetrics) Close() error {
	v.client.CloseIdleConnections()
	return nil
}
