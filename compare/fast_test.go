package compare

import (
	"fmt"
	"math/rand/v2"
	"strings"
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
	{Format: FormatKServeV2, Tolerance: Tolerance{Abs: 1e-3}},
	{Ignore: []string{"outputs.debug"}, Rules: []Rule{
		{Path: "outputs.probs", Mode: "argmax"},
		{Path: "outputs.top", Mode: "topk", K: 2, MinOverlap: 1},
		{Path: "outputs.emb", Mode: "cosine", MinSimilarity: 0.99},
		{Path: "outputs.exact", Mode: "exact"},
		{Path: "outputs.loose", Mode: "tolerance", Abs: 0.5},
		{Path: "outputs.label", Mode: "label"},
		{Path: "outputs.skip", Mode: "ignore"},
	}},
	{Format: FormatKServeV2, Rules: []Rule{{Path: "outputs.*", Mode: "argmax"}, {Path: "outputs.probs[0]", Mode: "ignore"}}},
	{Ignore: []string{"predictions[1].t", "predictions[*].x.u[*].t"}, Rules: []Rule{{Path: "predictions[0].a", Mode: "tolerance", Abs: 5}}},
	{Rules: []Rule{{Path: "v", Mode: "argmax"}}},
	// Found by the random options (TestFastPathRandomOptions): a rule applying only to the second
	// of a duplicate key; set over prediction columns (an object: compared structurally, its rows
	// counted); a rule on a key the detected format ignores; set over objects with a duplicate key.
	{Format: FormatOpenAI, Rules: []Rule{{Path: "*[*]", Mode: "ignore"}}},
	{Rules: []Rule{{Path: "predictions", Mode: "set"}, {Path: "model", Mode: "cosine"}}},
	{Format: FormatKServeV1, Rules: []Rule{{Path: "*", Mode: "set"}}},
}

