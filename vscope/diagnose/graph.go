package diagnose

import (
	"math"
	"slices"
	"sort"
	"strings"

	"github.com/vscope/vscope/vscope/store"
)

// Levels of a node, for vertical guidance.
const (
	levelFlow    = iota // a source, channel or sink of an agent
	levelHost           // a host-wide group: cpu, memory, a disk, a NIC
	levelProcess        // the agent process and its Go runtime
)

// compKey names a component (or host-level group) in the data.
type compKey struct {
	Host, Agent, Component, Kind string
}

func (k compKey) String() string {
	if k.Agent == "" {
		return k.Host + "/" + k.Component
	}
	return k.Host + "/" + k.Agent + "/" + k.Component
}

// label is how a node is named in sentences: "sink k1 of agent col on
// host h3", "host h2's cpu".
func (k compKey) label() string {
	switch {
	case k.Agent != "":
		return k.Kind + " " + k.Component + " of agent " + k.Agent + " on host " + k.Host
	case k.Kind == "process" || k.Kind == "runtime":
		return "the agent process (" + k.Component + ") on host " + k.Host
	}
	return "host " + k.Host + "'s " + k.Component
}

// signature summarises the direction of a node's flagged metrics.
type signature struct {
	backpressure bool // latency, fill or failures up
	loadUp       bool // rates up, no back-pressure
	rateUp       bool // some rate up
	rateDown     bool // some rate down
	busyUp       bool // CPU, load or memory use up
	// latencyOnly: the back-pressure is latency alone (no fill, failures,
	// fewer takes or stop); latencyUp is the largest rise of a flagged
	// latency, in its unit (seconds).
	latencyOnly bool
	latencyUp   float64
	// latencyRatio is the largest ratio of a flagged latency's peak to
	// its baseline (floored at 0.1 ms; 0: none rose).
	latencyRatio float64
	eventsDown   bool // an event rate down (not a batch count)
	// eventsUp is the largest rise of a flagged event rate, in events per
	// second; loadRatio the largest ratio of a flagged event rate's peak
	// to its baseline (1: none rose).
	eventsUp, loadRatio float64
	// cpuRatio is the largest ratio of a flagged CPU use's peak to its
	// baseline (floored at 10 % of a CPU; 0: no CPU use flagged up).
	cpuRatio float64
	// hostCPUUp is the largest rise of a host's flagged CPU percentage
	// (user or system), in points of the machine's capacity.
	hostCPUUp float64
	// config: a configured size (a channel's capacity) changed. Load,
	// contention or back-pressure do not change a configuration: it is
	// set, and so explained by nothing.
	config bool
	// putsDown, fillUp: a channel's puts fell, its fill rose. writeFail
	// is the onset of a source's channel-write failures (-1: none).
	// refusing: a channel its source failed to write into while it was
	// not filling (out of disk, broken), a cause of its own.
	putsDown, fillUp, refusing bool
	writeFail                  int
}

// node is one component of the data with what the scoring found.
type node struct {
	key     compKey
	level   int
	metrics []int // columns
	flagged []int // flagged columns, by score
	early   []int // flagged columns set aside: off since the window's start
	score   float64
	top     int // highest-scoring column (flagged first)
	onset   int // earliest onset row of a flagged metric; -1
	sig     signature
	stopped bool // every metric stopped reporting
	gone    bool // every metric stopped reporting, for good or for a while
	// sharedOnly: its flagged metrics are shared ones (metricInfo.shared),
	// all its peers moved alike: it is a symptom if a change explains it,
	// else nothing.
	sharedOnly bool
	// strength is the largest |z| of a flagged metric (+Inf: a process
	// gone).
	strength float64

	out, in []int // flow edges

	role     string
	why      string
	parent   int // the explainer a symptom was reached from; -1
	root     int // the cause a symptom traces back to; -1
	relation int // relation of parent to this node
	// reached: the agents (host, agent; "" for a host's own groups) of
	// the symptoms traced back to this cause.
	reached map[[2]string]bool
}

