package configs

import (
	"errors"
	"os"
	"testing"
)

// FuzzParse checks that no input makes Parse panic or hang, that every failure is Errors with a
// position and a message, and that every config it accepts is complete and round-trips. Seeds:
// testdata/fuzz/FuzzParse, the shipped examples and the error cases of TestParseErrors.
func FuzzParse(f *testing.F) {
	for _, file := range exampleFiles(f) {
		data, err := os.ReadFile(file)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data)
	}
	f.Add([]byte(minimalYAML))
	f.Add([]byte(cand + "        url: http://127.0.0.1:8502\n        sample: 1\n"))
	f.Add([]byte("a: &a [*a, *a]\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		if len(data) > 64<<10 {
			return
		}
		c, err := Parse("fuzz.yaml", data)
		if err != nil {
			var es Errors
			if !errors.As(err, &es) || len(es) == 0 {
				t.Fatalf("error %T %v is not Errors", err, err)
			}
			for _, e := range es {
				if e.Line < 1 || e.Column < 0 || e.Msg == "" || e.File != "fuzz.yaml" {
					t.Fatalf("bad error %+v", *e)
				}
			}
			return
		}
		if len(c.Routes) == 0 || (c.Sinks.File == nil && c.Sinks.Kafka == nil) || c.Reload.Watch == nil {
			t.Fatalf("accepted an incomplete config: %+v", c)
		}
		for _, r := range c.Routes {
			for _, cd := range r.Candidates {
				if cd.Sample == nil || cd.Sample.Fraction() < 0 || cd.Sample.Fraction() > 1 {
					t.Fatalf("sample %v", cd.Sample)
				}
			}
		}
		_ = Summary(c)
		checkRoundTrip(t, c)
	})
}
