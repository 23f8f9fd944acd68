package sink

import (
	"bytes"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"hash/maphash"
	"math"
	"strconv"
	"time"
	"unicode/utf8"
)

// Encode appends the JSON encoding of r to dst as one object without a trailing newline and returns
// the extended buffer. The output never contains a newline: JSON bodies are compacted, and bodies or
// diff values that are not valid JSON are written as JSON strings (base64 for request bodies and for
// bytes that are not valid UTF-8). Header maps are written with sorted keys. A NaN or infinite
// weight or latency is written as null. Encode does not allocate when dst has room and r has at most
// 32 headers. A body that RequestBody or ResponseBody returned, unchanged, is written as it is
// without being validated again (see seal); any other body is validated.
func Encode(dst []byte, r *Record) []byte {
	dst = append(dst, `{"schema":`...)
	schema := r.Schema
	if schema == "" {
		schema = Schema
	}
	dst = appendString(dst, schema)
	dst = append(dst, `,"id":`...)
	dst = appendString(dst, r.ID)
	dst = append(dst, `,"time":"`...)
	dst = r.Time.UTC().AppendFormat(dst, time.RFC3339Nano)
	dst = append(dst, `","kind":`...)
	dst = appendString(dst, r.Kind)
	dst = append(dst, `,"route":`...)
	dst = appendString(dst, r.Route)
	dst = append(dst, `,"candidate":`...)
	dst = appendString(dst, r.Candidate)
	dst = append(dst, `,"weight":`...)
	dst = appendFloat(dst, r.Weight)

	q := &r.Request
	dst = append(dst, `,"request":{"method":`...)
	dst = appendString(dst, q.Method)
	dst = append(dst, `,"path":`...)
	dst = appendString(dst, q.Path)
	dst = append(dst, `,"query":`...)
	dst = appendString(dst, q.Query)
	dst = append(dst, `,"headers":`...)
	dst = appendHeaders(dst, q.Headers)
	dst = append(dst, `,"body":`...)
	dst = appendBody(dst, q.Body, true)
	dst = append(dst, `,"truncated":`...)
	dst = strconv.AppendBool(dst, q.Truncated)
	dst = append(dst, '}')

	dst = append(dst, `,"primary_response":`...)
	dst = appendResponse(dst, &r.PrimaryResponse)
	dst = append(dst, `,"candidate_response":`...)
	dst = appendResponse(dst, &r.CandidateResponse)

	dst = append(dst, `,"diff":`...)
	if r.Diff == nil {
		dst = append(dst, "null"...)
	} else {
		dst = append(dst, '[')
		for i := range r.Diff {
			d := &r.Diff[i]
			if i > 0 {
				dst = append(dst, ',')
			}
			dst = append(dst, `{"path":`...)
			dst = appendString(dst, d.Path)
			dst = append(dst, `,"primary":`...)
			dst = appendRaw(dst, d.Primary, false)
			dst = append(dst, `,"candidate":`...)
			dst = appendRaw(dst, d.Candidate, false)
			dst = append(dst, '}')
		}
		dst = append(dst, ']')
	}
	if r.Chaos != "" {
		dst = append(dst, `,"chaos":`...)
		dst = appendString(dst, r.Chaos)
	}
	return append(dst, '}')
}

// MarshalJSON encodes r with Encode.
func (r *Record) MarshalJSON() ([]byte, error) {
	return Encode(make([]byte, 0, 512), r), nil
}

func appendResponse(dst []byte, p *Response) []byte {
	dst = append(dst, `{"status":`...)
	dst = strconv.AppendInt(dst, int64(p.Status), 10)
	dst = append(dst, `,"latency_ms":`...)
	dst = appendFloat(dst, p.LatencyMS)
	dst = append(dst, `,"body":`...)
	dst = appendBody(dst, p.Body, false)
	if p.Truncated {
		dst = append(dst, `,"truncated":true`...)
	}
	if p.Error != "" {
		dst = append(dst, `,"error":`...)
		dst = appendString(dst, p.Error)
	}
	if p.GRPCStatus != nil {
		dst = append(dst, `,"grpc_status":`...)
		dst = strconv.AppendInt(dst, int64(*p.GRPCStatus), 10)
	}
	if p.GRPCMessage != "" {
		dst = append(dst, `,"grpc_message":`...)
		dst = appendString(dst, p.GRPCMessage)
	}
	return append(dst, '}')
}