// graph is the nodes of the data and the flow edges between them.
type graph struct {
	nodes      []*node
	byKey      map[compKey]int
	assumed    bool
	edges      int
	crossAgent int
	reach      map[int][]bool    // downstream reachability, computed lazily
	reachUp    map[int][]bool    // upstream reachability, computed lazily
	window     int               // the analysis' Window, in points
	machine    map[string]string // host -> the machine it shares (Topology.Machine)
}

func levelOf(s store.Series) int {
	switch {
	case s.Agent == "" && (s.Kind == "process" || s.Kind == "runtime"):
		return levelProcess
	case s.Agent == "":
		return levelHost
	case s.Kind == "process" || s.Kind == "runtime":
		return levelProcess
	}
	return levelFlow
}

// metric kinds, by name.
const (
	mkOther = iota
	mkLatency
	mkFill
	mkFailure
	mkRate
	mkBusy   // CPU use, load, memory use
	mkIdle   // CPU idle, free memory
	mkConfig // a configured size: a channel's capacity
)

func metricKind(s store.Series) int {
	m := strings.ToLower(s.Metric)
	switch {
	case strings.HasSuffix(m, "capacity"):
		return mkConfig
	case strings.Contains(m, "duration") || strings.Contains(m, "latency"):
		return mkLatency
	case strings.Contains(m, "channelfill") || m == "channelsize":
		return mkFill
	case strings.Contains(m, "fail") || strings.Contains(m, "rollback") || strings.Contains(m, "error"):
		return mkFailure
	case strings.Contains(m, "idle") || strings.Contains(m, "free") || strings.Contains(m, "available"):
		return mkIdle
	case strings.HasPrefix(m, "cpu_") || (s.Kind == "host" && strings.HasSuffix(m, "_percent")) ||
		strings.HasPrefix(m, "load") || strings.Contains(m, "used") || strings.Contains(m, "gc_"):
		return mkBusy
	case strings.HasSuffix(m, "rate") || strings.HasSuffix(m, "_per_second"):
		return mkRate
	}
	return mkOther
}

// precedence orders the flagged metrics of one component: how it is doing
// (latency, failures, fill, resource use) before how much moves through it
// (rates), because within a component the first explain the second
// (throughput = work in flight / latency): a slow sink drains less, not
// the other way round.
func precedence(s store.Series) int {
	switch metricKind(s) {
	case mkConfig, mkLatency, mkFailure, mkFill, mkBusy:
		return 0
	case mkIdle: // the mirror of a busy metric: named second
		return 1
	case mkRate:
		if strings.Contains(s.Metric, "Batch") || strings.Contains(s.Metric, "Attempt") {
			// Counts of batches (empty, underflowing, appended) and of
			// attempts are bookkeeping: the events moved say how the
			// flow is doing, and attempts differ from successes only by
			// the failures, which are counted on their own.
			return precSecondary
		}
		return 2
	}
	return precSecondary
}

// precSecondary is the precedence of metrics that tell the story only
// after the others (bookkeeping counts, and gauges such as memory sizes
// that move with whatever the process does): the ranking lists them after
// every primary metric of a cause's tree.
const precSecondary = 3

// buildGraph groups the columns into nodes and joins them with the flow
// edges of the topology and those inferred inside agents.
func buildGraph(pr *prepared, sc *scored, topo *Topology, window int) *graph {
	series := pr.series
	g := &graph{byKey: map[compKey]int{}, reach: map[int][]bool{}, reachUp: map[int][]bool{}, window: window}
	if topo != nil {
		g.machine = topo.Machine
	}
	for j, s := range series {
		k := compKey{s.Host, s.Agent, s.Component, s.Kind}
		i, ok := g.byKey[k]
		if !ok {
			i = len(g.nodes)
			g.byKey[k] = i
			g.nodes = append(g.nodes, &node{key: k, level: levelOf(s), onset: -1, top: j, parent: -1, root: -1})
		}
		g.nodes[i].metrics = append(g.nodes[i].metrics, j)
	}
	for _, nd := range g.nodes {
		nd.summarise(pr, sc)
	}

	// Flow edges: given ones, then inferred inside agents without any.
	var flow []int
	var keys []compKey
	for i, nd := range g.nodes {
		if nd.level == levelFlow {
			flow, keys = append(flow, i), append(keys, nd.key)
		}
	}
	agents := flowEdges(keys, topo, func(x, y int) {
		a, b := flow[x], flow[y]
		g.nodes[a].out = append(g.nodes[a].out, b)
		g.nodes[b].in = append(g.nodes[b].in, a)
		g.edges++
		if g.nodes[a].key.Agent != g.nodes[b].key.Agent || g.nodes[a].key.Host != g.nodes[b].key.Host {
			g.crossAgent++
		}
	})
	g.assumed = g.crossAgent == 0 && agents > 1
	g.refusals(series)
	return g
}

