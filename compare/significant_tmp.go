package compare

// TEMPORARY until the compare branch merges.
func Significant(candidateRate, noiseRate, rel, abs float64) bool {
	return candidateRate > noiseRate*(1+rel)+abs
}
