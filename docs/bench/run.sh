#!/usr/bin/env bash
# docs/bench/run.sh: vscope next to Benthos on the same machine, in one run.
#
#   1. seq -> memory -> null        vs  Benthos generate -> drop
#   2. netcat -> memory -> file_roll vs Benthos socket_server -> file
#
# Both tools run as separate OS processes and are measured the same way:
# flow 1 is the wall time of the process from exec to exit (it ends after
# N events) and its peak RSS from /usr/bin/time -f %M; flow 2 is the time
# from the first byte sent by `vscope bench send` until the output directory
# holds all N lines, and the server's peak RSS is VmHWM from /proc/PID/status.
# The CPU time (user + system) of the measured process is recorded too:
# events per CPU-second hardly depend on what else the machine runs, while
# events per wall-second do.
# Runs alternate between the tools, RUNS times each, and the median is
# reported. `make bench` calls this; see docs/BENCHMARKS.md.
#
# Environment: VSCOPE, BENTHOS (binaries), RUNS (3), PIPE_EVENTS (5000000),
# NET_EVENTS (1000000), BODY_SIZE (100), BATCH (1000).
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
VSCOPE=${VSCOPE:-build/vscope}
BENTHOS=${BENTHOS:-build/benthos}
RUNS=${RUNS:-3}
PIPE_EVENTS=${PIPE_EVENTS:-5000000}
NET_EVENTS=${NET_EVENTS:-1000000}
BODY_SIZE=${BODY_SIZE:-100}
BATCH=${BATCH:-1000}

for bin in "$VSCOPE" "$BENTHOS" /usr/bin/time; do
	[[ -x $bin ]] || { echo "run.sh: $bin is missing (make build build/benthos)" >&2; exit 1; }
done

