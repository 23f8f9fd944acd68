package compare

import (
	"bytes"
	"encoding/base64"
	"errors"
	"fmt"
	"math"
	"strconv"
	"unicode/utf8"

	"github.com/x448/float16"
	"google.golang.org/protobuf/encoding/protowire"
)

// The wire layer of the gRPC views: reading fields with protowire, and writing the JSON view
// under a size bound.

// ErrBadMessage is wrapped by GRPCView, GRPCEncode and GRPCSet errors about the bytes or the view
// themselves: a message that does not decode as the method's, a view that is not the method's
// JSON form, or a view that would outgrow its bound (see GRPCView).
var ErrBadMessage = errors.New("bad gRPC message")

// Bounds on the work hostile input can cause.
const (
	viewFactor  = 16   // a view may be this many times the message's size ...
	viewSlack   = 4096 // ... plus this many bytes
	maxRank     = 64   // dimensions of a tensor shape that the views nest
	maxNesting  = 32   // levels of messages the structural decoder looks into
	maxEncDepth = 64   // levels of JSON arrays GRPCEncode reads as a tensor
)

func badMsg(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrBadMessage, fmt.Sprintf(format, args...))
}

// field is one field of a message as it is on the wire.
type field struct {
	num protowire.Number
	typ protowire.Type
	v   uint64 // varint, fixed32 and fixed64 values
	b   []byte // length-delimited values
}

// eachField calls f with every field of msg in wire order. Groups are refused: no message the
// views know has one.
func eachField(msg []byte, f func(fl field) error) error {
	for len(msg) > 0 {
		num, typ, n := protowire.ConsumeTag(msg)
		if n < 0 {
			return badMsg("field tag: %v", protowire.ParseError(n))
		}
		msg = msg[n:]
		fl := field{num: num, typ: typ}
		switch typ {
		case protowire.VarintType:
			fl.v, n = protowire.ConsumeVarint(msg)
		case protowire.Fixed32Type:
			var v uint32
			v, n = protowire.ConsumeFixed32(msg)
			fl.v = uint64(v)
		case protowire.Fixed64Type:
			fl.v, n = protowire.ConsumeFixed64(msg)
		case protowire.BytesType:
			fl.b, n = protowire.ConsumeBytes(msg)
		default:
			return badMsg("field %d: wire type %d (groups are not supported)", num, typ)
		}
		if n < 0 {
			return badMsg("field %d: %v", num, protowire.ParseError(n))
		}
		msg = msg[n:]
		if err := f(fl); err != nil {
			return err
		}
	}
	return nil
}

// wantBytes checks that fl is length-delimited.
func wantBytes(fl field, what string) error {
	if fl.typ != protowire.BytesType {
		return badMsg("%s: wire type %d, want length-delimited", what, fl.typ)
	}
	return nil
}

// wantVarint checks that fl is a varint.
func wantVarint(fl field, what string) error {
	if fl.typ != protowire.VarintType {
		return badMsg("%s: wire type %d, want varint", what, fl.typ)
	}
	return nil
}

// valType is the protobuf type of a repeated scalar field holding tensor values.
type valType uint8

const (
	vBool valType = iota
	vInt32
	vInt64
	vUint32
	vUint64
	vFloat
	vDouble
	vBytes
	vHalf // TF half_val holding FP16 bits
	vBF16 // TF half_val holding BF16 bits
)

// wire is the wire type of one (unpacked) value of t.
func (t valType) wire() protowire.Type {
	switch t {
	case vFloat:
		return protowire.Fixed32Type
	case vDouble:
		return protowire.Fixed64Type
	case vBytes:
		return protowire.BytesType
	}
	return protowire.VarintType
}

// scalar reads one value of t into the kind and bits the views write.
func (t valType) scalar(v uint64) (scalarKind, uint64) {
	switch t {
	case vBool:
		return kindBool, v
	case vInt32:
		return kindInt, uint64(int64(int32(v)))
	case vInt64:
		return kindInt, v
	case vUint32:
		return kindUint, uint64(uint32(v))
	case vUint64:
		return kindUint, v
	case vFloat:
		return kindFloat32, uint64(uint32(v))
	case vHalf:
		return kindFloat32, f32bits(float16.Frombits(uint16(v)).Float32())
	case vBF16:
		return kindFloat32, uint64(uint16(v)) << 16
	}
	return kindFloat64, v
}

