package tee

import (
	"sync"
	"sync/atomic"

	"github.com/DataDog/sketches-go/ddsketch"
)

// Stats are the running counts behind /status, per route and candidate. Create them once per
// process with NewStats and pass them to every Tee: they outlive config reloads, so /status counts
// run from process start.
type Stats struct {
	mu  sync.Mutex
	all map[statsKey]*candidateStats
}

type statsKey struct{ route, candidate string }

// NewStats returns empty statistics.
func NewStats() *Stats {
	return &Stats{all: make(map[statsKey]*candidateStats)}
}

// candidate returns the statistics of one candidate of one route, creating them on first use.
func (s *Stats) candidate(route, cand string) *candidateStats {
	s.mu.Lock()
	defer s.mu.Unlock()
	k := statsKey{route, cand}
	cs, ok := s.all[k]
	if !ok {
		cs = newCandidateStats()
		s.all[k] = cs
	}
	return cs
}

// candidateStats are one candidate's running counts.
type candidateStats struct {
	shadows      [numOutcomes]atomic.Int64
	results      [numResults]atomic.Int64
	predAgree    atomic.Int64
	predDisagree atomic.Int64

	mu sync.Mutex
	// delta holds candidate minus primary latency in seconds; bounded to 2048 bins per sign.
	delta *ddsketch.DDSketch
	// recorded sums the weights of recorded agreements and disagreements (the unbiased estimate).
	recordedAgree, recordedDisagree float64
}

func newCandidateStats() *candidateStats {
	sk, err := ddsketch.LogCollapsingLowestDenseDDSketch(0.01, 2048)
	if err != nil {
		panic(err) // constant arguments: cannot fail
	}
	return &candidateStats{delta: sk}
}

func (s *candidateStats) addDelta(seconds float64) {
	s.mu.Lock()
	_ = s.delta.Add(seconds)
	s.mu.Unlock()
}

func (s *candidateStats) addRecorded(disagree bool, weight float64) {
	s.mu.Lock()
	if disagree {
		s.recordedDisagree += weight
	} else {
		s.recordedAgree += weight
	}
	s.mu.Unlock()
}

func (s *candidateStats) deltaQuantiles() ([len(deltaQuantiles)]float64, bool) {
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
