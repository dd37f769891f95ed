package diagnose

import (
	"fmt"
	"math"
	"sort"
	"strings"
	"time"

	"github.com/vscope/vscope/vscope/store"
)

// Analyze diagnoses loaded data: it never touches a store, so tests and
// other front ends can hand it matrices. It consumes in (the matrices are
// cleaned in place).
func Analyze(in *Input, o Options) (*Result, error) {
	if err := o.Validate(); err != nil {
		return nil, err
	}
	o = o.withDefaults()
	t0, c0 := time.Now(), cpuTime()
	r := &Result{TimingMS: map[string]float64{}, Ranking: []RankedMetric{}, Components: []ComponentResult{},
		Hosts: []HostResult{}, AnomalousPoints: []AnomalousPoint{}, Episodes: []Episode{}, Notes: []string{}, Summary: []string{}}
	r.Window = WindowInfo{From: in.WindowFrom.UTC(), To: in.WindowTo.UTC(), Step: o.Step.String(), Filter: filterString(o.Filter)}
	r.Baseline = BaselineInfo{From: in.BaselineFrom.UTC(), To: in.BaselineTo.UTC(), Rows: int(o.Baseline / o.Step)}
	r.Topology.Source = []string{}
	if o.Topology != nil {
		r.Topology.Source = append(r.Topology.Source, o.Topology.Source...)
	}
	r.Topology.Source = append(r.Topology.Source, "inferred")

	pr := prepare(in, o.MaxGap, o.MinBaselineRows)
	r.Notes = append(r.Notes, pr.notes...)
	r.Window.Series = pr.read
	r.Window.Rows = len(pr.times)
	r.Window.Metrics = len(pr.series)
	for _, t := range pr.times {
		r.Traces.Times = append(r.Traces.Times, time.UnixMilli(t).UTC())
	}
	r.TimingMS["clean"] = ms(time.Since(t0))
	r.TimingMS["clean_cpu"] = ms(cpuTime() - c0)
	if pr.W == nil {
		r.Status = StatusNoData
		switch {
		case r.Window.Rows == 0:
			r.Summary = append(r.Summary, "No data: the window is empty.")
		case pr.read == 0:
			r.Summary = append(r.Summary, fmt.Sprintf("No data: no series match the filter between %s and %s.", tfmt(r.Window.From), tfmt(r.Window.To)))
		default:
			r.Summary = append(r.Summary, fmt.Sprintf("No data to score: of %d series read, none has points in both the window and the baseline and varies.", pr.read))
		}
		r.Summary = append(r.Summary, stoppedSummary(pr)...)
		return r, nil
	}

	t1, c1 := time.Now(), cpuTime()
	sc, err := score(pr, o)
	if err != nil {
		return nil, err
	}
	r.TimingMS["fit_score"] = ms(time.Since(t1))
	r.TimingMS["fit_score_cpu"] = ms(cpuTime() - c1)
	for k, v := range sc.timing {
		r.TimingMS[k] = v
	}
	r.Notes = append(r.Notes, sc.notes...)
	info := sc.info
	info.From, info.To, info.Rows = r.Baseline.From, r.Baseline.To, r.Baseline.Rows
	r.Baseline = info
	if r.Baseline.UsedRows < r.Baseline.Rows && r.Baseline.UsedRows > 0 && len(in.Baseline) > 1 {
		r.Notes = append(r.Notes, fmt.Sprintf("baseline sampled: %d of its %d points, in %d slices spread over it (--baseline-rows)",
			r.Baseline.UsedRows, r.Baseline.Rows, len(in.Baseline)))
	}

	t2, c2 := time.Now(), cpuTime()
	cfg := withAnalysisDefaults(o.Analysis)
	ep := episodes(sc, pr.times, cfg.Window)
	r.Episodes = ep.list
	for _, i := range ep.rows {
		r.AnomalousPoints = append(r.AnomalousPoints, AnomalousPoint{
			Time: time.UnixMilli(pr.times[i]).UTC(), Score: finite(sc.rowScore[i]), SPE: finite(sc.spe[i]),
			T2: finite(sc.t2[i]), MaxResidual: finite(sc.maxr[i]),
		})
	}
	r.Traces.RowScore = make(Floats, len(sc.rowScore))
	copy(r.Traces.RowScore, sc.rowScore)

	addStopped(in, pr, sc, max(o.MaxGap, cfg.Window))
	g := buildGraph(pr, sc, o.Topology, cfg.Window)
	r.Topology.Edges, r.Topology.CrossAgent, r.Topology.Assumed = g.edges, g.crossAgent, g.assumed
	assignRoles(g, o.OnsetTolerance)
	e := &explainer{g: g, sc: sc, pr: pr, r: r, o: o}
	e.whys()
	e.ranking()
	e.components()
	e.hosts()
	e.summary(ep)
	r.TimingMS["explain"] = ms(time.Since(t2))
	r.TimingMS["explain_cpu"] = ms(cpuTime() - c2)
	return r, nil
}

func filterString(f store.Filter) string {
	var parts []string
	for _, kv := range [][2]string{{"host", f.Host}, {"agent", f.Agent}, {"component", f.Component}, {"kind", f.Kind}, {"metric", f.Metric}} {
		if kv[1] != "" {
			parts = append(parts, kv[0]+"="+kv[1])
		}
	}
	return strings.Join(parts, ",")
}

func tfmt(t time.Time) string { return t.UTC().Format("2006-01-02 15:04:05Z") }

