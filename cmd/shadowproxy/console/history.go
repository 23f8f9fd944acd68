package console

import (
	"sync"
	"time"

	"github.com/shadowproxy/shadowproxy/tee"
)

// Point is one sample of a candidate's running counts and rate (all since process start, as in
// /status).
type Point struct {
	Time             time.Time  `json:"time"`
	Agree            int64      `json:"agree"`
	Disagree         int64      `json:"disagree"`
	DisagreementRate float64    `json:"disagreement_rate"`
	CI95             [2]float64 `json:"ci95"`
	CS95             [2]float64 `json:"cs95"`
	// Live marks the point taken at the request rather than by the sampler.
	Live bool `json:"live,omitempty"`
}

// Series is one candidate's points, oldest first.
type Series struct {
	Route     string  `json:"route"`
	Candidate string  `json:"candidate"`
	Points    []Point `json:"points"`
}

type seriesKey struct{ route, candidate string }

// History keeps each candidate's points for Span, at most Span/Step+1 of them in a ring, so its
// memory is bounded by the number of candidates whatever the uptime. A candidate that leaves the
// config (a reload) keeps its points until they are older than Span. It is safe for concurrent use.
type History struct {
	step, span time.Duration
	max        int

	mu     sync.Mutex
	series map[seriesKey]*ring
	order  []seriesKey // first seen first, for a stable answer
}

type ring struct {
	buf  []Point
	next int
	n    int
}

// NewHistory keeps points for span, one per step.
func NewHistory(step, span time.Duration) *History {
	return &History{step: step, span: span, max: int(span/step) + 1, series: make(map[seriesKey]*ring)}
}

// Add records a point per candidate of routes, taken at now.
func (h *History) Add(now time.Time, routes []tee.RouteStatus) {
	h.mu.Lock()
	defer h.mu.Unlock()
	for _, r := range routes {
		for _, c := range r.Candidates {
			k := seriesKey{r.Name, c.Name}
			s, ok := h.series[k]
			if !ok {
				s = &ring{buf: make([]Point, h.max)}
				h.series[k] = s
				h.order = append(h.order, k)
			}
			s.buf[s.next] = point(now, c)
			s.next = (s.next + 1) % len(s.buf)
			s.n = min(s.n+1, len(s.buf))
		}
	}
	h.prune(now)
}

// prune forgets the series whose newest point is older than span. Callers hold mu.
func (h *History) prune(now time.Time) {
	keep := h.order[:0]
	for _, k := range h.order {
		s := h.series[k]
		if now.Sub(s.buf[(s.next-1+len(s.buf))%len(s.buf)].Time) > h.span {
			delete(h.series, k)
			continue
		}
		keep = append(keep, k)
	}
	h.order = keep
}

// Snapshot returns every series' points within span of now and after since (all of them when since
// is zero), oldest first, each followed by a point taken now from live (so the plot reaches the
// present between two samples); a candidate of live without history yet gets that one point.
func (h *History) Snapshot(now, since time.Time, live []tee.RouteStatus) []Series {
	h.mu.Lock()
	defer h.mu.Unlock()
	current := make(map[seriesKey]Point)
	var fresh []seriesKey
	for _, r := range live {
		for _, c := range r.Candidates {
			k := seriesKey{r.Name, c.Name}
			p := point(now, c)
			p.Live = true
			current[k] = p
			if _, ok := h.series[k]; !ok {
				fresh = append(fresh, k)
			}
		}
	}
	out := make([]Series, 0, len(h.order)+len(fresh))
	for _, k := range h.order {
		s := h.series[k]
		pts := make([]Point, 0, s.n+1)
		for i := s.n; i > 0; i-- {
			p := s.buf[(s.next-i+len(s.buf))%len(s.buf)]
			if now.Sub(p.Time) <= h.span && p.Time.After(since) {
				pts = append(pts, p)
			}
		}
		if p, ok := current[k]; ok {
			pts = append(pts, p)
		}
		out = append(out, Series{Route: k.route, Candidate: k.candidate, Points: pts})
	}
	for _, k := range fresh {
		out = append(out, Series{Route: k.route, Candidate: k.candidate, Points: []Point{current[k]}})
	}
	return out
}

func point(t time.Time, c tee.CandidateStatus) Point {
	return Point{
		Time:             t.UTC().Truncate(time.Millisecond),
		Agree:            c.Comparisons["agree"],
		Disagree:         c.Comparisons["disagree"],
		DisagreementRate: c.DisagreementRate,
		CI95:             c.CI95,
		CS95:             c.CS95,
	}
}
