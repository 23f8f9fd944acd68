package compare

import (
	"encoding/base64"
	"encoding/binary"
	"math"
	"strconv"
	"strings"

	"github.com/valyala/fastjson"
	"github.com/x448/float16"
	"google.golang.org/protobuf/encoding/protowire"
)

// GRPCEncode and GRPCEncodeRaw: views back to messages.

func encodeView(method string, view []byte, response, raw bool) ([]byte, error) {
	if method != MethodModelInfer && method != MethodPredict {
		return nil, ErrUnknownMethod
	}
	var p fastjson.Parser
	var buf []byte
	v, err := p.ParseBytes(tolerant(&buf, view))
	if err != nil {
		return nil, badMsg("view: %v", err)
	}
	if v.Type() != fastjson.TypeObject {
		return nil, badMsg("view: not an object")
	}
	if method == MethodModelInfer {
		return v2Encode(v, response, raw)
	}
	return tfEncode(v, response, raw)
}

// optString reads an optional string member.
func optString(v *fastjson.Value, key string) ([]byte, error) {
	m := v.Get(key)
	if m == nil || m.Type() == fastjson.TypeNull {
		return nil, nil
	}
	s, err := m.StringBytes()
	if err != nil {
		return nil, badMsg("%s: not a string", key)
	}
	return s, nil
}

// optArray reads an optional array member.
func optArray(v *fastjson.Value, key string) ([]*fastjson.Value, error) {
	m := v.Get(key)
	if m == nil || m.Type() == fastjson.TypeNull {
		return nil, nil
	}
	a, err := m.Array()
	if err != nil {
		return nil, badMsg("%s: not an array", key)
	}
	return a, nil
}

func appendStringField(b []byte, num protowire.Number, s []byte) []byte {
	if len(s) == 0 {
		return b
	}
	b = protowire.AppendTag(b, num, protowire.BytesType)
	return protowire.AppendBytes(b, s)
}

func appendMsgField(b []byte, num protowire.Number, m []byte) []byte {
	b = protowire.AppendTag(b, num, protowire.BytesType)
	return protowire.AppendBytes(b, m)
}

// numberText is the text of a JSON number.
func numberText(v *fastjson.Value) string { return b2s(v.MarshalTo(nil)) }

// num64 reads a JSON number as the nearest float64 (strconv rounds correctly; NaN and the
// infinities as written).
func num64(v *fastjson.Value) float64 {
	f, _ := strconv.ParseFloat(numberText(v), 64) // out of range: ±Inf, as wanted
	return f
}

// intText reports a number written as an integer (-0 is a float's).
func intText(t string) bool {
	return t != "" && t != "-0" && !strings.ContainsAny(t, ".eEnNiI")
}

func v2Encode(v *fastjson.Value, response, raw bool) ([]byte, error) {
	var b []byte
	for i, k := range [...]string{"model_name", "model_version", "id"} {
		s, err := optString(v, k)
		if err != nil {
			return nil, err
		}
		b = appendStringField(b, protowire.Number(i+1), s)
	}
	var err error
	if b, err = appendParams(b, 4, v.Get("parameters")); err != nil {
		return nil, err
	}
	key, rawNum := "inputs", protowire.Number(7)
	if response {
		key, rawNum = "outputs", 6
	}
	tensors, err := optArray(v, key)
	if err != nil {
		return nil, err
	}
	// Raw contents go to a prefix of the tensors, all with data (a tensor without data has no
	// raw entry to hold its place): the tensors up to the last FP16 or BF16 one, which have no
	// typed form, or with raw every tensor up to the first without data.
	nRaw, prefix := 0, 0
	for i, t := range tensors {
		if t.Type() != fastjson.TypeObject {
			return nil, badMsg("%s[%d]: not an object", key, i)
		}
		if d := t.Get("data"); d == nil || d.Type() == fastjson.TypeNull {
			break
		}
		prefix = i + 1
	}
	if raw {
		nRaw = prefix
	}
	for i, t := range tensors {
		dt := string(t.GetStringBytes("datatype"))
		if d := t.Get("data"); (dt == "FP16" || dt == "BF16") && i >= nRaw && d != nil && d.Type() != fastjson.TypeNull {
			if i >= prefix {
				return nil, badMsg("%s[%d]: an %s tensor after one without data cannot be encoded (raw contents only)", key, i, dt)
			}
			nRaw = i + 1
		}
	}
	var raws [][]byte
	for i, t := range tensors {
		tb, rb, err := v2EncodeTensor(t, i < nRaw)
		if err != nil {
			return nil, prefixErr(err, key+"["+itoa(i)+"]")
		}
		b = appendMsgField(b, 5, tb)
		if i < nRaw {
			raws = append(raws, rb)
		}
	}
	if !response {
		reqs, err := optArray(v, "outputs")
		if err != nil {
			return nil, err
		}
		for i, r := range reqs {
			if r.Type() != fastjson.TypeObject {
				return nil, badMsg("outputs[%d]: not an object", i)
			}
			name, err := optString(r, "name")
			if err != nil {
				return nil, err
			}
			rb := appendStringField(nil, 1, name)
			if rb, err = appendParams(rb, 2, r.Get("parameters")); err != nil {
				return nil, err
			}
			b = appendMsgField(b, 6, rb)
		}
	}
	for _, r := range raws {
		b = appendMsgField(b, rawNum, r)
	}
	return b, nil
}

