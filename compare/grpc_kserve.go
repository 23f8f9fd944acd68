package compare

import (
	"bytes"
	"sort"

	"google.golang.org/protobuf/encoding/protowire"
)

// ModelInfer messages (package inference, KServe's grpc_predict_v2.proto, Triton's
// grpc_service.proto) as KServe v2 REST JSON. Field numbers:
//
//	ModelInferRequest   1 model_name, 2 model_version, 3 id, 4 parameters (map<string, InferParameter>),
//	                    5 inputs (InferInputTensor), 6 outputs (InferRequestedOutputTensor),
//	                    7 raw_input_contents (repeated bytes)
//	ModelInferResponse  1 model_name, 2 model_version, 3 id, 4 parameters, 5 outputs (InferOutputTensor),
//	                    6 raw_output_contents
//	Infer{Input,Output}Tensor  1 name, 2 datatype, 3 shape (repeated int64), 4 parameters,
//	                    5 contents (InferTensorContents)
//	InferRequestedOutputTensor 1 name, 2 parameters
//	InferParameter      oneof: 1 bool_param, 2 int64_param, 3 string_param, 4 double_param,
//	                    5 uint64_param (4 and 5 are Triton's)
//	InferTensorContents 1 bool, 2 int (int32), 3 int64, 4 uint (uint32), 5 uint64, 6 fp32 (float),
//	                    7 fp64 (double), 8 bytes
//	map entries         1 key, 2 value

// typedField names the repeated field that holds a datatype's typed contents.
type typedField struct {
	num protowire.Number
	vt  valType
}

// v2Typed maps a KServe v2 datatype to its InferTensorContents field. FP16 and BF16 have none:
// they travel as raw contents only.
var v2Typed = map[string]typedField{
	"BOOL":   {1, vBool},
	"INT8":   {2, vInt32},
	"INT16":  {2, vInt32},
	"INT32":  {2, vInt32},
	"INT64":  {3, vInt64},
	"UINT8":  {4, vUint32},
	"UINT16": {4, vUint32},
	"UINT32": {4, vUint32},
	"UINT64": {5, vUint64},
	"FP32":   {6, vFloat},
	"FP64":   {7, vDouble},
	"BYTES":  {8, vBytes},
}

// v2Msg is a ModelInfer message's top level, its sub-messages left as wire bytes.
type v2Msg struct {
	modelName, modelVersion, id []byte
	params                      [][]byte // map entries
	tensors                     [][]byte // inputs or outputs
	requested                   [][]byte // a request's requested outputs
	raw                         [][]byte
}

func readV2(msg []byte, response bool) (*v2Msg, error) {
	m := &v2Msg{}
	rawNum := protowire.Number(7)
	if response {
		rawNum = 6
	}
	err := eachField(msg, func(fl field) error {
		var dst *[][]byte
		switch {
		case fl.num >= 1 && fl.num <= 3:
			if err := wantBytes(fl, "model_name, model_version or id"); err != nil {
				return err
			}
			switch fl.num {
			case 1:
				m.modelName = fl.b
			case 2:
				m.modelVersion = fl.b
			default:
				m.id = fl.b
			}
			return nil
		case fl.num == 4:
			dst = &m.params
		case fl.num == 5:
			dst = &m.tensors
		case fl.num == rawNum:
			dst = &m.raw
		case fl.num == 6 && !response:
			dst = &m.requested
		default:
			return nil // unknown fields are skipped, as protobuf does
		}
		if err := wantBytes(fl, "field "+itoa(int(fl.num))); err != nil {
			return err
		}
		*dst = append(*dst, fl.b)
		return nil
	})
	if err != nil {
		return nil, err
	}
	if len(m.raw) > len(m.tensors) {
		return nil, badMsg("%d raw contents for %d tensors", len(m.raw), len(m.tensors))
	}
	return m, nil
}