// appendHeaders writes h as an object with sorted keys.
func appendHeaders(dst []byte, h map[string]string) []byte {
	if h == nil {
		return append(dst, "{}"...)
	}
	var small [32]string
	keys := small[:0]
	for k := range h {
		keys = append(keys, k)
	}
	// Insertion sort: header maps are small, and sort.Strings would make keys escape.
	for i := 1; i < len(keys); i++ {
		for j := i; j > 0 && keys[j] < keys[j-1]; j-- {
			keys[j], keys[j-1] = keys[j-1], keys[j]
		}
	}
	dst = append(dst, '{')
	for i, k := range keys {
		if i > 0 {
			dst = append(dst, ',')
		}
		dst = appendString(dst, k)
		dst = append(dst, ':')
		dst = appendString(dst, h[k])
	}
	return append(dst, '}')
}

func appendFloat(dst []byte, f float64) []byte {
	if math.IsNaN(f) || math.IsInf(f, 0) {
		return append(dst, "null"...)
	}
	// Like encoding/json: plain notation for ordinary magnitudes, exponent otherwise.
	abs := math.Abs(f)
	format := byte('f')
	if abs != 0 && (abs < 1e-6 || abs >= 1e21) {
		format = 'e'
	}
	return strconv.AppendFloat(dst, f, format, -1, 64)
}

// appendBody writes a record's body as appendRaw does, skipping the validation for a body that body
// sealed.
func appendBody(dst []byte, b []byte, asBase64 bool) []byte {
	if sealed(b) {
		return append(dst, b...)
	}
	return appendRaw(dst, b, asBase64)
}

// appendRaw writes b as JSON: null when empty, compacted when valid JSON, otherwise as a string
// (base64 when asBase64 is set or b is not valid UTF-8).
func appendRaw(dst []byte, b []byte, asBase64 bool) []byte {
	switch {
	case len(b) == 0:
		return append(dst, "null"...)
	case validJSON(b): // its strings are valid UTF-8 too
		return appendCompact(dst, b)
	case asBase64 || !utf8.Valid(b):
		// Valid JSON with invalid UTF-8 inside its strings lands here too: base64 keeps every byte.
		return appendBase64(dst, b)
	default:
		return appendStringBytes(dst, b)
	}
}

// appendCompact appends valid JSON b without insignificant whitespace. Valid JSON has no raw control
// characters inside strings, so whitespace outside strings is all there is to drop.
func appendCompact(dst []byte, b []byte) []byte {
	if bytes.IndexByte(b, ' ') < 0 && bytes.IndexByte(b, '\n') < 0 && bytes.IndexByte(b, '\t') < 0 &&
		bytes.IndexByte(b, '\r') < 0 {
		return append(dst, b...) // already compact, as RequestBody and ResponseBody leave it
	}
	inString, escaped := false, false
	for _, c := range b {
		if inString {
			switch {
			case escaped:
				escaped = false
			case c == '\\':
				escaped = true
			case c == '"':
				inString = false
			}
			dst = append(dst, c)
			continue
		}
		switch c {
		case ' ', '\t', '\n', '\r':
			continue
		case '"':
			inString = true
		}
		dst = append(dst, c)
	}
	return dst
}

func appendBase64(dst []byte, b []byte) []byte {
	dst = append(dst, '"')
	dst = base64.StdEncoding.AppendEncode(dst, b)
	return append(dst, '"')
}

const hexDigits = "0123456789abcdef"

