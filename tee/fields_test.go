package tee

import (
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

// feed counts n disagreements of field and returns the last label and the fields displaced on the way.
func feed(f *fieldLabels, field string, n int) (label string, displaced []string) {
	for range n {
		var d string
		label, d = f.label(field)
		if d != "" {
			displaced = append(displaced, d)
		}
	}
	return label, displaced
}

func TestFieldLabels(t *testing.T) {
	type step struct {
		field         string
		n             int
		wantLabel     string
		wantDisplaced []string
	}
	for _, tc := range []struct {
		name  string
		max   int
		steps []step
	}{
		{"a field needs 3 disagreements", 2, []step{
			{"a", 2, otherField, nil},
			{"a", 1, "a", nil},
			{"a", 5, "a", nil},
		}},
		{"room for max fields, then other", 2, []step{
			{"a", 3, "a", nil},
			{"b", 3, "b", nil},
			{"c", 3, otherField, nil},
			{"c", 2, otherField, nil}, // 5 < 2*3
		}},
		{"a field counted twice as often displaces the least counted", 2, []step{
			{"a", 10, "a", nil},
			{"b", 3, "b", nil},
			{"c", 5, otherField, nil},
			{"c", 1, "c", []string{"b"}}, // 6 >= 2*3
			{"b", 1, otherField, nil},    // b's series is gone: it counts as other now
			{"a", 1, "a", nil},
			{"c", 1, "c", nil},
		}},
		{"no churn between fields of about the same frequency", 1, []step{
			{"a", 3, "a", nil},
			{"b", 5, otherField, nil},
			{"a", 3, "a", nil},
			{"b", 5, otherField, nil}, // 10 < 2*6
			{"b", 2, "b", []string{"a"}},
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFieldLabels(tc.max)
			for i, s := range tc.steps {
				label, displaced := feed(&f, s.field, s.n)
				if label != s.wantLabel || !slices.Equal(displaced, s.wantDisplaced) {
					t.Fatalf("step %d (%s x%d): label %q displaced %v, want %q %v", i, s.field, s.n, label, displaced, s.wantLabel, s.wantDisplaced)
				}
				if len(f.labeled) > tc.max {
					t.Fatalf("step %d: %d labeled fields, max %d", i, len(f.labeled), tc.max)
				}
			}
		})
	}
}

// A frequent field that first disagrees after a flood of one-off fields still gets its series, and
// the memory stays bounded: the summary never holds more than its size.
func TestFieldLabelsFindFrequentFieldAfterNoise(t *testing.T) {
	f := newFieldLabels(5)
	for i := range 20000 {
		if l, _ := f.label(fmt.Sprintf("noise[%d]", i)); l != otherField {
			t.Fatalf("one-off field %d got label %q", i, l)
		}
	}
	var label string
	for i := range 2000 {
		label, _ = f.label("predictions[*].label")
		if i%2 == 0 {
			f.label(fmt.Sprintf("more-noise[%d]", i))
		}
	}
	if label != "predictions[*].label" {
		t.Fatalf("frequent field counted as %q", label)
	}
	if len(f.counts.heap) > f.counts.size || len(f.counts.index) != len(f.counts.heap) {
		t.Fatalf("summary holds %d fields (index %d), size %d", len(f.counts.heap), len(f.counts.index), f.counts.size)
	}
}

// The Space-Saving invariants: the counts sum to the number of occurrences, and every field counted
// more than total/size times is in the summary with a guaranteed count no larger than its true one.
func TestFieldCountsSpaceSaving(t *testing.T) {
	s := fieldCounts{size: 16, index: map[string]int{}}
	truth := map[string]int64{}
	total := int64(0)
	for i := range 5000 {
		field := fmt.Sprintf("rare%d", i%97)
		if i%5 == 0 {
			field = "hot"
		} else if i%11 == 0 {
			field = "warm"
		}
		s.inc(field)
		truth[field]++
		total++
	}
	var sum int64
	for _, c := range s.heap {
		sum += c.count
		if g := c.count - c.err; g > truth[c.field] || c.count < truth[c.field] {
			t.Errorf("%s: count %d err %d, true %d", c.field, c.count, c.err, truth[c.field])
		}
	}
	if sum != total {
		t.Errorf("counts sum to %d, want %d", sum, total)
	}
	for field, n := range truth {
		if n > total/int64(s.size) && s.guaranteed(field) == 0 {
			t.Errorf("%s (%d of %d) missing from the summary", field, n, total)
		}
	}
}

// countField deletes the displaced field's series, and the set of series stays within max + other.
func TestCountFieldDeletesDisplacedSeries(t *testing.T) {
	vec := prometheus.NewCounterVec(prometheus.CounterOpts{Name: "f_total", Help: "h"}, []string{"route", "candidate", "field"})
	s := &fieldSeries{vec: vec, route: "r", candidate: "c", labels: newFieldLabels(2)}
	count := func(field string, n int) {
		for range n {
			s.count(field)
		}
	}
	count("a", 10) // the first 2 count as other
	count("b", 3)  // 2 as other, then its series
	count("c", 6)  // 5 as other, the 6th displaces b
	want := `
# HELP f_total h
# TYPE f_total counter
f_total{candidate="c",field="a",route="r"} 8
f_total{candidate="c",field="c",route="r"} 1
f_total{candidate="c",field="other",route="r"} 9
`
	if err := testutil.CollectAndCompare(vec, strings.NewReader(want)); err != nil {
		t.Fatal(err)
	}
}
