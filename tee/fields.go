package tee

import (
	"cmp"
	"container/heap"
	"math"
	"slices"
	"sync"

	"github.com/prometheus/client_golang/prometheus"
)

// Field labels of shadowproxy_field_disagreements_total: the fields that disagree most often get a
// series each, at most max per candidate; the rest are counted as "other". Counters never move
// between series (rate() would see resets): a field that overtakes a labeled one takes its place
// from then on, and the displaced field's series is deleted, its later disagreements going to
// "other".

const (
	otherField = "other"
	// admitAfter disagreements (counted for sure) give a field a series while there is room.
	admitAfter = 3
	// A field displaces the least counted labeled field once it is counted displaceFactor times as
	// often; the margin keeps two fields of about the same frequency from trading places.
	displaceFactor = 2
	// The summary tracks summaryPerLabel fields per label, and at least minSummary.
	summaryPerLabel = 16
	minSummary      = 256
)

// fieldLabels chooses the labeled fields of one candidate. It is not safe for concurrent use
// (fieldSeries.mu guards it).
type fieldLabels struct {
	max     int
	total   int64 // field disagreements counted, every field
	counts  fieldCounts
	labeled map[string]struct{}
}

func newFieldLabels(n int) fieldLabels {
	size := max(minSummary, summaryPerLabel*n)
	return fieldLabels{
		max:     n,
		counts:  fieldCounts{size: size, index: make(map[string]int, size)},
		labeled: make(map[string]struct{}, n),
	}
}

// label counts a disagreement of field and returns the label to count it under. When field takes
// the place of a less frequent labeled field, displaced names that field.
func (f *fieldLabels) label(field string) (label, displaced string) {
	f.total++
	n := f.counts.inc(field)
	if _, ok := f.labeled[field]; ok {
		return field, ""
	}
	if n < admitAfter {
		return otherField, ""
	}
	if len(f.labeled) < f.max {
		f.labeled[field] = struct{}{}
		return field, ""
	}
	least, leastN := "", int64(math.MaxInt64)
	for l := range f.labeled {
		if c := f.counts.guaranteed(l); c < leastN {
			least, leastN = l, c
		}
	}
	if n < displaceFactor*leastN {
		return otherField, ""
	}
	delete(f.labeled, least)
	f.labeled[field] = struct{}{}
	return field, least
}

// fieldSeries are one candidate's series of shadowproxy_field_disagreements_total. They outlive
// config reloads with the Metrics, so that a field keeps its series.
type fieldSeries struct {
	vec              *prometheus.CounterVec
	route, candidate string

	mu     sync.Mutex
	labels fieldLabels
}

// count counts one disagreement of field under its label (see fieldLabels). The metric is updated
// under the lock, so that a displaced series, once deleted, stays deleted.
func (f *fieldSeries) count(field string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	label, displaced := f.labels.label(field)
	if displaced != "" {
		f.vec.DeleteLabelValues(f.route, f.candidate, displaced)
	}
	f.vec.WithLabelValues(f.route, f.candidate, label).Inc()
}

// FieldStatus is one of the fields that disagree most: one of the labeled fields of
// shadowproxy_field_disagreements_total.
type FieldStatus struct {
	Field string `json:"field"`
	// Count is how often the field disagreed since start: a lower bound, exact while fewer distinct
	// fields than the summary holds have disagreed.
	Count int64 `json:"count"`
	// Share is Count over every field disagreement counted (the labeled fields and other).
	Share float64 `json:"share"`
}

// top returns the labeled fields, most counted first.
func (fs *fieldSeries) top() []FieldStatus {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	f := &fs.labels
	out := make([]FieldStatus, 0, len(f.labeled))
	for l := range f.labeled {
		n := f.counts.guaranteed(l)
		out = append(out, FieldStatus{Field: l, Count: n, Share: round6(float64(n) / float64(max(f.total, 1)))})
	}
	slices.SortFunc(out, func(a, b FieldStatus) int {
		return cmp.Or(cmp.Compare(b.Count, a.Count), cmp.Compare(a.Field, b.Field))
	})
	return out
}

// fieldCounts is a Space-Saving summary (Metwally, Agrawal and El Abbadi, "Efficient computation of
// frequent and top-k elements in data streams", 2005) of disagreement counts per field, in bounded
// memory: it holds at most size fields; a new field replaces the least counted one and inherits its
// count as the possible overestimate err. Every field counted more than total/size times is in it,
// so a frequent field that first disagrees after a flood of one-off fields is still found.
type fieldCounts struct {
	size  int
	index map[string]int // field -> position in heap
	heap  []fieldCount   // a min-heap by count
}

type fieldCount struct {
	field      string
	count, err int64
}

// inc counts one occurrence of field and returns its guaranteed count.
func (s *fieldCounts) inc(field string) int64 {
	if i, ok := s.index[field]; ok {
		s.heap[i].count++
		c := s.heap[i]
		heap.Fix(s, i)
		return c.count - c.err
	}
	if len(s.heap) < s.size {
		heap.Push(s, fieldCount{field: field, count: 1})
		return 1
	}
	least := s.heap[0]
	delete(s.index, least.field)
	s.heap[0] = fieldCount{field: field, count: least.count + 1, err: least.count}
	s.index[field] = 0
	heap.Fix(s, 0)
	return 1
}

// guaranteed is a lower bound of field's count: 0 for a field not (or no longer) in the summary.
func (s *fieldCounts) guaranteed(field string) int64 {
	if i, ok := s.index[field]; ok {
		return s.heap[i].count - s.heap[i].err
	}
	return 0
}

// heap.Interface, keeping index in step.

func (s *fieldCounts) Len() int           { return len(s.heap) }
func (s *fieldCounts) Less(i, j int) bool { return s.heap[i].count < s.heap[j].count }

func (s *fieldCounts) Swap(i, j int) {
	s.heap[i], s.heap[j] = s.heap[j], s.heap[i]
	s.index[s.heap[i].field] = i
	s.index[s.heap[j].field] = j
}

func (s *fieldCounts) Push(x any) {
	c := x.(fieldCount)
	s.index[c.field] = len(s.heap)
	s.heap = append(s.heap, c)
}

func (s *fieldCounts) Pop() any {
	c := s.heap[len(s.heap)-1]
	s.heap = s.heap[:len(s.heap)-1]
	delete(s.index, c.field)
	return c
}
