package tee

import (
	"math/rand/v2"
	"strings"
	"time"

	"github.com/valyala/fasthttp"

	"github.com/shadowproxy/shadowproxy/compare"
)

// Chaos injects faults into a candidate's answers before they are compared, so operators can rehearse
// that dashboards and alerts fire. The zero value injects nothing. Every injection is counted in
// shadowproxy_chaos_injected_total{kind} and named in the record's chaos field.
type Chaos struct {
	// Latency is added to every answer; Jitter adds a uniformly random extra delay in [0, Jitter).
	Latency, Jitter time.Duration
	// ErrorRate is the share of answers replaced by a 500.
	ErrorRate float64
	// FlipRate is the share of answers whose predicted label or argmax is changed (known formats).
	FlipRate float64
	// PerturbRate is the share of answers whose numbers are scaled by a random factor in
	// [1-Perturb, 1+Perturb].
	PerturbRate float64
	Perturb     float64
	// Format is the compare format used to find predictions for flips and perturbations.
	Format string
}

// ChaosStatus is a candidate's chaos settings in /status.
type ChaosStatus struct {
	LatencyMS   float64 `json:"latency_ms"`
	JitterMS    float64 `json:"jitter_ms"`
	ErrorRate   float64 `json:"error_rate"`
	FlipRate    float64 `json:"flip_rate"`
	PerturbRate float64 `json:"perturb_rate"`
	Perturb     float64 `json:"perturb"`
}

// status is nil when c injects nothing.
func (c Chaos) status() *ChaosStatus {
	if !c.enabled() {
		return nil
	}
	return &ChaosStatus{
		LatencyMS: ms(c.Latency), JitterMS: ms(c.Jitter),
		ErrorRate: c.ErrorRate, FlipRate: c.FlipRate, PerturbRate: c.PerturbRate, Perturb: c.Perturb,
	}
}

func (c Chaos) enabled() bool {
	return c.Latency > 0 || c.Jitter > 0 || c.ErrorRate > 0 || c.FlipRate > 0 || c.PerturbRate > 0
}

// injectChaos applies the candidate's chaos to resp and lat and returns the kinds injected, comma
// separated ("" when none).
func (c *candidate) injectChaos(resp *fasthttp.Response, lat *time.Duration) string {
	if !c.chaos.enabled() {
		return ""
	}
	var kinds []string
	if d := c.chaos.Latency; d > 0 || c.chaos.Jitter > 0 {
		if c.chaos.Jitter > 0 {
			d += rand.N(c.chaos.Jitter)
		}
		time.Sleep(d)
		*lat += d
		kinds = append(kinds, "latency")
	}
	switch {
	case chance(c.chaos.ErrorRate):
		resp.Reset()
		resp.SetStatusCode(fasthttp.StatusInternalServerError)
		resp.Header.SetContentType("application/json")
		resp.SetBodyString(`{"error":"shadowproxy chaos: injected failure"}`)
		kinds = append(kinds, "error")
	case chance(c.chaos.FlipRate):
		if c.mutate(resp, compare.PerturbFlip, 0) {
			kinds = append(kinds, "flip")
		}
	case chance(c.chaos.PerturbRate):
		if c.mutate(resp, compare.PerturbNoise, c.chaos.Perturb) {
			kinds = append(kinds, "perturb")
		}
	}
	for _, k := range kinds {
		c.metrics.chaos.WithLabelValues(c.route, c.name, k).Inc()
	}
	return strings.Join(kinds, ",")
}

// mutate changes the predictions in resp's body (compare.Perturb); it reports whether anything changed.
// Answers with Triton's binary tensors are left alone.
func (c *candidate) mutate(resp *fasthttp.Response, mode string, scale float64) bool {
	if jsonLength(&resp.Header) > 0 {
		return false
	}
	out, ok := compare.Perturb(resp.Body(), c.chaos.Format, mode, rand.Float64, scale)
	if ok {
		resp.SetBody(out)
	}
	return ok
}
