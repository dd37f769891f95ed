//go:build race

package planner_test

// raceEnabled scales the randomized tests down under the race detector.
const raceEnabled = true