// appendParams writes a parameters object as map<string, InferParameter> entries of field num.
func appendParams(b []byte, num protowire.Number, params *fastjson.Value) ([]byte, error) {
	if params == nil || params.Type() == fastjson.TypeNull {
		return b, nil
	}
	o, err := params.Object()
	if err != nil {
		return nil, badMsg("parameters: not an object")
	}
	o.Visit(func(k []byte, pv *fastjson.Value) {
		if err != nil {
			return
		}
		var p []byte
		switch pv.Type() {
		case fastjson.TypeNull:
		case fastjson.TypeTrue:
			p = protowire.AppendVarint(protowire.AppendTag(p, 1, protowire.VarintType), 1)
		case fastjson.TypeFalse:
			p = protowire.AppendVarint(protowire.AppendTag(p, 1, protowire.VarintType), 0)
		case fastjson.TypeString:
			p = protowire.AppendBytes(protowire.AppendTag(p, 3, protowire.BytesType), pv.GetStringBytes())
		case fastjson.TypeNumber:
			if intText(numberText(pv)) {
				if i, e := pv.Int64(); e == nil {
					p = protowire.AppendVarint(protowire.AppendTag(p, 2, protowire.VarintType), uint64(i))
					break
				}
				if u, e := pv.Uint64(); e == nil {
					p = protowire.AppendVarint(protowire.AppendTag(p, 5, protowire.VarintType), u)
					break
				}
			}
			p = protowire.AppendFixed64(protowire.AppendTag(p, 4, protowire.Fixed64Type), math.Float64bits(num64(pv)))
		default:
			err = badMsg("parameter %q: not a bool, number, string or null", k)
			return
		}
		e := appendStringField(nil, 1, k)
		b = appendMsgField(b, num, appendMsgField(e, 2, p))
	})
	return b, err
}

// flatten appends the leaves of nested arrays.
func flatten(dst []*fastjson.Value, v *fastjson.Value, depth int) ([]*fastjson.Value, error) {
	if v.Type() != fastjson.TypeArray {
		return append(dst, v), nil
	}
	if depth > maxEncDepth {
		return nil, badMsg("data nested over %d levels", maxEncDepth)
	}
	a, _ := v.Array()
	var err error
	for _, e := range a {
		if dst, err = flatten(dst, e, depth+1); err != nil {
			return nil, err
		}
	}
	return dst, nil
}

