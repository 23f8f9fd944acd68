package compare

import (
	"testing"
)

// fastOptions are comparators the differential test runs with.
var fastOptions = []Options{
	{},
	{Format: FormatJSON, Tolerance: Tolerance{Abs: 1e-6, Rel: 1e-4}},
	{Format: FormatTFServing, Ignore: []string{"model_version", "predictions[*].t"}},
	{Format: FormatMLflow},
	{Format: FormatOpenAI, Rules: []Rule{{Path: "choices[*].message.content", Mode: "text"}, {Path: "data[*].embedding", Mode: "cosine"}}},
	{Rules: fuzzRules, Tolerance: Tolerance{Abs: 1e-3}},
	{Rules: []Rule{
		{Path: "predictions[*].probabilities", Mode: "argmax"},
		{Path: "predictions", Mode: "topk", K: 2, MinJaccard: 0.3},
		{Path: "predictions[*].class", Mode: "label"},
		{Path: "predictions[*].tags", Mode: "set"},
		{Path: "predictions[*].exact", Mode: "exact"},
	}},
}

// checkFast compares the fast path with the full one: whenever the fast path agrees, the full
// comparison must give the same Result.
func checkFast(t *testing.T, p, q []byte) {
	for i, o := range fastOptions {
		fastC, err := New(o)
		if err != nil {
			t.Fatal(err)
		}
		slowC, _ := New(o)
		slowC.noFast = true
		pr, qr := Response{Status: 200, Body: p}, Response{Status: 200, Body: q}
		got, want := fastC.Compare(pr, qr), slowC.Compare(pr, qr)
		if got.Outcome != want.Outcome || got.Predictions != want.Predictions || got.Format != want.Format || got.DiffCount != want.DiffCount {
			t.Fatalf("options %d: fast path %v %+v %s, full path %v %+v %s (%s)\n%s", i,
				got.Outcome, got.Predictions, got.Format, want.Outcome, want.Predictions, want.Format, want.Reason, diffs(want))
		}
	}
}

func TestFastPathMatches(t *testing.T) {
	for _, s := range fuzzSeeds {
		checkFast(t, []byte(s[0]), []byte(s[1]))
		checkFast(t, []byte(s[0]), []byte(s[0]))
	}
	for _, name := range []string{"tfserving_predict_row", "tfserving_predict_objects", "tfserving_classify", "tfserving_nan", "kserve_v1", "mlflow_columns", "openai_chat", "openai_completions", "openai_embeddings", "json"} {
		p, c := loadGolden(t, name, "primary").Body, loadGolden(t, name, "candidate").Body
		checkFast(t, p, c)
		checkFast(t, p, p)
		checkFast(t, c, c)
	}
	checkFast(t, typical1KB(0), typical1KB(2e-6))
	checkFast(t, typical1KB(0), flipped1KB())
	for _, s := range [][2]string{
		{`{"id":"a","created":1,"choices":[{"index":0,"text":"x"}],"usage":{}}`, `{"created":2,"id":"b","choices":[{"index":0,"text":"x"}]}`},
		{`{"choices":[],"model":"a"}`, `{"model":"b","choices":[]}`},
		{`{"error":"x"}`, `{"error":"x"}`},
		{`{"predictions":[1],"error":null}`, `{"predictions":[1],"error":null}`},
		{`{"object":"text\u005fcompletion","x":[1]}`, `{"object":"text\u005fcompletion","x":[1]}`},
		{`{"predictions":{"a":[1]},"predictions":[1]}`, `{"predictions":{"a":[1]},"predictions":[1]}`},
		{"{}\x00", "{}"},
		{`{"a":"\u00e9"}`, `{"a":"é"}`},
		{`{"predictions":[{"class":["a","b"]}]}`, `{"predictions":[{"class":["a","b"]}]}`},
		{`{"predictions":[[1,2],[3,4]]}`, `{"predictions":[[1,2],[3,4]]}`},
		{`[[1,2],[3,4]]`, `[[1,2],[3,4]]`},
		{`{"model":"a","predictions":[1]}`, `{"model":"b","predictions":[1]}`},
		{`{"id":"a","predictions":[1]}`, `{"predictions":[1],"id":"a"}`},
		{`{"id":"a","choices":[{"text":"x"}],"usage":{"n":1}}`, `{"choices":[{"text":"x"}],"usage":{"n":2},"id":"b"}`},
		{`{"id":1,"data":[[1,2],[3]],"object":"list"}`, `{"id":2,"data":[[1,2],[3]],"object":"list"}`},
		{`{"predictions":[1,2],"outputs":{"a":[1,2,3]}}`, `{"predictions":[1,2],"outputs":{"a":[1,2,3]}}`},
		{`{"x":{"id":1}}`, `{"x":{"id":2}}`},
	} {
		checkFast(t, []byte(s[0]), []byte(s[1]))
	}
}

func FuzzFastPath(f *testing.F) {
	for _, s := range fuzzSeeds {
		f.Add([]byte(s[0]), []byte(s[1]))
		f.Add([]byte(s[0]), []byte(s[0]))
	}
	f.Add(typical1KB(0), typical1KB(2e-6))
	f.Fuzz(func(t *testing.T, p, q []byte) {
		checkFast(t, p, q)
		checkFast(t, p, p)
	})
}

func TestFastPathTaken(t *testing.T) {
	c := benchComparator(t)
	var w walker
	w.reset(c)
	format, units, ok := w.fast(typical1KB(0), typical1KB(2e-6), FormatAuto)
	if !ok || format != FormatTFServing || units != 8 {
		t.Fatalf("fast path on the typical answer: %v %s %d", ok, format, units)
	}
	w.reset(c)
	if _, _, ok := w.fast(typical1KB(0), flipped1KB(), FormatAuto); ok {
		t.Fatal("fast path agrees with a flipped answer")
	}
}
