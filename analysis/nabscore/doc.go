// Package nabscore implements the scoring of the Numenta Anomaly Benchmark
// (NAB v1.1): pure functions over anomaly scores and labelled windows, no I/O.
//
// The rules, as NAB's sweeper applies them (nab/sweeper.py at
// numenta/NAB@ea702d7, studied, not copied):
//
//   - Each data file has anomaly windows: inclusive row ranges. The first
//     ProbationLength(n, 0.15) = min(floor(0.15 n), 750) rows of a file are the
//     probationary period and are not scored at all: no true or false positive,
//     and a window that lies wholly inside it does not count.
//   - A row is a detection when its anomaly score is >= the threshold.
//   - Every row carries a weight S(t). Inside a window of width w whose last
//     row is r, row i has position p = -(r-i+1)/w (from -1 at the left edge to
//     -1/w at the right edge) and weight A_TP * σ(p)/σ(-1), where
//     σ(x) = 2/(1+e^{5x}) - 1 is NAB's scaled sigmoid (and -1 for x > 3). Outside
//     windows, a row after a window ending at r with width w has position
//     |i-r|/(w-1) and weight A_FP * σ(position); a row before any window has
//     weight -A_FP.
//   - A window scores the largest weight among its detections (its earliest
//     detection), or -A_FN when it has none. Every detection outside windows
//     adds its (negative) weight. The file's raw score is the sum.
//   - A corpus raw score is the sum over files. NAB normalises it between the
//     null detector (no detections; raw = -A_FN per scorable window) and the
//     perfect detector (A_TP per labelled window):
//     score = 100 (raw - null) / (perfect - null).
//   - The official scoreboard uses one threshold per detector and profile,
//     the one that maximises the raw score over the whole corpus (NAB's
//     optimizer sweeps every distinct anomaly score); Optimize does the same.
//
// Counts (TP, TN, FP, FN) are of scorable rows, as in NAB's results files.
// F1 is reported point-wise (no point adjustment) by Counts.F1 and, for
// comparison, with point adjustment by Summary.F1PA.
package nabscore
