//go:build race

package mmapring

const raceEnabled = true
