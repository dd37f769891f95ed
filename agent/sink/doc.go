// Package sink holds the sink types: the components at the end of a flow
// that take batches from their channel and deliver them.
//
//   - null (NullSink) discards what it takes; it is the throughput floor of
//     a flow and a way to measure sources and channels alone.
//   - logger (LoggerSink) logs every event at Info in Flume's shape, a hex
//     dump then the text: `Event: { headers:{k=v} body: 48 69 ... Hi }`.
//   - file_roll (RollingFileSink) writes events to a directory, one file
//     per roll interval.
//   - parquet writes columnar files (Apache Parquet, via Arrow) in place
//     of Flume's HDFS sink: paths with Flume's escapes (pathescape.go),
//     one open file per bucket, rolled by interval, size and count. A file
//     in use is a log of its events (parquet_wal.go), converted to Parquet
//     when it closes (parquet_file.go) or, after a crash, by the next
//     Start, so committed events survive and no partial file is ever
//     visible under a final name.
//
// Every sink runs the same cycle in Process: take up to batchSize events
// (the take may be empty), deliver them, then commit; on a failed delivery
// the take is rolled back so the events stay in the channel, and Process
// returns Backoff with the error. An empty take is committed and answered
// with Backoff. Process is called by one runner goroutine at a time; Stop
// may be called concurrently with it.
//
// Each sink has a Factory function (NullFactory, LoggerFactory,
// RollFactory, ParquetFactory) that accepts Flume's type name and class
// name.
package sink