// value is one tensor element: a scalar, or bytes (BYTES, DT_STRING).
type value struct {
	kind  scalarKind
	bits  uint64
	bytes []byte
	isStr bool
}

// values iterates over a tensor's elements, held either as typed repeated fields (field num of
// the messages msgs, packed or not) or as raw little-endian bytes of a datatype.
type values struct {
	// typed
	msgs   [][]byte
	num    protowire.Number
	vt     valType
	packed []byte // the rest of the current packed run
	// raw
	raw      []byte
	rawBytes bool
	el       element
	isRaw    bool
}

// typedValues iterates over field num (of type vt) of msgs (which it does not modify).
func typedValues(msgs [][]byte, num protowire.Number, vt valType) *values {
	return &values{msgs: append([][]byte(nil), msgs...), num: num, vt: vt}
}

// rawValues iterates over raw tensor bytes of datatype dt (a KServe v2 name).
func rawValues(raw []byte, dt string) (*values, error) {
	vs := &values{raw: raw, isRaw: true}
	if dt == "BYTES" {
		vs.rawBytes = true
		if !eachBytesElement(raw, func([]byte) bool { return true }) {
			return nil, badMsg("raw BYTES contents: element lengths do not fit its %d bytes", len(raw))
		}
		return vs, nil
	}
	el, ok := elements[dt]
	if !ok {
		return nil, badMsg("raw contents of unknown datatype %q", dt)
	}
	if len(raw)%el.size != 0 {
		return nil, badMsg("raw %s contents: %d bytes are not a whole number of %d-byte elements", dt, len(raw), el.size)
	}
	vs.el = el
	return vs, nil
}

// next returns the next element; ok is false at the end. Errors are wire errors of typed fields.
func (vs *values) next() (v value, ok bool, err error) {
	if vs.isRaw {
		if len(vs.raw) == 0 {
			return v, false, nil
		}
		if vs.rawBytes {
			n := int(uint32(vs.raw[0]) | uint32(vs.raw[1])<<8 | uint32(vs.raw[2])<<16 | uint32(vs.raw[3])<<24)
			v = value{bytes: vs.raw[4 : 4+n], isStr: true}
			vs.raw = vs.raw[4+n:]
			return v, true, nil
		}
		v.kind, v.bits = vs.el.kind, vs.el.read(vs.raw[:vs.el.size])
		vs.raw = vs.raw[vs.el.size:]
		return v, true, nil
	}
	for {
		if len(vs.packed) > 0 {
			var x uint64
			var n int
			switch vs.vt.wire() {
			case protowire.Fixed32Type:
				var y uint32
				y, n = protowire.ConsumeFixed32(vs.packed)
				x = uint64(y)
			case protowire.Fixed64Type:
				x, n = protowire.ConsumeFixed64(vs.packed)
			default:
				x, n = protowire.ConsumeVarint(vs.packed)
			}
			if n < 0 {
				return v, false, badMsg("packed field %d: %v", vs.num, protowire.ParseError(n))
			}
			vs.packed = vs.packed[n:]
			v.kind, v.bits = vs.vt.scalar(x)
			return v, true, nil
		}
		if len(vs.msgs) == 0 {
			return v, false, nil
		}
		// Find the next occurrence of vs.num in the current message.
		m := vs.msgs[0]
		found := false
		for len(m) > 0 && !found {
			num, typ, n := protowire.ConsumeTag(m)
			if n < 0 {
				return v, false, badMsg("field tag: %v", protowire.ParseError(n))
			}
			m = m[n:]
			if num != vs.num {
				if n = protowire.ConsumeFieldValue(num, typ, m); n < 0 {
					return v, false, badMsg("field %d: %v", num, protowire.ParseError(n))
				}
				m = m[n:]
				continue
			}
			found = true
			switch {
			case typ == protowire.BytesType:
				b, n := protowire.ConsumeBytes(m)
				if n < 0 {
					return v, false, badMsg("field %d: %v", num, protowire.ParseError(n))
				}
				m = m[n:]
				if vs.vt == vBytes {
					vs.msgs[0] = m
					return value{bytes: b, isStr: true}, true, nil
				}
				vs.packed = b
			case typ == vs.vt.wire():
				var x uint64
				switch typ {
				case protowire.Fixed32Type:
					var y uint32
					y, n = protowire.ConsumeFixed32(m)
					x = uint64(y)
				case protowire.Fixed64Type:
					x, n = protowire.ConsumeFixed64(m)
				default:
					x, n = protowire.ConsumeVarint(m)
				}
				if n < 0 {
					return v, false, badMsg("field %d: %v", num, protowire.ParseError(n))
				}
				m = m[n:]
				vs.msgs[0] = m
				v.kind, v.bits = vs.vt.scalar(x)
				return v, true, nil
			default:
				return v, false, badMsg("field %d: wire type %d, want %d or packed", num, typ, vs.vt.wire())
			}
		}
		if found {
			vs.msgs[0] = m
			continue // read the packed run
		}
		vs.msgs = vs.msgs[1:]
	}
}

