package compare

import (
	"bytes"
	"fmt"
	"math"
	"slices"
	"sync"

	"github.com/valyala/fastjson"
)

// Picker reads the value a ground-truth label judges (truth.prediction) from one answer, through the
// same normalised view the comparator walks: a kserve-v2 output is outputs.NAME (its data read by
// shape, Triton binary tensors decoded), an OpenAI stream is assembled first, and every other format
// is its JSON as it is. It is safe for concurrent use.
type Picker struct {
	format string
	pat    pattern
	path   string
	pool   sync.Pool // *pickScratch
}

// pickScratch is the parser memory one Pick uses.
type pickScratch struct {
	parser fastjson.Parser
	arena  fastjson.Arena
	buf    []byte
}

// NewPicker compiles path (the syntax of Rule.Path, without wildcards: a label judges one value) for
// answers of format ("" or auto detects each answer's format).
func NewPicker(format, path string) (*Picker, error) {
	if format == "" {
		format = FormatAuto
	}
	if !slices.Contains(Formats, format) {
		return nil, fmt.Errorf("%w %q", ErrUnknownFormat, format)
	}
	pat, err := parsePath(path)
	if err != nil {
		return nil, err
	}
	for _, s := range pat {
		if s.kind == segAnyIndex || s.kind == segAnyKey {
			return nil, fmt.Errorf("%w %q: a prediction path names one value, without [*] or *", ErrBadPath, path)
		}
	}
	if err := checkPattern(format, path, pat); err != nil {
		return nil, err
	}
	return &Picker{format: format, pat: pat, path: path}, nil
}

// Path returns the path the Picker was compiled from.
func (p *Picker) Path() string { return p.path }

// Pick returns the compact JSON text of the value at the Picker's path in r, and false when r is an
// error answer (a status outside 200-299 or an error object), is not JSON, or has no value there.
// The text is freshly allocated.
func (p *Picker) Pick(r Response) ([]byte, bool) {
	if r.Status != 0 && (r.Status < 200 || r.Status > 299) {
		return nil, false
	}
	js, tail := jsonPart(r)
	format := p.format
	if format == FormatRaw {
		return nil, false
	}
	if (format == FormatAuto || format == FormatOpenAI) && looksSSE(r.ContentType, js) {
		body, isErr, err := assembleSSE(js)
		if err != nil || isErr {
			return nil, false
		}
		js, format = body, FormatOpenAI
	}
	sc, _ := p.pool.Get().(*pickScratch)
	if sc == nil {
		sc = new(pickScratch)
	}
	defer func() {
		sc.arena.Reset()
		if cap(sc.buf) <= 1<<20 {
			p.pool.Put(sc)
		}
	}()
	v, err := sc.parser.ParseBytes(tolerant(&sc.buf, js))
	if err != nil || isErrorObject(v) {
		return nil, false
	}
	if format == FormatAuto {
		format = detect(v)
	}
	n, ok := p.start(format, v, tail, &sc.arena)
	if !ok {
		return nil, false
	}
	return appendNode(nil, n, 0), true
}

// start resolves the path on v's normalised view.
func (p *Picker) start(format string, v *fastjson.Value, tail []byte, arena *fastjson.Arena) (node, bool) {
	pat := p.pat
	n := node{v: v}
	if format == FormatKServeV2 && len(pat) >= 2 && pat[0].kind == segKey && pat[0].key == "outputs" && pat[1].kind == segKey {
		outs, err := v.Get("outputs").Array()
		if err != nil {
			return node{}, false
		}
		out := outputByName(outs, []byte(pat[1].key), 0)
		if out == nil {
			return node{}, false
		}
		dims, shapeOK := readShape(nil, out)
		data := out.Get("data")
		if data == nil {
			b, ok := binaryRange(outs, out, tail)
			if !ok {
				return node{}, false
			}
			if data, ok = binaryTensor(arena, out.GetStringBytes("datatype"), b); !ok {
				return node{}, false
			}
		}
		n, pat = tensor(data, dims, shapeOK), pat[2:]
	}
	for _, s := range pat {
		switch s.kind {
		case segKey:
			if n.dims != nil || n.v == nil || n.v.Type() != fastjson.TypeObject {
				return node{}, false
			}
			next := n.v.Get(s.key)
			if next == nil {
				return node{}, false
			}
			n = node{v: next}
		case segIndex:
			if n.typ() != fastjson.TypeArray || s.idx >= n.length() {
				return node{}, false
			}
			n = n.index(s.idx)
		}
	}
	return n, !n.missing()
}

// SameValue reports whether the JSON texts a and b hold the same value: numbers by value (1 and 1.0
// are the same), strings by their text, arrays element by element, objects key by key in any order.
// Text that is not JSON is the same only as identical text.
func SameValue(a, b []byte) bool {
	var pa, pb fastjson.Parser
	va, errA := pa.ParseBytes(a)
	vb, errB := pb.ParseBytes(b)
	if errA != nil || errB != nil {
		return errA != nil && errB != nil && bytes.Equal(bytes.TrimSpace(a), bytes.TrimSpace(b))
	}
	return sameJSON(va, vb)
}

func sameJSON(a, b *fastjson.Value) bool {
	if a.Type() != b.Type() {
		return false
	}
	switch a.Type() {
	case fastjson.TypeNumber:
		x, errX := a.Float64()
		y, errY := b.Float64()
		if errX != nil || errY != nil {
			return bytes.Equal(a.MarshalTo(nil), b.MarshalTo(nil))
		}
		return x == y || (math.IsNaN(x) && math.IsNaN(y))
	case fastjson.TypeString:
		return bytes.Equal(a.GetStringBytes(), b.GetStringBytes())
	case fastjson.TypeArray:
		x, _ := a.Array()
		y, _ := b.Array()
		if len(x) != len(y) {
			return false
		}
		for i := range x {
			if !sameJSON(x[i], y[i]) {
				return false
			}
		}
		return true
	case fastjson.TypeObject:
		x, _ := a.Object()
		y, _ := b.Object()
		if x.Len() != y.Len() {
			return false
		}
		same := true
		x.Visit(func(k []byte, v *fastjson.Value) {
			if w := y.Get(b2s(k)); same && (w == nil || !sameJSON(v, w)) {
				same = false
			}
		})
		return same
	}
	return true // true, false, null: the type says it all
}

// Judged is what a label judges in one comparison: each answer's value as compact JSON, nil where an
// answer has none.
type Judged struct{ Primary, Candidate []byte }

// Judge picks both answers' values; ok is false when neither answer has one.
func (p *Picker) Judge(primary, candidate Response) (j Judged, ok bool) {
	j.Primary, _ = p.Pick(primary)
	j.Candidate, _ = p.Pick(candidate)
	return j, j.Primary != nil || j.Candidate != nil
}

// Differ reports whether the two values differ (a value missing on one side differs).
func (j Judged) Differ() bool {
	if j.Primary == nil || j.Candidate == nil {
		return true
	}
	return !SameValue(j.Primary, j.Candidate)
}

// Right reports which values the label (JSON text) judges right.
func (j Judged) Right(label []byte) (primary, candidate bool) {
	return j.Primary != nil && SameValue(j.Primary, label), j.Candidate != nil && SameValue(j.Candidate, label)
}
