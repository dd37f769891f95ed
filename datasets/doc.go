// Package datasets holds the generators (an Amazon-style web-store data
// centre with fault injection and ground truth), the loaders for public
// evaluation data (SMD/ASD interpretation labels, NAB, loghub) and replay.
// It is filled in by the replay issue.
package datasets
