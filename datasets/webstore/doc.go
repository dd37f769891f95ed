// Package webstore generates the logs of an Amazon-style web store's data
// centre: front-end web servers, application servers and a database tier,
// driven by visitor sessions, a daily load curve and injected faults.
//
// # Traffic
//
// Sessions arrive at each web server as a Poisson process whose rate is the
// server's share of Config.SessionsPerSecond (shares are uneven by
// Config.HostSkew), times the diurnal curve 1 + A*cos(2*pi*(hour-peak)/24)
// in Start's time zone, times a smooth log-normal noise (per-minute knots,
// 70% shared by the whole site), times any flash crowd. A session lands on
// the home page, a search or a product page, then follows the funnel:
// product views (with a recommendations XHR after most of them) and
// searches, add to cart, view the cart, sign in, checkout, payment, place
// the order, confirmation. Config.Funnel sets the ratios (defaults: 35%
// bounce, 4 product views per session that stays, 10% add to cart, 55% of
// those check out, 70% of those buy: 3.9% conversion). A few sessions are
// crawlers. Latencies and error rates grow with the site's load.
//
// # Lines
//
// Web servers (tier web, hosts web-01...) write NGINX access lines in the
// combined format followed by $request_time and $request_id:
//
//	73.1.4.4 - - [03/Nov/2025:00:00:53 +0000] "GET /s?k=usb+c+cable&ref=nb_sb_noss HTTP/1.1" 200 50379 "https://www.google.com/" "Mozilla/5.0 (...)" 0.124 8fe738c4b5e4919b26ec7197dbd54471
//
// and NGINX error-log lines for requests that fail at the web tier (502,
// 504). Application servers (app-01...) write one service line per request
// with the same request id, and a health line every 30 s:
//
//	2025-11-03T00:00:07.866Z ERROR recs-svc app-02 req=dd73... method=GET path=/api/recs?asin=B01ZB7SRHM&n=12 status=500 latency_ms=22 user=- error="internal error: nil pointer dereference"
//
// Database servers (db-01 is the primary, the rest are read replicas) write
// PostgreSQL lines: statements slower than Config.SlowQuery, connection
// churn and checkpoints:
//
//	2025-11-03 00:00:00.245 UTC [15200] app@store LOG:  duration: 130.266 ms  statement: SELECT ...
//
// # Streaming and determinism
//
// Generator.Next returns the lines one at a time in timestamp order (ties
// in a fixed order) as Records: time, host, tier and the line, whose bytes
// are reused by the next call. The generator holds only the sessions in
// progress and the lines they have yet to write, so a day or a week takes
// the same memory as a minute. Output is a function of the Config: the same
// seed gives the same bytes (on one architecture; floating-point rounding
// may differ between architectures). Config.Warmup of simulated time
// without output precedes Start, so the first minute already has sessions
// in progress.
//
// # Faults and ground truth
//
// Config.Faults applies a flash crowd (arrivals multiplied by Factor with a
// linear rise and fall; most of the crowd goes for one product) or an
// error storm (a share of one web server's requests fail with 502/504 and
// an error-log line; clients retry some and abandon the rest) to a web
// server over a time range. Config.Truth reports each as a Truth record:
// component, host, start, end and the metrics expected to move. ParseFault
// reads the command-line form, e.g. "error_storm:web-01@20m+3m:0.4".
//
// Generation runs at a few million lines per second of CPU time (see
// BenchmarkGenerate and docs/bench/generator.md).
package webstore