// v2View writes a ModelInfer message as KServe v2 REST JSON.
func v2View(w *jw, msg []byte, response bool) error {
	m, err := readV2(msg, response)
	if err != nil {
		return err
	}
	w.raw(`{"model_name":`)
	w.str(m.modelName)
	w.raw(`,"model_version":`)
	w.str(m.modelVersion)
	if len(m.id) > 0 {
		w.raw(`,"id":`)
		w.str(m.id)
	}
	if len(m.params) > 0 {
		w.raw(`,"parameters":`)
		if err := w.v2Params(m.params); err != nil {
			return err
		}
	}
	if response {
		w.raw(`,"outputs":[`)
	} else {
		w.raw(`,"inputs":[`)
	}
	for i, t := range m.tensors {
		w.sep(i)
		var raw []byte
		hasRaw := i < len(m.raw)
		if hasRaw {
			raw = m.raw[i]
		}
		if err := w.v2Tensor(t, raw, hasRaw); err != nil {
			return prefixErr(err, "tensor "+itoa(i))
		}
	}
	w.byte(']')
	if len(m.requested) > 0 {
		w.raw(`,"outputs":[`)
		for i, r := range m.requested {
			w.sep(i)
			if err := w.v2Requested(r); err != nil {
				return prefixErr(err, "requested output "+itoa(i))
			}
		}
		w.byte(']')
	}
	w.byte('}')
	return w.check()
}

// v2Tensor writes an input or output tensor; raw is its raw contents when hasRaw.
func (w *jw) v2Tensor(t, raw []byte, hasRaw bool) error {
	var name, dt []byte
	var params, contents [][]byte
	typedLen := 0
	err := eachField(t, func(fl field) error {
		switch fl.num {
		case 1, 2:
			if err := wantBytes(fl, "name or datatype"); err != nil {
				return err
			}
			if fl.num == 1 {
				name = fl.b
			} else {
				dt = fl.b
			}
		case 3:
			if fl.typ != protowire.VarintType && fl.typ != protowire.BytesType {
				return badMsg("shape: wire type %d", fl.typ)
			}
		case 4, 5:
			if err := wantBytes(fl, "parameters or contents"); err != nil {
				return err
			}
			if fl.num == 4 {
				params = append(params, fl.b)
			} else {
				contents = append(contents, fl.b)
				typedLen += len(fl.b)
			}
		}
		return nil
	})
	if err != nil {
		return err
	}
	w.raw(`{"name":`)
	w.str(name)
	w.raw(`,"datatype":`)
	w.str(dt)
	w.raw(`,"shape":[`)
	shape := typedValues([][]byte{t}, 3, vInt64)
	for i := 0; ; i++ {
		v, ok, err := shape.next()
		if err != nil {
			return prefixErr(err, "shape")
		}
		if !ok {
			break
		}
		w.sep(i)
		w.value(v)
		if err := w.check(); err != nil {
			return err
		}
	}
	w.byte(']')
	if len(params) > 0 {
		w.raw(`,"parameters":`)
		if err := w.v2Params(params); err != nil {
			return err
		}
	}
	var vs *values
	switch {
	case hasRaw:
		if typedLen > 0 {
			return badMsg("both typed and raw contents")
		}
		if vs, err = rawValues(raw, string(dt)); err != nil {
			return err
		}
	case contents != nil:
		tf, ok := v2Typed[string(dt)]
		if !ok {
			return badMsg("typed contents for datatype %q, which has none", dt)
		}
		for _, c := range contents {
			if err := eachField(c, func(fl field) error {
				if fl.num != tf.num && fl.num >= 1 && fl.num <= 8 {
					return badMsg("contents field %d in a %s tensor", fl.num, dt)
				}
				return nil
			}); err != nil {
				return err
			}
		}
		vs = typedValues(contents, tf.num, tf.vt)
	default:
		w.byte('}')
		return nil
	}
	w.raw(`,"data":[`)
	if err := w.flat(vs); err != nil {
		return err
	}
	w.raw("]}")
	return nil
}

