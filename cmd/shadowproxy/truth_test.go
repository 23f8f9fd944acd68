package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

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
}