// clock is a time in sentences: the time of day, with the date only when
// it is not that of ref.
func clock(t, ref time.Time) string {
	t, ref = t.UTC(), ref.UTC()
	if t.YearDay() != ref.YearDay() || t.Year() != ref.Year() {
		return t.Format("2006-01-02 15:04:05Z")
	}
	return t.Format("15:04:05Z")
}

// episodeSet is the anomalous rows grouped into episodes.
type episodeSet struct {
	list     []Episode
	rows     []int // rows in episodes
	isolated int   // anomalous rows outside episodes
	total    int   // anomalous rows
}

// episodes groups anomalous rows into runs (gaps of at most w/4 rows) and
// keeps the runs with at least max(2, w/4) points or one point past the
// limits corrected for the window's length: a point over a 1% limit
// happens by chance once in a hundred rows, a run of them does not.
func episodes(sc *scored, times []int64, w int) episodeSet {
	var es episodeSet
	gapTol := max(1, w/4)
	minPts := max(2, (w+3)/4)
	n := len(sc.anomalous)
	for i := 0; i < n; {
		if !sc.anomalous[i] {
			i++
			continue
		}
		es.total++
		run := []int{i}
		strict := sc.strict[i]
		j := i + 1
		for ; j < n; j++ {
			if sc.anomalous[j] {
				es.total++
				run = append(run, j)
				strict = strict || sc.strict[j]
				continue
			}
			if j-run[len(run)-1] > gapTol {
				break
			}
		}
		i = j
		if len(run) < minPts && !strict {
			es.isolated += len(run)
			continue
		}
		peak := run[0]
		for _, x := range run {
			if sc.rowScore[x] > sc.rowScore[peak] {
				peak = x
			}
		}
		es.list = append(es.list, Episode{
			From: time.UnixMilli(times[run[0]]).UTC(), To: time.UnixMilli(times[run[len(run)-1]]).UTC(),
			Points: len(run), Peak: time.UnixMilli(times[peak]).UTC(), Score: finite(sc.rowScore[peak]),
		})
		es.rows = append(es.rows, run...)
	}
	return es
}

// assignRoles labels every flagged node cause or symptom: a node that no
// other flagged node explains is a cause; the nodes the causes explain,
// transitively, are symptoms. Flagged nodes left over explain each other
// in a circle; the earliest (then highest-scoring) of them is made a cause
// until none is left.
func assignRoles(g *graph, tol int) {
	var flagged []int
	for i, nd := range g.nodes {
		nd.role = RoleUnrelated
		if len(nd.flagged) > 0 {
			flagged = append(flagged, i)
		}
	}
	explained := map[int][]int{} // v -> explainers
	explains := map[int][]int{}  // u -> explained
	rels := map[[2]int]int{}
	for _, u := range flagged {
		for _, v := range flagged {
			if u == v || g.nodes[u].sharedOnly {
				continue
			}
			if ok, rel := g.explains(u, v, tol); ok {
				explained[v] = append(explained[v], u)
				explains[u] = append(explains[u], v)
				rels[[2]int{u, v}] = rel
			}
		}
	}
	earlier := func(a, b int) bool {
		x, y := g.nodes[a], g.nodes[b]
		if x.onset != y.onset {
			return x.onset < y.onset
		}
		if x.score != y.score {
			return x.score > y.score
		}
		return x.key.String() < y.key.String()
	}
	var causes []int
	for _, v := range flagged {
		if len(explained[v]) == 0 && !g.nodes[v].sharedOnly {
			causes = append(causes, v)
		}
	}
	assigned := map[int]bool{}
	spread := func(roots []int) {
		sort.Slice(roots, func(i, j int) bool { return earlier(roots[i], roots[j]) })
		queue := append([]int(nil), roots...)
		for _, c := range roots {
			g.nodes[c].role, g.nodes[c].root = RoleCause, c
			assigned[c] = true
		}
		for len(queue) > 0 {
			u := queue[0]
			queue = queue[1:]
			next := explains[u]
			sort.Slice(next, func(i, j int) bool { return earlier(next[i], next[j]) })
			for _, v := range next {
				if assigned[v] {
					continue
				}
				assigned[v] = true
				nd := g.nodes[v]
				nd.role, nd.parent, nd.root, nd.relation = RoleSymptom, u, g.nodes[u].root, rels[[2]int{u, v}]
				queue = append(queue, v)
			}
		}
	}
	spread(causes)
	for {
		var rest []int
		for _, v := range flagged {
			if !assigned[v] && !g.nodes[v].sharedOnly {
				rest = append(rest, v)
			}
		}
		if len(rest) == 0 {
			break
		}
		sort.Slice(rest, func(i, j int) bool { return earlier(rest[i], rest[j]) })
		spread(rest[:1])
	}
	// What moved only with its peers and nothing explains is not an
	// anomaly of its own.
	for _, v := range flagged {
		if nd := g.nodes[v]; nd.sharedOnly && !assigned[v] {
			nd.flagged = nil
		}
	}
	// A symptom's parent is the explainer that changed last before it in
	// the same tree (t1's channel filled after t1's sink slowed, which
	// followed the collector's sink), so that a why reads as the chain.
	for _, v := range flagged {
		nd := g.nodes[v]
		if nd.role != RoleSymptom {
			continue
		}
		best := -1
		for _, u := range explained[v] {
			x := g.nodes[u]
			if x.root != nd.root || x.onset >= nd.onset {
				continue
			}
			if best < 0 || x.onset > g.nodes[best].onset ||
				(x.onset == g.nodes[best].onset && x.key.String() < g.nodes[best].key.String()) {
				best = u
			}
		}
		if best >= 0 && best != nd.parent {
			nd.parent, nd.relation = best, rels[[2]int{best, v}]
		}
	}
	// A process and its Go runtime are two views of one process: the one
	// explaining the other is not a change spreading, so it does not count
	// as a symptom when causes are ordered by how far they reached.
	for _, v := range flagged {
		nd := g.nodes[v]
		if nd.role != RoleSymptom || nd.root < 0 || nd.sharedOnly {
			continue
		}
		r := g.nodes[nd.root]
		if r.level == levelProcess && nd.level == levelProcess && r.key.Host == nd.key.Host && r.key.Agent == nd.key.Agent {
			continue
		}
		if r.reached == nil {
			r.reached = map[[2]string]bool{}
		}
		r.reached[[2]string{nd.key.Host, nd.key.Agent}] = true
	}
}

