// Package jetstream is a channel on NATS JetStream: durable, replicated
// buffering between tiers for users who outgrow one collector host.
//
// A jetstream channel is a JetStream stream with work-queue retention and
// one durable pull consumer. Put publishes the batch asynchronously and
// returns once the stream acknowledged every message (the put's commit);
// Take fetches what is available from the consumer without waiting;
// Commit acknowledges the taken messages and waits until the server has
// the acknowledgements. Rollback keeps the messages in the channel,
// unacknowledged (their ack wait restarted), and the next take hands them
// out first, so the order holds as in Flume's channels; Stop naks what is
// held that way, so JetStream delivers it again. Because the queue lives in the NATS servers,
// several agents can name the same stream, subject and durable consumer:
// tier-1 agents put, collectors take, and either side can die or move
// without losing a committed event (the stream's replicas decide how many
// NATS servers may be lost).
//
// An event without headers is stored as a message whose data is the body,
// so other NATS clients read plain messages. An event with headers is
// stored in vscope's forward encoding (header Vscope-Event: v1), because
// NATS header names are restricted and "Nats-" names steer the server;
// event headers are never copied into NATS headers.
//
// Differences from Flume's channels, all documented in the README:
// a Put that fails part-way may have stored some of its messages (the
// caller retries, so delivery is at-least-once, as across any network);
// a take held longer than ackWait is delivered again to another taker; the
// channel does not report Len, since its events are safe in JetStream and
// need not be drained at shutdown.
package jetstream