// refusals reads a source's failures to write into its channel. With the
// channel filling, they are back-pressure from below; without, the
// channel itself refused (its disk full, it broke): the channel is then a
// cause of its own from the first failure. A sink whose channels' puts
// fell while they did not fill is starved, not held up: its batches
// stopping or slowing is not back-pressure.
func (g *graph) refusals(series []store.Series) {
	for _, c := range g.nodes {
		if c.level != levelFlow || c.key.Kind != "channel" || len(c.flagged) == 0 || c.sig.fillUp {
			continue
		}
		for _, i := range c.in {
			s := g.nodes[i]
			if s.key.Kind != "source" || s.sig.writeFail < 0 {
				continue
			}
			c.sig.refusing, c.sig.backpressure = true, true
			if c.onset < 0 || s.sig.writeFail < c.onset {
				c.onset = s.sig.writeFail
			}
			// Its puts tell it first.
			for k, j := range c.flagged {
				if strings.Contains(series[j].Metric, "Put") {
					copy(c.flagged[1:k+1], c.flagged[:k])
					c.flagged[0], c.top = j, j
					break
				}
			}
		}
	}
	for _, k := range g.nodes {
		if k.level != levelFlow || k.key.Kind != "sink" || !k.sig.backpressure || k.stopped || len(k.in) == 0 {
			continue
		}
		starved := true
		for _, i := range k.in {
			c := g.nodes[i]
			starved = starved && c.key.Kind == "channel" && (c.sig.putsDown || c.sig.refusing) && !c.sig.fillUp
		}
		if starved {
			k.sig.backpressure = false
		}
	}
}

// flowEdges joins flow components (keys: agents' sources, channels and
// sinks) the way the diagnosis does: the edges of topo between them, then,
// inside every agent topo gives no edges for, every source to every
// channel to every sink. It calls edge once for each distinct pair of
// distinct components (indices into keys), given edges first, and returns
// the number of agents.
func flowEdges(keys []compKey, topo *Topology, edge func(a, b int)) int {
	type agentKey struct{ host, agent string }
	byName := map[[2]string][]int{} // agent, component -> keys
	agents := map[agentKey][]int{}
	for i, k := range keys {
		byName[[2]string{k.Agent, k.Component}] = append(byName[[2]string{k.Agent, k.Component}], i)
		agents[agentKey{k.Host, k.Agent}] = append(agents[agentKey{k.Host, k.Agent}], i)
	}
	seen := map[[2]int]bool{}
	add := func(a, b int) {
		if a != b && !seen[[2]int{a, b}] {
			seen[[2]int{a, b}] = true
			edge(a, b)
		}
	}
	match := func(e Endpoint) []int {
		var out []int
		for _, i := range byName[[2]string{e.Agent, e.Component}] {
			if e.Host == "" || e.Host == keys[i].Host {
				out = append(out, i)
			}
		}
		return out
	}
	given := map[agentKey]bool{}
	if topo != nil {
		for _, e := range topo.Edges {
			for _, a := range match(e.From) {
				for _, b := range match(e.To) {
					if keys[a].Agent == keys[b].Agent && keys[a].Host == keys[b].Host {
						given[agentKey{keys[a].Host, keys[a].Agent}] = true
					}
					add(a, b)
				}
			}
		}
	}
	aks := make([]agentKey, 0, len(agents))
	for ak := range agents {
		aks = append(aks, ak)
	}
	sort.Slice(aks, func(i, j int) bool {
		return aks[i].host+"\x00"+aks[i].agent < aks[j].host+"\x00"+aks[j].agent
	})
	for _, ak := range aks {
		if given[ak] {
			continue
		}
		var src, ch, snk []int
		for _, i := range agents[ak] {
			switch keys[i].Kind {
			case "source":
				src = append(src, i)
			case "channel":
				ch = append(ch, i)
			case "sink":
				snk = append(snk, i)
			}
		}
		for _, a := range src {
			for _, b := range ch {
				add(a, b)
			}
		}
		for _, a := range ch {
			for _, b := range snk {
				add(a, b)
			}
		}
	}
	return len(agents)
}

