#!/bin/sh
# asd-eval.sh: run `vscope eval interp` over the 12 ASD entities and print the
# per-entity table and the mean, next to the z-score and random floors.
#
#   docs/bench/asd-eval.sh [ASD_DIR]     (default ../shared/datasets/asd)
#   docs/bench/asd-eval.sh pca           PCA fit speed, 3600 x 10000, next to
#                                        scikit-learn in the same run
#
# VSCOPE (default build/vscope) is the binary; JSON per entity goes to
# $OUT (default build/asd-eval) so the numbers can be recomputed. ASD's label
# ranges are inclusive. The data is read in place, never copied.
set -eu
if [ "${1:-}" = pca ]; then
	# Go: BenchmarkPCAFit (standardise + fit, default configuration).
	go test -run '^$' -bench 'PCAFit' -benchtime "${BENCHTIME:-5x}" ./analysis | grep -E '^(Benchmark|cpu:)'
	PY=/usr/bin/python3
	if "$PY" -c 'import sklearn' 2>/dev/null; then
		"$PY" docs/bench/asd-eval.py 3600 1000 3
		"$PY" docs/bench/asd-eval.py 3600 10000 3
	else
		echo "asd-eval: $PY has no scikit-learn (Debian python3-sklearn); skipped" >&2
	fi
	exit 0
fi
ASD=${1:-../shared/datasets/asd}
VSCOPE=${VSCOPE:-build/vscope}
OUT=${OUT:-build/asd-eval}
[ -d "$ASD/csv" ] || { echo "asd-eval: no ASD data at $ASD" >&2; exit 1; }
[ -x "$VSCOPE" ] || { echo "asd-eval: no binary at $VSCOPE (make build)" >&2; exit 1; }
command -v jq >/dev/null || { echo "asd-eval: needs jq" >&2; exit 1; }
mkdir -p "$OUT"
for i in 1 2 3 4 5 6 7 8 9 10 11 12; do
	"$VSCOPE" eval interp --format json \
		--train "$ASD/csv/omi-${i}_train.csv" --test "$ASD/csv/omi-${i}_test.csv" \
		--labels "$ASD/interpretation_label/omi-$i.txt" --range inclusive \
		--dump "$OUT/omi-$i.jsonl" >"$OUT/omi-$i.json"
done
jq -rs '
  def f: . * 1000 | round / 1000 | tostring | if test("\\.") then . else . + ".0" end;
  def row($n): [$n, (.hitrate_100|f), (.hitrate_150|f), (.ndcg_100|f), (.ndcg_150|f),
                (.hitrate_150_detected|f), (.zscore_hitrate_100|f), (.zscore_hitrate_150|f),
                (.random_hitrate_100|f), (.random_hitrate_150|f), (.f1|f), (.f1_pa|f), (.labelled_rows|tostring)];
  def avg(k): (map(.[k]) | add / length);
  ["entity","HR@100","HR@150","NDCG@100","NDCG@150","HR@150 det","z HR@100","z HR@150","rnd HR@100","rnd HR@150","F1","F1-PA","rows"],
  (to_entries[] | .value | row(.test | capture("(?<e>omi-[0-9]+)").e)),
  ({hitrate_100: avg("hitrate_100"), hitrate_150: avg("hitrate_150"), ndcg_100: avg("ndcg_100"),
    ndcg_150: avg("ndcg_150"), hitrate_150_detected: avg("hitrate_150_detected"),
    zscore_hitrate_100: avg("zscore_hitrate_100"), zscore_hitrate_150: avg("zscore_hitrate_150"),
    random_hitrate_100: avg("random_hitrate_100"), random_hitrate_150: avg("random_hitrate_150"),
    f1: avg("f1"), f1_pa: avg("f1_pa"), labelled_rows: (map(.labelled_rows) | add)} | row("mean"))
  | @tsv' $(for i in 1 2 3 4 5 6 7 8 9 10 11 12; do echo "$OUT/omi-$i.json"; done) | column -t -s "$(printf '\t')"
