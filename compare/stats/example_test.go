package stats_test

import (
	"fmt"

	"github.com/shadowproxy/shadowproxy/compare/stats"
)

func ExampleSignificant() {
	// The candidate differs on 8% of requests in a field where two production instances already
	// differ on 5% (noise): significant. At 5.5% it would not be.
	fmt.Println(stats.Significant(0.08, 0.05, stats.DefaultRelMargin, stats.DefaultAbsMargin))
	fmt.Println(stats.Significant(0.055, 0.05, stats.DefaultRelMargin, stats.DefaultAbsMargin))
	// Output:
	// true
	// false
}

func ExampleVerdict() {
	// 10 disagreements in 2,000 comparisons against a goal of less than 5%: the always-valid 95%
	// confidence sequence lies below it. 30 in 1,000 is not yet conclusive.
	fmt.Println(stats.Verdict(10, 2000, 0.05, 0.05).Decision)
	d := stats.Verdict(30, 1000, 0.05, 0.05)
	fmt.Println(d.Decision, d.SamplesNeeded != nil)
	// Output:
	// promote
	// keep watching true
}

// Labels on the disagreements alone give the accuracy difference: where both models give the same
// value they are both right or both wrong. Here 1,000 comparisons, 40 of which differ; of those the
// candidate is right on 25 and the primary on 10.
func ExampleTally() {
	var t stats.Tally
	for i := range 1000 {
		differ := i < 40
		labeled := differ // only the disagreements are labeled
		t.Add(1, differ, labeled, differ && i >= 25 && i < 35, differ && i < 25)
	}
	a := t.Estimate()
	fmt.Printf("delta %+.3f, 95%% interval [%+.3f, %+.3f], %s\n", *a.AccuracyDelta, a.AccuracyDeltaCI95[0], a.AccuracyDeltaCI95[1], a.Verdict)
	fmt.Println(a.PrimaryAccuracy == nil, a.Note != "")
	// Output:
	// delta +0.015, 95% interval [+0.004, +0.028], candidate better
	// true true
}