// summarise fills score, top, onset and the signature from the metrics.
func (nd *node) summarise(pr *prepared, sc *scored) {
	ms, series := sc.metrics, pr.series
	var shared []int
	for _, j := range nd.metrics {
		switch {
		case ms[j].shared && !ms[j].early:
			shared = append(shared, j)
		case !ms[j].flagged:
		case ms[j].early && sc.inWindow:
			// Already off at the window's start while other metrics
			// change inside it: a drift or an older change, which the
			// onsets inside the window cannot be ordered against.
			nd.early = append(nd.early, j)
		default:
			nd.flagged = append(nd.flagged, j)
		}
	}
	byScore := func(cols []int) {
		sort.SliceStable(cols, func(a, b int) bool {
			if ca, cb := precedence(series[cols[a]]), precedence(series[cols[b]]); ca != cb {
				return ca < cb
			}
			if ms[cols[a]].score != ms[cols[b]].score {
				return ms[cols[a]].score > ms[cols[b]].score
			}
			return cols[a] < cols[b]
		})
	}
	if len(nd.flagged) == 0 && len(nd.early) == 0 && len(shared) > 0 {
		// Only what it shares with its peers moved: it can be a
		// symptom, never a cause (assignRoles).
		nd.flagged, nd.sharedOnly = shared, true
	}
	byScore(nd.flagged)
	nd.score = 0
	for _, j := range nd.metrics {
		nd.score = math.Max(nd.score, ms[j].score)
	}
	if len(nd.flagged) > 0 {
		nd.top = nd.flagged[0]
	} else {
		best := nd.metrics[0]
		for _, j := range nd.metrics {
			if ms[j].score > ms[best].score {
				best = j
			}
		}
		nd.top = best
	}
	// A channel's takes falling with its puts is less arriving, not its
	// sink slowing: only takes falling alone are back-pressure.
	putsDown := false
	for _, j := range nd.flagged {
		if nd.key.Kind == "channel" && metricKind(series[j]) == mkRate && strings.Contains(series[j].Metric, "Put") && ms[j].z < 0 {
			putsDown = true
		}
	}
	nd.sig.putsDown, nd.sig.writeFail = putsDown, -1
	stopped, missing := 0, 0
	for _, j := range nd.metrics {
		if ms[j].stopped {
			stopped++
		}
		if ms[j].missing || ms[j].stopped {
			missing++
		}
	}
	nd.gone = missing == len(nd.metrics)
	// A component all of whose metrics stopped reporting is the extreme
	// of slow: what feeds it backs up.
	if stopped == len(nd.metrics) {
		nd.stopped = true
		nd.sig.backpressure = true
	}
	bpOther := nd.stopped
	for _, j := range nd.flagged {
		if nd.onset < 0 || (ms[j].onset >= 0 && ms[j].onset < nd.onset) {
			nd.onset = ms[j].onset
		}
		if ms[j].missing && metricKind(series[j]) == mkLatency {
			nd.sig.backpressure, bpOther = true, true // no batch completed
		}
		up := ms[j].z > 0
		switch metricKind(series[j]) {
		case mkConfig:
			nd.sig.config = true
		case mkLatency:
			if up {
				nd.sig.backpressure = true
				nd.sig.latencyUp = math.Max(nd.sig.latencyUp, pr.rawAt(sc, ms[j].peakRow, j)-ms[j].baseline)
				nd.sig.latencyRatio = math.Max(nd.sig.latencyRatio, pr.rawAt(sc, ms[j].peakRow, j)/math.Max(ms[j].baseline, minScale(series[j].Metric)))
			}
		case mkFill, mkFailure:
			if up {
				nd.sig.backpressure, bpOther = true, true
				if metricKind(series[j]) == mkFill {
					nd.sig.fillUp = true
				}
				if writeFailure(series[j]) && (nd.sig.writeFail < 0 || (ms[j].onset >= 0 && ms[j].onset < nd.sig.writeFail)) {
					nd.sig.writeFail = ms[j].onset
				}
			}
		case mkRate:
			switch {
			case nd.key.Kind == "channel" && strings.Contains(series[j].Metric, "Take") && !up && !putsDown:
				// A channel's takes are its sink's doing: fewer takes
				// is the consumer slowing, back-pressure from below, not
				// a rate change arriving from upstream.
				nd.sig.backpressure, bpOther = true, true
			case up:
				nd.sig.loadUp, nd.sig.rateUp = true, true
				if strings.HasPrefix(series[j].Metric, "Event") {
					peak := pr.rawAt(sc, ms[j].peakRow, j)
					nd.sig.eventsUp = math.Max(nd.sig.eventsUp, peak-ms[j].baseline)
					if ms[j].baseline > 0 {
						nd.sig.loadRatio = math.Max(nd.sig.loadRatio, peak/ms[j].baseline)
					}
				}
			default:
				nd.sig.rateDown = true
				if strings.Contains(series[j].Metric, "Event") {
					nd.sig.eventsDown = true
				}
			}
		case mkBusy:
			if up {
				nd.sig.busyUp = true
				if floor := cpuFloor(series[j]); floor > 0 {
					nd.sig.cpuRatio = math.Max(nd.sig.cpuRatio, pr.rawAt(sc, ms[j].peakRow, j)/math.Max(ms[j].baseline, floor))
				}
				if hostCPU(series[j]) {
					nd.sig.hostCPUUp = math.Max(nd.sig.hostCPUUp, pr.rawAt(sc, ms[j].peakRow, j)-ms[j].baseline)
				}
			}
		case mkIdle:
			if !up {
				nd.sig.busyUp = true
			}
		}
	}
	nd.sig.latencyOnly = nd.sig.backpressure && !bpOther
	// Slower with more events is not a load surge, unless the events at
	// least doubled and only latency rose: a flash crowd slows the puts
	// it makes.
	if nd.sig.backpressure && !(nd.sig.latencyOnly && nd.sig.loadRatio >= 2) {
		nd.sig.loadUp = false
	}
	nd.strength = 0
	for _, j := range nd.flagged {
		if z := math.Abs(ms[j].z); !math.IsNaN(z) {
			nd.strength = math.Max(nd.strength, z)
		}
	}
	if (nd.gone && isProcess(nd)) || nd.sig.config {
		// Nothing is plainer than a process gone, or a configuration
		// changed in the window: what someone changed is the first
		// suspect.
		nd.strength = math.Inf(1)
	}
}

