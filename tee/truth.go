package tee

import (
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/shadowproxy/shadowproxy/compare"
	"github.com/shadowproxy/shadowproxy/compare/stats"
)

// Label outcomes: the outcome label of shadowproxy_truth_labels_total and what Truth.Label returns.
const (
	LabelJoined    = "joined"    // it judged the comparisons of its request
	LabelLate      = "late"      // its request left the window (too old, or pushed out by max_pending)
	LabelUnknown   = "unknown"   // no comparison of its request was seen (or it came before them)
	LabelDuplicate = "duplicate" // its request was labeled already: the first label stands
	LabelMalformed = "malformed" // not a label (counted by the caller that parsed it)
)

// TruthRouteOptions configure the online join of one route.
type TruthRouteOptions struct {
	// Picker reads the value labels judge (truth.prediction). Required.
	Picker *compare.Picker
	// Window is how long a comparison waits for its label. The default is 1h.
	Window time.Duration
	// MaxPending caps the requests waiting for a label; beyond it the oldest leave the window. The
	// default is 100000.
	MaxPending int
}

// WithDefaults returns o with every default applied: the values the join runs with.
func (o TruthRouteOptions) WithDefaults() TruthRouteOptions {
	o.Window, o.MaxPending = o.window(), o.maxPending()
	return o
}

func (o TruthRouteOptions) window() time.Duration {
	if o.Window > 0 {
		return o.Window
	}
	return time.Hour
}

func (o TruthRouteOptions) maxPending() int {
	if o.MaxPending > 0 {
		return o.MaxPending
	}
	return 100000
}

// Truth joins ground-truth labels, which arrive later and keyed by request id, with the comparisons
// of a bounded window: for each request it keeps each candidate's judged values (not the answers),
// at most MaxPending requests for at most Window per route. Its counts outlive config reloads. It is
// safe for concurrent use; nothing on the client's path calls it.
type Truth struct {
	mu     sync.Mutex
	routes map[string]*truthRoute
	now    func() time.Time

	labels   *prometheus.CounterVec
	compared *prometheus.CounterVec
	judged   *prometheus.CounterVec
	correct  *prometheus.CounterVec
}

type truthRoute struct {
	name    string
	opts    TruthRouteOptions
	pending map[string]*pendingTruth
	fifo    []*pendingTruth // in arrival order; fifo[head:] are live or already removed
	head    int
	// gone holds ids that left the window, in two generations of up to MaxPending each, so a late
	// label is told from an unknown one within bounded memory.
	gone, goneOld map[string]struct{}
	tallies       map[string]*stats.Tally
}

// pendingTruth is one request waiting for its label.
type pendingTruth struct {
	id    string
	at    time.Time
	label []byte // set once labeled
	cands []judgedBy
}

type judgedBy struct {
	cand string
	j    compare.Judged
}

// NewTruth registers the truth metrics on reg.
func NewTruth(reg prometheus.Registerer) *Truth {
	t := &Truth{
		routes: map[string]*truthRoute{},
		now:    time.Now,
		labels: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "shadowproxy_truth_labels_total",
			Help: "Ground-truth labels received, by outcome: joined, late, unknown, duplicate, malformed.",
		}, []string{"route", "outcome"}),
		compared: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "shadowproxy_truth_compared_total",
			Help: "Comparisons with a judged value (truth.prediction), by whether the two values differ (judged=same|differ).",
		}, []string{"route", "candidate", "judged"}),
		judged: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "shadowproxy_truth_judged_total",
			Help: "Comparisons a label joined, by whether the two values differ (judged=same|differ).",
		}, []string{"route", "candidate", "judged"}),
		correct: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "shadowproxy_truth_correct_total",
			Help: "Labeled comparisons each model answered right (model=primary|candidate), by judged=same|differ.",
		}, []string{"route", "candidate", "judged", "model"}),
	}
	reg.MustRegister(t.labels, t.compared, t.judged, t.correct)
	return t
}

// Configure sets the routes labels join, keeping what is pending on routes that stay. Routes not in
// routes stop joining (their labels count as unknown); their counts are kept for /status.
func (t *Truth) Configure(routes map[string]TruthRouteOptions) {
	t.mu.Lock()
	defer t.mu.Unlock()
	for name, o := range routes {
		r := t.routes[name]
		if r == nil {
			r = &truthRoute{name: name, pending: map[string]*pendingTruth{}, gone: map[string]struct{}{},
				goneOld: map[string]struct{}{}, tallies: map[string]*stats.Tally{}}
			t.routes[name] = r
		}
		r.opts = o
		for _, outcome := range []string{LabelJoined, LabelLate, LabelUnknown, LabelDuplicate, LabelMalformed} {
			t.labels.WithLabelValues(name, outcome)
		}
	}
	for name, r := range t.routes {
		if _, ok := routes[name]; !ok {
			r.opts.Picker = nil
		}
	}
}

func judgedLabel(differ bool) string {
	if differ {
		return "differ"
	}
	return "same"
}

