package diagnose

import (
	"context"
	"encoding/json"
	"fmt"
	"html/template"
	"io"
	"strings"
	"time"

	"github.com/olekukonko/tablewriter"
	"github.com/olekukonko/tablewriter/tw"

	"github.com/vscope/vscope/vscope/store"
	"github.com/vscope/vscope/vscope/web"
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

// WriteHTML writes the report as one self-contained HTML file (the charting
// library, the script and the data are inlined; viewing it needs no
// network): the likely cause at the top, the flow graph coloured by score,
// the contributions of the ranked metrics, the anomaly score over the
// window, the top metrics over baseline and window with the episodes and
// onsets marked, then the ranking, components, hosts and notes as tables.
// A vscope built without Apache ECharts (see package web) writes the page
// with a notice that its charts need `make assets` in their place.
func WriteHTML(w io.Writer, r *Result) error {
	d := htmlData{R: r, Ref: r.Window.To, Verdict: verdictOf(r),
		CSS: template.CSS(web.ReportCSS()), Script: template.JS(web.InlineScript(web.ReportJS()))}
	if js, err := web.ECharts(); err != nil {
		d.NoCharts = err.Error()
	} else {
		d.ECharts = template.JS(web.InlineScript(js))
	}
	return htmlPage.Execute(w, d)
}

type htmlData struct {
	R        *Result
	Ref      time.Time
	Verdict  verdict
	CSS      template.CSS
	ECharts  template.JS
	Script   template.JS
	NoCharts string
}

// verdict is the banner at the top of the report: the culprit at a glance.
type verdict struct {
	Class  string // cause, none, nodata
	Label  string
	Title  string
	Where  string
	Metric string
	Why    string
	Others []string // further causes
	Effect string   // how many symptoms it explains
}

func verdictOf(r *Result) verdict {
	switch r.Status {
	case StatusNoData:
		return verdict{Class: "nodata", Label: "No data", Title: "Nothing to diagnose in this window", Why: first(r.Summary)}
	case StatusNoAnomaly:
		return verdict{Class: "none", Label: "No anomaly", Title: "Nothing left its normal range in this window", Why: first(r.Summary)}
	}
	var causes []ComponentResult
	symptoms := 0
	for _, c := range r.Components {
		switch c.Role {
		case RoleCause:
			causes = append(causes, c)
		case RoleSymptom:
			symptoms++
		}
	}
	if len(causes) == 0 {
		return verdict{Class: "cause", Label: "Anomaly", Title: first(r.Summary)}
	}
	c := causes[0]
	v := verdict{Class: "cause", Label: "Likely cause", Title: componentTitle(c), Where: c.Name(), Why: c.Why}
	for _, m := range r.Ranking {
		if m.Host == c.Host && m.Agent == c.Agent && m.Component == c.Component {
			v.Metric = fmt.Sprintf("%s: %s → %s", m.Metric, num(m.Baseline), num(m.Peak))
			if m.Onset != nil {
				v.Metric += " from " + clock(*m.Onset, r.Window.To)
			}
			v.Metric += fmt.Sprintf(" (score %.1f)", m.Score)
			break
		}
	}
	for _, o := range causes[1:] {
		v.Others = append(v.Others, componentTitle(o))
	}
	switch symptoms {
	case 0:
	case 1:
		v.Effect = "1 other anomalous component is traced back to it"
	default:
		v.Effect = fmt.Sprintf("%d other anomalous components are traced back to it", symptoms)
	}
	if len(causes) > 1 {
		v.Label = fmt.Sprintf("Likely cause (1 of %d)", len(causes))
	}
	return v
}

// componentTitle names a component for the banner: "sink k1 of agent a1
// on host h1".
func componentTitle(c ComponentResult) string {
	return compKey{c.Host, c.Agent, c.Component, c.Kind}.label()
}

func first(s []string) string {
	if len(s) == 0 {
		return ""
	}
	return s[0]
}

// addReportData fills what the HTML report draws beyond the analysis: the
// flow edges between the result's components, and the stretch of baseline
// before the window for the ranked metrics, read again from st (one read
// per component). A failed read becomes a note: the report then plots the
// window alone.
func addReportData(ctx context.Context, st store.Store, o Options, r *Result) {
	r.Topology.Flow = FlowEdges(r.Components, o.Topology)
	if len(r.Ranking) == 0 || o.Baseline <= 0 || r.Window.Rows == 0 {
		return
	}
	steps := min(r.Window.Rows, 3600, int(o.Baseline/o.Step))
	from := r.Window.From.Add(-time.Duration(steps) * o.Step)
	type compOf struct{ host, agent, component, kind string }
	byComp := map[compOf][]int{} // component -> ranked metrics
	var order []compOf
	for i, m := range r.Ranking {
		k := compOf{m.Host, m.Agent, m.Component, m.Kind}
		if _, ok := byComp[k]; !ok {
			order = append(order, k)
		}
		byComp[k] = append(byComp[k], i)
	}
	// One read for every component, over the store's connections.
	qs := make([]store.Query, len(order))
	for i, k := range order {
		qs[i] = store.Query{
			Filter: store.Filter{Host: k.host, Agent: k.agent, Component: k.component, Kind: k.kind},
			From:   from, To: r.Window.From, Step: o.Step,
		}
	}
	ms, err := store.ReadMany(ctx, st, qs)
	if err != nil {
		r.Notes = append(r.Notes, fmt.Sprintf("report: the baseline before the window was not plotted: %v", err))
		return
	}
	before := make([]Floats, len(r.Ranking))
	var times []int64
	for c, k := range order {
		m := ms[c]
		times = m.Times
		for _, i := range byComp[k] {
			want := store.Series{Host: k.host, Agent: k.agent, Component: k.component, Kind: k.kind, Metric: r.Ranking[i].Metric}
			for j, s := range m.Series {
				if s == want {
					before[i] = m.Column(j)
					break
				}
			}
		}
	}
	for _, t := range times {
		r.Traces.BeforeTimes = append(r.Traces.BeforeTimes, time.UnixMilli(t).UTC())
	}
	for i := range r.Traces.Metrics {
		if k := r.Traces.Metrics[i].Rank - 1; k >= 0 && k < len(before) {
			r.Traces.Metrics[i].Before = before[k]
		}
	}
}

// FlowEdges lists the flow edges between components, named by
// ComponentResult.Name, the way the diagnosis joins them: the edges of topo
// whose ends are among the components, and inside every agent that topo
// gives no edges for, every source to every channel to every sink.
func FlowEdges(comps []ComponentResult, topo *Topology) []FlowEdge {
	var flow []ComponentResult
	var keys []compKey
	for _, c := range comps {
		if c.Agent != "" && c.Kind != "process" && c.Kind != "runtime" {
			flow, keys = append(flow, c), append(keys, compKey{c.Host, c.Agent, c.Component, c.Kind})
		}
	}
	var out []FlowEdge
	flowEdges(keys, topo, func(a, b int) {
		out = append(out, FlowEdge{From: flow[a].Name(), To: flow[b].Name()})
	})
	return out
}

var htmlPage = template.Must(template.New("report").Funcs(template.FuncMap{
	"t":     func(t time.Time) string { return tfmt(t) },
	"onset": onsetString,
	"name":  componentName,
	"f1":    func(v float64) string { return fmt.Sprintf("%.1f", v) },
	"num":   num,
	"join":  strings.Join,
}).Parse(`<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<link rel="icon" href="data:,">
<title>vscope diagnose: {{if .Verdict.Where}}{{.Verdict.Where}}{{else}}{{.R.Status}}{{end}}</title>
<style>{{.CSS}}</style></head>
<body class="vs-report">
<header class="vs-top">
<span class="vs-brand">vscope diagnose</span>
<span class="vs-window">window {{t .R.Window.From}} – {{t .R.Window.To}} · {{.R.Window.Rows}} points at {{.R.Window.Step}} · {{.R.Window.Metrics}} of {{.R.Window.Series}} series scored{{if .R.Window.Filter}} · filter {{.R.Window.Filter}}{{end}}</span>
<span class="vs-window">baseline {{t .R.Baseline.From}} – {{t .R.Baseline.To}} · {{.R.Baseline.Mode}}{{if eq .R.Baseline.Mode "pca"}}, {{.R.Baseline.Components}} components{{end}}</span>
</header>
<main>
<section class="vs-verdict vs-{{.Verdict.Class}}" id="verdict">
<div class="vs-verdict-label">{{.Verdict.Label}}</div>
<div class="vs-verdict-title">{{.Verdict.Title}}</div>
{{if .Verdict.Metric}}<div class="vs-verdict-metric">{{.Verdict.Metric}}</div>{{end}}
{{if .Verdict.Why}}<div class="vs-verdict-why">{{.Verdict.Why}}</div>{{end}}
{{if .Verdict.Effect}}<div class="vs-verdict-why">{{.Verdict.Effect}}.</div>{{end}}
{{if .Verdict.Others}}<div class="vs-verdict-why">Also a cause: {{join .Verdict.Others "; "}}.</div>{{end}}
</section>
{{if .NoCharts}}<div class="vs-nocharts" id="nocharts"><b>No charts in this report.</b> {{.NoCharts}}</div>{{end}}
<ul class="vs-summary">{{range .R.Summary}}<li>{{.}}</li>{{end}}</ul>
{{if ne .R.Status "no data"}}
<section class="vs-card">
<h2>Flow topology</h2>
<p class="vs-muted">Events flow along the arrows (source → channel → sink, agents to collectors); under each agent, its host's groups (cpu, memory, disks, network) and its process. Colour: score (grey: normal, yellow to red: further out of range; faded: within its normal range); a thick red ring marks the cause, orange rings the symptoms traced to it, dashed lines a host-level change beside them.</p>
<div class="vs-chart vs-tall" id="chart-flow" data-chart="flow"></div>
</section>
<div class="vs-row">
<section class="vs-card vs-grow">
<h2>Contributions</h2>
<p class="vs-muted">Each ranked metric's score (robust z + EWMA jump + PCA residual contribution, at its peak) next to its robust |z| alone (univariate), on a log scale when they span orders of magnitude. Red: cause, orange: symptom.</p>
<div class="vs-chart vs-tall" id="chart-contrib" data-chart="contributions"></div>
</section>
<section class="vs-card vs-grow">
<h2>Anomaly score</h2>
<p class="vs-muted">Each time point's largest statistic (SPE, T², largest residual) over its limit; above the dashed line (1) it is out of range; shaded: the anomalous episodes.</p>
<div class="vs-chart vs-tall" id="chart-score" data-chart="score"></div>
</section>
</div>
<section class="vs-card">
<h2>Top metrics over baseline and window</h2>
<p class="vs-muted">Grey: the baseline just before the window; blue: the window (shaded blue); red shading: anomalous episodes; red line: the metric's onset; dashed: its baseline median.</p>
<div class="vs-series" id="chart-series" data-chart="series"></div>
</section>
{{end}}
{{if .R.Ranking}}<section class="vs-card"><h2>Ranking</h2>
<table class="vs-table"><thead><tr><th>#</th><th>Metric</th><th>Component</th><th>Host</th><th>Score</th><th>Onset</th><th>Evidence</th></tr></thead><tbody>
{{range .R.Ranking}}<tr class="vs-{{.Role}}"><td>{{.Rank}}</td><td>{{.Metric}}</td><td class="vs-nw">{{name .Agent .Component}}</td><td class="vs-nw">{{.Host}}</td><td class="vs-num">{{f1 .Score}}</td><td class="vs-nw">{{onset .Onset $.Ref}}</td><td>{{.Evidence}}</td></tr>
{{end}}</tbody></table></section>{{end}}
{{if .R.Components}}<section class="vs-card"><h2>Components</h2>
<table class="vs-table"><thead><tr><th>Role</th><th>Component</th><th>Host</th><th>Score</th><th>Onset</th><th>Why</th></tr></thead><tbody>
{{range .R.Components}}{{if ne .Role "unrelated"}}<tr class="vs-{{.Role}}"><td>{{.Role}}</td><td class="vs-nw">{{name .Agent .Component}}</td><td class="vs-nw">{{.Host}}</td><td class="vs-num">{{f1 .Score}}</td><td class="vs-nw">{{onset .Onset $.Ref}}</td><td>{{.Why}}</td></tr>
{{end}}{{end}}</tbody></table></section>{{end}}
{{if .R.Hosts}}<section class="vs-card"><h2>Hosts</h2>
<table class="vs-table"><thead><tr><th>Host</th><th>Role</th><th>Score</th><th>Why</th></tr></thead><tbody>
{{range .R.Hosts}}{{if ne .Role "unrelated"}}<tr class="vs-{{.Role}}"><td>{{.Host}}</td><td>{{.Role}}</td><td class="vs-num">{{f1 .Score}}</td><td>{{.Why}}</td></tr>
{{end}}{{end}}</tbody></table></section>{{end}}
{{if .R.Notes}}<section class="vs-card"><h2>Notes</h2><ul class="vs-notes">{{range .R.Notes}}<li>{{.}}</li>{{end}}</ul></section>{{end}}
</main>
{{if .ECharts}}<script>{{.ECharts}}</script>{{end}}
<script>{{.Script}}</script>
<script>vscopeReport.render({{.R}}, {noCharts: {{.NoCharts}}});</script>
</body></html>
`))
