package main

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestNginxConfigIsAccepted(t *testing.T) {
	nginx, err := exec.LookPath("nginx")
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("nginx is required in CI (apt-get install nginx-core)")
		}
		t.Skip("nginx not installed")
	}
	dir := t.TempDir()
	var conf bytes.Buffer
	err = renderNginx(&conf, nginxAddrs{
		Dir: dir, Primary: "127.0.0.1:1", Fast: "127.0.0.1:2", Slow: "127.0.0.1:3",
		Proxy: "127.0.0.1:18080", MirrorFast: "127.0.0.1:18081", MirrorSlow: "127.0.0.1:18082", Workers: 2, Root: os.Geteuid() == 0,
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"mirror /mirror;", "mirror_request_body on;", "keepalive 512;", "access_log off;"} {
		if !strings.Contains(conf.String(), want) {
			t.Errorf("config lacks %q", want)
		}
	}
	path := filepath.Join(dir, "nginx.conf")
	if err := os.WriteFile(path, conf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command(nginx, "-t", "-e", filepath.Join(dir, "error.log"), "-p", dir, "-c", path).CombinedOutput(); err != nil {
		t.Fatalf("nginx -t: %v\n%s", err, out)
	}
}

const wrkOutput = `Running 10s test @ http://127.0.0.1:8080
  2 threads and 64 connections
  Thread Stats   Avg      Stdev     Max   +/- Stdev
    Latency     1.02ms  512.00us  20.00ms   90.00%
    Req/Sec    31.00k     2.00k   35.00k    70.00%
  Latency Distribution
     50%  850.00us
     75%    1.10ms
     90%    1.50ms
     99%    2.50ms
  617000 requests in 10.00s, 700.00MB read
  Socket errors: connect 0, read 2, write 0, timeout 1
  Non-2xx or 3xx responses: 4
Requests/sec:  61700.00
Transfer/sec:     70.00MB
`

func TestParseWrk(t *testing.T) {
	r, err := parseWrk([]byte(wrkOutput))
	if err != nil {
		t.Fatal(err)
	}
	if r.rps != 61700 || r.requests != 617000 || r.p50 != 0.85 || r.p99 != 2.5 || r.errors != 7 {
		t.Errorf("parseWrk = %+v", r)
	}
	if _, err := parseWrk([]byte("unable to connect")); err == nil {
		t.Error("parseWrk accepted output without a rate")
	}
}

func TestFormatTable(t *testing.T) {
	ss := []*scenario{
		{name: "direct (no proxy)", results: []result{{rps: 100, p50: 1, p99: 2}}},
		{name: "nginx mirror 100%, fast candidate", nginx: "nginx mirror 100%, fast candidate", results: []result{{rps: 40, p50: 2, p99: 4, rssKB: 10240}, {rps: 50, p50: 2, p99: 5}, {rps: 45, p50: 2, p99: 6}}},
		{name: "floor (bare fasthttp) mirror 100%, fast candidate", results: []result{{rps: 100, p50: 1, p99: 2, cpuPerReq: 40}, {rps: 80, p50: 1, p99: 2, cpuPerReq: 44}}},
		{name: "shadowproxy mirror 100%, fast candidate", nginx: "nginx mirror 100%, fast candidate", floor: "floor (bare fasthttp) mirror 100%, fast candidate", results: []result{{rps: 90, p50: 1, p99: 2.5, rssKB: 20480, cpuPerReq: 50}, {rps: 90, p50: 1, p99: 2.5, cpuPerReq: 52}}},
	}
	got := formatTable(ss)
	for _, want := range []string{
		"| nginx mirror 100%, fast candidate | 45 | 2.00 | 5.00 |  | 10.0 | 0 |  |  |  |  |  | 0.45 |",
		// Per-round ratios 0.90 and 1.125 around the medians' 1.00; CPU 51 against 42.
		"| shadowproxy mirror 100%, fast candidate | 90 | 1.00 | 2.50 | 51.0 | 20.0 | 0 | 2.00x | 0.50x | 1.00x (0.90-1.12) | 1.25x | 1.21x | 0.90 |",
		"req/s >= 0.90x the floor (bare fasthttp mirror): met (req/s 1.00x, p99 1.25x)",
	} {
		if !strings.Contains(got, want) {
			t.Errorf("table lacks\n%s\nin\n%s", want, got)
		}
	}
}

func TestSplitCPUs(t *testing.T) {
	if c := splitCPUs(16, true); c.proxy != "0-7" || c.load != "8-11" || c.models != "12-15" || c.proxyCount() != 8 {
		t.Errorf("splitCPUs(16) = %+v", c)
	}
	if c := splitCPUs(2, true); c != (cpuSets{}) {
		t.Errorf("pinning on 2 CPUs: %+v", c)
	}
}

func TestPeakRSSCountsChildren(t *testing.T) {
	cmd := exec.Command("sleep", "5")
	if err := cmd.Start(); err != nil {
		t.Skip("no sleep:", err)
	}
	defer func() { _ = cmd.Process.Kill(); _ = cmd.Wait() }()
	found := false
	for _, c := range children(os.Getpid()) {
		found = found || c == cmd.Process.Pid
	}
	if !found {
		t.Fatalf("children(%d) lacks %d", os.Getpid(), cmd.Process.Pid)
	}
	self, all := procStatusKB(os.Getpid(), "VmHWM:"), peakRSS(os.Getpid())
	if self == 0 || all <= self {
		t.Errorf("peakRSS = %d KiB, own VmHWM %d KiB: the child is not counted", all, self)
	}
	if peakRSS(0) != 0 {
		t.Error("peakRSS(0) != 0")
	}
}

func TestWrkScriptRotatesBodies(t *testing.T) {
	for _, want := range []string{`wrk.method = "POST"`, "request = function()", "wrk.format(nil, nil, nil,", "local n, i, reqs = 256"} {
		if !strings.Contains(wrkScript, want) {
			t.Errorf("wrk script lacks %q", want)
		}
	}
}

func TestMetricSum(t *testing.T) {
	text := `# HELP go_goroutines Number of goroutines.
go_goroutines 98
go_goroutines_extra 5
shadowproxy_records_total{outcome="written",sink="kafka"} 10
shadowproxy_records_total{outcome="written",sink="file"} 7
shadowproxy_records_total{outcome="spooled",sink="kafka"} 3
shadowproxy_spool_records 2
`
	for _, tt := range []struct {
		name, metric string
		labels       []string
		want         string
	}{
		{"plain", "go_goroutines", nil, "98"},
		{"one label", "shadowproxy_records_total", []string{`sink="kafka"`, `outcome="written"`}, "10"},
		{"sum", "shadowproxy_records_total", []string{`outcome="written"`}, "17"},
		{"missing", "shadowproxy_records_total", []string{`outcome="dropped"`}, "?"},
		{"gauge", "shadowproxy_spool_records", nil, "2"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if got := metricSum(text, tt.metric, tt.labels...); got != tt.want {
				t.Errorf("metricSum = %s, want %s", got, tt.want)
			}
		})
	}
}

