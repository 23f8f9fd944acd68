package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/valyala/fasthttp"

	"github.com/shadowproxy/shadowproxy/compare/stats"
	"github.com/shadowproxy/shadowproxy/proxy/proxytest"
)

// liveTruthConfig is proxyConfig's route with truth.prediction, every comparison recorded.
func liveTruthConfig(primary, candidate, records, labels string) string {
	return fmt.Sprintf(`listen: "127.0.0.1:0"
admin: "127.0.0.1:0"
reload: {watch: false}
routes:
  - name: iris
    match: {path_prefix: /v1/models/iris, methods: [POST]}
    primary: {url: %q}
    candidates:
      - {name: iris-v2, url: %q, sample: 100%%}
    compare: {format: json, ignore: [served_at]}
    record: {disagreements: 100%%, agreements: 100%%}
    truth: {prediction: "predictions[0].label", window: 10m, max_pending: 1000}
sinks:
  file: {path: %q}
%s`, primary, candidate, records, labels)
}

// sendTruthTraffic sends inputs 0-99 (the true label of x is x) with ids req-X and waits for their
// comparisons. The primary is wrong on 0-19, the candidate on 10-24.
func sendTruthTraffic(t *testing.T, p *process) {
	t.Helper()
	client := &fasthttp.Client{}
	defer client.CloseIdleConnections()
	for x := range truthInputs {
		if status, _, _ := post(t, client, "http://"+p.listen+"/v1/models/iris:predict", fmt.Sprintf("req-%d", x), fmt.Sprintf(`{"x":%d}`, x)); status != 200 {
			t.Fatalf("request %d: status %d", x, status)
		}
	}
	const agree = `shadowproxy_comparisons_total{candidate="iris-v2",result="agree",route="iris"}`
	const disagree = `shadowproxy_comparisons_total{candidate="iris-v2",result="disagree",route="iris"}`
	waitFor(t, "100 comparisons", func() bool { return p.metric(t, agree)+p.metric(t, disagree) == truthInputs })
}

func truthModels(t *testing.T) (primary, candidate string) {
	return proxytest.Serve(t, answer(1, primaryWrong, 0)), proxytest.Serve(t, answer(2, candidateWrong, 0))
}

