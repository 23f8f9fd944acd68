package main

import (
	"bytes"
	"context"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/valyala/fasthttp"

	"github.com/shadowproxy/shadowproxy/proxy/proxytest"
	"github.com/shadowproxy/shadowproxy/sink"
)

// truthConfig is a config whose route iris judges predictions[0].label.
func truthConfig(t *testing.T, extra string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "truth.yaml")
	cfg := `listen: "127.0.0.1:0"
admin: "127.0.0.1:0"
routes:
  - name: iris
    match: {path_prefix: /v1/models/iris}
    primary: {url: "http://127.0.0.1:1"}
    candidates:
      - {name: iris-v2, url: "http://127.0.0.1:2"}
    compare: {format: tfserving, ignore: [served_at]}
    truth: {prediction: "predictions[0].label"}
` + extra
	if err := os.WriteFile(path, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// truthCase is the test's world: 100 inputs whose true label is x % 3; the primary is wrong on
// inputs 0-19 and the candidate on 10-24 (each with its own wrong answer), so the candidate's
// accuracy is 0.85, the primary's 0.80, and the delta exactly +0.05.
const truthInputs = 100

func truthOf(x int) int         { return x % 3 }
func primaryWrong(x int) bool   { return x < 20 }
func candidateWrong(x int) bool { return x >= 10 && x < 25 }

func answerOf(x int, wrong bool, shift int) int {
	if wrong {
		return (truthOf(x) + shift) % 3
	}
	return truthOf(x)
}

// writeTruthRecords writes one record per input, as the file sink would with every comparison
// recorded (weight 1).
func writeTruthRecords(t *testing.T) string {
	t.Helper()
	var buf []byte
	for x := range truthInputs {
		p, c := answerOf(x, primaryWrong(x), 1), answerOf(x, candidateWrong(x), 2)
		kind := sink.KindAgreement
		if p != c {
			kind = sink.KindDisagreement
		}
		rec := &sink.Record{
			ID: fmt.Sprintf("req-%d", x), Time: time.Now(), Kind: kind, Route: "iris", Candidate: "iris-v2", Weight: 1,
			Request:           sink.Request{Method: "POST", Path: "/v1/models/iris:predict", Body: json.RawMessage(fmt.Sprintf(`{"x":%d}`, x))},
			PrimaryResponse:   sink.Response{Status: 200, Body: json.RawMessage(fmt.Sprintf(`{"predictions":[{"label":%d}],"served_at":1}`, p))},
			CandidateResponse: sink.Response{Status: 200, Body: json.RawMessage(fmt.Sprintf(`{"predictions":[{"label":%d}],"served_at":2}`, c))},
		}
		buf = sink.Encode(buf, rec)
		buf = append(buf, '\n')
	}
	path := filepath.Join(t.TempDir(), "records.jsonl")
	if err := os.WriteFile(path, buf, 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// writeTruthLabels writes the true labels of the inputs keep selects, as JSON lines.
func writeTruthLabels(t *testing.T, keep func(x int) bool) string {
	t.Helper()
	var b strings.Builder
	for x := range truthInputs {
		if keep(x) {
			fmt.Fprintf(&b, `{"id":"req-%d","label":%d}`+"\n", x, truthOf(x))
		}
	}
	b.WriteString(`{"id":"nobody","label":1}` + "\n")
	path := filepath.Join(t.TempDir(), "labels.jsonl")
	if err := os.WriteFile(path, []byte(b.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func runScore(t *testing.T, args ...string) scoreReport {
	t.Helper()
	var out, errb bytes.Buffer
	if err := run(append([]string{"score"}, args...), &out, &errb); err != nil {
		t.Fatalf("score: %v\n%s", err, errb.String())
	}
	var rep scoreReport
	if err := json.Unmarshal(out.Bytes(), &rep); err != nil {
		t.Fatalf("score output %s: %v", out.String(), err)
	}
	return rep
}

func onlyCandidate(t *testing.T, rep scoreReport) scoreCandidate {
	t.Helper()
	if len(rep.Routes) != 1 || rep.Routes[0].Name != "iris" || len(rep.Routes[0].Candidates) != 1 {
		t.Fatalf("routes %+v", rep.Routes)
	}
	return rep.Routes[0].Candidates[0]
}

func TestScoreExactAccuracyDifference(t *testing.T) {
	cfg, records := truthConfig(t, ""), writeTruthRecords(t)
	t.Run("every input labeled", func(t *testing.T) {
		rep := runScore(t, "-config", cfg, "-records", records, "-labels", writeTruthLabels(t, func(int) bool { return true }))
		c := onlyCandidate(t, rep)
		if c.Compared != 100 || c.Labeled != 100 || c.Disagreements != 25 {
			t.Fatalf("counts: %+v", c)
		}
		if *c.PrimaryAccuracy != 0.8 || *c.CandidateAccuracy != 0.85 || *c.AccuracyDelta != 0.05 {
			t.Fatalf("primary %v candidate %v delta %v, want 0.8 0.85 0.05", *c.PrimaryAccuracy, *c.CandidateAccuracy, *c.AccuracyDelta)
		}
		if ci := *c.AccuracyDeltaCI95; !(ci[0] < 0.05 && 0.05 < ci[1]) {
			t.Errorf("delta interval %v", ci)
		}
		if rep.Labels.Read != 101 || rep.Labels.Joined != 100 || rep.Labels.Unknown != 1 {
			t.Errorf("labels %+v", rep.Labels)
		}
	})
	t.Run("disagreements alone labeled", func(t *testing.T) {
		rep := runScore(t, "-config", cfg, "-records", records, "-labels",
			writeTruthLabels(t, func(x int) bool { return primaryWrong(x) || candidateWrong(x) }))
		c := onlyCandidate(t, rep)
		if c.Labeled != 25 || c.LabeledDisagreements != 25 || *c.AccuracyDelta != 0.05 {
			t.Fatalf("from disagreements alone: %+v", c)
		}
		if c.PrimaryAccuracy != nil || c.Note == "" {
			t.Errorf("accuracies without labeled agreements: %+v", c)
		}
	})
	t.Run("agreements recorded at 10%", func(t *testing.T) {
		// Keep 8 of the 75 agreements (inputs 25, 35, ..., 95), each of weight 10: they stand for 80
		// requests, so the estimated delta is (10 - 5) / (25 + 80).
		data, err := os.ReadFile(records)
		if err != nil {
			t.Fatal(err)
		}
		var kept []byte
		for x, line := range bytes.SplitAfter(bytes.TrimSpace(data), []byte("\n")) {
			switch {
			case primaryWrong(x) || candidateWrong(x):
				kept = append(kept, line...)
			case x%10 == 5:
				kept = append(kept, bytes.Replace(line, []byte(`"weight":1`), []byte(`"weight":10`), 1)...)
			}
		}
		sampled := filepath.Join(t.TempDir(), "sampled.jsonl")
		if err := os.WriteFile(sampled, kept, 0o600); err != nil {
			t.Fatal(err)
		}
		rep := runScore(t, "-config", cfg, "-records", sampled, "-labels", writeTruthLabels(t, func(int) bool { return true }))
		if c := onlyCandidate(t, rep); c.Compared != 33 || *c.AccuracyDelta != 0.047619 || *c.CandidateAccuracy != 0.857143 { // (10 + 80) / 105
			t.Errorf("weighted: %+v (delta %v, candidate %v)", c, *c.AccuracyDelta, *c.CandidateAccuracy)
		}
	})
}

// newCandidateWrong is where replay's new candidate errs.
func newCandidateWrong(x int) bool { return x >= 50 && x < 60 }

// newCandidate answers the truth except on newCandidateWrong, and only with the credentials that
// the records redacted.
func newCandidate(t *testing.T) string {
	return proxytest.Serve(t, func(ctx *fasthttp.RequestCtx) {
		if string(ctx.Request.Header.Peek("Authorization")) != "Bearer replayed" {
			ctx.SetStatusCode(401)
			return
		}
		var in struct{ X int }
		if err := json.Unmarshal(ctx.PostBody(), &in); err != nil {
			ctx.SetStatusCode(400)
			return
		}
		ctx.SetContentType("application/json")
		fmt.Fprintf(ctx, `{"predictions":[{"label":%d}],"served_at":%d}`, answerOf(in.X, newCandidateWrong(in.X), 1), time.Now().UnixNano())
	})
}

// replayRecords is writeTruthRecords' file with redacted credentials, plus a duplicate (the same
// request shadowed to a second candidate) and a truncated record.
func replayRecords(t *testing.T) string {
	t.Helper()
	data, err := os.ReadFile(writeTruthRecords(t))
	if err != nil {
		t.Fatal(err)
	}
	data = bytes.ReplaceAll(data, []byte(`"headers":{}`), []byte(`"headers":{"Authorization":"[redacted]","Content-Type":"application/json"}`))
	lines := bytes.SplitAfter(data, []byte("\n"))
	dup := bytes.Replace(lines[0], []byte(`"candidate":"iris-v2"`), []byte(`"candidate":"iris-v1"`), 1)
	trunc := bytes.Replace(bytes.Replace(lines[1], []byte(`"id":"req-1"`), []byte(`"id":"req-cut"`), 1), []byte(`"truncated":false`), []byte(`"truncated":true`), 1)
	data = append(append(data, dup...), trunc...)
	path := filepath.Join(t.TempDir(), "replay.jsonl")
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func runReplay(t *testing.T, args ...string) replayReport {
	t.Helper()
	var out, errb bytes.Buffer
	if err := run(append([]string{"replay"}, args...), &out, &errb); err != nil {
		t.Fatalf("replay: %v\n%s", err, errb.String())
	}
	var rep replayReport
	if err := json.Unmarshal(out.Bytes(), &rep); err != nil {
		t.Fatalf("replay output %s: %v", out.String(), err)
	}
	return rep
}

// TestReplayCountsExactlyItsDisagreements: the recorded primary is wrong on 0-19, the new candidate
// on 50-59: they disagree on exactly 30 of the 100 requests, and the labels say the candidate is
// better by (20-10)/100.
func TestReplayCountsExactlyItsDisagreements(t *testing.T) {
	cfg, records := truthConfig(t, ""), replayRecords(t)
	url := newCandidate(t)
	out := filepath.Join(t.TempDir(), "new.jsonl")
	labels := writeTruthLabels(t, func(int) bool { return true })
	check := func(t *testing.T, rep replayReport) {
		t.Helper()
		if rep.Comparisons["agree"] != 70 || rep.Comparisons["disagree"] != 30 || rep.Shadows["ok"] != 100 {
			t.Fatalf("comparisons %v shadows %v", rep.Comparisons, rep.Shadows)
		}
		if rep.DisagreementRate != 0.3 || *rep.WeightedEstimate != 0.3 || !(rep.CI95[0] < 0.3 && 0.3 < rep.CI95[1]) {
			t.Errorf("rate %v weighted %v ci %v", rep.DisagreementRate, *rep.WeightedEstimate, rep.CI95)
		}
		if rep.Skipped.Duplicate != 1 || rep.Skipped.Truncated != 1 || rep.RedactedHeaders["Authorization"] != 0 {
			t.Errorf("skipped %+v, redacted %v", rep.Skipped, rep.RedactedHeaders)
		}
	}
	rep := runReplay(t, "-config", cfg, "-records", records, "-candidate", "iris-v3="+url, "-c", "4", "-rate", "2000",
		"-header", "Authorization: Bearer replayed", "-out", out, "-labels", labels)
	check(t, rep)
	if rep.Truth == nil || *rep.Truth.AccuracyDelta != 0.1 || *rep.Truth.CandidateAccuracy != 0.9 {
		t.Errorf("truth %+v", rep.Truth)
	}
	var kinds = map[string]int{}
	if _, err := eachRecord([]string{out}, func(r *sink.Record) {
		if r.Candidate != "iris-v3" {
			t.Errorf("record of %q", r.Candidate)
		}
		kinds[r.Kind]++
	}); err != nil {
		t.Fatal(err)
	}
	if kinds[sink.KindDisagreement] != 30 || kinds[sink.KindAgreement] != 70 {
		t.Errorf("-out records %v", kinds)
	}

	t.Run("without the redacted header", func(t *testing.T) {
		rep := runReplay(t, "-config", cfg, "-records", records, "-candidate", "iris-v3="+url)
		if rep.RedactedHeaders["Authorization"] != 100 || rep.Comparisons["agree"] != 0 {
			t.Errorf("redacted %v comparisons %v", rep.RedactedHeaders, rep.Comparisons)
		}
	})
	t.Run("from Kafka", func(t *testing.T) {
		const topic = "shadowproxy.records"
		kafka, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(2, topic))
		if err != nil {
			t.Fatal(err)
		}
		defer kafka.Close()
		addr := kafka.ListenAddrs()[0]
		cl, err := kgo.NewClient(kgo.SeedBrokers(addr), kgo.DefaultProduceTopic(topic))
		if err != nil {
			t.Fatal(err)
		}
		defer cl.Close()
		data, _ := os.ReadFile(records)
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		for i, line := range bytes.Split(bytes.TrimSpace(data), []byte("\n")) {
			if err := cl.ProduceSync(ctx, &kgo.Record{Key: []byte(strconv.Itoa(i)), Value: line}).FirstErr(); err != nil {
				t.Fatal(err)
			}
		}
		check(t, runReplay(t, "-config", cfg, "-kafka-brokers", addr, "-kafka-topic", topic, "-candidate", "iris-v3="+url,
			"-header", "Authorization: Bearer replayed"))
	})
}

// TestExportRoundTrip: records -> Label Studio tasks -> an annotator's answers in Label Studio's
// export format -> score; and the same through CSV.
func TestExportRoundTrip(t *testing.T) {
	cfg, records := truthConfig(t, ""), writeTruthRecords(t)
	var out, errb bytes.Buffer
	if err := run([]string{"export", "-records", records, "-format", "labelstudio", "-config", cfg, "-kind", "disagreement"}, &out, &errb); err != nil {
		t.Fatalf("export: %v %s", err, errb.String())
	}
	var tasks []map[string]any
	if err := json.Unmarshal(out.Bytes(), &tasks); err != nil {
		t.Fatal(err)
	}
	if len(tasks) != 25 {
		t.Fatalf("%d tasks, want the 25 disagreements", len(tasks))
	}
	for i, task := range tasks {
		data := task["data"].(map[string]any)
		preds := task["predictions"].([]any)
		if len(preds) != 2 || !strings.HasPrefix(data["request"].(string), `{"x":`) {
			t.Fatalf("task %v", task)
		}
		var x int
		fmt.Sscanf(data["id"].(string), "req-%d", &x)
		// The annotator picks the true label among the choices (or types it).
		task["id"] = i + 1
		task["annotations"] = []any{map[string]any{"was_cancelled": false, "result": []any{map[string]any{
			"from_name": "label", "to_name": "request", "type": "choices", "value": map[string]any{"choices": []string{strconv.Itoa(truthOf(x))}},
		}}}}
	}
	exported, _ := json.Marshal(tasks)
	lsPath := filepath.Join(t.TempDir(), "label-studio-export.json")
	if err := os.WriteFile(lsPath, exported, 0o600); err != nil {
		t.Fatal(err)
	}
	if c := onlyCandidate(t, runScore(t, "-config", cfg, "-records", records, "-labels", lsPath)); c.LabeledDisagreements != 25 || *c.AccuracyDelta != 0.05 {
		t.Errorf("score from Label Studio's export: %+v", c)
	}

	out.Reset()
	if err := run([]string{"export", "-records", records, "-format", "csv", "-config", cfg}, &out, &errb); err != nil {
		t.Fatalf("export csv: %v", err)
	}
	rows, err := csv.NewReader(&out).ReadAll()
	if err != nil || len(rows) != 101 || rows[0][6] != "label" {
		t.Fatalf("csv: %d rows, %v", len(rows), err)
	}
	for _, row := range rows[1:] {
		var x int
		fmt.Sscanf(row[0], "req-%d", &x)
		row[6] = strconv.Itoa(truthOf(x))
	}
	var filled bytes.Buffer
	_ = csv.NewWriter(&filled).WriteAll(rows)
	csvPath := filepath.Join(t.TempDir(), "labels.csv")
	if err := os.WriteFile(csvPath, filled.Bytes(), 0o600); err != nil {
		t.Fatal(err)
	}
	if c := onlyCandidate(t, runScore(t, "-config", cfg, "-records", records, "-labels", csvPath)); c.Labeled != 100 || *c.AccuracyDelta != 0.05 || *c.PrimaryAccuracy != 0.8 {
		t.Errorf("score from the filled CSV: %+v", c)
	}
}
