package tee

import (
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"

	"github.com/shadowproxy/shadowproxy/compare"
	"github.com/shadowproxy/shadowproxy/proxy/proxytest"
)

// A rule whose path names nothing in the answers (here a typo) is reported: /status counts the
// comparisons each rule applied in, and the route warns once the first warnAt comparisons are
// done and the rule applied in none of them.
func TestTeeRulesThatApplyToNothing(t *testing.T) {
	url := proxytest.Serve(t, labelModel(map[int]bool{4: true}))
	cmp, err := compare.New(compare.Options{
		Ignore: []string{"model_version"},
		Rules: []compare.Rule{
			{Path: "predictions", Mode: "set"},
			{Path: "prediction", Mode: "exact"}, // a typo: names nothing
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	core, logs := observer.New(zap.WarnLevel)
	tee := newTestTee(t, prometheus.NewRegistry(), Options{
		Comparator: cmp,
		Methods:    []string{"POST"},
		Candidates: []CandidateOptions{{UpstreamOptions: UpstreamOptions{Name: "v2", URL: url, Concurrency: 4}, Sample: 1}},
		Sink:       &memorySink{},
		Logger:     zap.New(core),
	})
	const n, warnAt = 30, 20
	tee.rules.warnAt = warnAt
	for i := range n {
		req, resp := exchange("req-"+itoa(i), `{"x":`+itoa(i)+`}`, `{"predictions":[`+itoa(i)+`],"model_version":"1"}`)
		if !tee.Offer(offered(req, resp, time.Millisecond)) {
			t.Fatalf("exchange %d not taken", i)
		}
	}
	closeTee(t, tee)

	st := tee.Status().Rules
	if len(st) != 2 || st[0] != (RuleStatus{Path: "predictions", Mode: "set", Applied: n, Comparisons: n}) ||
		st[1] != (RuleStatus{Path: "prediction", Mode: "exact", Applied: 0, Comparisons: n}) {
		t.Errorf("status rules = %+v", st)
	}
	warned := logs.FilterMessageSnippet("applied to nothing").All()
	if len(warned) != 1 {
		t.Fatalf("%d warnings, want 1 (for the typo): %v", len(warned), logs.All())
	}
	if f := warned[0].ContextMap(); f["path"] != "prediction" || f["route"] != "iris" || f["comparisons"] != int64(warnAt) {
		t.Errorf("warning fields %v", f)
	}
}
