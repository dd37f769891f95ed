#!/usr/bin/env bash
# docs/bench/diagnose.sh: `vscope diagnose` end to end, from a DuckDB store.
#
# For each series count (SERIES, default "1000 10000"; add 100000 for the
# large case: about 450 M points, 4 GB and several minutes of generation),
# a store is generated once (cached under OUT) with `vscope diagnose gen`:
# 70 minutes at 1 s of agents' flow metrics (20 per agent, sampler names)
# plus host metrics (6 per host of 5 agents), agent 0's sink slowing down
# 400 s before the end. Then `vscope diagnose --window 10m --baseline 1h
# --step 1s --format json` runs RUNS times (default 5) as a fresh process
# each time, under /usr/bin/time: wall time, peak RSS, user + system CPU.
# The JSON's timing_ms splits the run into stages (load = reading the
# window and the baseline slices from DuckDB, clean, fit, score, rank,
# explain), wall and CPU. Reported: the median run by wall time, and the
# fastest (on a shared machine the best run is the closest to an idle
# one; CPU time is the steadier figure).
#
# The binary is built with -tags duckdb_arrow (the Arrow read path of the
# store; without it reads are several times slower, see store.md).
# Environment: GO (go), BUILD (build), OUT (BUILD/diagnose-bench), SERIES,
# RUNS, and EXTRA (more diagnose flags, e.g. "--baseline-rows -1" for the
# whole baseline).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.."

GO=${GO:-go}
BUILD=${BUILD:-build}
OUT=${OUT:-$BUILD/diagnose-bench}
SERIES=${SERIES:-1000 10000}
RUNS=${RUNS:-5}
EXTRA=${EXTRA:-}
END=2026-01-01T12:00:00Z

mkdir -p "$OUT"
BIN="$OUT/vscope-arrow"
"$GO" build -tags duckdb_arrow -o "$BIN" ./cmd/vscope
command -v jq >/dev/null || { echo "diagnose.sh: needs jq" >&2; exit 1; }
[ -x /usr/bin/time ] || { echo "diagnose.sh: needs /usr/bin/time (Debian package time)" >&2; exit 1; }

echo "machine: $(nproc) CPUs, $(awk '/MemTotal/ {printf "%.0f GiB", $2/1048576}' /proc/meminfo), load $(cut -d' ' -f1-3 /proc/loadavg), $(uname -sr)"
echo "commit: $(git describe --always --dirty 2>/dev/null || echo unknown)"
printf '%-8s %-9s %-9s %-9s %-9s %-10s %s\n' series metrics baseline wall cpu peak_rss "stages, wall ms (cpu ms)"
for n in $SERIES; do
	db="$OUT/store-$n.duckdb"
	if [ ! -f "$db" ]; then
		"$BIN" --log-level warn diagnose gen --store "$db" --series "$n" --end "$END" >&2
	fi
	runs=()
	for r in $(seq "$RUNS"); do
		json="$OUT/run-$n-$r.json"
		# shellcheck disable=SC2086
		/usr/bin/time -f '%e %M %U %S' -o "$OUT/time-$n-$r" "$BIN" --log-level warn diagnose --store "$db" \
			--at "$END" --window 10m --baseline 1h --step 1s --format json $EXTRA >"$json"
		read -r wall rss user sys <"$OUT/time-$n-$r"
		runs+=("$wall $rss $user $sys $json")
	done
	# The median run by wall time.
	mapfile -t sorted < <(printf '%s\n' "${runs[@]}" | sort -n -k1,1)
	read -r wall rss user sys json <<<"${sorted[$(((${#sorted[@]} - 1) / 2))]}"
	all=$(printf '%s\n' "${sorted[@]}" | awk '{printf "%s%s", sep, $1; sep=", "}')
	cpus=$(printf '%s\n' "${sorted[@]}" | awk '{printf "%s%.2f", sep, $3 + $4; sep=", "}')
	stages=$(jq -r '.timing_ms as $t | ["load","clean","fit","score","rank","explain"]
		| map("\(.) \($t[.] // 0 | round) (\($t[. + "_cpu"] // 0 | round))") | join(", ")' "$json")
	printf '%-8s %-9s %-9s %-9s %-9s %-10s %s\n' "$n" "$(jq .window.metrics "$json")" \
		"$(jq -r '"\(.baseline.used_rows)/\(.baseline.rows)"' "$json")" "${wall}s" \
		"$(awk -v u="$user" -v s="$sys" 'BEGIN {printf "%.2fs", u + s}')" "$((rss / 1024))MiB" "$stages"
	echo "         runs, wall s (sorted): $all; their cpu s: $cpus; status $(jq -r .status "$json"); rank 1: $(jq -r '.ranking[0] | "\(.agent)/\(.component) \(.metric)"' "$json")"
done
