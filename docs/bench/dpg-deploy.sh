#!/usr/bin/env bash
# docs/bench/dpg-deploy.sh: what deployed watch operators cost an agent,
# and what a DPG saves in monitoring bytes. Figures for
# docs/bench/dpg-deploy.md; `make bench` runs it.
#
#   1. Overhead. Two identical agent processes A and B (seq -> memory ->
#      null, 100-byte events, as fast as they go) with their control APIs,
#      and a watch node process for the root. Each round deploys the plan's
#      leaf (sampling the agent every second; `vscope dpg deploy`) on one
#      agent, waits until its detectors are fitted, measures both agents
#      over the same PHASE seconds (the sink's drained events from GET
#      /metrics.json, the process's CPU seconds from /proc/PID/stat), and
#      undeploys; the next round puts the operators on the other agent.
#      Measuring both at once cancels the load other processes put on the
#      machine; swapping cancels any difference between the two agents.
#      A round's ratio is on/off; the median ratio of events per wall
#      second and of events per CPU second is reported.
#      The same cost measured directly: BenchmarkLeafStep (dpg/watch), one
#      sampling interval of a fitted leaf on a three-component agent.
#   2. Bytes. `vscope dpg simulate --hosts HOSTS`: a simulated fleet with
#      a slow sink planted, monitored by the planned DPG and by shipping
#      every sample to one store, through the watch operators' own code.
#
# Environment: VSCOPE (build/vscope), GO (go), ROUNDS (8), PHASE (10 s),
# HOSTS (1000), SIM_DURATION (5m).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.."
VSCOPE=${VSCOPE:-build/vscope}
ROUNDS=${ROUNDS:-8}
PHASE=${PHASE:-10}
GO=${GO:-go}
HOSTS=${HOSTS:-1000}
SIM_DURATION=${SIM_DURATION:-5m}
[[ -x $VSCOPE ]] || { echo "dpg-deploy.sh: $VSCOPE is missing (make build)" >&2; exit 1; }
command -v jq >/dev/null || { echo "dpg-deploy.sh: needs jq (make tools)" >&2; exit 1; }
command -v curl >/dev/null || { echo "dpg-deploy.sh: needs curl" >&2; exit 1; }

