// Package agent runs one Flume-NG agent: it builds sources, channels and
// sinks from a validated configuration, drives pollable components with
// runners, keeps every component alive under a supervisor that restarts
// failures with back-off, applies a changed configuration without losing
// events, and shuts down in order (intake first, drain, then the rest).
//
// Sub-packages hold the parts: event (the data), component (the contracts),
// config (Flume's properties format), monitor (counters), and the catalog
// of component types in source, channel and sink.
package agent
