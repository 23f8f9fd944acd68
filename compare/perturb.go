package compare

import (
	"math"

	"github.com/valyala/fastjson"
)

// Perturbation modes of Perturb.
const (
	// PerturbFlip changes the predicted class of every prediction: in each score vector the
	// largest score swaps places with another (so argmax and top-1 move), integer labels get +1,
	// string labels a "chaos:" prefix, generated text has its words reversed (or a suffix added).
	PerturbFlip = "flip"
	// PerturbNoise multiplies every predicted number by 1 + scale*(2*rnd()-1), scale 0 meaning 0.1.
	PerturbNoise = "noise"
)

// Perturb damages the predictions of a JSON answer of a known format, for chaos drills: it returns
// a new body and true, or body itself and false when it changed nothing (unknown mode, raw or
// unparseable body, no predictions found, an OpenAI stream). Format is one of New's formats (auto
// detects). Only prediction payloads change: predictions, outputs, result(s) (tfserving, kserve-v1,
// mlflow), outputs[].data (kserve-v2), choices[].message.content, choices[].text and
// data[].embedding (openai); under json the whole answer. Body must be the JSON part only (for
// Triton's binary extension, Body[:JSONLength]: binary tensors are left as they are, and the caller
// must update Inference-Header-Content-Length). rnd returns numbers in [0, 1) (a nil rnd always
// gives 0.5, for determinism); it picks the swapped index and the noise. Perturb never panics and
// keeps no reference to body. The caller decides which share of answers to perturb.
func Perturb(body []byte, format string, mode string, rnd func() float64, scale float64) ([]byte, bool) {
	if mode != PerturbFlip && mode != PerturbNoise {
		return body, false
	}
	if rnd == nil {
		rnd = func() float64 { return 0.5 }
	}
	if scale == 0 {
		scale = 0.1
	}
	var p fastjson.Parser
	var buf []byte
	v, err := p.ParseBytes(tolerant(&buf, body))
	if err != nil {
		return body, false
	}
	if format == "" || format == FormatAuto {
		format = detect(v)
	}
	pt := perturber{flip: mode == PerturbFlip, rnd: rnd, scale: scale}
	switch format {
	case FormatJSON:
		pt.value(v, func(nv *fastjson.Value) { v = nv })
	case FormatTFServing, FormatKServeV1, FormatMLflow:
		if v.Type() == fastjson.TypeArray {
			pt.batch(v)
			break
		}
		if v.Type() != fastjson.TypeObject {
			break
		}
		for _, k := range specs[FormatTFServing].units { // the prediction keys of all three
			if b := v.Get(k); b != nil {
				if b.Type() == fastjson.TypeArray || b.Type() == fastjson.TypeObject {
					pt.batch(b)
				} else {
					pt.key(v, k)
				}
			}
		}
	case FormatKServeV2:
		for _, out := range v.GetArray("outputs") {
			pt.tensor(out)
		}
	case FormatOpenAI:
		for _, ch := range v.GetArray("choices") {
			if m := ch.Get("message"); m != nil {
				pt.key(m, "content")
			}
			pt.key(ch, "text")
		}
		for _, d := range v.GetArray("data") {
			pt.key(d, "embedding")
		}
	default:
		return body, false
	}
	if !pt.changed {
		return body, false
	}
	return appendValueTok(nil, v, true), true
}

type perturber struct {
	a       fastjson.Arena
	flip    bool
	rnd     func() float64
	scale   float64
	changed bool
}

// pick returns an index in [0, n) from rnd, whatever rnd returns.
func (pt *perturber) pick(n int) int {
	r := pt.rnd()
	i := 0
	if r > 0 && r < 1 {
		i = int(r * float64(n))
	}
	return min(max(i, 0), n-1)
}

func (pt *perturber) noise() float64 {
	r := pt.rnd()
	if !(r >= 0 && r <= 1) {
		r = 0.5
	}
	f := 1 + pt.scale*(2*r-1)
	if f == 1 {
		f = 1 + pt.scale
	}
	return f
}

// batch perturbs each prediction of a batch: the elements of a list, or of each column of an object.
func (pt *perturber) batch(v *fastjson.Value) {
	switch v.Type() {
	case fastjson.TypeArray:
		a, _ := v.Array()
		for i := range a {
			pt.value(a[i], func(nv *fastjson.Value) { v.SetArrayItem(i, nv) })
		}
	case fastjson.TypeObject:
		o, _ := v.Object()
		o.Visit(func(_ []byte, col *fastjson.Value) { pt.batch(col) })
	}
}

