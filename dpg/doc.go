// Package dpg models Distributed Processing Graphs of watch nodes: the
// cost model, the planner that places nodes on hosts, and the deployer
// that pushes a plan to running agents. It is filled in by the DPG issue.
package dpg