// causeBefore orders causes: the one of more weight (causeWeight) first,
// then the earlier, then the stronger.
// causeWeight is how much a cause accounts for: how far its change
// spread, the agents (and hosts' own groups) its symptoms are in, plus
// itself, times the log-evidence of its own change (log(1 + |z|)); a
// process gone counts most. A change rippling through one agent's source,
// channel and sink has reached one agent, not three; an isolated large
// jump of one metric elsewhere (a heap step) weighs less than the change
// a flow followed; and between two causes that reached as far, the
// plainer change goes first (300 ms more per batch before 0.5 ms more).
func causeWeight(x *node) float64 {
	return math.Log1p(x.strength) * float64(1+len(x.reached))
}

func causeBefore(x, y *node) bool {
	if wx, wy := causeWeight(x), causeWeight(y); wx != wy {
		return wx > wy
	}
	if x.onset != y.onset {
		return x.onset < y.onset
	}
	if x.score != y.score {
		return x.score > y.score
	}
	return x.key.String() < y.key.String()
}

// explainer turns the graph into the result's sentences and lists.
type explainer struct {
	g  *graph
	sc *scored
	pr *prepared
	r  *Result
	o  Options
}

func (e *explainer) rowTime(i int) time.Time { return time.UnixMilli(e.pr.times[i]).UTC() }

func (e *explainer) onsetPtr(i int) *time.Time {
	if i < 0 || i >= len(e.pr.times) {
		return nil
	}
	t := e.rowTime(i)
	return &t
}

// rawAt is metric j's value at row i in its own units.
func (e *explainer) rawAt(i, j int) float64 { return e.pr.rawAt(e.sc, i, j) }

// rawAt is metric j's value at row i in its own units (the window is
// scaled in place for metrics constant in the baseline).
func (pr *prepared) rawAt(sc *scored, i, j int) float64 {
	m := sc.metrics[j]
	raw := pr.W.RawMatrix()
	if j >= raw.Cols {
		return math.NaN() // stopped before the window (addStopped)
	}
	v := raw.Data[i*raw.Stride+j]
	return m.baseline + (v-m.baseline)*m.factor
}

// describe is "metric 0.005 -> 0.52 (z +98)", or says that the metric
// stopped reporting.
func (e *explainer) describe(j int) string {
	m := e.sc.metrics[j]
	if m.missing && m.onset >= 0 {
		if m.stopped {
			return fmt.Sprintf("%s stopped reporting", e.pr.series[j].Metric)
		}
		return fmt.Sprintf("%s went missing", e.pr.series[j].Metric)
	}
	return fmt.Sprintf("%s %s -> %s (z %+.1f)", e.pr.series[j].Metric, num(m.baseline), num(e.rawAt(m.peakRow, j)), m.z)
}

func num(v float64) string {
	switch {
	case v == 0:
		return "0"
	case math.Abs(v) >= 1e6 || math.Abs(v) < 1e-3:
		return fmt.Sprintf("%.3g", v)
	}
	return fmt.Sprintf("%.4g", v)
}

func (e *explainer) when(row int) string {
	if row < 0 {
		return "(no onset)"
	}
	return "from " + clock(e.rowTime(row), e.r.Window.To)
}

func (e *explainer) whys() {
	g := e.g
	for i, nd := range g.nodes {
		switch nd.role {
		case RoleUnrelated:
			nd.why = "no metric left its normal range for a sustained time"
			if len(nd.early) > 0 {
				nd.why = fmt.Sprintf("%s already at the window's start: a drift (memory growth, a warming cache) or an older change, not ordered against the changes inside the window", e.describe(nd.early[0]))
			}
		case RoleCause:
			nd.why = e.causeWhy(i)
		case RoleSymptom:
			nd.why = e.symptomWhy(i)
		}
	}
}

// connectedFlagged lists the other flagged nodes related to i.
func (e *explainer) connectedFlagged(i int) (n int, onHost int) {
	for j, nd := range e.g.nodes {
		if j == i || len(nd.flagged) == 0 {
			continue
		}
		rel := e.g.relation(i, j)
		if rel != relNone {
			n++
		}
		if nd.key.Host == e.g.nodes[i].key.Host && nd.level == levelFlow {
			onHost++
		}
	}
	return n, onHost
}

