package compare

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"strings"
	"sync"
	"testing"
)

func ok(body string) Response { return Response{Status: 200, Body: []byte(body)} }

func mustNew(t testing.TB, o Options) *Comparator {
	t.Helper()
	c, err := New(o)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return c
}

// diffs renders Diffs as "path primary candidate reason" lines.
func diffs(r Result) string {
	var b strings.Builder
	for _, d := range r.Diffs {
		b.WriteString(d.Path + " " + string(d.Primary) + " " + string(d.Candidate) + " " + d.Reason + "\n")
	}
	return b.String()
}

func TestOutcomeString(t *testing.T) {
	want := []string{"agree", "disagree", "unparseable", "primary_error", "candidate_error", "shape_mismatch", "unknown"}
	for i, w := range want {
		if got := Outcome(i).String(); got != w {
			t.Errorf("Outcome(%d) = %q, want %q", i, got, w)
		}
	}
}

func TestCheckPath(t *testing.T) {
	for _, c := range []struct {
		format, path string
		ok           bool
	}{
		{FormatKServeV2, "outputs.scores", true},
		{FormatKServeV2, "outputs.scores[*]", true},
		{FormatKServeV2, "outputs.*", true},
		{FormatKServeV2, "outputs.scores[*][0]", true},
		{FormatKServeV2, "model_name", true},
		{FormatKServeV2, "outputs", true},
		{FormatKServeV2, "outputs[*].data", false},
		{FormatKServeV2, "outputs[1]", false},
		{FormatKServeV2, "outputs.scores.data", false},
		{FormatKServeV2, "outputs.*.shape", false},
		{FormatKServeV2, "outputs.scores.parameters", false},
		{FormatAuto, "outputs[*].data", true}, // TF Serving's outputs may be a list
		{"", "outputs.scores.data", true},
		{FormatTFServing, "outputs[", false},
	} {
		if err := CheckPath(c.format, c.path); (err == nil) != c.ok || (err != nil && !errors.Is(err, ErrBadPath)) {
			t.Errorf("CheckPath(%q, %q) = %v, want ok %v", c.format, c.path, err, c.ok)
		}
	}
}

func TestNewErrors(t *testing.T) {
	tests := []struct {
		name string
		opts Options
		is   error
		text string
	}{
		{"unknown format", Options{Format: "protobuf"}, ErrUnknownFormat, `"protobuf"`},
		{"unknown mode", Options{Rules: []Rule{{Path: "a", Mode: "fuzzy"}}}, ErrUnknownMode, `"fuzzy"`},
		{"empty path", Options{Ignore: []string{""}}, ErrBadPath, "ignore[0]"},
		{"double dot", Options{Ignore: []string{"a..b"}}, ErrBadPath, `"a..b"`},
		{"trailing dot", Options{Ignore: []string{"a."}}, ErrBadPath, "ends with a dot"},
		{"unclosed bracket", Options{Ignore: []string{"a[1"}}, ErrBadPath, "missing ]"},
		{"bad index", Options{Ignore: []string{"a[x]"}}, ErrBadPath, `"x"`},
		{"negative index", Options{Ignore: []string{"a[-1]"}}, ErrBadPath, `"-1"`},
		{"stray bracket", Options{Ignore: []string{"a]"}}, ErrBadPath, "unexpected ]"},
		{"key after index", Options{Ignore: []string{"a[0]b"}}, ErrBadPath, "missing dot"},
		{"bad rule path", Options{Rules: []Rule{{Path: "a..b", Mode: "exact"}}}, ErrBadPath, "rules[0]"},
		{"negative tolerance", Options{Tolerance: Tolerance{Abs: -1}}, ErrBadRule, "tolerance"},
		{"NaN tolerance", Options{Rules: []Rule{{Path: "a", Mode: "tolerance", Rel: math.NaN()}}}, ErrBadRule, "abs and rel"},
		{"negative k", Options{Rules: []Rule{{Path: "a", Mode: "topk", K: -1}}}, ErrBadRule, "k must"},
		{"overlap above 1", Options{Rules: []Rule{{Path: "a", Mode: "topk", MinOverlap: 2}}}, ErrBadRule, "min_overlap"},
		{"similarity above 1", Options{Rules: []Rule{{Path: "a", Mode: "cosine", MinSimilarity: 1.5}}}, ErrBadRule, "min_similarity"},
		{"distance above 1", Options{Rules: []Rule{{Path: "a", Mode: "text", MaxDistance: 2}}}, ErrBadRule, "max_distance"},
		{"mapping off label", Options{Rules: []Rule{{Path: "a", Mode: "exact", Mapping: map[string]string{"a": "b"}}}}, ErrBadRule, "mapping"},
		{"kserve-v2 output by index", Options{Format: FormatKServeV2, Rules: []Rule{{Path: "outputs[*].data", Mode: "argmax"}}}, ErrBadPath, "named, not numbered"},
		{"kserve-v2 ignore by index", Options{Format: FormatKServeV2, Ignore: []string{"outputs[0]"}}, ErrBadPath, "ignore[0]"},
		{"kserve-v2 data below an output", Options{Format: FormatKServeV2, Rules: []Rule{{Path: "outputs.scores.data", Mode: "argmax"}}}, ErrBadPath, `no "data" below it`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := New(tt.opts)
			if !errors.Is(err, tt.is) {
				t.Fatalf("New() error = %v, want %v", err, tt.is)
			}
			if !strings.Contains(err.Error(), tt.text) {
				t.Errorf("error %q does not name %q", err, tt.text)
			}
		})
	}
}

func TestNewAccepts(t *testing.T) {
	for _, f := range append([]string{""}, Formats...) {
		if _, err := New(Options{Format: f}); err != nil {
			t.Errorf("format %q: %v", f, err)
		}
	}
	for _, m := range Modes {
		if _, err := New(Options{Rules: []Rule{{Path: "$.a.b[*][2].*[\"x.y\"]", Mode: m}}}); err != nil {
			t.Errorf("mode %q: %v", m, err)
		}
	}
}