// v2EncodeTensor encodes a tensor object; with raw, its data goes to rawData instead.
func v2EncodeTensor(t *fastjson.Value, raw bool) (msg, rawData []byte, err error) {
	if t.Type() != fastjson.TypeObject {
		return nil, nil, badMsg("not an object")
	}
	name, err := optString(t, "name")
	if err != nil {
		return nil, nil, err
	}
	dtb, err := optString(t, "datatype")
	if err != nil {
		return nil, nil, err
	}
	dt := string(dtb)
	msg = appendStringField(msg, 1, name)
	msg = appendStringField(msg, 2, dtb)
	shape, err := optArray(t, "shape")
	if err != nil {
		return nil, nil, err
	}
	if len(shape) > 0 {
		var packed []byte
		for _, d := range shape {
			n, err := d.Int64()
			if err != nil {
				return nil, nil, badMsg("shape: %v", err)
			}
			packed = protowire.AppendVarint(packed, uint64(n))
		}
		msg = appendMsgField(msg, 3, packed)
	}
	if msg, err = appendParams(msg, 4, t.Get("parameters")); err != nil {
		return nil, nil, err
	}
	data := t.Get("data")
	if data == nil || data.Type() == fastjson.TypeNull {
		return msg, nil, nil
	}
	if data.Type() != fastjson.TypeArray {
		return nil, nil, badMsg("data: not an array")
	}
	leaves, err := flatten(nil, data, 0)
	if err != nil {
		return nil, nil, err
	}
	if raw {
		rawData = []byte{} // present, even when empty
		if dt == "BYTES" {
			for _, l := range leaves {
				s, err := leafBytes(l)
				if err != nil {
					return nil, nil, err
				}
				rawData = binary.LittleEndian.AppendUint32(rawData, uint32(len(s)))
				rawData = append(rawData, s...)
			}
			return msg, rawData, nil
		}
		el, ok := elements[dt]
		if !ok {
			return nil, nil, badMsg("datatype %q", dt)
		}
		for _, l := range leaves {
			bits, err := leafBits(l, dt)
			if err != nil {
				return nil, nil, err
			}
			rawData = binary.LittleEndian.AppendUint64(rawData, bits)[:len(rawData)+el.size]
		}
		return msg, rawData, nil
	}
	tf, ok := v2Typed[dt]
	if !ok {
		return nil, nil, badMsg("datatype %q has no typed contents", dt)
	}
	contents, err := typedPayload(leaves, dt, tf)
	if err != nil {
		return nil, nil, err
	}
	return appendMsgField(msg, 5, contents), nil, nil
}

// typedPayload writes leaves as field tf.num: one packed run, or one field per BYTES element.
func typedPayload(leaves []*fastjson.Value, dt string, tf typedField) ([]byte, error) {
	var out []byte
	if tf.vt == vBytes {
		for _, l := range leaves {
			s, err := leafBytes(l)
			if err != nil {
				return nil, err
			}
			out = appendMsgField(out, tf.num, s)
		}
		return out, nil
	}
	if len(leaves) == 0 {
		return out, nil
	}
	var packed []byte
	for _, l := range leaves {
		bits, err := leafBits(l, dt)
		if err != nil {
			return nil, err
		}
		switch tf.vt.wire() {
		case protowire.Fixed32Type:
			packed = protowire.AppendFixed32(packed, uint32(bits))
		case protowire.Fixed64Type:
			packed = protowire.AppendFixed64(packed, bits)
		default:
			if tf.vt == vHalf || tf.vt == vBF16 {
				bits &= 0xffff
			}
			packed = protowire.AppendVarint(packed, bits)
		}
	}
	return appendMsgField(out, tf.num, packed), nil
}

// leafBytes reads a BYTES element: a string or {"b64":"..."}.
func leafBytes(l *fastjson.Value) ([]byte, error) {
	switch l.Type() {
	case fastjson.TypeString:
		return l.GetStringBytes(), nil
	case fastjson.TypeObject:
		if o, _ := l.Object(); o.Len() == 1 {
			if s := l.GetStringBytes("b64"); s != nil {
				b, err := base64.StdEncoding.AppendDecode(nil, s)
				if err != nil {
					return nil, badMsg("b64: %v", err)
				}
				return b, nil
			}
		}
	}
	return nil, badMsg("a bytes element is a string or {\"b64\":...}, not %s", l.Type())
}

// intRange is the range of each integer datatype.
var intRange = map[string][2]int64{
	"INT8": {math.MinInt8, math.MaxInt8}, "INT16": {math.MinInt16, math.MaxInt16},
	"INT32": {math.MinInt32, math.MaxInt32}, "INT64": {math.MinInt64, math.MaxInt64},
}

var uintMax = map[string]uint64{"UINT8": math.MaxUint8, "UINT16": math.MaxUint16, "UINT32": math.MaxUint32, "UINT64": math.MaxUint64}

