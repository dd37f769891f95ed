// Package analysis is pure statistics with no I/O: the PCA normal-subspace
// model, SPE/T² with their control limits, per-metric contributions, robust
// z-scores, EWMA, Tukey fences, EbAT entropy, change points, the fusion of
// these signals into a ranking of metrics, and the evaluation of rankings
// and detections. Everything is deterministic: the randomised solver is
// seeded and parallel kernels sum in a fixed order.
//
// Files by concern:
//
//	pca.go         PCA on a baseline (time x metrics), standardised with the
//	               baseline mean and std; exact (covariance or Gram-matrix
//	               trick) or randomised (sparse sign sketch, one power step);
//	               components by explained variance, capped by the
//	               Marchenko–Pastur noise edge and MaxComponents
//	spe.go         SPE/Q with the Jackson–Mudholkar limit, Hotelling T² with
//	               its F-based limit
//	contrib.go     plain squared-residual and reconstruction-based (RBC,
//	               Alcalá & Qin) contributions
//	univariate.go  robust baseline (median, MAD scale), robust z, EWMA, Tukey
//	entropy.go     EbAT window entropy
//	changepoint.go CUSUM and the two-segment mean-shift search (onset)
//	rank.go        Fit / Diagnose / Ranking: the fused ranking with evidence
//	evalmetrics.go HitRate@P%, NDCG@P%, AC@k, Avg@k, precision/recall/F1
//	               with and without point adjustment
//	linalg.go      tall-skinny matrix kernels of the randomised solver
//	stats.go       medians, quantiles, column moments, a radix sort of
//	               columns, and columnPass: the columns of a matrix in
//	               cache-sized blocks, split over the CPUs
//
// # The ranking
//
// Fit learns, from a baseline matrix, the PCA model and each metric's
// robust statistics. Diagnose scores every row of a window. For metric j
// at row t three signals are computed, each in units of the metric's own
// normal variation, so that they can be added:
//
//   - |z|: the robust z-score against the baseline (level);
//   - EWMA: the jump from the metric's EWMA, carried over from the
//     baseline (a change relative to the recent past, at any level);
//   - RBC: the square root of the reconstruction-based contribution to the
//     SPE relative to its baseline level, i.e. the residual left after the
//     other metrics have predicted this one, in units of its normal size
//     (a broken correlation, even inside the normal range).
//
// Their sum is the fused score; a metric's ranking score is the largest
// fused score it reached over the last Window rows, because the symptoms of
// one fault come and go within an episode. Ranking explains each metric
// with the detectors that fired (z, EWMA, RBC, Tukey fences, EbAT entropy,
// change point) and the onset of its change. Rows are flagged when the SPE,
// T² or the largest residual passes its limit.
package analysis
