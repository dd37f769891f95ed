// Package store is the metric store: per-second samples of every component of
// every agent, in long format (ts, host, agent, component, kind, metric,
// value), written in batches and read back as windows.
//
// Two backends implement [Store]:
//
//   - [DuckDB], the embedded default: one DuckDB file under a data directory
//     ([DefaultDir]). Names are dictionary-encoded in a series table; the
//     points tables hold (series_id, ts, value) in arrival (time) order, so
//     the min/max zonemaps of ts make a window read touch only the row groups
//     of the window (integer values and the others in two tables, which
//     compress better apart). Concurrent appends share commits (group
//     commit). Raw points older than a retention period are downsampled to
//     one row per minute (avg, min, max, count), and those expire in turn.
//   - [VictoriaMetrics], for scale: the same points pushed through its
//     /api/v1/import endpoint and windows read back through /api/v1/export.
//
// Points travel between processes as Arrow IPC streams ([EncodeIPC],
// [DecodeIPC]): one record batch per request, the name columns
// dictionary-encoded. [Handler] serves POST /api/v1/ingest for a collector
// (and POST /api/v1/sql, one SELECT, for readers of the store it holds);
// [Client] is the agent's and the reader's side of it. A malformed stream is
// refused whole before anything is written.
//
// The package holds all of vscope's cgo (the DuckDB driver); the agent and
// analysis packages stay pure Go and never import it. Built with the
// duckdb_arrow tag, the DuckDB backend moves points in and out as Arrow
// (registered views for ingest, Arrow results for window reads); without it,
// through the driver's Appender and rows, which is several times slower.
//
// Reads: [DuckDB.ReadMany] reads several windows together (the window and
// the baseline slices of a diagnosis), each in pieces of about a million
// points on a connection per CPU, with one scan for the queries over the
// same window whatever their filters; [ReadMany] falls back to one Read
// each on other backends. A process that only reads windows does best with
// Options.Threads 1 (DuckDB's own threads then only spin).
//
// Open picks a backend from a location: a directory or a .duckdb file for
// DuckDB, vm+http://HOST:PORT for VictoriaMetrics; http://HOST:PORT names a
// collector, reached through [Client] (see [Open]).
package store
