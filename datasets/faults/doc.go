// Package faults runs a local 3-tier flow on 127.0.0.1, drives a replay
// through it, and injects faults that act on the running flow (never on
// metric values), writing down the ground truth of each.
//
// # The flow
//
// StartFlow starts, in this order: a DuckDB metric store held by the
// calling process and served over HTTP (store.Handler: Arrow IPC ingest
// and SQL), the collectors col-01, col-02, ... (agent "col": forward
// source r1 -> file channel c1 -> parquet sink k1 into DataDir/col-NN),
// one TCP Proxy per (tier-1 host, collector) link, and one tier-1 agent
// per web server (agent "web" on host web-01, ...: http source r1 ->
// memory or file channel c1 -> forward sink k1 to the group "collectors",
// whose members are that host's proxies). Every agent is a process of its
// own (FlowConfig.Command; vscope runs itself as "vscope replay member"),
// so a SIGKILL is real; RunMember is its body: the agent built from its
// Flume file, its metrics sampled every SampleInterval under its host
// name into the store, and a control API on loopback through which the
// faults that must reach inside a process act. Agent names repeat across
// hosts, as in a real deployment; the store's host column tells them
// apart, and topology.json (vscope diagnose --topology) names every
// component host/agent/component.
//
// Flow.Sink is the replay's sink: each web server's lines go to its own
// agent through a queue of their own (the host's log file, in effect), so a
// slow agent holds up only its host's lines and the replay keeps its pace.
// Lines of hosts without an agent (the app and database tiers) are skipped
// and counted, or go to FlowConfig.DefaultHost. Stop drains the queues,
// stops the tier-1 agents (they drain into the collectors), then the
// collectors (they drain into Parquet and finish their files), then the
// store. Verify then reads every Parquet file back and looks for every
// line a tier-1 agent acknowledged (host, log time, text).
//
// # Emulated hosts
//
// All agents share one machine, so /proc/stat would give every host the
// same CPU. Each host gets a CPU-accounting cgroup (v1 cpuacct, or v2);
// its agent and anything running "on" it join it, and the agent's host
// cpu metrics (user_percent, system_percent, idle_percent) are read from
// it: the host's processes' CPU time over the machine's capacity. Without
// cgroups (not root, no hierarchy) they are the machine's.
//
// # Faults
//
// A Spec (ParseSpec: KIND@TARGET,start=+2m,dur=3m[,PARAM=VALUE...]) is
// put in force by Flow.Inject and taken out by Injection.Revert, or both
// on the replay's clock by Flow.Schedule. How each acts:
//
//	slow_sink         in the agent's process: its sink sees its channel through a
//	                  wrapper that holds every non-empty take for delay before the
//	                  commit (the agent's core is untouched; the member wraps the
//	                  sink factories), so batch_duration rises and drain slows
//	cpu_interference  a separate busy process (threads) in the host's cgroup; with
//	                  pin (default) it and the agent are pinned to the same CPU
//	net_delay         the proxies of the links: delay per chunk each way, jitter,
//	net_loss          bandwidth; a lost chunk arrives an RTO late (TCP retransmits)
//	tiny_channel      the agent's Flume file is rewritten with a tiny capacity and
//	                  reloaded through the control API (the agent's own reload)
//	gc_storm          in the agent's process: garbage at rate over a live heap of
//	                  pointer-holding objects, GOGC lowered
//	collector_crash   SIGKILL of the agent's process; started again at the end (the
//	                  file channel and the parquet sink recover)
//	disk_full         the file channel lives on a tmpfs of its own (prepared at start
//	                  from FlowConfig.Prepare); a ballast file leaves less than its
//	                  minimumRequiredSpace free, so puts are refused, takes go on
//	flash_crowd,      generated into the web store's logs (GeneratorFaults); their
//	error_storm       wall times are noted as the replay passes them
//
// Each fault yields a Truth: the root-cause component (host, agent,
// component, kind, endpoint; other acceptable answers in Also), its wall
// start and end (the store's clock) and log times, its parameters, what it
// did physically, and the metrics an expert would point at, by the
// sampler's names (a slow collector sink: its batch_duration_p99_seconds,
// EventDrainSuccessRate, its channel's ChannelFillPercentage, the tier-1
// sinks' latencies; CPU interference: the host's cpu user_percent and its
// agent's latencies and rates).
//
// # For a suite runner
//
// Run(ctx, Scenario) does everything: start the flow, schedule the faults,
// replay, wait Scenario.Tail, stop, verify, write truth.json; the Result
// holds the truth, the store and topology paths, the replay's timing and
// the delivery check. For finer control: StartFlow, Flow.Sink with
// replay.Run, Flow.Inject / Injection.Revert or Flow.Schedule, Flow.Store
// (the open store, to diagnose while running), Flow.Stop, Flow.Truth,
// Flow.Verify.
package faults
