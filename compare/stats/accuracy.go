package stats

import "math"

// Verdicts of Accuracy.Verdict.
const (
	VerdictCandidateBetter = "candidate better"
	VerdictPrimaryBetter   = "primary better"
	VerdictNoDifference    = "no difference"
	VerdictNotEnough       = "not enough labels"
)

// minLabeledDisagreements is the number of labeled disagreements below which an interval that holds 0
// says "not enough labels" rather than "no difference".
const minLabeledDisagreements = 10

// zTruth95 is the standard normal quantile of a two-sided 95% interval.
const zTruth95 = 1.959963984540054

// Tally accumulates comparisons judged against ground truth, each with its record weight (1/share:
// the number of requests it stands for). Comparisons split into two strata: the judged values agree
// (both models are right, or both wrong) or differ. Labels may cover any part of either stratum; the
// part labeled is taken as a random sample of its stratum. The zero Tally is empty and ready.
type Tally struct {
	n, nLab int64
	s       [2]stratum // 0: same judged value, 1: different
	// wins counts the labeled disagreements only the candidate (0) or only the primary (1) got right.
	wins [2]int64
}

type stratum struct {
	n, nLab int64
	w, w2   float64 // every comparison: sum of weights and of squared weights
	lw, lw2 float64 // labeled: sum of weights and of squared weights
	// Labeled sums of w (and w²) times "primary right" (a), "candidate right" (b), both (ab).
	a, b, ab    float64
	a2, b2, ab2 float64
}

// Add counts one comparison: weight is its record weight (<= 0 counts as 1), differ says the two
// judged values differ, labeled that a label judged it, and primaryRight and candidateRight what the
// label said of each value (ignored when not labeled).
func (t *Tally) Add(weight float64, differ, labeled, primaryRight, candidateRight bool) {
	weight = tallyWeight(weight)
	s := &t.s[0]
	if differ {
		s = &t.s[1]
	}
	t.n++
	s.n++
	s.w += weight
	s.w2 += weight * weight
	if labeled {
		t.AddLabel(weight, differ, primaryRight, candidateRight)
	}
}

// AddLabel records the label of a comparison Add already counted unlabeled (a label that arrives
// after its comparison), with the same weight and differ.
func (t *Tally) AddLabel(weight float64, differ, primaryRight, candidateRight bool) {
	weight = tallyWeight(weight)
	s := &t.s[0]
	if differ {
		s = &t.s[1]
	}
	t.nLab++
	s.nLab++
	s.lw += weight
	w2 := weight * weight
	s.lw2 += w2
	if primaryRight {
		s.a += weight
		s.a2 += w2
	}
	if candidateRight {
		s.b += weight
		s.b2 += w2
	}
	if primaryRight && candidateRight {
		s.ab += weight
		s.ab2 += w2
	}
	switch {
	case differ && candidateRight && !primaryRight:
		t.wins[0]++
	case differ && primaryRight && !candidateRight:
		t.wins[1]++
	}
}

func tallyWeight(w float64) float64 {
	if w <= 0 || math.IsNaN(w) || math.IsInf(w, 0) {
		return 1
	}
	return w
}

// Merge adds o's counts to t.
func (t *Tally) Merge(o *Tally) {
	t.n += o.n
	t.nLab += o.nLab
	t.wins[0] += o.wins[0]
	t.wins[1] += o.wins[1]
	for i := range t.s {
		d, s := &t.s[i], &o.s[i]
		d.n += s.n
		d.nLab += s.nLab
		d.w += s.w
		d.w2 += s.w2
		d.lw += s.lw
		d.lw2 += s.lw2
		d.a += s.a
		d.b += s.b
		d.ab += s.ab
		d.a2 += s.a2
		d.b2 += s.b2
		d.ab2 += s.ab2
	}
}

