// Package event defines the unit of data that flows through an agent: an
// Event is a set of string headers and an opaque body. Every hot path moves
// events in batches ([]Event), never one at a time.
package event
