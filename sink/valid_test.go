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
	// UTF-8: valid in strings; invalid, truncated, overlong or a surrogate in strings; any outside.
	`"é€😀"`, `{"é":"x"}`, "\"\xff\"", "\"\xc3\"", "\"\xe2\x82\"", "\"\xc0\xaf\"", "\"\xed\xa0\x80\"",
	"\"\xf4\x90\x80\x80\"", "[1]\xc3\xa9", "\xef\xbb\xbf{}", `"\u00e9é\n"`,
}

func TestValidJSONMatchesEncodingJSON(t *testing.T) {
	for _, c := range validCases {
		if got, want := validJSON([]byte(c)), json.Valid([]byte(c)) && utf8.ValidString(c); got != want {
			t.Errorf("validJSON(%.40q) = %v, json.Valid and utf8.Valid = %v", c, got, want)
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
		if got, want := validJSON(b), json.Valid(b) && utf8.Valid(b); got != want {
			t.Fatalf("validJSON(%q) = %v, json.Valid and utf8.Valid = %v", b, got, want)
		}
	})
}

// BenchmarkValidJSON validates bench/modelserver's ~1 KB answer, as appendRaw does each body it
// is not sure of.
func BenchmarkValidJSON(b *testing.B) {
	one := `{"label":"versicolor","scores":[0.0123,0.9712,0.0165],"classes":["setosa","versicolor","virginica"]}`
	body := []byte(`{"predictions":[` + strings.TrimSuffix(strings.Repeat(one+",", 10), ",") + `],"model_version":"1"}`)
	b.SetBytes(int64(len(body)))
	b.ReportAllocs()
	for b.Loop() {
		if !validJSON(body) {
			b.Fatal("invalid")
		}
	}
}