// sharedUpstream reports whether some flow node feeds both u and v. It
// walks back from the two (reachability is cached only for the anomalous
// nodes relation is asked about, not for every node of a large flow).
func (g *graph) sharedUpstream(u, v int) bool {
	a, b := g.walk(u, true), g.walk(v, true)
	for x, in := range a {
		if in && b[x] && x != u && x != v {
			return true
		}
	}
	return false
}

// downstream returns the flow nodes reachable from i.
func (g *graph) downstream(i int) []bool { return g.walk(i, false) }

// walk returns the flow nodes reachable from i along the edges, or against
// them (up), cached.
func (g *graph) walk(i int, up bool) []bool {
	cache := g.reach
	if up {
		cache = g.reachUp
	}
	if r, ok := cache[i]; ok {
		return r
	}
	r := make([]bool, len(g.nodes))
	stack := []int{i}
	for len(stack) > 0 {
		x := stack[len(stack)-1]
		stack = stack[:len(stack)-1]
		next := g.nodes[x].out
		if up {
			next = g.nodes[x].in
		}
		for _, y := range next {
			if !r[y] {
				r[y] = true
				stack = append(stack, y)
			}
		}
	}
	cache[i] = r
	return r
}

// Relations of a node u to a node v.
const (
	relNone       = iota
	relDownstream // u is downstream of v in the flow
	relUpstream   // u is upstream of v
	relLoop       // both: a loop in the flow
	relAssumed    // different agents, no topology between agents
	relHostOfFlow // u is a host-level or process node on v's host
	relFlowOnHost // u is a flow component on host-level node v's host
	relSameHost   // two host-level or process nodes of one host
	relSibling    // flow nodes of two agents fed by one upstream node
	relMachine    // u is a host-level or process node of another host on v's machine
)

