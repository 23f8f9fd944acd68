package main

import (
	"os"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"
	"go.yaml.in/yaml/v3"

	"github.com/shadowproxy/shadowproxy/compare"
	"github.com/shadowproxy/shadowproxy/configs"
	"github.com/shadowproxy/shadowproxy/proxy"
	"github.com/shadowproxy/shadowproxy/sink"
	"github.com/shadowproxy/shadowproxy/tee"
)

// defaultsYAML sets only what has no default, so that every other setting takes its own.
const defaultsYAML = `
routes:
  - name: r
    primary: {url: "http://127.0.0.1:8501"}
    secondary: {url: "http://127.0.0.1:8503"}
    candidates:
      - {name: c, url: "http://127.0.0.1:8502"}
    compare:
      rules:
        - {path: "top", mode: topk}
        - {path: "embedding", mode: cosine}
    truth: {prediction: "label"}
sinks:
  file: {}
  kafka: {brokers: ["127.0.0.1:9092"], topic: records}
`

// pct is a share that the README writes as a percentage.
type pct float64

// effectiveDefaults maps a config that sets nothing onto each package's Options through cmd's own
// mapping, and returns what each package makes of it (its WithDefaults, the values it runs with),
// by the setting's YAML path.
func effectiveDefaults(t *testing.T) map[string]any {
	t.Helper()
	cfg, err := configChecks.Parse("defaults.yaml", []byte(defaultsYAML))
	if err != nil {
		t.Fatal(err)
	}
	rc := &cfg.Routes[0]
	po := proxyOptions(cfg, nil, zap.NewNop(), nil).WithDefaults()
	to, err := teeOptions(rc, cfg, nil, tee.NewMetrics(prometheus.NewRegistry(), nil), zap.NewNop())
	if err != nil {
		t.Fatal(err)
	}
	to = to.WithDefaults()
	cmp, err := compare.New(compareOptions(rc.Compare))
	if err != nil {
		t.Fatal(err)
	}
	primary := proxy.Upstream{URL: rc.Primary.URL, Timeout: rc.Primary.Timeout.D(), MaxConns: rc.Primary.MaxConns, IdleTimeout: rc.Primary.IdleTimeout.D()}.WithDefaults()
	fo := fileOptions(cfg.Sinks.File, nil, nil).WithDefaults()
	ko, err := kafkaOptions(cfg.Sinks.Kafka, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	ko = ko.WithDefaults()
	truth, err := truthRoutes(cfg)
	if err != nil {
		t.Fatal(err)
	}
	tr := truth["r"].WithDefaults()
	cand := to.Candidates[0]
	return map[string]any{
		"listen":           cfg.Listen,
		"admin":            cfg.Admin,
		"max_request_body": int64(po.MaxRequestBody),
		"max_header_bytes": int64(po.MaxHeaderBytes),
		"read_timeout":     po.ReadTimeout,
		"write_timeout":    po.WriteTimeout,
		"idle_timeout":     po.IdleTimeout,
		"shutdown_timeout": cfg.ShutdownTimeout.D(),
		"reload.watch":     *cfg.Reload.Watch,
		"reload.debounce":  cfg.Reload.Debounce.D(),
		"log.level":        cfg.Log.Level,
		"log.format":       cfg.Log.Format,

		"primary.timeout":           primary.Timeout,
		"primary.max_conns":         primary.MaxConns,
		"primary.idle_timeout":      primary.IdleTimeout,
		"secondary.idle_timeout":    to.Secondary.IdleTimeout,
		"candidates[].idle_timeout": cand.IdleTimeout,
		"secondary.timeout":         to.Secondary.Timeout,
		"secondary.max_conns":       to.Secondary.Concurrency,
		"candidates[].sample":       pct(cand.Sample),
		"candidates[].timeout":      cand.Timeout,
		"candidates[].concurrency":  cand.Concurrency,
		"candidates[].queue":        cand.Queue,

		"compare.format":                 cmp.Format(),
		"compare.tolerance.abs":          *rc.Compare.Tolerance.Abs,
		"compare.tolerance.rel":          *rc.Compare.Tolerance.Rel,
		"compare.max_diffs":              cmp.MaxDiffs(),
		"compare.field_labels":           to.FieldLabels,
		"compare.noise.relative":         pct(to.Noise.Relative),
		"compare.noise.absolute":         pct(to.Noise.Absolute),
		"compare.rules[].k":              cmp.Rules()[0].K,
		"compare.rules[].min_similarity": cmp.Rules()[1].MinSimilarity,

		"record.disagreements":  pct(to.Record.Disagreements),
		"record.agreements":     pct(to.Record.Agreements),
		"record.max_body":       int64(to.MaxBody),
		"record.redact.headers": to.Record.RedactHeaders,
		"record.redact.query":   to.Record.RedactQuery,
		"truth.window":          tr.Window,
		"truth.max_pending":     tr.MaxPending,

		"sinks.file.path":                  fo.Path,
		"sinks.file.max_bytes":             fo.MaxBytes,
		"sinks.file.keep":                  fo.Keep,
		"sinks.file.buffer":                fo.Buffer,
		"sinks.kafka.acks":                 ko.Acks,
		"sinks.kafka.compression":          ko.Compression,
		"sinks.kafka.batch_size":           ko.BatchSize,
		"sinks.kafka.batch_timeout":        ko.BatchTimeout,
		"sinks.kafka.client_id":            ko.ClientID,
		"sinks.kafka.buffer":               ko.Buffer,
		"sinks.kafka.spool.dir":            ko.Spool.Dir,
		"sinks.kafka.spool.max_bytes":      ko.Spool.MaxBytes,
		"sinks.kafka.spool.fsync":          ko.Spool.Fsync,
		"sinks.kafka.spool.fsync_interval": ko.Spool.FsyncInterval,
	}
}

// TestDefaultsOfAMinimalConfig pins what a config that sets nothing runs with: a default that moves
// (in configs or in the package that owns it) fails here, and in the README's table below.
func TestDefaultsOfAMinimalConfig(t *testing.T) {
	want := map[string]any{
		"listen": "0.0.0.0:8080", "admin": "127.0.0.1:9901",
		"max_request_body": int64(16 << 20), "max_header_bytes": int64(16 << 10),
		"read_timeout": 30 * time.Second, "write_timeout": 30 * time.Second, "idle_timeout": 90 * time.Second,
		"shutdown_timeout": 15 * time.Second, "reload.watch": true, "reload.debounce": time.Second,
		"log.level": "info", "log.format": "json",
		"primary.timeout": 2 * time.Second, "primary.max_conns": 1024, "secondary.timeout": 2 * time.Second,
		"secondary.max_conns": 64,
		"candidates[].sample": pct(1), "candidates[].timeout": 5 * time.Second,
		"candidates[].concurrency": 64, "candidates[].queue": 1024,
		"compare.format": "auto", "compare.tolerance.abs": 1e-6, "compare.tolerance.rel": 1e-4,
		"compare.max_diffs": 32, "compare.field_labels": 20,
		"compare.noise.relative": pct(0.2), "compare.noise.absolute": pct(0.0003),
		"compare.rules[].k": 5, "compare.rules[].min_similarity": 0.99,
		"record.disagreements": pct(1), "record.agreements": pct(0.01), "record.max_body": int64(64 << 10),
		"record.redact.headers": append(slices.Clone(tee.CredentialHeaders), "Set-Cookie"),
		"record.redact.query":   tee.DefaultRedactQuery,
		"truth.window":          time.Hour, "truth.max_pending": 100000,
		"primary.idle_timeout": time.Second, "secondary.idle_timeout": time.Second, "candidates[].idle_timeout": time.Second,
		"sinks.file.path": "./shadowproxy-records.jsonl", "sinks.file.max_bytes": int64(256 << 20),
		"sinks.file.keep": 4, "sinks.file.buffer": 4096,
		"sinks.kafka.acks": "all", "sinks.kafka.compression": "none", "sinks.kafka.batch_size": 100,
		"sinks.kafka.batch_timeout": 10 * time.Millisecond, "sinks.kafka.client_id": "shadowproxy",
		"sinks.kafka.buffer": 4096, "sinks.kafka.spool.dir": "./spool", "sinks.kafka.spool.max_bytes": int64(1 << 30),
		"sinks.kafka.spool.fsync": "interval", "sinks.kafka.spool.fsync_interval": time.Second,
	}
	got := effectiveDefaults(t)
	for k, w := range want {
		if g, ok := got[k]; !ok || !reflect.DeepEqual(g, w) {
			t.Errorf("%s = %#v, want %#v", k, g, w)
		}
	}
	for k := range got {
		if _, ok := want[k]; !ok {
			t.Errorf("%s has no expected default here", k)
		}
	}
}

// defaultRowRE is a row of the README's defaults table: | `setting` | `value` | owner |.
var defaultRowRE = regexp.MustCompile("^\\| `([^`]+)` \\| `([^`]*)` \\| (.+) \\|$")

// TestREADMEDefaultsTable checks the README's table of defaults, row by row, against what the
// packages run with, and that it lists every setting here.
func TestREADMEDefaultsTable(t *testing.T) {
	b, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	got := effectiveDefaults(t)
	seen := map[string]bool{}
	for line := range strings.SplitSeq(string(b), "\n") {
		m := defaultRowRE.FindStringSubmatch(strings.TrimSpace(line))
		if m == nil {
			continue
		}
		key, raw := m[1], m[2]
		g, ok := got[key]
		if !ok {
			t.Errorf("README: %s is not a setting with a default", key)
			continue
		}
		seen[key] = true
		if w := readmeValue(t, key, raw, g); !reflect.DeepEqual(w, g) {
			t.Errorf("README: %s = %s (%#v), but it runs with %#v", key, raw, w, g)
		}
		checkOwner(t, key, m[3])
	}
	for k := range got {
		if !seen[k] {
			t.Errorf("README: the defaults table lacks %s", k)
		}
	}
}

// ownerTypes are the options whose fields the table names as where a default lives.
var ownerTypes = map[string]any{
	"proxy.Options": proxy.Options{}, "proxy.Upstream": proxy.Upstream{},
	"tee.Options": tee.Options{}, "tee.UpstreamOptions": tee.UpstreamOptions{}, "tee.NoiseOptions": tee.NoiseOptions{},
	"tee.RecordOptions": tee.RecordOptions{}, "tee.TruthRouteOptions": tee.TruthRouteOptions{},
	"compare.Options": compare.Options{}, "compare.Rule": compare.Rule{},
	"sink.FileOptions": sink.FileOptions{}, "sink.KafkaOptions": sink.KafkaOptions{}, "sink.SpoolOptions": sink.SpoolOptions{},
}

var ownerRE = regexp.MustCompile("^`([a-z]+\\.[A-Za-z]+)\\.([A-Za-z]+)`")

// checkOwner checks that an owner written as `pkg.Type.Field` names a field that exists; configs'
// own defaults are named by constant or function.
func checkOwner(t *testing.T, key, owner string) {
	t.Helper()
	if strings.HasPrefix(owner, "`configs") {
		return
	}
	m := ownerRE.FindStringSubmatch(owner)
	if m == nil {
		t.Errorf("README: %s: owner %s is not `pkg.Type.Field`", key, owner)
		return
	}
	typ, ok := ownerTypes[m[1]]
	if !ok {
		t.Errorf("README: %s: owner type %s is not one of the options", key, m[1])
		return
	}
	if _, ok := reflect.TypeOf(typ).FieldByName(m[2]); !ok {
		t.Errorf("README: %s: %s has no field %s", key, m[1], m[2])
	}
}

// readmeValue reads raw, a value as written in the YAML file, as the type of like.
func readmeValue(t *testing.T, key, raw string, like any) any {
	t.Helper()
	decode := func(v any) {
		if err := yaml.Unmarshal([]byte(raw), v); err != nil {
			t.Errorf("README: %s: %q: %v", key, raw, err)
		}
	}
	switch like.(type) {
	case time.Duration:
		var d configs.Duration
		decode(&d)
		return d.D()
	case int64:
		var n configs.ByteSize
		decode(&n)
		return n.Int64()
	case pct:
		var p configs.Percent
		decode(&p)
		return pct(p.Fraction())
	case int:
		var n int
		decode(&n)
		return n
	case float64:
		var f float64
		decode(&f)
		return f
	case bool:
		var v bool
		decode(&v)
		return v
	case []string:
		var v []string
		decode(&v)
		return v
	}
	var s string
	decode(&s)
	return s
}
