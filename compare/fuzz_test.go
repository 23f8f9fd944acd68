package compare

import (
	"bytes"
	"fmt"
	"testing"

	"github.com/valyala/fastjson"
)

// fuzzSeeds are answers shaped like each server's, plus broken ones.
var fuzzSeeds = [][2]string{
	{`{"predictions":[[0.1,0.9],[0.7,0.3]]}`, `{"predictions":[[0.2,0.8],[0.3,0.7]]}`},
	{`{"predictions":[NaN,Infinity,-Infinity]}`, `{"predictions":[NaN,1e308,-Infinity]}`},
	{`{"outputs":{"scores":[[1,2]],"classes":["a"]}}`, `{"outputs":{"scores":[[1,3]]}}`},
	{`{"result":[[["cat",0.9],["dog",0.1]]]}`, `{"result":[[["dog",0.6],["cat",0.4]]]}`},
	{`{"predictions":{"label":[1,0],"p":[0.5,0.4]}}`, `{"predictions":{"label":[1,1]}}`},
	{`{"model_name":"m","id":"1","outputs":[{"name":"o","datatype":"FP32","shape":[2,2],"data":[1,2,3,4]}]}`, `{"model_name":"m","outputs":[{"name":"o","datatype":"FP32","shape":[2,2],"data":[1,2,3,5]},{"name":"o","shape":[1],"data":[1]}]}`},
	{`{"outputs":[{"name":"o","shape":[2,-1],"data":[1,2]}]}`, `{"outputs":[{"name":"o","shape":[99999999999],"data":[]}]}`},
	{`{"id":"a","object":"chat.completion","choices":[{"index":0,"message":{"role":"assistant","content":"Hi"},"finish_reason":"stop"}]}`, "data: {\"choices\":[{\"index\":0,\"delta\":{\"content\":\"Hi\"}}]}\n\ndata: [DONE]\n\n"},
	{`{"object":"list","data":[{"embedding":[0.1,0.2],"index":0}]}`, `{"object":"list","data":[{"embedding":[0.1],"index":0}]}`},
	{`{"error":{"message":"x"}}`, `{"choices":[]}`},
	{`[1,"a",{"b":null},[true,false]]`, `[1,"a",{"b":null},[true]]`},
	{`{"a\u0000b":"\ud800","k":"\"\\"}`, `{"a":1,"a":2}`},
	{`{"predictions":[`, `}}}`},
	{"plain text", "other text"},
	{"", ""},
}

// checkResult asserts the invariants every Result keeps.
func checkResult(t *testing.T, c *Comparator, r Result) {
	t.Helper()
	if r.Outcome > ShapeMismatch {
		t.Fatalf("outcome %d", r.Outcome)
	}
	if len(r.Diffs) > c.maxDiffs || r.DiffCount < len(r.Diffs) {
		t.Fatalf("%d diffs, count %d", len(r.Diffs), r.DiffCount)
	}
	if r.Predictions.Agree < 0 || r.Predictions.Disagree < 0 {
		t.Fatalf("predictions %+v", r.Predictions)
	}
	if (r.Outcome == Disagree) != (r.DiffCount > 0 && r.Outcome != ShapeMismatch) && r.Outcome != ShapeMismatch {
		t.Fatalf("outcome %v with %d diffs", r.Outcome, r.DiffCount)
	}
	for _, d := range r.Diffs {
		if !jsonValid(d.Primary) || !jsonValid(d.Candidate) {
			t.Fatalf("diff %s: invalid JSON %q / %q", d.Path, d.Primary, d.Candidate)
		}
		if d.Path == "" || d.Field == "" {
			t.Fatalf("diff without a path: %+v", d)
		}
	}
}

