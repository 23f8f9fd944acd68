package tee

import (
	"math"

	"github.com/shadowproxy/shadowproxy/compare"
	"github.com/shadowproxy/shadowproxy/compare/stats"
)

// z95 is the standard normal quantile of a two-sided 95% interval.
const z95 = 1.959963984540054

// RouteStatus is one route's entry in /status.
type RouteStatus struct {
	Name       string            `json:"name"`
	Candidates []CandidateStatus `json:"candidates"`
	// Rules are the route's compare rules and how often each applied (absent without rules).
	Rules []RuleStatus `json:"rules,omitempty"`
}

// CandidateStatus is one candidate's entry in /status. Counts run from process start and survive
// config reloads.
type CandidateStatus struct {
	Name        string           `json:"name"`
	Shadows     map[string]int64 `json:"shadows"`
	Comparisons map[string]int64 `json:"comparisons"`
	// DisagreementRate is disagree / (agree + disagree); CI95 its Wilson score interval (valid for one
	// look at a fixed n) and CS95 an always-valid 95% confidence sequence (valid however often it is
	// looked at).
	DisagreementRate float64    `json:"disagreement_rate"`
	CI95             [2]float64 `json:"ci95"`
	CS95             [2]float64 `json:"cs95"`
	// Predictions is the same per prediction (one instance of a batch).
	Predictions RateStatus `json:"predictions"`
	// WeightedEstimate is the disagreement rate estimated from the records alone, each weighted by
	// 1/(its recording share): what a consumer of the sink can compute. Null before any record.
	WeightedEstimate *float64 `json:"weighted_estimate"`
	// LatencyDeltaMS are quantiles of the per-request latency difference, candidate minus primary.
	LatencyDeltaMS *Quantiles `json:"latency_delta_ms"`
	// Verdict is present when the candidate has a promote_when goal.
	Verdict *stats.Decision `json:"verdict,omitempty"`
	// TopFields are the fields that disagree most (the labeled fields of
	// shadowproxy_field_disagreements_total), most frequent first.
	TopFields []FieldStatus `json:"top_fields"`
	// Chaos is present while chaos injection is on for the candidate.
	Chaos *ChaosStatus `json:"chaos,omitempty"`
	// Truth is what ground-truth labels say of the candidate against the primary (the fields of
	// `shadowproxy score`); present on routes with truth.prediction.
	Truth *stats.Accuracy `json:"truth,omitempty"`
}

// RateStatus is an agree/disagree count with its rate and intervals.
type RateStatus struct {
	Agree            int64      `json:"agree"`
	Disagree         int64      `json:"disagree"`
	DisagreementRate float64    `json:"disagreement_rate"`
	CI95             [2]float64 `json:"ci95"`
	CS95             [2]float64 `json:"cs95"`
}

// Quantiles of a latency difference in milliseconds.
type Quantiles struct {
	P50 float64 `json:"p50"`
	P95 float64 `json:"p95"`
	P99 float64 `json:"p99"`
}

// Status reports the route's candidates.
func (t *Tee) Status() RouteStatus {
	rs := RouteStatus{Name: t.route, Candidates: make([]CandidateStatus, 0, len(t.cands)), Rules: t.rules.status()}
	for _, c := range t.cands {
		rs.Candidates = append(rs.Candidates, c.status())
	}
	return rs
}

func (c *candidate) status() CandidateStatus {
	s := c.stats
	cs := CandidateStatus{
		Name:        c.name,
		Shadows:     make(map[string]int64, numOutcomes),
		Comparisons: make(map[string]int64, numResults),
	}
	for i, l := range outcomeLabels {
		cs.Shadows[l] = s.shadows[i].Load()
	}
	for i := range numResults {
		cs.Comparisons[compare.Outcome(i).String()] = s.results[i].Load()
	}
	agree, disagree := s.results[compare.Agree].Load(), s.results[compare.Disagree].Load()
	r := rate(agree, disagree)
	cs.DisagreementRate, cs.CI95, cs.CS95 = r.DisagreementRate, r.CI95, r.CS95
	cs.Predictions = rate(s.predAgree.Load(), s.predDisagree.Load())

	s.mu.Lock()
	if w := s.recordedAgree + s.recordedDisagree; w > 0 {
		e := s.recordedDisagree / w
		cs.WeightedEstimate = &e
	}
	s.mu.Unlock()
	if qs, ok := s.deltaQuantiles(); ok {
		cs.LatencyDeltaMS = &Quantiles{P50: qs[0] * 1000, P95: qs[1] * 1000, P99: qs[2] * 1000}
	}
	if c.promoteBelow > 0 {
		d := stats.Verdict(disagree, agree+disagree, c.promoteBelow, 0.05)
		cs.Verdict = &d
	}
	cs.TopFields = c.fields.top()
	cs.Chaos = c.chaos.status()
	cs.Truth = c.truth.estimate(c.route, c.name)
	return cs
}

func rate(agree, disagree int64) RateStatus {
	r := RateStatus{Agree: agree, Disagree: disagree, CI95: [2]float64{0, 1}, CS95: [2]float64{0, 1}}
	n := agree + disagree
	if n == 0 {
		return r
	}
	r.DisagreementRate = float64(disagree) / float64(n)
	r.CI95[0], r.CI95[1] = stats.Wilson(disagree, n, z95)
	r.CS95[0], r.CS95[1] = stats.ConfidenceSequence(disagree, n, 0.05)
	for _, v := range []*float64{&r.CI95[0], &r.CI95[1], &r.CS95[0], &r.CS95[1]} {
		*v = round6(*v)
	}
	return r
}

func round6(x float64) float64 { return math.Round(x*1e6) / 1e6 }
