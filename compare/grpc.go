package compare

import "errors"

// Full gRPC method names whose messages GRPCView knows.
const (
	// MethodModelInfer is KServe v2 / Triton's inference call.
	MethodModelInfer = "/inference.GRPCInferenceService/ModelInfer"
	// MethodPredict is TF Serving's prediction call.
	MethodPredict = "/tensorflow.serving.PredictionService/Predict"
)

// ErrUnknownMethod is returned by GRPCEncode and GRPCSet for a method whose messages are not known.
var ErrUnknownMethod = errors.New("unknown gRPC method")

// GRPCView decodes one protobuf message of a gRPC call (without the 5-byte gRPC frame prefix) into
// the JSON form that the method's REST protocol uses, so that the same paths, rules and tolerances
// apply: ModelInfer messages become KServe v2 REST JSON (format "kserve-v2"; typed contents and
// raw_output_contents both become "data"), Predict messages become TF Serving's columnar JSON
// (format "tfserving", `outputs`). Messages of other methods are decoded structurally, field
// number by field number (format "protobuf"). response says whether msg is the method's response
// (true) or its request. An error means the bytes are not a valid message of that method.
func GRPCView(method string, msg []byte, response bool) (view []byte, format string, err error) {
	return nil, "", errors.New("GRPCView: not implemented yet")
}

// GRPCEncode is GRPCView's inverse for the known methods: it encodes a REST JSON view as the
// method's protobuf message. It serves model servers written in Go (the demo, the benchmark, tests).
func GRPCEncode(method string, view []byte, response bool) ([]byte, error) {
	return nil, errors.New("GRPCEncode: not implemented yet")
}

// GRPCSet rewrites fields of a known request message, named by their REST JSON view's path
// ("model_name", "model_version", "id" for ModelInfer; "model_spec.name",
// "model_spec.signature_name" for Predict), to string values. It returns the new message, or an
// error (ErrUnknownMethod, a path the message does not have, bytes that do not decode) and msg's
// bytes unchanged.
func GRPCSet(method string, msg []byte, set map[string]string) ([]byte, error) {
	return msg, errors.New("GRPCSet: not implemented yet")
}