func fuzzCompare(f *testing.F, opts Options) {
	for _, s := range fuzzSeeds {
		f.Add([]byte(s[0]), []byte(s[1]), uint16(0))
	}
	c := mustNew(f, opts)
	f.Fuzz(func(t *testing.T, p, q []byte, jsonLen uint16) {
		pr := Response{Status: 200, Body: p, JSONLength: int(jsonLen) % (len(p) + 1)}
		qr := Response{Status: 200, Body: q, JSONLength: int(jsonLen) % (len(q) + 1)}
		checkResult(t, c, c.Compare(pr, qr))
		self := c.Compare(pr, pr)
		checkResult(t, c, self)
		if self.Outcome != Agree && self.Outcome != Unparseable {
			t.Fatalf("an answer compared with itself: %v %s\n%s", self.Outcome, self.Reason, diffs(self))
		}
	})
}

var fuzzRules = []Rule{
	{Path: "predictions[*]", Mode: "argmax"},
	{Path: "predictions.label", Mode: "label", Mapping: map[string]string{"1": "1", "cat": "cat"}},
	{Path: "outputs.scores", Mode: "topk", K: 1},
	{Path: "predictions[*].items", Mode: "topk", K: 3, Ranked: true, MinJaccard: 0.5},
	{Path: "result[*]", Mode: "set"},
	{Path: "outputs.o[*]", Mode: "cosine"},
	{Path: "choices[*].message.content", Mode: "text", MaxDistance: 0.3},
	{Path: "data[*].embedding", Mode: "cosine"},
	{Path: "*", Mode: "tolerance", Abs: 0.1},
}

func FuzzCompareAuto(f *testing.F)      { fuzzCompare(f, Options{}) }
func FuzzCompareJSON(f *testing.F)      { fuzzCompare(f, Options{Format: FormatJSON, MaxDiffs: 3}) }
func FuzzCompareRaw(f *testing.F)       { fuzzCompare(f, Options{Format: FormatRaw}) }
func FuzzCompareTFServing(f *testing.F) { fuzzCompare(f, Options{Format: FormatTFServing}) }
func FuzzCompareKServeV1(f *testing.F)  { fuzzCompare(f, Options{Format: FormatKServeV1}) }
func FuzzCompareKServeV2(f *testing.F)  { fuzzCompare(f, Options{Format: FormatKServeV2}) }
func FuzzCompareMLflow(f *testing.F)    { fuzzCompare(f, Options{Format: FormatMLflow}) }
func FuzzCompareOpenAI(f *testing.F)    { fuzzCompare(f, Options{Format: FormatOpenAI}) }
func FuzzCompareRules(f *testing.F) {
	fuzzCompare(f, Options{Rules: fuzzRules, Tolerance: Tolerance{Abs: 1e-6, Rel: 1e-4}})
}

func FuzzParsePath(f *testing.F) {
	for _, s := range []string{"a.b[*].c", `["x.y"][3]`, "$.*", "a..b", "a[", `[""]`, `["\"]`} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		p, err := parsePath(s)
		if err != nil {
			return
		}
		// A concrete path written by appendPath parses back to a pattern that matches it.
		var stack []seg
		for i, sg := range p {
			switch sg.kind {
			case segAnyIndex:
				stack = append(stack, seg{kind: segIndex, idx: i})
			case segAnyKey:
				stack = append(stack, seg{kind: segKey, key: "k"})
			default:
				stack = append(stack, sg)
			}
		}
		back := string(appendPath(nil, stack, false))
		q, err := parsePath(back)
		if err != nil || !q.match(stack) {
			t.Fatalf("%q -> %q: %v", s, back, err)
		}
	})
}

func FuzzPerturb(f *testing.F) {
	for _, s := range fuzzSeeds {
		f.Add([]byte(s[0]), "", true, 0.3)
		f.Add([]byte(s[1]), FormatKServeV2, false, 0.9)
	}
	f.Fuzz(func(t *testing.T, body []byte, format string, flip bool, r float64) {
		mode := PerturbNoise
		if flip {
			mode = PerturbFlip
		}
		out, changed := Perturb(body, format, mode, func() float64 { return r }, r)
		if !changed {
			if string(out) != string(body) {
				t.Fatalf("unchanged but different")
			}
			return
		}
		var p fastjson.Parser
		if _, err := p.ParseBytes(tolerant(new([]byte), out)); err != nil {
			t.Fatalf("perturbed answer does not parse: %v\n%s", err, out)
		}
	})
}