// appendString appends s as a JSON string. Invalid UTF-8 becomes U+FFFD, as in encoding/json;
// '<', '>' and '&' are not escaped, U+2028 and U+2029 are. compare's appendJSONString is its twin,
// for diff values: see there why there are two.
func appendString(dst []byte, s string) []byte {
	dst = append(dst, '"')
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if c >= 0x20 && c != '"' && c != '\\' {
				i++
				continue
			}
			dst = append(dst, s[start:i]...)
			switch c {
			case '"', '\\':
				dst = append(dst, '\\', c)
			case '\n':
				dst = append(dst, '\\', 'n')
			case '\r':
				dst = append(dst, '\\', 'r')
			case '\t':
				dst = append(dst, '\\', 't')
			default:
				dst = append(dst, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xf])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			dst = append(dst, s[start:i]...)
			dst = append(dst, `\ufffd`...)
			i += size
			start = i
			continue
		}
		if r == '\u2028' || r == '\u2029' {
			dst = append(dst, s[start:i]...)
			dst = append(dst, '\\', 'u', '2', '0', '2', hexDigits[r&0xf])
			i += size
			start = i
			continue
		}
		i += size
	}
	dst = append(dst, s[start:]...)
	return append(dst, '"')
}

func appendStringBytes(dst []byte, b []byte) []byte {
	// The conversion does not allocate: appendString does not keep its argument.
	return appendString(dst, unsafeString(b))
}

// RequestBody returns a request body as it goes into Record.Request.Body: valid JSON compacted,
// anything else as a base64 JSON string, nil (written as null) when b is empty. The result is a
// fresh copy, so b may come from a pool. It is sealed (see sealLen): Encode writes it without
// validating it again as long as it is not changed.
func RequestBody(b []byte) json.RawMessage {
	return body(b, true)
}

// ResponseBody returns a response body as it goes into Response.Body: valid JSON compacted, valid
// UTF-8 text as a JSON string, other bytes as a base64 JSON string, nil when b is empty. The result
// is a fresh copy, so b may come from a pool, and sealed as RequestBody's is.
func ResponseBody(b []byte) json.RawMessage {
	return body(b, false)
}

func body(b []byte, asBase64 bool) json.RawMessage {
	if len(b) == 0 {
		return nil
	}
	out := appendRaw(make([]byte, 0, len(b)+2+sealLen), b, asBase64)
	return seal(out)
}

// A body that RequestBody or ResponseBody returns is what appendRaw writes for it (valid, compact
// JSON whose strings are valid UTF-8: appendRaw is idempotent), so Encode may copy it as it is. Body
// is a json.RawMessage that anyone may set or change, so Encode must know that these bytes are the
// helper's, unchanged: body seals them with a keyed hash (hash/maphash, a seed chosen when the
// process starts) of their content, stored in the slice's spare capacity after its length, where
// only slicing up to cap reaches. Encode checks the seal (about 0.1 ns a byte, against over 1 ns
// for validating) and validates any body whose seal is missing or does not match: one set by hand,
// a copy, a slice of another, one changed in place or appended to (an append overwrites the seal).
// A seal matches by chance with probability 2^-64.
const sealLen = 8

var sealSeed = maphash.MakeSeed()

// seal stores the seal of b after it, in its capacity, and returns b.
func seal(b []byte) []byte {
	n := len(b)
	b = binary.LittleEndian.AppendUint64(b, maphash.Bytes(sealSeed, b))
	return b[:n]
}

// sealed reports whether b carries the seal of its content.
func sealed(b []byte) bool {
	n := len(b)
	if n == 0 || cap(b)-n < sealLen {
		return false
	}
	return binary.LittleEndian.Uint64(b[n:n+sealLen]) == maphash.Bytes(sealSeed, b)
}

// Cap returns b cut to at most max bytes and whether it was cut. A max of zero or less means no
// limit. A JSON body cut short is no longer valid JSON, so RequestBody and ResponseBody then store
// it as a string; the caller sets the record's truncated flag.
func Cap(b []byte, max int) ([]byte, bool) {
	if max <= 0 || len(b) <= max {
		return b, false
	}
	return b[:max], true
}