func TestPaths(t *testing.T) {
	tests := []struct {
		pattern string
		path    []seg
		match   bool
	}{
		{"a.b", []seg{{key: "a"}, {key: "b"}}, true},
		{"a.b", []seg{{key: "a"}, {key: "c"}}, false},
		{"a[*].b", []seg{{key: "a"}, {kind: segIndex, idx: 7}, {key: "b"}}, true},
		{"a[7].b", []seg{{key: "a"}, {kind: segIndex, idx: 7}, {key: "b"}}, true},
		{"a[6].b", []seg{{key: "a"}, {kind: segIndex, idx: 7}, {key: "b"}}, false},
		{"a[*]", []seg{{key: "a"}, {key: "x"}}, false},
		{"*.b", []seg{{key: "zzz"}, {key: "b"}}, true},
		{"*.b", []seg{{kind: segIndex}, {key: "b"}}, false},
		{`["a.b"].c`, []seg{{key: "a.b"}, {key: "c"}}, true},
		{"$.a", []seg{{key: "a"}}, true},
		{"a", []seg{{key: "a"}, {key: "b"}}, false},
		{"outputs.scores[*][*]", []seg{{key: "outputs"}, {key: "scores"}, {kind: segIndex, idx: 1}, {kind: segIndex, idx: 2}}, true},
	}
	for _, tt := range tests {
		t.Run(tt.pattern, func(t *testing.T) {
			p, err := parsePath(tt.pattern)
			if err != nil {
				t.Fatal(err)
			}
			if got := p.match(tt.path); got != tt.match {
				t.Errorf("match = %v, want %v", got, tt.match)
			}
		})
	}
	stack := []seg{{key: "predictions"}, {kind: segIndex, idx: 3}, {key: "a.b"}, {kind: segIndex, idx: 0}}
	if got := string(appendPath(nil, stack, false)); got != `predictions[3]["a.b"][0]` {
		t.Errorf("path = %s", got)
	}
	if got := string(appendPath(nil, stack, true)); got != `predictions[*]["a.b"][*]` {
		t.Errorf("field = %s", got)
	}
}

func TestToleranceEqual(t *testing.T) {
	inf, nan := math.Inf(1), math.NaN()
	def := Tolerance{Abs: 1e-6, Rel: 1e-4}
	tests := []struct {
		name string
		tol  Tolerance
		a, b float64
		want bool
	}{
		{"equal", Tolerance{}, 1, 1, true},
		{"exact differs", Tolerance{}, 1, 1.0000001, false},
		{"within abs", def, 0, 1e-6, true},
		{"beyond abs", def, 0, 2e-6, false},
		{"within rel", def, 1000, 1000.05, true},
		{"beyond rel", def, 1000, 1000.2, false},
		{"rel of the smaller", Tolerance{Rel: 0.5}, 2, 3, true},
		{"rel of the smaller, beyond", Tolerance{Rel: 0.4}, 2, 3, false},
		{"NaN NaN", def, nan, nan, true},
		{"NaN number", def, nan, 1, false},
		{"number NaN", def, 1, nan, false},
		{"inf inf", def, inf, inf, true},
		{"inf -inf", def, inf, -inf, false},
		{"inf big", Tolerance{Rel: 1}, inf, math.MaxFloat64, false},
		{"negative", def, -5, -5.0001, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.tol.Equal(tt.a, tt.b); got != tt.want {
				t.Errorf("Equal(%v, %v) = %v, want %v", tt.a, tt.b, got, tt.want)
			}
		})
	}
}

func TestStatus(t *testing.T) {
	c := mustNew(t, Options{})
	body := []byte(`{"predictions":[1]}`)
	tests := []struct {
		name   string
		ps, cs int
		want   Outcome
	}{
		{"both ok", 200, 200, Agree},
		{"both 201 and 200", 201, 200, Agree},
		{"primary 500", 500, 200, PrimaryError},
		{"candidate 503", 200, 503, CandidateError},
		{"both 400", 400, 400, Agree},
		{"400 and 500", 400, 500, PrimaryError},
		{"candidate no status", 200, 0, CandidateError},
		{"redirect", 302, 200, PrimaryError},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := c.Compare(Response{Status: tt.ps, Body: body}, Response{Status: tt.cs, Body: body})
			if r.Outcome != tt.want {
				t.Errorf("Outcome = %v (%s), want %v", r.Outcome, r.Reason, tt.want)
			}
		})
	}
}

func TestStructural(t *testing.T) {
	tests := []struct {
		name    string
		opts    Options
		p, c    string
		want    Outcome
		diffs   string
		agreeP  int
		disagrP int
	}{
		{name: "equal", p: `{"a":1,"b":[1,2],"c":{"d":"x"}}`, c: `{"c":{"d":"x"},"b":[1,2],"a":1}`, want: Agree},
		{name: "number", p: `{"a":1}`, c: `{"a":2}`, want: Disagree, diffs: "a 1 2 value\n"},
		{name: "within tolerance", opts: Options{Tolerance: Tolerance{Abs: 0.5}}, p: `{"a":1}`, c: `{"a":1.4}`, want: Agree},
		{name: "exact by default", p: `{"a":1}`, c: `{"a":1.0000001}`, want: Disagree, diffs: "a 1 1.0000001 value\n"},
		{name: "1 and 1.0", p: `{"a":1}`, c: `{"a":1.0}`, want: Agree},
		{name: "type change", p: `{"a":1}`, c: `{"a":"1"}`, want: Disagree, diffs: "a 1 \"1\" type\n"},
		{name: "bool", p: `{"a":true}`, c: `{"a":false}`, want: Disagree, diffs: "a true false value\n"},
		{name: "null vs value", p: `{"a":null}`, c: `{"a":0}`, want: Disagree, diffs: "a null 0 type\n"},
		{name: "missing", p: `{"a":1,"b":2}`, c: `{"a":1}`, want: Disagree, diffs: "b 2 null missing in candidate\n"},
		{name: "extra", p: `{"a":1}`, c: `{"a":1,"z":{"y":1}}`, want: Disagree, diffs: "z null {\"y\":1} missing in primary\n"},
		{name: "array longer", p: `{"a":[1]}`, c: `{"a":[1,2]}`, want: Disagree, diffs: "a[1] null 2 missing in primary\n"},
		{name: "nested", p: `{"a":[{"b":[1,{"c":"x"}]}]}`, c: `{"a":[{"b":[1,{"c":"y"}]}]}`, want: Disagree, diffs: "a[0].b[1].c \"x\" \"y\" value\n"},
		{name: "ignore", opts: Options{Ignore: []string{"served_at", "meta[*].t"}}, p: `{"served_at":1,"meta":[{"t":1,"u":2}]}`, c: `{"served_at":2,"meta":[{"t":3,"u":2}]}`, want: Agree},
		{name: "ignore extra", opts: Options{Ignore: []string{"trace"}}, p: `{"a":1}`, c: `{"a":1,"trace":"x"}`, want: Agree},
		{name: "NaN tokens", p: `{"a":[NaN,Infinity,-Infinity,1]}`, c: `{"a":[NaN,Infinity,-Infinity,1]}`, want: Agree},
		{name: "NaN differs", p: `{"a":NaN}`, c: `{"a":1}`, want: Disagree, diffs: "a \"NaN\" 1 value\n"},
		{name: "Infinity in string untouched", p: `{"a":"Infinity"}`, c: `{"a":"Infinity"}`, want: Agree},
		{name: "Infinity sign", p: `{"a":Infinity}`, c: `{"a":-Infinity}`, want: Disagree, diffs: "a \"Infinity\" \"-Infinity\" value\n"},
		{name: "escaped key", p: `{"a\"b":1}`, c: `{"a\"b":2}`, want: Disagree, diffs: "[\"a\\\"b\"] 1 2 value\n"},
		{name: "root scalar", p: `1`, c: `2`, want: Disagree, diffs: "$ 1 2 value\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o := tt.opts
			o.Format = FormatJSON
			r := mustNew(t, o).Compare(ok(tt.p), ok(tt.c))
			if r.Outcome != tt.want {
				t.Errorf("Outcome = %v (%s), want %v; diffs:\n%s", r.Outcome, r.Reason, tt.want, diffs(r))
			}
			if got := diffs(r); got != tt.diffs {
				t.Errorf("diffs:\n%s\nwant:\n%s", got, tt.diffs)
			}
			if r.DiffCount != len(r.Diffs) {
				t.Errorf("DiffCount = %d, len(Diffs) = %d", r.DiffCount, len(r.Diffs))
			}
			wantP := Predictions{Agree: 1}
			if tt.want != Agree {
				wantP = Predictions{Disagree: 1}
			}
			if r.Predictions != wantP {
				t.Errorf("Predictions = %+v, want %+v", r.Predictions, wantP)
			}
		})
	}
}