// Accuracy is what ground truth says of a candidate against the primary (the fields of
// `shadowproxy score` and of /status truth). A null accuracy or delta cannot be estimated from the
// labels at hand; Note says why.
type Accuracy struct {
	// Compared counts the comparisons judged (records offline), Labeled those a label joined.
	Compared int64 `json:"compared"`
	Labeled  int64 `json:"labeled"`
	// Disagreements counts the comparisons whose judged values differ, LabeledDisagreements those
	// with a label: the only labels the delta needs.
	Disagreements        int64 `json:"disagreements"`
	LabeledDisagreements int64 `json:"labeled_disagreements"`
	// PrimaryAccuracy and CandidateAccuracy are the weighted share of requests each model answers
	// right, with Wilson score intervals at the effective sample size.
	PrimaryAccuracy       *float64    `json:"primary_accuracy"`
	PrimaryAccuracyCI95   *[2]float64 `json:"primary_accuracy_ci95"`
	CandidateAccuracy     *float64    `json:"candidate_accuracy"`
	CandidateAccuracyCI95 *[2]float64 `json:"candidate_accuracy_ci95"`
	// AccuracyDelta is candidate accuracy minus primary accuracy, with Tango's score interval for a
	// paired difference at the effective sample size.
	AccuracyDelta     *float64    `json:"accuracy_delta"`
	AccuracyDeltaCI95 *[2]float64 `json:"accuracy_delta_ci95"`
	// CandidateWinShare is, of the labeled disagreements one model alone got right, the share the
	// candidate won: the delta is above 0 exactly when it is above 1/2. CandidateWinShareCS95 is its
	// always-valid 95% confidence sequence (as cs95 of the disagreement rate), so a sequence wholly
	// above or below 1/2 says which model is better however often it is looked at. Counts, not
	// weights: null before such a disagreement is labeled.
	CandidateWinShare     *float64    `json:"candidate_win_share"`
	CandidateWinShareCS95 *[2]float64 `json:"candidate_win_share_cs95"`
	// Verdict is "candidate better" or "primary better" when the delta's interval excludes 0, else
	// "no difference", or "not enough labels" while fewer than 10 disagreements are labeled.
	Verdict string `json:"verdict"`
	Note    string `json:"note,omitempty"`
}

// Estimate returns the Horvitz-Thompson estimates of both accuracies and of their difference.
//
// Within each stratum the labeled comparisons stand for the whole stratum (their weights are divided
// by the labeled share of the stratum's weight). Where the judged values agree the two models are
// both right or both wrong, so the delta is P(differ) x (share of labeled disagreements the
// candidate wins - share the primary wins): labels on the disagreements alone give it. Each
// accuracy needs labels in both strata.
//
// Variances are the linearised (Taylor) variances of these ratios over every comparison, the
// unlabeled ones included, each record an independent draw standing for w requests, and the labeled
// part of a stratum a random part of it. The interval of an accuracy is
// Wilson's at the effective sample size p(1-p)/variance; that of the delta is Tango's score
// interval for a difference of paired proportions, whose counts are scaled to the effective sample
// size (p12+p21-delta²)/variance. With equal weights and every comparison labeled both are exactly
// the textbook intervals.
func (t *Tally) Estimate() Accuracy {
	sa, sd := &t.s[0], &t.s[1]
	acc := Accuracy{Compared: t.n, Labeled: t.nLab, Disagreements: sd.n, LabeledDisagreements: sd.nLab, Verdict: VerdictNotEnough}
	x := sa.w + sd.w
	if t.n == 0 || x <= 0 {
		acc.Note = "nothing compared"
		return acc
	}

	// Each accuracy: a ratio over both strata.
	if (sa.w == 0 || sa.lw > 0) && (sd.w == 0 || sd.lw > 0) {
		pick := func(right func(*stratum) (w, w2 float64)) (float64, [2]float64) {
			var r float64
			for _, s := range []*stratum{sa, sd} {
				if s.w > 0 {
					k, _ := right(s)
					r += s.w * k / s.lw
				}
			}
			r /= x
			var zz float64
			for _, s := range []*stratum{sa, sd} {
				if s.w > 0 {
					k, k2 := right(s)
					zz += s.spread(k/s.lw, r, k2, k2)
				}
			}
			v := zz / (x * x)
			neff := float64(t.nLab)
			if v > 0 && r > 0 && r < 1 {
				neff = r * (1 - r) / v
			}
			lo, hi := WilsonFloat(r*neff, neff, zTruth95)
			return r, [2]float64{round6(lo), round6(hi)}
		}
		p, pci := pick(func(s *stratum) (float64, float64) { return s.a, s.a2 })
		c, cci := pick(func(s *stratum) (float64, float64) { return s.b, s.b2 })
		p, c = round6(p), round6(c)
		acc.PrimaryAccuracy, acc.PrimaryAccuracyCI95 = &p, &pci
		acc.CandidateAccuracy, acc.CandidateAccuracyCI95 = &c, &cci
	} else {
		acc.Note = "each model's accuracy needs labels on agreements too; the delta needs labels on disagreements only"
	}

	if n := t.wins[0] + t.wins[1]; n > 0 {
		share := round6(float64(t.wins[0]) / float64(n))
		lo, hi := ConfidenceSequence(t.wins[0], n, 0.05)
		acc.CandidateWinShare, acc.CandidateWinShareCS95 = &share, &[2]float64{round6(lo), round6(hi)}
	}

	// The delta: the disagreements alone (where the judged values agree, b - a is 0).
	if sd.w > 0 && sd.lw == 0 {
		acc.Note = "no disagreement is labeled: label the disagreements to estimate the accuracy delta"
		return acc
	}
	var delta, p12, p21, v float64
	if sd.w > 0 {
		m := (sd.b - sd.a) / sd.lw
		delta = sd.w * m / x
		p12 = sd.w * (sd.b - sd.ab) / sd.lw / x
		p21 = sd.w * (sd.a - sd.ab) / sd.lw / x
		zz := sd.spread(m, delta, sd.b2-sd.a2, sd.a2+sd.b2-2*sd.ab2) + delta*delta*sa.w2
		v = zz / (x * x)
	}
	neff := float64(t.n)
	if q := p12 + p21 - delta*delta; v > 0 && q > 0 {
		neff = q / v
	}
	lo, hi := Tango(p12*neff, p21*neff, neff, zTruth95)
	d := round6(delta)
	acc.AccuracyDelta, acc.AccuracyDeltaCI95 = &d, &[2]float64{round6(lo), round6(hi)}
	switch {
	case lo > 0:
		acc.Verdict = VerdictCandidateBetter
	case hi < 0:
		acc.Verdict = VerdictPrimaryBetter
	case sd.n == 0 || sd.nLab >= minLabeledDisagreements:
		acc.Verdict = VerdictNoDifference
	}
	return acc
}

