#!/usr/bin/env bash
# docs/bench/diagnose.sh: `vscope diagnose` end to end, from a DuckDB store.
#
# For each series count (SERIES, default "1000 10000"; add 100000 for the
# large case: about 450 M points, 3-4 GB and several minutes of generation),
# a store is generated once (cached under OUT) with `vscope diagnose gen`:
# 70 minutes at 1 s of agents' flow metrics (20 per agent, sampler names)
# plus host metrics (6 per host of 5 agents), agent 0's sink slowing down
# 400 s before the end. Then `vscope diagnose --window 10m --baseline 1h
# --step 1s --format json` runs RUNS times (default 5) as a fresh process
# each time, under /usr/bin/time: wall time, peak RSS, user + system CPU.
# The JSON's timing_ms splits the run into stages (load = reading the
# window and the baseline slices from DuckDB, clean, fit, score, rank,
# explain, report = the report's extra reads), wall and CPU. Reported: the
# median run by wall time, and every run's wall and CPU (on a shared
# machine the fastest run is the closest to an idle one; CPU time is the
# steadier figure).
#
# start: the fixed cost of a process on the same store, `vscope diagnose`
# of an empty 1 s window without a baseline (process start, package init,
# opening the DuckDB file and loading its series dictionary, JSON out).
#
# OLD=path/to/an/older/vscope runs that binary too, alternating with this
# one run by run, so that before and after share the machine's load; every
# run's result must match this one's (same JSON but timing_ms). Build it
# from a worktree, e.g.
#   git worktree add /tmp/old COMMIT && (cd /tmp/old && go build -tags duckdb_arrow -o /tmp/vscope-old ./cmd/vscope)
#
# The binary is built with -tags duckdb_arrow (the Arrow read path of the
# store; without it reads are several times slower, see store.md).
# At the end, unless PCA=0, the PCA fit next to scikit-learn's on the same
# shape of baseline (docs/bench/asd-eval.sh pca) runs in the same session.
# Environment: GO (go), BUILD (build), OUT (BUILD/diagnose-bench), SERIES,
# RUNS, OLD, THIS (a built binary to measure instead of building this
# tree), PCA, and EXTRA (more diagnose flags, e.g. "--baseline-rows -1" for
# the whole baseline).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.."

GO=${GO:-go}
BUILD=${BUILD:-build}
OUT=${OUT:-$BUILD/diagnose-bench}
SERIES=${SERIES:-1000 10000}
RUNS=${RUNS:-5}
EXTRA=${EXTRA:-}
OLD=${OLD:-}
PCA=${PCA:-1}
END=2026-01-01T12:00:00Z

mkdir -p "$OUT"
BIN=${THIS:-}
if [ -z "$BIN" ]; then
	BIN="$OUT/vscope-arrow"
	"$GO" build -tags duckdb_arrow -o "$BIN" ./cmd/vscope
fi
command -v jq >/dev/null || { echo "diagnose.sh: needs jq" >&2; exit 1; }
[ -x /usr/bin/time ] || { echo "diagnose.sh: needs /usr/bin/time (Debian package time)" >&2; exit 1; }
bins=("$BIN")
names=(this)
if [ -n "$OLD" ]; then
	[ -x "$OLD" ] || { echo "diagnose.sh: OLD=$OLD is not an executable" >&2; exit 1; }
	bins=("$OLD" "$BIN")
	names=(old this)
fi

echo "machine: $(nproc) CPUs, $(awk '/MemTotal/ {printf "%.0f GiB", $2/1048576}' /proc/meminfo), load $(cut -d' ' -f1-3 /proc/loadavg), $(uname -sr)"
echo "commit: $(git describe --always --dirty 2>/dev/null || echo unknown)${THIS:+ (measured: $THIS)}${OLD:+; old: $OLD}"
printf '%-8s %-5s %-9s %-9s %-9s %-9s %-10s %s\n' series bin metrics baseline wall cpu peak_rss "stages, wall ms (cpu ms)"
for n in $SERIES; do
	db="$OUT/store-$n.duckdb"
	if [ ! -f "$db" ]; then
		"$BIN" --log-level warn diagnose gen --store "$db" --series "$n" --end "$END" >&2
	fi
	declare -A runs=() starts=()
	for r in $(seq "$RUNS"); do
		for b in "${!bins[@]}"; do
			name=${names[$b]}
			json="$OUT/run-$n-$name-$r.json"
			# shellcheck disable=SC2086
			/usr/bin/time -f '%e %M %U %S' -o "$OUT/time-$n-$name-$r" "${bins[$b]}" --log-level warn diagnose --store "$db" \
				--at "$END" --window 10m --baseline 1h --step 1s --format json $EXTRA >"$json"
			read -r wall rss user sys <"$OUT/time-$n-$name-$r"
			runs[$name]+="$wall $rss $user $sys $json"$'\n'
			/usr/bin/time -f '%e %U %S' -o "$OUT/start-$n-$name-$r" "${bins[$b]}" --log-level warn diagnose --store "$db" \
				--at 2000-01-01T00:00:00Z --window 1s --baseline 0s --format json >/dev/null
			starts[$name]+="$(cat "$OUT/start-$n-$name-$r")"$'\n'
		done
		if [ -n "$OLD" ] && ! cmp -s <(jq -S 'del(.timing_ms)' "$OUT/run-$n-old-$r.json") <(jq -S 'del(.timing_ms)' "$OUT/run-$n-this-$r.json"); then
			echo "diagnose.sh: run $r at $n series: the old and this binary's results differ" >&2
			exit 1
		fi
	done
	for name in "${names[@]}"; do
		# The median run by wall time.
		mapfile -t sorted < <(printf '%s' "${runs[$name]}" | sort -n -k1,1)
		read -r wall rss user sys json <<<"${sorted[$(((${#sorted[@]} - 1) / 2))]}"
		all=$(printf '%s\n' "${sorted[@]}" | awk '{printf "%s%s", sep, $1; sep=", "}')
		cpus=$(printf '%s\n' "${sorted[@]}" | awk '{printf "%s%.2f", sep, $3 + $4; sep=", "}')
		start=$(printf '%s' "${starts[$name]}" | sort -n -k1,1 | awk '{w[NR]=$1; c[NR]=$2+$3} END {printf "%.2fs wall, %.2fs cpu (median of %d)", w[int((NR+1)/2)], c[int((NR+1)/2)], NR}')
		stages=$(jq -r '.timing_ms as $t | ["load","clean","fit","score","rank","explain","report_data"]
			| map("\(. | sub("_data"; "")) \($t[.] // 0 | round)\(if $t[. + "_cpu"] then " (\($t[. + "_cpu"] | round))" else "" end)") | join(", ")' "$json")
		printf '%-8s %-5s %-9s %-9s %-9s %-9s %-10s %s\n' "$n" "$name" "$(jq .window.metrics "$json")" \
			"$(jq -r '"\(.baseline.used_rows)/\(.baseline.rows)"' "$json")" "${wall}s" \
			"$(awk -v u="$user" -v s="$sys" 'BEGIN {printf "%.2fs", u + s}')" "$((rss / 1024))MiB" "$stages"
		echo "               runs, wall s (sorted): $all; their cpu s: $cpus; start: $start; status $(jq -r .status "$json"); rank 1: $(jq -r '.ranking[0] | "\(.agent)/\(.component) \(.metric)"' "$json")"
	done
	unset runs starts
done
if [ "$PCA" != 0 ]; then
	echo
	echo "PCA fit next to scikit-learn (docs/bench/asd-eval.sh pca):"
	GO="$GO" ./docs/bench/asd-eval.sh pca
fi
