// Package vscope is the VScope engine: the metric store (store: DuckDB +
// Arrow, VictoriaMetrics at scale), window loading, and the diagnose, watch,
// scope and query operations with their reports, in its sub-packages.
package vscope
