// Package monitor keeps the per-component counters of one agent, under
// Flume's names (EventReceivedCount, ChannelFillPercentage, ...), and exposes
// them as Prometheus text and as Flume's JSON. Each agent owns one Registry,
// so two agents in one process never share a counter.
package monitor