// v2Pairs are kserve-v2 answer pairs for the differential test: the fast path's cases, and each
// way it gives up.
var v2Pairs = [][2]string{
	{`{"model_name":"m","id":"1","outputs":[{"name":"probs","datatype":"FP32","shape":[2,3],"data":[0.1,0.7,0.2,0.5,0.3,0.2]}]}`,
		`{"model_name":"m-2","id":"2","outputs":[{"name":"probs","datatype":"FP32","shape":[2,3],"data":[0.2,0.6,0.2,0.6,0.2,0.2]}]}`},
	{`{"outputs":[{"name":"probs","datatype":"FP32","shape":[2,3],"data":[0.1,0.7,0.2,0.5,0.3,0.2]}]}`,
		`{"outputs":[{"name":"probs","datatype":"FP32","shape":[2,3],"data":[0.1,0.2,0.7,0.5,0.3,0.2]}]}`},
	{`{"outputs":[{"name":"probs","datatype":"FP32","shape":[3],"data":[0.1,0.7,0.2]},{"name":"label","datatype":"INT64","shape":[1],"data":[1]}]}`,
		`{"outputs":[{"name":"probs","datatype":"FP32","shape":[3],"data":[0.1,0.7,0.2]},{"name":"label","datatype":"INT64","shape":[1],"data":[1]}]}`},
	{`{"outputs":[{"name":"top","shape":[1,3],"datatype":"FP32","data":[0.5,0.4,0.1]},{"name":"emb","shape":[2,2],"datatype":"FP32","data":[1,0,0,1]}]}`,
		`{"outputs":[{"name":"top","shape":[1,3],"datatype":"FP32","data":[0.4,0.5,0.1]},{"name":"emb","shape":[2,2],"datatype":"FP32","data":[1,0.01,0,1]}]}`},
	{`{"outputs":[{"name":"exact","shape":[2],"datatype":"INT64","data":[9007199254740993,1]},{"name":"loose","shape":[2],"datatype":"FP32","data":[1,2]}]}`,
		`{"outputs":[{"name":"exact","shape":[2],"datatype":"INT64","data":[9007199254740992,1]},{"name":"loose","shape":[2],"datatype":"FP32","data":[1.4,2]}]}`},
	{`{"outputs":[{"name":"debug","shape":[1],"datatype":"BYTES","data":["a"]},{"name":"skip","shape":[2],"data":[1,2]},{"name":"s","shape":[2],"datatype":"BYTES","data":["x","y"]}]}`,
		`{"outputs":[{"name":"debug","shape":[1],"datatype":"BYTES","data":["b"]},{"name":"skip","shape":[2],"data":[3,4]},{"name":"s","shape":[2],"datatype":"BYTES","data":["x","y"]}]}`},
	{`{"outputs":[{"name":"a","shape":[2],"data":[1,2]},{"name":"b","shape":[1],"data":[3]}]}`,
		`{"outputs":[{"name":"b","shape":[1],"data":[3]},{"name":"a","shape":[2],"data":[1,2]}]}`},
	{`{"outputs":[{"name":"a","shape":[2],"data":[1,2]}]}`, `{"outputs":[{"name":"a","shape":[1,2],"data":[1,2]}]}`},
	{`{"outputs":[{"name":"a","shape":[3],"data":[1,2]}]}`, `{"outputs":[{"name":"a","shape":[3],"data":[1,2]}]}`},
	{`{"outputs":[{"name":"a","shape":[2,2],"data":[[1,2],[3,4]]}]}`, `{"outputs":[{"name":"a","shape":[2,2],"data":[[1,2],[3,4]]}]}`},
	{`{"outputs":[{"name":"a","shape":[],"data":[5]}]}`, `{"outputs":[{"name":"a","shape":[],"data":[5]}]}`},
	{`{"outputs":[{"name":"a","shape":[0],"data":[]}]}`, `{"outputs":[{"name":"a","shape":[0],"data":[]}]}`},
	{`{"outputs":[{"data":[1],"name":"a","shape":[1]}]}`, `{"outputs":[{"data":[1],"name":"a","shape":[1]}]}`},
	{`{"outputs":[{"name":"a","datatype":"FP32","shape":[1],"parameters":{"binary_data_size":4}}]}`, `{"outputs":[{"name":"a","datatype":"FP32","shape":[1],"parameters":{"binary_data_size":4}}]}`},
	{`{"outputs":[{"name":"a","shape":[1],"data":[1],"name":"b"}]}`, `{"outputs":[{"name":"a","shape":[1],"data":[1],"name":"b"}]}`},
	{`{"outputs":[{"name":"a","shape":[1],"data":[1]}],"extra":[1,2]}`, `{"outputs":[{"name":"a","shape":[1],"data":[1]}],"extra":[1,2]}`},
	{`{"outputs":[{"x":1},{"name":"a","shape":[1],"data":[1]}]}`, `{"outputs":[{"x":1},{"name":"a","shape":[1],"data":[1]}]}`},
	{`{"model_name":"m","outputs":[1,2]}`, `{"model_name":"m","outputs":[1,2]}`},
	{`{"outputs":[1,2]}`, `{"outputs":[1,2]}`},
	{`{"outputs":[]}`, `{"outputs":[]}`},
	{`{"outputs":[{"name":"probs","shape":[2,3],"data":[0.1,0.7,0.2,0.5,0.3,0.2]}],"model_version":"1"}`,
		`{"model_version":"2","outputs":[{"name":"probs","shape":[2,3],"data":[0.1,0.7,0.2,0.5,0.3,0.2]}]}`},
	{`{"outputs":[{"name":"probs","shape":[1,2],"data":["a","b"]}]}`, `{"outputs":[{"name":"probs","shape":[1,2],"data":["a","b"]}]}`},
	{`{"outputs":[{"name":"n\u0061","shape":[1],"data":[1]}]}`, `{"outputs":[{"name":"na","shape":[1],"data":[1]}]}`},
}