// statusTruth reads /status's truth of the one candidate.
func statusTruth(t *testing.T, p *process) *stats.Accuracy {
	t.Helper()
	resp, err := http.Get("http://" + p.admin + "/status")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var st struct {
		Routes []struct {
			Candidates []struct {
				Truth *stats.Accuracy `json:"truth"`
			} `json:"candidates"`
		} `json:"routes"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&st); err != nil {
		t.Fatal(err)
	}
	return st.Routes[0].Candidates[0].Truth
}

func TestE2ELabelsPostedJoinOnline(t *testing.T) {
	primary, candidate := truthModels(t)
	records := filepath.Join(t.TempDir(), "records.jsonl")
	p, cfgPath := startProxy(t, liveTruthConfig(primary, candidate, records, ""))
	sendTruthTraffic(t, p)

	var body strings.Builder
	for x := range truthInputs {
		fmt.Fprintf(&body, `{"id":"req-%d","label":%d}`+"\n", x, x)
	}
	body.WriteString(`{"id":"req-3","label":3}` + "\n" + `{"id":"never-seen","label":1}` + "\n" + "not json\n")
	resp, err := http.Post("http://"+p.admin+"/labels", "application/x-ndjson", strings.NewReader(body.String()))
	if err != nil {
		t.Fatal(err)
	}
	var counts map[string]int
	if err := json.NewDecoder(resp.Body).Decode(&counts); err != nil || resp.StatusCode != 200 {
		t.Fatalf("POST /labels: %d %v", resp.StatusCode, err)
	}
	resp.Body.Close()
	if counts["joined"] != 100 || counts["duplicate"] != 1 || counts["unknown"] != 1 || counts["malformed"] != 1 {
		t.Errorf("label outcomes %v", counts)
	}
	tr := statusTruth(t, p)
	if tr == nil || tr.Compared != 100 || tr.Labeled != 100 || *tr.PrimaryAccuracy != 0.8 || *tr.CandidateAccuracy != 0.85 || *tr.AccuracyDelta != 0.05 {
		t.Fatalf("/status truth %+v", tr)
	}
	for sample, want := range map[string]float64{
		`shadowproxy_truth_labels_total{outcome="joined",route="iris"}`:                                       100,
		`shadowproxy_truth_labels_total{outcome="duplicate",route="iris"}`:                                    1,
		`shadowproxy_truth_labels_total{outcome="unknown",route=""}`:                                          1,
		`shadowproxy_truth_correct_total{candidate="iris-v2",judged="differ",model="candidate",route="iris"}`: 10,
		`shadowproxy_truth_correct_total{candidate="iris-v2",judged="differ",model="primary",route="iris"}`:   5,
		`shadowproxy_truth_judged_total{candidate="iris-v2",judged="differ",route="iris"}`:                    25,
	} {
		if got := p.metric(t, sample); got != want {
			t.Errorf("%s = %v, want %v", sample, got, want)
		}
	}
	// A body over the limit is refused whole.
	big := strings.Repeat(`{"id":"x","label":1}`+"\n", maxLabelsBody/20+1)
	if resp, err := http.Post("http://"+p.admin+"/labels", "application/x-ndjson", strings.NewReader(big)); err != nil || resp.StatusCode != http.StatusRequestEntityTooLarge {
		t.Errorf("oversized body: %v %v", resp.StatusCode, err)
	} else {
		resp.Body.Close()
	}
	p.stop(t)

	// Offline, the same records and labels score the same.
	labels := filepath.Join(t.TempDir(), "labels.jsonl")
	if err := os.WriteFile(labels, []byte(body.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	rep := runScore(t, "-config", cfgPath, "-records", records, "-labels", labels)
	if c := onlyCandidate(t, rep); *c.AccuracyDelta != 0.05 || c.Compared != 100 {
		t.Errorf("score of the recorded traffic: %+v", c)
	}
}

func TestE2ELabelsFromKafkaJoinOnline(t *testing.T) {
	const topic = "shadowproxy.labels"
	kafka, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(1, topic))
	if err != nil {
		t.Fatal(err)
	}
	defer kafka.Close()
	addr := kafka.ListenAddrs()[0]
	primary, candidate := truthModels(t)
	records := filepath.Join(t.TempDir(), "records.jsonl")
	p, _ := startProxy(t, liveTruthConfig(primary, candidate, records,
		fmt.Sprintf("labels:\n  kafka: {brokers: [%q], topic: %s, group: e2e}\n", addr, topic)))
	sendTruthTraffic(t, p)

	cl, err := kgo.NewClient(kgo.SeedBrokers(addr), kgo.DefaultProduceTopic(topic))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	// Only the disagreements are labeled: the cheapest plan still gives the delta.
	for x := range 25 {
		v := fmt.Sprintf(`{"id":"req-%d","label":%d}`, x, x)
		if err := cl.ProduceSync(ctx, &kgo.Record{Key: []byte(fmt.Sprint(x)), Value: []byte(v)}).FirstErr(); err != nil {
			t.Fatal(err)
		}
	}
	waitFor(t, "25 labels joined from Kafka", func() bool {
		return p.metric(t, `shadowproxy_truth_labels_total{outcome="joined",route="iris"}`) == 25
	})
	tr := statusTruth(t, p)
	if tr.LabeledDisagreements != 25 || tr.AccuracyDelta == nil || *tr.AccuracyDelta != 0.05 || tr.PrimaryAccuracy != nil {
		t.Fatalf("/status truth from disagreement labels: %+v", tr)
	}
	p.stop(t)
}
