package compare

import (
	"encoding/json"
	"errors"
	"testing"
)

func TestSetJSON(t *testing.T) {
	tests := []struct {
		name, doc, path, value, want string
		err                          error
	}{
		{"replace a key", `{"model":"llama-3-70b","messages":[]}`, "model", `"llama-v2"`, `{"model":"llama-v2","messages":[]}`, nil},
		{"add a missing key", `{"a":1}`, "b", `{"c":[1,2]}`, `{"a":1,"b":{"c":[1,2]}}`, nil},
		{"nested key", `{"parameters":{"version":"1"}}`, "parameters.version", `2`, `{"parameters":{"version":2}}`, nil},
		{"an index", `{"inputs":[{"name":"x"},{"name":"y"}]}`, "inputs[1].name", `"z"`, `{"inputs":[{"name":"x"},{"name":"z"}]}`, nil},
		{"every element", `{"inputs":[{"name":"x"},{"name":"y"}]}`, "inputs[*].name", `"z"`, `{"inputs":[{"name":"z"},{"name":"z"}]}`, nil},
		{"quoted key", `{"a.b":1}`, `["a.b"]`, `true`, `{"a.b":true}`, nil},
		{"missing parent", `{"a":1}`, "b.c", `1`, "", ErrNoPath},
		{"index out of range", `{"a":[]}`, "a[0].b", `1`, "", ErrNoPath},
		{"parent not an object", `{"a":[1]}`, "a.b", `1`, "", ErrNoPath},
		{"a path ending in an index", `{"a":[1]}`, "a[0]", `1`, "", ErrBadPath},
		{"a * key", `{"a":{"b":1}}`, "a.*", `1`, "", ErrBadPath},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := SetJSON([]byte(tt.doc), tt.path, []byte(tt.value))
			if tt.err != nil {
				if !errors.Is(err, tt.err) || string(got) != tt.doc {
					t.Fatalf("SetJSON = %s, %v; want the document unchanged and %v", got, err, tt.err)
				}
				return
			}
			if err != nil || string(got) != tt.want {
				t.Fatalf("SetJSON = %s, %v; want %s", got, err, tt.want)
			}
		})
	}
	if _, err := SetJSON([]byte("not json"), "a", []byte("1")); err == nil {
		t.Error("SetJSON on a body that is not JSON: no error")
	}
}

// FuzzSetJSON: any document, path and value: no panic; on success the result is valid JSON, on
// failure the document comes back unchanged.
func FuzzSetJSON(f *testing.F) {
	f.Add([]byte(`{"model":"a","inputs":[{"name":"x"}]}`), "inputs[*].name", []byte(`"y"`))
	f.Add([]byte(`{"a":{"b":[1,2]}}`), "a.c", []byte(`{"d":null}`))
	f.Add([]byte(`[1,2]`), "a", []byte(`1`))
	f.Fuzz(func(t *testing.T, doc []byte, path string, value []byte) {
		out, err := SetJSON(doc, path, value)
		if err != nil {
			if string(out) != string(doc) {
				t.Fatalf("SetJSON failed (%v) and changed the document", err)
			}
			return
		}
		if !json.Valid(out) {
			t.Fatalf("SetJSON(%q, %q, %q) = %q: not JSON", doc, path, value, out)
		}
	})
}
