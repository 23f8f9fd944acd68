package compare

import (
	"encoding/base64"
	"sort"
	"strconv"
	"unicode/utf8"

	"google.golang.org/protobuf/encoding/protowire"
)

// protoView writes a message of an unknown schema structurally, best effort: an object keyed by
// field number (in increasing order), a field that occurs more than once as an array of its
// values in wire order; varints and fixed-size values as unsigned integers; length-delimited
// values as printable text when they are, else as a nested message when they parse as one
// (down to maxNesting levels), else as text when they are UTF-8, else as base64. The schema is
// unknown, so signed, zigzag and floating-point values show as their unsigned bits, and a short
// byte string may read as a message.
func protoView(w *jw, msg []byte, depth int) error {
	var fields []field
	if err := eachField(msg, func(fl field) error {
		fields = append(fields, fl)
		return nil
	}); err != nil {
		return err
	}
	sort.SliceStable(fields, func(i, j int) bool { return fields[i].num < fields[j].num })
	w.byte('{')
	for i := 0; i < len(fields); {
		j := i + 1
		for j < len(fields) && fields[j].num == fields[i].num {
			j++
		}
		w.sep(i)
		w.byte('"')
		w.b = strconv.AppendInt(w.b, int64(fields[i].num), 10)
		w.raw(`":`)
		if j-i > 1 {
			w.byte('[')
		}
		for k := i; k < j; k++ {
			w.sep(k - i)
			w.protoValue(fields[k], depth)
			if err := w.check(); err != nil {
				return err
			}
		}
		if j-i > 1 {
			w.byte(']')
		}
		i = j
	}
	w.byte('}')
	return nil
}

// protoValue writes one field's value (see protoView).
func (w *jw) protoValue(fl field, depth int) {
	if fl.typ != protowire.BytesType {
		w.uint(fl.v)
		return
	}
	if printable(fl.b) {
		w.str(fl.b)
		return
	}
	if depth < maxNesting {
		mark := w.b
		if err := protoView(w, fl.b, depth+1); err == nil {
			return
		}
		w.b = mark // not a message: undo what was written
	}
	if utf8.Valid(fl.b) {
		w.str(fl.b)
		return
	}
	w.byte('"')
	w.b = base64.StdEncoding.AppendEncode(w.b, fl.b)
	w.byte('"')
}

// printable reports UTF-8 text without control characters other than tab (empty bytes
// included), which the structural view shows as a string rather than as a message. Line feeds
// count as control characters: 0x0a is also the tag of field 1 when length-delimited.
func printable(b []byte) bool {
	if !utf8.Valid(b) {
		return false
	}
	for _, c := range b {
		if c < 0x20 && c != '\t' || c == 0x7f {
			return false
		}
	}
	return true
}