func (e *explainer) causeWhy(i int) string {
	nd := e.g.nodes[i]
	var b strings.Builder
	fmt.Fprintf(&b, "%s %s", e.describe(nd.top), e.when(nd.onset))
	symptoms, contended := 0, 0
	for _, x := range e.g.nodes {
		if x.role == RoleSymptom && x.root == i {
			symptoms++
			if e.contended(x) {
				contended++
			}
		}
	}
	related, onHost := e.connectedFlagged(i)
	switch {
	case isProcess(nd) && nd.gone:
		fmt.Fprintf(&b, "; the agent process stopped reporting (killed, crashed or hung), and with it what it reported")
	case nd.sig.config:
		b.WriteString("; its configuration changed: set, not caused by the flow")
	case nd.sig.refusing:
		b.WriteString("; its source failed to write into it while it was not filling: it refused events (disk full, or broken)")
	case nd.level != levelFlow && onHost > 0:
		fmt.Fprintf(&b, "; it changed before the %d anomalous component(s) on host %s: interference on the host", onHost, nd.key.Host)
	case related == 0:
		b.WriteString("; nothing connected to it is anomalous")
	default:
		fmt.Fprintf(&b, "; the earliest change among the %d anomalous components connected to it", related+1)
	}
	if symptoms > 0 {
		fmt.Fprintf(&b, "; %d symptom(s) follow from it", symptoms)
	}
	if contended > 0 {
		fmt.Fprintf(&b, ", %d of them on other hosts of its machine, slowed by contention for its CPUs", contended)
	}
	if nd.level == levelFlow && !e.hostLevelFlagged(nd.key.Host) {
		fmt.Fprintf(&b, "; host %s's own metrics look normal, so the cause is in the component, not the machine", nd.key.Host)
	}
	return b.String()
}

func (e *explainer) hostLevelFlagged(host string) bool {
	for _, x := range e.g.nodes {
		if x.key.Host == host && x.level != levelFlow && len(x.flagged) > 0 {
			return true
		}
	}
	return false
}

func (e *explainer) symptomWhy(i int) string {
	nd := e.g.nodes[i]
	p := e.g.nodes[nd.parent]
	var b strings.Builder
	fmt.Fprintf(&b, "%s %s, after ", e.describe(nd.top), e.when(nd.onset))
	pw := fmt.Sprintf("%s (%s %s)", p.key.label(), e.pr.series[p.top].Metric, e.when(p.onset))
	switch nd.relation {
	case relDownstream:
		fmt.Fprintf(&b, "downstream %s: back-pressure", pw)
	case relUpstream:
		fmt.Fprintf(&b, "upstream %s: the change came with the flow", pw)
	case relLoop:
		fmt.Fprintf(&b, "%s in the same flow loop", pw)
	case relAssumed:
		fmt.Fprintf(&b, "%s (agents taken as connected: no topology between agents was given)", pw)
	case relSibling:
		fmt.Fprintf(&b, "%s, fed by the same upstream: what it could not take came here", pw)
	case relHostOfFlow:
		fmt.Fprintf(&b, "%s: interference on the host", pw)
	case relFlowOnHost:
		fmt.Fprintf(&b, "%s on the same host: its load", pw)
	case relMachine:
		fmt.Fprintf(&b, "%s, whose host shares a machine with %s: contention for its CPUs", pw, nd.key.Host)
	default:
		fmt.Fprintf(&b, "%s on the same host", pw)
	}
	if nd.root >= 0 && nd.root != nd.parent {
		fmt.Fprintf(&b, "; traced back to %s", e.g.nodes[nd.root].key.label())
	}
	return b.String()
}

