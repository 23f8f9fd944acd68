package compare

import (
	"bytes"
	"encoding/hex"
	"slices"
	"strconv"

	"github.com/valyala/fastjson"
)

// isErrorObject reports an error answer with a 2xx status: an object with a non-null "error" and
// no prediction payload.
func isErrorObject(v *fastjson.Value) bool {
	if v.Type() != fastjson.TypeObject {
		return false
	}
	e := v.Get("error")
	if e == nil || e.Type() == fastjson.TypeNull {
		return false
	}
	for _, k := range payloadKeys {
		if v.Get(k) != nil {
			return false
		}
	}
	return true
}

// tolerant returns b with bare Infinity tokens (outside strings) rewritten to Inf, which fastjson
// reads; NaN, Inf and -Inf it reads already. The rewrite, when needed, goes to *buf.
func tolerant(buf *[]byte, b []byte) []byte {
	if !bytes.Contains(b, []byte("Infinity")) {
		return b
	}
	out := append((*buf)[:0], b...)
	inStr := false
	for i := 0; i < len(out); i++ {
		ch := out[i]
		if inStr {
			if ch == '\\' {
				i++
			} else if ch == '"' {
				inStr = false
			}
			continue
		}
		if ch == '"' {
			inStr = true
			continue
		}
		if ch == 'I' && bytes.HasPrefix(out[i:], []byte("Infinity")) {
			copy(out[i+3:i+8], "     ")
			i += 7
		}
	}
	*buf = out
	return out
}

// shortReason bounds an error text used as a Reason.
func shortReason(prefix string, err error) string {
	s := err.Error()
	if len(s) > 160 {
		s = s[:160] + "..."
	}
	return prefix + s
}

// run compares two 2xx answers.
func (w *walker) run(primary, candidate Response) Result {
	format := w.c.format
	pj, ptail := jsonPart(primary)
	cj, ctail := jsonPart(candidate)
	res := &w.res
	if format == FormatRaw || (format == FormatAuto && !looksJSON(primary.ContentType, pj) && !looksJSON(candidate.ContentType, cj) &&
		!looksSSE(primary.ContentType, pj) && !looksSSE(candidate.ContentType, cj)) {
		res.Format = FormatRaw
		return w.raw(primary.Body, candidate.Body)
	}
	// Streams (OpenAI server-sent events) are assembled into the non-streamed answer first.
	var pErr, cErr bool
	if format == FormatAuto || format == FormatOpenAI {
		for _, side := range [...]struct {
			r    Response
			js   *[]byte
			err  *bool
			name string
		}{{primary, &pj, &pErr, "primary"}, {candidate, &cj, &cErr, "candidate"}} {
			if !looksSSE(side.r.ContentType, *side.js) {
				continue
			}
			format = FormatOpenAI
			body, isErr, err := assembleSSE(*side.js)
			if err != nil {
				return Result{Outcome: Unparseable, Format: format, Reason: shortReason(side.name+": ", err)}
			}
			*side.js, *side.err = body, isErr
		}
	}
	if pErr || cErr {
		return errorResult(format, pErr, cErr)
	}
	if !w.c.noFast {
		if f, units, ok := w.fast(pj, cj, format); ok {
			return Result{Outcome: Agree, Format: f, Predictions: Predictions{Agree: units}, RulesApplied: w.applied}
		}
		w.restart()
	}
	pv, err := w.pp.ParseBytes(tolerant(&w.tmpP, pj))
	if err != nil {
		return Result{Outcome: Unparseable, Format: format, Reason: shortReason("primary: ", err)}
	}
	cv, err := w.cp.ParseBytes(tolerant(&w.tmpC, cj))
	if err != nil {
		return Result{Outcome: Unparseable, Format: format, Reason: shortReason("candidate: ", err)}
	}
	auto := format == FormatAuto
	if auto {
		format = detect(pv)
		if format == FormatJSON {
			format = detect(cv)
		}
	}
	res.Format = format
	// Error objects count in the model-server formats, and under auto (where {"error":...} alone
	// is detected as json).
	if format != FormatJSON || auto {
		if pErr, cErr = isErrorObject(pv), isErrorObject(cv); pErr || cErr {
			return errorResult(format, pErr, cErr)
		}
	}
	switch format {
	case FormatJSON:
		w.unit = 0
		w.walk(node{v: pv}, node{v: cv})
	case FormatKServeV2:
		w.v2(pv, cv, ptail, ctail)
	default:
		w.root(specs[format], format, pv, cv)
	}
	return w.finish()
}

