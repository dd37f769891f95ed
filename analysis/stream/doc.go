// Package stream holds streaming univariate anomaly detectors: each sees one
// value at a time, in order, and returns an anomaly score in [0, 1] before it
// learns from the value. Pure Go, no I/O, deterministic.
//
// WindowedGaussian is a faithful port of NAB's windowed Gaussian reference
// detector, kept to check the NAB scorer against the official results.
// Detector is this project's own detector for NAB-style metric streams.
package stream
