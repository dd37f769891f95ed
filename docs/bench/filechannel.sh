#!/usr/bin/env bash
# docs/bench/filechannel.sh: the durable file channel next to the physical
# limit of the same disk, measured in the same run, and its restart replay
# time. Results and method: docs/bench/filechannel.md.
#
#   1. BenchmarkFileChannelPut: durable puts (each returns after its fsync)
#      of 100-event batches of 256 B and 4 KB events from 1, 4 and 16
#      concurrent committers, alternating in 100 ms slices (ABBA blocks)
#      with a raw loop that appends the same bytes and fdatasyncs, all
#      committers' batches in one write per fsync (perfect grouping).
#   2. BenchmarkWALReplay: Open of a queue of 1 000 000 events of 256 B after a
#      clean stop (checkpointed), after a kill with all of it in the log
#      tail (after-crash), and the same from a cold page cache.
#
# Environment: GO (go), COUNT (1: runs of each benchmark, for benchstat),
# VSCOPE_BENCH_DIR (the directory, hence the disk, to measure; default
# $TMPDIR), VSCOPE_BENCH_DROP_CACHES (1: the cold replay drops the page
# cache, machine-wide, needs root; 0 skips it).
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/../.."
GO=${GO:-go}
COUNT=${COUNT:-1}
export VSCOPE_BENCH_DROP_CACHES=${VSCOPE_BENCH_DROP_CACHES:-1}
dir=${VSCOPE_BENCH_DIR:-${TMPDIR:-/tmp}}

src=$(findmnt -no SOURCE -T "$dir" 2>/dev/null || echo "?")
echo "# file channel benchmark, $(date -u +%Y-%m-%dT%H:%MZ), $(git rev-parse --short HEAD 2>/dev/null || echo '?')"
echo "# machine: $(nproc) CPUs, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//'), $(free -g | awk '/Mem:/{print $2}') GB RAM"
echo "# disk: $dir on $src ($(findmnt -no FSTYPE,OPTIONS -T "$dir" 2>/dev/null)), $(lsblk -dno ROTA,SIZE "$src" 2>/dev/null | awk '{print ($1==1?"rotational":"non-rotational"), $2}')"

out=$(mktemp "${TMPDIR:-/tmp}/filechannel-bench.XXXXXX")
trap 'rm -f "$out"' EXIT
$GO test -run '^$' -bench '^Benchmark(FileChannelPut|WALReplay)$' -benchtime 1x -count "$COUNT" \
	./agent/channel/ ./agent/channel/wal/ | grep -v '^20[0-9][0-9]/' | tee "$out"

# metric value pairs after the iterations column, by name
echo
echo "| event | committers | durable events/s | MB/s | raw limit events/s | raw MB/s | ratio (sum) | ratio (median of blocks) | puts per fsync |"
echo "|---|---|---|---|---|---|---|---|---|"
awk '/^BenchmarkFileChannelPut/ {
	split($1, p, "/"); ev = p[2]; sub("event=", "", ev); c = p[3]; sub("committers=", "", c); sub("-[0-9]+$", "", c)
	delete m; for (i = 3; i < NF; i += 2) m[$(i+1)] = $i
	printf "| %s | %s | %.0f | %.1f | %.0f | %.1f | %.2f | %.2f | %.1f |\n", ev, c, m["events/s"], m["MB/s"], m["raw_events/s"], m["raw_MB/s"], m["ratio"], m["median_ratio"], m["puts/fsync"]
}' "$out"
echo
echo "| replay of 1 000 000 queued events (256 B) | ms | events/s |"
echo "|---|---|---|"
awk '/^BenchmarkWALReplay/ {
	split($1, p, "/"); name = p[2]; sub("-[0-9]+$", "", name)
	delete m; for (i = 3; i < NF; i += 2) m[$(i+1)] = $i
	printf "| %s | %.1f | %.0f |\n", name, m["ms/replay"], m["events/s"]
}' "$out"
