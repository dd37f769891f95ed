#!/usr/bin/env bash
# docs/bench/forward.sh: agent -> collector over loopback, vscope next to
# Benthos in the same run, plus latency and the JetStream channel.
# Results and method: docs/bench/forward.md.
#
#   1. Two processes, 1 KB events, batches of 1000:
#        vscope:  agent (seq -> memory -> forward sink)
#                 -> collector (forward source -> memory -> null)
#        Benthos: generate -> http_client (batches of 1000, multipart)
#                 -> http_server -> drop; acknowledged per batch, like forward
#        Benthos: generate -> socket (tcp, lines) -> socket_server -> drop;
#                 no acknowledgement at all (a ceiling, not a like-for-like)
#      Each run is timed from the start of the sending process until the
#      receiver's counter says all EVENTS arrived (vscope: the collector
#      sink's EventDrainSuccessCount from --http; Benthos: output_sent
#      from its json_api metrics). CPU is both processes' user + system.
#      Runs alternate between the tools, RUNS times each; medians.
#   2. BenchmarkForwardLatency (agent/forward): one hop in one process,
#      events offered at 10k and 50k events/s; latency from the put into
#      the agent's channel to the commit into the collector's channel.
#      BenchmarkForwardThroughput: the same hop flat out.
#   3. BenchmarkJetStream (agent/jetstream): the jetstream channel next to
#      raw JetStream publishing (and publish + fetch + ack) on one
#      embedded nats-server with file storage.
#
# Environment: VSCOPE, BENTHOS (binaries; default build/vscope,
# build/benthos), GO (go), RUNS (3), EVENTS (500000), COUNT (3: runs of
# each Go benchmark).
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "$here/../.." && pwd)
VSCOPE=${VSCOPE:-$root/build/vscope}
BENTHOS=${BENTHOS:-$root/build/benthos}
GO=${GO:-go}
RUNS=${RUNS:-3}
EVENTS=${EVENTS:-500000}
COUNT=${COUNT:-3}
BODY=1024
BATCH=1000

for bin in "$VSCOPE" "$BENTHOS"; do
	[[ -x $bin ]] || { echo "forward.sh: $bin is missing (make build build/benthos)" >&2; exit 1; }
done
command -v curl >/dev/null || { echo "forward.sh: curl is missing" >&2; exit 1; }

tmp=$(mktemp -d "${TMPDIR:-/tmp}/vscope-forward-bench.XXXXXX")
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

