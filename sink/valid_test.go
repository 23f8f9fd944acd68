package sink

import (
	"encoding/json"
	"strings"
	"testing"
	"unicode/utf8"
)

var validCases = []string{
	`{}`, `[]`, ` {"a" : [1, -2.5e+3, 0, true, false, null, "x\u00e9\n"]} `, `"s"`, `0`, `-0.0E1`,
	`{"a":{"b":[[],{}]}}`, "\t[\r\n]\n", `"\/\b\f"`, `1e5`,
	``, ` `, `{`, `}`, `[1,]`, `{"a"}`, `{"a":}`, `{"a":1,}`, `{,}`, `[,1]`, `01`, `1.`, `.1`, `-`,
	`+1`, `1e`, `1e+`, `tru`, `nul`, `NaN`, `"\x"`, `"\u12"`, `"\u12G4"`, "\"a\nb\"", `"abc`, `[1 2]`,
	`{"a":1 "b":2}`, `1 2`, `[}`, `{]`, `{1:2}`, `"a"x`, `[1]]`, "\x00", `[-]`, `-01`, `1E-0`,
	strings.Repeat("[", 10000) + strings.Repeat("]", 10000),
	strings.Repeat("[", 10001) + strings.Repeat("]", 10001),
}

func TestValidJSONMatchesEncodingJSON(t *testing.T) {
	for _, c := range validCases {
		if got, want := validJSON([]byte(c)), json.Valid([]byte(c)); got != want {
			t.Errorf("validJSON(%.40q) = %v, json.Valid = %v", c, got, want)
		}
	}
}

func FuzzValidJSON(f *testing.F) {
	for _, c := range validCases {
		if len(c) < 1000 {
			f.Add([]byte(c))
		}
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		if got, want := validJSON(b), json.Valid(b); got != want {
			t.Fatalf("validJSON(%q) = %v, json.Valid = %v", b, got, want)
		}
	})
}

// BenchmarkValidJSON validates bench/modelserver's ~1 KB answer, as appendRaw does each body it
// is not sure of (utf8.Valid included).
func BenchmarkValidJSON(b *testing.B) {
	one := `{"label":"versicolor","scores":[0.0123,0.9712,0.0165],"classes":["setosa","versicolor","virginica"]}`
	body := []byte(`{"predictions":[` + strings.TrimSuffix(strings.Repeat(one+",", 10), ",") + `],"model_version":"1"}`)
	b.SetBytes(int64(len(body)))
	b.ReportAllocs()
	for b.Loop() {
		if !utf8.Valid(body) || !validJSON(body) {
			b.Fatal("invalid")
		}
	}
}
