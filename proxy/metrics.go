package proxy

import (
	"strconv"
	"sync"
	"sync/atomic"

	"github.com/prometheus/client_golang/prometheus"
)

// Metrics are the proxy's Prometheus metrics. Create them once per process with NewMetrics; servers and
// route tables rebuilt by config reloads share them.
type Metrics struct {
	requests *prometheus.CounterVec
	// Upstream is shadowproxy_upstream_duration_seconds{route,role,target}; the proxy observes the
	// primary (role="primary"), and the tee shares it for candidates.
	Upstream *prometheus.HistogramVec

	mu     sync.Mutex
	byName map[string]*codeCounters
}

// UpstreamBuckets are the latency buckets, from 250µs (a model on loopback) to 10s.
var UpstreamBuckets = []float64{0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10}

// NewMetrics registers the proxy's metrics on reg.
func NewMetrics(reg prometheus.Registerer) *Metrics {
	m := &Metrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "shadowproxy_requests_total",
			Help: "Client requests by route and status code returned (route \"none\" when no route matched).",
		}, []string{"route", "code"}),
		Upstream: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "shadowproxy_upstream_duration_seconds",
			Help:    "Round trips to model servers by route, role (primary, candidate, secondary) and target.",
			Buckets: UpstreamBuckets,
		}, []string{"route", "role", "target"}),
		byName: make(map[string]*codeCounters),
	}
	reg.MustRegister(m.requests, m.Upstream)
	return m
}

// noRoute is the route label of requests no route matched.
const noRoute = "none"

// codeCounters caches one route's requests_total children by status code, so the hot path does no
// label lookup.
type codeCounters struct {
	vec   *prometheus.CounterVec
	route string
	by    [600]atomic.Pointer[prometheus.Counter]
}

func (m *Metrics) codes(route string) *codeCounters {
	m.mu.Lock()
	defer m.mu.Unlock()
	c, ok := m.byName[route]
	if !ok {
		c = &codeCounters{vec: m.requests, route: route}
		m.byName[route] = c
	}
	return c
}

func (c *codeCounters) inc(code int) {
	if code < 0 || code >= len(c.by) {
		c.vec.WithLabelValues(c.route, strconv.Itoa(code)).Inc()
		return
	}
	p := c.by[code].Load()
	if p == nil {
		ctr := c.vec.WithLabelValues(c.route, strconv.Itoa(code))
		p = &ctr
		c.by[code].Store(p)
	}
	(*p).Inc()
}
