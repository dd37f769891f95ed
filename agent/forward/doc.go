// Package forward moves batches of events between agents over TCP: the role
// Flume's avro sink and avro source play between tiers (agents on the web
// servers push to a few collectors). The wire format is vscope's own, not
// Avro RPC; the component types accept `avro` as an alias so a Flume file
// keeps working when both ends are vscope.
//
// The package holds the wire protocol (codec.go: frames, the batch payload,
// compression; client.go: one connection; server.go: the listener and its
// defences against bad peers; tls.go: PEM certificates), groups of
// collectors (group.go: round_robin, fan_out, least_loaded, health and
// back-off, members from a re-read file) and the two components built on
// them (sink.go, source.go).
//
// # Frames
//
// Every message is a frame: a 24-byte header and a payload.
//
//	offset size
//	0      2    magic 0x76 0x46 ("vF")
//	2      1    version (1)
//	3      1    kind: 1 hello, 2 welcome, 3 batch, 4 ack, 5 nack
//	4      1    flags: bits 0-3 the payload's compression (0 none, 1 deflate, 2 zstd, 3 snappy)
//	5      3    reserved, zero
//	8      8    sequence number (big endian); an ack or nack repeats its batch's
//	16     4    payload length in bytes (big endian), at most the receiver's max-frame-size
//	20     4    CRC-32C (Castagnoli) of header bytes 0-19 followed by the payload
//
// A batch payload, before compression, is a uvarint event count, then per
// event a uvarint header count, each header as uvarint-length-prefixed key
// and value, and the uvarint-length-prefixed body. A compressed payload is
// the uvarint length of the raw payload followed by the compressed bytes;
// the raw length is bounded by max-frame-size too, so a small frame cannot
// inflate into a large allocation.
//
// # Conversation
//
// The client opens with hello (its group and name); the server answers
// welcome (its group, the largest frame and the most events per frame it
// accepts) or nack and closes. The client then sends batch frames, each at
// most what the welcome allowed (a larger take is split, and the client
// waits for each frame's answer before the next, so a refused frame is
// never overtaken). The server answers ack once the source's channels
// committed the frame's events, or nack with a reason (retryable, such as
// a full channel, or permanent). The sink commits its take only after
// every frame of it was acknowledged, and retries only the frames that
// were not, so with durable channels on both ends an event is lost neither
// when the sender nor when the receiver dies. Delivery is at-least-once: a
// receiver that committed a frame and died before its ack reached the
// sender leaves a duplicate, which the sender delivers again elsewhere.
//
// Anything else (bad magic, unknown version or kind, a checksum mismatch, a
// frame longer than max-frame-size, a truncated frame, a malformed payload,
// a peer that does not finish a frame within frame-timeout or does not read
// its acks within write-timeout) is refused: the server logs the reason,
// counts it, answers nack where the stream still allows, and closes that
// connection; it keeps serving the others.
package forward