func errorResult(format string, pErr, cErr bool) Result {
	switch {
	case pErr && cErr:
		return Result{Outcome: Agree, Format: format, Reason: "both answered an error object"}
	case pErr:
		return Result{Outcome: PrimaryError, Format: format, Reason: "primary answered an error object"}
	}
	return Result{Outcome: CandidateError, Format: format, Reason: "candidate answered an error object"}
}

// finish turns the walk's state into the Result.
func (w *walker) finish() Result {
	res := w.res
	res.RulesApplied = w.applied
	if w.nUnits == 0 { // no batch found: the whole answer is one prediction
		w.nUnits = 1
		if res.DiffCount > 0 {
			w.markUnit(0)
		}
	}
	bad := w.badUnits()
	res.Predictions = Predictions{Agree: w.nUnits - bad, Disagree: bad}
	switch {
	case w.shape:
		res.Outcome, res.Reason = ShapeMismatch, w.shapeWhy
	case res.DiffCount > 0:
		res.Outcome = Disagree
	default:
		res.Outcome = Agree
	}
	return res
}

func (w *walker) raw(p, c []byte) Result {
	if !bytes.Equal(p, c) {
		w.unit = 0
		if w.keep() {
			w.addDiff(quoteBody(p), quoteBody(c), "body")
		}
	}
	return w.finish()
}

// quoteBody returns a body as a JSON string, bounded.
func quoteBody(b []byte) []byte {
	if len(b) > maxDiffValue/2 {
		return appendJSONString(nil, b[:maxDiffValue/2], "…")
	}
	return appendJSONString(nil, b, "")
}

// root compares the top-level object of tfserving, kserve-v1, mlflow and openai answers.
func (w *walker) root(spec formatSpec, format string, pv, cv *fastjson.Value) {
	if pv.Type() != fastjson.TypeObject || cv.Type() != fastjson.TypeObject {
		if format == FormatMLflow || format == FormatKServeV1 || format == FormatTFServing {
			w.unitDepth = 0 // a bare list of predictions (MLflow 1.x)
		}
		w.walk(node{v: pv}, node{v: cv})
		return
	}
	po, _ := pv.Object()
	co, _ := cv.Object()
	po.Visit(func(k []byte, v *fastjson.Value) {
		key := b2s(k)
		if slices.Contains(spec.ignored, key) || po.Get(key) != v {
			return
		}
		w.unitDepth = -1
		if slices.Contains(spec.units, key) {
			w.unitDepth = 1
			if v.Type() == fastjson.TypeObject {
				w.unitDepth = 2 // columns: {"predictions": {"col": [row0, row1]}}
			}
		}
		w.push(seg{kind: segKey, key: key})
		w.walk(node{v: v}, node{v: co.Get(key)})
		w.pop()
		w.unitDepth = -1
	})
	co.Visit(func(k []byte, v *fastjson.Value) {
		key := b2s(k)
		if slices.Contains(spec.ignored, key) || po.Get(key) != nil {
			return
		}
		w.push(seg{kind: segKey, key: key})
		w.walk(node{}, node{v: v})
		w.pop()
	})
}

// readShape appends the shape of a kserve-v2 output; ok is false when it is not a list of
// non-negative integers.
func readShape(dst []int, out *fastjson.Value) ([]int, bool) {
	shape := out.Get("shape")
	if shape == nil || shape.Type() != fastjson.TypeArray {
		return dst, false
	}
	a, _ := shape.Array()
	for _, d := range a {
		n, err := d.Int()
		if err != nil || n < 0 {
			return dst, false
		}
		dst = append(dst, n)
	}
	return dst, true
}

