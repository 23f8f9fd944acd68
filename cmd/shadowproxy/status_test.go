package main

import (
	"encoding/json"
	"fmt"
	"math"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/valyala/fasthttp"

	"github.com/shadowproxy/shadowproxy/compare/stats"
	"github.com/shadowproxy/shadowproxy/proxy/proxytest"
)

// statusDoc is /status as docs/design.md's contract names its fields, decoded from the binary's
// answer (not through tee's types, so that a renamed field fails here).
type statusDoc struct {
	Routes []struct {
		Name       string            `json:"name"`
		Candidates []candidateStatus `json:"candidates"`
	} `json:"routes"`
}

type candidateStatus struct {
	Name             string           `json:"name"`
	Shadows          map[string]int64 `json:"shadows"`
	Comparisons      map[string]int64 `json:"comparisons"`
	DisagreementRate float64          `json:"disagreement_rate"`
	CI95             [2]float64       `json:"ci95"`
	CS95             [2]float64       `json:"cs95"`
	Predictions      struct {
		Agree            int64      `json:"agree"`
		Disagree         int64      `json:"disagree"`
		DisagreementRate float64    `json:"disagreement_rate"`
		CI95             [2]float64 `json:"ci95"`
		CS95             [2]float64 `json:"cs95"`
	} `json:"predictions"`
	WeightedEstimate *float64 `json:"weighted_estimate"`
	LatencyDeltaMS   *struct {
		P50 float64 `json:"p50"`
		P95 float64 `json:"p95"`
		P99 float64 `json:"p99"`
	} `json:"latency_delta_ms"`
	Verdict *struct {
		Decision      string     `json:"decision"`
		Threshold     float64    `json:"threshold"`
		CS            [2]float64 `json:"cs95"`
		SamplesNeeded *int64     `json:"samples_needed"`
	} `json:"verdict"`
}

func (p *process) status(t *testing.T) (statusDoc, []byte) {
	t.Helper()
	body := p.admin200(t, "/status")
	var doc statusDoc
	if err := json.Unmarshal(body, &doc); err != nil {
		t.Fatalf("/status: %v\n%s", err, body)
	}
	return doc, body
}

func (d statusDoc) candidate(route, name string) (candidateStatus, bool) {
	for _, r := range d.Routes {
		for _, c := range r.Candidates {
			if r.Name == route && c.Name == name {
				return c, true
			}
		}
	}
	return candidateStatus{}, false
}

// wilson95 is the Wilson score interval, written out here from its definition rather than taken
// from compare, so that the binary's figures are checked against an independent computation.
func wilson95(k, n int64) [2]float64 {
	const z = 1.959963984540054
	p, nf := float64(k)/float64(n), float64(n)
	den := 1 + z*z/nf
	center := (p + z*z/(2*nf)) / den
	half := z / den * math.Sqrt(p*(1-p)/nf+z*z/(4*nf*nf))
	lo, hi := math.Max(0, center-half), math.Min(1, center+half)
	if k == 0 {
		lo = 0
	}
	if k == n {
		hi = 1
	}
	return [2]float64{lo, hi}
}

// near reports whether got is want within what /status's six-decimal rounding allows.
func near(got, want float64) bool { return math.Abs(got-want) <= 1.5e-6 }