func (g *graph) relation(u, v int) int {
	a, b := g.nodes[u], g.nodes[v]
	switch {
	case a.level == levelFlow && b.level == levelFlow:
		d := g.downstream(v)[u]
		up := g.downstream(u)[v]
		switch {
		case d && up:
			return relLoop
		case d:
			return relDownstream
		case up:
			return relUpstream
		case g.assumed && (a.key.Agent != b.key.Agent || a.key.Host != b.key.Host):
			return relAssumed
		case (a.key.Agent != b.key.Agent || a.key.Host != b.key.Host) && g.sharedUpstream(u, v):
			return relSibling
		}
		return relNone
	case a.key.Host != b.key.Host:
		if a.level != levelFlow && b.level == levelFlow && g.coLocated(a.key.Host, b.key.Host) {
			return relMachine
		}
		return relNone
	case a.level != levelFlow && b.level == levelFlow:
		if a.key.Agent != "" && a.key.Agent != b.key.Agent {
			return relNone
		}
		return relHostOfFlow
	case a.level == levelFlow && b.level != levelFlow:
		if b.key.Agent != "" && b.key.Agent != a.key.Agent {
			return relNone
		}
		return relFlowOnHost
	}
	return relSameHost
}

// machineShare is the rise of a host's CPU use, in points of the
// machine's capacity, that contends with the other hosts on its machine.
const machineShare = 25

// allGetLess reports whether sender v has receivers besides u and every
// one of them, like u, gets less with no trouble of its own.
func (g *graph) allGetLess(v, u int) bool {
	others := 0
	for _, x := range g.nodes[v].out {
		if x == u {
			continue
		}
		nd := g.nodes[x]
		if len(nd.flagged) == 0 || !nd.sig.eventsDown || nd.sig.backpressure || nd.stopped {
			return false
		}
		others++
	}
	return others > 0
}

// coLocated: two hosts share one machine.
func (g *graph) coLocated(h1, h2 string) bool {
	m, ok := g.machine[h1]
	return ok && m == g.machine[h2]
}

