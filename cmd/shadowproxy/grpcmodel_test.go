package main

import (
	"context"
	le "encoding/binary"
	"errors"
	"math"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/encoding/protowire"

	"github.com/shadowproxy/shadowproxy/proxy/proxytest"
)

// The KServe v2 gRPC model of the end-to-end tests, encoded and decoded with protowire from the
// protocol's field numbers (testdata/kserve_v2.proto), independently of compare's decoder.

const modelInfer = "/inference.GRPCInferenceService/ModelInfer"

// v2Request is what the test model reads of a ModelInferRequest.
type v2Request struct {
	model, id string
	x         []float32 // the first input's FP32 values, typed or raw
}

var errBadMessage = errors.New("bad message")

// fields calls f for each field of a message; f returns the bytes it consumed, or -1.
func fields(b []byte, f func(num protowire.Number, typ protowire.Type, b []byte) int) error {
	for len(b) > 0 {
		num, typ, n := protowire.ConsumeTag(b)
		if n < 0 {
			return errBadMessage
		}
		b = b[n:]
		if n = f(num, typ, b); n < 0 {
			n = protowire.ConsumeFieldValue(num, typ, b)
		}
		if n < 0 {
			return errBadMessage
		}
		b = b[n:]
	}
	return nil
}

func decodeV2Request(msg []byte) (v2Request, error) {
	var r v2Request
	inputs := 0
	err := fields(msg, func(num protowire.Number, typ protowire.Type, b []byte) int {
		if typ != protowire.BytesType {
			return -1
		}
		v, n := protowire.ConsumeBytes(b)
		switch num {
		case 1:
			r.model = string(v)
		case 3:
			r.id = string(v)
		case 5: // inputs: contents (5) holds fp32_contents (6)
			inputs++
			if inputs > 1 {
				break
			}
			_ = fields(v, func(num protowire.Number, typ protowire.Type, b []byte) int {
				if num != 5 || typ != protowire.BytesType {
					return -1
				}
				c, n := protowire.ConsumeBytes(b)
				_ = fields(c, func(num protowire.Number, typ protowire.Type, b []byte) int {
					if num != 6 || typ != protowire.BytesType {
						return -1
					}
					packed, n := protowire.ConsumeBytes(b)
					for len(packed) >= 4 {
						r.x = append(r.x, math.Float32frombits(le.LittleEndian.Uint32(packed)))
						packed = packed[4:]
					}
					return n
				})
				return n
			})
		case 7: // raw_input_contents: the first input's values, little-endian
			if len(r.x) == 0 {
				for p := v; len(p) >= 4; p = p[4:] {
					r.x = append(r.x, math.Float32frombits(le.LittleEndian.Uint32(p)))
				}
			}
		}
		return n
	})
	return r, err
}

// v2Output is one output tensor of a ModelInferResponse.
type v2Output struct {
	name, datatype string
	shape          []int64
	fp32           []float32
	int64s         []int64
}

// rawBytes is the output's contents as raw_output_contents holds them (little-endian).
func (o v2Output) rawBytes() []byte {
	var b []byte
	for _, f := range o.fp32 {
		b = le.LittleEndian.AppendUint32(b, math.Float32bits(f))
	}
	for _, i := range o.int64s {
		b = le.LittleEndian.AppendUint64(b, uint64(i))
	}
	return b
}

// encodeV2Response writes a ModelInferResponse; raw puts the contents in raw_output_contents.
func encodeV2Response(model, version, id, servedAt string, outs []v2Output, raw bool) []byte {
	var m []byte
	str := func(b []byte, num protowire.Number, s string) []byte {
		return protowire.AppendString(protowire.AppendTag(b, num, protowire.BytesType), s)
	}
	msg := func(b []byte, num protowire.Number, v []byte) []byte {
		return protowire.AppendBytes(protowire.AppendTag(b, num, protowire.BytesType), v)
	}
	m = str(m, 1, model)
	m = str(m, 2, version)
	m = str(m, 3, id)
	if servedAt != "" { // parameters: map entry {key 1, value 2: InferParameter{string_param 3}}
		m = msg(m, 4, msg(str(nil, 1, "served_at"), 2, str(nil, 3, servedAt)))
	}
	for _, o := range outs {
		var t []byte
		t = str(t, 1, o.name)
		t = str(t, 2, o.datatype)
		var shape []byte
		for _, d := range o.shape {
			shape = protowire.AppendVarint(shape, uint64(d))
		}
		t = msg(t, 3, shape)
		if !raw {
			var c, packed []byte
			if o.fp32 != nil {
				for _, f := range o.fp32 {
					packed = le.LittleEndian.AppendUint32(packed, math.Float32bits(f))
				}
				c = msg(c, 6, packed)
			} else {
				for _, i := range o.int64s {
					packed = protowire.AppendVarint(packed, uint64(i))
				}
				c = msg(c, 3, packed)
			}
			t = msg(t, 5, c)
		}
		m = msg(m, 5, t)
	}
	if raw {
		for _, o := range outs {
			m = msg(m, 6, o.rawBytes())
		}
	}
	return m
}