// tensor perturbs a kserve-v2 output's flat data row by row (rows of the first dimension).
func (pt *perturber) tensor(out *fastjson.Value) {
	data := out.Get("data")
	if data == nil {
		return
	}
	flat, err := data.Array()
	dims, ok := readShape(nil, out)
	if err != nil || !ok || len(dims) < 2 || !allNumbers(flat) || !pt.flip {
		pt.batch(data) // one prediction per element (or data that does not fit its shape)
		return
	}
	row := 1
	for _, d := range dims[1:] {
		row *= d
	}
	if row < 2 || len(flat)%row != 0 {
		pt.batch(data)
		return
	}
	for off := 0; off < len(flat); off += row {
		pt.swapMax(data, flat, off, row)
	}
}

// swapMax moves the largest of a[off:off+n] (n >= 2) elsewhere in that range.
func (pt *perturber) swapMax(v *fastjson.Value, a []*fastjson.Value, off, n int) {
	best := off
	fb, _ := a[best].Float64()
	for i := off + 1; i < off+n; i++ {
		if f, _ := a[i].Float64(); less(fb, f) {
			best, fb = i, f
		}
	}
	other := off + pt.pick(n-1)
	if other >= best {
		other++
	}
	if fo, _ := a[other].Float64(); fo == fb || math.IsNaN(fb) {
		// A tie (or all NaN) moves nothing: raise the other one above the maximum.
		nv := 1.0
		if !math.IsNaN(fb) && !math.IsInf(fb, 0) {
			nv = fb + math.Max(math.Abs(fb), 1)*pt.scale
		}
		v.SetArrayItem(other, pt.a.NewNumberFloat64(nv))
	} else {
		a[best], a[other] = a[other], a[best]
	}
	pt.changed = true
}

func (pt *perturber) key(obj *fastjson.Value, k string) {
	if obj == nil || obj.Type() != fastjson.TypeObject {
		return
	}
	if v := obj.Get(k); v != nil {
		pt.value(v, func(nv *fastjson.Value) { obj.Set(k, nv) })
	}
}

// value perturbs v, replacing it through set when it is a scalar.
func (pt *perturber) value(v *fastjson.Value, set func(*fastjson.Value)) {
	switch v.Type() {
	case fastjson.TypeObject:
		o, _ := v.Object()
		var keys []string
		o.Visit(func(k []byte, _ *fastjson.Value) { keys = append(keys, string(k)) })
		for _, k := range keys {
			pt.key(v, k)
		}
	case fastjson.TypeArray:
		a, _ := v.Array()
		if pt.flip && len(a) >= 2 && allNumbers(a) {
			pt.swapMax(v, a, 0, len(a))
			return
		}
		for i := range a {
			pt.value(a[i], func(nv *fastjson.Value) { v.SetArrayItem(i, nv) })
		}
	case fastjson.TypeNumber:
		f, err := v.Float64()
		if err != nil || math.IsNaN(f) || math.IsInf(f, 0) {
			return
		}
		switch {
		case pt.flip && f == math.Trunc(f) && math.Abs(f) < 1<<53:
			f++
		case pt.flip:
			f += math.Max(math.Abs(f), 1) * pt.scale
		default:
			f *= pt.noise()
			if f == 0 {
				f = pt.scale * (2*pt.rnd() - 1)
			}
		}
		if math.IsInf(f, 0) {
			return
		}
		set(pt.a.NewNumberFloat64(f))
		pt.changed = true
	case fastjson.TypeString:
		if !pt.flip {
			return
		}
		s, _ := v.StringBytes()
		set(pt.a.NewString(flipText(string(s))))
		pt.changed = true
	}
}

func allNumbers(a []*fastjson.Value) bool {
	for _, e := range a {
		if e.Type() != fastjson.TypeNumber {
			return false
		}
	}
	return true
}

// flipText changes a label or a text: words reversed when that changes it, else a prefix added.
func flipText(s string) string {
	words := splitWords(s)
	if len(words) > 1 {
		out := ""
		for i := len(words) - 1; i >= 0; i-- {
			out += words[i]
			if i > 0 {
				out += " "
			}
		}
		if out != s {
			return out
		}
	}
	return "chaos:" + s
}

func splitWords(s string) []string {
	var out []string
	start := -1
	for i, r := range s {
		space := r == ' ' || r == '\n' || r == '\t' || r == '\r'
		switch {
		case space && start >= 0:
			out = append(out, s[start:i])
			start = -1
		case !space && start < 0:
			start = i
		}
	}
	if start >= 0 {
		out = append(out, s[start:])
	}
	return out
}
