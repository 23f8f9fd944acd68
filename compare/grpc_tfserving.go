package compare

import (
	"math"

	"google.golang.org/protobuf/encoding/protowire"
)

// Predict messages (package tensorflow.serving, predict.proto and model.proto of TF Serving,
// tensor.proto, tensor_shape.proto and types.proto of TensorFlow) as TF Serving REST JSON.
// Field numbers:
//
//	PredictRequest   1 model_spec, 2 inputs (map<string, TensorProto>), 3 output_filter (repeated string)
//	PredictResponse  1 outputs (map<string, TensorProto>), 2 model_spec
//	ModelSpec        1 name, 2 version (google.protobuf.Int64Value: 1 value), 3 signature_name,
//	                 4 version_label (version and version_label are a oneof)
//	TensorProto      1 dtype, 2 tensor_shape, 3 version_number, 4 tensor_content, 5 float_val,
//	                 6 double_val, 7 int_val, 8 string_val, 9 scomplex_val, 10 int64_val, 11 bool_val,
//	                 12 dcomplex_val, 13 half_val, 14 resource_handle_val, 15 variant_val,
//	                 16 uint32_val, 17 uint64_val
//	TensorShapeProto 2 dim (Dim: 1 size, 2 name), 3 unknown_rank

// tfDTypes maps the TF DataTypes the views read to the KServe v2 datatype of their elements
// (quantized types read as the integers they hold).
var tfDTypes = map[uint64]string{
	1: "FP32", 2: "FP64", 3: "INT32", 4: "UINT8", 5: "INT16", 6: "INT8", 7: "BYTES", 9: "INT64",
	10: "BOOL", 11: "INT8", 12: "UINT8", 13: "INT32", 14: "BF16", 15: "INT16", 16: "UINT16",
	17: "UINT16", 19: "FP16", 22: "UINT32", 23: "UINT64",
}

// TF DataType numbers that GRPCEncode writes.
const (
	dtFloat  = 1
	dtDouble = 2
	dtString = 7
	dtInt64  = 9
	dtBool   = 10
	dtUint64 = 23
)

// tfTyped maps a datatype to the TensorProto field of its typed values.
var tfTyped = map[string]typedField{
	"FP32": {5, vFloat}, "FP64": {6, vDouble}, "INT32": {7, vInt32}, "INT16": {7, vInt32},
	"INT8": {7, vInt32}, "UINT8": {7, vInt32}, "UINT16": {7, vInt32}, "BYTES": {8, vBytes},
	"INT64": {10, vInt64}, "BOOL": {11, vBool}, "FP16": {13, vHalf}, "BF16": {13, vBF16},
	"UINT32": {16, vUint32}, "UINT64": {17, vUint64},
}

// tfView writes a Predict message as TF Serving REST JSON: a response as
// {"outputs":...,"model_spec":{...}}, a request as {"model_spec":{...},"inputs":{...},"output_filter":[...]}.
func tfView(w *jw, msg []byte, response bool) error {
	var specs, tensors [][]byte
	var filter [][]byte
	specNum, tensorsNum := protowire.Number(1), protowire.Number(2)
	if response {
		specNum, tensorsNum = 2, 1
	}
	err := eachField(msg, func(fl field) error {
		switch {
		case fl.num == specNum:
			specs = append(specs, fl.b)
		case fl.num == tensorsNum:
			tensors = append(tensors, fl.b)
		case fl.num == 3 && !response:
			filter = append(filter, fl.b)
		default:
			return nil
		}
		return wantBytes(fl, "field "+itoa(int(fl.num)))
	})
	if err != nil {
		return err
	}
	list, err := readMap(tensors)
	if err != nil {
		return err
	}
	w.byte('{')
	if !response && specs != nil {
		if err := w.modelSpec(specs); err != nil {
			return err
		}
		w.byte(',')
	}
	if response {
		w.raw(`"outputs":`)
	} else {
		w.raw(`"inputs":`)
	}
	if response && len(list) == 1 {
		// A single output is the tensor itself, as TF Serving's REST API answers.
		if err := w.tfTensor(list[0].val); err != nil {
			return prefixErr(err, "output "+string(list[0].key))
		}
	} else {
		w.byte('{')
		for i, me := range list {
			w.sep(i)
			w.str(me.key)
			w.byte(':')
			if err := w.tfTensor(me.val); err != nil {
				return prefixErr(err, "tensor "+string(me.key))
			}
		}
		w.byte('}')
	}
	if response && specs != nil {
		w.byte(',')
		if err := w.modelSpec(specs); err != nil {
			return err
		}
	}
	if filter != nil {
		w.raw(`,"output_filter":[`)
		for i, f := range filter {
			w.sep(i)
			w.str(f)
		}
		w.byte(']')
	}
	w.byte('}')
	return w.check()
}

// modelSpec writes "model_spec":{"name":..,"version":N or "version_label":..,"signature_name":..},
// leaving out empty strings. specs are the occurrences of the field, which merge.
func (w *jw) modelSpec(specs [][]byte) error {
	var name, sig, label []byte
	var version uint64
	choice := 0 // 2: version, 4: version_label
	for _, s := range specs {
		err := eachField(s, func(fl field) error {
			switch fl.num {
			case 1, 3, 4:
				if err := wantBytes(fl, "model_spec field "+itoa(int(fl.num))); err != nil {
					return err
				}
				switch fl.num {
				case 1:
					name = fl.b
				case 3:
					sig = fl.b
				default:
					label, choice = fl.b, 4
				}
			case 2:
				if err := wantBytes(fl, "model_spec.version"); err != nil {
					return err
				}
				if choice != 2 {
					version = 0 // a new oneof member starts from its default
				}
				choice = 2
				return eachField(fl.b, func(v field) error {
					if v.num != 1 {
						return nil
					}
					if err := wantVarint(v, "model_spec.version.value"); err != nil {
						return err
					}
					version = v.v
					return nil
				})
			}
			return nil
		})
		if err != nil {
			return err
		}
	}
	w.raw(`"model_spec":{`)
	n := 0
	if len(name) > 0 {
		w.raw(`"name":`)
		w.str(name)
		n++
	}
	switch choice {
	case 2:
		w.sep(n)
		w.raw(`"version":`)
		w.int(int64(version))
		n++
	case 4:
		if len(label) > 0 {
			w.sep(n)
			w.raw(`"version_label":`)
			w.str(label)
			n++
		}
	}
	if len(sig) > 0 {
		w.sep(n)
		w.raw(`"signature_name":`)
		w.str(sig)
	}
	w.byte('}')
	return nil
}