func TestTargets(t *testing.T) {
	med := map[string]result{
		"nginx proxy, no mirror":                   {rps: 100, p99: 2},
		"shadowproxy, no candidate":                {rps: 120, p99: 2},
		"nginx mirror 100%, fast candidate":        {rps: 40, p99: 4},
		"shadowproxy mirror 100%, fast candidate":  {rps: 70, p99: 3},
		"shadowproxy mirror 100%, 50 ms candidate": {rps: 110, p99: 2.4, rssKB: 30 * 1024},
	}
	got := targets(med)
	for _, want := range []string{
		"- mirror 100% to a fast candidate: req/s >= 2x nginx mirror, p99 no worse: NOT met (req/s 1.75x, p99 0.75x)",
		"- 50 ms candidate: req/s >= 0.8x and p99 <= 1.3x shadowproxy without candidates: met (req/s 0.92x, p99 1.20x)",
		"- no candidates: req/s >= nginx proxy, p99 no worse: met (req/s 1.20x, p99 1.00x)",
		"- peak RSS <= 100 MB with the 50 ms candidate: met (30.0 MB)",
	} {
		if !strings.Contains(got, want) {
			t.Errorf("targets lack\n%s\nin\n%s", want, got)
		}
	}
	if targets(map[string]result{}) != "" {
		t.Error("targets without figures are not empty")
	}
}

func TestParseGhz(t *testing.T) {
	out := []byte(`{"count":1000,"rps":2345.6,"latencyDistribution":[{"percentage":10,"latency":1000000},` +
		`{"percentage":50,"latency":2500000},{"percentage":99,"latency":12750000}],` +
		`"statusCodeDistribution":{"OK":995,"Unavailable":3,"DeadlineExceeded":2}}`)
	r, err := parseGhz(out)
	if err != nil {
		t.Fatal(err)
	}
	if r.rps != 2345.6 || r.requests != 1000 || r.p50 != 2.5 || r.p99 != 12.75 || r.errors != 5 {
		t.Errorf("parseGhz = %+v, want 2345.6 req/s, p50 2.5 ms, p99 12.75 ms, 5 errors", r)
	}
	if _, err := parseGhz([]byte("Error: connection refused")); err == nil {
		t.Error("parseGhz of a non-JSON report: no error")
	}
}

func TestCPUTime(t *testing.T) {
	// Spin until this process has used at least 50 ms of CPU more than at the start.
	t0 := cpuTime(os.Getpid())
	deadline := time.Now().Add(5 * time.Second)
	n := 0
	for cpuTime(os.Getpid())-t0 < 50*time.Millisecond && time.Now().Before(deadline) {
		for i := range 1_000_000 {
			n += i
		}
	}
	if d := cpuTime(os.Getpid()) - t0; d < 50*time.Millisecond {
		t.Errorf("cpuTime grew by %v after 5 s of spinning (n=%d)", d, n)
	}
	if cpuTime(0) != 0 {
		t.Error("cpuTime(0) != 0")
	}
}

func TestSelected(t *testing.T) {
	for _, c := range []struct {
		name, only string
		want       bool
	}{
		{"floor (bare fasthttp), no candidate", "floor", true},
		{"shadowproxy, no candidate", "floor,shadowproxy", true},
		{"nginx proxy, no mirror", "floor,shadowproxy", false},
		{"nginx proxy, no mirror", ",", false},
	} {
		if got := selected(c.name, c.only); got != c.want {
			t.Errorf("selected(%q, %q) = %v", c.name, c.only, got)
		}
	}
}