func TestMaxDiffs(t *testing.T) {
	p, c := `{"a":[1,2,3,4,5,6]}`, `{"a":[0,0,0,0,0,0]}`
	r := mustNew(t, Options{MaxDiffs: 2}).Compare(ok(p), ok(c))
	if len(r.Diffs) != 2 || r.DiffCount != 6 || r.Outcome != Disagree {
		t.Errorf("got %d diffs, count %d, %v", len(r.Diffs), r.DiffCount, r.Outcome)
	}
	r = mustNew(t, Options{MaxDiffs: -1}).Compare(ok(p), ok(c))
	if len(r.Diffs) != 0 || r.DiffCount != 6 || r.Outcome != Disagree {
		t.Errorf("negative MaxDiffs: %d diffs, count %d, %v", len(r.Diffs), r.DiffCount, r.Outcome)
	}
	var big strings.Builder
	big.WriteString(`{"a":[`)
	for i := range 40 {
		if i > 0 {
			big.WriteByte(',')
		}
		big.WriteString("1")
	}
	big.WriteString("]}")
	r = mustNew(t, Options{}).Compare(ok(big.String()), ok(strings.ReplaceAll(big.String(), "1", "2")))
	if len(r.Diffs) != 32 || r.DiffCount != 40 {
		t.Errorf("default cap: %d diffs, count %d", len(r.Diffs), r.DiffCount)
	}
}

func TestLongValuesSummarised(t *testing.T) {
	long := strings.Repeat("word ", 1000)
	r := mustNew(t, Options{}).Compare(ok(`{"t":"`+long+`","v":[`+strings.Repeat("1.5,", 999)+`1]}`), ok(`{"t":"x","v":[2]}`))
	if len(r.Diffs) < 2 {
		t.Fatalf("diffs: %s", diffs(r))
	}
	for _, d := range r.Diffs {
		if len(d.Primary) > maxDiffValue || !jsonValid(d.Primary) || !jsonValid(d.Candidate) {
			t.Errorf("%s: primary %d bytes, valid %v", d.Path, len(d.Primary), jsonValid(d.Primary))
		}
	}
}

func TestRaw(t *testing.T) {
	c := mustNew(t, Options{})
	r := c.Compare(Response{Status: 200, ContentType: []byte("text/plain"), Body: []byte("cat")}, Response{Status: 200, Body: []byte("cat")})
	if r.Outcome != Agree || r.Format != FormatRaw {
		t.Errorf("equal text: %v %s", r.Outcome, r.Format)
	}
	r = c.Compare(ok("cat"), ok("dog"))
	if r.Outcome != Disagree || diffs(r) != "$ \"cat\" \"dog\" body\n" {
		t.Errorf("text: %v %s", r.Outcome, diffs(r))
	}
	r = mustNew(t, Options{Format: FormatRaw}).Compare(ok(`{"a":1}`), ok(`{"a":1.0}`))
	if r.Outcome != Disagree {
		t.Errorf("raw compares bytes: %v", r.Outcome)
	}
}

func TestUnparseable(t *testing.T) {
	tests := []struct {
		name   string
		format string
		p, c   Response
		reason string
	}{
		{"candidate truncated", "", ok(`{"predictions":[1]}`), ok(`{"predictions":[1`), "candidate: "},
		{"primary garbage json", "", Response{Status: 200, ContentType: []byte("application/json"), Body: []byte("oops")}, ok(`{}`), "primary: "},
		{"json format text body", FormatJSON, ok("hello"), ok("hello"), "primary: "},
		{"empty stream", "", Response{Status: 200, ContentType: []byte("text/event-stream"), Body: []byte(": keep-alive\n\n")}, ok(`{"choices":[]}`), "primary: "},
		{"bad stream event", "", ok(`{"choices":[]}`), ok("data: {nope\n\n"), "candidate: "},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := mustNew(t, Options{Format: tt.format}).Compare(tt.p, tt.c)
			if r.Outcome != Unparseable || !strings.HasPrefix(r.Reason, tt.reason) {
				t.Errorf("got %v %q, want unparseable %q", r.Outcome, r.Reason, tt.reason)
			}
		})
	}
}

func TestDetect(t *testing.T) {
	tests := []struct{ body, want string }{
		{`{"predictions":[1,2]}`, FormatTFServing},
		{`{"outputs":{"scores":[[1]]}}`, FormatTFServing},
		{`{"result":[[["a",0.5]]]}`, FormatTFServing},
		{`{"predictions":{"label":[1]}}`, FormatMLflow},
		{`{"model_name":"m","outputs":[{"name":"o","datatype":"FP32","shape":[1],"data":[1]}]}`, FormatKServeV2},
		{`{"id":"x","object":"chat.completion","choices":[]}`, FormatOpenAI},
		{`{"object":"list","data":[{"embedding":[1]}]}`, FormatOpenAI},
		{`{"result":"ok"}`, FormatJSON},
		{`[1,2]`, FormatJSON},
	}
	for _, tt := range tests {
		t.Run(tt.want+" "+tt.body, func(t *testing.T) {
			r := mustNew(t, Options{}).Compare(ok(tt.body), ok(tt.body))
			if r.Format != tt.want || r.Outcome != Agree {
				t.Errorf("Format = %s, Outcome = %v, want %s agree", r.Format, r.Outcome, tt.want)
			}
		})
	}
}

