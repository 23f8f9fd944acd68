package stats

import "math"

// Diffy's default margins for Significant, as fractions: 20% relative and 0.03% absolute.
const (
	DefaultRelMargin = 0.20
	DefaultAbsMargin = 0.0003
)

// Significant reports whether a field's disagreements are more than noise, after Diffy's noise
// cancellation. candidateRate is the share of compared requests where the field differs between
// primary and candidate; noiseRate the share where it differs between primary and secondary (a
// second instance of the production model). Both are fractions in [0, 1] over the same requests.
//
// The field is significant when the candidate differs more often than the noise and both margins
// are exceeded:
//
//	d := candidateRate - noiseRate
//	d > 0 && d/(candidateRate+noiseRate) > relMargin && d > absMargin
//
// This is Diffy's rule (relative difference |raw-noise|/(raw+noise) above 20%, absolute difference
// |raw-noise|/total above 0.03%) with its percentages written as fractions: relMargin 0.2 and
// absMargin 0.0003 (DefaultRelMargin, DefaultAbsMargin). A NaN argument is never significant.
func Significant(candidateRate, noiseRate, relMargin, absMargin float64) bool {
	if math.IsNaN(candidateRate) || math.IsNaN(noiseRate) || math.IsNaN(relMargin) || math.IsNaN(absMargin) {
		return false
	}
	d := candidateRate - noiseRate
	if !(d > 0) {
		return false
	}
	return d/(candidateRate+noiseRate) > relMargin && d > absMargin
}
