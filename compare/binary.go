package compare

import (
	"encoding/binary"
	"math"
	"strconv"

	"github.com/valyala/fastjson"
	"github.com/x448/float16"
)

// Triton's binary tensor extension sends an output's data as raw little-endian bytes after the
// JSON header instead of a JSON "data" array. binaryTensor decodes them into the flat JSON array
// the output would otherwise carry, so that the same rules (tolerance, argmax, topk, ...) apply to
// both. The gRPC views (grpc_*.go) read raw_output_contents and tensor_content with the same table.

// scalarKind says how an element's 64 bits read.
type scalarKind uint8

const (
	kindBool    scalarKind = iota // bits != 0
	kindInt                       // int64(bits)
	kindUint                      // bits
	kindFloat32                   // math.Float32frombits(uint32(bits)); FP16 and BF16 widen to it
	kindFloat64                   // math.Float64frombits(bits)
)

// element decodes one element of a fixed-size datatype.
type element struct {
	size int
	kind scalarKind
	read func(e []byte) uint64 // e has size bytes
}

func f32bits(f float32) uint64 { return uint64(math.Float32bits(f)) }

// elements are the fixed-size datatypes of the Open Inference Protocol (BYTES has its own framing).
var elements = map[string]element{
	"BOOL":  {1, kindBool, func(e []byte) uint64 { return uint64(e[0]) }},
	"INT8":  {1, kindInt, func(e []byte) uint64 { return uint64(int64(int8(e[0]))) }},
	"UINT8": {1, kindUint, func(e []byte) uint64 { return uint64(e[0]) }},
	"INT16": {2, kindInt, func(e []byte) uint64 {
		return uint64(int64(int16(binary.LittleEndian.Uint16(e))))
	}},
	"UINT16": {2, kindUint, func(e []byte) uint64 { return uint64(binary.LittleEndian.Uint16(e)) }},
	"FP16": {2, kindFloat32, func(e []byte) uint64 {
		return f32bits(float16.Frombits(binary.LittleEndian.Uint16(e)).Float32())
	}},
	"BF16": {2, kindFloat32, func(e []byte) uint64 { return uint64(binary.LittleEndian.Uint16(e)) << 16 }},
	"INT32": {4, kindInt, func(e []byte) uint64 {
		return uint64(int64(int32(binary.LittleEndian.Uint32(e))))
	}},
	"UINT32": {4, kindUint, func(e []byte) uint64 { return uint64(binary.LittleEndian.Uint32(e)) }},
	"FP32":   {4, kindFloat32, func(e []byte) uint64 { return uint64(binary.LittleEndian.Uint32(e)) }},
	"INT64":  {8, kindInt, binary.LittleEndian.Uint64},
	"UINT64": {8, kindUint, binary.LittleEndian.Uint64},
	"FP64":   {8, kindFloat64, binary.LittleEndian.Uint64},
}

// scalarValue makes the JSON value of an element in a.
func scalarValue(a *fastjson.Arena, kind scalarKind, bits uint64) *fastjson.Value {
	switch kind {
	case kindBool:
		if bits != 0 {
			return a.NewTrue()
		}
		return a.NewFalse()
	case kindInt:
		return a.NewNumberInt(int(int64(bits)))
	case kindUint:
		if bits > math.MaxInt64 {
			return a.NewNumberString(strconv.FormatUint(bits, 10))
		}
		return a.NewNumberInt(int(bits))
	case kindFloat32:
		return a.NewNumberFloat64(float64(math.Float32frombits(uint32(bits))))
	}
	return a.NewNumberFloat64(math.Float64frombits(bits))
}

// binaryTensor decodes b, the binary data of an output of datatype dt, into a flat array made in
// a. ok is false for an unknown datatype or bytes that are not a whole number of elements (the
// caller then compares the bytes as they are).
func binaryTensor(a *fastjson.Arena, dt []byte, b []byte) (*fastjson.Value, bool) {
	arr := a.NewArray()
	if string(dt) == "BYTES" {
		i := 0
		ok := eachBytesElement(b, func(e []byte) bool {
			arr.SetArrayItem(i, a.NewStringBytes(e))
			i++
			return true
		})
		return arr, ok
	}
	el, known := elements[string(dt)]
	if !known || len(b)%el.size != 0 {
		return nil, false
	}
	for i := 0; i < len(b)/el.size; i++ {
		arr.SetArrayItem(i, scalarValue(a, el.kind, el.read(b[i*el.size:(i+1)*el.size])))
	}
	return arr, true
}

// eachBytesElement calls f with each element of raw BYTES data: a 4-byte little-endian length,
// then that many bytes. It returns false on framing that does not fit, or when f does.
func eachBytesElement(b []byte, f func(e []byte) bool) bool {
	for len(b) > 0 {
		if len(b) < 4 {
			return false
		}
		n := binary.LittleEndian.Uint32(b)
		if uint64(n) > uint64(len(b)-4) {
			return false
		}
		if !f(b[4 : 4+n]) {
			return false
		}
		b = b[4+n:]
	}
	return true
}
