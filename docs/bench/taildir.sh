#!/usr/bin/env bash
# docs/bench/taildir.sh: TAILDIR -> memory -> file_roll next to Benthos
# reading the same file (file input, scanner lines), in one run.
# Results and method: docs/bench/taildir.md.
#
# The input is a file of LINES lines of 200 bytes (199 + newline; default
# 5 000 000 lines = 1 GB), generated under a temporary directory that is
# deleted at the end. Before every run the file is read once, so each tool
# reads it from the page cache.
#
#   vscope : `vscope agent` on a TAILDIR -> memory -> file_roll flow; the
#            wall time from exec until the output directory holds all the
#            bytes (polled every 20 ms), the agent's CPU time (user +
#            system) and peak RSS (VmHWM) at that moment.
#   benthos: `benthos -c` with the file input (scanner: lines), once into
#            the file output (codec: lines), the same work, and once into
#            drop; Benthos exits at the end of the file: the wall time from
#            exec to exit, CPU and peak RSS from /usr/bin/time.
#
# Runs alternate between the tools, RUNS times each; the median is
# reported. Environment: VSCOPE, BENTHOS (binaries), RUNS (1), LINES
# (5000000), BATCH (1000, the TAILDIR and sink batch), BENTHOS_OUTPUTS
# ("file drop").
set -euo pipefail

VSCOPE=${VSCOPE:-build/vscope}
BENTHOS=${BENTHOS:-build/benthos}
RUNS=${RUNS:-1}
LINES=${LINES:-5000000}
BATCH=${BATCH:-1000}
BENTHOS_OUTPUTS=${BENTHOS_OUTPUTS:-file drop}
LINE_BYTES=200

for bin in "$VSCOPE" "$BENTHOS" /usr/bin/time; do
	[[ -x $bin ]] || { echo "taildir.sh: $bin is missing (make build build/benthos)" >&2; exit 1; }
done

