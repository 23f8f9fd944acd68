package configs

import (
	"bytes"
	"path/filepath"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"
)

// exampleFiles are the shipped example configs: configs/*.yaml and *.yml, leaving out promtool test
// files. Grafana dashboards, Prometheus rules and Kubernetes manifests live in subdirectories.
func exampleFiles(t testing.TB) []string {
	var files []string
	for _, pat := range []string{"*.yaml", "*.yml"} {
		m, err := filepath.Glob(pat)
		if err != nil {
			t.Fatal(err)
		}
		for _, f := range m {
			if !strings.HasSuffix(f, "_test.yml") && !strings.HasSuffix(f, "_test.yaml") {
				files = append(files, f)
			}
		}
	}
	return files
}

func TestExamplesLoad(t *testing.T) {
	files := exampleFiles(t)
	for _, want := range []string{"shadowproxy.yaml", "minimal.yaml", "kafka.yaml", "kserve-v2.yaml", "openai.yaml", "triton-two-models.yaml", "grpc-kserve-v2.yaml"} {
		found := false
		for _, f := range files {
			found = found || f == want
		}
		if !found {
			t.Errorf("example %s is missing", want)
		}
	}
	for _, f := range files {
		t.Run(f, func(t *testing.T) {
			c, err := Load(f)
			if err != nil {
				t.Fatal(err)
			}
			if s := Summary(c); !strings.HasPrefix(s, "ok: ") {
				t.Errorf("summary %q", s)
			}
			checkRoundTrip(t, c)
		})
	}
}

// TestShippedExample pins what docs/design.md promises of the full example.
func TestShippedExample(t *testing.T) {
	c, err := Load("shadowproxy.yaml")
	if err != nil {
		t.Fatal(err)
	}
	r := c.Routes[0]
	if r.Primary.URL != "http://127.0.0.1:8501" || r.Candidates[0].URL != "http://127.0.0.1:8502" {
		t.Errorf("primary %s, candidate %s", r.Primary.URL, r.Candidates[0].URL)
	}
	if c.Sinks.File == nil || c.Sinks.Kafka != nil {
		t.Errorf("sinks = %+v, want the file sink only", c.Sinks)
	}
	if got := Summary(c); got != "ok: 1 route, 1 candidate, sinks: file(./shadowproxy-records.jsonl)" {
		t.Errorf("summary %q", got)
	}
	k, err := Load("kafka.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if got := Summary(k); got != "ok: 1 route, 1 candidate, sinks: file(./shadowproxy-records.jsonl), kafka(shadowproxy.records@127.0.0.1:9092)" {
		t.Errorf("kafka summary %q", got)
	}
}

// checkRoundTrip marshals a loaded config, loads that again and checks nothing changed: every
// value Load produces can be written back in the YAML it reads.
func checkRoundTrip(t testing.TB, c *Config) {
	t.Helper()
	out, err := yaml.Marshal(c)
	if err != nil {
		t.Fatalf("marshal: %v", err)
	}
	c2, err := Parse("roundtrip.yaml", out)
	if err != nil {
		t.Fatalf("the marshalled config does not load: %v\n%s", err, out)
	}
	out2, err := yaml.Marshal(c2)
	if err != nil {
		t.Fatalf("marshal again: %v", err)
	}
	if !bytes.Equal(out, out2) {
		t.Fatalf("round trip changed the config:\n%s\n---\n%s", out, out2)
	}
}
