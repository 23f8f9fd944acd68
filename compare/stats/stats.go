package stats

import "math"

// Wilson returns the Wilson score interval of a binomial proportion: successes out of n at the normal
// quantile z (1.959964 for 95%). It is valid for one look at a fixed n; see ConfidenceSequence for a
// rate that is watched continuously. n <= 0 gives [0, 1].
func Wilson(successes, n int64, z float64) (lo, hi float64) {
	if n <= 0 {
		return 0, 1
	}
	nf := float64(n)
	p := float64(successes) / nf
	z2 := z * z
	den := 1 + z2/nf
	center := (p + z2/(2*nf)) / den
	half := z / den * math.Sqrt(p*(1-p)/nf+z2/(4*nf*nf))
	lo, hi = math.Max(0, center-half), math.Min(1, center+half)
	if successes <= 0 {
		lo = 0
	}
	if successes >= n {
		hi = 1
	}
	return lo, hi
}

// Prior of the confidence sequence's mixture: Beta(1/2, 1/2), Jeffreys' prior for a Bernoulli rate.
const csPriorA, csPriorB = 0.5, 0.5

// logMixture returns the log of the beta-binomial mixture martingale at p after successes out of n:
//
//	M_n(p) = B(a+S, b+n-S) / B(a, b) / (p^S (1-p)^(n-S))
//
// the likelihood of the observations averaged over a Beta(a, b) prior on the rate, divided by their
// likelihood under p. Under the true p it is a nonnegative martingale with mean 1.
func logMixture(s, n int64, p float64) float64 {
	sf, ff := float64(s), float64(n-s)
	lp := 0.0
	if s > 0 {
		lp += sf * math.Log(p)
	}
	if n-s > 0 {
		lp += ff * math.Log1p(-p)
	}
	return logBeta(csPriorA+sf, csPriorB+ff) - logBeta(csPriorA, csPriorB) - lp
}

func logBeta(a, b float64) float64 {
	la, _ := math.Lgamma(a)
	lb, _ := math.Lgamma(b)
	lab, _ := math.Lgamma(a + b)
	return la + lb - lab
}

// Excluded reports whether p lies outside the 1-alpha confidence sequence after successes out of n.
func Excluded(successes, n int64, p, alpha float64) bool {
	if n <= 0 {
		return false
	}
	if p <= 0 {
		return successes > 0
	}
	if p >= 1 {
		return successes < n
	}
	return logMixture(successes, n, p) >= math.Log(1/alpha)
}

// ConfidenceSequence returns the always-valid 1-alpha confidence interval of a Bernoulli rate after
// successes out of n: the set of rates p whose beta-binomial mixture martingale (Jeffreys' prior) is
// below 1/alpha. By Ville's inequality the true rate leaves this interval at any n, ever, with
// probability at most alpha, so it may be checked after every observation (Howard, Ramdas, McAuliffe
// and Sekhon, "Time-uniform, nonparametric, nonasymptotic confidence sequences", 2021). It is wider
// than Wilson's interval: that is the price of looking continuously. n <= 0 gives [0, 1].
func ConfidenceSequence(successes, n int64, alpha float64) (lo, hi float64) {
	if n <= 0 {
		return 0, 1
	}
	successes = min(max(successes, 0), n)
	bound := math.Log(1 / alpha)
	mle := float64(successes) / float64(n)
	inside := func(p float64) bool { return logMixture(successes, n, p) < bound }
	// The mixture is convex in -log p terms with its minimum at the MLE, which is always inside.
	lo, hi = 0, 1
	if successes > 0 {
		lo = edge(inside, mle, 0)
	}
	if successes < n {
		hi = edge(inside, mle, 1)
	}
	return lo, hi
}

// edge bisects between in (inside the interval) and out (outside it, or its edge) 60 times and
// returns the outer end: the interval's bound on out's side, never inside it.
func edge(inside func(float64) bool, in, out float64) float64 {
	for range 60 {
		m := (in + out) / 2
		if inside(m) {
			in = m
		} else {
			out = m
		}
	}
	return out
}

// Verdicts of Verdict.
const (
	VerdictPromote = "promote"
	VerdictStop    = "stop"
	VerdictWatch   = "keep watching"
)

// Decision is a verdict on a candidate's disagreement rate against a goal.
type Decision struct {
	// Decision is "promote" when the confidence sequence's upper bound is below the threshold, "stop"
	// when its lower bound is above, else "keep watching".
	Decision  string     `json:"decision"`
	Threshold float64    `json:"threshold"`
	CS        [2]float64 `json:"cs95"`
	// SamplesNeeded estimates how many more comparisons a decision takes if the observed rate holds;
	// nil when decided, or when the observed rate equals the threshold (no number suffices).
	SamplesNeeded *int64 `json:"samples_needed,omitempty"`
}

// maxProjected caps the projection of SamplesNeeded.
const maxProjected = int64(1) << 40

// Verdict judges disagree out of n comparisons against threshold with a 1-alpha confidence sequence,
// which stays valid however often the verdict is looked at. While undecided, it projects the observed
// rate forward: the smallest total n' whose sequence, at the same rate, would exclude the threshold;
// SamplesNeeded is n' - n.
func Verdict(disagree, n int64, threshold, alpha float64) Decision {
	lo, hi := ConfidenceSequence(disagree, n, alpha)
	d := Decision{Threshold: threshold, CS: [2]float64{lo, hi}}
	switch {
	case n > 0 && hi < threshold:
		d.Decision = VerdictPromote
		return d
	case n > 0 && lo > threshold:
		d.Decision = VerdictStop
		return d
	}
	d.Decision = VerdictWatch
	rate := 0.0
	if n > 0 {
		rate = float64(disagree) / float64(n)
	}
	if rate == threshold {
		return d
	}
	decided := func(total int64) bool {
		l, h := ConfidenceSequence(int64(math.Round(rate*float64(total))), total, alpha)
		return h < threshold || l > threshold
	}
	a, b := max(n, 1), max(2*n, 16)
	for !decided(b) {
		if b >= maxProjected {
			return d
		}
		a, b = b, 2*b
	}
	for b-a > 1 {
		m := a + (b-a)/2
		if decided(m) {
			b = m
		} else {
			a = m
		}
	}
	need := max(b-n, 1)
	d.SamplesNeeded = &need
	return d
}