// tensor returns the normalised view of an output's data: flat data read by shape when it fits,
// else the data as it is (nested lists, or a shape that does not match).
func tensor(data *fastjson.Value, dims []int, shapeOK bool) node {
	if data == nil {
		return node{}
	}
	flat, err := data.Array()
	if err != nil || !shapeOK {
		return node{v: data}
	}
	n := 1
	for _, d := range dims {
		n *= d
		if n > len(flat) {
			return node{v: data}
		}
	}
	if n != len(flat) {
		return node{v: data}
	}
	for _, e := range flat {
		if e.Type() == fastjson.TypeArray {
			return node{v: data}
		}
	}
	if len(dims) == 0 {
		if len(flat) == 1 {
			return node{v: flat[0]}
		}
		return node{v: data}
	}
	return node{flat: flat, dims: dims}
}

// outputByName returns the nth (from 0) output called name.
func outputByName(outs []*fastjson.Value, name []byte, nth int) *fastjson.Value {
	for _, o := range outs {
		if bytes.Equal(o.GetStringBytes("name"), name) {
			if nth == 0 {
				return o
			}
			nth--
		}
	}
	return nil
}

// nthName counts the outputs before outs[i] called like it.
func nthName(outs []*fastjson.Value, i int) int {
	name, n := outs[i].GetStringBytes("name"), 0
	for _, o := range outs[:i] {
		if bytes.Equal(o.GetStringBytes("name"), name) {
			n++
		}
	}
	return n
}

// binaryRange returns the bytes of output out in a Triton binary tail: outputs with
// parameters.binary_data_size take consecutive ranges of the tail, in order.
func binaryRange(outs []*fastjson.Value, out *fastjson.Value, tail []byte) ([]byte, bool) {
	off := 0
	for _, o := range outs {
		sz := o.Get("parameters", "binary_data_size")
		if sz == nil {
			continue
		}
		n, err := sz.Int()
		if err != nil || n < 0 || off+n > len(tail) || off+n < off {
			return nil, false
		}
		if o == out {
			return tail[off : off+n], true
		}
		off += n
	}
	return nil, false
}

// v2 compares Open Inference Protocol answers: outputs matched by name, data read by shape.
func (w *walker) v2(pv, cv *fastjson.Value, ptail, ctail []byte) {
	spec := specs[FormatKServeV2]
	po, co := pv.Get("outputs"), cv.Get("outputs")
	if po == nil || co == nil || po.Type() != fastjson.TypeArray || co.Type() != fastjson.TypeArray {
		w.root(spec, FormatKServeV2, pv, cv)
		return
	}
	pa, _ := po.Array()
	ca, _ := co.Array()
	// Everything but outputs compares as usual.
	pobj, _ := pv.Object()
	cobj, _ := cv.Object()
	pobj.Visit(func(k []byte, v *fastjson.Value) {
		key := b2s(k)
		if key == "outputs" || slices.Contains(spec.ignored, key) || pobj.Get(key) != v {
			return
		}
		w.push(seg{kind: segKey, key: key})
		w.walk(node{v: v}, node{v: cobj.Get(key)})
		w.pop()
	})
	cobj.Visit(func(k []byte, v *fastjson.Value) {
		key := b2s(k)
		if key == "outputs" || slices.Contains(spec.ignored, key) || pobj.Get(key) != nil {
			return
		}
		w.push(seg{kind: segKey, key: key})
		w.walk(node{}, node{v: v})
		w.pop()
	})
	w.push(seg{kind: segKey, key: "outputs"})
	for i, p := range pa {
		name := p.GetStringBytes("name")
		if name == nil {
			w.push(seg{kind: segIndex, idx: i})
		} else {
			w.push(seg{kind: segKey, key: b2s(name)})
		}
		if !w.ignored() {
			var c *fastjson.Value
			switch {
			case name != nil:
				c = outputByName(ca, name, nthName(pa, i))
			case i < len(ca):
				c = ca[i]
			}
			w.output(pa, ca, p, c, ptail, ctail)
		}
		w.pop()
	}
	for j, c := range ca {
		name := c.GetStringBytes("name")
		key := seg{kind: segIndex, idx: j}
		if name != nil {
			key = seg{kind: segKey, key: b2s(name)}
		}
		if (name == nil && j < len(pa)) || (name != nil && outputByName(pa, name, nthName(ca, j)) != nil) {
			continue
		}
		w.push(key)
		if !w.ignored() {
			w.setShape("output only in candidate")
			w.mismatch(node{}, node{v: c}, "missing in primary")
		}
		w.pop()
	}
	w.pop()
}

