package compare

import (
	"encoding/binary"
	"errors"
	"math"
	"reflect"
	"strings"
	"testing"

	"github.com/x448/float16"
	"google.golang.org/protobuf/encoding/protowire"
)

// pb builds protobuf messages field by field, as the tests need them (no generated code).
type pb []byte

func (b pb) str(n protowire.Number, s string) pb {
	return protowire.AppendString(protowire.AppendTag(b, n, protowire.BytesType), s)
}
func (b pb) bytes(n protowire.Number, s []byte) pb {
	return protowire.AppendBytes(protowire.AppendTag(b, n, protowire.BytesType), s)
}
func (b pb) msg(n protowire.Number, m pb) pb { return b.bytes(n, m) }

// cat concatenates messages into a new one (a merge, for protobuf).
func cat(parts ...pb) pb {
	var out pb
	for _, p := range parts {
		out = append(out, p...)
	}
	return out
}
func (b pb) varint(n protowire.Number, v uint64) pb {
	return protowire.AppendVarint(protowire.AppendTag(b, n, protowire.VarintType), v)
}
func (b pb) fixed32(n protowire.Number, v uint32) pb {
	return protowire.AppendFixed32(protowire.AppendTag(b, n, protowire.Fixed32Type), v)
}
func (b pb) fixed64(n protowire.Number, v uint64) pb {
	return protowire.AppendFixed64(protowire.AppendTag(b, n, protowire.Fixed64Type), v)
}
func (b pb) packed(n protowire.Number, vs ...uint64) pb {
	var p []byte
	for _, v := range vs {
		p = protowire.AppendVarint(p, v)
	}
	return b.bytes(n, p)
}
func (b pb) packedF32(n protowire.Number, fs ...float32) pb {
	var p []byte
	for _, f := range fs {
		p = protowire.AppendFixed32(p, math.Float32bits(f))
	}
	return b.bytes(n, p)
}
func (b pb) packedF64(n protowire.Number, fs ...float64) pb {
	var p []byte
	for _, f := range fs {
		p = protowire.AppendFixed64(p, math.Float64bits(f))
	}
	return b.bytes(n, p)
}

// entry is a map<string, M> entry.
func entry(key string, val pb) pb { return pb{}.str(1, key).msg(2, val) }

// v2T is an InferInputTensor or InferOutputTensor without contents.
func v2T(name, dt string, shape ...int64) pb {
	var s []uint64
	for _, d := range shape {
		s = append(s, uint64(d))
	}
	return pb{}.str(1, name).str(2, dt).packed(3, s...)
}

func le32(fs ...float32) []byte {
	var b []byte
	for _, f := range fs {
		b = binary.LittleEndian.AppendUint32(b, math.Float32bits(f))
	}
	return b
}

func i64s(vs ...int64) []uint64 {
	out := make([]uint64, len(vs))
	for i, v := range vs {
		out[i] = uint64(v)
	}
	return out
}

// tfTensorPB is a TensorProto of dtype and shape; values are added by the caller.
func tfTensorPB(dtype uint64, shape ...int64) pb {
	var s pb
	for _, d := range shape {
		s = s.msg(2, pb{}.varint(1, uint64(d)))
	}
	return pb{}.varint(1, dtype).msg(2, s)
}

