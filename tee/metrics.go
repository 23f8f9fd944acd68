package tee

import (
	"sync"
	"sync/atomic"

	"github.com/DataDog/sketches-go/ddsketch"
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

// Metrics are the tee's Prometheus metrics and the per-candidate statistics behind /status. Create them
// once per process with NewMetrics and pass them to every Tee: they outlive config reloads, so counts
// continue across a reload.
type Metrics struct {
	shadows     *prometheus.CounterVec
	drops       *prometheus.CounterVec
	comparisons *prometheus.CounterVec
	predictions *prometheus.CounterVec
	fields      *prometheus.CounterVec
	chaos       *prometheus.CounterVec
	noise       *prometheus.CounterVec
	upstream    prometheus.ObserverVec

	mu    sync.Mutex
	live  map[*candidate]struct{}
	stats map[statsKey]*Stats
}

type statsKey struct{ route, candidate string }

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
		upstream: upstream,
		live:     make(map[*candidate]struct{}),
		stats:    make(map[statsKey]*Stats),
	}
	reg.MustRegister(m.shadows, m.drops, m.comparisons, m.predictions, m.fields, m.chaos, m.noise, (*collector)(m))
	return m
}

// statsFor returns the statistics of one candidate of one route, creating them on first use.
func (m *Metrics) statsFor(route, cand string, fieldLabels int) *Stats {
	m.mu.Lock()
	defer m.mu.Unlock()
	k := statsKey{route, cand}
	s, ok := m.stats[k]
	if !ok {
		s = newStats(fieldLabels)
		m.stats[k] = s
	}
	return s
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
	for cand := range c.live {
		depth[cand.name] += len(cand.queue)
	}
	stats := make(map[statsKey]*Stats, len(c.stats))
	for k, s := range c.stats {
		stats[k] = s
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

// Stats are one candidate's running counts, kept for /status.
type Stats struct {
	shadows      [numOutcomes]atomic.Int64
	results      [numResults]atomic.Int64
	predAgree    atomic.Int64
	predDisagree atomic.Int64

	mu sync.Mutex
	// delta holds candidate minus primary latency in seconds; bounded to 2048 bins per sign.
	delta *ddsketch.DDSketch
	// recorded sums the weights of recorded agreements and disagreements (the unbiased estimate).
	recordedAgree, recordedDisagree float64
	fields                          fieldLabels
}

func newStats(fieldLabels int) *Stats {
	sk, err := ddsketch.LogCollapsingLowestDenseDDSketch(0.01, 2048)
	if err != nil {
		panic(err) // constant arguments: cannot fail
	}
	return &Stats{delta: sk, fields: newFieldLabels(fieldLabels)}
}

func (s *Stats) addDelta(seconds float64) {
	s.mu.Lock()
	_ = s.delta.Add(seconds)
	s.mu.Unlock()
}

func (s *Stats) addRecorded(disagree bool, weight float64) {
	s.mu.Lock()
	if disagree {
		s.recordedDisagree += weight
	} else {
		s.recordedAgree += weight
	}
	s.mu.Unlock()
}

func (s *Stats) deltaQuantiles() ([len(deltaQuantiles)]float64, bool) {
	var out [len(deltaQuantiles)]float64
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.delta.IsEmpty() {
		return out, false
	}
	for i, q := range deltaQuantiles {
		v, err := s.delta.GetValueAtQuantile(q.q)
		if err != nil {
			return out, false
		}
		out[i] = v
	}
	return out, true
}
