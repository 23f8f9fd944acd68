package configs

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
)

// needTool returns the path of a tool the test needs; without it the test skips, except in CI, where
// it fails.
func needTool(t *testing.T, name string) string {
	t.Helper()
	path, err := exec.LookPath(name)
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("%s is required in CI (apt-get install prometheus)", name)
		}
		t.Skipf("%s not installed", name)
	}
	return path
}

func rulesFiles(t *testing.T) (rules, tests []string) {
	t.Helper()
	all, err := filepath.Glob("prometheus/*.yml")
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range all {
		if strings.HasSuffix(f, "_test.yml") {
			tests = append(tests, f)
		} else {
			rules = append(rules, f)
		}
	}
	if len(rules) == 0 || len(tests) == 0 {
		t.Fatal("no rules or rule tests under prometheus/")
	}
	return rules, tests
}

func TestPrometheusRules(t *testing.T) {
	promtool := needTool(t, "promtool")
	rules, tests := rulesFiles(t)
	for _, f := range rules {
		t.Run("check "+f, func(t *testing.T) {
			if out, err := exec.Command(promtool, "check", "rules", f).CombinedOutput(); err != nil {
				t.Fatalf("promtool check rules %s: %v\n%s", f, err, out)
			}
		})
		// Every rules file has its tests beside it.
		if want := strings.TrimSuffix(f, ".yml") + "_test.yml"; !slices.Contains(tests, want) {
			t.Errorf("%s has no promtool test file %s", f, want)
		}
	}
	for _, f := range tests {
		t.Run("test "+f, func(t *testing.T) {
			cmd := exec.Command(promtool, "test", "rules", filepath.Base(f))
			cmd.Dir = filepath.Dir(f)
			if out, err := cmd.CombinedOutput(); err != nil {
				t.Fatalf("promtool test rules %s: %v\n%s", f, err, out)
			}
		})
	}
}

// knownMetrics are the metrics shadowproxy exports (see the README's table), by name without the
// histogram suffixes.
var knownMetrics = []string{
	"shadowproxy_requests_total", "shadowproxy_upstream_duration_seconds", "shadowproxy_shadow_requests_total",
	"shadowproxy_shadow_drops_total", "shadowproxy_comparisons_total", "shadowproxy_predictions_total",
	"shadowproxy_field_disagreements_total", "shadowproxy_noise_filtered_total", "shadowproxy_chaos_injected_total",
	"shadowproxy_tee_queue_depth", "shadowproxy_paired_latency_delta_seconds", "shadowproxy_records_total",
	"shadowproxy_records_dropped_total", "shadowproxy_spool_bytes", "shadowproxy_spool_records",
	"shadowproxy_spool_corrupt_total", "shadowproxy_kafka_write_duration_seconds", "shadowproxy_kafka_errors_total",
	"shadowproxy_file_sink_errors_total", "shadowproxy_config_reloads_total",
	"shadowproxy_truth_labels_total", "shadowproxy_truth_compared_total", "shadowproxy_truth_judged_total",
	"shadowproxy_truth_correct_total", "shadowproxy_shadow_rewrites_total",
}

var (
	metricName = regexp.MustCompile(`shadowproxy[_:][a-zA-Z0-9_:]+`)
	recordName = regexp.MustCompile(`(?m)^\s*- record:\s*(\S+)`)
)

func TestDashboards(t *testing.T) {
	known := map[string]bool{}
	for _, m := range knownMetrics {
		known[m] = true
	}
	rules, _ := rulesFiles(t)
	for _, f := range rules {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range recordName.FindAllStringSubmatch(string(data), -1) {
			known[m[1]] = true
		}
	}
	files, err := filepath.Glob("grafana/*.json")
	if err != nil || len(files) == 0 {
		t.Fatalf("no dashboards: %v", err)
	}
	for _, f := range files {
		t.Run(f, func(t *testing.T) {
			d, err := LoadDashboard(f)
			if err != nil {
				t.Fatal(err)
			}
			if !strings.HasPrefix(d.Title, "shadowproxy") {
				t.Errorf("title %q", d.Title)
			}
			panels := d.AllPanels()
			if len(panels) < 10 {
				t.Errorf("%d panels", len(panels))
			}
			for _, p := range panels {
				if len(p.Description) < 40 {
					t.Errorf("panel %q: no description saying how to read it", p.Title)
				}
				if len(p.Targets) == 0 {
					t.Errorf("panel %q: no query", p.Title)
				}
				for _, tg := range p.Targets {
					for _, m := range metricName.FindAllString(tg.Expr, -1) {
						base := strings.TrimSuffix(strings.TrimSuffix(strings.TrimSuffix(m, "_bucket"), "_sum"), "_count")
						if !known[base] {
							t.Errorf("panel %q queries unknown metric %s", p.Title, m)
						}
					}
				}
			}
			qs, err := DashboardQueries(f)
			if err != nil {
				t.Fatal(err)
			}
			for _, q := range qs {
				if strings.Contains(q, "$") {
					t.Errorf("query keeps a template variable: %s", q)
				}
			}
		})
	}
}