tmp=$(mktemp -d "${TMPDIR:-/tmp}/vscope-bench.XXXXXX")
pids=()
cleanup() {
	local p
	for p in "${pids[@]}"; do
		# /usr/bin/time does not pass SIGTERM on: end what it runs too.
		pkill -TERM -P "$p" 2>/dev/null || true
		kill "$p" 2>/dev/null || true
	done
	for p in "${pids[@]}"; do
		wait "$p" 2>/dev/null || true
	done
	rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

now_ns() { date +%s%N; }
# kv LINE KEY: the value of KEY=value in a BENCH line.
kv() { sed -n "s/.* $2=\([^ ]*\).*/\1/p" <<<"$1"; }
# median of the numbers given as arguments.
median() { printf '%s\n' "$@" | sort -g | awk '{v[NR]=$1} END {print (NR%2) ? v[(NR+1)/2] : (v[NR/2]+v[NR/2+1])/2}'; }
fail() {
	echo "run.sh: $*" >&2
	local f
	for f in "$tmp"/*.err; do
		[[ -s $f ]] && { echo "--- $f" >&2; grep -v 'PSI metrics' "$f" >&2 || true; }
	done
	exit 1
}
# run_timed NAME CMD...: runs CMD in the background (so the trap can end
# it) under /usr/bin/time; sets SECS (wall), RSS_MB (peak RSS) and CPU
# (user + system seconds).
run_timed() {
	local name=$1
	shift
	local t0 t1 pid
	t0=$(now_ns)
	/usr/bin/time -f '%M %U %S' -o "$tmp/$name.time" "$@" >"$tmp/$name.out" 2>"$tmp/$name.err" &
	pid=$!
	pids+=("$pid")
	wait "$pid" || fail "$name failed"
	t1=$(now_ns)
	SECS=$(awk -v a="$t0" -v b="$t1" 'BEGIN {printf "%.6f", (b-a)/1e9}')
	RSS_MB=$(awk 'NF == 3 && $1 ~ /^[0-9]+$/ {v=$1} END {printf "%.1f", v*1024/1e6}' "$tmp/$name.time")
	CPU=$(awk 'NF == 3 && $1 ~ /^[0-9]+$/ {v=$2+$3} END {printf "%.2f", v}' "$tmp/$name.time")
}
# wait_port PORT PID: until something accepts on 127.0.0.1:PORT.
wait_port() {
	local i
	for ((i = 0; i < 500; i++)); do
		kill -0 "$2" 2>/dev/null || fail "server on port $1 exited"
		if (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; then
			return 0
		fi
		sleep 0.02
	done
	fail "nothing listens on port $1 after 10 s"
}
vmhwm_mb() { awk '/^VmHWM:/ {printf "%.1f", $2*1024/1e6}' "/proc/$1/status"; }
# cpu_secs PID: user + system CPU seconds of a running process.
cpu_secs() { awk -v hz="$(getconf CLK_TCK)" '{printf "%.2f", ($14+$15)/hz}' "/proc/$1/stat"; }
# per_cpu N CPU: events per CPU-second.
per_cpu() { awk -v n="$1" -v c="$2" 'BEGIN {printf "%.0f", (c > 0) ? n/c : 0}'; }
stop_server() {
	kill "$1" 2>/dev/null || true
	wait "$1" 2>/dev/null || true
}

echo "== Machine =="
echo "cpus: $(nproc) x $(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -1)"
echo "memory: $(awk '/^MemTotal/ {printf "%.1f GB", $2/1e6}' /proc/meminfo); load average: $(cut -d' ' -f1-3 /proc/loadavg)"
echo "go: $(go version 2>/dev/null || echo unknown)"
echo "vscope: $("$VSCOPE" version 2>/dev/null)"
echo "benthos: $(go version -m "$BENTHOS" 2>/dev/null | awk '$1 == "mod" && $2 ~ /benthos/ {print $2, $3}')"
echo "date: $(date -u +%Y-%m-%dT%H:%M:%SZ)"
echo "runs: $RUNS each, alternating; median reported"
echo

# --- flow 1: seq -> memory -> null vs generate -> drop ----------------------
body=$(printf "%0${BODY_SIZE}d" 0)
declare -a p_vs_eps p_vs_rss p_vs_cpu p_vs_allocs p_vs_inproc p_bt_eps p_bt_rss p_bt_cpu
echo "== Flow 1: $PIPE_EVENTS events of $BODY_SIZE bytes, batch $BATCH =="
for ((r = 1; r <= RUNS; r++)); do
	run_timed "pipe-vscope-$r" "$VSCOPE" bench pipeline --log-level error \
		--events "$PIPE_EVENTS" --body "$BODY_SIZE" --batch "$BATCH"
	line=$(grep '^BENCH ' "$tmp/pipe-vscope-$r.out") || fail "no BENCH line from vscope"
	[[ $(kv "$line" events) == "$PIPE_EVENTS" ]] || fail "vscope moved $(kv "$line" events) events, want $PIPE_EVENTS"
	eps=$(awk -v n="$PIPE_EVENTS" -v s="$SECS" 'BEGIN {printf "%.0f", n/s}')
	p_vs_eps+=("$eps")
	p_vs_rss+=("$RSS_MB")
	p_vs_cpu+=("$(per_cpu "$PIPE_EVENTS" "$CPU")")
	p_vs_allocs+=("$(kv "$line" allocs_per_event)")
	p_vs_inproc+=("$(kv "$line" events_per_s)")
	printf '  run %d vscope : %7.3f s  %10s events/s  CPU %6.2f s  peak RSS %6s MB  (in-process %s events/s, %s allocs/event)\n' \
		"$r" "$SECS" "$eps" "$CPU" "$RSS_MB" "$(kv "$line" events_per_s)" "$(kv "$line" allocs_per_event)"

	EVENTS=$PIPE_EVENTS BATCH=$BATCH BODY=$body \
		run_timed "pipe-benthos-$r" "$BENTHOS" -c "$here/benthos-generate-drop.yaml"
	eps=$(awk -v n="$PIPE_EVENTS" -v s="$SECS" 'BEGIN {printf "%.0f", n/s}')
	p_bt_eps+=("$eps")
	p_bt_rss+=("$RSS_MB")
	p_bt_cpu+=("$(per_cpu "$PIPE_EVENTS" "$CPU")")
	printf '  run %d benthos: %7.3f s  %10s events/s  CPU %6.2f s  peak RSS %6s MB\n' "$r" "$SECS" "$eps" "$CPU" "$RSS_MB"
done
echo

# --- flow 2: netcat -> memory -> file_roll vs socket_server -> file ---------
declare -a n_vs_eps n_vs_rss n_vs_cpu n_bt_eps n_bt_rss n_bt_cpu
# net_run NAME: starts the server described by the caller's cmd array,
# sends NET_EVENTS lines and waits for them in $BENCH_DIR; sets SECS, EPS,
# RSS_MB and CPU (the server's).
net_run() {
	local name=$1 pid spid line
	"${cmd[@]}" >"$tmp/$name.out" 2>"$tmp/$name.err" &
	pid=$!
	pids+=("$pid")
	wait_port "$BENCH_PORT" "$pid"
	# In the background, so that a signal to this script ends it at once.
	"$VSCOPE" bench send --log-level error --addr "127.0.0.1:$BENCH_PORT" --events "$NET_EVENTS" \
		--size "$BODY_SIZE" --wait-dir "$BENCH_DIR" --timeout 4m >"$tmp/$name.send" 2>>"$tmp/$name.err" &
	spid=$!
	pids+=("$spid")
	wait "$spid" || { stop_server "$pid"; fail "$name: send failed"; }
	line=$(grep '^BENCH ' "$tmp/$name.send") || { stop_server "$pid"; fail "$name: no BENCH line from send"; }
	RSS_MB=$(vmhwm_mb "$pid")
	CPU=$(cpu_secs "$pid")
	stop_server "$pid"
	EPS=$(kv "$line" events_per_s)
	SECS=$(kv "$line" seconds)
	[[ $(kv "$line" bytes_found) == $((NET_EVENTS * (BODY_SIZE + 1))) ]] || fail "$name: wrong byte count: $line"
}
echo "== Flow 2: $NET_EVENTS lines of $BODY_SIZE bytes over one TCP connection into files =="
for ((r = 1; r <= RUNS; r++)); do
	export BENCH_PORT BENCH_DIR
	BENCH_PORT=$("$VSCOPE" bench free-port 2>/dev/null)
	BENCH_DIR="$tmp/net-vscope-$r.d"
	mkdir -p "$BENCH_DIR"
	cmd=("$VSCOPE" agent -f "$here/netcat-roll.conf" -n a1 --no-reload-conf --log-level error)
	net_run "net-vscope-$r"
	n_vs_eps+=("$EPS")
	n_vs_rss+=("$RSS_MB")
	n_vs_cpu+=("$(per_cpu "$NET_EVENTS" "$CPU")")
	printf '  run %d vscope : %7.3f s  %10s events/s  CPU %6.2f s  peak RSS %6s MB\n' "$r" "$SECS" "$EPS" "$CPU" "$RSS_MB"
	rm -rf "$BENCH_DIR"

	BENCH_PORT=$("$VSCOPE" bench free-port 2>/dev/null)
	BENCH_DIR="$tmp/net-benthos-$r.d"
	mkdir -p "$BENCH_DIR"
	cmd=("$BENTHOS" -c "$here/benthos-socket-file.yaml")
	net_run "net-benthos-$r"
	n_bt_eps+=("$EPS")
	n_bt_rss+=("$RSS_MB")
	n_bt_cpu+=("$(per_cpu "$NET_EVENTS" "$CPU")")
	printf '  run %d benthos: %7.3f s  %10s events/s  CPU %6.2f s  peak RSS %6s MB\n' "$r" "$SECS" "$EPS" "$CPU" "$RSS_MB"
	rm -rf "$BENCH_DIR"
done
echo

# --- summary -----------------------------------------------------------------
mb() { awk -v e="$1" -v b="$BODY_SIZE" 'BEGIN {printf "%.1f", e*b/1e6}'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN {printf "%.2f", a/b}'; }
pv=$(median "${p_vs_eps[@]}") pb=$(median "${p_bt_eps[@]}")
nv=$(median "${n_vs_eps[@]}") nb=$(median "${n_bt_eps[@]}")
pr=$(ratio "$pv" "$pb") nr=$(ratio "$nv" "$nb")
pvc=$(median "${p_vs_cpu[@]}") pbc=$(median "${p_bt_cpu[@]}")
nvc=$(median "${n_vs_cpu[@]}") nbc=$(median "${n_bt_cpu[@]}")
echo "== Summary: median of $RUNS runs, $BODY_SIZE-byte events =="
fmt='%-30s %-8s %10s %8s %12s %11s %9s %13s %10s\n'
printf "$fmt" flow tool events/s MB/s allocs/event "peak RSS MB" ratio events/CPU-s "CPU ratio"
printf "$fmt" "seq -> memory -> null" vscope "$pv" "$(mb "$pv")" "$(median "${p_vs_allocs[@]}")" "$(median "${p_vs_rss[@]}")" "${pr}x" "$pvc" "$(ratio "$pvc" "$pbc")x"
printf "$fmt" "generate -> drop" benthos "$pb" "$(mb "$pb")" - "$(median "${p_bt_rss[@]}")" "" "$pbc" ""
printf "$fmt" "netcat -> memory -> file_roll" vscope "$nv" "$(mb "$nv")" - "$(median "${n_vs_rss[@]}")" "${nr}x" "$nvc" "$(ratio "$nvc" "$nbc")x"
printf "$fmt" "socket_server -> file" benthos "$nb" "$(mb "$nb")" - "$(median "${n_bt_rss[@]}")" "" "$nbc" ""
echo "(vscope in-process, from Apply to the last event drained: $(median "${p_vs_inproc[@]}") events/s)"
echo
verdict() { awk -v v="$1" -v t="$2" 'BEGIN {print (v >= t) ? "met" : "MISSED"}'; }
echo "targets: seq->null >= 3000000 events/s: $(verdict "$pv" 3000000) ($pv);" \
	">= 2x Benthos: $(verdict "$pr" 2) (${pr}x); netcat->file_roll >= 1.5x Benthos: $(verdict "$nr" 1.5) (${nr}x)"
