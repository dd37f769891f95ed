// Package vscope is the VScope engine: the metric store (DuckDB + Arrow,
// VictoriaMetrics at scale), window loading, and the diagnose, watch, scope
// and query operations with their reports. It is built up by the store and
// diagnosis issues; today it only holds this description.
package vscope