func TestErrorObjects(t *testing.T) {
	tests := []struct {
		name   string
		format string
		p, c   Response
		want   Outcome
	}{
		{"openai error after 200", FormatOpenAI, ok(`{"choices":[{"index":0,"message":{"content":"hi"}}]}`), ok(`{"error":{"message":"overloaded","type":"server_error"}}`), CandidateError},
		{"tfserving error", "", ok(`{"error":"Input size mismatch"}`), ok(`{"predictions":[1]}`), PrimaryError},
		{"both errors", "", ok(`{"error":"a"}`), ok(`{"error":"b"}`), Agree},
		{"error key beside payload", "", ok(`{"predictions":[1],"error":null}`), ok(`{"predictions":[1],"error":null}`), Agree},
		{"json format keeps error as a field", FormatJSON, ok(`{"error":"a"}`), ok(`{"error":"b"}`), Disagree},
		{"stream error after 200", "", ok(`{"choices":[{"index":0,"message":{"role":"assistant","content":"hi"},"finish_reason":"stop"}]}`),
			Response{Status: 200, ContentType: []byte("text/event-stream"), Body: []byte("data: {\"choices\":[{\"index\":0,\"delta\":{\"content\":\"h\"}}]}\n\ndata: {\"error\":{\"message\":\"boom\"}}\n\n")}, CandidateError},
		{"stream event error", "", Response{Status: 200, Body: []byte("event: error\ndata: {\"message\":\"x\"}\n\n")}, ok(`{"choices":[]}`), PrimaryError},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := mustNew(t, Options{Format: tt.format}).Compare(tt.p, tt.c)
			if r.Outcome != tt.want {
				t.Errorf("Outcome = %v (%s), want %v", r.Outcome, r.Reason, tt.want)
			}
		})
	}
}

func TestRules(t *testing.T) {
	tests := []struct {
		name  string
		rule  Rule
		p, c  string
		want  Outcome
		diffs string
	}{
		{name: "argmax agrees", rule: Rule{Path: "s", Mode: "argmax"}, p: `{"s":[0.1,0.7,0.2]}`, c: `{"s":[0.3,0.4,0.3]}`, want: Agree},
		{name: "argmax disagrees", rule: Rule{Path: "s", Mode: "argmax"}, p: `{"s":[0.1,0.7,0.2]}`, c: `{"s":[0.5,0.4,0.1]}`, want: Disagree, diffs: "s 1 0 argmax\n"},
		{name: "argmax tie first", rule: Rule{Path: "s", Mode: "argmax"}, p: `{"s":[0.5,0.5]}`, c: `{"s":[0.6,0.4]}`, want: Agree},
		{name: "argmax NaN lowest", rule: Rule{Path: "s", Mode: "argmax"}, p: `{"s":[NaN,0.1]}`, c: `{"s":[0,0.2]}`, want: Agree},
		{name: "argmax rows", rule: Rule{Path: "s", Mode: "argmax"}, p: `{"s":[[1,0],[0,1]]}`, c: `{"s":[[1,0],[1,0]]}`, want: Disagree, diffs: "s[1] 1 0 argmax\n"},
		{name: "argmax length", rule: Rule{Path: "s", Mode: "argmax"}, p: `{"s":[1,0]}`, c: `{"s":[1,0,0]}`, want: ShapeMismatch, diffs: "s [1,0] [1,0,0] length 2 != 3\n"},
		{name: "argmax on strings falls back", rule: Rule{Path: "s", Mode: "argmax"}, p: `{"s":["a"]}`, c: `{"s":["b"]}`, want: Disagree, diffs: "s[0] \"a\" \"b\" value\n"},
		{name: "label equal", rule: Rule{Path: "l", Mode: "label"}, p: `{"l":3}`, c: `{"l":3.0}`, want: Agree},
		{name: "label number vs string", rule: Rule{Path: "l", Mode: "label"}, p: `{"l":3}`, c: `{"l":"3"}`, want: Agree},
		{name: "label mapping", rule: Rule{Path: "l", Mode: "label", Mapping: map[string]string{"felis": "cat", "7": "3"}}, p: `{"l":["cat",3,"dog"]}`, c: `{"l":["felis",7,"dog"]}`, want: Agree},
		{name: "label mapping differs", rule: Rule{Path: "l", Mode: "label", Mapping: map[string]string{"cat": "felis"}}, p: `{"l":"cat"}`, c: `{"l":"cat"}`, want: Disagree, diffs: "l \"cat\" \"cat\" label\n"},
		// The README's own example: mapping: {cand: primary}.
		{name: "label mapping as the README writes it", rule: Rule{Path: "l", Mode: "label", Mapping: map[string]string{"cand": "primary"}}, p: `{"l":"primary"}`, c: `{"l":"cand"}`, want: Agree},
		{name: "label mapping is not read backwards", rule: Rule{Path: "l", Mode: "label", Mapping: map[string]string{"cand": "primary"}}, p: `{"l":"cand"}`, c: `{"l":"primary"}`, want: Disagree, diffs: "l \"cand\" \"primary\" label\n"},
		{name: "topk same set", rule: Rule{Path: "s", Mode: "topk", K: 2}, p: `{"s":[0.1,0.5,0.4,0]}`, c: `{"s":[0.1,0.4,0.5,0]}`, want: Agree},
		{name: "topk overlap", rule: Rule{Path: "s", Mode: "topk", K: 2, MinOverlap: 0.5}, p: `{"s":[0.1,0.5,0.4,0]}`, c: `{"s":[0.45,0.5,0.1,0]}`, want: Agree},
		{name: "topk overlap too low", rule: Rule{Path: "s", Mode: "topk", K: 2}, p: `{"s":[0.1,0.5,0.4,0]}`, c: `{"s":[0.45,0.5,0.1,0]}`, want: Disagree, diffs: "s [1,2] [1,0] topk k=2 overlap=0.50 jaccard=0.33 spearman=n/a\n"},
		{name: "topk ranked ids", rule: Rule{Path: "r", Mode: "topk", K: 3, MinJaccard: 0.5}, p: `{"r":["a","b","c","d"]}`, c: `{"r":["c","b","a","z"]}`, want: Agree},
		{name: "exact integers past 2^53", rule: Rule{Path: "id", Mode: "exact"}, p: `{"id":9007199254740993}`, c: `{"id":9007199254740992}`, want: Disagree, diffs: "id 9007199254740993 9007199254740992 value\n"},
		{name: "exact zero and minus zero", rule: Rule{Path: "id", Mode: "exact"}, p: `{"id":0}`, c: `{"id":-0}`, want: Agree},
		{name: "topk numeric ids read as scores", rule: Rule{Path: "r", Mode: "topk", K: 2}, p: `{"r":[101,205,307]}`, c: `{"r":[205,101,999]}`, want: Disagree, diffs: "r [2,1] [2,0] topk k=2 overlap=0.50 jaccard=0.33 spearman=n/a\n"},
		{name: "topk ranked numeric ids", rule: Rule{Path: "r", Mode: "topk", K: 2, Ranked: true}, p: `{"r":[101,205,307]}`, c: `{"r":[205,101,999]}`, want: Agree},
		{name: "topk ranked numeric ids disagree", rule: Rule{Path: "r", Mode: "topk", K: 2, Ranked: true}, p: `{"r":[101,205,307]}`, c: `{"r":[205,999,101]}`, want: Disagree, diffs: "r [101,205,307] [205,999,101] topk k=2 overlap=0.50 jaccard=0.33 spearman=n/a\n"},
		{name: "topk ranked identical", rule: Rule{Path: "r", Mode: "topk", K: 2, Ranked: true}, p: `{"r":[1,2,3]}`, c: `{"r":[1,2,3]}`, want: Agree},
		{name: "topk ranked ids disagree", rule: Rule{Path: "r", Mode: "topk", K: 3}, p: `{"r":["a","b","c"]}`, c: `{"r":["c","b","x"]}`, want: Disagree, diffs: "r [\"a\",\"b\",\"c\"] [\"c\",\"b\",\"x\"] topk k=3 overlap=0.67 jaccard=0.50 spearman=-1.00\n"},
		{name: "cosine agrees", rule: Rule{Path: "e", Mode: "cosine"}, p: `{"e":[1,2,3]}`, c: `{"e":[1.01,2,3]}`, want: Agree},
		{name: "cosine disagrees", rule: Rule{Path: "e", Mode: "cosine", MinSimilarity: 0.9}, p: `{"e":[1,0]}`, c: `{"e":[0,1]}`, want: Disagree, diffs: "e [1,0] [0,1] cosine 0.0000 < 0.9\n"},
		{name: "cosine zero vectors", rule: Rule{Path: "e", Mode: "cosine"}, p: `{"e":[0,0]}`, c: `{"e":[0,0]}`, want: Agree},
		{name: "text normalised", rule: Rule{Path: "t", Mode: "text"}, p: `{"t":"  Hello\n  World "}`, c: `{"t":"hello world"}`, want: Agree},
		{name: "text distance", rule: Rule{Path: "t", Mode: "text", MaxDistance: 0.2}, p: `{"t":"the cat sat"}`, c: `{"t":"the cat sits"}`, want: Agree},
		{name: "text too far", rule: Rule{Path: "t", Mode: "text", MaxDistance: 0.1}, p: `{"t":"abcd"}`, c: `{"t":"abxy"}`, want: Disagree, diffs: "t \"abcd\" \"abxy\" text distance > 0.1\n"},
		{name: "text exact", rule: Rule{Path: "t", Mode: "text"}, p: `{"t":"a"}`, c: `{"t":"b"}`, want: Disagree, diffs: "t \"a\" \"b\" text\n"},
		{name: "set", rule: Rule{Path: "s", Mode: "set"}, p: `{"s":["a","b",1,1]}`, c: `{"s":[1,"b","a",1]}`, want: Agree},
		{name: "set differs", rule: Rule{Path: "s", Mode: "set"}, p: `{"s":["a","a"]}`, c: `{"s":["a","b"]}`, want: Disagree, diffs: "s [\"a\",\"a\"] [\"a\",\"b\"] set\n"},
		{name: "set size", rule: Rule{Path: "s", Mode: "set"}, p: `{"s":[1]}`, c: `{"s":[1,2]}`, want: Disagree, diffs: "s [1] [1,2] set size 1 != 2\n"},
		{name: "ignore rule", rule: Rule{Path: "x", Mode: "ignore"}, p: `{"x":1}`, c: `{"x":2}`, want: Agree},
		{name: "exact rule", rule: Rule{Path: "x", Mode: "exact"}, p: `{"x":1,"y":1}`, c: `{"x":1.00001,"y":1.00001}`, want: Disagree, diffs: "x 1 1.00001 value\n"},
		{name: "tolerance rule", rule: Rule{Path: "x", Mode: "tolerance", Abs: 0.5}, p: `{"x":[1,2]}`, c: `{"x":[1.4,2.4]}`, want: Agree},
		{name: "missing under rule", rule: Rule{Path: "x", Mode: "argmax"}, p: `{"x":[1]}`, c: `{}`, want: Disagree, diffs: "x [1] null missing in candidate\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := mustNew(t, Options{Format: FormatJSON, Tolerance: Tolerance{Abs: 1e-4}, Rules: []Rule{tt.rule}})
			r := c.Compare(ok(tt.p), ok(tt.c))
			if r.Outcome != tt.want {
				t.Errorf("Outcome = %v (%s), want %v; diffs:\n%s", r.Outcome, r.Reason, tt.want, diffs(r))
			}
			if got := diffs(r); got != tt.diffs {
				t.Errorf("diffs:\n%s\nwant:\n%s", got, tt.diffs)
			}
		})
	}
}

