package compare

import (
	"encoding/json"
	"errors"
	"testing"
)

func TestPicker(t *testing.T) {
	v2 := `{"model_name":"iris","outputs":[{"name":"scores","shape":[2,2],"datatype":"FP32","data":[0.1,0.9,0.8,0.2]},{"name":"label","shape":[2],"datatype":"INT64","data":[1,0]}]}`
	tests := []struct {
		name, format, path, body string
		want                     string // "" means no value
	}{
		{"tfserving", "", "predictions[0].label", `{"predictions":[{"label":2,"scores":[0.1]}]}`, "2"},
		{"tfserving string", "tfserving", "predictions[1]", `{"predictions":["cat","dog"]}`, `"dog"`},
		{"kserve-v2 label", "", "outputs.label[0]", v2, "1"},
		{"kserve-v2 by shape", FormatKServeV2, "outputs.scores[1]", v2, "[0.8,0.2]"},
		{"kserve-v2 by shape, one value", FormatKServeV2, "outputs.scores[1][0]", v2, "0.8"},
		{"kserve-v2 missing output", "", "outputs.proba[0]", v2, ""},
		{"json", "json", "result.class", `{"result":{"class":"a"}}`, `"a"`},
		{"out of range", "", "predictions[3]", `{"predictions":[1]}`, ""},
		{"error object", "", "predictions[0]", `{"error":"boom"}`, ""},
		{"not json", "", "predictions[0]", `oops`, ""},
		{"openai", "", "choices[0].message.content", `{"object":"chat.completion","choices":[{"message":{"content":"yes"}}]}`, `"yes"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, err := NewPicker(tt.format, tt.path)
			if err != nil {
				t.Fatal(err)
			}
			got, ok := p.Pick(Response{Status: 200, Body: []byte(tt.body)})
			if ok != (tt.want != "") || string(got) != tt.want {
				t.Errorf("Pick = %s, %v; want %s", got, ok, tt.want)
			}
		})
	}
	if _, err := (&Picker{}).Pick(Response{Status: 500}); err {
		t.Error("an error status has a value")
	}
	for _, bad := range []string{"predictions[*].label", "", "outputs[0]"} {
		if _, err := NewPicker(FormatKServeV2, bad); !errors.Is(err, ErrBadPath) {
			t.Errorf("NewPicker(%q) = %v, want ErrBadPath", bad, err)
		}
	}
}

func TestSameValue(t *testing.T) {
	for _, tt := range []struct {
		a, b string
		want bool
	}{
		{"1", "1.0", true}, {`"1"`, "1", false}, {`"cat"`, `"cat"`, true}, {`{"a":1,"b":[2]}`, `{"b":[2.0],"a":1}`, true},
		{`[1,2]`, `[2,1]`, false}, {"null", "null", true}, {"true", "false", false}, {"x y", "x y", true},
	} {
		if got := SameValue([]byte(tt.a), []byte(tt.b)); got != tt.want {
			t.Errorf("SameValue(%s, %s) = %v", tt.a, tt.b, got)
		}
	}
}

// FuzzPick: any answer and any path either give a value that is valid JSON or none, never a panic;
// and SameValue holds a value to itself.
func FuzzPick(f *testing.F) {
	f.Add("predictions[0].label", `{"predictions":[{"label":2}]}`)
	f.Add("outputs.label[0]", `{"model_name":"m","outputs":[{"name":"label","shape":[1,1],"datatype":"INT64","data":[3]}]}`)
	f.Add("choices[0].text", "data: {\"choices\":[{\"text\":\"a\"}]}\n\ndata: [DONE]\n\n")
	f.Fuzz(func(t *testing.T, path, body string) {
		p, err := NewPicker("", path)
		if err != nil {
			return
		}
		v, ok := p.Pick(Response{Status: 200, Body: []byte(body)})
		if !ok {
			return
		}
		if !json.Valid(v) {
			t.Fatalf("Pick(%q) on %q = %q, not JSON", path, body, v)
		}
		if !SameValue(v, v) {
			t.Fatalf("SameValue(%s, itself) is false", v)
		}
	})
}
