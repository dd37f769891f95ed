// Package interp loads multivariate anomaly data with interpretation labels,
// the format of ASD (InterFusion, KDD'21) and SMD (OmniAnomaly, KDD'19):
//
//   - matrices as CSV with no header, one row per time point (the row index
//     is time) and one comma-separated float per metric;
//   - labels as one line per anomaly segment, "start-end:d1,d2,...", where
//     start and end are 0-based row indices and d1, d2, ... are the 1-based
//     ids of the metrics responsible for the segment.
//
// The range convention differs between data sets: ASD's ranges are
// inclusive (760-765 is rows 760..765), SMD's are half-open [start, end).
// It is a parameter of ParseLabels, never guessed. Internally segments are
// half-open and metrics are 0-based column indices.
package interp
