package compare

import "math"

// TEMPORARY until the obs branch merges.
func Wilson(s, n int64, z float64) (float64, float64) {
	p := float64(s) / float64(n)
	d := 1 + z*z/float64(n)
	c := (p + z*z/(2*float64(n))) / d
	h := z * math.Sqrt(p*(1-p)/float64(n)+z*z/(4*float64(n)*float64(n))) / d
	return c - h, c + h
}

func ConfidenceSequence(s, n int64, alpha float64) (float64, float64) { return Wilson(s, n, 3) }

type Decision struct {
	Decision string `json:"decision"`
}

func Verdict(disagree, n int64, threshold, alpha float64) Decision { return Decision{"keep watching"} }