// fastPairs are answer pairs for the differential test: shapes and spellings the fast path handles,
// or gives up on.
var fastPairs = [][2]string{
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
	{`{"a":1,"b":"x"}`, `{"a":11,"b":"x"}`},
	{`{"a":1.5,"b":"x"}`, `{"a":1.50,"b":"xy"}`},
	{`{"a":1, "b" :2}`, `{"a":1, "b" :2}`},
	{`{"v":[0.1, 0.7,0.2 ]}`, `{"v":[ 0.1,0.7 , 0.2]}`},
	{`{"v":[0.1,0.7,0.2]}`, `{"v":[0.1,0.7,0.2,]}`},
	{`{"v":[0.1,0.7,0.2]}`, `{"v":[0.1,0.7,,0.2]}`},
	{`{"a":1,"b":2}`, `{"a":1,"bb":2}`},
	// Arrays of objects (keys remembered between elements: siblingKeys).
	{`{"predictions":[{"a":1,"t":5},{"a":1,"t":6},{"a":1,"t":7}]}`, `{"predictions":[{"a":1,"t":8},{"a":1,"t":9},{"a":1,"t":0}]}`},
	{`{"predictions":[{"a":1,"b":2},{"b":2,"a":1},{"a":1}]}`, `{"predictions":[{"a":1,"b":2},{"b":2,"a":1},{"a":1}]}`},
	{`{"predictions":[{"a":1,"b":2},{"a":1,"b":2}]}`, `{"predictions":[{"a":1,"b":2},{"a":1,"c":2}]}`},
	{`{"predictions":[{"a":1,"b":2},{"a":1, "b":2}]}`, `{"predictions":[{"a":1,"b":2},{"a":1,"b" :2}]}`},
	{`{"predictions":[[{"a":1},{"a":2}],[{"b":1},{"a":1}]]}`, `{"predictions":[[{"a":1},{"a":2}],[{"b":1},{"a":1}]]}`},
	{`{"predictions":[{"x":{"t":1,"u":[{"t":2}]}},{"x":{"t":1,"u":[{"t":3}]}}]}`, `{"predictions":[{"x":{"t":1,"u":[{"t":2}]}},{"x":{"t":1,"u":[{"t":3}]}}]}`},
}

// checkFast compares the fast path with the full one under every fastOptions.
func checkFast(t *testing.T, p, q []byte) {
	t.Helper()
	for i, o := range fastOptions {
		if !checkFastWith(t, o, p, q) {
			t.Fatalf("options %d: %+v", i, o)
		}
	}
}

// checkFastWith compares the fast path with the full one under o: whenever the fast path agrees, the
// full comparison must give the same Result. It returns false (having reported it) when they differ,
// and true when they do not or when New refuses o.
func checkFastWith(t *testing.T, o Options, p, q []byte) bool {
	t.Helper()
	fastC, slowC, ok := fastAndFull(o)
	return !ok || checkFastOn(t, fastC, slowC, p, q)
}

// fastAndFull compiles o twice: as it is, and taking the full path only.
func fastAndFull(o Options) (fastC, slowC *Comparator, ok bool) {
	fastC, err := New(o)
	if err != nil {
		return nil, nil, false
	}
	slowC, _ = New(o)
	slowC.noFast = true
	return fastC, slowC, true
}

func checkFastOn(t *testing.T, fastC, slowC *Comparator, p, q []byte) bool {
	t.Helper()
	pr, qr := Response{Status: 200, Body: p}, Response{Status: 200, Body: q}
	got, want := fastC.Compare(pr, qr), slowC.Compare(pr, qr)
	if got.Outcome != want.Outcome || got.Predictions != want.Predictions || got.Format != want.Format || got.DiffCount != want.DiffCount || got.RulesApplied != want.RulesApplied {
		t.Errorf("fast path %v %+v %s rules %b, full path %v %+v %s rules %b (%s)\n%s\nprimary   %q\ncandidate %q",
			got.Outcome, got.Predictions, got.Format, got.RulesApplied, want.Outcome, want.Predictions, want.Format, want.RulesApplied, want.Reason, diffs(want), p, q)
		return false
	}
	return true
}