// levenshtein is the textbook distance, to check the banded one against.
func levenshtein(a, b []rune) int {
	prev := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur := make([]int, len(b)+1)
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev = cur
	}
	return prev[len(b)]
}

func TestWithin(t *testing.T) {
	words := []string{"", "a", "ab", "ba", "abc", "kitten", "sitting", "saturday", "sunday", "flaw", "lawn", "aaaa", "aaab", "xyzxyzxyz"}
	var w walker
	for _, a := range words {
		for _, b := range words {
			d := levenshtein([]rune(a), []rune(b))
			for k := 0; k <= 10; k++ {
				if got := w.within([]rune(a), []rune(b), k); got != (d <= k) {
					t.Errorf("within(%q, %q, %d) = %v, distance %d", a, b, k, got, d)
				}
			}
		}
	}
}

func TestPredictions(t *testing.T) {
	tests := []struct {
		name   string
		opts   Options
		p, c   string
		want   Predictions
		result Outcome
	}{
		{"tfserving rows", Options{Rules: []Rule{{Path: "predictions[*]", Mode: "argmax"}}},
			`{"predictions":[[0.9,0.1],[0.2,0.8],[0.5,0.4]]}`, `{"predictions":[[0.8,0.2],[0.9,0.1],[0.1,0.9]]}`, Predictions{1, 2}, Disagree},
		{"argmax over the batch", Options{Rules: []Rule{{Path: "predictions", Mode: "argmax"}}},
			`{"predictions":[[0.9,0.1],[0.2,0.8]]}`, `{"predictions":[[0.8,0.2],[0.9,0.1]]}`, Predictions{1, 1}, Disagree},
		{"objects", Options{}, `{"predictions":[{"l":1},{"l":2}]}`, `{"predictions":[{"l":1},{"l":3}]}`, Predictions{1, 1}, Disagree},
		{"batch size", Options{}, `{"predictions":[1,2,3]}`, `{"predictions":[1,2]}`, Predictions{2, 1}, ShapeMismatch},
		{"columns", Options{Format: FormatMLflow}, `{"predictions":{"a":[1,2],"b":[3,4]}}`, `{"predictions":{"a":[1,2],"b":[3,5]}}`, Predictions{1, 1}, Disagree},
		{"top-level diff is not a prediction", Options{Format: FormatTFServing}, `{"predictions":[1],"v":1}`, `{"predictions":[1],"v":2}`, Predictions{1, 0}, Disagree},
		{"mlflow bare list", Options{Format: FormatMLflow}, `[1,2,3]`, `[1,2,4]`, Predictions{2, 1}, Disagree},
		{"openai choices", Options{}, `{"id":"a","choices":[{"index":0,"text":"x"},{"index":1,"text":"y"}]}`, `{"id":"b","choices":[{"index":0,"text":"x"},{"index":1,"text":"z"}]}`, Predictions{1, 1}, Disagree},
		{"kserve-v2 rows", Options{Rules: []Rule{{Path: "outputs.p[*]", Mode: "argmax"}}},
			`{"outputs":[{"name":"p","datatype":"FP32","shape":[3,2],"data":[0.9,0.1,0.2,0.8,0.5,0.4]}]}`,
			`{"outputs":[{"name":"p","datatype":"FP32","shape":[3,2],"data":[0.8,0.2,0.9,0.1,0.6,0.4]}]}`, Predictions{2, 1}, Disagree},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := mustNew(t, tt.opts).Compare(ok(tt.p), ok(tt.c))
			if r.Predictions != tt.want || r.Outcome != tt.result {
				t.Errorf("Predictions = %+v, Outcome = %v; want %+v %v; diffs:\n%s", r.Predictions, r.Outcome, tt.want, tt.result, diffs(r))
			}
		})
	}
}