// spread returns the stratum's part of the sum of w² z² behind a linearised variance: z is the
// influence of one comparison on an estimate r that takes the stratum's labeled mean m of a value y
// as the mean of the whole stratum, z = (m - r) + labeled x (y - m) / f, with f the labeled share of
// the stratum's weight. y2 and yy2 are the labeled sums of w² y and of w² y².
func (s *stratum) spread(m, r, y2, yy2 float64) float64 {
	f := s.lw / s.w
	return (m-r)*(m-r)*s.w2 + 2*(m-r)/f*(y2-m*s.lw2) + (yy2-2*m*y2+m*m*s.lw2)/(f*f)
}

// WilsonFloat is Wilson's score interval for successes out of n where both may be fractional (an
// effective sample size). n <= 0 gives [0, 1].
func WilsonFloat(successes, n, z float64) (lo, hi float64) {
	if !(n > 0) {
		return 0, 1
	}
	p := min(max(successes/n, 0), 1)
	z2 := z * z
	den := 1 + z2/n
	center := (p + z2/(2*n)) / den
	half := z / den * math.Sqrt(p*(1-p)/n+z2/(4*n*n))
	lo, hi = math.Max(0, center-half), math.Min(1, center+half)
	if p == 0 {
		lo = 0
	}
	if p == 1 {
		hi = 1
	}
	return lo, hi
}

// Tango returns Tango's score interval (Statistics in Medicine 17:891, 1998) for the difference
// p12 - p21 of paired proportions, where b of n pairs fell in cell 12 (here: only the candidate is
// right) and c in cell 21 (only the primary is right). Unlike the Wald interval it keeps its
// coverage near 0 and with few discordant pairs; it depends on the discordant counts and n only,
// which is what lets labels on disagreements alone give it. b, c and n may be fractional (an
// effective sample size). n <= 0 gives [-1, 1].
func Tango(b, c, n, z float64) (lo, hi float64) {
	if !(n > 0) {
		return -1, 1
	}
	b, c = max(b, 0), max(c, 0)
	est := (b - c) / n
	// score is Tango's statistic at a hypothesised difference d: the observed b - c against its
	// mean n*d and variance under the restricted maximum likelihood estimate of p21.
	score := func(d float64) float64 {
		w := -b - c + (2*n-b+c)*d
		q := (math.Sqrt(math.Max(w*w+8*n*c*d*(1-d), 0)) - w) / (4 * n)
		num := b - c - n*d
		v := n * (2*q + d*(1-d))
		if v <= 0 {
			switch {
			case num > 0:
				return math.Inf(1)
			case num < 0:
				return math.Inf(-1)
			}
			return 0
		}
		return num / math.Sqrt(v)
	}
	// The statistic decreases in d; the interval is where |score| <= z.
	lo, hi = -1, 1
	if score(-1) > z {
		a, m := -1.0, est // a outside, m inside
		for range 60 {
			mid := (a + m) / 2
			if score(mid) > z {
				a = mid
			} else {
				m = mid
			}
		}
		lo = a
	}
	if score(1) < -z {
		m, a := est, 1.0 // m inside, a outside
		for range 60 {
			mid := (a + m) / 2
			if score(mid) < -z {
				a = mid
			} else {
				m = mid
			}
		}
		hi = a
	}
	return lo, hi
}

func round6(x float64) float64 { return math.Round(x*1e6) / 1e6 }