// fuzzPaths are the paths random Options draw from: they name parts of the seeds' answers, in every
// form the path syntax has (keys, [N], [*], *, quoted keys, $.), and some that name nothing.
var fuzzPaths = []string{
	"predictions", "predictions[*]", "predictions[0]", "predictions[1].t", "predictions[*].scores",
	"predictions[*].label", "predictions[*].a", "predictions[*].probabilities", "predictions.label",
	"predictions.label[*]", "predictions[*].*", "outputs", "outputs.o", "outputs.*", "outputs.scores",
	"outputs.probs", "outputs.probs[0]", "outputs.o[*]", "outputs.a[*][*]", "outputs.*[*]", "result",
	"result[*]", "result[*][0][0]", "results[*]", "choices[*].message.content", "choices[*].text",
	"choices[*].finish_reason", "choices[*]", "data[*].embedding", "data[*]", "data", "model_version",
	"model_name", "id", "model", "created", "usage", "parameters", "object", "error", "served_at", "*",
	"*.*", "*[*]", "$.a", "a", "b", "v", "k", "x.id", `["a.b"]`, "[*]", "[0]", "[*][*]", "[1].b",
}

// fuzzTolerances are the tolerances random Options draw from.
var fuzzTolerances = []float64{0, 1e-9, 1e-6, 1e-4, 1e-3, 0.1, 0.5, 1, 100}

// fuzzOptions decodes Options from b, a byte per choice (0 once b is used up): a format, a
// tolerance, MaxDiffs, up to 3 ignore paths and up to 5 rules of any mode with their parameters.
func fuzzOptions(b []byte) Options {
	next := func(n int) int {
		if len(b) == 0 {
			return 0
		}
		v := int(b[0]) % n
		b = b[1:]
		return v
	}
	pick := func(list []float64) float64 { return list[next(len(list))] }
	formats := append([]string{""}, Formats...)
	o := Options{
		Format:    formats[next(len(formats))],
		Tolerance: Tolerance{Abs: pick(fuzzTolerances), Rel: pick(fuzzTolerances)},
		MaxDiffs:  next(5) - 1,
	}
	for range next(4) {
		o.Ignore = append(o.Ignore, fuzzPaths[next(len(fuzzPaths))])
	}
	for range next(6) {
		r := Rule{Path: fuzzPaths[next(len(fuzzPaths))], Mode: Modes[next(len(Modes))]}
		switch r.Mode {
		case "tolerance":
			r.Abs, r.Rel = pick(fuzzTolerances), pick(fuzzTolerances)
		case "topk":
			r.K = next(5)
			r.MinOverlap, r.MinJaccard = float64(next(5))/4, float64(next(5))/4
			r.Ranked = next(2) == 1
		case "cosine":
			r.MinSimilarity = pick([]float64{0, -1, 0.5, 0.9, 0.99, 1})
		case "text":
			r.MaxDistance = float64(next(5)) / 4
		case "label":
			if next(2) == 1 {
				r.Mapping = map[string]string{"1": "2", "2": "1", "cat": "dog", "0": "0"}
			}
		}
		o.Rules = append(o.Rules, r)
	}
	return o
}