func TestKServeV2(t *testing.T) {
	p := `{"model_name":"iris","model_version":"1","id":"a","outputs":[{"name":"scores","datatype":"FP32","shape":[2,3],"data":[0.1,0.2,0.7,0.6,0.3,0.1]},{"name":"label","datatype":"INT64","shape":[2],"data":[2,0]}]}`
	tests := []struct {
		name  string
		opts  Options
		c     string
		want  Outcome
		diffs string
	}{
		{"ids, names and order ignored", Options{}, `{"model_name":"iris-v2","model_version":"7","id":"b","outputs":[{"name":"label","datatype":"INT64","shape":[2],"data":[2,0]},{"name":"scores","datatype":"FP32","shape":[2,3],"data":[0.1,0.2,0.7,0.6,0.3,0.1]}]}`, Agree, ""},
		{"element path by shape", Options{}, `{"outputs":[{"name":"scores","datatype":"FP32","shape":[2,3],"data":[0.1,0.2,0.7,0.6,0.3,0.2]},{"name":"label","datatype":"INT64","shape":[2],"data":[2,0]}]}`, Disagree, "outputs.scores[1][2] 0.1 0.2 value\n"},
		{"argmax rule on rows", Options{Rules: []Rule{{Path: "outputs.scores[*]", Mode: "argmax"}}}, `{"outputs":[{"name":"scores","datatype":"FP32","shape":[2,3],"data":[0.1,0.2,0.6,0.5,0.3,0.2]},{"name":"label","datatype":"INT64","shape":[2],"data":[2,0]}]}`, Agree, ""},
		{"ignore an output", Options{Ignore: []string{"outputs.scores"}}, `{"outputs":[{"name":"scores","datatype":"FP32","shape":[2,3],"data":[1,1,1,1,1,1]},{"name":"label","datatype":"INT64","shape":[2],"data":[2,0]}]}`, Agree, ""},
		{"shape differs", Options{}, `{"outputs":[{"name":"scores","datatype":"FP32","shape":[3,2],"data":[0.1,0.2,0.7,0.6,0.3,0.1]},{"name":"label","datatype":"INT64","shape":[2],"data":[2,0]}]}`, ShapeMismatch, "outputs.scores [2,3] [3,2] shape\n"},
		{"output missing", Options{}, `{"outputs":[{"name":"label","datatype":"INT64","shape":[2],"data":[2,0]}]}`, ShapeMismatch, "outputs.scores {\"name\":\"scores\",\"datatype\":\"FP32\",\"shape\":[2,3],\"data\":[0.1,0.2,0.7,0.6,0.3,0.1]} null missing in candidate\n"},
		{"nested data", Options{}, `{"outputs":[{"name":"scores","datatype":"FP32","shape":[2,3],"data":[[0.1,0.2,0.7],[0.6,0.3,0.1]]},{"name":"label","datatype":"INT64","shape":[2],"data":[2,0]}]}`, Agree, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.opts.Format = FormatKServeV2
			r := mustNew(t, tt.opts).Compare(ok(p), ok(tt.c))
			if r.Outcome != tt.want {
				t.Errorf("Outcome = %v (%s), want %v; diffs:\n%s", r.Outcome, r.Reason, tt.want, diffs(r))
			}
			if got := diffs(r); got != tt.diffs {
				t.Errorf("diffs:\n%s\nwant:\n%s", got, tt.diffs)
			}
		})
	}
}

func TestTritonBinary(t *testing.T) {
	header := `{"model_name":"m","outputs":[{"name":"a","datatype":"INT32","shape":[2,1],"parameters":{"binary_data_size":8}},{"name":"b","datatype":"BYTES","shape":[1],"data":["x"]}]}`
	mk := func(tail ...byte) Response {
		return Response{Status: 200, JSONLength: len(header), Body: append([]byte(header), tail...)}
	}
	c := mustNew(t, Options{})
	if r := c.Compare(mk(1, 0, 0, 0, 2, 0, 0, 0), mk(1, 0, 0, 0, 2, 0, 0, 0)); r.Outcome != Agree || r.Format != FormatKServeV2 {
		t.Errorf("same binary: %v %s %s", r.Outcome, r.Format, r.Reason)
	}
	r := c.Compare(mk(1, 0, 0, 0, 2, 0, 0, 0), mk(1, 0, 0, 0, 3, 0, 0, 0))
	if r.Outcome != Disagree || r.Predictions != (Predictions{1, 1}) || len(r.Diffs) != 1 || r.Diffs[0].Path != "outputs.a[1][0]" {
		t.Errorf("row 1 differs: %v %+v %s", r.Outcome, r.Predictions, diffs(r))
	}
	if r := c.Compare(mk(1, 0, 0, 0, 2, 0, 0, 0), mk(1, 0)); r.Outcome != Disagree {
		t.Errorf("short tail: %v", r.Outcome)
	}
}

