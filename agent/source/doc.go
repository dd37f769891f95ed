// Package source holds the source types: the components that bring events
// into an agent and hand them, in batches, to the source's channel
// processor (component.SourceSettings.Processor).
//
// A source is either pollable or event-driven, as in Flume NG:
//
//   - seq (Seq) is pollable: it implements component.Poller and a source
//     runner calls Process in a loop, waiting whenever it returns Backoff.
//   - exec, spooldir and TAILDIR read from processes and files: exec runs
//     a command and turns its stdout lines into events; spooldir consumes
//     whole files dropped into a directory and marks each done only after
//     its events are committed; TAILDIR follows files by inode across
//     rename and copytruncate rotation, recording committed positions in
//     Flume's JSON position file.
//   - netcatudp takes lines from UDP datagrams.
//   - netcat (Netcat), http (HTTP) and the syslog sources syslogtcp
//     (SyslogTCP), syslogudp (SyslogUDP) and multiport_syslogtcp
//     (MultiportSyslogTCP) are event-driven: Start opens a listener and
//     runs the server's goroutines; Stop closes it, drains what is in
//     flight within the ctx deadline and waits for every goroutine it
//     started.
//
// Each type has a config struct with Flume's property names and defaults
// (documented on the fields), a New constructor and a factory (SeqFactory,
// NetcatFactory, HTTPFactory) that the agent is given explicitly; the
// factories accept Flume's fully-qualified class names as aliases, so a
// Flume configuration file works unchanged.
//
// Every source keeps Flume's source counters (monitor.SourceCounter):
// AppendBatchReceivedCount and EventReceivedCount before a batch is put,
// AppendBatchAcceptedCount and EventAcceptedCount after it committed,
// ChannelWriteFail for each failed put (one per batch), EventReadFail for
// input that could not become an event (and for each syslog event flagged
// Invalid or Incomplete, which is still put), OpenConnectionCount for the
// servers, and put_duration_seconds, the time one batch spent in the
// channel processor.
//
// Stop is safe without Start and safe twice for every type; a stopped
// event-driven source may be started again.
package source
