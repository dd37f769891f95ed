// Package interceptor holds Flume's interceptors: small functions on a
// batch that a source's channel processor runs, in order, before the
// selector. They add headers (timestamp, host, static, uuid), remove them
// (remove_header), rewrite bodies (search_replace), drop events
// (regex_filter) or lift fields out of the body into headers
// (regex_extractor). Type names, property names and defaults are Flume's.
//
// Interceptors change events in place: a source must give every event its
// own Headers map (or nil).
package interceptor
