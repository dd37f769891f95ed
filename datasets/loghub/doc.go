// Package loghub reads real system logs for replay: the loghub 2k-line
// samples (Zhu et al., ISSRE'23; github.com/logpai/loghub) and plain log
// files with a timestamp pattern.
//
// Load reads one system's sample from loghub's layout,
// <dir>/<System>/<System>_2k.log joined by LineId with
// <System>_2k.log_structured.csv (Level, Component, Content, EventId,
// EventTemplate). Each system stamps its lines its own way, and ParseTime
// knows them all:
//
//	HDFS       081109 203615 148 INFO dfs.DataNode$PacketResponder: ...   (yyMMdd HHmmss)
//	Hadoop     2015-10-18 18:01:47,978 INFO [main] ...                     (log4j, comma millis)
//	Spark      17/06/09 20:10:40 INFO executor.CoarseGrainedExecutorBackend: ...
//	Zookeeper  2015-07-29 17:41:44,747 - INFO  [QuorumPeer[myid=1]/...] - ...
//	OpenStack  nova-api.log.1.2017-05-16_13:53:08 2017-05-16 00:00:00.008 25746 INFO ...
//	BGL        - 1117838570 2005.06.03 R02-M1-N0-C:J12-U11 2005-06-03-15.42.50.675872 ...
//
// Stamps without a zone are taken as UTC. BGL's time is its Unix seconds
// (field 2) plus the microseconds of field 5, whose wall clock is
// Livermore's local time. BGL's first token is its label: "-" for a normal
// line, otherwise an alert category (Line.Alert). Zookeeper's sample
// interleaves nodes and is not in time order; SortByTime orders a Log.
//
// For any other file, OpenFile reads it line by line (a file of any size
// streams) with a Pattern: a Go layout, optionally with a regular
// expression whose first group is the stamp (NewPattern), or one detected
// from the first lines among the formats above, ISO 8601, NGINX, Apache's
// common log format, syslog and Unix seconds (DetectPattern). Lines
// without a stamp take the time of the line before.
//
// The data stays where it is (../shared/datasets/loghub for this project);
// nothing here copies it.
package loghub
