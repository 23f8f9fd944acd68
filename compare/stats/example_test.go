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
