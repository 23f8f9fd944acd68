package compare

import (
	"errors"
	"fmt"
	"strconv"
)

// Full gRPC method names whose messages GRPCView knows.
const (
	// MethodModelInfer is KServe v2 / Triton's inference call.
	MethodModelInfer = "/inference.GRPCInferenceService/ModelInfer"
	// MethodPredict is TF Serving's prediction call.
	MethodPredict = "/tensorflow.serving.PredictionService/Predict"
)

// FormatProtobuf is the format GRPCView reports for the structural view of a message of an
// unknown method. It is not a format New takes: such views compare as json (or auto, which
// detects them as json).
const FormatProtobuf = "protobuf"

// ErrUnknownMethod is returned by GRPCEncode and GRPCSet for a method whose messages are not known.
var ErrUnknownMethod = errors.New("unknown gRPC method")

// GRPCView decodes one protobuf message of a gRPC call (without the 5-byte gRPC frame prefix) into
// the JSON form that the method's REST protocol uses, so that the same paths, rules and tolerances
// apply: ModelInfer messages become KServe v2 REST JSON (format "kserve-v2"; typed contents and
// raw_output_contents both become "data"), Predict messages become TF Serving's columnar JSON
// (format "tfserving", `outputs`). Messages of other methods are decoded structurally, field
// number by field number (format "protobuf"). response says whether msg is the method's response
// (true) or its request. An error means the bytes are not a valid message of that method.
//
// The views, keys in this order (a key in brackets only when the message has it):
//
//	ModelInfer response: {"model_name":S,"model_version":S,["id":S,]["parameters":{K:V},]
//	    "outputs":[{"name":S,"datatype":S,"shape":[N],["parameters":{K:V},]["data":[E]]}]}
//	ModelInfer request:  the same with "inputs" for the tensors, then ["outputs":[{"name":S,
//	    ["parameters":{K:V}]}]] for the requested outputs.
//	Predict response:    {"outputs":T or {NAME:T},["model_spec":M]}
//	Predict request:     {["model_spec":M,]"inputs":{NAME:T}[,"output_filter":[S]]}
//
// A ModelInfer tensor's data is flat, in row-major order, whether the message holds it as typed
// contents or as raw_output_contents (raw_input_contents) read by datatype: the two give the
// same view. data is left out when the tensor has neither. Parameters are bools, numbers or
// strings (null for an empty InferParameter). A TF tensor T is a nested array by its
// tensor_shape (a bare value for rank 0), from typed values or tensor_content alike, filled as
// TensorFlow fills short typed values; a single output is the tensor itself, as TF Serving's
// REST API answers, several are an object by name. M is {["name":S,]["version":N or
// "version_label":S,]["signature_name":S]}: the tfserving format does not compare it. Map
// entries are sorted by key. Elements: numbers (floats as the shortest decimal that reads back
// as the same float32 or float64; NaN, Infinity and -Infinity bare, as TF Serving writes them,
// which New reads), booleans, and for BYTES and DT_STRING a string when the bytes are UTF-8,
// else {"b64":"<base64>"}. Unknown fields are skipped.
//
// The structural view (FormatProtobuf) is best effort, as the schema is unknown: an object keyed
// by field number (in increasing order, "1":...), a field that occurs more than once as an array
// of its values in wire order, varints and fixed-size values as unsigned integers (so signed,
// zigzag and floating-point fields show as their bits), length-delimited values as a string when
// they are printable text, else as a nested message when they parse as one (32 levels deep at
// most), else as a string when they are UTF-8, else as a base64 string; a short byte string may
// read as a message. Groups are refused.
//
// Work is bounded: a view over 16 times the message's size plus 4 KiB is an error, as is a tensor
// shape of over 64 dimensions. Errors wrap ErrBadMessage.
func GRPCView(method string, msg []byte, response bool) (view []byte, format string, err error) {
	w := newJW(len(msg))
	switch method {
	case MethodModelInfer:
		format, err = FormatKServeV2, v2View(w, msg, response)
	case MethodPredict:
		format, err = FormatTFServing, tfView(w, msg, response)
	default:
		format, err = FormatProtobuf, protoView(w, msg, 0)
		if err == nil {
			err = w.check()
		}
	}
	if err != nil {
		return nil, format, fmt.Errorf("%s %s: %w", method, side(response), err)
	}
	return w.b, format, nil
}

