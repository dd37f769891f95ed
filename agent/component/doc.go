// Package component holds the contracts every agent component implements:
// the lifecycle (Start/Stop), the three kinds (Source, Channel, Sink), the
// take transaction, the status a pollable component returns to its runner,
// and the factories that build components from their configuration.
//
// Nothing here keeps global state: factories are passed to the agent
// explicitly, and each component receives its counters and logger through
// its Settings.
package component
