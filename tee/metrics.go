package tee

import (
	"sync"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/shadowproxy/shadowproxy/compare"
)

// Shadow outcomes (the outcome label of shadowproxy_shadow_requests_total).
const (
	outcomeOK = iota
	outcomeError
	outcomeTimeout
	outcomeDropped
	outcomeSampledOut
	numOutcomes
)

var outcomeLabels = [numOutcomes]string{"ok", "error", "timeout", "dropped", "sampled_out"}

// Drop reasons (the reason label of shadowproxy_shadow_drops_total).
const (
	dropQueueFull    = "queue_full"
	dropBodyTooLarge = "body_too_large"
	dropShutdown     = "shutdown"
)

// numResults is the number of compare.Outcome values.
const numResults = int(compare.ShapeMismatch) + 1

// Metrics are the tee's Prometheus metrics. Create them once per process with NewMetrics and pass
// them to every Tee: they outlive config reloads, so counters continue across a reload and a field
// keeps its series. The counts behind /status are Stats.
type Metrics struct {
	shadows     *prometheus.CounterVec
	drops       *prometheus.CounterVec
	comparisons *prometheus.CounterVec
	predictions *prometheus.CounterVec
	fields      *prometheus.CounterVec
	chaos       *prometheus.CounterVec
	noise       *prometheus.CounterVec
	rewrites    *prometheus.CounterVec
	upstream    prometheus.ObserverVec

	mu     sync.Mutex
	live   map[*candidate]struct{} // read at scrape time: queue depths, latency deltas
	series map[statsKey]*fieldSeries
}

// NewMetrics registers the tee's metrics on reg. upstream is the shared
// shadowproxy_upstream_duration_seconds{route,role,target} histogram (the proxy registers it); when nil,
// candidate latencies are not exported as a histogram.
func NewMetrics(reg prometheus.Registerer, upstream prometheus.ObserverVec) *Metrics {
	m := &Metrics{
		shadows: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "shadowproxy_shadow_requests_total",
			Help: "Shadow requests by outcome: ok, error, timeout, dropped, sampled_out.",
		}, []string{"route", "candidate", "outcome"}),
		drops: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "shadowproxy_shadow_drops_total",
			Help: "Dropped shadows by reason: queue_full, body_too_large, shutdown.",
		}, []string{"route", "candidate", "reason"}),
		comparisons: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "shadowproxy_comparisons_total",
			Help: "Comparisons of candidate and primary answers by result.",
		}, []string{"route", "candidate", "result"}),
		predictions: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "shadowproxy_predictions_total",
			Help: "Individual predictions (instances of a batch) compared, by result: agree, disagree.",
		}, []string{"route", "candidate", "result"}),
		fields: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "shadowproxy_field_disagreements_total",
			Help: "Disagreeing fields: the most frequent (at most field_labels per candidate) have their own series, the rest are counted as other.",
		}, []string{"route", "candidate", "field"}),
		chaos: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "shadowproxy_chaos_injected_total",
			Help: "Faults injected into candidate answers by chaos drills, by kind: latency, error, flip, perturb.",
		}, []string{"route", "candidate", "kind"}),
		noise: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "shadowproxy_noise_filtered_total",
			Help: "Disagreements reclassified as agreements because every differing field is noise (primary vs secondary).",
		}, []string{"route", "candidate"}),
		rewrites: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "shadowproxy_shadow_rewrites_total",
			Help: "Shadow requests rewritten for their candidate, by result: ok, not_applicable (sent unchanged: the path lacks the prefix, or the gRPC method is not known), error (sent unchanged: the body is not JSON or lacks the path).",
		}, []string{"route", "candidate", "result"}),
		upstream: upstream,
		live:     make(map[*candidate]struct{}),
		series:   make(map[statsKey]*fieldSeries),
	}
	reg.MustRegister(m.shadows, m.drops, m.comparisons, m.predictions, m.fields, m.chaos, m.noise, m.rewrites, (*collector)(m))
	return m
}

// fieldSeriesFor returns the field series of one candidate of one route, creating them on first use.
func (m *Metrics) fieldSeriesFor(route, cand string, fieldLabels int) *fieldSeries {
	m.mu.Lock()
	defer m.mu.Unlock()
	k := statsKey{route, cand}
	f, ok := m.series[k]
	if !ok {
		f = &fieldSeries{vec: m.fields, route: route, candidate: cand, labels: newFieldLabels(fieldLabels)}
		m.series[k] = f
	}
	return f
}

func (m *Metrics) addLive(c *candidate) {
	m.mu.Lock()
	m.live[c] = struct{}{}
	m.mu.Unlock()
}

func (m *Metrics) removeLive(c *candidate) {
	m.mu.Lock()
	delete(m.live, c)
	m.mu.Unlock()
}

// collector exports values read at scrape time: queue depths and paired latency quantiles.
type collector Metrics

var (
	queueDepthDesc = prometheus.NewDesc("shadowproxy_tee_queue_depth",
		"Shadows waiting in the candidate's queue.", []string{"candidate"}, nil)
	latencyDeltaDesc = prometheus.NewDesc("shadowproxy_paired_latency_delta_seconds",
		"Per-request latency difference, candidate minus primary, since start (DDSketch quantiles, 1% relative accuracy).",
		[]string{"route", "candidate"}, nil)
)

var deltaQuantiles = [...]struct{ q float64 }{{0.5}, {0.95}, {0.99}}

// Describe implements prometheus.Collector.
func (c *collector) Describe(ch chan<- *prometheus.Desc) {
	ch <- queueDepthDesc
	ch <- latencyDeltaDesc
}

// Collect implements prometheus.Collector.
func (c *collector) Collect(ch chan<- prometheus.Metric) {
	c.mu.Lock()
	depth := make(map[string]int, len(c.live))
	// A candidate kept by a reload is live twice while the old pipeline drains; both share its stats.
	stats := make(map[statsKey]*candidateStats, len(c.live))
	for cand := range c.live {
		depth[cand.name] += len(cand.queue)
		stats[statsKey{cand.route, cand.name}] = cand.stats
	}
	c.mu.Unlock()
	for name, d := range depth {
		ch <- prometheus.MustNewConstMetric(queueDepthDesc, prometheus.GaugeValue, float64(d), name)
	}
	for k, s := range stats {
		qs, ok := s.deltaQuantiles()
		if !ok {
			continue
		}
		s.mu.Lock()
		count, sum := s.delta.GetCount(), s.delta.GetSum()
		s.mu.Unlock()
		quantiles := make(map[float64]float64, len(qs))
		for i, q := range deltaQuantiles {
			quantiles[q.q] = qs[i]
		}
		ch <- prometheus.MustNewConstSummary(latencyDeltaDesc, uint64(count), sum, quantiles, k.route, k.candidate)
	}
}
