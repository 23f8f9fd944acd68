package compare

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite testdata/golden/*.golden")

// defaultTolerance is what the configuration passes when a route leaves tolerance out.
var defaultTolerance = Tolerance{Abs: 1e-6, Rel: 1e-4}

// loadGolden reads testdata/golden/NAME.{primary,candidate}.EXT as Responses.
func loadGolden(t *testing.T, name, side string) Response {
	t.Helper()
	matches, _ := filepath.Glob(filepath.Join("testdata", "golden", name+"."+side+".*"))
	if len(matches) != 1 {
		t.Fatalf("%s %s: %d files", name, side, len(matches))
	}
	body, err := os.ReadFile(matches[0])
	if err != nil {
		t.Fatal(err)
	}
	r := Response{Status: 200, Body: body}
	switch filepath.Ext(matches[0]) {
	case ".json":
		r.ContentType = []byte("application/json")
	case ".sse":
		r.ContentType = []byte("text/event-stream")
	case ".txt":
		r.ContentType = []byte("text/plain; charset=utf-8")
	case ".bin":
		r.ContentType = []byte("application/octet-stream")
		n, err := os.ReadFile(filepath.Join("testdata", "golden", name+".jsonlength"))
		if err != nil {
			t.Fatal(err)
		}
		r.JSONLength, _ = strconv.Atoi(strings.TrimSpace(string(n)))
	}
	return r
}

// render writes a Result as the golden files hold it.
func render(r Result) string {
	var b strings.Builder
	fmt.Fprintf(&b, "outcome: %s\nformat: %s\npredictions: agree=%d disagree=%d\n", r.Outcome, r.Format, r.Predictions.Agree, r.Predictions.Disagree)
	if r.Reason != "" {
		fmt.Fprintf(&b, "reason: %s\n", r.Reason)
	}
	fmt.Fprintf(&b, "diffs: %d\n", r.DiffCount)
	for _, d := range r.Diffs {
		fmt.Fprintf(&b, "- path: %s\n  field: %s\n  primary: %s\n  candidate: %s\n  reason: %s\n", d.Path, d.Field, d.Primary, d.Candidate, d.Reason)
	}
	return b.String()
}

func TestGolden(t *testing.T) {
	tests := []struct {
		name string
		opts Options
	}{
		{"tfserving_predict_row", Options{}},
		{"tfserving_predict_objects", Options{Rules: []Rule{
			{Path: "predictions[*].scores", Mode: "argmax"},
			{Path: "predictions[*].score", Mode: "tolerance", Abs: 0.05},
		}}},
		{"tfserving_predict_columnar", Options{Format: FormatTFServing}},
		{"tfserving_classify", Options{Rules: []Rule{{Path: "result[*][0][0]", Mode: "label"}, {Path: "result[*][*][1]", Mode: "ignore"}, {Path: "result[*][*][0]", Mode: "ignore"}}}},
		{"tfserving_regress", Options{}},
		{"tfserving_nan", Options{}},
		{"tfserving_error", Options{}},
		{"kserve_v1", Options{Format: FormatKServeV1}},
		{"kserve_v2", Options{}},
		{"mlserver", Options{Rules: []Rule{{Path: "outputs.predict_proba[*]", Mode: "argmax"}}}},
		{"triton_binary", Options{}},
		{"mlflow_list", Options{Format: FormatMLflow}},
		{"mlflow_columns", Options{Rules: []Rule{{Path: "predictions.probability", Mode: "tolerance", Abs: 0.015}}}},
		{"openai_chat", Options{Rules: []Rule{{Path: "choices[*].message.content", Mode: "text", MaxDistance: 0.1}}}},
		{"openai_stream", Options{}},
		{"openai_stream_error", Options{}},
		{"openai_completions", Options{Rules: []Rule{{Path: "choices[*].text", Mode: "text"}}}},
		{"openai_embeddings", Options{Rules: []Rule{{Path: "data[*].embedding", Mode: "cosine", MinSimilarity: 0.999}}}},
		{"json", Options{Ignore: []string{"served_at"}}},
		{"raw", Options{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.opts.Tolerance == (Tolerance{}) {
				tt.opts.Tolerance = defaultTolerance
			}
			c := mustNew(t, tt.opts)
			got := render(c.Compare(loadGolden(t, tt.name, "primary"), loadGolden(t, tt.name, "candidate")))
			file := filepath.Join("testdata", "golden", tt.name+".golden")
			if *update {
				if err := os.WriteFile(file, []byte(got), 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			want, err := os.ReadFile(file)
			if err != nil {
				t.Fatalf("%v (run go test -run TestGolden -update to create it)", err)
			}
			if got != string(want) {
				t.Errorf("result differs from %s:\n--- got\n%s--- want\n%s", file, got, want)
			}
		})
	}
}
