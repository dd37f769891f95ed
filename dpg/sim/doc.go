// Package sim measures what a DPG saves: it simulates a fleet of hosts
// (dpg/model.Synth's: two log-shipping agents each, 161 series per host)
// with a slow sink planted on one, and monitors it twice over the same
// samples in a watch.Mesh, through the same node code and message
// encoding as deployed watch operators: once with the planner's DPG
// (leaves detect, summaries merge up the tree, raw windows only on
// alarm) and once centralized (every sample shipped to the root, which
// runs the same detector on all of them). It reports the bytes each way
// moves, the store's own wire format for every sample when given, and
// whether each way's root names the planted component first.
//
// The simulated series are stationary with noise, a slowly drifting load
// that their rates share, and rare failure counts; real hosts have bursts
// the simulation lacks, so its false-alarm figures are a floor.
package sim
