package stats

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"
)

// pairs adds n comparisons of one kind to t, weight 1, every one labeled.
func pairs(t *Tally, n int, differ, primaryRight, candidateRight bool) {
	for range n {
		t.Add(1, differ, true, primaryRight, candidateRight)
	}
}

// TestAccuracyTextbook: with equal weights and every comparison labeled, the estimates are the plain
// shares, the accuracies' intervals are Wilson's and the delta's is Tango's on the raw counts.
func TestAccuracyTextbook(t *testing.T) {
	var tl Tally
	pairs(&tl, 70, false, true, true)   // both right
	pairs(&tl, 10, false, false, false) // both wrong, same answer
	pairs(&tl, 12, true, false, true)   // candidate wins
	pairs(&tl, 5, true, true, false)    // primary wins
	pairs(&tl, 3, true, false, false)   // both wrong, different answers
	a := tl.Estimate()
	if a.Compared != 100 || a.Labeled != 100 || a.Disagreements != 20 || a.LabeledDisagreements != 20 {
		t.Fatalf("counts %+v", a)
	}
	if *a.PrimaryAccuracy != 0.75 || *a.CandidateAccuracy != 0.82 || *a.AccuracyDelta != 0.07 {
		t.Fatalf("primary %v candidate %v delta %v, want 0.75 0.82 0.07", *a.PrimaryAccuracy, *a.CandidateAccuracy, *a.AccuracyDelta)
	}
	lo, hi := Wilson(75, 100, zTruth95)
	if got := *a.PrimaryAccuracyCI95; math.Abs(got[0]-lo) > 1e-6 || math.Abs(got[1]-hi) > 1e-6 {
		t.Errorf("primary interval %v, want Wilson's [%v %v]", got, lo, hi)
	}
	lo, hi = Tango(12, 5, 100, zTruth95)
	if got := *a.AccuracyDeltaCI95; math.Abs(got[0]-lo) > 1e-6 || math.Abs(got[1]-hi) > 1e-6 {
		t.Errorf("delta interval %v, want Tango's [%v %v]", got, lo, hi)
	}
	if a.Verdict != VerdictNoDifference {
		t.Errorf("verdict %q with interval %v", a.Verdict, *a.AccuracyDeltaCI95)
	}
	lo, hi = ConfidenceSequence(12, 17, 0.05)
	if *a.CandidateWinShare != round6(12.0/17) || math.Abs(a.CandidateWinShareCS95[0]-lo) > 1e-6 || math.Abs(a.CandidateWinShareCS95[1]-hi) > 1e-6 {
		t.Errorf("win share %v %v, want 12/17 in [%v %v]", *a.CandidateWinShare, *a.CandidateWinShareCS95, lo, hi)
	}
}

// TestTangoKnownValues checks the interval's symmetry, its edges, and that for many pairs it comes
// close to the Wald interval delta +- z*sqrt((p12+p21-delta²)/n).
func TestTangoKnownValues(t *testing.T) {
	lo, hi := Tango(7, 1, 44, zTruth95) // delta = (7-1)/44 = 0.136
	wlo, whi := Tango(500, 300, 10000, zTruth95)
	d, se := 0.02, math.Sqrt((0.08-0.0004)/10000)
	if math.Abs(wlo-(d-zTruth95*se)) > 5e-4 || math.Abs(whi-(d+zTruth95*se)) > 5e-4 {
		t.Errorf("Tango(500,300,10000) = [%v %v], want about Wald's [%v %v]", wlo, whi, d-zTruth95*se, d+zTruth95*se)
	}
	l2, h2 := Tango(1, 7, 44, zTruth95)
	if math.Abs(l2+hi) > 1e-9 || math.Abs(h2+lo) > 1e-9 {
		t.Errorf("not symmetric: [%v %v] vs [%v %v]", lo, hi, l2, h2)
	}
	if !(lo < 6.0/44 && 6.0/44 < hi) {
		t.Errorf("estimate outside its interval [%v %v]", lo, hi)
	}
	if lo, hi := Tango(0, 0, 50, zTruth95); !(lo < 0 && hi > 0 && hi < 0.1) {
		t.Errorf("no discordant pairs in 50: [%v %v], want a small interval around 0", lo, hi)
	}
	if lo, hi := Tango(30, 0, 30, zTruth95); hi != 1 || lo < 0.7 {
		t.Errorf("all 30 pairs won by the candidate: [%v %v]", lo, hi)
	}
}

// TestAccuracyDisagreementsOnly: labels on the disagreements alone give the same delta and
// interval as labels on everything, and no accuracies.
func TestAccuracyDisagreementsOnly(t *testing.T) {
	var all, dis Tally
	add := func(n int, differ, p, c bool) {
		pairs(&all, n, differ, p, c)
		for range n {
			dis.Add(1, differ, differ, p, c)
		}
	}
	add(900, false, true, true)
	add(40, false, false, false)
	add(25, true, true, false)
	add(30, true, false, true)
	add(5, true, false, false)
	a, d := all.Estimate(), dis.Estimate()
	if *a.AccuracyDelta != *d.AccuracyDelta || *a.AccuracyDeltaCI95 != *d.AccuracyDeltaCI95 {
		t.Fatalf("delta %v %v from all labels, %v %v from disagreements only", *a.AccuracyDelta, *a.AccuracyDeltaCI95, *d.AccuracyDelta, *d.AccuracyDeltaCI95)
	}
	if *d.AccuracyDelta != 0.005 {
		t.Errorf("delta %v, want (30-25)/1000", *d.AccuracyDelta)
	}
	if d.PrimaryAccuracy != nil || d.Note == "" {
		t.Errorf("accuracy %v without labeled agreements, note %q", d.PrimaryAccuracy, d.Note)
	}
	var none Tally
	none.Add(1, true, false, false, false)
	if e := none.Estimate(); e.AccuracyDelta != nil || e.Verdict != VerdictNotEnough {
		t.Errorf("no labels: %+v", e)
	}
}