// Binary tensors are decoded by datatype, so rules and tolerances apply to them as to JSON data.
func TestTritonBinaryDatatypes(t *testing.T) {
	le32 := func(vs ...float32) []byte {
		var b []byte
		for _, v := range vs {
			b = binary.LittleEndian.AppendUint32(b, math.Float32bits(v))
		}
		return b
	}
	mk := func(dt string, shape string, data []byte) Response {
		header := fmt.Sprintf(`{"model_name":"m","outputs":[{"name":"o","datatype":%q,"shape":%s,"parameters":{"binary_data_size":%d}}]}`, dt, shape, len(data))
		return Response{Status: 200, JSONLength: len(header), Body: append([]byte(header), data...)}
	}
	bytesTensor := func(ss ...string) []byte {
		var b []byte
		for _, s := range ss {
			b = binary.LittleEndian.AppendUint32(b, uint32(len(s)))
			b = append(b, s...)
		}
		return b
	}
	tests := []struct {
		name  string
		opts  Options
		p, c  Response
		want  Outcome
		diffs string
	}{
		{"FP32 within tolerance", Options{Tolerance: Tolerance{Abs: 1e-3}},
			mk("FP32", "[1,3]", le32(0.1, 0.7, 0.2)), mk("FP32", "[1,3]", le32(0.1001, 0.6999, 0.2)), Agree, ""},
		{"FP32 beyond tolerance", Options{Tolerance: Tolerance{Abs: 1e-3}},
			mk("FP32", "[1,3]", le32(0.1, 0.7, 0.2)), mk("FP32", "[1,3]", le32(0.1, 0.6, 0.2)), Disagree,
			"outputs.o[0][1] 0.699999988079071 0.6000000238418579 value\n"},
		{"FP32 argmax rule", Options{Rules: []Rule{{Path: "outputs.o", Mode: "argmax"}}},
			mk("FP32", "[2,3]", le32(0.1, 0.7, 0.2, 0.5, 0.3, 0.2)), mk("FP32", "[2,3]", le32(0.2, 0.6, 0.2, 0.2, 0.3, 0.5)), Disagree,
			"outputs.o[1] 0 2 argmax\n"},
		{"FP16", Options{},
			mk("FP16", "[2]", []byte{0x00, 0x3c, 0x00, 0xc0}), mk("FP16", "[2]", []byte{0x00, 0x3c, 0x00, 0x40}), Disagree, // 1, -2 vs 1, 2
			"outputs.o[1] -2 2 value\n"},
		{"BF16", Options{},
			mk("BF16", "[1]", []byte{0x80, 0x3f}), mk("BF16", "[1]", []byte{0x80, 0x3f}), Agree, ""},
		{"INT64 and UINT64", Options{},
			mk("UINT64", "[1]", binary.LittleEndian.AppendUint64(nil, math.MaxUint64)), mk("UINT64", "[1]", binary.LittleEndian.AppendUint64(nil, math.MaxUint64-1)), Disagree,
			"outputs.o[0] 18446744073709551615 18446744073709551614 value\n"},
		{"BYTES", Options{},
			mk("BYTES", "[2]", bytesTensor("cat", "dog")), mk("BYTES", "[2]", bytesTensor("cat", "cow")), Disagree,
			"outputs.o[1] \"dog\" \"cow\" value\n"},
		{"BYTES with a length past the end: byte for byte", Options{},
			mk("BYTES", "[1]", []byte{9, 0, 0, 0, 'x'}), mk("BYTES", "[1]", []byte{9, 0, 0, 0, 'y'}), Disagree,
			"outputs.o[0] \"<5 bytes: 0900000078>\" \"<5 bytes: 0900000079>\" binary\n"},
		{"unknown datatype: byte for byte", Options{},
			mk("FP8", "[2]", []byte{1, 2}), mk("FP8", "[2]", []byte{1, 2}), Agree, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := mustNew(t, tt.opts).Compare(tt.p, tt.c)
			if r.Outcome != tt.want || diffs(r) != tt.diffs {
				t.Errorf("got %v:\n%swant %v:\n%s", r.Outcome, diffs(r), tt.want, tt.diffs)
			}
		})
	}
}

func TestOpenAIStream(t *testing.T) {
	full := `{"id":"chatcmpl-1","object":"chat.completion","created":1,"model":"gpt-x","system_fingerprint":"fp","choices":[{"index":0,"message":{"role":"assistant","content":"Hello there!"},"finish_reason":"stop"}],"usage":{"total_tokens":9}}`
	stream := "data: {\"id\":\"c2\",\"object\":\"chat.completion.chunk\",\"created\":2,\"model\":\"gpt-y\",\"choices\":[{\"index\":0,\"delta\":{\"role\":\"assistant\",\"content\":\"\"},\"finish_reason\":null}]}\n\n" +
		"data: {\"id\":\"c2\",\"object\":\"chat.completion.chunk\",\"choices\":[{\"index\":0,\"delta\":{\"content\":\"Hello\"},\"finish_reason\":null}]}\n\n" +
		"data: {\"id\":\"c2\",\"object\":\"chat.completion.chunk\",\"choices\":[{\"index\":0,\"delta\":{\"content\":\" there!\"},\"finish_reason\":null}]}\n\n" +
		"data: {\"id\":\"c2\",\"object\":\"chat.completion.chunk\",\"choices\":[{\"index\":0,\"delta\":{},\"finish_reason\":\"stop\"}]}\n\n" +
		"data: [DONE]\n\n"
	c := mustNew(t, Options{})
	sse := Response{Status: 200, ContentType: []byte("text/event-stream"), Body: []byte(stream)}
	if r := c.Compare(sse, sse); r.Outcome != Agree || r.Format != FormatOpenAI {
		t.Errorf("stream vs stream: %v %s %s", r.Outcome, r.Format, diffs(r))
	}
	// A stream against the same answer in one piece: only the stream-only id/created/model differ,
	// and they are ignored.
	if r := c.Compare(ok(full), sse); r.Outcome != Agree {
		t.Errorf("full vs stream: %v %s", r.Outcome, diffs(r))
	}
	other := Response{Status: 200, Body: []byte(strings.Replace(stream, "there", "world", 1))}
	r := c.Compare(sse, other)
	if r.Outcome != Disagree || diffs(r) != "choices[0].message.content \"Hello there!\" \"Hello world!\" value\n" {
		t.Errorf("different stream: %v %s", r.Outcome, diffs(r))
	}
}

