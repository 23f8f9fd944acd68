package main

import (
	"encoding/json"
	"fmt"
	"io"
	"math"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/valyala/fasthttp"

	"github.com/shadowproxy/shadowproxy/compare/stats"
	"github.com/shadowproxy/shadowproxy/configs"
	"github.com/shadowproxy/shadowproxy/proxy/proxytest"
)

// needTool returns the path of a tool the test needs; without it the test skips, except in CI (where
// .ci/run installs it), where it fails.
func needTool(t *testing.T, name string) string {
	t.Helper()
	path, err := exec.LookPath(name)
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("%s is required in CI", name)
		}
		t.Skipf("%s not installed", name)
	}
	return path
}

func freePort(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// promQuery runs an instant query and returns its vector.
func promQuery(t *testing.T, prom, q string) []struct {
	Metric map[string]string `json:"metric"`
	Value  [2]any            `json:"value"`
} {
	t.Helper()
	resp, err := http.Get("http://" + prom + "/api/v1/query?query=" + url.QueryEscape(q))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	var r struct {
		Status string `json:"status"`
		Error  string `json:"error"`
		Data   struct {
			ResultType string `json:"resultType"`
			Result     []struct {
				Metric map[string]string `json:"metric"`
				Value  [2]any            `json:"value"`
			} `json:"result"`
		} `json:"data"`
	}
	if err := json.Unmarshal(body, &r); err != nil || r.Status != "success" {
		t.Fatalf("query %s: %s %v %s", q, r.Status, err, r.Error)
	}
	return r.Data.Result
}

func sampleValue(t *testing.T, v [2]any) float64 {
	f, err := strconv.ParseFloat(v[1].(string), 64)
	if err != nil {
		t.Fatal(err)
	}
	return f
}

// TestE2EPrometheusDashboardsAndRules runs the proxy under traffic with a real Prometheus scraping it
// with the shipped rules loaded, then runs every query of every shipped dashboard and checks the
// recording rules against the Wilson interval.
func TestE2EPrometheusDashboardsAndRules(t *testing.T) {
	promBin := needTool(t, "prometheus")
	kafka, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.Ports(0), kfake.SeedTopics(1, recordsTopic))
	if err != nil {
		t.Fatal(err)
	}
	defer kafka.Close()

	primary := proxytest.Serve(t, answer(0, nil, 0))
	candidate := proxytest.Serve(t, answer(1, func(x int) bool { return x%10 == 0 }, time.Millisecond))
	dir := t.TempDir()
	cfg := fmt.Sprintf(`listen: "127.0.0.1:0"
admin: "127.0.0.1:0"
routes:
  - name: iris
    match: {path_prefix: /}
    primary: {url: %q}
    candidates:
      - {name: iris-v2, url: %q, sample: 100%%}
      - name: iris-drill
        url: %q
        sample: 50%%
        chaos: {error_rate: 20%%, flip_rate: 50%%, latency: 1ms}
    compare: {format: json, ignore: [served_at]}
    record: {agreements: 100%%}
    truth: {prediction: "predictions[0].label"}
sinks:
  file: {path: %q}
  kafka: {brokers: [%q], topic: %s, spool: {dir: %q}}
`, primary, candidate, candidate, filepath.Join(dir, "r.jsonl"), kafka.ListenAddrs()[0], recordsTopic, filepath.Join(dir, "spool"))
	p, _ := startProxy(t, cfg)

	promAddr := freePort(t)
	rules, _ := filepath.Abs("../../configs/prometheus/shadowproxy.rules.yml")
	alerts, _ := filepath.Abs("../../configs/prometheus/shadowproxy.alerts.yml")
	promCfg := filepath.Join(dir, "prometheus.yml")
	if err := os.WriteFile(promCfg, fmt.Appendf(nil, `global: {scrape_interval: 1s, evaluation_interval: 1s}
rule_files: [%q, %q]
scrape_configs:
  - job_name: shadowproxy
    static_configs: [{targets: [%q]}]
`, rules, alerts, p.admin), 0o600); err != nil {
		t.Fatal(err)
	}
	prom := exec.Command(promBin, "--config.file="+promCfg, "--storage.tsdb.path="+filepath.Join(dir, "tsdb"),
		"--web.listen-address="+promAddr, "--log.level=warn")
	prom.Stdout, prom.Stderr = io.Discard, io.Discard
	if err := prom.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { _ = prom.Process.Kill(); _ = prom.Wait() }()
	waitFor(t, "prometheus ready", func() bool {
		resp, err := http.Get("http://" + promAddr + "/-/ready")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == 200
	})

	// Traffic for a bounded time, and one config reload for the reloads panel.
	client := &fasthttp.Client{}
	defer client.CloseIdleConnections()
	var wg sync.WaitGroup
	var sent atomic.Int64
	stop := make(chan struct{})
	wg.Add(1)
	go func() {
		defer wg.Done()
		for i := 0; i < 100000; i++ {
			select {
			case <-stop:
				return
			default:
			}
			post(t, client, "http://"+p.listen+"/predict", fmt.Sprintf("t-%d", i), fmt.Sprintf(`{"x":%d}`, i))
			sent.Add(1)
			time.Sleep(2 * time.Millisecond)
		}
	}()
	if err := p.cmd.Process.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	// The chaos drill trips the disagreement alert on a real Prometheus: pending at once, firing after its
	// "for" of 10 minutes (promtool's tests cover the firing).
	waitFor(t, "the drill's disagreement alert", func() bool {
		return len(promQuery(t, promAddr, `ALERTS{alertname="ShadowproxyCandidateDisagreementHigh",candidate="iris-drill"}`)) > 0
	})
	// Ground truth for the accuracy panels: the true label of x is x (the primary is always right).
	var labels strings.Builder
	for i := range sent.Load() {
		fmt.Fprintf(&labels, `{"id":"t-%d","label":%d}`+"\n", i, i)
	}
	if resp, err := http.Post("http://"+p.admin+"/labels", "application/x-ndjson", strings.NewReader(labels.String())); err != nil {
		t.Fatal(err)
	} else {
		resp.Body.Close()
	}
	waitFor(t, "scraped recording rules", func() bool {
		return len(promQuery(t, promAddr, `shadowproxy:disagreement_wilson_lower:5m`)) > 0 &&
			len(promQuery(t, promAddr, `shadowproxy:prediction_disagreement_rate:5m`)) > 0 &&
			len(promQuery(t, promAddr, `rate(shadowproxy_chaos_injected_total[1m])`)) > 0 &&
			len(promQuery(t, promAddr, `shadowproxy:truth_accuracy_delta_upper:6h`)) > 0
	})
	time.Sleep(3 * time.Second)
	close(stop)
	wg.Wait()

	files, _ := filepath.Glob("../../configs/grafana/*.json")
	if len(files) == 0 {
		t.Fatal("no dashboards")
	}
	for _, f := range files {
		qs, err := configs.DashboardQueries(f)
		if err != nil {
			t.Fatal(err)
		}
		for _, q := range qs {
			if len(promQuery(t, promAddr, q)) == 0 {
				t.Errorf("%s: query returns no data: %s", filepath.Base(f), q)
			}
		}
	}

	// The recording rules give the Wilson interval of the counts they record.
	at := func(q string) map[string]float64 {
		out := map[string]float64{}
		for _, s := range promQuery(t, promAddr, q) {
			out[s.Metric["candidate"]] = sampleValue(t, s.Value)
		}
		return out
	}
	n, d := at(`shadowproxy:comparisons:decided_increase5m`), at(`shadowproxy:comparisons:disagree_increase5m`)
	lo, hi := at(`shadowproxy:disagreement_wilson_lower:5m`), at(`shadowproxy:disagreement_wilson_upper:5m`)
	if n["iris-v2"] < 100 {
		t.Fatalf("only %v comparisons recorded", n["iris-v2"])
	}
	for cand := range n {
		wlo, whi := stats.Wilson(int64(math.Round(d[cand])), int64(math.Round(n[cand])), 1.959963984540054)
		if math.Abs(lo[cand]-wlo) > 0.01 || math.Abs(hi[cand]-whi) > 0.01 {
			t.Errorf("%s: rules give [%v, %v] for %v of %v, Wilson gives [%v, %v]", cand, lo[cand], hi[cand], d[cand], n[cand], wlo, whi)
		}
	}
	if r := d["iris-v2"] / n["iris-v2"]; r < 0.05 || r > 0.15 {
		t.Errorf("iris-v2 disagreement rate %v, want about 0.1", r)
	}

	// promtool's linter finds nothing to say about the exposition.
	resp, err := http.Get("http://" + p.admin + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	lint := exec.Command(needTool(t, "promtool"), "check", "metrics")
	lint.Stdin = resp.Body
	out, err := lint.CombinedOutput()
	resp.Body.Close()
	if err != nil {
		t.Errorf("promtool check metrics: %v\n%s", err, out)
	}
	p.stop(t)
}