func TestGRPCViewModelInfer(t *testing.T) {
	probs := v2T("probs", "FP32", 2, 3)
	vals := []float32{0.1, 0.2, 0.7, 0.5, 0.3, 0.2}
	params := pb{}.msg(4, entry("z", pb{}.str(3, "s"))).msg(4, entry("a", pb{}.varint(1, 1))).
		msg(4, entry("n", pb{}.varint(2, uint64(i64s(-3)[0])))).msg(4, entry("d", pb{}.fixed64(4, math.Float64bits(0.5)))).
		msg(4, entry("u", pb{}.varint(5, math.MaxUint64))).msg(4, entry("e", nil))
	const want = `{"model_name":"iris","model_version":"1","id":"r1","parameters":{"a":true,"d":0.5,"e":null,"n":-3,"s":"x","u":18446744073709551615,"z":"s"},` +
		`"outputs":[{"name":"probs","datatype":"FP32","shape":[2,3],"data":[0.1,0.2,0.7,0.5,0.3,0.2]}]}`
	head := pb{}.str(1, "iris").str(2, "1").str(3, "r1")
	head = append(head, params...)
	head = head.msg(4, entry("s", pb{}.str(3, "x")))
	tests := []struct {
		name     string
		msg      pb
		response bool
		want     string
	}{
		{"typed packed", cat(head, pb{}.msg(5, cat(probs, pb{}.msg(5, pb{}.packedF32(6, vals...))))), true, want},
		{"raw", cat(head, pb{}.msg(5, probs).bytes(6, le32(vals...))), true, want},
		{"typed unpacked, in two contents", append(head, pb{}.msg(5, append(probs,
			pb{}.msg(5, pb{}.fixed32(6, math.Float32bits(0.1)).packedF32(6, 0.2, 0.7)).msg(5, pb{}.packedF32(6, 0.5, 0.3, 0.2))...))...), true, want},
		{"unknown fields skipped", cat(pb{}.varint(99, 7), head, pb{}.msg(5, cat(probs, pb{}.fixed64(77, 1), pb{}.msg(5, pb{}.packedF32(6, vals...)))).str(98, "x")), true, want},
		{"empty", nil, true, `{"model_name":"","model_version":"","outputs":[]}`},
		{"no data", pb{}.str(1, "m").msg(5, v2T("o", "FP32", 0)), true, `{"model_name":"m","model_version":"","outputs":[{"name":"o","datatype":"FP32","shape":[0]}]}`},
		{"empty data, typed and raw", pb{}.str(1, "m").msg(5, append(v2T("o", "FP32", 0), pb{}.msg(5, nil)...)).msg(5, v2T("r", "INT8", 0)).bytes(6, nil).bytes(6, nil), true,
			`{"model_name":"m","model_version":"","outputs":[{"name":"o","datatype":"FP32","shape":[0],"data":[]},{"name":"r","datatype":"INT8","shape":[0],"data":[]}]}`},
		{"every typed datatype", pb{}.
			msg(5, append(v2T("b", "BOOL", 2), pb{}.msg(5, pb{}.packed(1, 1, 0))...)).
			msg(5, append(v2T("i8", "INT8", 2), pb{}.msg(5, pb{}.packed(2, i64s(-128, 127)...))...)).
			msg(5, append(v2T("i32", "INT32", 1), pb{}.msg(5, pb{}.packed(2, i64s(math.MinInt32)...))...)).
			msg(5, append(v2T("i64", "INT64", 2), pb{}.msg(5, pb{}.packed(3, i64s(math.MinInt64, math.MaxInt64)...))...)).
			msg(5, append(v2T("u32", "UINT32", 1), pb{}.msg(5, pb{}.packed(4, math.MaxUint32))...)).
			msg(5, append(v2T("u64", "UINT64", 1), pb{}.msg(5, pb{}.packed(5, math.MaxUint64))...)).
			msg(5, append(v2T("f64", "FP64", 4), pb{}.msg(5, pb{}.packedF64(7, 0.1, math.NaN(), math.Inf(1), math.Inf(-1)))...)).
			msg(5, append(v2T("s", "BYTES", 3), pb{}.msg(5, pb{}.str(8, "cat").str(8, "a\"\n").bytes(8, []byte{0xff, 0}))...)), true,
			`{"model_name":"","model_version":"","outputs":[{"name":"b","datatype":"BOOL","shape":[2],"data":[true,false]},` +
				`{"name":"i8","datatype":"INT8","shape":[2],"data":[-128,127]},{"name":"i32","datatype":"INT32","shape":[1],"data":[-2147483648]},` +
				`{"name":"i64","datatype":"INT64","shape":[2],"data":[-9223372036854775808,9223372036854775807]},` +
				`{"name":"u32","datatype":"UINT32","shape":[1],"data":[4294967295]},{"name":"u64","datatype":"UINT64","shape":[1],"data":[18446744073709551615]},` +
				`{"name":"f64","datatype":"FP64","shape":[4],"data":[0.1,NaN,Infinity,-Infinity]},` +
				`{"name":"s","datatype":"BYTES","shape":[3],"data":["cat","a\"\n",{"b64":"/wA="}]}]}`},
		{"raw FP16, BF16, BYTES", pb{}.msg(5, v2T("h", "FP16", 2)).msg(5, v2T("bf", "BF16", 1)).msg(5, v2T("s", "BYTES", 2)).
			bytes(6, binary.LittleEndian.AppendUint16(binary.LittleEndian.AppendUint16(nil, float16.Fromfloat32(1.5).Bits()), 0x7c00)).
			bytes(6, []byte{0x80, 0xbf}).bytes(6, []byte{2, 0, 0, 0, 'h', 'i', 0, 0, 0, 0}), true,
			`{"model_name":"","model_version":"","outputs":[{"name":"h","datatype":"FP16","shape":[2],"data":[1.5,Infinity]},` +
				`{"name":"bf","datatype":"BF16","shape":[1],"data":[-1]},{"name":"s","datatype":"BYTES","shape":[2],"data":["hi",""]}]}`},
		{"output parameters", pb{}.msg(5, append(v2T("o", "INT64", 1), pb{}.msg(4, entry("k", pb{}.str(3, "v"))).msg(5, pb{}.packed(3, 7))...)), true,
			`{"model_name":"","model_version":"","outputs":[{"name":"o","datatype":"INT64","shape":[1],"parameters":{"k":"v"},"data":[7]}]}`},
		{"request", pb{}.str(1, "iris").str(3, "r").msg(5, v2T("x", "FP32", 1, 2)).msg(6, pb{}.str(1, "probs").msg(2, entry("classification", pb{}.varint(2, 2)))).bytes(7, le32(1, 2)), false,
			`{"model_name":"iris","model_version":"","id":"r","inputs":[{"name":"x","datatype":"FP32","shape":[1,2],"data":[1,2]}],` +
				`"outputs":[{"name":"probs","parameters":{"classification":2}}]}`},
		{"request, typed", pb{}.str(1, "iris").msg(5, append(v2T("x", "FP32", 1, 2), pb{}.msg(5, pb{}.packedF32(6, 1, 2))...)), false,
			`{"model_name":"iris","model_version":"","inputs":[{"name":"x","datatype":"FP32","shape":[1,2],"data":[1,2]}]}`},
		{"last scalar wins", pb{}.str(1, "a").str(1, "b"), true, `{"model_name":"b","model_version":"","outputs":[]}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			view, format, err := GRPCView(MethodModelInfer, tt.msg, tt.response)
			if err != nil {
				t.Fatal(err)
			}
			if format != FormatKServeV2 || string(view) != tt.want {
				t.Errorf("got %s %s\nwant %s", format, view, tt.want)
			}
		})
	}
}

func TestGRPCViewPredict(t *testing.T) {
	scores := tfTensorPB(1, 2, 2).packedF32(5, 0.1, 0.9, 0.8, 0.2)
	scoresRaw := tfTensorPB(1, 2, 2).bytes(4, le32(0.1, 0.9, 0.8, 0.2))
	classes := tfTensorPB(9, 2).packed(10, 1, 0)
	spec := pb{}.str(1, "iris").msg(2, pb{}.varint(1, 3)).str(3, "serving_default")
	tests := []struct {
		name     string
		msg      pb
		response bool
		want     string
	}{
		{"one output", pb{}.msg(1, entry("scores", scores)), true, `{"outputs":[[0.1,0.9],[0.8,0.2]]}`},
		{"one output, tensor_content", pb{}.msg(1, entry("scores", scoresRaw)), true, `{"outputs":[[0.1,0.9],[0.8,0.2]]}`},
		{"outputs by name, model_spec", pb{}.msg(2, spec).msg(1, entry("scores", scores)).msg(1, entry("classes", classes)), true,
			`{"outputs":{"classes":[1,0],"scores":[[0.1,0.9],[0.8,0.2]]},"model_spec":{"name":"iris","version":3,"signature_name":"serving_default"}}`},
		{"version label", pb{}.msg(2, pb{}.str(1, "m").msg(2, pb{}.varint(1, 1)).str(4, "stable")), true, `{"outputs":{},"model_spec":{"name":"m","version_label":"stable"}}`},
		{"no outputs", nil, true, `{"outputs":{}}`},
		{"scalar", pb{}.msg(1, entry("p", tfTensorPB(2).packedF64(6, 0.25))), true, `{"outputs":0.25}`},
		{"strings, bools, ints", pb{}.
			msg(1, entry("s", tfTensorPB(7, 3).str(8, "cat").str(8, "").bytes(8, []byte{0xfe}))).
			msg(1, entry("b", tfTensorPB(10, 2).packed(11, 0, 1))).
			msg(1, entry("i8", tfTensorPB(6, 2).packed(7, i64s(-1, 5)...))).
			msg(1, entry("u64", tfTensorPB(23, 1).packed(17, math.MaxUint64))).
			msg(1, entry("u32", tfTensorPB(22, 1).packed(16, math.MaxUint32))).
			msg(1, entry("h", tfTensorPB(19, 1).packed(13, uint64(float16.Fromfloat32(-2.5).Bits())))).
			msg(1, entry("bf", tfTensorPB(14, 1).packed(13, 0x3f80))), true,
			`{"outputs":{"b":[false,true],"bf":[1],"h":[-2.5],"i8":[-1,5],"s":["cat","",{"b64":"/g=="}],"u32":[4294967295],"u64":[18446744073709551615]}}`},
		{"short values fill as TensorFlow does", pb{}.msg(1, entry("a", tfTensorPB(3, 2, 2).packed(7, 1, 2))).msg(1, entry("z", tfTensorPB(1, 3))), true,
			`{"outputs":{"a":[[1,2],[2,2]],"z":[0,0,0]}}`},
		{"unknown size: flat", pb{}.msg(1, entry("a", tfTensorPB(3, -1, 2).packed(7, 1, 2, 3))), true, `{"outputs":[1,2,3]}`},
		{"empty dims", pb{}.msg(1, entry("a", tfTensorPB(1, 2, 0))), true, `{"outputs":[[],[]]}`},
		{"request", pb{}.msg(1, pb{}.str(1, "iris").str(3, "predict")).msg(2, entry("x", tfTensorPB(1, 1, 2).packedF32(5, 1, 2))).str(3, "scores"), false,
			`{"model_spec":{"name":"iris","signature_name":"predict"},"inputs":{"x":[[1,2]]},"output_filter":["scores"]}`},
		{"request, one input stays named", pb{}.msg(2, entry("x", tfTensorPB(1, 1).packedF32(5, 1))), false, `{"inputs":{"x":[1]}}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			view, format, err := GRPCView(MethodPredict, tt.msg, tt.response)
			if err != nil {
				t.Fatal(err)
			}
			if format != FormatTFServing || string(view) != tt.want {
				t.Errorf("got %s %s\nwant %s", format, view, tt.want)
			}
		})
	}
}