tmp=$(mktemp -d "${TMPDIR:-/tmp}/vscope-taildir-bench.XXXXXX")
pids=()
cleanup() {
	local p
	for p in "${pids[@]}"; do
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
median() { printf '%s\n' "$@" | sort -g | awk '{v[NR]=$1} END {print (NR%2) ? v[(NR+1)/2] : (v[NR/2]+v[NR/2+1])/2}'; }
secs() { awk -v a="$1" -v b="$2" 'BEGIN {printf "%.3f", (b-a)/1e9}'; }
rate() { awk -v n="$1" -v s="$2" 'BEGIN {printf "%.0f", n/s}'; }
mbps() { awk -v n="$1" -v s="$2" -v b="$LINE_BYTES" 'BEGIN {printf "%.1f", n*b/1e6/s}'; }
fail() {
	echo "taildir.sh: $*" >&2
	local f
	for f in "$tmp"/*.err; do
		[[ -s $f ]] && { echo "--- $f" >&2; grep -v 'PSI metrics' "$f" | tail -20 >&2 || true; }
	done
	exit 1
}
# bytes_in DIR: total size of the files in DIR.
bytes_in() { find "$1" -type f -printf '%s\n' 2>/dev/null | awk '{t+=$1} END {printf "%d", t}'; }

want=$((LINES * LINE_BYTES))
in="$tmp/in/app.log"
mkdir -p "$tmp/in"

echo "== Machine =="
echo "cpus: $(nproc) x $(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -1)"
echo "memory: $(awk '/^MemTotal/ {printf "%.1f GB", $2/1e6}' /proc/meminfo); load average: $(cut -d' ' -f1-3 /proc/loadavg)"
echo "disk: $tmp on $(findmnt -no SOURCE,FSTYPE -T "$tmp" 2>/dev/null || echo '?')"
echo "vscope: $("$VSCOPE" version 2>/dev/null)"
echo "benthos: $(go version -m "$BENTHOS" 2>/dev/null | awk '$1 == "mod" && $2 ~ /benthos/ {print $2, $3}')"
echo "date: $(date -u +%Y-%m-%dT%H:%M:%SZ)"
echo

echo "== Input: $LINES lines of $LINE_BYTES bytes ($(awk -v b="$want" 'BEGIN {printf "%.2f GB", b/1e9}')) =="
t0=$(now_ns)
# Log-like lines: a timestamp, a host, a request with the line number,
# padding to 199 characters.
awk -v n="$LINES" 'BEGIN {
	pad = sprintf("%0143d", 0); gsub(/0/, "x", pad)
	for (i = 0; i < n; i++)
		printf "2024-05-01T12:%02d:%02d.%03dZ web-%02d GET /item/%09d 200 %s\n", int(i/60000)%60, int(i/1000)%60, i%1000, i%32, i, pad
}' >"$in"
[[ $(stat -c %s "$in") == "$want" ]] || fail "generated $(stat -c %s "$in") bytes, want $want"
echo "generated in $(secs "$t0" "$(now_ns)") s"
echo

cat >"$tmp/taildir.conf" <<EOF
a1.sources = r1
a1.channels = c1
a1.sinks = k1
a1.sources.r1.type = TAILDIR
a1.sources.r1.channels = c1
a1.sources.r1.positionFile = \${BENCH_DIR}/taildir_position.json
a1.sources.r1.filegroups = f1
a1.sources.r1.filegroups.f1 = $in
a1.sources.r1.batchSize = $BATCH
a1.channels.c1.type = memory
a1.channels.c1.capacity = $((BATCH * 100))
a1.channels.c1.transactionCapacity = $BATCH
a1.sinks.k1.type = file_roll
a1.sinks.k1.channel = c1
a1.sinks.k1.sink.directory = \${BENCH_DIR}/out
a1.sinks.k1.sink.rollInterval = 0
a1.sinks.k1.sink.batchSize = $BATCH
EOF

benthos_conf() { # OUTPUT DIR
	local out
	if [[ $1 == file ]]; then
		out=$'  file:\n    path: '"$2"$'/out.txt\n    codec: lines'
	else
		out=$'  drop: {}'
	fi
	cat <<EOF
http:
  enabled: false
input:
  file:
    paths: [ $in ]
    scanner:
      lines: {}
output:
$out
logger:
  level: WARN
EOF
}

declare -a vs_lps vs_cpu vs_rss
declare -A bt_lps bt_cpu bt_rss
for ((r = 1; r <= RUNS; r++)); do
	# vscope
	cat "$in" >/dev/null
	export BENCH_DIR="$tmp/vscope-$r"
	mkdir -p "$BENCH_DIR/out"
	t0=$(now_ns)
	"$VSCOPE" agent -f "$tmp/taildir.conf" -n a1 --no-reload-conf --log-level error >"$tmp/vscope-$r.out" 2>"$tmp/vscope-$r.err" &
	pid=$!
	pids+=("$pid")
	while (($(bytes_in "$BENCH_DIR/out") < want)); do
		kill -0 "$pid" 2>/dev/null || fail "vscope exited"
		(($(now_ns) - t0 < 600000000000)) || fail "vscope did not finish in 10 minutes"
		sleep 0.02
	done
	t1=$(now_ns)
	cpu=$(awk -v hz="$(getconf CLK_TCK)" '{printf "%.2f", ($14+$15)/hz}' "/proc/$pid/stat")
	rss=$(awk '/^VmHWM:/ {printf "%.1f", $2*1024/1e6}' "/proc/$pid/status")
	kill "$pid"
	wait "$pid" || fail "vscope did not stop cleanly"
	got=$(bytes_in "$BENCH_DIR/out")
	[[ $got == "$want" ]] || fail "vscope wrote $got bytes, want $want"
	s=$(secs "$t0" "$t1")
	vs_lps+=("$(rate "$LINES" "$s")")
	vs_cpu+=("$cpu")
	vs_rss+=("$rss")
	printf '  run %d vscope  TAILDIR->memory->file_roll: %8.3f s %10s lines/s %7s MB/s  CPU %6.2f s  peak RSS %6s MB\n' \
		"$r" "$s" "$(rate "$LINES" "$s")" "$(mbps "$LINES" "$s")" "$cpu" "$rss"
	rm -rf "$BENCH_DIR"

	# Benthos
	for o in $BENTHOS_OUTPUTS; do
		cat "$in" >/dev/null
		d="$tmp/benthos-$o-$r"
		mkdir -p "$d"
		benthos_conf "$o" "$d" >"$tmp/benthos-$o.yaml"
		t0=$(now_ns)
		/usr/bin/time -f '%M %U %S' -o "$tmp/benthos-$o-$r.time" "$BENTHOS" -c "$tmp/benthos-$o.yaml" \
			>"$tmp/benthos-$o-$r.out" 2>"$tmp/benthos-$o-$r.err" &
		pid=$!
		pids+=("$pid")
		wait "$pid" || fail "benthos ($o) failed"
		t1=$(now_ns)
		if [[ $o == file ]]; then
			got=$(bytes_in "$d")
			[[ $got == "$want" ]] || fail "benthos wrote $got bytes, want $want"
		fi
		s=$(secs "$t0" "$t1")
		cpu=$(awk 'NF == 3 && $1 ~ /^[0-9]+$/ {printf "%.2f", $2+$3}' "$tmp/benthos-$o-$r.time")
		rss=$(awk 'NF == 3 && $1 ~ /^[0-9]+$/ {printf "%.1f", $1*1024/1e6}' "$tmp/benthos-$o-$r.time")
		bt_lps[$o]+="$(rate "$LINES" "$s") "
		bt_cpu[$o]+="$cpu "
		bt_rss[$o]+="$rss "
		printf '  run %d benthos file->%-4s                : %8.3f s %10s lines/s %7s MB/s  CPU %6.2f s  peak RSS %6s MB\n' \
			"$r" "$o" "$s" "$(rate "$LINES" "$s")" "$(mbps "$LINES" "$s")" "$cpu" "$rss"
		rm -rf "$d"
	done
done
echo

v=$(median "${vs_lps[@]}")
echo "== TAILDIR summary (median of $RUNS) =="
printf '| flow | lines/s | MB/s | CPU s | peak RSS MB | vscope / this |\n|---|---|---|---|---|---|\n'
printf '| vscope TAILDIR -> memory -> file_roll | %s | %s | %s | %s | 1.00 |\n' \
	"$v" "$(awk -v l="$v" -v b="$LINE_BYTES" 'BEGIN {printf "%.1f", l*b/1e6}')" "$(median "${vs_cpu[@]}")" "$(median "${vs_rss[@]}")"
for o in $BENTHOS_OUTPUTS; do
	# shellcheck disable=SC2086
	b=$(median ${bt_lps[$o]})
	# shellcheck disable=SC2086
	printf '| benthos file (scanner lines) -> %s | %s | %s | %s | %s | %s |\n' "$o" "$b" \
		"$(awk -v l="$b" -v bb="$LINE_BYTES" 'BEGIN {printf "%.1f", l*bb/1e6}')" "$(median ${bt_cpu[$o]})" "$(median ${bt_rss[$o]})" \
		"$(awk -v a="$v" -v b="$b" 'BEGIN {printf "%.2f", a/b}')"
done
