package configs

import (
	"bytes"
	"os"
	"testing"
	"time"
)

// designYAML returns the config of docs/design.md's "Config (contract)" section: the yaml block
// under that heading, read from the document itself so that the test holds the design as written.
func designYAML(t *testing.T) []byte {
	t.Helper()
	doc, err := os.ReadFile("../docs/design.md")
	if err != nil {
		t.Fatal(err)
	}
	_, section, ok := bytes.Cut(doc, []byte("\n## Config (contract"))
	if !ok {
		t.Fatal(`docs/design.md has no "## Config (contract" section`)
	}
	_, block, ok := bytes.Cut(section, []byte("```yaml\n"))
	if !ok {
		t.Fatal("docs/design.md: no yaml block in the Config section")
	}
	block, _, ok = bytes.Cut(block, []byte("```"))
	if !ok {
		t.Fatal("docs/design.md: the Config section's yaml block does not end")
	}
	return block
}

// TestDesignContract loads the documented example and checks the values it spells out.
func TestDesignContract(t *testing.T) {
	c, err := Parse("docs/design.md", designYAML(t))
	if err != nil {
		t.Fatal(err)
	}
	r := c.Routes[0]
	cd := r.Candidates[0]
	k := c.Sinks.Kafka
	for _, tt := range []struct {
		name      string
		got, want any
	}{
		{"listen", c.Listen, "0.0.0.0:8080"},
		{"admin", c.Admin, "127.0.0.1:9901"},
		{"max_request_body", c.MaxRequestBody.Int(), 16 << 20},
		{"shutdown_timeout", c.ShutdownTimeout.D(), 15 * time.Second},
		{"route", r.Name, "iris"},
		{"match.methods", len(r.Match.Methods), 1},
		{"primary.timeout", r.Primary.Timeout.D(), 2 * time.Second},
		{"candidate", cd.Name, "iris-v2"},
		{"sample", cd.Sample.Fraction(), 1.0},
		{"sticky_key", cd.StickyKey, "header:X-User-Id"},
		{"rules", r.Compare.Rules[0].Mode, "argmax"},
		{"agreements", r.Record.Agreements.Fraction(), 0.01},
		{"redact.headers", len(r.Record.Redact.Headers), 2},
		{"file.keep", c.Sinks.File.Keep, 4},
		{"kafka.topic", k.Topic, "shadowproxy.records"},
		{"spool.max_bytes", k.Spool.MaxBytes.Int64(), int64(1 << 30)},
	} {
		if tt.got != tt.want {
			t.Errorf("%s = %v, want %v", tt.name, tt.got, tt.want)
		}
	}
	if got := Summary(c); got != "ok: 1 route, 1 candidate, sinks: file(./shadowproxy-records.jsonl), kafka(shadowproxy.records@127.0.0.1:9092)" {
		t.Errorf("summary %q", got)
	}
}