func TestPerturb(t *testing.T) {
	rnd := func() float64 { return 0.3 }
	tests := []struct {
		name, format, mode, body string
		rule                     Rule
	}{
		{"tfserving flip", "", PerturbFlip, `{"predictions":[[0.1,0.9],[0.7,0.3]]}`, Rule{Path: "predictions[*]", Mode: "argmax"}},
		{"tfserving labels", FormatTFServing, PerturbFlip, `{"predictions":[{"label":"cat","id":3}]}`, Rule{Path: "predictions[*].label", Mode: "label"}},
		{"kserve-v2 rows", "", PerturbFlip, `{"outputs":[{"name":"p","datatype":"FP32","shape":[2,2],"data":[0.1,0.9,0.7,0.3]}]}`, Rule{Path: "outputs.p[*]", Mode: "argmax"}},
		{"openai text", "", PerturbFlip, `{"choices":[{"index":0,"message":{"role":"assistant","content":"a b"}}]}`, Rule{Path: "choices[*].message.content", Mode: "text"}},
		{"embedding noise", "", PerturbNoise, `{"object":"list","data":[{"embedding":[0.1,0.2,0.3]}]}`, Rule{Path: "x", Mode: "exact"}},
		{"tie", "", PerturbFlip, `{"predictions":[[0.5,0.5]]}`, Rule{Path: "predictions[*]", Mode: "argmax"}},
		{"NaN kept", "", PerturbFlip, `{"predictions":[[NaN,1,Infinity]]}`, Rule{Path: "predictions[*]", Mode: "argmax"}},
		{"regression batch", "", PerturbFlip, `{"predictions":[3.5,4.0,5.5]}`, Rule{Path: "x", Mode: "exact"}},
		{"regression noise", "", PerturbNoise, `{"predictions":[3.5,4.0,5.5]}`, Rule{Path: "x", Mode: "exact"}},
		{"kserve-v2 labels", "", PerturbFlip, `{"outputs":[{"name":"l","datatype":"INT64","shape":[2],"data":[1,1]}]}`, Rule{Path: "x", Mode: "exact"}},
		{"mlflow columns", FormatMLflow, PerturbFlip, `{"predictions":{"label":[0,1],"name":["a","b"]}}`, Rule{Path: "x", Mode: "exact"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out, changed := Perturb([]byte(tt.body), tt.format, tt.mode, rnd, 0)
			if !changed {
				t.Fatalf("not changed")
			}
			r := mustNew(t, Options{Rules: []Rule{tt.rule}}).Compare(ok(tt.body), Response{Status: 200, Body: out})
			if r.Outcome != Disagree {
				t.Errorf("perturbed %s compares %v (%s)", out, r.Outcome, r.Reason)
			}
			if r.Predictions.Agree != 0 {
				t.Errorf("perturbed %s: %+v predictions", out, r.Predictions)
			}
		})
	}
	for _, tt := range []struct{ name, format, mode, body string }{
		{"unknown mode", "", "explode", `{"predictions":[1]}`},
		{"raw", FormatRaw, PerturbFlip, `{"predictions":[1]}`},
		{"garbage", "", PerturbFlip, `{"predictions":[`},
		{"nothing to change", FormatOpenAI, PerturbNoise, `{"choices":[{"message":{"content":"hi"}}]}`},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if out, changed := Perturb([]byte(tt.body), tt.format, tt.mode, nil, 0); changed || string(out) != tt.body {
				t.Errorf("changed %v: %s", changed, out)
			}
		})
	}
}

func TestConcurrentCompare(t *testing.T) {
	c := benchComparator(t)
	p := Response{Status: 200, Body: typical1KB(0)}
	q := Response{Status: 200, Body: typical1KB(2e-6)}
	f := Response{Status: 200, Body: flipped1KB()}
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 200 {
				if (g+i)%2 == 0 {
					if r := c.Compare(p, q); r.Outcome != Agree {
						t.Errorf("agree case: %v", r.Outcome)
						return
					}
				} else if r := c.Compare(p, f); r.Outcome != Disagree || r.Predictions.Disagree == 0 {
					t.Errorf("disagree case: %v %+v", r.Outcome, r.Predictions)
					return
				}
			}
		}()
	}
	wg.Wait()
}

func TestCompareDoesNotKeepBodies(t *testing.T) {
	c := mustNew(t, Options{})
	pb := []byte(`{"predictions":[{"l":"a"}]}`)
	cb := []byte(`{"predictions":[{"l":"b"}]}`)
	r := c.Compare(ok(string(pb)), Response{Status: 200, Body: cb})
	for i := range cb {
		cb[i] = 'x'
	}
	c.Compare(ok(`{"other":1}`), ok(`{"other":2}`))
	if got := diffs(r); got != "predictions[0].l \"a\" \"b\" value\n" {
		t.Errorf("diffs changed after reuse: %s", got)
	}
}

func TestArgmax(t *testing.T) {
	nan, inf := math.NaN(), math.Inf(1)
	for _, c := range []struct {
		v    []float64
		want int
	}{
		{nil, 0},
		{[]float64{0.1}, 0},
		{[]float64{0.1, 0.7, 0.2}, 1},
		{[]float64{0.5, 0.5}, 0}, // the first on ties
		{[]float64{nan, 1}, 1},   // NaN ranks lowest
		{[]float64{1, nan, 2}, 2},
		{[]float64{nan, nan}, 0},
		{[]float64{nan, -inf}, 1},
		{[]float64{-inf, nan, -inf}, 0},
		{[]float64{-1, inf, inf}, 1},
	} {
		if got := argmax(c.v); got != c.want {
			t.Errorf("argmax(%v) = %d, want %d", c.v, got, c.want)
		}
	}
}

// RulesApplied tells a rule that names something in the answers from one that names nothing
// (a typo, or a path of another format's view), on the fast path and the full one alike.
func TestRulesApplied(t *testing.T) {
	rules := []Rule{
		{Path: "predictions[*].probabilities", Mode: "argmax"},
		{Path: "predictions[*].probs", Mode: "argmax"}, // not in these answers
		{Path: "predictions[*].class", Mode: "label"},
	}
	for _, c := range []struct {
		name string
		p, q string
		want uint64
	}{
		{"agree", `{"predictions":[{"probabilities":[0.1,0.9],"class":"b"}]}`, `{"predictions":[{"probabilities":[0.2,0.8],"class":"b"}]}`, 0b101},
		{"disagree", `{"predictions":[{"probabilities":[0.1,0.9]}]}`, `{"predictions":[{"probabilities":[0.9,0.1]}]}`, 0b001},
		{"none", `{"x":1}`, `{"x":1}`, 0},
		{"error", `{"error":"boom"}`, `{"predictions":[{"class":"b"}]}`, 0},
	} {
		for _, noFast := range []bool{false, true} {
			cmp := mustNew(t, Options{Rules: rules})
			cmp.noFast = noFast
			if got := cmp.Compare(ok(c.p), ok(c.q)).RulesApplied; got != c.want {
				t.Errorf("%s (full path only %v): RulesApplied %03b, want %03b", c.name, noFast, got, c.want)
			}
		}
	}
	// kserve-v2: outputs.NAME on both paths.
	v2 := mustNew(t, Options{Format: FormatKServeV2, Rules: []Rule{{Path: "outputs.scores", Mode: "argmax"}, {Path: "outputs.other", Mode: "argmax"}}})
	body := `{"outputs":[{"name":"scores","shape":[1,2],"data":[0.1,0.9]}]}`
	if got := v2.Compare(ok(body), ok(body)).RulesApplied; got != 0b01 {
		t.Errorf("kserve-v2: RulesApplied %02b, want 01", got)
	}
}