// leafBits reads a numeric or bool element of datatype dt as the bits of its element: two's
// complement for integers, IEEE bits of the element's width for floats.
func leafBits(l *fastjson.Value, dt string) (uint64, error) {
	if dt == "BOOL" {
		switch l.Type() {
		case fastjson.TypeTrue:
			return 1, nil
		case fastjson.TypeFalse:
			return 0, nil
		}
		return 0, badMsg("a BOOL element is true or false, not %s", l.Type())
	}
	if l.Type() != fastjson.TypeNumber {
		return 0, badMsg("a %s element is a number, not %s", dt, l.Type())
	}
	if r, ok := intRange[dt]; ok {
		i, err := l.Int64()
		if err != nil {
			f := num64(l)
			if f != math.Trunc(f) || f < -(1<<63) || f >= 1<<63 {
				return 0, badMsg("%s element %s is not an integer", dt, numberText(l))
			}
			i = int64(f)
		}
		if i < r[0] || i > r[1] {
			return 0, badMsg("%s element %d out of range", dt, i)
		}
		return uint64(i), nil
	}
	if m, ok := uintMax[dt]; ok {
		u, err := l.Uint64()
		if err != nil {
			f := num64(l)
			if f != math.Trunc(f) || f < 0 || f >= 1<<64 {
				return 0, badMsg("%s element %s is not an unsigned integer", dt, numberText(l))
			}
			u = uint64(f)
		}
		if u > m {
			return 0, badMsg("%s element %d out of range", dt, u)
		}
		return u, nil
	}
	f := num64(l)
	switch dt {
	case "FP32":
		return uint64(math.Float32bits(float32(f))), nil
	case "FP64":
		return math.Float64bits(f), nil
	case "FP16":
		return uint64(float16.Fromfloat32(float32(f)).Bits()), nil
	case "BF16":
		return uint64(bf16bits(float32(f))), nil
	}
	return 0, badMsg("datatype %q", dt)
}

// bf16bits rounds f to bfloat16 (to nearest, ties to even).
func bf16bits(f float32) uint16 {
	b := math.Float32bits(f)
	if f != f {
		return uint16(b>>16) | 0x40 // stay a NaN
	}
	return uint16((b + 0x7fff + (b>>16)&1) >> 16)
}

func tfEncode(v *fastjson.Value, response, raw bool) ([]byte, error) {
	specNum, tensorsNum, key := protowire.Number(1), protowire.Number(2), "inputs"
	if response {
		specNum, tensorsNum, key = 2, 1, "outputs"
	}
	var b []byte
	if s := v.Get("model_spec"); s != nil && s.Type() != fastjson.TypeNull {
		spec, err := encodeModelSpec(s)
		if err != nil {
			return nil, err
		}
		b = appendMsgField(b, specNum, spec)
	}
	if t := v.Get(key); t != nil && t.Type() != fastjson.TypeNull {
		single := t.Type() != fastjson.TypeObject || isB64(t)
		if single && !response {
			return nil, badMsg("inputs: not an object of tensors by name")
		}
		if single {
			tb, err := tfEncodeTensor(t, raw)
			if err != nil {
				return nil, prefixErr(err, key)
			}
			b = appendMsgField(b, tensorsNum, appendMsgField(appendStringField(nil, 1, []byte("output_0")), 2, tb))
		} else {
			o, _ := t.Object()
			var err error
			o.Visit(func(k []byte, tv *fastjson.Value) {
				if err != nil {
					return
				}
				var tb []byte
				if tb, err = tfEncodeTensor(tv, raw); err != nil {
					err = prefixErr(err, key+"."+string(k))
					return
				}
				b = appendMsgField(b, tensorsNum, appendMsgField(appendStringField(nil, 1, k), 2, tb))
			})
			if err != nil {
				return nil, err
			}
		}
	}
	if !response {
		filter, err := optArray(v, "output_filter")
		if err != nil {
			return nil, err
		}
		for _, f := range filter {
			s, err := f.StringBytes()
			if err != nil {
				return nil, badMsg("output_filter: not a string")
			}
			b = appendMsgField(b, 3, s)
		}
	}
	return b, nil
}

// isB64 reports {"b64":"..."}, a DT_STRING scalar.
func isB64(v *fastjson.Value) bool {
	o, err := v.Object()
	return err == nil && o.Len() == 1 && v.Get("b64") != nil && v.Get("b64").Type() == fastjson.TypeString
}

func encodeModelSpec(s *fastjson.Value) ([]byte, error) {
	if s.Type() != fastjson.TypeObject {
		return nil, badMsg("model_spec: not an object")
	}
	name, err := optString(s, "name")
	if err != nil {
		return nil, prefixErr(err, "model_spec")
	}
	b := appendStringField(nil, 1, name)
	if ver := s.Get("version"); ver != nil && ver.Type() != fastjson.TypeNull {
		n, err := ver.Int64()
		if err != nil {
			return nil, badMsg("model_spec.version: %v", err)
		}
		var w []byte
		if n != 0 {
			w = protowire.AppendVarint(protowire.AppendTag(w, 1, protowire.VarintType), uint64(n))
		}
		b = appendMsgField(b, 2, w)
	} else {
		label, err := optString(s, "version_label")
		if err != nil {
			return nil, prefixErr(err, "model_spec")
		}
		b = appendStringField(b, 4, label)
	}
	sig, err := optString(s, "signature_name")
	if err != nil {
		return nil, prefixErr(err, "model_spec")
	}
	return appendStringField(b, 3, sig), nil
}

