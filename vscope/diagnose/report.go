package diagnose

import (
	"encoding/json"
	"fmt"
	"html/template"
	"io"
	"math"
	"strings"
	"time"

	"github.com/olekukonko/tablewriter"
	"github.com/olekukonko/tablewriter/tw"
)

// componentName is agent/component, or the component alone for host-wide
// groups.
func componentName(agent, component string) string {
	if agent == "" {
		return component
	}
	return agent + "/" + component
}

func onsetString(t *time.Time, ref time.Time) string {
	if t == nil {
		return "-"
	}
	return clock(*t, ref)
}

// newTable is a table whose long cells (evidence, why) wrap at 72 columns.
func newTable(w io.Writer) *tablewriter.Table {
	return tablewriter.NewWriter(w).Options(tablewriter.WithHeaderAutoFormat(tw.Off),
		tablewriter.WithRowAutoWrap(tw.WrapNormal), tablewriter.WithRowMaxWidth(72))
}

// WriteTable writes the summary, the ranking and the anomalous components
// as text tables.
func WriteTable(w io.Writer, r *Result) error {
	fmt.Fprintf(w, "window %s .. %s (%d points at %s, %d of %d series scored); baseline %s .. %s (%d of %d points, %s",
		tfmt(r.Window.From), tfmt(r.Window.To), r.Window.Rows, r.Window.Step, r.Window.Metrics, r.Window.Series,
		tfmt(r.Baseline.From), tfmt(r.Baseline.To), r.Baseline.UsedRows, r.Baseline.Rows, r.Baseline.Mode)
	if r.Baseline.Mode == "pca" {
		fmt.Fprintf(w, ", %d components", r.Baseline.Components)
	}
	fmt.Fprintln(w, ")")
	for _, s := range r.Summary {
		fmt.Fprintln(w, "  "+s)
	}
	if len(r.Ranking) > 0 {
		fmt.Fprintln(w)
		t := newTable(w)
		t.Header("Rank", "Metric", "Component", "Host", "Score", "Onset", "Evidence")
		for _, m := range r.Ranking {
			if err := t.Append([]string{
				fmt.Sprint(m.Rank), m.Metric, componentName(m.Agent, m.Component), m.Host,
				fmt.Sprintf("%.1f", m.Score), onsetString(m.Onset, r.Window.To), m.Evidence,
			}); err != nil {
				return err
			}
		}
		if err := t.Render(); err != nil {
			return err
		}
	}
	var comps []ComponentResult
	for _, c := range r.Components {
		if c.Role != RoleUnrelated {
			comps = append(comps, c)
		}
	}
	if len(comps) > 0 {
		fmt.Fprintln(w)
		t := newTable(w)
		t.Header("Role", "Component", "Host", "Score", "Onset", "Why")
		for _, c := range comps {
			if err := t.Append([]string{
				c.Role, componentName(c.Agent, c.Component), c.Host, fmt.Sprintf("%.1f", c.Score),
				onsetString(c.Onset, r.Window.To), c.Why,
			}); err != nil {
				return err
			}
		}
		if err := t.Render(); err != nil {
			return err
		}
	}
	if len(r.Notes) > 0 {
		fmt.Fprintln(w)
		for _, n := range r.Notes {
			fmt.Fprintln(w, "note: "+n)
		}
	}
	return nil
}

// WriteJSON writes the result as indented JSON.
func WriteJSON(w io.Writer, r *Result) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(r)
}

// WriteHTML writes a self-contained page: the summary, the anomaly score
// over the window, the ranking, the components and the hosts.
func WriteHTML(w io.Writer, r *Result) error {
	return htmlPage.Execute(w, htmlData{R: r, Chart: scoreChart(r), Ref: r.Window.To})
}

type htmlData struct {
	R     *Result
	Chart template.HTML
	Ref   time.Time
}

