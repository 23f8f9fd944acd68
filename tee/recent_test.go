package tee

import (
	"encoding/json"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/shadowproxy/shadowproxy/compare"
	"github.com/shadowproxy/shadowproxy/proxy/proxytest"
	"github.com/shadowproxy/shadowproxy/sink"
)

func testRecord(id string) *sink.Record {
	return &sink.Record{ID: id, Kind: sink.KindDisagreement, Route: "iris", Candidate: "v2",
		PrimaryResponse:   sink.Response{Body: json.RawMessage(`{"label":1}`)},
		CandidateResponse: sink.Response{Body: json.RawMessage(`{"label":2}`)},
		Diff:              []sink.Diff{{Path: "label", Primary: json.RawMessage(`1`), Candidate: json.RawMessage(`2`)}},
	}
}

func ids(recs []*sink.Record) string {
	var s []string
	for _, r := range recs {
		s = append(s, r.ID)
	}
	return strings.Join(s, ",")
}

func TestRecentKeepsTheNewestNewestFirst(t *testing.T) {
	r := NewRecent(RecentOptions{Size: 3})
	if _, ok := r.Latest("iris", "v2", 0); ok {
		t.Fatal("an unknown candidate is reported known")
	}
	g := r.ring("iris", "v2")
	if got, ok := r.Latest("iris", "v2", 0); !ok || len(got) != 0 {
		t.Fatalf("empty ring: %v %v", got, ok)
	}
	for i := range 5 {
		g.add(testRecord(fmt.Sprint("r", i)))
		want := []string{"r0", "r1,r0", "r2,r1,r0", "r3,r2,r1", "r4,r3,r2"}[i]
		if got, _ := r.Latest("iris", "v2", 0); ids(got) != want {
			t.Fatalf("after %d adds: %s, want %s", i+1, ids(got), want)
		}
	}
	if got, _ := r.Latest("iris", "v2", 2); ids(got) != "r4,r3" {
		t.Errorf("limit 2: %s", ids(got))
	}
	if got, _ := r.Latest("iris", "v2", 10); ids(got) != "r4,r3,r2" {
		t.Errorf("limit 10: %s", ids(got))
	}
	if r.ring("iris", "v2") != g || r.ring("iris", "v3") == g {
		t.Error("rings are not one per route and candidate")
	}
	var none *Recent
	if none.ring("iris", "v2") != nil {
		t.Error("a nil Recent made a ring")
	}
	var ng *ring
	ng.add(testRecord("x")) // a nil ring keeps nothing, and does not panic
	if ng.wants(true, time.Now()) {
		t.Error("a nil ring wants records")
	}
}

func TestRecentDefaults(t *testing.T) {
	r := NewRecent(RecentOptions{})
	if r.Size() != 50 || r.MaxBody() != 16<<10 || r.opts.every() != 100*time.Millisecond {
		t.Errorf("defaults: size %d, max body %d, every %v", r.Size(), r.MaxBody(), r.opts.every())
	}
}

func TestRecentCapsBodiesAndLeavesTheRecordAlone(t *testing.T) {
	r := NewRecent(RecentOptions{Size: 2, MaxBody: 16})
	g := r.ring("iris", "v2")
	rec := testRecord("big")
	long := json.RawMessage(`{"text":"` + strings.Repeat("é", 20) + `"}`)
	rec.CandidateResponse.Body = long
	rec.Diff = append(rec.Diff, sink.Diff{Path: "text", Primary: json.RawMessage(`"a"`), Candidate: json.RawMessage(`"` + strings.Repeat("é", 20) + `"`)})
	g.add(rec)
	got, _ := r.Latest("iris", "v2", 0)
	e := got[0]
	var s string
	if err := json.Unmarshal(e.CandidateResponse.Body, &s); err != nil {
		t.Fatalf("cut body is not a JSON string: %s", e.CandidateResponse.Body)
	}
	if !strings.HasPrefix(string(long), s) || len(s) > 16 || len(s) < 13 || !e.CandidateResponse.Truncated {
		t.Errorf("cut body %q (truncated %v), want a prefix of at most 16 bytes at a rune boundary", s, e.CandidateResponse.Truncated)
	}
	if string(e.PrimaryResponse.Body) != `{"label":1}` || e.PrimaryResponse.Truncated {
		t.Errorf("a short body was changed: %s", e.PrimaryResponse.Body)
	}
	if string(e.Diff[0].Candidate) != "2" || len(e.Diff[1].Candidate) > 16+2+12 || string(e.Diff[1].Primary) != `"a"` {
		t.Errorf("diffs: %+v", e.Diff)
	}
	if string(rec.CandidateResponse.Body) != string(long) || rec.CandidateResponse.Truncated || len(rec.Diff[1].Candidate) != 42 {
		t.Error("add changed the record the sinks hold")
	}
}