// ranking orders the metrics: the flagged metrics of causes, then those of
// symptoms, then everything else.
func (e *explainer) ranking() {
	p := len(e.pr.series)
	nodeOf := make([]int, p)
	counted := make([]bool, p) // flagged and counted in its node's role
	for i, nd := range e.g.nodes {
		for _, j := range nd.metrics {
			nodeOf[j] = i
		}
		for _, j := range nd.flagged {
			counted[j] = true
		}
	}
	// The ranking tells the story cause by cause, in the order of the
	// components table: a cause's flagged metrics (by precedence within
	// its kind of change, then score), then those of the symptoms traced
	// to it, its own agent's first, in the order they changed; then the
	// next cause's tree; then
	// the rest by score. An unrelated independent change (a heap growing
	// elsewhere) does not come between a cause and what followed from it.
	var causes []*node
	for _, nd := range e.g.nodes {
		if nd.role == RoleCause && len(nd.flagged) > 0 {
			causes = append(causes, nd)
		}
	}
	sort.SliceStable(causes, func(a, b int) bool { return causeBefore(causes[a], causes[b]) })
	tree := map[int]int{} // root node index -> its place
	for k, c := range causes {
		tree[e.g.byKey[c.key]] = k
	}
	// place is (tree, 0 for the cause itself or 1 for a symptom; then 2
	// and 3 for their secondary metrics, precSecondary); metrics of no
	// tree come last.
	place := func(j int) (int, int) {
		nd := e.g.nodes[nodeOf[j]]
		t, ok := tree[nd.root]
		if !counted[j] || !ok || (nd.role != RoleCause && nd.role != RoleSymptom) {
			return len(causes), 4
		}
		r := 0
		if nd.role == RoleSymptom {
			r = 1
			// A source's failures to write into a channel that refused
			// them are the refusing cause's own evidence.
			if p := e.g.nodes[nd.parent]; p.role == RoleCause && p.sig.refusing && writeFailure(e.pr.series[j]) {
				return t, 0
			}
		}
		if e.secondary(nd, j) {
			r += 2
		}
		return t, r
	}
	// The keys are computed once: metric names are parsed for them.
	order := make([]int, p)
	treeOf, role, prec := make([]int, p), make([]int, p), make([]int, p)
	away := make([]bool, p) // a symptom in another agent than its cause
	for j := range order {
		order[j] = j
		treeOf[j], role[j] = place(j)
		prec[j] = precedence(e.pr.series[j])
		if nd := e.g.nodes[nodeOf[j]]; nd.root >= 0 {
			r := e.g.nodes[nd.root]
			away[j] = nd.key.Host != r.key.Host || (nd.key.Agent != r.key.Agent && r.key.Agent != "" && nd.key.Agent != "")
		}
	}
	ms := e.sc.metrics
	less := func(a, b int) bool {
		x, y := order[a], order[b]
		// Every tree's primary metrics, then every tree's secondary
		// ones, then the rest: the first places go to what tells the
		// story, whichever tree.
		if gx, gy := role[x]/2, role[y]/2; gx != gy {
			return gx < gy
		}
		if treeOf[x] != treeOf[y] {
			return treeOf[x] < treeOf[y]
		}
		rx := role[x]
		if rx != role[y] {
			return rx < role[y]
		}
		switch rx {
		case 0, 2:
			if prec[x] != prec[y] {
				return prec[x] < prec[y]
			}
		case 1, 3:
			if away[x] != away[y] {
				return away[y]
			}
			if ms[x].onset != ms[y].onset {
				return ms[x].onset < ms[y].onset
			}
		}
		if ms[x].score != ms[y].score {
			return ms[x].score > ms[y].score
		}
		return x < y
	}
	sort.SliceStable(order, less)
	if e.twins(order, role) {
		sort.SliceStable(order, less)
	}
	if len(order) > e.o.Top {
		order = order[:e.o.Top]
	}
	for k, j := range order {
		s := e.pr.series[j]
		m := ms[j]
		ev := m.evidence.String()
		if ev == "-" {
			ev = ""
		} else {
			ev += "; "
		}
		if math.IsNaN(m.z) {
			ev += fmt.Sprintf("%s, then no point in the window: stopped reporting as it began", num(m.baseline))
		} else {
			ev += fmt.Sprintf("%s -> %s (z %+.1f)", num(m.baseline), num(e.rawAt(m.peakRow, j)), m.z)
		}
		if m.peerShare >= 0.05 {
			ev += fmt.Sprintf("; %.0f%% of its change shared by its peers on other hosts, discounted", 100*m.peerShare)
		}
		if gs := e.pr.gaps[j]; len(gs) > 0 {
			ev += fmt.Sprintf("; missing %d steps from %s", gs[0].to-gs[0].from, clock(e.rowTime(gs[0].from), e.r.Window.To))
		}
		nd := e.g.nodes[nodeOf[j]]
		e.r.Ranking = append(e.r.Ranking, RankedMetric{
			Rank: k + 1, Metric: s.Metric, Component: s.Component, Agent: s.Agent, Host: s.Host, Kind: s.Kind,
			Score: finite(m.score), Onset: e.onsetPtr(m.onset), Evidence: ev, Role: nd.role, Flagged: m.flagged,
			Baseline: finite(m.baseline), Peak: finite(e.rawAt(m.peakRow, j)), Z: finite(m.z),
		})
		n, _ := e.pr.W.Dims()
		vals := make(Floats, n)
		for i := range n {
			vals[i] = e.rawAt(i, j)
		}
		e.r.Traces.Metrics = append(e.r.Traces.Metrics, MetricTrace{Rank: k + 1, Baseline: finite(m.baseline), Values: vals})
	}
}

// twins moves a primary metric that measures what a metric before it in
// order already shows to the secondary place of its role (role + 2): two
// quantiles of one histogram, a source's received and accepted events, a
// channel's size and fill, the events at the two ends of a hand-off
// inside an agent (a source's accepted are its channel's puts, a
// channel's takes its sink's drained), a host's CPU percentages, a
// process's user and system CPU, the series of a host's components gone
// together. Each pair must also have moved the same way: when a channel
// refuses, the received events rise as the accepted fall, and both stay.
// One signal then takes one place among the first ones, and the next
// places go to what else changed. It reports whether any moved.
func (e *explainer) twins(order, role []int) bool {
	first := map[string][]int{}
	moved := false
	for _, j := range order {
		if role[j] > 1 {
			continue
		}
		k, anyWay := e.signal(j)
		twin := false
		for _, i := range first[k] {
			if anyWay || e.sameWay(i, j) {
				twin = true
				break
			}
		}
		if twin {
			role[j] += 2
			moved = true
			continue
		}
		first[k] = append(first[k], j)
	}
	return moved
}

// signal names what metric j measures for twins (node and name), and
// whether its twins count however they moved: the series of an agent
// gone, and CPU use against CPU idle (a mirror).
func (e *explainer) signal(j int) (string, bool) {
	s, m := e.pr.series[j], e.sc.metrics[j]
	i := e.g.byKey[compKey{s.Host, s.Agent, s.Component, s.Kind}]
	nd := e.g.nodes[i]
	if nd.gone && (m.missing || m.stopped) {
		// An agent gone takes the host's series it reported with it.
		return "gone " + s.Host, true
	}
	// The agent's own end of a hand-off: the one source feeding a
	// channel, the one sink draining it (-1: none, or several).
	one := func(ix []int, kind string) int {
		if len(ix) == 1 && sameAgent(e.g.nodes[ix[0]], nd) && e.g.nodes[ix[0]].key.Kind == kind {
			return ix[0]
		}
		return -1
	}
	name := quantileBase(s.Metric)
	switch {
	case name == "ChannelSize":
		name = "ChannelFillPercentage"
	case name == "EventReceivedRate":
		name = "EventAcceptedRate"
	case nd.key.Kind == "channel" && name == "EventPutSuccessRate":
		if src := one(nd.in, "source"); src >= 0 {
			i, name = src, "EventAcceptedRate"
		}
	case nd.key.Kind == "channel" && name == "EventTakeSuccessRate":
		if sink := one(nd.out, "sink"); sink >= 0 {
			i, name = sink, "EventDrainSuccessRate"
		}
	case nd.level == levelHost && nd.key.Component == "cpu" && strings.HasSuffix(name, "_percent"),
		isProcess(nd) && strings.HasPrefix(name, "cpu_") && strings.HasSuffix(name, "_seconds_per_second"):
		return fmt.Sprint(i, " cpu"), true
	}
	return fmt.Sprint(i, " ", name), false
}

