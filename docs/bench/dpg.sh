#!/bin/sh
# DPG planner figures for docs/bench/dpg.md: heuristic vs exact on random
# instances of up to 12 hosts, planning time at 10,000 hosts and 100,000
# components, and monitoring bytes with the chosen DPG vs every sample to
# one store at 1,000 hosts (the cost model's figures).
#
#   docs/bench/dpg.sh            # 200 random instances, benchmarks x5
#   LONG=1 docs/bench/dpg.sh     # 3,000 random instances
set -eu
cd "$(dirname "$0")/../.."
GO=${GO:-go}

echo "== heuristic vs exact (random instances, 3-12 hosts + the store)"
if [ "${LONG:-0}" = 1 ]; then export VSCOPE_TEST_LONG=1; fi
$GO test -count=1 -timeout 30m -run 'TestHeuristicNearExact$' -v ./dpg/planner/ | grep -E 'heuristic_test|^(ok|FAIL|---)'

echo "== 10,000 hosts, 100,000 components; 1,000 hosts: bytes"
$GO test -count=1 -run '^$' -bench 'BenchmarkPlan10k$|BenchmarkMonitoringBytes1000$' -benchmem -count 5 ./dpg/planner/ | grep -E '^Benchmark'

echo "== each option alone at 10,000 hosts"
$GO test -count=1 -run '^$' -bench 'BenchmarkPlanOption10k' -benchmem -benchtime 5x ./dpg/planner/ | grep -E '^Benchmark'

echo "== the options at 1,000 hosts"
VSCOPE=${VSCOPE:-build/vscope}
[ -x "$VSCOPE" ] || $GO build -o "$VSCOPE" ./cmd/vscope
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
"$VSCOPE" dpg synth --hosts 1000 > "$tmp/dc1000.json"
"$VSCOPE" dpg plan --topology "$tmp/dc1000.json" --log-level warn