// observe keeps one comparison of request id for its label. The judged values are read here, on the
// candidate's worker.
func (t *Truth) observe(route, cand string, id []byte, primary, candidate compare.Response) {
	if t == nil || len(id) == 0 {
		return
	}
	t.mu.Lock()
	r := t.routes[route]
	var picker *compare.Picker
	if r != nil {
		picker = r.opts.Picker
	}
	t.mu.Unlock()
	if picker == nil {
		return
	}
	j, ok := picker.Judge(primary, candidate)
	if !ok {
		return
	}
	differ := j.Differ()

	t.mu.Lock()
	defer t.mu.Unlock()
	now := t.now()
	r.expire(now)
	p := r.pending[string(id)]
	if p == nil {
		id := string(id) // a copy: id is the pooled job's
		p = &pendingTruth{id: id, at: now}
		r.pending[id] = p
		r.fifo = append(r.fifo, p)
		r.expire(now)
	}
	for _, c := range p.cands {
		if c.cand == cand {
			return // the same comparison again
		}
	}
	p.cands = append(p.cands, judgedBy{cand: cand, j: j})
	if r.tallies[cand] == nil {
		t.touch(route, cand)
	}
	t.compared.WithLabelValues(route, cand, judgedLabel(differ)).Inc()
	tl := r.tally(cand)
	tl.Add(1, differ, false, false, false)
	if p.label != nil {
		t.join(r, cand, j, p.label, tl)
	}
}

func (r *truthRoute) tally(cand string) *stats.Tally {
	tl := r.tallies[cand]
	if tl == nil {
		tl = new(stats.Tally)
		r.tallies[cand] = tl
	}
	return tl
}

// touch creates a candidate's series at 0, so that rates over them exist before the first label.
func (t *Truth) touch(route, cand string) {
	for _, d := range []string{"same", "differ"} {
		t.compared.WithLabelValues(route, cand, d)
		t.judged.WithLabelValues(route, cand, d)
		for _, m := range []string{"primary", "candidate"} {
			t.correct.WithLabelValues(route, cand, d, m)
		}
	}
}

// join applies a label to one candidate's comparison. t.mu is held.
func (t *Truth) join(r *truthRoute, cand string, j compare.Judged, label []byte, tl *stats.Tally) {
	differ := j.Differ()
	pr, cr := j.Right(label)
	tl.AddLabel(1, differ, pr, cr)
	d := judgedLabel(differ)
	t.judged.WithLabelValues(r.name, cand, d).Inc()
	if pr {
		t.correct.WithLabelValues(r.name, cand, d, "primary").Inc()
	}
	if cr {
		t.correct.WithLabelValues(r.name, cand, d, "candidate").Inc()
	}
}

// expire lets go of requests older than the window, then of the oldest beyond MaxPending.
func (r *truthRoute) expire(now time.Time) {
	limit, cutoff := r.opts.maxPending(), now.Add(-r.opts.window())
	for r.head < len(r.fifo) {
		p := r.fifo[r.head]
		if len(r.pending) <= limit && !p.at.Before(cutoff) {
			break
		}
		r.fifo[r.head] = nil
		r.head++
		delete(r.pending, p.id)
		if len(r.gone) >= limit {
			r.goneOld, r.gone = r.gone, make(map[string]struct{}, len(r.gone))
		}
		r.gone[p.id] = struct{}{}
	}
	if r.head > 1024 && r.head > len(r.fifo)/2 {
		n := copy(r.fifo, r.fifo[r.head:])
		clear(r.fifo[n:])
		r.fifo, r.head = r.fifo[:n], 0
	}
}

// Label joins a label (JSON text) with the comparisons of request id, on route or, when route is
// empty, on whichever route saw the request, and returns the outcome, which it also counts.
func (t *Truth) Label(id, route string, label []byte) string {
	t.mu.Lock()
	defer t.mu.Unlock()
	now := t.now()
	// The metric's route is a configured one, or "": a label's route is not trusted to bound it.
	outcome, at := LabelUnknown, ""
	if _, ok := t.routes[route]; ok {
		at = route
	}
	for name, r := range t.routes {
		if (route != "" && name != route) || r.opts.Picker == nil {
			continue
		}
		r.expire(now)
		if p := r.pending[id]; p != nil {
			at = name
			if p.label != nil {
				outcome = LabelDuplicate
				break
			}
			p.label = append([]byte(nil), label...)
			for _, c := range p.cands {
				t.join(r, c.cand, c.j, p.label, r.tally(c.cand))
			}
			outcome = LabelJoined
			break
		}
		_, late := r.gone[id]
		if _, old := r.goneOld[id]; late || old {
			outcome, at = LabelLate, name
		}
	}
	t.labels.WithLabelValues(at, outcome).Inc()
	return outcome
}

// CountMalformed counts a label that could not be read, on route when it is a configured one (else
// on "").
func (t *Truth) CountMalformed(route string) {
	t.mu.Lock()
	if _, ok := t.routes[route]; !ok {
		route = ""
	}
	t.mu.Unlock()
	t.labels.WithLabelValues(route, LabelMalformed).Inc()
}

// estimate returns the candidate's accuracy on route, or nil when the route joins no labels.
func (t *Truth) estimate(route, cand string) *stats.Accuracy {
	if t == nil {
		return nil
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	r := t.routes[route]
	if r == nil {
		return nil
	}
	tl, ok := r.tallies[cand]
	if !ok {
		if r.opts.Picker == nil {
			return nil
		}
		tl = new(stats.Tally)
	}
	a := tl.Estimate()
	return &a
}

// Pending returns the number of requests waiting for a label on route.
func (t *Truth) Pending(route string) int {
	t.mu.Lock()
	defer t.mu.Unlock()
	if r := t.routes[route]; r != nil {
		return len(r.pending)
	}
	return 0
}