func TestRecentWantsAtMostOneUnrecordedPerInterval(t *testing.T) {
	g := NewRecent(RecentOptions{Every: time.Second}).ring("iris", "v2")
	t0 := time.Unix(1000, 0)
	if !g.wants(false, t0) {
		t.Fatal("the first disagreement is not kept")
	}
	if g.wants(false, t0.Add(500*time.Millisecond)) {
		t.Error("a second one within the interval is kept")
	}
	if !g.wants(true, t0.Add(500*time.Millisecond)) {
		t.Error("a recorded one within the interval is not kept")
	}
	if !g.wants(false, t0.Add(time.Second)) {
		t.Error("one after the interval is not kept")
	}
}

func TestRecentConcurrent(t *testing.T) {
	r := NewRecent(RecentOptions{Size: 8})
	var wg sync.WaitGroup
	const writers, each = 4, 500
	for w := range writers {
		wg.Add(2)
		go func() {
			defer wg.Done()
			g := r.ring("iris", "v2")
			for i := range each {
				g.add(testRecord(fmt.Sprint(w, "-", i)))
			}
		}()
		go func() {
			defer wg.Done()
			for range each {
				got, _ := r.Latest("iris", "v2", 0)
				if len(got) > 8 {
					t.Errorf("%d kept, want at most 8", len(got))
					return
				}
			}
		}()
	}
	wg.Wait()
	got, _ := r.Latest("iris", "v2", 0)
	if len(got) != 8 {
		t.Fatalf("%d kept, want 8", len(got))
	}
	for _, rec := range got {
		var w, i int
		if _, err := fmt.Sscanf(rec.ID, "%d-%d", &w, &i); err != nil || i < each-8 {
			t.Errorf("%s kept after 8 newer ones of the same writer", rec.ID)
		}
	}
}

// TestTeeKeepsRecentDisagreementsRedacted runs the real path: a candidate that disagrees on known
// inputs, no sink, a redacted field. The ring gets the disagreements (not the agreements), redacted
// as a record would be.
func TestTeeKeepsRecentDisagreementsRedacted(t *testing.T) {
	wrong := map[int]bool{2: true, 5: true}
	url := proxytest.Serve(t, labelModel(wrong))
	cmp, err := compare.New(compare.Options{Ignore: []string{"model_version"}})
	if err != nil {
		t.Fatal(err)
	}
	recent := NewRecent(RecentOptions{Every: time.Nanosecond})
	tee := newTestTee(t, prometheus.NewRegistry(), Options{
		Comparator: cmp,
		Candidates: []CandidateOptions{{UpstreamOptions: UpstreamOptions{Name: "v2", URL: url, Concurrency: 1}, Sample: 1}},
		Record:     RecordOptions{RedactHeaders: []string{"Authorization"}, RedactFields: []string{"user.ssn"}},
		Recent:     recent,
	})
	for i := range 8 {
		req, resp := exchange("req-"+itoa(i), `{"x":`+itoa(i)+`,"user":{"ssn":"123-45-6789"}}`, `{"predictions":[`+itoa(i)+`],"model_version":"1"}`)
		tee.Offer(offered(req, resp, time.Millisecond))
	}
	closeTee(t, tee)
	got, ok := recent.Latest("iris", "v2", 0)
	if !ok || ids(got) != "req-5,req-2" {
		t.Fatalf("kept %q, want req-5,req-2", ids(got))
	}
	data, _ := json.Marshal(got)
	for _, secret := range []string{"123-45-6789", "secret-token"} {
		if strings.Contains(string(data), secret) {
			t.Errorf("the ring holds %q: %s", secret, data)
		}
	}
	d := got[0].Diff
	if len(d) != 1 || d[0].Path != "predictions[0]" || string(d[0].Primary) != "5" || string(d[0].Candidate) != "105" {
		t.Errorf("diff %+v", d)
	}
	if st := tee.Status().Candidates[0]; len(st.TopFields) != 0 {
		t.Errorf("top fields %+v before a field was counted %d times", st.TopFields, admitAfter)
	}
}

func TestFieldSeriesTop(t *testing.T) {
	vec := prometheus.NewCounterVec(prometheus.CounterOpts{Name: "f"}, []string{"route", "candidate", "field"})
	f := &fieldSeries{vec: vec, route: "iris", candidate: "v2", labels: newFieldLabels(2)}
	for field, n := range map[string]int{"a": 6, "b": 3, "c": 1} {
		for range n {
			f.count(field)
		}
	}
	got := f.top()
	want := []FieldStatus{{"a", 6, 0.6}, {"b", 3, 0.3}}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("top fields %v, want %v", got, want)
	}
}
