package tee

import (
	"sync"

	"github.com/shadowproxy/shadowproxy/compare"
	"github.com/shadowproxy/shadowproxy/compare/stats"
)

// minNoiseSamples is how many primary-vs-secondary comparisons noise cancellation waits for before it
// explains anything away.
const minNoiseSamples = 30

// noiseTable counts, per field, how often the primary and the secondary (two instances of the
// production model) differ, and how often each candidate differs from the primary. A candidate's
// difference in a field is noise unless its rate exceeds the secondary's by the configured margins.
type noiseTable struct {
	opts NoiseOptions

	mu     sync.Mutex
	n      int64
	fields map[string]int64
	cands  map[*candidate]*fieldRates
}

type fieldRates struct {
	n      int64
	fields map[string]int64
}

func newNoiseTable(o NoiseOptions) *noiseTable {
	return &noiseTable{opts: o, fields: make(map[string]int64), cands: make(map[*candidate]*fieldRates)}
}

// observe counts one primary-vs-secondary comparison.
func (t *noiseTable) observe(res compare.Result) {
	if res.Outcome != compare.Agree && res.Outcome != compare.Disagree {
		return
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	t.n++
	countFields(t.fields, res.Diffs)
}

// explains counts one candidate comparison and reports whether every field of a disagreement is
// noise, so the disagreement should count as an agreement.
func (t *noiseTable) explains(c *candidate, res compare.Result) bool {
	if res.Outcome != compare.Agree && res.Outcome != compare.Disagree {
		return false
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	r := t.cands[c]
	if r == nil {
		r = &fieldRates{fields: make(map[string]int64)}
		t.cands[c] = r
	}
	r.n++
	countFields(r.fields, res.Diffs)
	if res.Outcome != compare.Disagree || t.n < minNoiseSamples || len(res.Diffs) == 0 {
		return false
	}
	for _, d := range res.Diffs {
		candRate := float64(r.fields[d.Field]) / float64(r.n)
		noiseRate := float64(t.fields[d.Field]) / float64(t.n)
		if stats.Significant(candRate, noiseRate, t.opts.Relative, t.opts.Absolute) {
			return false
		}
	}
	return true
}

// maxNoiseFields bounds the fields the noise table tracks per candidate.
const maxNoiseFields = 4096

// countFields adds one to each distinct field of diffs, tracking at most maxNoiseFields fields.
func countFields(m map[string]int64, diffs []compare.Diff) {
	for i, d := range diffs {
		dup := false
		for _, e := range diffs[:i] {
			if e.Field == d.Field {
				dup = true
				break
			}
		}
		if dup {
			continue
		}
		if _, ok := m[d.Field]; ok || len(m) < maxNoiseFields {
			m[d.Field]++
		}
	}
}