// count counts the elements of a fresh iterator (consuming it).
func (vs *values) count() (int, error) {
	n := 0
	for {
		_, ok, err := vs.next()
		if err != nil || !ok {
			return n, err
		}
		n++
	}
}

// jw writes a JSON view, failing once it grows past max bytes.
type jw struct {
	b   []byte
	max int
}

func newJW(msgLen int) *jw {
	max := viewFactor*msgLen + viewSlack
	if msgLen > (math.MaxInt-viewSlack)/viewFactor {
		max = math.MaxInt
	}
	return &jw{b: make([]byte, 0, min(max, 2*msgLen+256)), max: max}
}

// check fails when the view has outgrown its bound.
func (w *jw) check() error {
	if len(w.b) > w.max {
		return badMsg("the view would be over %d bytes (%dx the message plus %d)", w.max, viewFactor, viewSlack)
	}
	return nil
}

func (w *jw) raw(s string)  { w.b = append(w.b, s...) }
func (w *jw) byte(c byte)   { w.b = append(w.b, c) }
func (w *jw) str(s []byte)  { w.b = appendJSONString(w.b, validUTF8(s), "") }
func (w *jw) value(v value) { w.b = appendElem(w.b, v) }
func (w *jw) int(x int64)   { w.b = strconv.AppendInt(w.b, x, 10) }
func (w *jw) uint(x uint64) { w.b = strconv.AppendUint(w.b, x, 10) }

// sep writes the comma before element i > 0 of an array or object.
func (w *jw) sep(i int) {
	if i > 0 {
		w.b = append(w.b, ',')
	}
}

// validUTF8 returns s with each run of invalid UTF-8 replaced by U+FFFD, so that a view reads
// back (GRPCEncode) to the same view.
func validUTF8(s []byte) []byte {
	if utf8.Valid(s) {
		return s
	}
	return bytes.ToValidUTF8(s, []byte("\uFFFD"))
}

// appendFloat writes x as the shortest decimal that reads back as the same float of bitSize
// bits; NaN and the infinities as NaN, Infinity and -Infinity, as TF Serving's REST API does.
func appendFloat(dst []byte, x float64, bitSize int) []byte {
	switch {
	case math.IsNaN(x):
		return append(dst, "NaN"...)
	case math.IsInf(x, 1):
		return append(dst, "Infinity"...)
	case math.IsInf(x, -1):
		return append(dst, "-Infinity"...)
	}
	return strconv.AppendFloat(dst, x, 'g', -1, bitSize)
}

// appendElem writes one tensor element.
func appendElem(dst []byte, v value) []byte {
	if v.isStr {
		return appendBytesValue(dst, v.bytes)
	}
	switch v.kind {
	case kindBool:
		if v.bits != 0 {
			return append(dst, "true"...)
		}
		return append(dst, "false"...)
	case kindInt:
		return strconv.AppendInt(dst, int64(v.bits), 10)
	case kindUint:
		return strconv.AppendUint(dst, v.bits, 10)
	case kindFloat32:
		return appendFloat(dst, float64(math.Float32frombits(uint32(v.bits))), 32)
	}
	return appendFloat(dst, math.Float64frombits(v.bits), 64)
}

// appendBytesValue writes a BYTES or DT_STRING element: a JSON string when it is UTF-8, else
// {"b64":"..."} (TF Serving REST's form for binary strings).
func appendBytesValue(dst, b []byte) []byte {
	if utf8.Valid(b) {
		return appendJSONString(dst, b, "")
	}
	dst = append(dst, `{"b64":"`...)
	dst = base64.StdEncoding.AppendEncode(dst, b)
	return append(dst, `"}`...)
}
