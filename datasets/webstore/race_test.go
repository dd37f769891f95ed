//go:build race

package webstore

const raceEnabled = true
