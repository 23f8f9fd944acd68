package compare

import "testing"

func TestAllocationsAgree1KB(t *testing.T) {
	if raceEnabled {
		t.Skip("sync.Pool drops items at random under the race detector")
	}
	c := benchComparator(t)
	p := Response{Status: 200, ContentType: []byte("application/json"), Body: typical1KB(0)}
	q := Response{Status: 200, ContentType: []byte("application/json"), Body: typical1KB(2e-6)}
	if len(p.Body) < 900 || len(p.Body) > 1300 {
		t.Fatalf("fixture is %d bytes, want about 1 KiB", len(p.Body))
	}
	if r := c.Compare(p, q); r.Outcome != Agree || r.Predictions.Agree != 8 {
		t.Fatalf("fixture does not agree: %+v", r)
	}
	if n := testing.AllocsPerRun(100, func() { c.Compare(p, q) }); n != 0 {
		t.Fatalf("Compare allocates %v times per agreeing 1 KiB comparison, want 0", n)
	}
}
