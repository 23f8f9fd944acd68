package tee

import (
	"encoding/json"
	"sync"
	"sync/atomic"
	"time"
	"unicode/utf8"

	"github.com/shadowproxy/shadowproxy/sink"
)

// RecentOptions bound what Recent keeps.
type RecentOptions struct {
	// Size is the number of disagreements kept per candidate; a new one replaces the oldest. The
	// default is 50.
	Size int
	// MaxBody caps each body kept (the request's and both answers) and each diff value, in bytes of
	// their JSON form: a longer one is cut and kept as a JSON string, with the body's truncated flag
	// set. So a candidate's ring holds at most about Size x 3 x MaxBody bytes of bodies (2.4 MiB by
	// default). The default is 16 KiB.
	MaxBody int
	// Every is the least time between two disagreements kept that no sink records (sampled out by
	// record.disagreements, or no sink at all): building a record costs, so a candidate that
	// disagrees at a high rate is sampled. Disagreements the sinks record are always kept. The
	// default is 100ms.
	Every time.Duration
}

func (o RecentOptions) size() int {
	if o.Size > 0 {
		return o.Size
	}
	return 50
}

func (o RecentOptions) maxBody() int {
	if o.MaxBody > 0 {
		return o.MaxBody
	}
	return 16 << 10
}

func (o RecentOptions) every() time.Duration {
	if o.Every > 0 {
		return o.Every
	}
	return 100 * time.Millisecond
}

// Recent keeps the latest disagreements and candidate errors of every candidate, in a bounded ring
// per route and candidate, for the console. Create it once per process with NewRecent and pass it to
// every Tee (Options.Recent): like Metrics, it outlives config reloads. What it keeps are the records
// the sinks get, in the same redacted form, with bodies cut at MaxBody. It is safe for concurrent use;
// a nil *Recent keeps nothing.
type Recent struct {
	opts  RecentOptions
	mu    sync.Mutex
	rings map[statsKey]*ring
}

// NewRecent returns an empty Recent.
func NewRecent(o RecentOptions) *Recent {
	return &Recent{opts: o, rings: make(map[statsKey]*ring)}
}

// Size is the number of disagreements kept per candidate.
func (r *Recent) Size() int { return r.opts.size() }

// MaxBody is the cap on each body kept.
func (r *Recent) MaxBody() int { return r.opts.maxBody() }

// Latest returns at most limit of the candidate's latest disagreements, newest first (all it keeps
// when limit <= 0), and whether the candidate is known. The records must not be changed.
func (r *Recent) Latest(route, candidate string, limit int) ([]*sink.Record, bool) {
	r.mu.Lock()
	rg, ok := r.rings[statsKey{route, candidate}]
	r.mu.Unlock()
	if !ok {
		return nil, false
	}
	return rg.latest(limit), true
}

// ring returns the candidate's ring, creating it on first use; nil when r is nil.
func (r *Recent) ring(route, candidate string) *ring {
	if r == nil {
		return nil
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	k := statsKey{route, candidate}
	rg, ok := r.rings[k]
	if !ok {
		rg = &ring{buf: make([]*sink.Record, r.opts.size()), maxBody: r.opts.maxBody(), every: int64(r.opts.every())}
		r.rings[k] = rg
	}
	return rg
}

// ring is one candidate's latest disagreements. A nil *ring keeps nothing.
type ring struct {
	maxBody int
	every   int64 // nanoseconds

	mu   sync.Mutex
	buf  []*sink.Record // buf[next-1] is the newest; nil slots are empty
	next int

	last atomic.Int64 // unix nanoseconds of the last record built for the ring alone
}

// wants reports whether a disagreement is to be kept. recorded says a sink records it anyway (so the
// record is built regardless); otherwise it is kept at most once per every.
func (g *ring) wants(recorded bool, now time.Time) bool {
	if g == nil {
		return false
	}
	if recorded {
		return true
	}
	t := now.UnixNano()
	last := g.last.Load()
	return t-last >= g.every && g.last.CompareAndSwap(last, t)
}

// add keeps a copy of rec with its bodies and diff values cut at maxBody (rec itself is not changed:
// the sinks may hold it).
func (g *ring) add(rec *sink.Record) {
	if g == nil {
		return
	}
	e := *rec
	var cut bool
	e.Request.Body, cut = capJSON(rec.Request.Body, g.maxBody)
	e.Request.Truncated = e.Request.Truncated || cut
	e.PrimaryResponse.Body, cut = capJSON(rec.PrimaryResponse.Body, g.maxBody)
	e.PrimaryResponse.Truncated = e.PrimaryResponse.Truncated || cut
	e.CandidateResponse.Body, cut = capJSON(rec.CandidateResponse.Body, g.maxBody)
	e.CandidateResponse.Truncated = e.CandidateResponse.Truncated || cut
	copied := false
	for i, d := range rec.Diff {
		p, pc := capJSON(d.Primary, g.maxBody)
		c, cc := capJSON(d.Candidate, g.maxBody)
		if !pc && !cc {
			continue
		}
		if !copied {
			e.Diff, copied = append([]sink.Diff(nil), rec.Diff...), true
		}
		e.Diff[i] = sink.Diff{Path: d.Path, Primary: p, Candidate: c}
	}
	g.mu.Lock()
	g.buf[g.next] = &e
	g.next = (g.next + 1) % len(g.buf)
	g.mu.Unlock()
}

// latest returns at most limit records, newest first (all when limit <= 0).
func (g *ring) latest(limit int) []*sink.Record {
	g.mu.Lock()
	defer g.mu.Unlock()
	n := len(g.buf)
	if limit <= 0 || limit > n {
		limit = n
	}
	out := make([]*sink.Record, 0, limit)
	for i := 1; i <= n && len(out) < limit; i++ {
		rec := g.buf[(g.next-i+n)%n]
		if rec == nil {
			break
		}
		out = append(out, rec)
	}
	return out
}

// capJSON returns v when its JSON text is at most max bytes, else the text cut there (at a UTF-8
// boundary) as a JSON string, and true.
func capJSON(v json.RawMessage, max int) (json.RawMessage, bool) {
	if len(v) <= max {
		return v, false
	}
	n := max
	for n > 0 && !utf8.RuneStart(v[n]) {
		n--
	}
	out, _ := json.Marshal(string(v[:n]))
	return out, true
}