// quantileBase is a quantile's metric name without its quantile
// (batch_duration_p99_seconds: batch_duration_seconds); other names as
// they are.
func quantileBase(name string) string {
	q := strings.LastIndex(name, "_p")
	if q <= 0 {
		return name
	}
	rest := name[q+2:]
	k := strings.IndexFunc(rest, func(r rune) bool { return r < '0' || r > '9' })
	if k <= 0 {
		return name
	}
	return name[:q] + rest[k:]
}

// sameWay reports whether metrics i and j moved the same way (or both
// stopped).
func (e *explainer) sameWay(i, j int) bool {
	zi, zj := e.sc.metrics[i].z, e.sc.metrics[j].z
	return math.IsNaN(zi) == math.IsNaN(zj) && (zi > 0) == (zj > 0)
}

// secondary reports whether metric j of node nd tells its part of the
// story only after the primary metrics of its tree: batch counts and the
// like (precSecondary); all but the first series of a process gone, or of
// a component gone with it (one fact, not one per series); the takes of a
// channel that refused puts (it had less to give); a process or host
// following a flow component's change.
func (e *explainer) secondary(nd *node, j int) bool {
	s, m := e.pr.series[j], e.sc.metrics[j]
	switch {
	case precedence(s) >= precSecondary:
		return true
	case nd.gone && (m.missing || m.stopped):
		// One series tells of it: the process's top, or the events a
		// flow component moved (a source that received nothing).
		switch {
		case nd.role == RoleCause:
			return j != nd.top
		case nd.level == levelFlow:
			return j != e.goneLead(nd)
		}
		return true
	case nd.sig.refusing && strings.Contains(s.Metric, "Take"):
		return true
	case m.peerShare >= 0.5 && nd.level != levelFlow:
		// Most of its change happened on the other hosts' same series
		// too (their disks read at once): not this host's or process's
		// story. (Flow components that moved with their peers are on
		// the way of the change: the collectors behind a flash crowd.)
		return true
	case nd.role == RoleSymptom && nd.level == levelHost && nd.parent >= 0 && isProcess(e.g.nodes[nd.parent]) &&
		(metricKind(s) == mkBusy || metricKind(s) == mkIdle):
		// A host's CPU rising with its agent process's is that
		// process's CPU counted again.
		return true
	case nd.role == RoleSymptom && nd.level != levelFlow && e.followsFlow(nd):
		// A process's or host's I/O, CPU and memory moving because a flow
		// component moved more or fewer events: the flow's own metrics
		// tell that first.
		return true
	case nd.role == RoleSymptom && e.contended(nd):
		// Slowed on another host by contention for a shared machine: a
		// side effect, after what the cause did on its own host.
		return true
	}
	return false
}

// contended reports whether a symptom on another host than its cause was
// reached through contention for a machine the hosts share.
func (e *explainer) contended(nd *node) bool {
	if nd.root < 0 || e.g.nodes[nd.root].key.Host == nd.key.Host {
		return false
	}
	for k := 0; nd.role == RoleSymptom && nd.parent >= 0 && k < len(e.g.nodes); k++ {
		if nd.relation == relMachine {
			return true
		}
		nd = e.g.nodes[nd.parent]
	}
	return false
}

// followsFlow reports whether a process or host symptom was traced to a
// flow component through processes and hosts only: its change is that
// component's load.
func (e *explainer) followsFlow(nd *node) bool {
	for k := 0; nd.parent >= 0 && k < len(e.g.nodes); k++ {
		p := e.g.nodes[nd.parent]
		if p.level == levelFlow {
			return true
		}
		if p.role != RoleSymptom {
			return false
		}
		nd = p
	}
	return false
}

// goneLead is the series that tells of a flow component gone: the first
// flagged event rate it moved (received, drained), else its top metric.
func (e *explainer) goneLead(nd *node) int {
	for _, j := range nd.flagged {
		if s := e.pr.series[j]; metricKind(s) == mkRate && strings.HasPrefix(s.Metric, "Event") && precedence(s) < precSecondary {
			return j
		}
	}
	return nd.top
}

// writeFailure is a source's count of failed writes into its channel.
func writeFailure(s store.Series) bool {
	return s.Kind == "source" && strings.Contains(s.Metric, "ChannelWrite") && metricKind(s) == mkFailure
}

func roleOrder(r string) int {
	switch r {
	case RoleCause:
		return 0
	case RoleSymptom:
		return 1
	}
	return 2
}

