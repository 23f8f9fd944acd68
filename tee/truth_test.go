package tee

import (
	"fmt"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/shadowproxy/shadowproxy/compare"
)

func answerLabel(n int) compare.Response {
	return compare.Response{Status: 200, Body: fmt.Appendf(nil, `{"predictions":[{"label":%d}]}`, n)}
}

func TestTruthJoinWindow(t *testing.T) {
	picker, err := compare.NewPicker("tfserving", "predictions[0].label")
	if err != nil {
		t.Fatal(err)
	}
	reg := prometheus.NewRegistry()
	tr := NewTruth(reg)
	now := time.Unix(1_800_000_000, 0)
	tr.now = func() time.Time { return now }
	tr.Configure(map[string]TruthRouteOptions{"iris": {Picker: picker, Window: time.Minute, MaxPending: 3}})

	tr.observe("iris", "v2", []byte("a"), answerLabel(1), answerLabel(1)) // both right
	tr.observe("iris", "v2", []byte("b"), answerLabel(1), answerLabel(2)) // the candidate wins
	if got := tr.Label("b", "", []byte("2")); got != LabelJoined {
		t.Fatalf("label b: %s", got)
	}
	if got := tr.Label("b", "iris", []byte("1")); got != LabelDuplicate {
		t.Errorf("second label of b: %s", got)
	}
	if got := tr.Label("zzz", "", []byte("1")); got != LabelUnknown {
		t.Errorf("label of an unseen id: %s", got)
	}
	if got := tr.Label("b", "no-such-route", []byte("1")); got != LabelUnknown {
		t.Errorf("label on an unknown route: %s", got)
	}
	// max_pending 3: the fourth request pushes a out; a's label is late, not unknown.
	tr.observe("iris", "v2", []byte("c"), answerLabel(0), answerLabel(0))
	tr.observe("iris", "v2", []byte("d"), answerLabel(0), answerLabel(0))
	if n := tr.Pending("iris"); n != 3 {
		t.Errorf("pending %d, want the bound 3", n)
	}
	if got := tr.Label("a", "", []byte("1")); got != LabelLate {
		t.Errorf("label of a request pushed out: %s", got)
	}
	// The window: a minute later c and d are gone too.
	now = now.Add(2 * time.Minute)
	if got := tr.Label("c", "", []byte("0")); got != LabelLate {
		t.Errorf("label after the window: %s", got)
	}
	// A label before a slower candidate's comparison applies to it when it comes.
	tr.observe("iris", "v2", []byte("e"), answerLabel(1), answerLabel(1))
	tr.Label("e", "", []byte("1"))
	tr.observe("iris", "v3", []byte("e"), answerLabel(1), answerLabel(0))

	a := tr.estimate("iris", "v2")
	if a.Compared != 5 || a.Labeled != 2 || a.Disagreements != 1 || a.LabeledDisagreements != 1 {
		t.Errorf("v2: %+v", a)
	}
	if b := tr.estimate("iris", "v3"); b.Labeled != 1 || *b.AccuracyDelta != -1 {
		t.Errorf("v3: %+v", b)
	}
	for outcome, want := range map[string]float64{LabelJoined: 2, LabelDuplicate: 1, LabelLate: 2} {
		if got := testutil.ToFloat64(tr.labels.WithLabelValues("iris", outcome)); got != want {
			t.Errorf("labels %s = %v, want %v", outcome, got, want)
		}
	}
	// The route of a label is not a metric label unless it is configured: cardinality stays bounded.
	if got := testutil.ToFloat64(tr.labels.WithLabelValues("", LabelUnknown)); got != 2 {
		t.Errorf("unknown labels = %v", got)
	}
	if n := testutil.CollectAndCount(tr.labels); n != 6 {
		t.Errorf("%d label series, want iris's 5 outcomes and unknown on \"\"", n)
	}
	if got := testutil.ToFloat64(tr.correct.WithLabelValues("iris", "v2", "differ", "candidate")); got != 1 {
		t.Errorf("candidate right on a disagreement = %v", got)
	}
	if got := testutil.ToFloat64(tr.compared.WithLabelValues("iris", "v2", "same")); got != 4 {
		t.Errorf("compared same = %v", got)
	}
}