// tfTensor writes a TensorProto as the nested JSON array its shape gives (a scalar for rank 0).
// Typed values fewer than the shape holds are filled as TensorFlow does: with the last value,
// or zeros when there is none. A shape of unknown rank or size gives a flat list.
func (w *jw) tfTensor(t []byte) error {
	var dtype uint64
	var shapes [][]byte
	var content []byte
	hasContent := false
	present := uint32(0) // bit n: value field n is present
	err := eachField(t, func(fl field) error {
		switch {
		case fl.num == 1:
			if err := wantVarint(fl, "dtype"); err != nil {
				return err
			}
			dtype = fl.v
		case fl.num == 2:
			if err := wantBytes(fl, "tensor_shape"); err != nil {
				return err
			}
			shapes = append(shapes, fl.b)
		case fl.num == 4:
			if err := wantBytes(fl, "tensor_content"); err != nil {
				return err
			}
			content, hasContent = fl.b, true
		case fl.num >= 5 && fl.num <= 17:
			present |= 1 << fl.num
		}
		return nil
	})
	if err != nil {
		return err
	}
	dt, ok := tfDTypes[dtype]
	if !ok {
		return badMsg("dtype %d is not supported", dtype)
	}
	tf := tfTyped[dt]
	if other := present &^ (1 << tf.num); other != 0 {
		for n := 5; n <= 17; n++ {
			if other&(1<<n) != 0 {
				return badMsg("value field %d in a tensor of dtype %d", n, dtype)
			}
		}
	}
	dims, known, err := readTFShape(shapes)
	if err != nil {
		return err
	}
	raw := hasContent && len(content) > 0
	var mk func() (*values, error)
	if raw {
		if dt == "BYTES" {
			return badMsg("tensor_content of a DT_STRING tensor is not supported")
		}
		if present != 0 {
			return badMsg("both tensor_content and typed values")
		}
		mk = func() (*values, error) { return rawValues(content, dt) }
	} else {
		mk = func() (*values, error) { return typedValues([][]byte{t}, tf.num, tf.vt), nil }
	}
	vs, err := mk()
	if err != nil {
		return err
	}
	count, err := vs.count()
	if err != nil {
		return err
	}
	if vs, err = mk(); err != nil {
		return err
	}
	if !known {
		w.byte('[')
		err := w.flat(vs)
		w.byte(']')
		return err
	}
	product := 1
	for _, d := range dims {
		if d != 0 && product > math.MaxInt/int(d) {
			product = math.MaxInt
			break
		}
		product *= int(d)
	}
	switch {
	case count > product:
		return badMsg("%d values for a shape of %d elements", count, product)
	case raw && count != product:
		return badMsg("tensor_content holds %d values for a shape of %d elements", count, product)
	}
	last := defaultValue(dt)
	next := func() error {
		v, ok, err := vs.next()
		if err != nil {
			return err
		}
		if ok {
			last = v
		}
		w.value(last)
		return nil
	}
	return w.nest(dims, next)
}

// defaultValue is a datatype's zero element.
func defaultValue(dt string) value {
	switch dt {
	case "BYTES":
		return value{isStr: true}
	case "BOOL":
		return value{kind: kindBool}
	}
	return value{kind: kindInt}
}

// nest writes the elements next writes as nested arrays of dims.
func (w *jw) nest(dims []int64, next func() error) error {
	if len(dims) == 0 {
		if err := next(); err != nil {
			return err
		}
		return w.check()
	}
	w.byte('[')
	for i := int64(0); i < dims[0]; i++ {
		w.sep(int(min(i, 1)))
		if err := w.nest(dims[1:], next); err != nil {
			return err
		}
		if err := w.check(); err != nil {
			return err
		}
	}
	w.byte(']')
	return nil
}

// readTFShape reads the dimensions of TensorShapeProto occurrences (which merge). known is false
// for an unknown rank or a dimension of unknown size.
func readTFShape(shapes [][]byte) (dims []int64, known bool, err error) {
	known = true
	for _, s := range shapes {
		err := eachField(s, func(fl field) error {
			switch fl.num {
			case 2:
				if err := wantBytes(fl, "tensor_shape.dim"); err != nil {
					return err
				}
				if len(dims) == maxRank {
					return badMsg("tensor_shape has over %d dimensions", maxRank)
				}
				var size int64
				if err := eachField(fl.b, func(d field) error {
					if d.num != 1 {
						return nil
					}
					if err := wantVarint(d, "tensor_shape.dim.size"); err != nil {
						return err
					}
					size = int64(d.v)
					return nil
				}); err != nil {
					return err
				}
				if size < 0 {
					known = false
				}
				dims = append(dims, size)
			case 3:
				if err := wantVarint(fl, "tensor_shape.unknown_rank"); err != nil {
					return err
				}
				if fl.v != 0 {
					known = false
				}
			}
			return nil
		})
		if err != nil {
			return nil, false, err
		}
	}
	return dims, known, nil
}