func TestGRPCViewProtobuf(t *testing.T) {
	const method = "/grpc.health.v1.Health/Check"
	tests := []struct {
		name string
		msg  pb
		want string
	}{
		{"empty", nil, `{}`},
		{"scalars sorted, repeated as arrays", pb{}.varint(3, 1).fixed32(1, 7).varint(3, 2).fixed64(2, 9), `{"1":7,"2":9,"3":[1,2]}`},
		{"text, message, bytes", pb{}.str(1, "hello world").msg(2, pb{}.str(1, "x").varint(2, 5)).bytes(3, []byte{0xff, 0xfe}).str(4, "a\nb"),
			`{"1":"hello world","2":{"1":"x","2":5},"3":"//4=","4":"a\nb"}`},
		{"empty bytes", pb{}.bytes(5, nil), `{"5":""}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			view, format, err := GRPCView(method, tt.msg, true)
			if err != nil {
				t.Fatal(err)
			}
			if format != FormatProtobuf || string(view) != tt.want {
				t.Errorf("got %s %s\nwant %s", format, view, tt.want)
			}
		})
	}
	// Deep nesting stops at maxNesting levels: below, the bytes show as base64.
	m := pb{}.varint(1, 1)
	for range maxNesting + 5 {
		m = pb{}.msg(1, m)
	}
	view, _, err := GRPCView(method, m, true)
	if err != nil || strings.Count(string(view), "{") != maxNesting+1 {
		t.Errorf("deep nesting: %v %s", err, view)
	}
}

func TestGRPCViewErrors(t *testing.T) {
	long := tfTensorPB(1, 1<<40).packedF32(5, 1) // one value filling a shape of 2^40
	tests := []struct {
		name     string
		method   string
		msg      pb
		response bool
		want     string
	}{
		{"truncated tag", MethodModelInfer, pb{0x80}, true, "field tag"},
		{"truncated length", MethodModelInfer, pb{0x0a, 0x05, 'a'}, true, "field 1"},
		{"group", MethodModelInfer, pb{0x0b}, true, "groups"},
		{"field 0", MethodPredict, pb{0x00, 0x01}, true, "field tag"},
		{"model_name as varint", MethodModelInfer, pb{}.varint(1, 3), true, "want length-delimited"},
		{"more raw than outputs", MethodModelInfer, pb{}.msg(5, v2T("o", "FP32", 1)).bytes(6, le32(1)).bytes(6, le32(2)), true, "2 raw contents for 1 tensors"},
		{"raw not whole elements", MethodModelInfer, pb{}.msg(5, v2T("o", "FP32", 1)).bytes(6, []byte{1, 2, 3}), true, "whole number"},
		{"raw of unknown datatype", MethodModelInfer, pb{}.msg(5, v2T("o", "FP8", 1)).bytes(6, []byte{1}), true, "unknown datatype"},
		{"raw BYTES framing", MethodModelInfer, pb{}.msg(5, v2T("o", "BYTES", 1)).bytes(6, []byte{9, 0, 0, 0, 'x'}), true, "element lengths"},
		{"typed and raw", MethodModelInfer, pb{}.msg(5, append(v2T("o", "FP32", 1), pb{}.msg(5, pb{}.packedF32(6, 1))...)).bytes(6, le32(1)), true, "both typed and raw"},
		{"contents not of the datatype", MethodModelInfer, pb{}.msg(5, append(v2T("o", "FP32", 1), pb{}.msg(5, pb{}.packed(2, 1))...)), true, "contents field 2 in a FP32 tensor"},
		{"typed FP16", MethodModelInfer, pb{}.msg(5, append(v2T("o", "FP16", 1), pb{}.msg(5, pb{}.packed(2, 1))...)), true, "has none"},
		{"truncated packed", MethodModelInfer, pb{}.msg(5, append(v2T("o", "FP32", 1), pb{}.msg(5, pb{}.bytes(6, []byte{1, 2, 3}))...)), true, "packed field 6"},
		{"fixed32 where a varint goes", MethodModelInfer, pb{}.msg(5, append(v2T("o", "INT32", 1), pb{}.msg(5, pb{}.fixed32(2, 1))...)), true, "wire type 5"},
		{"request raw of unknown datatype", MethodModelInfer, pb{}.msg(5, v2T("x", "", 1)).bytes(7, []byte{1}), false, "unknown datatype"},
		{"unsupported dtype", MethodPredict, pb{}.msg(1, entry("a", tfTensorPB(8, 1))), true, "dtype 8"},
		{"value field not of the dtype", MethodPredict, pb{}.msg(1, entry("a", tfTensorPB(1, 1).packed(7, 1))), true, "value field 7"},
		{"more values than the shape", MethodPredict, pb{}.msg(1, entry("a", tfTensorPB(1, 1).packedF32(5, 1, 2))), true, "2 values for a shape of 1"},
		{"tensor_content short", MethodPredict, pb{}.msg(1, entry("a", tfTensorPB(1, 2).bytes(4, le32(1)))), true, "tensor_content holds 1"},
		{"string tensor_content", MethodPredict, pb{}.msg(1, entry("a", tfTensorPB(7, 1).bytes(4, []byte{1, 'x'}))), true, "DT_STRING"},
		{"view too large", MethodPredict, pb{}.msg(1, entry("a", long)), true, "would be over"},
		{"too many dimensions", MethodPredict, pb{}.msg(1, entry("a", tfTensorPB(1, make([]int64, 65)...))), true, "over 64 dimensions"},
		{"protobuf: truncated", "/x.Y/Z", pb{}.str(1, "abc")[:3], true, "field 1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			view, _, err := GRPCView(tt.method, tt.msg, tt.response)
			if err == nil || !errors.Is(err, ErrBadMessage) || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("got %v %s, want an ErrBadMessage with %q", err, view, tt.want)
			}
			if view != nil {
				t.Errorf("a view with the error: %s", view)
			}
		})
	}
}

// TestGRPCViewTruncated: every prefix of valid messages decodes or fails, never panics, and a
// view stays within its bound.
func TestGRPCViewTruncated(t *testing.T) {
	for _, s := range grpcSeeds() {
		for i := 0; i <= len(s.msg); i++ {
			view, _, err := GRPCView(s.method, s.msg[:i], s.response)
			if err == nil && len(view) > viewFactor*i+viewSlack {
				t.Fatalf("%s prefix %d: view of %d bytes", s.method, i, len(view))
			}
		}
	}
}

func TestGRPCEncodeRoundTrip(t *testing.T) {
	for _, s := range grpcSeeds() {
		if s.method != MethodModelInfer && s.method != MethodPredict {
			continue
		}
		view, _, err := GRPCView(s.method, s.msg, s.response)
		if err != nil {
			t.Fatalf("%s: %v", s.method, err)
		}
		for _, enc := range []func(string, []byte, bool) ([]byte, error){GRPCEncode, GRPCEncodeRaw} {
			msg, err := enc(s.method, view, s.response)
			if err != nil {
				t.Fatalf("encode %s: %v", view, err)
			}
			back, _, err := GRPCView(s.method, msg, s.response)
			if err != nil || string(back) != string(view) {
				t.Errorf("round trip:\n%s\n%s %v", view, back, err)
			}
		}
	}
	// Hand-written REST JSON: nested data, keys in another order, dtype inference.
	for _, tt := range []struct {
		method, view, want string
		response           bool
	}{
		{MethodModelInfer, `{"outputs":[{"data":[[1,2],[3,4]],"shape":[2,2],"datatype":"INT32","name":"o"}],"model_name":"m"}`,
			`{"model_name":"m","model_version":"","outputs":[{"name":"o","datatype":"INT32","shape":[2,2],"data":[1,2,3,4]}]}`, true},
		{MethodModelInfer, `{"model_name":"m","outputs":[{"name":"h","datatype":"FP16","shape":[1],"data":[0.5]},{"name":"f","datatype":"FP32","shape":[1],"data":[2.0]}]}`,
			`{"model_name":"m","model_version":"","outputs":[{"name":"h","datatype":"FP16","shape":[1],"data":[0.5]},{"name":"f","datatype":"FP32","shape":[1],"data":[2]}]}`, true},
		{MethodPredict, `{"outputs":{"p":[[0.5,1e-3]],"n":[1,-2],"d":[0.1234567891234],"s":["a"],"b":[true]}}`,
			`{"outputs":{"b":[true],"d":[0.1234567891234],"n":[1,-2],"p":[[0.5,0.001]],"s":["a"]}}`, true},
		{MethodPredict, `{"outputs":[1.5,2.5]}`, `{"outputs":[1.5,2.5]}`, true},
		{MethodPredict, `{"outputs":{"b64":"/w=="}}`, `{"outputs":{"b64":"/w=="}}`, true},
		{MethodPredict, `{"inputs":{"x":[[1.0,2.0]]},"model_spec":{"name":"m","version":0}}`, `{"model_spec":{"name":"m","version":0},"inputs":{"x":[[1,2]]}}`, false},
	} {
		msg, err := GRPCEncode(tt.method, []byte(tt.view), tt.response)
		if err != nil {
			t.Fatalf("%s: %v", tt.view, err)
		}
		back, _, err := GRPCView(tt.method, msg, tt.response)
		if err != nil || string(back) != tt.want {
			t.Errorf("%s:\ngot  %s %v\nwant %s", tt.view, back, err, tt.want)
		}
	}
	// The single output of a bare view is named output_0.
	msg, _ := GRPCEncode(MethodPredict, []byte(`{"outputs":[1]}`), true)
	if want := string(pb{}.msg(1, entry("output_0", tfTensorPB(9, 1).packed(10, 1)))); string(msg) != want {
		t.Errorf("bare output: %x, want %x", msg, want)
	}
}

func TestGRPCEncodeErrors(t *testing.T) {
	for _, tt := range []struct {
		method, view, want string
	}{
		{MethodModelInfer, `[]`, "not an object"},
		{MethodPredict, `{"inputs":[1]}`, "not an object of tensors"},
		{MethodModelInfer, `{"outputs":[{"name":"o","datatype":"INT8","shape":[1],"data":[300]}]}`, "out of range"},
		{MethodModelInfer, `{"outputs":[{"name":"o","datatype":"BOOL","shape":[1],"data":[1]}]}`, "true or false"},
		{MethodModelInfer, `{"outputs":[{"name":"o","datatype":"FP8","shape":[1],"data":[1]}]}`, "FP8"},
		{MethodModelInfer, `{"outputs":[{"name":"o","datatype":"INT32","shape":[1],"data":[1.5]}]}`, "not an integer"},
		{MethodModelInfer, `{"model_name":1}`, "not a string"},
		{MethodPredict, `{"outputs":{"a":[[1],[1,2]]}}`, "rectangular"},
		{MethodPredict, `{"outputs":{"a":[1,"x"]}}`, "mixes"},
		{MethodPredict, `{"outputs":`, "view"},
	} {
		if _, err := GRPCEncode(tt.method, []byte(tt.view), !strings.Contains(tt.view, "inputs")); !errors.Is(err, ErrBadMessage) || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s: %v, want %q", tt.view, err, tt.want)
		}
	}
	if _, err := GRPCEncode("/x.Y/Z", []byte(`{}`), true); err != ErrUnknownMethod {
		t.Errorf("unknown method: %v", err)
	}
}

// TestGRPCViewCompare: views compare exactly as the REST JSON they stand for, typed and raw
// contents agree, and label flips are counted per prediction.
func TestGRPCViewCompare(t *testing.T) {
	labels := func(ls ...string) pb {
		c := pb{}
		for _, l := range ls {
			c = c.str(8, l)
		}
		return c
	}
	rawLabels := func(ls ...string) []byte {
		var b []byte
		for _, l := range ls {
			b = binary.LittleEndian.AppendUint32(b, uint32(len(l)))
			b = append(b, l...)
		}
		return b
	}
	primTyped := pb{}.str(1, "m").str(2, "1").
		msg(5, append(v2T("probs", "FP32", 4, 2), pb{}.msg(5, pb{}.packedF32(6, 0.9, 0.1, 0.2, 0.8, 0.6, 0.4, 0.3, 0.7))...)).
		msg(5, append(v2T("label", "BYTES", 4), pb{}.msg(5, labels("cat", "dog", "cat", "dog"))...))
	candRaw := pb{}.str(1, "m").str(2, "2").str(3, "x").
		msg(5, v2T("probs", "FP32", 4, 2)).msg(5, v2T("label", "BYTES", 4)).
		bytes(6, le32(0.8, 0.2, 0.3, 0.7, 0.4, 0.6, 0.1, 0.9)).bytes(6, rawLabels("cat", "dog", "dog", "dog"))
	primREST := `{"model_name":"m","model_version":"1","outputs":[{"name":"probs","datatype":"FP32","shape":[4,2],"data":[0.9,0.1,0.2,0.8,0.6,0.4,0.3,0.7]},` +
		`{"name":"label","datatype":"BYTES","shape":[4],"data":["cat","dog","cat","dog"]}]}`
	candREST := `{"id":"x","model_name":"m","model_version":"2","outputs":[{"name":"probs","datatype":"FP32","shape":[4,2],"data":[0.8,0.2,0.3,0.7,0.4,0.6,0.1,0.9]},` +
		`{"name":"label","datatype":"BYTES","shape":[4],"data":["cat","dog","dog","dog"]}]}`
	pv := mustView(t, MethodModelInfer, primTyped)
	cv := mustView(t, MethodModelInfer, candRaw)
	for _, format := range []string{FormatAuto, FormatKServeV2} {
		opts := Options{Format: format, Tolerance: Tolerance{Abs: 1e-6, Rel: 1e-4},
			Rules: []Rule{{Path: "outputs.probs[*]", Mode: "argmax"}, {Path: "outputs.label[*]", Mode: "label"}}}
		if err := CheckPath(format, "outputs.label[*]"); err != nil {
			t.Fatal(err)
		}
		c := mustNew(t, opts)
		got := c.Compare(ok(string(pv)), ok(string(cv)))
		want := c.Compare(ok(primREST), ok(candREST))
		if !reflect.DeepEqual(got, want) {
			t.Errorf("%s: view %+v\nREST %+v", format, got, want)
		}
		// Row 2 flips its label and its argmax: one prediction of four disagrees.
		if got.Outcome != Disagree || got.Format != FormatKServeV2 || got.Predictions != (Predictions{Agree: 3, Disagree: 1}) || got.DiffCount != 2 {
			t.Errorf("%s: %+v", format, got)
		}
		// The same values, typed on one side and raw on the other, agree.
		same := c.Compare(ok(string(pv)), ok(string(mustView(t, MethodModelInfer, pb{}.str(1, "m").str(2, "9").
			msg(5, v2T("probs", "FP32", 4, 2)).msg(5, v2T("label", "BYTES", 4)).
			bytes(6, le32(0.9, 0.1, 0.2, 0.8, 0.6, 0.4, 0.3, 0.7)).bytes(6, rawLabels("cat", "dog", "cat", "dog"))))))
		if same.Outcome != Agree || same.Predictions != (Predictions{Agree: 4}) {
			t.Errorf("%s: typed and raw: %+v", format, same)
		}
	}

	// TF Serving: typed values against tensor_content, model_spec not compared.
	primTF := pb{}.msg(2, pb{}.str(1, "m").msg(2, pb{}.varint(1, 1))).
		msg(1, entry("scores", tfTensorPB(1, 3, 2).packedF32(5, 0.9, 0.1, 0.2, 0.8, 0.6, 0.4)))
	candTF := pb{}.msg(2, pb{}.str(1, "m").msg(2, pb{}.varint(1, 2))).
		msg(1, entry("scores", tfTensorPB(1, 3, 2).bytes(4, le32(0.9, 0.1, 0.7, 0.3, 0.6, 0.4))))
	for _, format := range []string{FormatAuto, FormatTFServing} {
		c := mustNew(t, Options{Format: format, Rules: []Rule{{Path: "outputs[*]", Mode: "argmax"}}})
		got := c.Compare(ok(string(mustView(t, MethodPredict, primTF))), ok(string(mustView(t, MethodPredict, candTF))))
		want := c.Compare(ok(`{"outputs":[[0.9,0.1],[0.2,0.8],[0.6,0.4]]}`), ok(`{"outputs":[[0.9,0.1],[0.7,0.3],[0.6,0.4]]}`))
		if !reflect.DeepEqual(got, want) || got.Predictions != (Predictions{Agree: 2, Disagree: 1}) || got.Format != FormatTFServing {
			t.Errorf("%s: view %+v\nREST %+v", format, got, want)
		}
		c.noFast = true
		if full := c.Compare(ok(string(mustView(t, MethodPredict, primTF))), ok(string(mustView(t, MethodPredict, candTF)))); !reflect.DeepEqual(full, got) {
			t.Errorf("%s: full path %+v, fast path %+v", format, full, got)
		}
	}
}

func mustView(t *testing.T, method string, msg []byte) []byte {
	t.Helper()
	v, _, err := GRPCView(method, msg, true)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func TestGRPCSet(t *testing.T) {
	infer := pb{}.str(1, "iris").varint(99, 5).str(3, "r1").msg(5, v2T("x", "FP32", 1)).str(1, "old")
	predict := pb{}.msg(2, entry("x", tfTensorPB(1, 1).packedF32(5, 1))).msg(1, pb{}.str(1, "a").varint(50, 1)).msg(1, pb{}.str(3, "sig"))
	tests := []struct {
		name   string
		method string
		msg    pb
		set    map[string]string
		want   pb
		err    error
	}{
		{"model_name", MethodModelInfer, infer, map[string]string{"model_name": "iris-v2"},
			pb{}.varint(99, 5).str(3, "r1").msg(5, v2T("x", "FP32", 1)).str(1, "iris-v2"), nil},
		{"several, one removed", MethodModelInfer, infer, map[string]string{"id": "", "model_version": "2", "model_name": "n"},
			pb{}.varint(99, 5).msg(5, v2T("x", "FP32", 1)).str(1, "n").str(2, "2"), nil},
		{"nothing to set", MethodModelInfer, infer, nil, infer, nil},
		{"model_spec.name, merged where it was", MethodPredict, predict, map[string]string{"model_spec.name": "b"},
			pb{}.msg(2, entry("x", tfTensorPB(1, 1).packedF32(5, 1))).msg(1, pb{}.varint(50, 1).str(3, "sig").str(1, "b")), nil},
		{"no model_spec yet", MethodPredict, pb{}.str(3, "o"), map[string]string{"model_spec.signature_name": "s"},
			pb{}.msg(1, pb{}.str(3, "s")).str(3, "o"), nil},
		{"nil message", MethodModelInfer, nil, map[string]string{"model_name": "m"}, pb{}.str(1, "m"), nil},
		{"bad path", MethodModelInfer, infer, map[string]string{"model": "x"}, infer, ErrBadPath},
		{"predict path on ModelInfer", MethodModelInfer, infer, map[string]string{"model_spec.name": "x"}, infer, ErrBadPath},
		{"unknown method", "/x.Y/Z", infer, map[string]string{"model_name": "x"}, infer, ErrUnknownMethod},
		{"bytes that do not decode", MethodModelInfer, pb{0x0a, 9}, map[string]string{"model_name": "x"}, pb{0x0a, 9}, ErrBadMessage},
		{"model_spec that does not decode", MethodPredict, pb{}.bytes(1, []byte{0x80}), map[string]string{"model_spec.name": "x"}, pb{}.bytes(1, []byte{0x80}), ErrBadMessage},
		{"model_spec as varint", MethodPredict, pb{}.varint(1, 1), map[string]string{"model_spec.name": "x"}, pb{}.varint(1, 1), ErrBadMessage},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := GRPCSet(tt.method, tt.msg, tt.set)
			if !errors.Is(err, tt.err) || (err == nil) != (tt.err == nil) {
				t.Fatalf("err %v, want %v", err, tt.err)
			}
			if string(got) != string(tt.want) {
				t.Errorf("got  %x\nwant %x", got, tt.want)
			}
		})
	}
	// The rewritten request reads as the original with the fields set.
	out, err := GRPCSet(MethodPredict, predict, map[string]string{"model_spec.name": "b", "model_spec.signature_name": "serving_default"})
	if err != nil {
		t.Fatal(err)
	}
	view, _, err := GRPCView(MethodPredict, out, false)
	if want := `{"model_spec":{"name":"b","signature_name":"serving_default"},"inputs":{"x":[1]}}`; err != nil || string(view) != want {
		t.Errorf("view %s %v, want %s", view, err, want)
	}
}

// grpcSeed is a message of a method, for the fuzz targets and the tests above.
type grpcSeed struct {
	method   string
	msg      pb
	response bool
}

func grpcSeeds() []grpcSeed {
	tensor := append(v2T("probs", "FP32", 2, 2), pb{}.msg(4, entry("k", pb{}.varint(1, 1))).msg(5, pb{}.packedF32(6, 0.1, 0.9, 0.7, 0.3))...)
	return []grpcSeed{
		{MethodModelInfer, pb{}.str(1, "m").str(2, "1").str(3, "id").msg(4, entry("p", pb{}.fixed64(4, math.Float64bits(1.5)))).msg(5, tensor), true},
		{MethodModelInfer, pb{}.str(1, "m").msg(5, v2T("h", "FP16", 1)).msg(5, v2T("s", "BYTES", 1)).
			bytes(6, []byte{0, 0x3c}).bytes(6, []byte{1, 0, 0, 0, 0xff}), true},
		{MethodModelInfer, pb{}.msg(5, append(v2T("b", "BOOL", 2), pb{}.msg(5, pb{}.packed(1, 1, 0))...)).
			msg(5, append(v2T("u", "UINT64", 1), pb{}.msg(5, pb{}.packed(5, math.MaxUint64))...)).
			msg(5, append(v2T("i", "INT8", 1), pb{}.msg(5, pb{}.packed(2, i64s(-5)...))...)).
			msg(5, append(v2T("d", "FP64", 2), pb{}.msg(5, pb{}.packedF64(7, math.NaN(), math.Copysign(0, -1)))...)).msg(5, v2T("none", "FP32", 0)), true},
		{MethodModelInfer, pb{}.str(1, "m").msg(5, v2T("x", "INT64", 2)).msg(6, pb{}.str(1, "o").msg(2, entry("n", pb{}.varint(2, 3)))).
			bytes(7, binary.LittleEndian.AppendUint64(binary.LittleEndian.AppendUint64(nil, 1), math.MaxUint64)), false},
		{MethodPredict, pb{}.msg(2, pb{}.str(1, "m").msg(2, pb{}.varint(1, 7))).msg(1, entry("scores", tfTensorPB(1, 2, 2).packedF32(5, 0.1, 0.9, 0.7, 0.3))).
			msg(1, entry("classes", tfTensorPB(9, 2).packed(10, 1, 0))).msg(1, entry("names", tfTensorPB(7, 1).str(8, "cat"))), true},
		{MethodPredict, pb{}.msg(1, entry("o", tfTensorPB(2, 3).bytes(4, binary.LittleEndian.AppendUint64(nil, math.Float64bits(0.1))[:8]).bytes(4,
			binary.LittleEndian.AppendUint64(binary.LittleEndian.AppendUint64(binary.LittleEndian.AppendUint64(nil, math.Float64bits(0.1)), math.Float64bits(1e300)), 0)))), true},
		{MethodPredict, pb{}.msg(1, pb{}.str(1, "m").str(3, "serving_default")).msg(2, entry("x", tfTensorPB(3, 1, 3).packed(7, 1, 2, 3))).str(3, "scores"), false},
		{MethodPredict, pb{}.msg(1, entry("b", tfTensorPB(7).bytes(8, []byte{0xff}))), true},
		{"/grpc.health.v1.Health/Check", pb{}.str(1, "svc").msg(2, pb{}.varint(1, 1).fixed32(2, 3)).varint(1, 2), true},
	}
}

func TestCompareGRPC(t *testing.T) {
	c := mustNew(t, Options{Rules: []Rule{{Path: "outputs.label[*]", Mode: "label"}}})
	label := func(ls ...string) []byte {
		m := pb{}
		for _, l := range ls {
			m = m.str(8, l)
		}
		return pb{}.str(1, "m").msg(5, cat(v2T("label", "BYTES", int64(len(ls))), pb{}.msg(5, m)))
	}
	p := GRPCAnswer{Message: label("a", "b", "c")}
	tests := []struct {
		name       string
		p, c       GRPCAnswer
		want       Outcome
		preds      Predictions
		reasonPart string
	}{
		{"agree", p, GRPCAnswer{Message: label("a", "b", "c")}, Agree, Predictions{Agree: 3}, ""},
		{"one flip", p, GRPCAnswer{Message: label("a", "x", "c")}, Disagree, Predictions{Agree: 2, Disagree: 1}, ""},
		{"same error code", GRPCAnswer{Code: 14}, GRPCAnswer{Code: 14}, Agree, Predictions{}, "both answered gRPC code 14"},
		{"primary error", GRPCAnswer{Code: 13}, p, PrimaryError, Predictions{}, "primary gRPC code 13"},
		{"candidate error", p, GRPCAnswer{Code: 4}, CandidateError, Predictions{}, "candidate gRPC code 4"},
		{"garbage candidate", p, GRPCAnswer{Message: []byte{0xff}}, Unparseable, Predictions{}, "candidate: "},
		{"garbage primary", GRPCAnswer{Message: []byte{0x0a, 0x09}}, p, Unparseable, Predictions{}, "primary: "},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := c.CompareGRPC(MethodModelInfer, tt.p, tt.c)
			if r.Outcome != tt.want || r.Predictions != tt.preds || !strings.Contains(r.Reason, tt.reasonPart) {
				t.Errorf("%+v", r)
			}
		})
	}
}

func TestGRPCEncodeRawPrefix(t *testing.T) {
	for _, tt := range []struct {
		name, view string
		raw        bool
		wantRaw    int // raw_output_contents entries
		err        string
	}{
		{"typed", `{"outputs":[{"name":"a","datatype":"FP32","shape":[1],"data":[1]}]}`, false, 0, ""},
		{"FP16 and those before it", `{"outputs":[{"name":"a","datatype":"FP32","shape":[1],"data":[1]},{"name":"h","datatype":"FP16","shape":[1],"data":[1]},{"name":"c","datatype":"FP32","shape":[1],"data":[1]}]}`, false, 2, ""},
		{"FP16 without data", `{"outputs":[{"name":"a","datatype":"FP32","shape":[0]},{"name":"h","datatype":"FP16","shape":[1]}]}`, false, 0, ""},
		{"FP16 after a tensor without data", `{"outputs":[{"name":"a","datatype":"FP32","shape":[0]},{"name":"h","datatype":"FP16","shape":[1],"data":[1]}]}`, false, 0, "after one without data"},
		{"raw up to the first without data", `{"outputs":[{"name":"a","datatype":"FP32","shape":[1],"data":[1]},{"name":"b","datatype":"FP32","shape":[0]},{"name":"c","datatype":"INT8","shape":[1],"data":[1]}]}`, true, 1, ""},
	} {
		t.Run(tt.name, func(t *testing.T) {
			enc := GRPCEncode
			if tt.raw {
				enc = GRPCEncodeRaw
			}
			msg, err := enc(MethodModelInfer, []byte(tt.view), true)
			if tt.err != "" {
				if err == nil || !strings.Contains(err.Error(), tt.err) {
					t.Fatalf("err %v, want %q", err, tt.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			n := 0
			if err := eachField(msg, func(fl field) error {
				if fl.num == 6 {
					n++
				}
				return nil
			}); err != nil || n != tt.wantRaw {
				t.Errorf("%d raw entries (%v), want %d", n, err, tt.wantRaw)
			}
			view, _, err := GRPCView(MethodModelInfer, msg, true)
			if err != nil {
				t.Fatal(err)
			}
			typed, err := GRPCEncode(MethodModelInfer, []byte(tt.view), true)
			if err != nil {
				t.Fatal(err)
			}
			if want := mustView(t, MethodModelInfer, typed); string(view) != string(want) {
				t.Errorf("view %s, want %s", view, want)
			}
		})
	}
}