func TestFastPathMatches(t *testing.T) {
	for _, s := range fuzzSeeds {
		checkFast(t, []byte(s[0]), []byte(s[1]))
		checkFast(t, []byte(s[0]), []byte(s[0]))
	}
	for _, s := range v2Pairs {
		checkFast(t, []byte(s[0]), []byte(s[1]))
		checkFast(t, []byte(s[0]), []byte(s[0]))
		checkFast(t, []byte(s[1]), []byte(s[1]))
	}
	for _, name := range []string{"tfserving_predict_row", "tfserving_predict_objects", "tfserving_classify", "tfserving_nan", "kserve_v1", "kserve_v2", "mlserver", "mlflow_columns", "openai_chat", "openai_completions", "openai_embeddings", "json"} {
		p, c := loadGolden(t, name, "primary").Body, loadGolden(t, name, "candidate").Body
		checkFast(t, p, c)
		checkFast(t, p, p)
		checkFast(t, c, c)
	}
	checkFast(t, typical1KB(0), typical1KB(2e-6))
	checkFast(t, typical1KB(0), flipped1KB())
	for _, s := range fastPairs {
		checkFast(t, []byte(s[0]), []byte(s[1]))
	}
}

// FuzzFastPath is the differential test: for random bodies, under the fixed fastOptions and under
// random Options decoded from opts (format, tolerance, ignore paths, rules of every mode), an
// agreement of the fast path must be the full path's Result.
func FuzzFastPath(f *testing.F) {
	optSeeds := [][]byte{nil, {1, 2, 3, 2, 1, 0, 5, 6, 1}, {4, 0, 0, 0, 0, 3, 20, 2, 9, 4, 3, 2, 1, 30, 4, 2, 1}, {6, 3, 3, 1, 2, 11, 12, 5, 12, 2, 3, 3, 1, 14, 6, 3, 17, 1}, {7, 2, 2, 4, 0, 5, 24, 4, 0, 28, 5, 2, 1}}
	for i, s := range fuzzSeeds {
		f.Add([]byte(s[0]), []byte(s[1]), optSeeds[i%len(optSeeds)])
		f.Add([]byte(s[0]), []byte(s[0]), optSeeds[(i+1)%len(optSeeds)])
	}
	for i, s := range v2Pairs {
		f.Add([]byte(s[0]), []byte(s[1]), optSeeds[i%len(optSeeds)])
	}
	f.Add(typical1KB(0), typical1KB(2e-6), []byte(nil))
	f.Add(typicalV2(0), typicalV2(2e-6), optSeeds[1])
	f.Fuzz(func(t *testing.T, p, q, opts []byte) {
		checkFast(t, p, q)
		checkFast(t, p, p)
		o := fuzzOptions(opts)
		if !checkFastWith(t, o, p, q) || !checkFastWith(t, o, p, p) {
			t.Fatalf("options %#v", o)
		}
	})
}

// TestFastPathRandomOptions sweeps the differential test over Options drawn at random (a fixed
// seed, so a failure repeats) for every answer pair of the tests, each also against itself.
func TestFastPathRandomOptions(t *testing.T) {
	var pairs [][2][]byte
	for _, list := range [][][2]string{fuzzSeeds, v2Pairs, fastPairs} {
		for _, s := range list {
			pairs = append(pairs, [2][]byte{[]byte(s[0]), []byte(s[1])}, [2][]byte{[]byte(s[0]), []byte(s[0])}, [2][]byte{[]byte(s[1]), []byte(s[1])})
		}
	}
	pairs = append(pairs, [2][]byte{typical1KB(0), typical1KB(2e-6)}, [2][]byte{typicalV2(0), typicalV2(2e-6)}, [2][]byte{typical1KB(0), flipped1KB()})
	rnd := rand.New(rand.NewPCG(13, 3))
	n := 300
	if testing.Short() {
		n = 50
	}
	opts := make([]byte, 40)
	for range n {
		for i := range opts {
			opts[i] = byte(rnd.Uint32())
		}
		o := fuzzOptions(opts)
		fastC, slowC, ok := fastAndFull(o)
		if !ok {
			continue
		}
		for _, pq := range pairs {
			if !checkFastOn(t, fastC, slowC, pq[0], pq[1]) {
				t.Fatalf("options %#v", o)
			}
		}
	}
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

	c = benchComparatorV2(t)
	for _, asked := range []string{FormatAuto, FormatKServeV2} {
		w.reset(c)
		format, units, ok := w.fast(typicalV2(0), typicalV2(2e-6), asked)
		if !ok || format != FormatKServeV2 || units != 8 {
			t.Fatalf("fast path on the typical kserve-v2 answer (%s): %v %s %d", asked, ok, format, units)
		}
	}
}

