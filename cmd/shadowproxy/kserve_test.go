package main

import (
	"encoding/json"
	"fmt"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/valyala/fasthttp"

	"github.com/shadowproxy/shadowproxy/proxy/proxytest"
)

// tritonAnswer is a Triton-style Open Inference Protocol model: for {"x":N} a batch of two
// predictions, class probabilities (FP32, shape [2,3]) and the class ids (INT64, shape [2]). The
// candidate writes other probabilities (same classes), another model_version and id; for N in flip
// its second prediction is another class.
func tritonAnswer(version string, candidate bool, flip func(int) bool) fasthttp.RequestHandler {
	return func(ctx *fasthttp.RequestCtx) {
		var in struct{ X int }
		if err := json.Unmarshal(ctx.PostBody(), &in); err != nil {
			ctx.SetStatusCode(400)
			return
		}
		probs, labels := "0.700000,0.200000,0.100000,0.100000,0.800000,0.100000", "0,1"
		if candidate {
			probs = "0.650000,0.250000,0.100000,0.150000,0.750000,0.100000"
			if flip(in.X) {
				probs, labels = "0.650000,0.250000,0.100000,0.150000,0.250000,0.600000", "0,2"
			}
		}
		ctx.SetContentType("application/json")
		fmt.Fprintf(ctx, `{"model_name":"fraud","model_version":%q,"id":"req-%d-%s","outputs":[`+
			`{"name":"probabilities","datatype":"FP32","shape":[2,3],"data":[%s]},`+
			`{"name":"label","datatype":"INT64","shape":[2],"data":[%s]}]}`, version, in.X, version, probs, labels)
	}
}

// Triton answers through the binary, compared as the shipped kserve-v2 example compares them:
// argmax per prediction, outputs named, model_version and id ignored; agreement is counted per
// prediction, and each disagreement record names the prediction that moved. The candidate's
// probabilities differ from the primary's beyond the tolerance in every answer: only the argmax
// rule makes 40 of them agree.
func TestE2EKServeV2(t *testing.T) {
	flip := func(x int) bool { return x%5 == 0 }
	primary := proxytest.Serve(t, tritonAnswer("7", false, flip))
	candidate := proxytest.Serve(t, tritonAnswer("8", true, flip))
	records := filepath.Join(t.TempDir(), "records.jsonl")
	p, _ := startProxy(t, fmt.Sprintf(`listen: "127.0.0.1:0"
admin: "127.0.0.1:0"
routes:
  - name: fraud
    match: {path_prefix: /v2/models/fraud/infer, methods: [POST]}
    primary: {url: %q}
    candidates:
      - {name: fraud-v8, url: %q}
    compare:
      format: kserve-v2
      ignore: [model_version, id]
      tolerance: {abs: 1.0e-5, rel: 1.0e-3}
      rules:
        - {path: outputs.probabilities, mode: argmax}
    record: {disagreements: 100%%, agreements: 0%%}
sinks:
  file: {path: %q}
`, primary, candidate, records))

	client := &fasthttp.Client{}
	defer client.CloseIdleConnections()
	const n = 50
	for i := range n {
		status, body, _ := post(t, client, "http://"+p.listen+"/v2/models/fraud/infer", fmt.Sprintf("kv2-%02d", i), fmt.Sprintf(`{"x":%d}`, i))
		if status != 200 || !strings.Contains(body, `"model_version":"7"`) {
			t.Fatalf("request %d: %d %s, want the primary's answer", i, status, body)
		}
	}
	sample := func(metric, result string) string {
		return fmt.Sprintf(`shadowproxy_%s_total{candidate="fraud-v8",result=%q,route="fraud"}`, metric, result)
	}
	waitFor(t, "50 comparisons", func() bool {
		return p.metric(t, sample("comparisons", "agree"))+p.metric(t, sample("comparisons", "disagree")) == n
	})
	for _, c := range []struct {
		metric, result string
		want           float64
	}{
		{"comparisons", "agree", 40}, {"comparisons", "disagree", 10},
		{"predictions", "agree", 90}, {"predictions", "disagree", 10},
	} {
		if got := p.metric(t, sample(c.metric, c.result)); got != c.want {
			t.Errorf("%s = %v, want %v", sample(c.metric, c.result), got, c.want)
		}
	}
	p.stop(t)

	recs := readRecords(t, records)
	if len(recs) != 10 {
		t.Fatalf("%d records, want 10", len(recs))
	}
	for _, r := range recs {
		var paths []string
		for _, d := range r["diff"].([]any) {
			paths = append(paths, d.(map[string]any)["path"].(string))
		}
		sort.Strings(paths)
		if got := strings.Join(paths, " "); got != "outputs.label[1] outputs.probabilities[1]" {
			t.Errorf("record %v: diff paths %q, want the second prediction's class and argmax", r["id"], got)
		}
	}
}