// GRPCEncode is GRPCView's inverse for the known methods: it encodes a REST JSON view as the
// method's protobuf message. It serves model servers written in Go (the demo, the benchmark, tests).
//
// GRPCView(GRPCEncode(v)) is v for every view GRPCView makes; other JSON is read as leniently as
// the REST protocols allow (nested "data" is flattened, keys may come in any order, empty strings
// are left out). ModelInfer tensors are written as typed contents, but for FP16 and BF16, which
// have none: those and the tensors before them go to raw contents (an error if one of those has
// no data, which raw contents cannot leave out). Predict tensors carry no dtype in their view,
// so GRPCEncode infers it from the values: DT_BOOL, DT_STRING, DT_INT64 for integers (DT_UINT64
// above the int64 range), DT_FLOAT when every number reads back the same as a float32, else
// DT_DOUBLE; a bare outputs tensor is named "output_0", TF2's name for an unnamed output. Errors
// wrap ErrBadMessage, or are ErrUnknownMethod.
func GRPCEncode(method string, view []byte, response bool) ([]byte, error) {
	return encodeView(method, view, response, false)
}

// GRPCEncodeRaw is GRPCEncode with the tensors' values as raw bytes: ModelInfer's
// raw_output_contents (raw_input_contents for a request) for every tensor up to the first without
// data, Predict's tensor_content (but for DT_STRING, which has no raw form). Model servers use it to answer as Triton does with raw
// tensors; GRPCView gives the same view for both encodings.
func GRPCEncodeRaw(method string, view []byte, response bool) ([]byte, error) {
	return encodeView(method, view, response, true)
}

// GRPCSet rewrites fields of a known request message, named by their REST JSON view's path
// ("model_name", "model_version", "id" for ModelInfer; "model_spec.name",
// "model_spec.signature_name" for Predict), to string values. It returns the new message, or an
// error (ErrUnknownMethod, a path the message does not have, bytes that do not decode) and msg's
// bytes unchanged.
//
// Every other field keeps its bytes; the fields set are written once (after the others at the top
// level, and model_spec where the message had its first), and an empty value removes the field,
// as proto3 writes empty strings. A bad path wraps ErrBadPath, bytes that do not decode
// ErrBadMessage. A nil msg is a valid empty request, so GRPCSet(method, nil, set) checks a set
// of paths before any message arrives.
func GRPCSet(method string, msg []byte, set map[string]string) ([]byte, error) {
	out, err := setFields(method, msg, set)
	if err != nil {
		return msg, err
	}
	return out, nil
}

func side(response bool) string {
	if response {
		return "response"
	}
	return "request"
}

func itoa(i int) string { return strconv.Itoa(i) }

// prefixErr puts where an error happened before it.
func prefixErr(err error, where string) error { return fmt.Errorf("%s: %w", where, err) }

// mergeMsgs returns the merge of the occurrences of a message field: their concatenation, which
// protobuf reads as the merge. It never writes into them.
func mergeMsgs(occ [][]byte) []byte {
	switch len(occ) {
	case 0:
		return nil
	case 1:
		return occ[0]
	}
	n := 0
	for _, o := range occ {
		n += len(o)
	}
	out := make([]byte, 0, n)
	for _, o := range occ {
		out = append(out, o...)
	}
	return out
}

// GRPCAnswer is one model's answer to a unary gRPC call, as CompareGRPC reads it.
type GRPCAnswer struct {
	// Code is the gRPC status code: 0 (OK) is an answer, any other code an error answer.
	Code int
	// Message is the response message, without the 5-byte gRPC frame prefix. It is not read
	// unless Code is 0.
	Message []byte
}

var jsonType = []byte("application/json")

// CompareGRPC compares a candidate's answer to a call of method with the primary's, as Compare
// compares REST answers. Status codes come first: both non-OK with the same code is Agree (the
// messages are not compared), else a non-OK code gives PrimaryError or CandidateError. Then both
// messages go through GRPCView: one that does not decode is Unparseable (Reason "primary: ..."
// or "candidate: ..."), and the views compare as Compare compares JSON bodies under the
// Comparator's format (auto detects kserve-v2 and tfserving views and reads structural views as
// json). It keeps nothing of primary or candidate.
func (c *Comparator) CompareGRPC(method string, primary, candidate GRPCAnswer) Result {
	switch {
	case primary.Code != 0 && primary.Code == candidate.Code:
		return Result{Outcome: Agree, Format: c.format, Reason: "both answered gRPC code " + strconv.Itoa(primary.Code)}
	case primary.Code != 0:
		return Result{Outcome: PrimaryError, Format: c.format, Reason: "primary gRPC code " + strconv.Itoa(primary.Code)}
	case candidate.Code != 0:
		return Result{Outcome: CandidateError, Format: c.format, Reason: "candidate gRPC code " + strconv.Itoa(candidate.Code)}
	}
	pv, format, err := GRPCView(method, primary.Message, true)
	if err != nil {
		return Result{Outcome: Unparseable, Format: format, Reason: shortReason("primary: ", err)}
	}
	cv, _, err := GRPCView(method, candidate.Message, true)
	if err != nil {
		return Result{Outcome: Unparseable, Format: format, Reason: shortReason("candidate: ", err)}
	}
	return c.Compare(Response{Status: 200, ContentType: jsonType, Body: pv}, Response{Status: 200, ContentType: jsonType, Body: cv})
}