// output compares one kserve-v2 output pair at the current path (outputs.NAME).
func (w *walker) output(pa, ca []*fastjson.Value, p, c *fastjson.Value, ptail, ctail []byte) {
	if c == nil {
		w.setShape("output only in primary")
		w.mismatch(node{v: p}, node{}, "missing in candidate")
		return
	}
	var okP, okC bool
	w.dimsP, okP = readShape(w.dimsP[:0], p)
	w.dimsC, okC = readShape(w.dimsC[:0], c)
	if okP && okC && !slices.Equal(w.dimsP, w.dimsC) {
		w.setShape("output shape differs")
		w.mismatch(node{v: p.Get("shape")}, node{v: c.Get("shape")}, "shape")
		return
	}
	pd, cd := p.Get("data"), c.Get("data")
	if pd == nil && cd == nil { // Triton binary tensors
		pb, okp := binaryRange(pa, p, ptail)
		cb, okc := binaryRange(ca, c, ctail)
		if !okp && !okc {
			return // neither side carries data for this output
		}
		if !okp || !okc {
			if w.keep() {
				missing := []byte(`"<binary data missing or out of range>"`)
				a, b := missing, missing
				if okp {
					a = binSummary(pb)
				}
				if okc {
					b = binSummary(cb)
				}
				w.addDiff(a, b, "binary")
			}
			return
		}
		pt, okP2 := binaryTensor(&w.arena, p.GetStringBytes("datatype"), pb)
		ct, okC2 := binaryTensor(&w.arena, c.GetStringBytes("datatype"), cb)
		if !okP2 || !okC2 {
			w.binary(pb, cb) // an unknown datatype or a size that does not fit: byte for byte
			return
		}
		pd, cd = pt, ct
	}
	w.unitDepth = len(w.stack)
	w.walk(tensor(pd, w.dimsP, okP), tensor(cd, w.dimsC, okC))
	w.unitDepth = -1
}

// binary compares Triton binary tensor data that binaryTensor cannot decode byte for byte, per row
// of the first dimension.
func (w *walker) binary(pb, cb []byte) {
	rows := 1
	if len(w.dimsP) > 0 && w.dimsP[0] > 0 && w.dimsP[0] <= len(pb) {
		rows = w.dimsP[0]
	}
	w.unitDepth = len(w.stack)
	w.noteLen(rows, rows)
	if len(pb) != len(cb) || rows == 0 || len(pb)%rows != 0 {
		if !bytes.Equal(pb, cb) && w.keep() {
			w.addDiff(binSummary(pb), binSummary(cb), "binary")
		}
		w.unitDepth = -1
		return
	}
	size := len(pb) / rows
	for i := 0; i < rows; i++ {
		a, b := pb[i*size:(i+1)*size], cb[i*size:(i+1)*size]
		if bytes.Equal(a, b) {
			continue
		}
		saved := w.enter(i)
		if w.keep() {
			w.addDiff(binSummary(a), binSummary(b), "binary")
		}
		w.leave(saved)
	}
	w.unitDepth = -1
}

// binSummary describes binary tensor bytes as a JSON string: the size and the first 16 bytes in hex.
func binSummary(b []byte) []byte {
	s := "<" + strconv.Itoa(len(b)) + " bytes: " + hex.EncodeToString(b[:min(len(b), 16)])
	if len(b) > 16 {
		s += "..."
	}
	return strconv.AppendQuote(nil, s+">")
}