tmp=$(mktemp -d "${TMPDIR:-/tmp}/vscope-dpg-bench.XXXXXX")
[[ -d $tmp ]] || exit 1
pids=()
cleanup() {
	local p
	for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
	for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
	rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
fail() {
	echo "dpg-deploy.sh: $*" >&2
	local f
	for f in "$tmp"/*.log; do [[ -s $f ]] && { echo "--- $f" >&2; grep -v 'PSI metrics' "$f" | tail -20 >&2; }; done
	exit 1
}
median() { printf '%s\n' "$@" | sort -g | awk '{v[NR]=$1} END {print (NR%2) ? v[(NR+1)/2] : (v[NR/2]+v[NR/2+1])/2}'; }
# wait_file FILE: until FILE exists (10 s).
wait_file() { for _ in $(seq 200); do [[ -s $1 ]] && return 0; sleep 0.05; done; fail "$1 never appeared"; }

echo "== watch operators' overhead: two agents (seq -> memory -> null) side by side, $ROUNDS rounds of ${PHASE} s"
head -c 24 /dev/urandom | base64 >"$tmp/token"
chmod 600 "$tmp/token"
printf '%s\n' \
	'a1.sources = r1' 'a1.channels = c1' 'a1.sinks = k1' \
	'a1.sources.r1.type = seq' 'a1.sources.r1.batchSize = 100' 'a1.sources.r1.bodySize = 100' 'a1.sources.r1.channels = c1' \
	'a1.channels.c1.type = memory' 'a1.channels.c1.capacity = 10000' 'a1.channels.c1.transactionCapacity = 100' \
	'a1.sinks.k1.type = null' 'a1.sinks.k1.batchSize = 100' 'a1.sinks.k1.channel = c1' >"$tmp/agent.conf"
declare -A apid metrics
for x in A B; do
	"$VSCOPE" agent -f "$tmp/agent.conf" -n a1 --no-reload-conf --http 127.0.0.1:0 \
		--control 127.0.0.1:0 --control-token-file "$tmp/token" --control-addr-file "$tmp/$x.addr" \
		--watch-host bench >"$tmp/agent-$x.log" 2>&1 &
	apid[$x]=$!
	pids+=("$!")
done
"$VSCOPE" dpg node --control 127.0.0.1:0 --control-token-file "$tmp/token" --control-addr-file "$tmp/store.addr" \
	--watch-host store >"$tmp/node.log" 2>&1 &
pids+=("$!")
for x in A B; do
	wait_file "$tmp/$x.addr"
	metrics[$x]=$(sed -n 's/.*msg=monitoring url=\(http[^ ]*\)\/metrics.*/\1/p' "$tmp/agent-$x.log" | head -1)
	[[ -n ${metrics[$x]} ]] || fail "no monitoring URL in agent $x's log"
	printf '{"token_file": "token", "hosts": {"bench": {"control_file": "%s.addr"}, "store": {"control_file": "store.addr"}}}\n' "$x" >"$tmp/inventory-$x.json"
done
wait_file "$tmp/store.addr"
printf '%s\n' '{"name": "bench", "root": "store", "hosts": [' \
	' {"name": "bench", "agents": [{"name": "a1", "components": [{"name": "r1", "kind": "source"}, {"name": "c1", "kind": "channel"}, {"name": "k1", "kind": "sink"}]}]},' \
	' {"name": "store", "metrics": {"series": -1}, "capacity": {"cpu": 8, "memory": "16GiB", "ingest": "50MB/s"}}]}' >"$tmp/topology.json"
# A leaf on the agent's host and the root on the store's: a one-host DPG
# (the planner alone would choose centralized for one host).
"$VSCOPE" dpg plan --topology "$tmp/topology.json" --option hierarchical:4 --plan "$tmp/plan.json" --log-level warn >/dev/null
# The operators as planned (robust z, 10 s summaries, 1 s sampling),
# except a 10-sample detect window so that the leaf is fitted 10 s after
# each deploy instead of 60.
set_args=(--set detect.window_samples=10)

drained() { curl -sf "${metrics[$1]}/metrics.json" | jq -r '."SINK.k1".EventDrainSuccessCount | tonumber'; }
cpu_ticks() { awk '{print $14 + $15}' "/proc/${apid[$1]}/stat"; }
hz=$(getconf CLK_TCK)
deploy_on() { # deploy_on X: the leaf on agent X, until its detectors are fitted
	local warm
	"$VSCOPE" dpg deploy "$tmp/plan.json" --inventory "$tmp/inventory-$1.json" --name bench "${set_args[@]}" --log-level warn >"$tmp/deploy.out" ||
		fail "deploy: $(cat "$tmp/deploy.out")"
	for _ in $(seq 120); do
		sleep 1
		warm=$("$VSCOPE" dpg status --inventory "$tmp/inventory-$1.json" --name bench --format json --log-level warn |
			jq '[.endpoints[].operators[] | select(.role == "leaf") | .warm] | all')
		[[ $warm == true ]] && return 0
	done
	fail "the leaf on agent $1 never warmed up"
}
deploy_off() {
	"$VSCOPE" dpg undeploy --inventory "$tmp/inventory-$1.json" --name bench --log-level warn >"$tmp/undeploy.out" ||
		fail "undeploy: $(cat "$tmp/undeploy.out")"
}
# measure ON OFF: both agents over the same PHASE s; the ratios of agent
# ON (operators deployed) to agent OFF, in events/s and events per
# CPU-second, appended to ratios and cpu_ratios.
measure() {
	local x t0 t1
	local -A e0 e1 c0 c1 rate percpu
	for x in A B; do e0[$x]=$(drained $x); c0[$x]=$(cpu_ticks $x); done
	t0=$(date +%s%N)
	sleep "$PHASE"
	t1=$(date +%s%N)
	for x in A B; do e1[$x]=$(drained $x); c1[$x]=$(cpu_ticks $x); done
	for x in A B; do
		rate[$x]=$(awk -v a="${e0[$x]}" -v b="${e1[$x]}" -v s="$t0" -v t="$t1" 'BEGIN {printf "%.0f", (b-a)/((t-s)/1e9)}')
		percpu[$x]=$(awk -v a="${e0[$x]}" -v b="${e1[$x]}" -v c="${c0[$x]}" -v d="${c1[$x]}" -v hz="$hz" 'BEGIN {printf "%.0f", (b-a)/((d-c)/hz)}')
	done
	ratios+=("$(awk -v a="${rate[$1]}" -v b="${rate[$2]}" 'BEGIN {printf "%.4f", a/b}')")
	cpu_ratios+=("$(awk -v a="${percpu[$1]}" -v b="${percpu[$2]}" 'BEGIN {printf "%.4f", a/b}')")
	printf '  on %s: %10s ev/s %10s ev/CPU-s | off %s: %10s ev/s %10s ev/CPU-s | on/off %s, per CPU-s %s\n' \
		"$1" "${rate[$1]}" "${percpu[$1]}" "$2" "${rate[$2]}" "${percpu[$2]}" "${ratios[-1]}" "${cpu_ratios[-1]}"
}
sleep 2 # the agents reach their pace
ratios=()
cpu_ratios=()
on=A
off=B
for _ in $(seq "$ROUNDS"); do
	deploy_on "$on"
	measure "$on" "$off"
	deploy_off "$on"
	t=$on
	on=$off
	off=$t
done
r=$(median "${ratios[@]}")
rc=$(median "${cpu_ratios[@]}")
echo "median on/off: events/s $r (overhead $(awk -v r="$r" 'BEGIN {printf "%.2f", (1-r)*100}')%), events per CPU-second $rc (overhead $(awk -v r="$rc" 'BEGIN {printf "%.2f", (1-r)*100}')%)"
echo "all rounds: ${ratios[*]} | per CPU-second: ${cpu_ratios[*]}"
if grep -q 'panic' "$tmp"/agent-*.log; then fail "an agent panicked"; fi
echo "the operator's own CPU per 1 s sampling interval (BenchmarkLeafStep):"
$GO test -count=1 -run '^$' -bench 'BenchmarkLeafStep$' -benchtime 2000x -count 3 ./dpg/watch/ | grep -E '^Benchmark'

echo
echo "== monitoring bytes at $HOSTS simulated hosts: the planned DPG vs every sample to one store"
"$VSCOPE" dpg simulate --hosts "$HOSTS" --duration "$SIM_DURATION" --log-level warn