// flat writes every element of vs, comma-separated.
func (w *jw) flat(vs *values) error {
	for i := 0; ; i++ {
		v, ok, err := vs.next()
		if err != nil {
			return err
		}
		if !ok {
			return nil
		}
		w.sep(i)
		w.value(v)
		if err := w.check(); err != nil {
			return err
		}
	}
}

// v2Requested writes a requested output: {"name":..,"parameters":{..}}.
func (w *jw) v2Requested(r []byte) error {
	var name []byte
	var params [][]byte
	err := eachField(r, func(fl field) error {
		if fl.num != 1 && fl.num != 2 {
			return nil
		}
		if err := wantBytes(fl, "name or parameters"); err != nil {
			return err
		}
		if fl.num == 1 {
			name = fl.b
		} else {
			params = append(params, fl.b)
		}
		return nil
	})
	if err != nil {
		return err
	}
	w.raw(`{"name":`)
	w.str(name)
	if len(params) > 0 {
		w.raw(`,"parameters":`)
		if err := w.v2Params(params); err != nil {
			return err
		}
	}
	w.byte('}')
	return nil
}

// mapEntry is a map<string, M> entry: its key and the wire bytes of its value.
type mapEntry struct{ key, val []byte }

// readMap reads map entries, sorted by key, the last of equal keys winning as in protobuf (the
// keys made valid UTF-8 first, as the view writes them).
func readMap(entries [][]byte) ([]mapEntry, error) {
	list := make([]mapEntry, 0, len(entries))
	var vals [][]byte
	for _, e := range entries {
		var me mapEntry
		vals = vals[:0]
		err := eachField(e, func(fl field) error {
			if fl.num != 1 && fl.num != 2 {
				return nil
			}
			if err := wantBytes(fl, "map key or value"); err != nil {
				return err
			}
			if fl.num == 1 {
				me.key = fl.b
			} else {
				vals = append(vals, fl.b)
			}
			return nil
		})
		if err != nil {
			return nil, err
		}
		me.val = mergeMsgs(vals)
		me.key = validUTF8(me.key) // keys that differ in invalid bytes only are one key of the view
		list = append(list, me)
	}
	sort.SliceStable(list, func(i, j int) bool { return bytes.Compare(list[i].key, list[j].key) < 0 })
	out := list[:0]
	for i, me := range list {
		if i+1 < len(list) && bytes.Equal(list[i+1].key, me.key) {
			continue
		}
		out = append(out, me)
	}
	return out, nil
}

// v2Params writes a parameters map as a JSON object of bools, numbers and strings.
func (w *jw) v2Params(entries [][]byte) error {
	list, err := readMap(entries)
	if err != nil {
		return prefixErr(err, "parameters")
	}
	w.byte('{')
	for i, me := range list {
		w.sep(i)
		w.str(me.key)
		w.byte(':')
		var last field
		set := false
		err := eachField(me.val, func(fl field) error {
			switch fl.num {
			case 1, 2, 5:
				if err := wantVarint(fl, "parameter "+string(me.key)); err != nil {
					return err
				}
			case 3:
				if err := wantBytes(fl, "parameter "+string(me.key)); err != nil {
					return err
				}
			case 4:
				if fl.typ != protowire.Fixed64Type {
					return badMsg("parameter %s: double_param of wire type %d", me.key, fl.typ)
				}
			default:
				return nil
			}
			last, set = fl, true
			return nil
		})
		if err != nil {
			return err
		}
		switch {
		case !set:
			w.raw("null")
		case last.num == 1:
			w.value(value{kind: kindBool, bits: last.v})
		case last.num == 2:
			w.int(int64(last.v))
		case last.num == 3:
			w.str(last.b)
		case last.num == 4:
			w.value(value{kind: kindFloat64, bits: last.v})
		default:
			w.uint(last.v)
		}
		if err := w.check(); err != nil {
			return err
		}
	}
	w.byte('}')
	return nil
}
