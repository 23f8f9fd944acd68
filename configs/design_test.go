package configs

import (
	"testing"
	"time"
)

// designYAML is the config of DESIGN.md's "Config (contract)" section, verbatim.
const designYAML = `listen: "0.0.0.0:8080"          # client-facing
admin: "127.0.0.1:9901"         # /metrics /healthz /readyz /status ; loopback by default
max_request_body: 16MiB         # larger client bodies get 413
shutdown_timeout: 15s           # drain window on SIGTERM
log: {level: info, format: json}
routes:
  - name: iris                  # used as the ` + "`" + `route` + "`" + ` label and in records
    match: {path_prefix: /v1/models/iris, methods: [POST]}   # first matching route wins; host/headers optional
    primary: {url: "http://127.0.0.1:8501", timeout: 2s}
    candidates:
      - name: iris-v2           # used as the ` + "`" + `candidate` + "`" + ` label and in records
        url: "http://127.0.0.1:8502"
        sample: 100%            # share of matching requests mirrored to this candidate
        sticky_key: "header:X-User-Id"   # optional: same key -> same decision, on every replica
        timeout: 5s
        concurrency: 64         # in-flight shadow requests to this candidate
        queue: 1024             # waiting shadows; beyond it they are dropped and counted
    compare:
      format: auto              # auto | json | raw | tfserving | kserve-v1 | kserve-v2 | mlflow | openai
      ignore: ["model_version", "served_at"]      # paths never compared
      tolerance: {abs: 1.0e-6, rel: 1.0e-4}       # numbers closer than this agree
      rules:                    # ML-aware rules for chosen paths (see compare)
        - {path: "predictions[*].scores", mode: argmax}
    record:
      disagreements: 100%       # share of disagreements written to the sinks
      agreements: 1%            # share of agreements written too, for unbiased estimates
      max_body: 64KiB
      redact: {headers: [Authorization, Cookie], fields: []}
sinks:
  file: {path: ./shadowproxy-records.jsonl, max_bytes: 256MiB, keep: 4}   # the default when no Kafka is configured
  kafka:
    brokers: ["127.0.0.1:9092"]
    topic: shadowproxy.records
    spool: {dir: ./spool, max_bytes: 1GiB}     # records wait here while Kafka is unreachable
`

// TestDesignContract loads the documented example and checks the values it spells out.
func TestDesignContract(t *testing.T) {
	c, err := Parse("DESIGN.md", []byte(designYAML))
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