// The keys remembered between the objects of an array are bounded, in depth and per object, and
// hold nothing of a comparison once it is over.
func TestSiblingKeysBounded(t *testing.T) {
	var b strings.Builder
	b.WriteString(`{"predictions":[`)
	for i := range 3 {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteByte('{')
		for k := range 100 {
			if k > 0 {
				b.WriteByte(',')
			}
			fmt.Fprintf(&b, `"k%d":[{"x":[{"y":[{"z":[{"w":[{"v":[{"u":[{"t":%d}]}]}]}]}]}]}]`, k, k)
		}
		b.WriteByte('}')
	}
	b.WriteString(`]}`)
	body := []byte(b.String())
	c, _ := New(Options{})
	var w walker
	w.reset(c)
	if _, _, ok := w.fast(body, body, FormatAuto); !ok {
		t.Fatal("fast path did not agree")
	}
	if len(w.sib) > siblingDepths {
		t.Errorf("%d depths remembered, want at most %d", len(w.sib), siblingDepths)
	}
	for d, s := range w.sib {
		if s.armed || len(s.keys) != 0 || cap(s.keys) > siblingKeysMax*2 {
			t.Errorf("depth %d: armed %v, %d keys (capacity %d) after the comparison", d, s.armed, len(s.keys), cap(s.keys))
		}
	}
}

// TestIdenticalAnswers checks the fast path's one-sided read of byte-identical answers against the
// full path where it must not cut corners: a rule or ignored path inside a container still counts
// (RulesApplied), prediction arrays are still counted, and invalid JSON deep inside is still
// unparseable.
func TestIdenticalAnswers(t *testing.T) {
	answer := `{"predictions":[{"label":"a","scores":[0.1,0.9],"meta":{"k":[1,2,{"x":"y"}]}},{"label":"b","scores":[0.8,0.2],"meta":{"k":[3]}}],"model_version":"1"}`
	for _, tc := range []struct {
		name string
		opts Options
		body string
		want Outcome
	}{
		{"no rules", Options{}, answer, Agree},
		{"json, no rules", Options{Format: FormatJSON}, answer, Agree},
		{"deep rule", Options{Rules: []Rule{{Path: "predictions[*].meta.k", Mode: "set"}}}, answer, Agree},
		{"deep ignore", Options{Ignore: []string{"predictions[*].meta"}}, answer, Agree},
		{"label rule", Options{Format: FormatTFServing, Rules: []Rule{{Path: "predictions[*].label", Mode: "label"}}}, answer, Agree},
		{"invalid inside", Options{}, `{"predictions":[{"label":"a","meta":{"k":[1,,2]}}]}`, Unparseable},
		{"nan inside (the full path reads NaN)", Options{Format: FormatJSON}, `{"a":[{"b":[NaN]}]}`, Agree},
	} {
		t.Run(tc.name, func(t *testing.T) {
			fastC, slowC, ok := fastAndFull(tc.opts)
			if !ok {
				t.Fatalf("New(%+v) failed", tc.opts)
			}
			b := []byte(tc.body)
			// Two copies, so that identical means equal bytes, not the same slice.
			if !checkFastOn(t, fastC, slowC, b, append([]byte(nil), b...)) {
				return
			}
			if got := fastC.Compare(Response{Status: 200, Body: b}, Response{Status: 200, Body: b}); got.Outcome != tc.want {
				t.Errorf("outcome %v (%s), want %v", got.Outcome, got.Reason, tc.want)
			}
		})
	}
}