now_ns() { date +%s%N; }
median() { printf '%s\n' "$@" | sort -g | awk '{v[NR]=$1} END {print (NR%2) ? v[(NR+1)/2] : (v[NR/2]+v[NR/2+1])/2}'; }
cpu_secs() { awk -v hz="$(getconf CLK_TCK)" '{printf "%.2f", ($14+$15)/hz}' "/proc/$1/stat" 2>/dev/null || echo 0; }
free_port() { "$VSCOPE" bench free-port 2>/dev/null; }
fail() {
	echo "forward.sh: $*" >&2
	local f
	for f in "$tmp"/*.err; do
		[[ -s $f ]] && { echo "--- $f" >&2; grep -v 'PSI metrics' "$f" | tail -20 >&2 || true; }
	done
	exit 1
}
wait_port() {
	local i
	for ((i = 0; i < 500; i++)); do
		kill -0 "$2" 2>/dev/null || fail "server on port $1 exited"
		(exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return 0
		sleep 0.02
	done
	fail "nothing listens on port $1 after 10 s"
}
stop_proc() {
	kill "$1" 2>/dev/null || true
	wait "$1" 2>/dev/null || true
}
# vscope_drained PORT: the collector sink's EventDrainSuccessCount.
vscope_drained() {
	curl -s -m 1 "http://127.0.0.1:$1/metrics.json" | tr -d ' \n' |
		grep -o '"SINK.k1":{[^}]*}' | grep -o '"EventDrainSuccessCount":"[0-9]*"' | grep -o '[0-9]*' || echo 0
}
# benthos_sent PORT: output_sent of a Benthos process (json_api metrics).
benthos_sent() {
	curl -s -m 1 "http://127.0.0.1:$1/metrics" | grep -o '"output_sent{[^}]*}":[0-9]*' | grep -o '[0-9]*$' || echo 0
}
# wait_count FN PORT PID...: poll until FN PORT reaches EVENTS; sets SECS
# from T0 and CPU of the given processes (sampled at the end).
wait_count() {
	local fn=$1 port=$2 n
	shift 2
	local deadline=$(($(date +%s) + 600))
	while :; do
		n=$($fn "$port")
		[[ ${n:-0} -ge $EVENTS ]] && break
		(($(date +%s) < deadline)) || fail "only ${n:-0} of $EVENTS events arrived in 10 minutes"
		sleep 0.01
	done
	local t1 p
	t1=$(now_ns)
	SECS=$(awk -v a="$T0" -v b="$t1" 'BEGIN {printf "%.3f", (b-a)/1e9}')
	CPU=0
	for p in "$@"; do
		CPU=$(awk -v a="$CPU" -v b="$(cpu_secs "$p")" 'BEGIN {printf "%.2f", a+b}')
	done
}
# Benthos generates a constant 1 KB body (cheaper than vscope's seq, which
# formats a zero-padded counter per event), so its generator costs little.
BODY_1K=$(printf '%01024d' 0)
export BODY_1K
eps() { awk -v n="$EVENTS" -v s="$1" 'BEGIN {printf "%.0f", n/s}'; }
mbs() { awk -v e="$1" -v b="$BODY" 'BEGIN {printf "%.1f", e*b/1e6}'; }
per_cpu() { awk -v n="$EVENTS" -v c="$1" 'BEGIN {printf "%.0f", (c > 0) ? n/c : 0}'; }

cat >"$tmp/collector.conf" <<'EOF'
c1.sources = r1
c1.channels = ch
c1.sinks = k1
c1.sources.r1.type = forward
c1.sources.r1.bind = 127.0.0.1
c1.sources.r1.port = ${FWD_PORT}
c1.sources.r1.batchSize = 1000
c1.sources.r1.channels = ch
c1.channels.ch.type = memory
c1.channels.ch.capacity = 100000
c1.channels.ch.transactionCapacity = 1000
c1.sinks.k1.type = null
c1.sinks.k1.batchSize = 1000
c1.sinks.k1.channel = ch
EOF
cat >"$tmp/agent.conf" <<'EOF'
a1.sources = r1
a1.channels = ch
a1.sinks = k1
a1.sources.r1.type = seq
a1.sources.r1.totalEvents = ${EVENTS}
a1.sources.r1.batchSize = 1000
a1.sources.r1.bodySize = 1024
a1.sources.r1.channels = ch
a1.channels.ch.type = memory
a1.channels.ch.capacity = 100000
a1.channels.ch.transactionCapacity = 1000
a1.sinks.k1.type = forward
a1.sinks.k1.channel = ch
a1.sinks.k1.hostname = 127.0.0.1
a1.sinks.k1.port = ${FWD_PORT}
a1.sinks.k1.batch-size = 1000
EOF
cat >"$tmp/bt-http-recv.yaml" <<'EOF'
http:
  enabled: true
  address: 127.0.0.1:${METRICS_PORT}
input:
  http_server:
    address: 127.0.0.1:${IN_PORT}
    path: /post
output:
  drop: {}
logger:
  level: NONE
metrics:
  json_api: {}
tracer:
  none: {}
EOF
cat >"$tmp/bt-http-send.yaml" <<'EOF'
http:
  enabled: false
input:
  generate:
    count: ${EVENTS}
    interval: ""
    batch_size: 1000
    mapping: 'root = "${BODY_1K}"'
output:
  http_client:
    url: http://127.0.0.1:${IN_PORT}/post
    verb: POST
    batch_as_multipart: true
    batching:
      count: 1000
logger:
  level: NONE
metrics:
  none: {}
tracer:
  none: {}
EOF
cat >"$tmp/bt-socket-recv.yaml" <<'EOF'
http:
  enabled: true
  address: 127.0.0.1:${METRICS_PORT}
input:
  socket_server:
    network: tcp
    address: 127.0.0.1:${IN_PORT}
    scanner:
      lines: {}
output:
  drop: {}
logger:
  level: NONE
metrics:
  json_api: {}
tracer:
  none: {}
EOF
cat >"$tmp/bt-socket-send.yaml" <<'EOF'
http:
  enabled: false
input:
  generate:
    count: ${EVENTS}
    interval: ""
    batch_size: 1000
    mapping: 'root = "${BODY_1K}"'
output:
  socket:
    network: tcp
    address: 127.0.0.1:${IN_PORT}
    codec: lines
logger:
  level: NONE
metrics:
  none: {}
tracer:
  none: {}
EOF

echo "== Machine =="
echo "cpus: $(nproc) x $(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -1)"
echo "memory: $(awk '/^MemTotal/ {printf "%.1f GB", $2/1e6}' /proc/meminfo); load average: $(cut -d' ' -f1-3 /proc/loadavg)"
echo "go: $($GO version 2>/dev/null || echo unknown)"
echo "vscope: $("$VSCOPE" version 2>/dev/null | head -1)"
echo "benthos: $($GO version -m "$BENTHOS" 2>/dev/null | awk '$1 == "mod" && $2 ~ /benthos/ {print $2, $3}')"
echo "date: $(date -u +%Y-%m-%dT%H:%M:%SZ)"
echo

run_vscope() {
	local r=$1 cpid apid mport
	export FWD_PORT EVENTS
	FWD_PORT=$(free_port)
	mport=$(free_port)
	"$VSCOPE" agent -f "$tmp/collector.conf" -n c1 --no-reload-conf --log-level error --http "127.0.0.1:$mport" \
		>"$tmp/vs-c-$r.out" 2>"$tmp/vs-c-$r.err" &
	cpid=$!
	pids+=("$cpid")
	wait_port "$FWD_PORT" "$cpid"
	wait_port "$mport" "$cpid"
	T0=$(now_ns)
	"$VSCOPE" agent -f "$tmp/agent.conf" -n a1 --no-reload-conf --log-level error >"$tmp/vs-a-$r.out" 2>"$tmp/vs-a-$r.err" &
	apid=$!
	pids+=("$apid")
	wait_count vscope_drained "$mport" "$apid" "$cpid"
	stop_proc "$apid"
	stop_proc "$cpid"
}
run_benthos() {
	local kind=$1 r=$2 rpid spid
	export IN_PORT METRICS_PORT EVENTS
	IN_PORT=$(free_port)
	METRICS_PORT=$(free_port)
	"$BENTHOS" -c "$tmp/bt-$kind-recv.yaml" >"$tmp/bt-$kind-r-$r.out" 2>"$tmp/bt-$kind-r-$r.err" &
	rpid=$!
	pids+=("$rpid")
	wait_port "$IN_PORT" "$rpid"
	wait_port "$METRICS_PORT" "$rpid"
	T0=$(now_ns)
	"$BENTHOS" -c "$tmp/bt-$kind-send.yaml" >"$tmp/bt-$kind-s-$r.out" 2>"$tmp/bt-$kind-s-$r.err" &
	spid=$!
	pids+=("$spid")
	wait_count benthos_sent "$METRICS_PORT" "$spid" "$rpid"
	stop_proc "$spid"
	stop_proc "$rpid"
}

declare -a v_eps v_cpu h_eps h_cpu s_eps s_cpu
echo "== Agent -> collector, two processes: $EVENTS events of $BODY bytes, batches of $BATCH =="
for ((r = 1; r <= RUNS; r++)); do
	run_vscope "$r"
	v_eps+=("$(eps "$SECS")")
	v_cpu+=("$(per_cpu "$CPU")")
	printf '  run %d vscope forward        : %7.3f s %9s events/s %7s MB/s  CPU %6.2f s\n' "$r" "$SECS" "$(eps "$SECS")" "$(mbs "$(eps "$SECS")")" "$CPU"
	run_benthos http "$r"
	h_eps+=("$(eps "$SECS")")
	h_cpu+=("$(per_cpu "$CPU")")
	printf '  run %d benthos http (acked)  : %7.3f s %9s events/s %7s MB/s  CPU %6.2f s\n' "$r" "$SECS" "$(eps "$SECS")" "$(mbs "$(eps "$SECS")")" "$CPU"
	run_benthos socket "$r"
	s_eps+=("$(eps "$SECS")")
	s_cpu+=("$(per_cpu "$CPU")")
	printf '  run %d benthos socket (no ack): %6.3f s %9s events/s %7s MB/s  CPU %6.2f s\n' "$r" "$SECS" "$(eps "$SECS")" "$(mbs "$(eps "$SECS")")" "$CPU"
done
echo

echo "== Go benchmarks (count $COUNT) =="
gobench="$tmp/gobench.txt"
(cd "$root" && $GO test -run '^$' -bench '^BenchmarkForwardLatency$' -benchtime 1x -count "$COUNT" ./agent/forward/ &&
	$GO test -run '^$' -bench '^BenchmarkForwardThroughput$' -benchtime 300000x -count "$COUNT" ./agent/forward/ &&
	$GO test -run '^$' -bench '^BenchmarkJetStream$' -benchtime 100x -count "$COUNT" ./agent/jetstream/) 2>&1 |
	grep -E '^(Benchmark|ok|FAIL|---)' | tee "$gobench"
# gomed NAME UNIT: the median of UNIT over the runs of benchmark NAME.
gomed() {
	median $(awk -v n="$1" -v u="$2" '$1 ~ "^"n"(-[0-9]+)?$" {for (i = 3; i < NF; i++) if ($(i+1) == u) print $i}' "$gobench")
}
echo

ratio() { awk -v a="$1" -v b="$2" 'BEGIN {printf "%.2f", (b > 0) ? a/b : 0}'; }
vm=$(median "${v_eps[@]}") hm=$(median "${h_eps[@]}") sm=$(median "${s_eps[@]}")
vc=$(median "${v_cpu[@]}") hc=$(median "${h_cpu[@]}") sc=$(median "${s_cpu[@]}")
echo "== Summary: medians, $BODY-byte events =="
fmt='%-52s %10s %8s %13s %9s\n'
printf "$fmt" "flow (two processes, loopback)" events/s MB/s events/CPU-s "vs vscope"
printf "$fmt" "vscope seq->memory->forward => forward->memory->null" "$vm" "$(mbs "$vm")" "$vc" ""
printf "$fmt" "benthos generate->http_client => http_server->drop" "$hm" "$(mbs "$hm")" "$hc" "$(ratio "$vm" "$hm")x"
printf "$fmt" "benthos generate->socket => socket_server->drop" "$sm" "$(mbs "$sm")" "$sc" "$(ratio "$vm" "$sm")x"
echo
for rate in 10000 50000; do
	n="BenchmarkForwardLatency/rate=$rate"
	echo "latency put (agent channel) -> commit (collector channel), ${rate} events/s offered: p50 $(gomed "$n" p50_us) us, p99 $(gomed "$n" p99_us) us, max $(gomed "$n" max_us) us"
done
for c in none snappy; do
	n="BenchmarkForwardThroughput/codec=$c"
	echo "one hop in one process, codec $c: $(gomed "$n" events/s) events/s, $(gomed "$n" MB/s) MB/s"
done
echo
printf '%-44s %10s %8s\n' "JetStream, batches of 1000 x 1 KB" events/s MB/s
for b in raw_publish channel_put raw_publish_ack channel_put_take; do
	printf '%-44s %10s %8s\n' "$b" "$(gomed "BenchmarkJetStream/$b" events/s)" "$(gomed "BenchmarkJetStream/$b" MB/s)"
done
echo "channel_put / raw_publish: $(ratio "$(gomed BenchmarkJetStream/channel_put events/s)" "$(gomed BenchmarkJetStream/raw_publish events/s)")x;" \
	"channel_put_take / raw_publish_ack: $(ratio "$(gomed BenchmarkJetStream/channel_put_take events/s)" "$(gomed BenchmarkJetStream/raw_publish_ack events/s)")x"
echo
verdict() { awk -v v="$1" -v t="$2" 'BEGIN {print (v >= t) ? "met" : "MISSED"}'; }
hr=$(ratio "$vm" "$hm")
echo "target: forward >= 1.5x Benthos (acknowledged http hop): $(verdict "$hr" 1.5) (${hr}x); vs Benthos socket (unacknowledged): $(ratio "$vm" "$sm")x"
