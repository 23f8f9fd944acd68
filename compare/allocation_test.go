package compare

import "testing"

func TestAllocationsAgree1KB(t *testing.T) {
	if raceEnabled {
		t.Skip("sync.Pool drops items at random under the race detector")
	}
	for _, c := range []struct {
		name string
		c    *Comparator
		body func(bump float64) []byte
	}{
		{"tfserving", benchComparator(t), typical1KB},
		{"kserve-v2", benchComparatorV2(t), typicalV2},
	} {
		p := Response{Status: 200, ContentType: []byte("application/json"), Body: c.body(0)}
		q := Response{Status: 200, ContentType: []byte("application/json"), Body: c.body(2e-6)}
		if len(p.Body) < 900 || len(p.Body) > 1300 {
			t.Fatalf("%s: fixture is %d bytes, want about 1 KiB", c.name, len(p.Body))
		}
		if r := c.c.Compare(p, q); r.Outcome != Agree || r.Predictions.Agree != 8 {
			t.Fatalf("%s: fixture does not agree: %+v", c.name, r)
		}
		if n := testing.AllocsPerRun(100, func() { c.c.Compare(p, q) }); n != 0 {
			t.Fatalf("%s: Compare allocates %v times per agreeing 1 KiB comparison, want 0", c.name, n)
		}
	}
}
