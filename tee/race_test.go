//go:build race

package tee

// raceEnabled: the race detector slows making the larger test inputs tenfold.
const raceEnabled = true