// FuzzTritonBinary compares answers whose output data is a Triton binary tensor of any datatype:
// a tensor that decodes marshals to JSON that parses back; every Result keeps its invariants; an
// answer agrees with itself; the outcome does not depend on which side is the primary; bytes that
// do not decode are compared byte for byte (different bytes disagree); tensors that decode to the
// same values agree.
func FuzzTritonBinary(f *testing.F) {
	f.Add("FP32", int16(1), []byte{0, 0, 128, 63, 0, 0, 0, 64}, []byte{0, 0, 128, 63, 0, 0, 64, 64})
	f.Add("BYTES", int16(1), []byte{1, 0, 0, 0, 'x'}, []byte{2, 0, 0, 0, 'x'})
	f.Add("FP16", int16(1), []byte{0x00, 0x7c}, []byte{0x00, 0x7e}) // +Inf, NaN
	f.Add("UINT64", int16(1), []byte{255, 255, 255, 255, 255, 255, 255, 255}, []byte{0, 0, 0, 0, 0, 0, 0, 128})
	f.Add("BOOL", int16(2), []byte{0, 1}, []byte{1, 1})
	f.Add("INT8", int16(2), []byte{1, 2}, []byte{1, 2})
	f.Add("FP32", int16(1), []byte{0, 0, 128, 63, 0}, []byte{0, 0, 128, 63, 1})
	c, err := New(Options{Rules: []Rule{{Path: "outputs.o", Mode: "argmax"}}})
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, dt string, rows int16, p, q []byte) {
		var a fastjson.Arena
		decode := func(data []byte) ([]byte, bool) {
			v, ok := binaryTensor(&a, []byte(dt), data)
			if !ok {
				return nil, false
			}
			text := v.MarshalTo(nil)
			var parser fastjson.Parser
			if _, err := parser.ParseBytes(text); err != nil {
				t.Fatalf("%s %x decodes to %s: %v", dt, data, text, err)
			}
			return text, true
		}
		pt, okp := decode(p)
		qt, okq := decode(q)
		mk := func(data []byte) Response {
			header := fmt.Sprintf(`{"outputs":[{"name":"o","datatype":%q,"shape":[%d,-1],"parameters":{"binary_data_size":%d}}]}`, dt, rows, len(data))
			return Response{Status: 200, JSONLength: len(header), Body: append([]byte(header), data...)}
		}
		pq, qp := c.Compare(mk(p), mk(q)), c.Compare(mk(q), mk(p))
		checkResult(t, c, pq)
		checkResult(t, c, qp)
		if pq.Outcome != qp.Outcome {
			t.Fatalf("%s: p vs q %v, q vs p %v\n%s\n%s", dt, pq.Outcome, qp.Outcome, diffs(pq), diffs(qp))
		}
		if self := c.Compare(mk(p), mk(p)); self.Outcome != Agree {
			t.Fatalf("%s %x compared with itself: %v %s\n%s", dt, p, self.Outcome, self.Reason, diffs(self))
		}
		switch {
		case (!okp || !okq) && !bytes.Equal(p, q) && pq.Outcome != Disagree:
			t.Fatalf("%s: bytes %x and %x (decoded %v, %v) compared byte for byte: %v, want disagree", dt, p, q, okp, okq, pq.Outcome)
		case okp && okq && bytes.Equal(pt, qt) && pq.Outcome != Agree:
			t.Fatalf("%s: both decode to %s: %v, want agree\n%s", dt, pt, pq.Outcome, diffs(pq))
		}
	})
}
