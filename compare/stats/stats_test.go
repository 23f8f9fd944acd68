package stats

import (
	"math"
	"math/rand/v2"
	"os"
	"regexp"
	"strconv"
	"testing"
)

const z95 = 1.959963984540054

// TestWilsonPublishedValues checks the score interval against Newcombe, "Two-sided confidence
// intervals for the single proportion: comparison of seven methods", Statistics in Medicine 17 (1998),
// Table II, method 3 (score interval without continuity correction).
func TestWilsonPublishedValues(t *testing.T) {
	tests := []struct {
		s, n   int64
		lo, hi float64
	}{
		{81, 263, 0.2553, 0.3662},
		{15, 148, 0.0624, 0.1605},
		{0, 20, 0, 0.1611},
		{1, 29, 0.0061, 0.1718},
	}
	for _, tt := range tests {
		lo, hi := Wilson(tt.s, tt.n, z95)
		if math.Abs(lo-tt.lo) > 5e-5 || math.Abs(hi-tt.hi) > 5e-5 {
			t.Errorf("Wilson(%d/%d) = [%.4f, %.4f], want [%.4f, %.4f]", tt.s, tt.n, lo, hi, tt.lo, tt.hi)
		}
	}
}

func TestIntervalEdges(t *testing.T) {
	for _, f := range []struct {
		name string
		fn   func(s, n int64) (float64, float64)
	}{
		{"wilson", func(s, n int64) (float64, float64) { return Wilson(s, n, z95) }},
		{"cs", func(s, n int64) (float64, float64) { return ConfidenceSequence(s, n, 0.05) }},
	} {
		t.Run(f.name, func(t *testing.T) {
			if lo, hi := f.fn(0, 0); lo != 0 || hi != 1 {
				t.Errorf("n=0: [%v, %v], want [0, 1]", lo, hi)
			}
			if lo, _ := f.fn(0, 100); lo != 0 {
				t.Errorf("0/100: lower bound %v, want 0", lo)
			}
			if _, hi := f.fn(100, 100); hi != 1 {
				t.Errorf("100/100: upper bound %v, want 1", hi)
			}
			for _, c := range [][2]int64{{1, 10}, {50, 1000}, {999, 1000}} {
				lo, hi := f.fn(c[0], c[1])
				p := float64(c[0]) / float64(c[1])
				if !(0 <= lo && lo <= p && p <= hi && hi <= 1) {
					t.Errorf("%d/%d: [%v, %v] does not hold the estimate %v", c[0], c[1], lo, hi, p)
				}
			}
		})
	}
}

// TestConfidenceSequenceBoundary checks that the returned ends are where the mixture martingale crosses
// 1/alpha, and that the sequence is wider than the fixed-n interval.
func TestConfidenceSequenceBoundary(t *testing.T) {
	for _, c := range [][2]int64{{5, 100}, {50, 1000}, {450, 9000}, {3, 30000}} {
		lo, hi := ConfidenceSequence(c[0], c[1], 0.05)
		if Excluded(c[0], c[1], lo*(1+1e-6), 0.05) || !Excluded(c[0], c[1], lo*(1-1e-6), 0.05) {
			t.Errorf("%v: lower end %v is not the boundary", c, lo)
		}
		if Excluded(c[0], c[1], hi*(1-1e-6), 0.05) || !Excluded(c[0], c[1], hi*(1+1e-6), 0.05) {
			t.Errorf("%v: upper end %v is not the boundary", c, hi)
		}
		wlo, whi := Wilson(c[0], c[1], z95)
		if lo > wlo || hi < whi {
			t.Errorf("%v: sequence [%v, %v] narrower than Wilson [%v, %v]", c, lo, hi, wlo, whi)
		}
	}
}

// TestCoverageUnderContinuousMonitoring simulates a disagreement rate watched after every comparison.
// Checking a fixed-n interval each time misses the true rate at some point in far more than 5% of
// runs; the confidence sequence misses it in at most about 5%.
func TestCoverageUnderContinuousMonitoring(t *testing.T) {
	const (
		p     = 0.05
		runs  = 300
		steps = 3000
		from  = 30
	)
	rng := rand.New(rand.NewPCG(20261122, 7))
	wilsonMissed, csMissed := 0, 0
	for range runs {
		var s int64
		wMiss, cMiss := false, false
		for n := int64(1); n <= steps; n++ {
			if rng.Float64() < p {
				s++
			}
			if n < from {
				continue
			}
			if !wMiss {
				if lo, hi := Wilson(s, n, z95); p < lo || p > hi {
					wMiss = true
				}
			}
			if !cMiss && Excluded(s, n, p, 0.05) {
				cMiss = true
			}
			if wMiss && cMiss {
				break
			}
		}
		if wMiss {
			wilsonMissed++
		}
		if cMiss {
			csMissed++
		}
	}
	wRate, cRate := float64(wilsonMissed)/runs, float64(csMissed)/runs
	t.Logf("ever outside the interval: Wilson %.1f%%, confidence sequence %.1f%%", wRate*100, cRate*100)
	if wRate < 0.2 {
		t.Errorf("Wilson checked continuously missed in %.1f%% of runs; the simulation should show it far above 5%%", wRate*100)
	}
	// 5% plus three standard errors of a share estimated from 300 runs.
	if cRate > 0.05+3*math.Sqrt(0.05*0.95/runs) {
		t.Errorf("confidence sequence missed in %.1f%% of runs, want at most about 5%%", cRate*100)
	}
}

