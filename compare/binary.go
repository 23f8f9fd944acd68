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
// both.

// element decodes one element of a fixed-size datatype.
type element struct {
	size   int
	decode func(a *fastjson.Arena, e []byte) *fastjson.Value
}

// elements are the fixed-size datatypes of the Open Inference Protocol (BYTES has its own framing).
var elements = map[string]element{
	"BOOL": {1, func(a *fastjson.Arena, e []byte) *fastjson.Value {
		if e[0] != 0 {
			return a.NewTrue()
		}
		return a.NewFalse()
	}},
	"INT8":  {1, func(a *fastjson.Arena, e []byte) *fastjson.Value { return a.NewNumberInt(int(int8(e[0]))) }},
	"UINT8": {1, func(a *fastjson.Arena, e []byte) *fastjson.Value { return a.NewNumberInt(int(e[0])) }},
	"INT16": {2, func(a *fastjson.Arena, e []byte) *fastjson.Value {
		return a.NewNumberInt(int(int16(binary.LittleEndian.Uint16(e))))
	}},
	"UINT16": {2, func(a *fastjson.Arena, e []byte) *fastjson.Value {
		return a.NewNumberInt(int(binary.LittleEndian.Uint16(e)))
	}},
	"FP16": {2, func(a *fastjson.Arena, e []byte) *fastjson.Value {
		return a.NewNumberFloat64(float64(float16.Frombits(binary.LittleEndian.Uint16(e)).Float32()))
	}},
	"BF16": {2, func(a *fastjson.Arena, e []byte) *fastjson.Value {
		return a.NewNumberFloat64(float64(math.Float32frombits(uint32(binary.LittleEndian.Uint16(e)) << 16)))
	}},
	"INT32": {4, func(a *fastjson.Arena, e []byte) *fastjson.Value {
		return a.NewNumberInt(int(int32(binary.LittleEndian.Uint32(e))))
	}},
	"UINT32": {4, func(a *fastjson.Arena, e []byte) *fastjson.Value {
		return a.NewNumberInt(int(binary.LittleEndian.Uint32(e)))
	}},
	"FP32": {4, func(a *fastjson.Arena, e []byte) *fastjson.Value {
		return a.NewNumberFloat64(float64(math.Float32frombits(binary.LittleEndian.Uint32(e))))
	}},
	"INT64": {8, func(a *fastjson.Arena, e []byte) *fastjson.Value {
		return a.NewNumberInt(int(int64(binary.LittleEndian.Uint64(e))))
	}},
	"UINT64": {8, func(a *fastjson.Arena, e []byte) *fastjson.Value {
		return a.NewNumberString(strconv.FormatUint(binary.LittleEndian.Uint64(e), 10))
	}},
	"FP64": {8, func(a *fastjson.Arena, e []byte) *fastjson.Value {
		return a.NewNumberFloat64(math.Float64frombits(binary.LittleEndian.Uint64(e)))
	}},
}

// binaryTensor decodes b, the binary data of an output of datatype dt, into a flat array made in
// a. ok is false for an unknown datatype or bytes that are not a whole number of elements (the
// caller then compares the bytes as they are).
func binaryTensor(a *fastjson.Arena, dt []byte, b []byte) (*fastjson.Value, bool) {
	arr := a.NewArray()
	if string(dt) == "BYTES" {
		// Each element: a 4-byte little-endian length, then that many bytes.
		for i := 0; len(b) > 0; i++ {
			if len(b) < 4 {
				return nil, false
			}
			n := binary.LittleEndian.Uint32(b)
			if uint64(n) > uint64(len(b)-4) {
				return nil, false
			}
			arr.SetArrayItem(i, a.NewStringBytes(b[4:4+n]))
			b = b[4+n:]
		}
		return arr, true
	}
	el, known := elements[string(dt)]
	if !known || len(b)%el.size != 0 {
		return nil, false
	}
	for i := 0; i < len(b)/el.size; i++ {
		arr.SetArrayItem(i, el.decode(a, b[i*el.size:(i+1)*el.size]))
	}
	return arr, true
}