// tfShape reads the dimensions of a (rectangular) nested array and its leaves.
func tfShape(v *fastjson.Value) (dims []int64, leaves []*fastjson.Value, err error) {
	for cur := v; cur.Type() == fastjson.TypeArray; {
		a, _ := cur.Array()
		if len(dims) == maxRank {
			return nil, nil, badMsg("tensor nested over %d levels", maxRank)
		}
		dims = append(dims, int64(len(a)))
		if len(a) == 0 {
			break
		}
		cur = a[0]
	}
	var walk func(v *fastjson.Value, level int) error
	walk = func(v *fastjson.Value, level int) error {
		if level == len(dims) {
			if v.Type() == fastjson.TypeArray {
				return badMsg("tensor is not rectangular")
			}
			leaves = append(leaves, v)
			return nil
		}
		a, err := v.Array()
		if err != nil || int64(len(a)) != dims[level] {
			return badMsg("tensor is not rectangular")
		}
		for _, e := range a {
			if err := walk(e, level+1); err != nil {
				return err
			}
		}
		return nil
	}
	return dims, leaves, walk(v, 0)
}

// tfDType infers a tensor's dtype from its leaves (see GRPCEncode) and gives the datatype its
// elements encode as.
func tfDType(leaves []*fastjson.Value) (dtype uint64, dt string, err error) {
	if len(leaves) == 0 {
		return dtFloat, "FP32", nil
	}
	var bools, strs, nums, ints int
	for _, l := range leaves {
		switch l.Type() {
		case fastjson.TypeTrue, fastjson.TypeFalse:
			bools++
		case fastjson.TypeString:
			strs++
		case fastjson.TypeNumber:
			nums++
			if intText(numberText(l)) {
				ints++
			}
		case fastjson.TypeObject:
			if !isB64(l) {
				return 0, "", badMsg("a tensor element is a bool, number, string or {\"b64\":...}")
			}
			strs++
		default:
			return 0, "", badMsg("a tensor element is a bool, number, string or {\"b64\":...}, not %s", l.Type())
		}
	}
	switch {
	case bools == len(leaves):
		return dtBool, "BOOL", nil
	case strs == len(leaves):
		return dtString, "BYTES", nil
	case nums != len(leaves):
		return 0, "", badMsg("a tensor mixes element types")
	}
	if ints == nums {
		allInt, allUint := true, true
		for _, l := range leaves {
			if _, err := l.Int64(); err != nil {
				allInt = false
			}
			if _, err := l.Uint64(); err != nil {
				allUint = false
			}
		}
		switch {
		case allInt:
			return dtInt64, "INT64", nil
		case allUint:
			return dtUint64, "UINT64", nil
		}
		return dtDouble, "FP64", nil
	}
	var b32, b64 []byte
	for _, l := range leaves {
		f := num64(l)
		b32 = appendFloat(b32[:0], float64(float32(f)), 32)
		b64 = appendFloat(b64[:0], f, 64)
		if string(b32) != string(b64) {
			return dtDouble, "FP64", nil
		}
	}
	return dtFloat, "FP32", nil
}

func tfEncodeTensor(v *fastjson.Value, raw bool) ([]byte, error) {
	dims, leaves, err := tfShape(v)
	if err != nil {
		return nil, err
	}
	dtype, dt, err := tfDType(leaves)
	if err != nil {
		return nil, err
	}
	b := protowire.AppendVarint(protowire.AppendTag(nil, 1, protowire.VarintType), dtype)
	var shape []byte
	for _, d := range dims {
		var dim []byte
		if d != 0 {
			dim = protowire.AppendVarint(protowire.AppendTag(dim, 1, protowire.VarintType), uint64(d))
		}
		shape = appendMsgField(shape, 2, dim)
	}
	b = appendMsgField(b, 2, shape)
	if raw && dt != "BYTES" && len(leaves) > 0 {
		el := elements[dt]
		var content []byte
		for _, l := range leaves {
			bits, err := leafBits(l, dt)
			if err != nil {
				return nil, err
			}
			content = binary.LittleEndian.AppendUint64(content, bits)[:len(content)+el.size]
		}
		return appendMsgField(b, 4, content), nil
	}
	vals, err := typedPayload(leaves, dt, tfTyped[dt])
	if err != nil {
		return nil, err
	}
	return append(b, vals...), nil
}