func (e *explainer) components() {
	nodes := append([]*node(nil), e.g.nodes...)
	sort.SliceStable(nodes, func(a, b int) bool {
		x, y := nodes[a], nodes[b]
		if rx, ry := roleOrder(x.role), roleOrder(y.role); rx != ry {
			return rx < ry
		}
		if x.role == RoleCause {
			return causeBefore(x, y)
		}
		if x.role != RoleUnrelated && x.onset != y.onset {
			return x.onset < y.onset
		}
		if x.score != y.score {
			return x.score > y.score
		}
		return x.key.String() < y.key.String()
	})
	for _, nd := range nodes {
		c := ComponentResult{
			Component: nd.key.Component, Agent: nd.key.Agent, Host: nd.key.Host, Kind: nd.key.Kind,
			Score: finite(nd.score), Onset: e.onsetPtr(nd.onset), Role: nd.role, Why: nd.why,
			Flagged: len(nd.flagged), Top: e.pr.series[nd.top].Metric,
		}
		if nd.role == RoleSymptom && nd.root >= 0 {
			c.CausedBy = e.g.nodes[nd.root].key.String()
		}
		e.r.Components = append(e.r.Components, c)
	}
}

func (e *explainer) hosts() {
	type agg struct {
		h      HostResult
		causes []string
		sympt  int
	}
	byHost := map[string]*agg{}
	var names []string
	for _, nd := range e.g.nodes {
		a := byHost[nd.key.Host]
		if a == nil {
			a = &agg{h: HostResult{Host: nd.key.Host, Role: RoleUnrelated, HostLevel: []string{}}}
			byHost[nd.key.Host] = a
			names = append(names, nd.key.Host)
		}
		a.h.Score = math.Max(a.h.Score, finite(nd.score))
		if len(nd.flagged) > 0 {
			a.h.Flagged++
			if nd.level != levelFlow {
				a.h.HostLevel = append(a.h.HostLevel, nd.key.Component)
			}
		}
		switch nd.role {
		case RoleCause:
			a.causes = append(a.causes, nd.key.label())
		case RoleSymptom:
			a.sympt++
		}
	}
	for _, name := range names {
		a := byHost[name]
		switch {
		case len(a.causes) > 0:
			a.h.Role = RoleCause
			a.h.Why = "cause(s) on this host: " + strings.Join(a.causes, "; ")
		case a.sympt > 0:
			a.h.Role = RoleSymptom
			a.h.Why = fmt.Sprintf("%d component(s) here show symptoms of a cause elsewhere", a.sympt)
		default:
			a.h.Why = "nothing on this host left its normal range"
		}
		if len(a.h.HostLevel) > 0 {
			sort.Strings(a.h.HostLevel)
			a.h.Why += "; host-level changes: " + strings.Join(a.h.HostLevel, ", ")
		}
	}
	sort.SliceStable(names, func(i, j int) bool {
		x, y := byHost[names[i]].h, byHost[names[j]].h
		if rx, ry := roleOrder(x.Role), roleOrder(y.Role); rx != ry {
			return rx < ry
		}
		if x.Score != y.Score {
			return x.Score > y.Score
		}
		return x.Host < y.Host
	})
	for _, name := range names {
		e.r.Hosts = append(e.r.Hosts, byHost[name].h)
	}
}

func (e *explainer) summary(ep episodeSet) {
	r := e.r
	flaggedMetrics, flaggedNodes := 0, 0
	for _, nd := range e.g.nodes {
		if len(nd.flagged) > 0 {
			flaggedNodes++
			flaggedMetrics += len(nd.flagged)
		}
	}
	alpha := withAnalysisDefaults(e.o.Analysis).Alpha
	limits := "the SPE, T² and largest-residual limits"
	if e.sc.mode == "univariate" {
		limits = "the robust z-score limit"
	}
	if len(ep.list) > 0 {
		r.Status = StatusAnomaly
		first, last := ep.list[0], ep.list[len(ep.list)-1]
		r.Summary = append(r.Summary, fmt.Sprintf("Anomaly: %d of %d points beyond %s, in %d episode(s) from %s to %s; %d metric(s) of %d component(s) left their normal range.",
			len(ep.rows), len(e.pr.times), limits, len(ep.list), clock(first.From, r.Window.To), clock(last.To, r.Window.To), flaggedMetrics, flaggedNodes))
	} else {
		r.Status = StatusNoAnomaly
		s := fmt.Sprintf("No anomaly: no episode of points beyond %s", limits)
		if ep.isolated > 0 {
			s += fmt.Sprintf(" (%d isolated point(s) over the %g%% per-point limits; about %.0f are expected by chance)", ep.isolated, 100*alpha, alpha*float64(len(e.pr.times)))
		}
		s += "."
		if flaggedMetrics > 0 {
			s += fmt.Sprintf(" Still, %d metric(s) of %d component(s) moved away from the baseline for a sustained time; see the ranking.", flaggedMetrics, flaggedNodes)
		}
		r.Summary = append(r.Summary, s)
	}
	var causes []*node
	for _, nd := range e.g.nodes {
		if nd.role == RoleCause {
			causes = append(causes, nd)
		}
	}
	sort.SliceStable(causes, func(i, j int) bool { return causeBefore(causes[i], causes[j]) })
	if len(ep.list) > 0 && len(causes) == 0 {
		r.Summary = append(r.Summary, "No single metric left its normal range for a sustained time: the points are anomalous jointly (a broken relation between metrics, or a short burst); the ranking lists the largest contributors.")
	}
	for k, c := range causes {
		if k == 3 {
			r.Summary = append(r.Summary, fmt.Sprintf("%d more independent change(s): see components.", len(causes)-3))
			break
		}
		word := "Likely cause"
		if k > 0 {
			word = "Also independent"
		}
		r.Summary = append(r.Summary, fmt.Sprintf("%s: %s: %s %s.", word, c.key.label(), e.describe(c.top), e.when(c.onset)))
	}
	var symptoms []string
	for _, nd := range e.g.nodes {
		if nd.role == RoleSymptom {
			symptoms = append(symptoms, nd.key.String())
		}
	}
	if len(symptoms) > 0 {
		sort.Strings(symptoms)
		more := ""
		if len(symptoms) > 6 {
			more = fmt.Sprintf(" and %d more", len(symptoms)-6)
			symptoms = symptoms[:6]
		}
		r.Summary = append(r.Summary, fmt.Sprintf("Symptoms (they changed after, and downstream or upstream of, a cause): %s%s.", strings.Join(symptoms, ", "), more))
	}
	early, allEarly := 0, true
	for _, m := range e.sc.metrics {
		if m.flagged && m.early {
			early++
		}
		if m.flagged && !m.early {
			allEarly = false
		}
	}
	switch {
	case early > 0 && !allEarly:
		r.Summary = append(r.Summary, fmt.Sprintf("%d metric(s) differed from the baseline already at the window's start (drifts such as memory growth, or older changes): listed in the ranking, set aside as unrelated to the changes inside the window.", early))
	case early > 0:
		r.Summary = append(r.Summary, "Every change was already there at the window's start: the onsets are not in the window; widen --window (or move --at) to see where they begin.")
	}
	r.Summary = append(r.Summary, e.vertical(causes)...)
	r.Summary = append(r.Summary, stoppedSummary(e.pr)...)
	r.Summary = append(r.Summary, e.gapSummary()...)
	if e.sc.mode == "univariate" {
		r.Summary = append(r.Summary, "Univariate guidance only: "+strings.Join(e.sc.notes, "; ")+".")
	}
	if r.Topology.Assumed && len(causes) > 0 {
		r.Summary = append(r.Summary, "No flow edges between agents are known (give --topology or --conf): agents were taken as connected and ordered by onset alone.")
	}
}

