// Package ui is `vscope ui`: a local web view of the metric store for an
// operator watching flows. The page shows throughput (events/s accepted
// by sources and drained by sinks) and channel fill per component over the
// last minutes, read again every few seconds; each agent's latest values;
// the latest diagnosis, its culprit at the top and its full report (the
// same self-contained HTML as `vscope diagnose --html`) below; and a form,
// or a drag across the throughput chart, to diagnose a chosen window.
//
// The store is read per request through [Stores]: a DuckDB file opened
// read-only only while a request needs it, a collector (`vscope store
// serve`, the live case: agents post to it, the view reads through its SQL
// endpoint), or VictoriaMetrics.
//
// Endpoints (all GET but one; with a token, each but /assets needs it):
//
//	/                  the page
//	/assets/NAME       its script and styles, and Apache ECharts (package web)
//	/api/live          [Live] as JSON
//	/api/diagnosis     the latest [Diagnosis] as JSON (404 before the first)
//	POST /api/diagnose run one ([DiagnoseRequest], JSON only; 409 while one runs)
//	/report            the latest diagnosis as the HTML report
//
// The server binds what it is given; `vscope ui` gives it 127.0.0.1.
// Diagnose only reads, so no token is needed on one's own machine; a POST
// must be JSON from the page's own origin, so another site open in the
// same browser cannot start one.
//
// Files: server.go (the handlers, Run), live.go (the live data),
// stores.go (opening the store per request), sqlstore.go (reading a
// collector's store through SQL), static/ (the page and its script).
package ui
