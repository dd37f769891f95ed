// Package watch runs the watch operators of a DPG inside agents: VScope's
// watch -> scope -> query escalation, placed by dpg/planner and pushed by
// dpg/deploy through each agent's control API (agent/control).
//
// A [Host] holds the watch nodes of one process. Each node is one node of
// a plan, described by a [Spec]:
//
//   - a leaf reads the agent's own metrics (agent/monitor's Sampler, once
//     per interval), keeps a short history per component and scores every
//     sample with a detector fitted on that history: robust z (median and
//     MAD of each series), EWMA (deviation from the moving average in
//     robust-scale units) or SPE on the component's local subspace (PCA
//     of its series, the squared residual over its Jackson-Mudholkar
//     limit); the analysis package does the statistics. Each window it
//     sends its parent a [Summary]: key metrics merged (count, sum, min,
//     max) and the components whose score came near the threshold. Only
//     when a component alarms (Persist samples in a row over the
//     threshold) does it send raw data: the last RawWindow of the alarmed
//     component and of the Scope-1 most anomalous other components of the
//     same agent (the scope step), straight to the root (the query step),
//     within an escalation budget (by default one raw window a minute on
//     average, three at once; the most severe alarm held back ships when
//     the budget allows), so a host whose metrics are noisy cannot flood
//     the root.
//   - an aggregator merges its children's summaries of a window (sums,
//     extremes, the TopK components by score) and sends one summary up, so
//     its output does not grow with the number of hosts beneath it.
//   - the root merges likewise, keeps the recent windows and every alarm
//     with its raw window, and hands raw windows to a sink (the metric
//     store, when the process has one).
//   - a centralized plan's leaves ship every sample to the root instead,
//     and the root runs the leaves' detector on them: the baseline that
//     the hierarchical plans are measured against.
//
// Nodes only read counters, so adding, changing or removing one never
// touches an agent's events. Messages travel as JSON over HTTP POST to the
// parent's control endpoint, authenticated with the deployment's key;
// sends are queued and never block sampling, and a send that fails is
// counted and dropped (summaries are periodic; the next one supersedes
// it). Time comes from the samples' timestamps and from Tick, so a
// simulation can drive thousands of nodes in virtual time through the
// same code (see Sim).
package watch
