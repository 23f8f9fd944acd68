package configs

import (
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"
)

const minimalYAML = `
routes:
  - name: iris
    primary: {url: "http://127.0.0.1:8501"}
    candidates:
      - {name: iris-v2, url: "http://127.0.0.1:8502"}
`

// TestDefaults checks the defaults configs owns, and that it leaves every other field left out at
// zero for the package it is mapped onto (cmd/shadowproxy's TestDefaultsOfAMinimalConfig checks what
// those packages make of it).
func TestDefaults(t *testing.T) {
	c, err := Parse("min.yaml", []byte(minimalYAML))
	if err != nil {
		t.Fatal(err)
	}
	check := func(name string, got, want any) {
		t.Helper()
		if !reflect.DeepEqual(got, want) {
			t.Errorf("%s = %v, want %v", name, got, want)
		}
	}
	check("listen", c.Listen, "0.0.0.0:8080")
	check("admin", c.Admin, "127.0.0.1:9901")
	check("shutdown_timeout", c.ShutdownTimeout.D(), 15*time.Second)
	check("reload.watch", *c.Reload.Watch, true)
	check("reload.debounce", c.Reload.Debounce.D(), time.Second)
	check("log", c.Log, Log{Level: "info", Format: "json"})
	check("max_request_body", c.MaxRequestBody, ByteSize(0))
	check("max_header_bytes", c.MaxHeaderBytes, ByteSize(0))
	check("read_timeout", c.ReadTimeout, Duration(0))
	check("write_timeout", c.WriteTimeout, Duration(0))
	check("idle_timeout", c.IdleTimeout, Duration(0))

	r := c.Routes[0]
	check("match", r.Match, Match{})
	check("primary", r.Primary, Upstream{URL: "http://127.0.0.1:8501"})
	check("secondary", r.Secondary, (*Upstream)(nil))
	cd := r.Candidates[0]
	check("sample", cd.Sample.Fraction(), 1.0)
	cd.Sample = nil
	check("candidate", cd, Candidate{Name: "iris-v2", URL: "http://127.0.0.1:8502"})
	check("tolerance.abs", *r.Compare.Tolerance.Abs, 1e-6)
	check("tolerance.rel", *r.Compare.Tolerance.Rel, 1e-4)
	cmp := r.Compare
	cmp.Tolerance = Tolerance{}
	check("compare", cmp, Compare{})
	check("record.disagreements", r.Record.Disagreements.Fraction(), 1.0)
	check("record.agreements", r.Record.Agreements.Fraction(), 0.01)
	check("record.max_body", r.Record.MaxBody, ByteSize(0))
	check("redact.headers", r.Record.Redact.Headers, []string(nil)) // nil: tee.DefaultRedactHeaders
	check("redact.query", r.Record.Redact.Query, []string(nil))     // nil: tee.DefaultRedactQuery

	check("sinks.file", *c.Sinks.File, FileSink{Path: "./shadowproxy-records.jsonl"})
	check("sinks.kafka", c.Sinks.Kafka, (*KafkaSink)(nil))
	check("summary", Summary(c), "ok: 1 route, 1 candidate, sinks: file(./shadowproxy-records.jsonl)")

	k, err := Parse("k.yaml", []byte(minimalYAML+"sinks: {kafka: {brokers: [\"127.0.0.1:9092\"], topic: t}}\n"))
	if err != nil {
		t.Fatal(err)
	}
	check("sinks.kafka", *k.Sinks.Kafka, KafkaSink{Brokers: []string{"127.0.0.1:9092"}, Topic: "t", Spool: Spool{Dir: "./spool"}})
}

func TestLoad(t *testing.T) {
	path := filepath.Join(t.TempDir(), "c.yaml")
	if err := os.WriteFile(path, []byte(minimalYAML+"listen: 127.0.0.1:0\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	c, err := Load(path)
	if err != nil {
		t.Fatal(err)
	}
	if c.Listen != "127.0.0.1:0" {
		t.Errorf("listen = %q", c.Listen)
	}
	_, err = Load(filepath.Join(t.TempDir(), "missing.yaml"))
	if !errors.Is(err, os.ErrNotExist) || !strings.HasPrefix(err.Error(), "read config: ") {
		t.Errorf("missing file: %v", err)
	}
}

// Checks report a problem another package finds in a path where the path is written, next to the
// config's own problems, and only for the fields they check.
func TestChecks(t *testing.T) {
	const cfg = `routes:
  - name: r
    match: {path_prefix: /}
    primary: {url: "http://127.0.0.1:8000"}
    compare:
      format: kserve-v2
      ignore: [fine, wrong.ignore]
      rules:
        - {path: wrong.rule, mode: argmax}
        - {path: fine, mode: exact}
`
	var seen []string
	ch := Checks{ComparePath: func(format, path string) error {
		seen = append(seen, format+" "+path)
		if strings.HasPrefix(path, "wrong") {
			return errors.New("no such path")
		}
		return nil
	}}
	_, err := ch.Parse("c.yaml", []byte(cfg))
	var es Errors
	if !errors.As(err, &es) || len(es) != 2 {
		t.Fatalf("Parse: %v, want two errors", err)
	}
	for i, want := range []string{
		"c.yaml:7:22: routes[0].compare.ignore[1]: no such path",
		"c.yaml:9:18: routes[0].compare.rules[0].path: no such path",
	} {
		if es[i].Error() != want {
			t.Errorf("error %d: %q, want %q", i, es[i].Error(), want)
		}
	}
	if want := []string{"kserve-v2 fine", "kserve-v2 wrong.ignore", "kserve-v2 wrong.rule", "kserve-v2 fine"}; !slices.Equal(seen, want) {
		t.Errorf("checked %q, want %q", seen, want)
	}
	// Without checks (Parse), the same config loads.
	if _, err := Parse("c.yaml", []byte(cfg)); err != nil {
		t.Fatalf("Parse without checks: %v", err)
	}
}
