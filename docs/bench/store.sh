#!/usr/bin/env bash
# docs/bench/store.sh: the metric store next to VictoriaMetrics, in one run.
#
#   1. ingest: single writer, 1k and 100k series, POINTS points each, in
#      batches of BATCH points (whole samples; each size of BATCHES in turn:
#      1,000,000 a writer committing about a second's worth at these rates,
#      100,000 a small commit), into a fresh DuckDB file and a
#      fresh victoria-metrics single-node server (Debian package), RUNS runs
#      alternating, median reported; bytes per stored point after the data
#      is on disk (DuckDB: file size after CHECKPOINT; VictoriaMetrics: its
#      data directory after a SIGINT shutdown, which writes everything out);
#   2. window read: 10k series x 600 samples (one per second) read back as a
#      time x series matrix, median of 3 reads, from both.
#
# Samples look like the sampler's (counter rates at full precision, integer
# gauges, constants, percentages, histogram quantiles, byte counts, 1 s apart
# with ms jitter); see cmd/vscope/benchstore.go. Wall time and CPU time
# (user + system, for VictoriaMetrics its server's too) are both recorded:
# on a loaded machine the CPU figures are the stable ones.
#
# The binary is built with -tags duckdb_arrow (the Arrow ingest and read
# path). Environment: GO (go), BUILD (build), POINTS (5000000), BATCHES
# ("1000000 100000"), RUNS (3), OUT (BUILD/store-bench-BATCH.json).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.."

GO=${GO:-go}
BUILD=${BUILD:-build}
POINTS=${POINTS:-5000000}
BATCHES=${BATCHES:-1000000 100000}
RUNS=${RUNS:-3}

mkdir -p "$BUILD"
"$GO" build -tags duckdb_arrow -o "$BUILD/vscope-arrow" ./cmd/vscope

vm=()
if ! command -v victoria-metrics >/dev/null 2>&1; then
	echo "store.sh: victoria-metrics is not installed (apt-get install -y victoria-metrics): DuckDB only" >&2
	vm=(--no-vm)
fi

for batch in $BATCHES; do
	out=${OUT:-$BUILD/store-bench-$batch.json}
	echo "machine: $(nproc) CPUs, $(awk '/MemTotal/ {printf "%.0f GiB", $2/1048576}' /proc/meminfo), load $(cut -d' ' -f1-3 /proc/loadavg), $(uname -sr)"
	"$BUILD/vscope-arrow" --log-level warn store bench --series 1000,100000 --points "$POINTS" --batch "$batch" \
		--runs "$RUNS" --window-series 10000 --window-samples 600 --json "$out" "${vm[@]}"
	echo "results: $out"
done
