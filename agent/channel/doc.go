// Package channel holds the channel types: transactional queues between a
// source and its sinks. memory is fast and bounded in events and bytes;
// durable channels live beside it.
package channel