func TestVerdict(t *testing.T) {
	tests := []struct {
		name        string
		dis, n      int64
		threshold   float64
		want        string
		wantSamples bool
	}{
		{"clearly below", 10, 10000, 0.01, VerdictPromote, false},
		{"clearly above", 500, 5000, 0.05, VerdictStop, false},
		{"too early", 1, 50, 0.05, VerdictWatch, true},
		{"no data", 0, 0, 0.05, VerdictWatch, true},
		{"at the threshold", 50, 1000, 0.05, VerdictWatch, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := Verdict(tt.dis, tt.n, tt.threshold, 0.05)
			if d.Decision != tt.want || (d.SamplesNeeded != nil) != tt.wantSamples {
				t.Fatalf("Verdict = %+v", d)
			}
			if d.SamplesNeeded == nil {
				return
			}
			// Projected forward at the same rate, that many more samples decide, and fewer do not.
			total := tt.n + *d.SamplesNeeded
			rate := 0.0
			if tt.n > 0 {
				rate = float64(tt.dis) / float64(tt.n)
			}
			if got := Verdict(int64(math.Round(rate*float64(total))), total, tt.threshold, 0.05); got.Decision == VerdictWatch {
				t.Errorf("after %d more samples still undecided", *d.SamplesNeeded)
			}
		})
	}
}

func BenchmarkConfidenceSequence(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		ConfidenceSequence(450, 9000, 0.05)
	}
}

func BenchmarkVerdict(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		Verdict(30, 1000, 0.05, 0.05)
	}
}

// TestPromtoolExpectationsAreWilson keeps the recording rules' promtool test honest: the bounds it
// expects for 25 of 500 and 0 of 500 must be the ones Wilson computes.
func TestPromtoolExpectationsAreWilson(t *testing.T) {
	data, err := os.ReadFile("../../configs/prometheus/shadowproxy.rules_test.yml")
	if err != nil {
		t.Fatal(err)
	}
	expect := func(series string) float64 {
		re := regexp.MustCompile(regexp.QuoteMeta(series) + `'\s*\n\s*value:\s*(\S+)`)
		m := re.FindSubmatch(data)
		if m == nil {
			t.Fatalf("no expectation for %s", series)
		}
		v, err := strconv.ParseFloat(string(m[1]), 64)
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
	for _, c := range []struct {
		cand string
		s, n int64
	}{{"iris-v2", 25, 500}, {"iris-v3", 0, 500}} {
		lo, hi := Wilson(c.s, c.n, z95)
		gotLo := expect(`shadowproxy:disagreement_wilson_lower:5m{route="iris",candidate="` + c.cand + `"}`)
		gotHi := expect(`shadowproxy:disagreement_wilson_upper:5m{route="iris",candidate="` + c.cand + `"}`)
		if math.Abs(gotLo-lo) > 1e-12 || math.Abs(gotHi-hi) > 1e-12 {
			t.Errorf("%d/%d: promtool test expects [%v, %v], Wilson gives [%v, %v]", c.s, c.n, gotLo, gotHi, lo, hi)
		}
	}
}

func TestSignificant(t *testing.T) {
	tests := []struct {
		name       string
		cand, nois float64
		want       bool
	}{
		{"no noise, above absolute", 0.01, 0, true},
		{"below absolute margin", 0.0002, 0, false},
		{"equal to noise", 0.05, 0.05, false},
		{"less than noise", 0.01, 0.05, false},
		{"within relative margin", 0.055, 0.05, false}, // 0.005/0.105 = 4.8%
		{"beyond relative margin", 0.08, 0.05, true},   // 0.03/0.13 = 23%
		{"both zero", 0, 0, false},
		{"NaN", math.NaN(), 0, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := Significant(tt.cand, tt.nois, DefaultRelMargin, DefaultAbsMargin); got != tt.want {
				t.Errorf("Significant(%v, %v) = %v, want %v", tt.cand, tt.nois, got, tt.want)
			}
		})
	}
}