// TestAccuracyWeighted: agreements recorded at 1% (weight 100) stand for 100 requests each.
func TestAccuracyWeighted(t *testing.T) {
	var tl Tally
	for range 10 { // 1,000 agreements, both right
		tl.Add(100, false, true, true, true)
	}
	for range 20 { // 20 disagreements the candidate wins
		tl.Add(1, true, true, false, true)
	}
	a := tl.Estimate()
	if *a.AccuracyDelta != round6(20.0/1020) || *a.PrimaryAccuracy != round6(1000.0/1020) || *a.CandidateAccuracy != 1 {
		t.Errorf("weighted: %+v", a)
	}
	if a.Verdict != VerdictCandidateBetter {
		t.Errorf("verdict %q, interval %v", a.Verdict, *a.AccuracyDeltaCI95)
	}
}

// TestAccuracyCoverage simulates traffic where the candidate is slightly better, recorded and
// labeled in the ways the README recommends, and checks that the 95% intervals cover the true
// accuracies and delta in about 95% of runs (at least 93%, three standard errors below, over 1,000).
func TestAccuracyCoverage(t *testing.T) {
	const (
		runs     = 1000
		requests = 1500
		pDiffer  = 0.15
		// Among disagreements: the candidate wins, the primary wins, else both are wrong.
		cWins, pWins = 0.55, 0.35
		// Among agreements: both right.
		bothRight = 0.9
	)
	trueDelta := pDiffer * (cWins - pWins)
	truePrimary := (1-pDiffer)*bothRight + pDiffer*pWins
	trueCandidate := (1-pDiffer)*bothRight + pDiffer*cWins
	scenarios := []struct {
		name string
		// agreeShare is the share of agreements recorded; labelAgree and labelDiffer the share of
		// recorded agreements and disagreements labeled.
		agreeShare, labelAgree, labelDiffer float64
		accuracies                          bool
	}{
		{"everything recorded and labeled", 1, 1, 1, true},
		{"agreements at 10%, disagreements labeled", 0.1, 0, 1, false},
		{"agreements at 10%, half the disagreements labeled", 0.1, 0, 0.5, false},
		{"agreements at 20%, a third of them and all disagreements labeled", 0.2, 0.33, 1, true},
	}
	rng := rand.New(rand.NewPCG(20261201, 15))
	for _, sc := range scenarios {
		t.Run(sc.name, func(t *testing.T) {
			var missDelta, missP, missC, width int
			var widthSum float64
			for range runs {
				var tl Tally
				for range requests {
					differ := rng.Float64() < pDiffer
					var p, c bool
					weight := 1.0
					labeled := false
					if differ {
						u := rng.Float64()
						p, c = u >= cWins && u < cWins+pWins, u < cWins
						labeled = rng.Float64() < sc.labelDiffer
					} else {
						if rng.Float64() >= sc.agreeShare {
							continue // not recorded
						}
						weight = 1 / sc.agreeShare
						p = rng.Float64() < bothRight
						c = p
						labeled = rng.Float64() < sc.labelAgree
					}
					tl.Add(weight, differ, labeled, p, c)
				}
				a := tl.Estimate()
				if a.AccuracyDelta == nil {
					t.Fatalf("no delta: %+v", a)
				}
				if ci := *a.AccuracyDeltaCI95; trueDelta < ci[0] || trueDelta > ci[1] {
					missDelta++
				}
				widthSum += a.AccuracyDeltaCI95[1] - a.AccuracyDeltaCI95[0]
				width++
				if !sc.accuracies {
					continue
				}
				if a.PrimaryAccuracy == nil {
					t.Fatalf("no accuracy: %+v", a)
				}
				if ci := *a.PrimaryAccuracyCI95; truePrimary < ci[0] || truePrimary > ci[1] {
					missP++
				}
				if ci := *a.CandidateAccuracyCI95; trueCandidate < ci[0] || trueCandidate > ci[1] {
					missC++
				}
			}
			limit := 0.05 + 3*math.Sqrt(0.05*0.95/runs)
			accs := "not estimated (no labeled agreements)"
			if sc.accuracies {
				accs = fmt.Sprintf("primary %.1f%%, candidate %.1f%%", 100*float64(missP)/runs, 100*float64(missC)/runs)
			}
			t.Logf("missed: delta %.1f%% (mean width %.4f); accuracies %s", 100*float64(missDelta)/runs, widthSum/float64(width), accs)
			for what, miss := range map[string]int{"delta": missDelta, "primary accuracy": missP, "candidate accuracy": missC} {
				if r := float64(miss) / runs; r > limit {
					t.Errorf("%s: the 95%% interval missed the truth in %.1f%% of runs", what, 100*r)
				}
			}
		})
	}
}
