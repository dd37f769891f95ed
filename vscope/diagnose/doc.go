// Package diagnose is `vscope diagnose`: what is anomalous in a window of
// the metric store, ranked, and why. It reads the window and a baseline
// from a [store.Store], runs the analysis package over them, and explains
// the result with the flow topology and the hosts.
//
// Files by concern:
//
//	diagnose.go  Options, Run (load + analyse), Load (the window and the
//	             baseline, whole or in slices)
//	clean.go     aligning the window and baseline on one set of series,
//	             interpolation, what is dropped and why
//	score.go     fitting and scoring (analysis.Fit/Diagnose, or robust
//	             z-scores when the baseline is too short), unit-aware
//	             scales, flagging and onsets
//	topology.go  the flow graph from a JSON file or the agents' Flume files
//	graph.go     components, flow edges, reachability, and which anomalous
//	             component explains which
//	explain.go   Analyze: roles, the ranking, components, hosts, sentences
//	result.go    Result, the stable JSON shape every report is made from
//	report.go    table, JSON and HTML output
//
// # Method
//
//  1. Data. The window (default the last 10 minutes) and the baseline
//     (default the hour before it) are read at one step (1 s). A large
//     baseline is read as evenly spread slices (60 points), the last ending
//     where the window begins, so that the points x series stay within a
//     budget (Options.BaselineRows, BaselineCells). Series are aligned
//     across the two; gaps of up to MaxGap steps are interpolated, longer
//     ones hold the nearest value and are reported; series absent from the
//     baseline (new) or from the window (stopped) cannot be scored and are
//     named; series constant throughout are dropped.
//  2. Model. analysis.Fit learns the PCA normal subspace and each metric's
//     robust statistics from the baseline; analysis.Diagnose scores every
//     point of the window (SPE, T², largest residual, each against its
//     limit). With fewer than MinBaselineRows baseline points the model is
//     not fitted: each metric is scored by its robust z-score against the
//     baseline, or with almost no baseline against its own window (the
//     result says so).
//  3. Units. A metric that never moved in the baseline (a channel fill of
//     0 %) is measured in its own unit (1 percentage point, 1 ms, 1 MiB,
//     1 event/s, or 5 % of its level), not against the spread of unrelated
//     metrics; a metric steadier than a meaningful floor (0.5 point, 0.1 ms,
//     64 KiB, 2 % of a CPU, and 1 % of its level) is measured against the
//     floor.
//  4. Points. A run of points over the limits (at least a quarter of the
//     analysis Window within gaps of a quarter Window), or one point over
//     the limits corrected for the window's length, is an episode; the
//     window is anomalous when it has one. Isolated points over the 1 %
//     limits are counted against what chance gives.
//  5. Metrics. Each metric's score is the analysis' fused score at its
//     strongest over the window (robust |z| + EWMA jump + residual, in
//     units of its own normal variation). A metric is flagged when it left
//     its normal range for a sustained time (half of some Window points
//     past ZThreshold, on the side of its peak, or on the other side when
//     the peak was a brief spike: a rate at zero for minutes, then a burst
//     as it catches up), or stopped reporting. Its onset is the start of the
//     change that led to its peak: the split of log(1+|z|) into the two
//     segments whose means differ most (a ramp rises like a step in the
//     logarithm, and a large change is dated where it happened even after a
//     small deviation). A change already present at the window's first
//     point, when the baseline's last points already showed it, is early:
//     a drift (memory growth) or an older change, set aside when other
//     metrics change inside the window. (With a normal baseline tail it
//     began as the window did.) A count of failures that was flat (none)
//     through the baseline is flagged once it leaves that value in two
//     rows, however far apart (a client retrying a dead server every few
//     seconds).
//  6. Peers. The same metric of the same component on other hosts is a
//     metric's peer (peers.go): the part of a change its peers share is
//     taken off before flagging. A metric flagged but for that share is
//     kept as shared: a component whose only changes are shared can be a
//     symptom of a cause (the senders to one slow collector all wait on
//     it), never a cause, and is nothing when no cause explains it.
//     Failure counts are not discounted.
//  7. Components. Metrics group into components (host, agent, component:
//     r1, c1, k1) and host-level groups (a host's cpu, memory, disks; the
//     agent process; its Go runtime). A component's onset is the earliest
//     onset of its flagged metrics.
//  8. Cause and symptom. Flow edges come from the topology (source ->
//     channel -> sink, forward sink -> the collector's forward source) and,
//     inside an agent without given edges, from the metric names (every
//     source -> every channel -> every sink). Anomalous component U
//     explains anomalous component V when they are connected (along the
//     flow, either way; or one is a host-level group on the other's host)
//     and U changed first (by more than OnsetTolerance points), or both
//     changed within the tolerance and the way faults spread says U comes
//     first: back-pressure (latency, channel fill, failures rising)
//     travels upstream, so a downstream component explains an upstream one
//     that shows back-pressure; rate changes travel downstream; a busy host
//     (CPU, load, GC, disk) slows what runs on it, and a load surge makes
//     its host busy. Hosts the topology places on one machine
//     (Topology.Machine: VMs or containers on a node, a local flow's
//     emulated hosts) share its CPUs: a host whose CPU use rose by a
//     quarter of the machine's capacity also slows the components of the
//     others there (held up or passing on less, never busier). Host-level explanations need the two onsets within a
//     Window of each other: contention acts at once, unlike back-pressure,
//     which takes the time a channel needs to fill. A component that
//     stopped reporting altogether is the extreme of slow. What travels
//     keeps its nature: a rate keeps its sign downstream, and a load makes
//     something downstream slower only if more arrived there; a latency
//     that rose by 0.2 ms does not explain one upstream that rose by
//     300 ms, nor do 15 % more events make a mostly idle sink 300 times
//     slower (a latency ratio beyond ten times the load's); less arriving
//     with no trouble of its own explains only the sender right before it
//     (a broken link), not back-pressure further up, and not when every
//     receiver of that sender gets less (the sender they share is held
//     up); back-pressure reaches a component that only passes on less
//     from the one right after it, which shows it first; a channel's
//     takes falling with its puts is less arriving, not its sink slowing; one rate change across an agent's channel is one
//     change (onsets within a Window). A configured size (a channel's
//     capacity) is set, not caused. A source failing to write into a
//     channel that is not filling means the channel refused (a full disk):
//     it is a cause from the first failure (a busy disk or CPU makes writes
//     slow, not refused), and the sink behind it is
//     starved, not held up. What one branch of a load-balanced flow cannot
//     take goes to its siblings (flow nodes of other agents fed by one
//     upstream node). An agent process that went missing, for good or for
//     a while, takes everything it reported with it. The causes are the
//     anomalous components nothing explains; the components they explain,
//     transitively, are symptoms (each traced to its cause); components
//     that explain each other in a circle are resolved by the earliest
//     onset. Causes are ordered by weight: how far the change spread (the
//     agents its symptoms are in, plus one) times the log-evidence
//     log(1 + |z|) of its own change (a process gone, or a configuration
//     changed, weighs most: what someone changed is the first suspect).
//     Without edges between agents,
//     agents are taken as connected in an unknown direction and ordered by
//     onset alone (the result says so).
//  9. Ranking. Cause by cause, in the components' order: the cause's
//     flagged metrics (latency, failures, fill, configuration and resource
//     use before rates, because they explain them: a slow sink drains
//     less, not the other way round), then those of the symptoms traced to
//     it, those in the cause's own agent (or on its host) first, each in
//     the order they changed; then the tree's secondary metrics
//     (batch and attempt counts, memory sizes and other gauges; all but
//     one series of a process gone, a single fact; the takes of a channel
//     that refused puts); then the next cause; then
//     the rest by score. A source's failures to write into a channel that
//     refused them count as that channel's own. Every tree's primary
//     metrics come before any tree's secondary ones. Secondary too: a
//     process's or host's change traced to a flow component (its I/O and
//     CPU moving with the events), a host's or process's change mostly
//     shared with its peers on other hosts (every disk read at once), a
//     component on another host slowed by contention for a shared machine,
//     and a twin: a metric measuring what one ranked before it already shows,
//     when both moved the same way (p50 and p99 of one histogram, a
//     source's received and accepted events, a channel's size and fill,
//     the events at the two ends of a hand-off inside an agent, a host's
//     CPU percentages, the series of a host's components gone together).
//     The first places then go to distinct changes. Events are conserved
//     along a flow: a rise upstream does not explain one ten times larger
//     behind it.
//  10. Vertical guidance. A cause on the host level with components of an
//     agent on that host as symptoms is interference on the host; whether
//     the agent process's own CPU rose says whether the agent itself or
//     another process is busy. A cause in a component on a host whose own
//     metrics are normal is in the component, not the machine. Every host
//     moving together points at a shared cause.
//
// Nothing here panics on odd input: an empty window, a filter matching
// nothing, NaN everywhere, one metric, a baseline of two points all give a
// Result whose Summary says what could and could not be done.
package diagnose
