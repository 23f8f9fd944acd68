package compare

import (
	"fmt"
	"sort"

	"google.golang.org/protobuf/encoding/protowire"
)

// GRPCSet's fields: the string fields of a known request that a rewrite may set, by view path.
var (
	v2SetFields = map[string]protowire.Number{"model_name": 1, "model_version": 2, "id": 3}
	tfSetFields = map[string]protowire.Number{"model_spec.name": 1, "model_spec.signature_name": 3}
)

func setFields(method string, msg []byte, set map[string]string) ([]byte, error) {
	var known map[string]protowire.Number
	switch method {
	case MethodModelInfer:
		known = v2SetFields
	case MethodPredict:
		known = tfSetFields
	default:
		return nil, ErrUnknownMethod
	}
	vals := make(map[protowire.Number]string, len(set))
	for path, s := range set {
		num, ok := known[path]
		if !ok {
			return nil, fmt.Errorf("%w %q: GRPCSet sets %s of %s requests", ErrBadPath, path, setNames(known), method)
		}
		vals[num] = s
	}
	if len(vals) == 0 {
		if err := eachSpan(msg, func(protowire.Number, protowire.Type, []byte, []byte) error { return nil }); err != nil {
			return nil, err
		}
		return msg, nil
	}
	if method == MethodModelInfer {
		return replaceStrings(msg, vals)
	}
	return setModelSpec(msg, vals)
}

func setNames(known map[string]protowire.Number) string {
	names := make([]string, 0, len(known))
	for k := range known {
		names = append(names, k)
	}
	sort.Strings(names)
	return fmt.Sprint(names)
}

// eachSpan calls f with each top-level field of msg: its number and wire type, its whole bytes
// (tag included) and, when length-delimited, its value.
func eachSpan(msg []byte, f func(num protowire.Number, typ protowire.Type, span, val []byte) error) error {
	for len(msg) > 0 {
		num, typ, n := protowire.ConsumeTag(msg)
		if n < 0 {
			return badMsg("field tag: %v", protowire.ParseError(n))
		}
		m := protowire.ConsumeFieldValue(num, typ, msg[n:])
		if m < 0 {
			return badMsg("field %d: %v", num, protowire.ParseError(m))
		}
		var val []byte
		if typ == protowire.BytesType {
			val, _ = protowire.ConsumeBytes(msg[n:])
		}
		if err := f(num, typ, msg[:n+m], val); err != nil {
			return err
		}
		msg = msg[n+m:]
	}
	return nil
}

// replaceStrings drops every occurrence of the fields of vals from msg and appends them once,
// in field order (none for an empty value).
func replaceStrings(msg []byte, vals map[protowire.Number]string) ([]byte, error) {
	out := make([]byte, 0, len(msg)+64)
	err := eachSpan(msg, func(num protowire.Number, typ protowire.Type, span, _ []byte) error {
		if _, ok := vals[num]; !ok {
			out = append(out, span...)
		} else if typ != protowire.BytesType {
			return badMsg("field %d: wire type %d, want length-delimited", num, typ)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	nums := make([]protowire.Number, 0, len(vals))
	for n := range vals {
		nums = append(nums, n)
	}
	sort.Slice(nums, func(i, j int) bool { return nums[i] < nums[j] })
	for _, n := range nums {
		out = appendStringField(out, n, []byte(vals[n]))
	}
	return out, nil
}

// setModelSpec sets fields of a PredictRequest's model_spec (field 1): the occurrences of
// model_spec merge into one, written where the first was (first when there was none).
func setModelSpec(msg []byte, vals map[protowire.Number]string) ([]byte, error) {
	var spec []byte
	at := -1 // where in the rest the model_spec goes
	var rest []byte
	err := eachSpan(msg, func(num protowire.Number, typ protowire.Type, span, val []byte) error {
		if num != 1 {
			rest = append(rest, span...)
			return nil
		}
		if typ != protowire.BytesType {
			return badMsg("model_spec: not length-delimited")
		}
		if at < 0 {
			at = len(rest)
		}
		spec = append(spec, val...)
		return nil
	})
	if err != nil {
		return nil, err
	}
	newSpec, err := replaceStrings(spec, vals)
	if err != nil {
		return nil, prefixErr(err, "model_spec")
	}
	if at < 0 {
		at = 0
	}
	out := make([]byte, 0, len(msg)+len(newSpec)+16)
	out = append(out, rest[:at]...)
	out = appendMsgField(out, 1, newSpec)
	return append(out, rest[at:]...), nil
}
