package sink

import (
	"encoding/base64"
	"encoding/json"
	"unicode/utf8"
	"bytes"
)

// TEMPORARY until the sink branch merges.
func RequestBody(b []byte) json.RawMessage {
	if len(b) == 0 {
		return json.RawMessage(`""`)
	}
	if json.Valid(b) {
		var buf bytes.Buffer
		_ = json.Compact(&buf, b)
		return buf.Bytes()
	}
	out, _ := json.Marshal(base64.StdEncoding.EncodeToString(b))
	return out
}

func ResponseBody(b []byte) json.RawMessage {
	if json.Valid(b) && len(b) > 0 {
		var buf bytes.Buffer
		_ = json.Compact(&buf, b)
		return buf.Bytes()
	}
	if utf8.Valid(b) {
		out, _ := json.Marshal(string(b))
		return out
	}
	out, _ := json.Marshal(base64.StdEncoding.EncodeToString(b))
	return out
}
