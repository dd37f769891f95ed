#!/usr/bin/env bash
# docs/bench/nab-eval.sh: vscope's streaming detector on NAB's realAWSCloudwatch subset,
# scored by vscope's NAB scorer, next to the official detectors' scores on the same files.
#
#   docs/bench/nab-eval.sh [NAB_DIR]        # default ../shared/datasets/nab
#
# For each profile (standard, reward_low_FP_rate, reward_low_FN_rate) it runs
# `vscope eval nab` three times, with three ways of choosing the threshold:
#   subset   optimised on the 17 realAWSCloudwatch files themselves (NAB's procedure,
#            applied to the evaluated files),
#   corpus   optimised on all 24 files at hand (realAWSCloudwatch + realKnownCause),
#   held-out optimised on the 7 realKnownCause files only, then applied to realAWSCloudwatch.
# The official detectors keep their official thresholds (optimised by NAB over its 58 files);
# their subset scores are their per-file raw scores from results/, summed over the 17 files and
# normalised between the null and the perfect detector on those files, as for ours.
# F1 is point-wise over the scored rows, without point adjustment; F1 PA with it.
# JSON of every run goes to $OUT (build/nab-eval). Needs jq.
#
# Environment: VSCOPE (build/vscope), OUT (build/nab-eval), CHECK=1 also runs the Go tests
# that reproduce the official numbers (analysis/nabscore: TestOfficial*).
set -euo pipefail

NAB=${1:-../shared/datasets/nab}
VSCOPE=${VSCOPE:-build/vscope}
OUT=${OUT:-build/nab-eval}
SUBSET=realAWSCloudwatch
HELDOUT=realKnownCause

[[ -x $VSCOPE ]] || { echo "nab-eval.sh: $VSCOPE is missing (make build)" >&2; exit 1; }
command -v jq >/dev/null || { echo "nab-eval.sh: jq is missing (apt-get install jq)" >&2; exit 1; }
[[ -d $NAB/data/$SUBSET ]] || { echo "nab-eval.sh: no NAB data at $NAB/data/$SUBSET" >&2; exit 1; }
mkdir -p "$OUT"

if [[ ${CHECK:-0} == 1 ]]; then
	echo "== reproduction of the official numbers (go test -run Official ./analysis/nabscore)"
	go test -count=1 -run Official -v ./analysis/nabscore | grep -E '^(--- |ok|FAIL)'
	echo
fi

profiles=(standard reward_low_FP_rate reward_low_FN_rate)
declare -A tune=([subset]="" [corpus]="--tune-on $NAB/data" [held-out]="--tune-on $NAB/data/$HELDOUT")
for p in "${profiles[@]}"; do
	for policy in subset corpus held-out; do
		# shellcheck disable=SC2086 # ${tune[...]} is two words on purpose
		"$VSCOPE" eval nab --data "$NAB/data/$SUBSET" --windows "$NAB/labels/combined_windows.json" \
			--results "$NAB/results" --profile "$p" --format json ${tune[$policy]} \
			>"$OUT/novelty-$policy-$p.json" 2>"$OUT/novelty-$policy-$p.log"
	done
done

{
	echo "| detector | threshold (std) | standard | reward_low_FP | reward_low_FN | windows hit (std) | FP rows (std) | F1 (std) | F1 PA (std) |"
	echo "|---|---|---|---|---|---|---|---|---|"
	for policy in subset corpus held-out; do
		jq -rs --arg pol "$policy" '
		def f2: . * 100 | round / 100 | tostring | if test("\\.[0-9]$") then . + "0" elif test("\\.") then . else . + ".00" end;
		def f3: . * 1000 | round / 1000 | tostring;
		def f4: . * 1e4 | round / 1e4 | tostring;
		"| **vscope novelty** | \($pol): \(.[0].threshold | f4) | **\(.[0].score | f2)** | \(.[1].score | f2) | \(.[2].score | f2) | \(.[0].windows_detected)/\(.[0].windows) | \(.[0].fp) | \(.[0].f1 | f3) | \(.[0].f1_pa | f3) |"' \
			"$OUT/novelty-$policy-standard.json" "$OUT/novelty-$policy-reward_low_FP_rate.json" "$OUT/novelty-$policy-reward_low_FN_rate.json"
	done
	jq -rs '
		def f2: . * 100 | round / 100 | tostring | if test("\\.[0-9]$") then . + "0" elif test("\\.") then . else . + ".00" end;
		def f3: . * 1000 | round / 1000 | tostring;
		def f4: . * 1e4 | round / 1e4 | tostring;
		[.[0].official, .[1].official, .[2].official] as [$s, $fp, $fn]
		| ($fp | map({(.detector): .score}) | add) as $fpm
		| ($fn | map({(.detector): .score}) | add) as $fnm
		| $s[] | select(.detector != "null")
		| "| \(.detector) (official) | official: \(.threshold | f4) | \(.score | f2) | \($fpm[.detector] // "-" | if type == "number" then f2 else . end) | \($fnm[.detector] // "-" | if type == "number" then f2 else . end) | | \(.fp) | \(.f1 | f3) | |"' \
		"$OUT/novelty-subset-standard.json" "$OUT/novelty-subset-reward_low_FP_rate.json" "$OUT/novelty-subset-reward_low_FN_rate.json"
} | tee "$OUT/table.md"

skipped=$(jq -r '.official_skipped[]? // empty' "$OUT/novelty-subset-standard.json")
[[ -z $skipped ]] || printf '\nnot comparable (their per-file counts do not fit these labels):\n%s\n' "$skipped"
