// Package replay sends time-stamped log lines to a running flow at the pace
// of their own timestamps, sped up by a factor.
//
// A Source yields Records (log time, host, tier, line) in time order:
// Webstore (the generator of package webstore), Loghub (a loghub sample)
// or Lines (a plain log file read by package loghub). Run paces them: the
// record at log time t is due at wall time start + (t - t0)/Speed, where
// t0 is the first record's log time. Records due within Options.Window of
// a batch's first record travel in that batch (up to BatchSize), so the
// schedule is kept to within the window plus the sleep's precision, and
// errors do not accumulate because every due time is computed from the
// start. A record stamped earlier than the one before it is due at once.
//
// A Sink delivers a batch: HTTPSink posts Flume's JSONHandler format to an
// http source (headers host, tier and timestamp in epoch milliseconds),
// NetcatSink writes lines to a netcat source and reads its OK/FAILED reply
// to each, WriterSink writes lines to a writer. Sinks retry what is worth
// retrying and say exactly how many records were refused, so Stats counts
// events sent, acked and lost. Stats also measures the timing: each
// record's lag behind its due time (mean, 99th percentile, maximum) and
// the error of the replay's duration against the schedule (TimingError).
//
// Reporter draws the progress (events, rate, fraction of the log time,
// ETA) as a bar redrawn in place on a terminal and as plain lines
// otherwise.
package replay
