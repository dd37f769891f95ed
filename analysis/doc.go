// Package analysis is pure statistics with no I/O: the PCA normal-subspace
// model, SPE/T2 with their limits, per-metric contributions, EWMA, Tukey
// fences, EbAT entropy, robust z, change points, and ranking evaluation.
// It is filled in by the diagnosis issue.
package analysis
