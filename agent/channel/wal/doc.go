// Package wal is the storage of the durable file channel: a FIFO queue of
// events kept in a write-ahead log of segment files, with checkpoints of
// the queue so that a restart replays only the log written since.
//
// # Layout
//
// Each data directory is a stream: a sequence of segment files
// seg-NNNNNNNNNN.wal (ids unique across directories, increasing) of which
// the newest is appended to. The checkpoint directory holds the file
// "checkpoint" (and a backup directory a copy of it). Every directory
// holds in_use.lock, flock(2)ed while a queue has it open; a killed
// process loses its locks with it.
//
// # Records
//
// A segment starts with a 32-byte header (magic "VSWALSEG", version,
// segment id, creation time, CRC-32C). Then records, each a 24-byte
// header and a payload:
//
//	magic 0x57 0xA1 | kind | 0 | payload length u32 | seq u64 | payload CRC-32C u32 | header CRC-32C u32
//
// seq orders records across streams. A put record is one whole committed
// Put: uvarint count, then per event its headers and body, each
// length-prefixed. Because one record is one transaction, there are no
// separate commit records: a put is committed exactly when its record is
// intact on disk. A take record lists the (segment, offset, first, last)
// ranges of put records that a committed take removed. Rollbacks write
// nothing.
//
// # Group commit
//
// Committers encode their record outside any lock and copy it into their
// stream's buffer. The stream's syncer goroutine takes the whole buffer,
// writes it with one pwrite, fdatasyncs once, applies the records to the
// in-memory queue (puts become visible, takes end) and wakes every
// committer of the group. While it syncs, the next group accumulates, so
// N concurrent committers share about one fsync. Put and Commit return
// only after that fsync. Segments roll at MaxFileSize: the old segment is
// synced, the new one created with its header synced and its directory
// entry fsynced. Puts and takes are spread over the streams round-robin.
//
// # Queue and checkpoints
//
// The queue is a deque of spans: (segment, offset, length, event count,
// first, last) of a put record, so a batch costs one entry and a take
// reads one record per span (pread, checksum, decode). A checkpoint is the
// list of spans (open takes first: they come back if not committed) plus,
// per stream, the position up to which the log is reflected in it,
// captured atomically under the queue lock (a group is applied and its
// stream's position advanced under that lock). Format: "VSCKPT01", body
// length, body (uvarints: seq, positions, spans), CRC-32C. It is written
// to checkpoint.tmp, fsynced, renamed over checkpoint and the directory
// fsynced, then the same in the backup directory; a crash at any point
// leaves a complete old or new file. Only after both are written are the
// segments deleted that lie wholly before their stream's position and
// hold no checkpointed event.
//
// # Recovery
//
// Open removes a leftover checkpoint.tmp, loads the checkpoint (the
// backup if the primary is missing or fails its checksum; with neither,
// every segment is replayed, and events whose take records were in
// deleted segments may be delivered again), then reads each stream from
// its checkpointed position to its end: puts append spans in seq order,
// takes remove ranges. The result is the checkpoint's spans then the new
// puts, less the taken ranges. It then writes a fresh checkpoint.
//
// Policy for bad bytes (a record whose header or payload checksum fails,
// or that cannot be decoded), decided so nothing is refused or skipped
// silently:
//
//   - At the end of a stream's last segment, with no intact record after
//     it: a torn write from a crash. No Put returned for it (a Put returns
//     only after its record and everything before it were fsynced). It is
//     cut off (truncate), logged at WARN with file and offset, counted
//     (TornTails). A newest segment whose header is incomplete and that
//     holds no record is removed the same way.
//   - Anywhere else (intact records follow it, or it is in a sealed
//     segment): corruption of the medium. The range is skipped up to the
//     next intact record (found by scanning for a record header whose
//     checksums hold), logged at ERROR with file, offset and length,
//     counted (CorruptRecords, CorruptBytes) and copied to
//     <dataDir>/quarantine/<segment>@<offset>. The events in it are lost;
//     the channel keeps running.
//   - A checkpointed record found corrupt when a take reads it: the same
//     (ERROR with file and offset, counted, quarantined, its events
//     counted in DroppedEvents) and the take goes on without them; the
//     take record written on commit removes them for good.
//   - A checkpoint that names segments missing from every data directory
//     (a data directory removed from the configuration, files deleted):
//     Open fails with an error naming them, since continuing would lose
//     their events without a trace.
//
// # Space
//
// With MinFreeSpace set, a put is refused with ErrLowSpace while any
// directory has less free space (read with statfs at most every 100 ms,
// less what was written since). A write that fails with ENOSPC is cut off
// at the last whole record and refused the same way. Takes go on; puts
// succeed again as soon as space returns (takes free it when their
// segments are deleted at the next checkpoint).
//
// Any other write or fsync error is fatal for the open queue (after a
// failed fsync the page cache cannot be trusted): puts are refused and
// OnFatal is called; closing and reopening recovers from what is on disk.
package wal