// explains reports whether anomalous node u explains anomalous node v:
// they are connected, and u changed first, or both changed within tol
// rows and the way faults spread says u comes first: back-pressure
// (latency, fill, failures up) travels upstream, rate changes travel
// downstream, a busy host slows what runs on it, a load surge of a
// component makes its host busy.
func (g *graph) explains(u, v, tol int) (bool, int) {
	// A process that stopped reporting, for good or for a while (killed
	// and restarted, hung), takes everything it reported with it (its
	// components, its runtime, the host metrics it sampled): its own stop
	// explains theirs, never the other way round.
	if a, b := g.nodes[u], g.nodes[v]; a.gone && b.gone && a.key.Host == b.key.Host {
		reported := func(x, y *node) bool { return x.key.Agent == "" || y.key.Agent == "" || x.key.Agent == y.key.Agent }
		switch {
		case isProcess(a) && !isProcess(b) && reported(a, b):
			return true, relSameHost
		case isProcess(b) && !isProcess(a) && reported(a, b):
			return false, relSameHost
		}
	}
	rel := g.relation(u, v)
	if rel == relNone {
		return false, rel
	}
	a, b := g.nodes[u], g.nodes[v]
	if b.sig.config {
		return false, rel // a configuration is set, not caused
	}
	// A channel that refused writes while not filling is out of space or
	// broken: a busy disk or CPU makes writes slow, not refused.
	if b.sig.refusing && (rel == relHostOfFlow || rel == relMachine) {
		return false, rel
	}
	du, dv := a.onset, b.onset
	if du < 0 || dv < 0 {
		return false, rel
	}
	// A host or process slows what runs on it only by contention: its
	// CPU, load, GC or disk busier. (A process's memory growing, a NIC's
	// rate moving, do not slow a component by themselves.)
	if (rel == relHostOfFlow || rel == relMachine) && !a.sig.busyUp {
		return false, rel
	}
	// On another host of the same machine, a host's CPU slows a
	// component only when it took a large part of the machine (a quarter
	// of its capacity; 5 points more on one host are not what makes
	// another host's sink 300 ms slower), and only slows it: a component
	// there is held up, or passes on less, never busier.
	if rel == relMachine && (a.sig.hostCPUUp < machineShare || b.sig.loadUp || !(b.sig.backpressure || b.sig.rateDown)) {
		return false, rel
	}
	// Contention acts at once, unlike back-pressure, which takes the time
	// a channel needs to fill: a host explains a component (or a
	// component's load its host) only when they changed within Window
	// points of each other; an earlier, unrelated burst on a shared
	// machine does not.
	if (rel == relHostOfFlow || rel == relFlowOnHost || rel == relMachine) && dv-du > max(tol, g.window) {
		return false, rel
	}
	// Along the flow, only what travels explains: back-pressure (latency,
	// fill, failures up, or throughput down) travels upstream from a
	// component that is slow, stopped or drains less; rate changes travel
	// downstream. A latency hiccup upstream explains nothing downstream.
	switch rel {
	case relDownstream:
		if !(a.sig.backpressure || a.sig.eventsDown || a.stopped || a.sig.config) || !(b.sig.backpressure || b.sig.rateDown) {
			return false, rel
		}
		// Less arriving with no sign of trouble of its own (nothing
		// slower, fuller or failing) is what its upstream sent: it
		// explains only the sender right before it (a broken link shows
		// first as less arriving), not back-pressure further up.
		if !a.sig.backpressure && !a.stopped && !a.sig.config && (!slices.Contains(a.in, v) || sameAgent(a, b)) {
			return false, rel
		}
		// When every receiver of the sender gets less, the sender is
		// what they share: it is held up (its sink slow), not one link
		// broken.
		if !a.sig.backpressure && !a.stopped && !a.sig.config && g.allGetLess(v, u) {
			return false, rel
		}
		// A channel that refused writes while not full was not held up
		// by what drains it.
		if b.sig.refusing {
			return false, rel
		}
		// Back-pressure reaches a component that only passes on less
		// (no wait, fill or failure of its own) from the one right after
		// it, which must show it first: a collector's slower sink does
		// not halve what a web server's source accepts through a channel
		// that took it in stride.
		if !b.sig.backpressure && !slices.Contains(b.out, u) {
			return false, rel
		}
		// Latency travels upstream by waiting: a component that is only
		// slower (nothing full, failing or drained less) makes what
		// waits on it slower by about as much, not by a hundred times
		// more (0.2 ms more downstream does not explain 300 ms more
		// upstream).
		if a.sig.latencyOnly && !a.sig.eventsDown && b.sig.latencyUp > 10*a.sig.latencyUp {
			return false, rel
		}
	case relSibling:
		// What one branch of a load-balanced or failover flow cannot
		// take goes to the others: a branch held up, refusing or stopped
		// explains more arriving at its sibling, not the other way round.
		if !(a.sig.backpressure || a.sig.eventsDown || a.stopped) || !b.sig.rateUp || b.sig.backpressure {
			return false, rel
		}
	case relUpstream:
		if !(a.sig.rateUp || a.sig.rateDown) {
			return false, rel
		}
		// A rate change keeps its sign as it travels: more arriving
		// upstream does not explain less arriving downstream, nor the
		// other way round (back-pressure aside, which is judged below).
		if !b.sig.backpressure && (a.sig.rateUp != a.sig.rateDown) && (b.sig.rateUp != b.sig.rateDown) && a.sig.rateUp != b.sig.rateUp {
			return false, rel
		}
		// A load makes what is downstream slower only if it arrived
		// there: more arriving upstream does not explain a sink's
		// latency rising where no more came in, and less arriving makes
		// nothing slower.
		if b.sig.backpressure && !(a.sig.rateUp && b.sig.rateUp) {
			return false, rel
		}
		// And in proportion: 15 % more events do not make a sink that
		// was mostly idle 300 times slower (it was held up; the load rose
		// as it happened).
		if b.sig.latencyRatio > 10*math.Max(1, a.sig.loadRatio) {
			return false, rel
		}
		// Events are conserved along a flow: 80 more a second at a
		// sender do not make 1 200 more arrive behind it. (Ten times
		// leaves room for a receiver fed by several senders that all
		// rose.)
		if a.sig.eventsUp > 0 && b.sig.eventsUp > 10*a.sig.eventsUp {
			return false, rel
		}
	}
	// A rate change crosses an agent's channel at once when nothing backs
	// up: the same change at a source and behind it is one change, however
	// the onsets of two bursty series fall (within a Window).
	if (rel == relUpstream || rel == relDownstream) && sameAgent(a, b) && !a.sig.backpressure && !b.sig.backpressure &&
		((a.sig.rateUp && b.sig.rateUp) || (a.sig.rateDown && b.sig.rateDown)) {
		tol = max(tol, g.window)
	}
	if du+tol < dv {
		return true, rel
	}
	if du > dv+tol {
		return false, rel
	}
	switch rel {
	case relSibling:
		return true, rel
	case relDownstream:
		// Back-pressure travels upstream; so does less being taken in
		// behind a component that got slower (less arriving does not
		// make anything downstream slower).
		return b.sig.backpressure || (a.sig.backpressure && b.sig.rateDown && !b.sig.rateUp), rel
	case relUpstream:
		return !b.sig.backpressure || (a.sig.rateUp && b.sig.rateUp), rel
	case relHostOfFlow, relMachine:
		return !b.sig.loadUp, rel
	case relFlowOnHost:
		// A load surge makes its host busy, a reconfigured component its
		// process work (a reload); and a host or process change that is
		// not contention (I/O or memory moving with the flow) is the
		// flow's doing. CPU goes with the load: 13 % more events do not
		// make a process use 30 times the CPU (a GC storm that began as
		// the load rose).
		if a.sig.loadUp && b.sig.cpuRatio > 3*math.Max(1, a.sig.loadRatio) {
			return false, rel
		}
		return a.sig.loadUp || a.sig.config || !b.sig.busyUp, rel
	case relSameHost:
		return a.level == levelProcess && b.level == levelHost && a.sig.busyUp, rel
	}
	return false, rel
}

// cpuFloor is the least baseline a CPU use is compared with, 0 for a
// metric that is not CPU use: 10 % of a CPU (a process sampled every
// 250 ms sees its CPU time in steps of 4 %, and an idle agent's 0.04
// doubling is one tick).
func cpuFloor(s store.Series) float64 {
	m := s.Metric
	switch {
	case strings.HasPrefix(m, "cpu_") && strings.HasSuffix(m, "_seconds_per_second"), m == "gc_cpu_seconds_per_second":
		return 0.1
	case hostCPU(s):
		return 10
	}
	return 0
}

// hostCPU is a host's CPU use in percent of its capacity.
func hostCPU(s store.Series) bool {
	return s.Kind == "host" && (s.Metric == "user_percent" || s.Metric == "system_percent")
}

// sameAgent: two nodes of one agent on one host.
func sameAgent(a, b *node) bool { return a.key.Host == b.key.Host && a.key.Agent == b.key.Agent }

// isProcess is an agent process's own node (not its Go runtime).
func isProcess(nd *node) bool { return nd.level == levelProcess && nd.key.Kind == "process" }