// vertical gives the host-versus-process-versus-component guidance.
func (e *explainer) vertical(causes []*node) []string {
	var out []string
	g := e.g
	hostsFlagged := map[string]bool{}
	allHosts := map[string]bool{}
	for _, nd := range g.nodes {
		allHosts[nd.key.Host] = true
		if nd.level == levelHost && len(nd.flagged) > 0 {
			hostsFlagged[nd.key.Host] = true
		}
	}
	if len(allHosts) > 1 && len(hostsFlagged) == len(allHosts) {
		out = append(out, "Every host's own metrics moved: look for a shared cause (network, storage, a common dependency, time of day) rather than one machine.")
	}
	for _, c := range causes {
		if c.level != levelHost {
			continue
		}
		var victims []string
		for _, nd := range g.nodes {
			if nd.role == RoleSymptom && nd.key.Host == c.key.Host && nd.level == levelFlow {
				if !contains(victims, nd.key.Agent) {
					victims = append(victims, nd.key.Agent)
				}
			}
		}
		if len(victims) == 0 {
			continue
		}
		procBusy := false
		for _, nd := range g.nodes {
			if nd.key.Host == c.key.Host && nd.level == levelProcess && nd.sig.busyUp {
				procBusy = true
			}
		}
		s := fmt.Sprintf("Host %s: %s changed first and agent(s) %s on it followed", c.key.Host, e.pr.series[c.top].Metric, strings.Join(victims, ", "))
		if procBusy {
			s += "; the agent process's own CPU or memory rose too: the agent itself is doing more work (look at its load, GC, or a busy component)."
		} else {
			s += "; the agent process's own use did not rise: another process on the host is taking its resources (interference), not the flow."
		}
		out = append(out, s)
	}
	return out
}

// stoppedSummary names the agents whose series stopped before the window.
func stoppedSummary(pr *prepared) []string {
	if len(pr.stopped) == 0 {
		return nil
	}
	type ak struct{ host, agent string }
	count := map[ak]int{}
	var keys []ak
	for _, s := range pr.stopped {
		k := ak{s.Host, s.Agent}
		if count[k] == 0 {
			keys = append(keys, k)
		}
		count[k]++
	}
	var parts []string
	for _, k := range keys {
		name := "host " + k.host
		if k.agent != "" {
			name = "agent " + k.agent + " on host " + k.host
		}
		parts = append(parts, fmt.Sprintf("%s (%d series)", name, count[k]))
	}
	return []string{"Not reporting in the window (stopped, or filtered out): " + strings.Join(parts, "; ") + "."}
}

// gapSummary names the components that stopped reporting inside the window.
func (e *explainer) gapSummary() []string {
	n := len(e.pr.times)
	first := map[int]int{} // node -> first row of a trailing gap
	for j, gs := range e.pr.gaps {
		last := gs[len(gs)-1]
		if last.to != n {
			continue
		}
		s := e.pr.series[j]
		i := e.g.byKey[compKey{s.Host, s.Agent, s.Component, s.Kind}]
		if f, ok := first[i]; !ok || last.from < f {
			first[i] = last.from
		}
	}
	if len(first) == 0 {
		return nil
	}
	idx := make([]int, 0, len(first))
	for i := range first {
		idx = append(idx, i)
	}
	sort.Slice(idx, func(a, b int) bool {
		return first[idx[a]] < first[idx[b]] || (first[idx[a]] == first[idx[b]] && idx[a] < idx[b])
	})
	var parts []string
	for k, i := range idx {
		if k == 5 {
			parts = append(parts, fmt.Sprintf("and %d more", len(idx)-5))
			break
		}
		parts = append(parts, fmt.Sprintf("%s at %s", e.g.nodes[i].key.String(), clock(e.rowTime(first[i]), e.r.Window.To)))
	}
	return []string{"Stopped reporting during the window: " + strings.Join(parts, ", ") + " (a stopped agent, or a lost connection to the store)."}
}