// scoreChart draws the anomaly score of every point as an inline SVG, with
// the limit (1) as a line and the episodes shaded.
func scoreChart(r *Result) template.HTML {
	s := r.Traces.RowScore
	n := len(s)
	if n == 0 {
		return ""
	}
	const W, H = 900.0, 160.0
	top := 2.0
	for _, v := range s {
		if !math.IsNaN(v) && !math.IsInf(v, 0) {
			top = math.Max(top, v)
		}
	}
	top = math.Min(top, 50) // a huge peak would flatten the rest
	x := func(i int) float64 { return W * float64(i) / math.Max(1, float64(n-1)) }
	y := func(v float64) float64 { return H - H*math.Min(v, top)/top }
	var b strings.Builder
	fmt.Fprintf(&b, `<svg viewBox="0 0 %g %g" width="100%%" height="%g" role="img" aria-label="anomaly score">`, W, H+2, H+2)
	if len(r.Traces.Times) == n && n > 1 {
		t0, t1 := r.Traces.Times[0], r.Traces.Times[n-1]
		span := t1.Sub(t0).Seconds()
		for _, e := range r.Episodes {
			a := W * e.From.Sub(t0).Seconds() / span
			z := W * e.To.Sub(t0).Seconds() / span
			fmt.Fprintf(&b, `<rect x="%.1f" y="0" width="%.1f" height="%g" fill="#fde2e2"/>`, a, math.Max(z-a, 1), H)
		}
	}
	fmt.Fprintf(&b, `<line x1="0" x2="%g" y1="%.1f" y2="%.1f" stroke="#c00" stroke-dasharray="4 3"/>`, W, y(1), y(1))
	b.WriteString(`<polyline fill="none" stroke="#225" stroke-width="1" points="`)
	for i, v := range s {
		if math.IsNaN(v) {
			continue
		}
		fmt.Fprintf(&b, "%.1f,%.1f ", x(i), y(v))
	}
	b.WriteString(`"/></svg>`)
	return template.HTML(b.String()) // numbers only
}

var htmlPage = template.Must(template.New("report").Funcs(template.FuncMap{
	"t":     func(t time.Time) string { return tfmt(t) },
	"onset": onsetString,
	"name":  componentName,
	"f1":    func(v float64) string { return fmt.Sprintf("%.1f", v) },
}).Parse(`<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<title>vscope diagnose: {{.R.Status}}</title>
<style>
body{font-family:system-ui,sans-serif;margin:2em;max-width:75em;color:#222}
table{border-collapse:collapse;margin:1em 0;font-size:90%}
th,td{border:1px solid #ccc;padding:.25em .5em;text-align:left;vertical-align:top}
th{background:#f3f3f3} .cause{background:#fde2e2} .symptom{background:#fff4d6}
.muted{color:#777}
</style></head><body>
<h1>vscope diagnose: {{.R.Status}}</h1>
<p class="muted">window {{t .R.Window.From}} .. {{t .R.Window.To}} ({{.R.Window.Rows}} points at {{.R.Window.Step}}, {{.R.Window.Metrics}} of {{.R.Window.Series}} series scored{{if .R.Window.Filter}}, filter {{.R.Window.Filter}}{{end}});
baseline {{t .R.Baseline.From}} .. {{t .R.Baseline.To}} ({{.R.Baseline.UsedRows}} of {{.R.Baseline.Rows}} points, {{.R.Baseline.Mode}}{{if eq .R.Baseline.Mode "pca"}}, {{.R.Baseline.Components}} components{{end}})</p>
<ul>{{range .R.Summary}}<li>{{.}}</li>{{end}}</ul>
<h2>Anomaly score</h2>
<p class="muted">Each point's largest statistic over its limit (dashed line: 1); shaded: episodes.</p>
{{.Chart}}
{{if .R.Ranking}}<h2>Ranking</h2>
<table><tr><th>Rank</th><th>Metric</th><th>Component</th><th>Host</th><th>Score</th><th>Onset</th><th>Evidence</th></tr>
{{range .R.Ranking}}<tr class="{{.Role}}"><td>{{.Rank}}</td><td>{{.Metric}}</td><td>{{name .Agent .Component}}</td><td>{{.Host}}</td><td>{{f1 .Score}}</td><td>{{onset .Onset $.Ref}}</td><td>{{.Evidence}}</td></tr>
{{end}}</table>{{end}}
{{if .R.Components}}<h2>Components</h2>
<table><tr><th>Role</th><th>Component</th><th>Host</th><th>Score</th><th>Onset</th><th>Why</th></tr>
{{range .R.Components}}{{if ne .Role "unrelated"}}<tr class="{{.Role}}"><td>{{.Role}}</td><td>{{name .Agent .Component}}</td><td>{{.Host}}</td><td>{{f1 .Score}}</td><td>{{onset .Onset $.Ref}}</td><td>{{.Why}}</td></tr>
{{end}}{{end}}</table>{{end}}
{{if .R.Hosts}}<h2>Hosts</h2>
<table><tr><th>Host</th><th>Role</th><th>Score</th><th>Why</th></tr>
{{range .R.Hosts}}<tr class="{{.Role}}"><td>{{.Host}}</td><td>{{.Role}}</td><td>{{f1 .Score}}</td><td>{{.Why}}</td></tr>
{{end}}</table>{{end}}
{{if .R.Notes}}<h2>Notes</h2><ul>{{range .R.Notes}}<li>{{.}}</li>{{end}}</ul>{{end}}
</body></html>
`))