// TestE2EStatusFigures sends known traffic through the binary and checks every number /status
// derives from it: counts, rates, ci95 (Wilson) and cs95 (confidence sequence), per prediction
// too, the verdict against promote_when, the weighted estimate against the records' weights, and
// the latency delta against the records' latencies.
func TestE2EStatusFigures(t *testing.T) {
	const n = 200
	const delay = 30 * time.Millisecond
	primary := proxytest.Serve(t, answer(0, nil, 0))
	v2 := proxytest.Serve(t, answer(1, func(x int) bool { return x%5 == 0 }, delay)) // 40 of 200 wrong
	v3 := proxytest.Serve(t, answer(1, func(x int) bool { return x%2 == 0 }, 0))     // 100 of 200
	lily := proxytest.Serve(t, answer(1, func(x int) bool { return x%4 == 0 }, 0))   // 50 of 200
	records := filepath.Join(t.TempDir(), "records.jsonl")
	p, _ := startProxy(t, fmt.Sprintf(`listen: "127.0.0.1:0"
admin: "127.0.0.1:0"
shutdown_timeout: 10s
log: {level: info, format: json}
routes:
  - name: lily
    match: {path_prefix: /v1/models/lily, methods: [POST]}
    primary: {url: %[1]q, timeout: 2s}
    candidates:
      - {name: lily-v2, url: %[4]q, sample: 100%%}
    compare: {format: json, ignore: [served_at]}
    record: {disagreements: 100%%, agreements: 20%%}
  - name: iris
    match: {path_prefix: /v1/models/iris, methods: [POST]}
    primary: {url: %[1]q, timeout: 2s}
    candidates:
      - {name: iris-v2, url: %[2]q, sample: 100%%, timeout: 5s, promote_when: {disagreement_below: 50%%}}
      - {name: iris-v3, url: %[3]q, sample: 100%%, promote_when: {disagreement_below: 5%%}}
    compare: {format: json, ignore: [served_at]}
    record: {disagreements: 100%%, agreements: 100%%}
sinks:
  file: {path: %[5]q}
`, primary, v2, v3, lily, records))

	client := &fasthttp.Client{}
	defer client.CloseIdleConnections()
	for i := range n {
		for _, model := range []string{"iris", "lily"} {
			if status, _, _ := post(t, client, "http://"+p.listen+"/v1/models/"+model+":predict", "", fmt.Sprintf(`{"x":%d}`, i)); status != 200 {
				t.Fatalf("%s request %d: status %d", model, i, status)
			}
		}
	}
	// Every comparison counted, and /status at rest: two reads in a row give the same document (a
	// job's latency and record are noted just after its comparison is counted).
	var doc statusDoc
	var last []byte
	waitFor(t, "every comparison on /status, and /status at rest", func() bool {
		var body []byte
		doc, body = p.status(t)
		done := true
		for _, c := range [][2]string{{"iris", "iris-v2"}, {"iris", "iris-v3"}, {"lily", "lily-v2"}} {
			cs, ok := doc.candidate(c[0], c[1])
			done = done && ok && cs.Comparisons["agree"]+cs.Comparisons["disagree"] == n
		}
		rest := done && string(body) == string(last)
		last = body
		return rest
	})
	p.stop(t)
	recs := readRecords(t, records)

	for _, tt := range []struct {
		route, name string
		disagree    int64
		verdict     string // "" without promote_when
		threshold   float64
	}{
		{"iris", "iris-v2", 40, stats.VerdictPromote, 0.5},
		{"iris", "iris-v3", 100, stats.VerdictStop, 0.05},
		{"lily", "lily-v2", 50, "", 0},
	} {
		t.Run(tt.name, func(t *testing.T) {
			cs, _ := doc.candidate(tt.route, tt.name)
			agree := n - tt.disagree
			if cs.Shadows["ok"] != n || cs.Comparisons["agree"] != agree || cs.Comparisons["disagree"] != tt.disagree {
				t.Errorf("shadows %v, comparisons %v; want %d ok, %d agree, %d disagree", cs.Shadows, cs.Comparisons, n, agree, tt.disagree)
			}
			rate := float64(tt.disagree) / n
			wantCI := wilson95(tt.disagree, n)
			lo, hi := stats.ConfidenceSequence(tt.disagree, n, 0.05)
			if cs.DisagreementRate != rate || !near(cs.CI95[0], wantCI[0]) || !near(cs.CI95[1], wantCI[1]) {
				t.Errorf("rate %v ci95 %v, want %v %v", cs.DisagreementRate, cs.CI95, rate, wantCI)
			}
			if !near(cs.CS95[0], lo) || !near(cs.CS95[1], hi) || !(cs.CS95[0] < cs.CI95[0] && cs.CI95[1] < cs.CS95[1]) {
				t.Errorf("cs95 %v, want [%v %v], wider than ci95 %v", cs.CS95, lo, hi, cs.CI95)
			}
			// One prediction per answer: the per-prediction figures are the same.
			pr := cs.Predictions
			if pr.Agree != agree || pr.Disagree != tt.disagree || pr.DisagreementRate != rate || pr.CI95 != cs.CI95 || pr.CS95 != cs.CS95 {
				t.Errorf("predictions %+v, want the comparisons' figures", pr)
			}

			switch {
			case tt.verdict == "" && cs.Verdict != nil:
				t.Errorf("verdict %+v without promote_when", *cs.Verdict)
			case tt.verdict != "" && cs.Verdict == nil:
				t.Errorf("no verdict, want %q", tt.verdict)
			case tt.verdict != "":
				v := *cs.Verdict
				if v.Decision != tt.verdict || v.Threshold != tt.threshold || !near(v.CS[0], lo) || !near(v.CS[1], hi) || v.SamplesNeeded != nil {
					t.Errorf("verdict %+v, want %q at %v with cs95 [%v %v]", v, tt.verdict, tt.threshold, lo, hi)
				}
			}

			// The records of this candidate: every disagreement, and agreements at the route's share,
			// each with its weight 1/share.
			var wDisagree, wAll float64
			var deltas []float64
			nDisagree := 0
			for _, r := range recs {
				if r["route"] != tt.route || r["candidate"] != tt.name {
					continue
				}
				w := r["weight"].(float64)
				wAll += w
				if r["kind"] == "disagreement" {
					wDisagree += w
					nDisagree++
				}
				pl := r["primary_response"].(map[string]any)["latency_ms"].(float64)
				cl := r["candidate_response"].(map[string]any)["latency_ms"].(float64)
				deltas = append(deltas, cl-pl)
			}
			if nDisagree != int(tt.disagree) {
				t.Errorf("%d disagreement records, want %d", nDisagree, tt.disagree)
			}
			if cs.WeightedEstimate == nil || math.Abs(*cs.WeightedEstimate-wDisagree/wAll) > 1e-9 {
				t.Errorf("weighted_estimate %v, want %v from the records", cs.WeightedEstimate, wDisagree/wAll)
			}

			// With every exchange recorded (route iris), the latency delta's quantiles are those of
			// the records' latencies, within the sketch's 1% relative accuracy and a rank either side.
			if tt.route != "iris" {
				return
			}
			if len(deltas) != n || cs.LatencyDeltaMS == nil {
				t.Fatalf("%d records, latency_delta_ms %v", len(deltas), cs.LatencyDeltaMS)
			}
			slices.Sort(deltas)
			for _, q := range []struct {
				name string
				q    float64
				got  float64
			}{{"p50", 0.5, cs.LatencyDeltaMS.P50}, {"p95", 0.95, cs.LatencyDeltaMS.P95}, {"p99", 0.99, cs.LatencyDeltaMS.P99}} {
				rank := q.q * (n - 1)
				lo := deltas[max(int(math.Floor(rank))-1, 0)]
				hi := deltas[min(int(math.Ceil(rank))+1, n-1)]
				if !(q.got >= lo-math.Abs(lo)*0.02-0.01 && q.got <= hi+math.Abs(hi)*0.02+0.01) {
					t.Errorf("latency_delta_ms %s = %v, want within [%v, %v] (the records' deltas at rank %v)", q.name, q.got, lo, hi, rank)
				}
			}
			if tt.name == "iris-v2" && cs.LatencyDeltaMS.P50 < float64(delay.Milliseconds())/2 {
				t.Errorf("latency_delta_ms p50 = %v for a candidate %v slower than the primary", cs.LatencyDeltaMS.P50, delay)
			}
		})
	}
}