// encodeV2Request writes a ModelInferRequest of one FP32 input "x" of shape [len(x), 1].
func encodeV2Request(model, id string, x []float32, raw bool) []byte {
	var m []byte
	m = protowire.AppendString(protowire.AppendTag(m, 1, protowire.BytesType), model)
	m = protowire.AppendString(protowire.AppendTag(m, 3, protowire.BytesType), id)
	var t, packed []byte
	t = protowire.AppendString(protowire.AppendTag(t, 1, protowire.BytesType), "x")
	t = protowire.AppendString(protowire.AppendTag(t, 2, protowire.BytesType), "FP32")
	t = protowire.AppendBytes(protowire.AppendTag(t, 3, protowire.BytesType), protowire.AppendVarint(protowire.AppendVarint(nil, uint64(len(x))), 1))
	for _, f := range x {
		packed = le.LittleEndian.AppendUint32(packed, math.Float32bits(f))
	}
	if !raw {
		c := protowire.AppendBytes(protowire.AppendTag(nil, 6, protowire.BytesType), packed)
		t = protowire.AppendBytes(protowire.AppendTag(t, 5, protowire.BytesType), c)
	}
	m = protowire.AppendBytes(protowire.AppendTag(m, 5, protowire.BytesType), t)
	if raw {
		m = protowire.AppendBytes(protowire.AppendTag(m, 7, protowire.BytesType), packed)
	}
	return m
}

// v2Model is a KServe v2 gRPC model as tests configure it.
type v2Model struct {
	version string
	// raw answers with raw_output_contents instead of typed contents.
	raw bool
	// candidate writes other probabilities (the same classes); for x in flip its prediction is
	// another class.
	candidate bool
	flip      func(x int) bool
	// seen, when set, gets each request (model name and metadata) as the model read it.
	seen func(r v2Request, md metadata.MD)
}

// handler answers ModelInfer: for each instance x, class probabilities (FP32, shape [n,3]) and the
// class id (INT64, shape [n]): class x%2, or 2 when the candidate flips x.
func (m v2Model) handler() proxytest.GRPCHandler {
	return func(ctx context.Context, method string, md metadata.MD, req []byte) ([]byte, error) {
		if method != modelInfer {
			return nil, status.Errorf(codes.Unimplemented, "unknown method %s", method)
		}
		r, err := decodeV2Request(req)
		if err != nil || len(r.x) == 0 {
			return nil, status.Error(codes.InvalidArgument, "want an FP32 input x")
		}
		if m.seen != nil {
			m.seen(r, md)
		}
		probs := v2Output{name: "probabilities", datatype: "FP32", shape: []int64{int64(len(r.x)), 3}}
		labels := v2Output{name: "label", datatype: "INT64", shape: []int64{int64(len(r.x))}}
		for _, f := range r.x {
			x := int(f)
			class := int64(x % 2)
			if m.candidate && m.flip != nil && m.flip(x) {
				class = 2
			}
			p := [3]float32{0.1, 0.1, 0.1}
			p[class] = 0.8
			if m.candidate {
				p[(class+1)%3] += 0.05 // beyond the tolerance, the same argmax
				p[class] -= 0.05
			}
			probs.fp32 = append(probs.fp32, p[:]...)
			labels.int64s = append(labels.int64s, class)
		}
		return encodeV2Response(r.model, m.version, r.id, "t-"+m.version, []v2Output{probs, labels}, m.raw), nil
	}
}
