package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/valyala/fasthttp"
	"go.uber.org/goleak"

	"github.com/shadowproxy/shadowproxy/proxy/proxytest"
)

// binary is the shadowproxy built once for the end-to-end tests.
var binary string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "shadowproxy-e2e-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	binary = filepath.Join(dir, "shadowproxy")
	build := exec.Command("go", "build", "-o", binary, ".")
	build.Stdout, build.Stderr = os.Stderr, os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "build shadowproxy:", err)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	if code == 0 {
		if err := goleak.Find(proxytest.IgnoreFasthttp()...); err != nil {
			fmt.Fprintln(os.Stderr, "goleak:", err)
			code = 1
		}
	}
	os.Exit(code)
}

// process is a running shadowproxy binary.
type process struct {
	cmd    *exec.Cmd
	listen string
	admin  string
	grpc   string // grpc_listen's address, when the config has one
	mu     sync.Mutex
	logs   bytes.Buffer
	exited chan struct{}
	err    error
}

// startProxy writes cfg to a file and runs `shadowproxy run` on it until the test ends.
func startProxy(t *testing.T, cfg string) (*process, string) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "shadowproxy.yaml")
	if err := os.WriteFile(path, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	return startProxyFile(t, path), path
}

func startProxyFile(t *testing.T, path string) *process {
	t.Helper()
	p := &process{cmd: exec.Command(binary, "run", "-config", path), exited: make(chan struct{})}
	stderr, err := p.cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	started := make(chan struct{})
	go func() {
		sc := bufio.NewScanner(stderr)
		sc.Buffer(make([]byte, 1<<20), 1<<20)
		once := sync.Once{}
		for sc.Scan() {
			line := sc.Bytes()
			p.mu.Lock()
			p.logs.Write(line)
			p.logs.WriteByte('\n')
			p.mu.Unlock()
			var l struct {
				Msg, Listen, Admin string
				GRPC               string `json:"grpc_listen"`
			}
			if json.Unmarshal(line, &l) == nil && l.Msg == "started" {
				p.listen, p.admin, p.grpc = l.Listen, l.Admin, l.GRPC
				once.Do(func() { close(started) })
			}
		}
		p.err = p.cmd.Wait()
		close(p.exited)
	}()
	select {
	case <-started:
	case <-p.exited:
		t.Fatalf("shadowproxy exited before starting: %v\n%s", p.err, p.log())
	case <-time.After(20 * time.Second):
		t.Fatalf("shadowproxy did not start\n%s", p.log())
	}
	t.Cleanup(func() {
		_ = p.cmd.Process.Kill()
		<-p.exited
		if t.Failed() {
			t.Logf("shadowproxy logs:\n%s", p.log())
		}
	})
	return p
}

func (p *process) log() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.logs.String()
}

// stop sends SIGTERM and waits for a clean exit.
func (p *process) stop(t *testing.T) {
	t.Helper()
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case <-p.exited:
	case <-time.After(30 * time.Second):
		t.Fatal("shadowproxy did not exit within 30s of SIGTERM")
	}
	if p.err != nil {
		t.Fatalf("shadowproxy exit: %v\n%s", p.err, p.log())
	}
}

// metric returns the value of one sample of /metrics, e.g.
// `shadowproxy_comparisons_total{candidate="c",result="agree",route="r"}`; 0 when absent.
func (p *process) metric(t *testing.T, sample string) float64 {
	t.Helper()
	body := p.admin200(t, "/metrics")
	for _, line := range strings.Split(string(body), "\n") {
		if rest, ok := strings.CutPrefix(line, sample+" "); ok {
			v, err := strconv.ParseFloat(strings.TrimSpace(rest), 64)
			if err != nil {
				t.Fatalf("metric %s: %v", sample, err)
			}
			return v
		}
	}
	return 0
}

// admin200 returns the body of a GET of path on the admin listener, which must answer 200.
func (p *process) admin200(t *testing.T, path string) []byte {
	t.Helper()
	resp, err := http.Get("http://" + p.admin + path)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %d %v", path, resp.StatusCode, err)
	}
	return body
}

// waitFor polls cond until it holds or 20s pass.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// secretHeaders are sent with every test request; no record may contain their values.
var secretHeaders = map[string]string{"Authorization": "Bearer SECRET-TOKEN-1", "Cookie": "session=SECRET-COOKIE-2"}

func post(t *testing.T, client *fasthttp.Client, url, id, body string) (int, string, time.Duration) {
	t.Helper()
	req, resp := fasthttp.AcquireRequest(), fasthttp.AcquireResponse()
	defer fasthttp.ReleaseRequest(req)
	defer fasthttp.ReleaseResponse(resp)
	req.SetRequestURI(url)
	for k, v := range secretHeaders {
		req.Header.Set(k, v)
	}
	req.Header.SetMethod("POST")
	req.Header.SetContentType("application/json")
	if id != "" {
		req.Header.Set("X-Request-Id", id)
	}
	req.SetBodyString(body)
	start := time.Now()
	if err := client.DoTimeout(req, resp, 10*time.Second); err != nil {
		t.Fatalf("POST %s: %v", url, err)
	}
	return resp.StatusCode(), string(resp.Body()), time.Since(start)
}

// answer is the model used by the tests: {"predictions":[{"label":N}],"served_at":...}, where N is the
// request's x, plus shift for x in wrong.
func answer(shift int, wrong func(x int) bool, delay time.Duration) fasthttp.RequestHandler {
	return func(ctx *fasthttp.RequestCtx) {
		if delay > 0 {
			time.Sleep(delay)
		}
		var in struct{ X int }
		if err := json.Unmarshal(ctx.PostBody(), &in); err != nil {
			ctx.SetStatusCode(400)
			return
		}
		label := in.X
		if wrong != nil && wrong(in.X) {
			label += shift
		}
		ctx.Response.Header.Set("X-Model", "primary")
		ctx.SetContentType("application/json")
		fmt.Fprintf(ctx, `{"predictions":[{"label":%d,"score":0.9}],"served_at":%d}`, label, time.Now().UnixNano())
	}
}

func proxyConfig(primary, candidate, records, extra string) string {
	return fmt.Sprintf(`listen: "127.0.0.1:0"
admin: "127.0.0.1:0"
shutdown_timeout: 10s
log: {level: info, format: json}
routes:
  - name: iris
    match: {path_prefix: /v1/models/iris, methods: [POST]}
    primary: {url: %q, timeout: 2s}
    candidates:
      - name: iris-v2
        url: %q
        sample: 100%%
%s
    compare:
      format: json
      ignore: [served_at]
    record:
      disagreements: 100%%
      agreements: 0%%
      redact: {fields: [user.ssn]}
sinks:
  file: {path: %q}
`, primary, candidate, extra, records)
}

// assertRedacted fails when data holds a secret the tests send.
func assertRedacted(t *testing.T, data []byte) {
	t.Helper()
	for _, secret := range []string{"SECRET-TOKEN-1", "SECRET-COOKIE-2", "123-45-6789"} {
		if bytes.Contains(data, []byte(secret)) {
			t.Errorf("a record holds the secret %q: %s", secret, data)
		}
	}
}

func readRecords(t *testing.T, path string) []map[string]any {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	assertRedacted(t, data)
	var out []map[string]any
	for _, line := range bytes.Split(bytes.TrimSpace(data), []byte("\n")) {
		if len(line) == 0 {
			continue
		}
		var r map[string]any
		if err := json.Unmarshal(line, &r); err != nil {
			t.Fatalf("record %q: %v", line, err)
		}
		out = append(out, r)
	}
	return out
}

func TestE2EPrimaryAnswersAndRecordedDisagreements(t *testing.T) {
	wrong := func(x int) bool { return x%7 == 0 }
	primary := proxytest.Serve(t, answer(0, nil, 0))
	candidate := proxytest.Serve(t, answer(1, wrong, 0))
	records := filepath.Join(t.TempDir(), "records.jsonl")
	p, _ := startProxy(t, proxyConfig(primary, candidate, records, ""))

	client := &fasthttp.Client{}
	defer client.CloseIdleConnections()
	const n = 100
	want := map[string]bool{}
	for i := range n {
		id := fmt.Sprintf("req-%03d", i)
		status, body, _ := post(t, client, "http://"+p.listen+"/v1/models/iris:predict", id, fmt.Sprintf(`{"x":%d,"user":{"ssn":"123-45-6789"}}`, i))
		if status != 200 || !strings.HasPrefix(body, fmt.Sprintf(`{"predictions":[{"label":%d,"score":0.9}],"served_at":`, i)) {
			t.Fatalf("request %d: got %d %s, want the primary's answer", i, status, body)
		}
		if wrong(i) {
			want[id] = true
		}
	}
	const agree = `shadowproxy_comparisons_total{candidate="iris-v2",result="agree",route="iris"}`
	const disagree = `shadowproxy_comparisons_total{candidate="iris-v2",result="disagree",route="iris"}`
	waitFor(t, "100 comparisons", func() bool { return p.metric(t, agree)+p.metric(t, disagree) == n })
	if got := p.metric(t, disagree); got != float64(len(want)) {
		t.Errorf("disagreements = %v, want %d", got, len(want))
	}
	if got := p.metric(t, `shadowproxy_requests_total{code="200",route="iris"}`); got != n {
		t.Errorf("requests_total = %v, want %d", got, n)
	}
	p.stop(t)

	recs := readRecords(t, records)
	got := map[string]bool{}
	for _, r := range recs {
		got[r["id"].(string)] = true
		if r["kind"] != "disagreement" || r["schema"] != "shadowproxy.record/v1" {
			t.Errorf("record %v", r)
		}
		req := r["request"].(map[string]any)
		if h := req["headers"].(map[string]any); h["Authorization"] != "[redacted]" || h["Cookie"] != "[redacted]" {
			t.Errorf("headers not redacted: %v", h)
		}
		if user := req["body"].(map[string]any)["user"].(map[string]any); user["ssn"] != "[redacted]" {
			t.Errorf("body field not redacted: %v", user)
		}
	}
	if len(recs) != len(want) || fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("recorded ids %v, want %v", got, want)
	}
}

func TestE2ECandidateFaultsLeaveThePrimaryAlone(t *testing.T) {
	dead, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	deadURL := "http://" + dead.Addr().String()
	dead.Close()
	// The slow candidate takes 3 s; a primary answer that waited for it would take at least that long,
	// so the bound below (1 s) tells blocking apart even on a loaded machine under -race.
	const slow = 3 * time.Second
	tests := []struct {
		name      string
		candidate string
		outcome   string
	}{
		{"slow", proxytest.Serve(t, answer(0, nil, slow)), "ok"},
		{"dead", deadURL, "error"},
		{"garbage", proxytest.Serve(t, func(ctx *fasthttp.RequestCtx) { ctx.SetBodyString("\x00\x01garbage{") }), "ok"},
	}
	primary := proxytest.Serve(t, answer(0, nil, 0))
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, _ := startProxy(t, proxyConfig(primary, tt.candidate, filepath.Join(t.TempDir(), "r.jsonl"), "        timeout: 5s"))
			client := &fasthttp.Client{}
			defer client.CloseIdleConnections()
			const n = 20
			for i := range n {
				status, body, took := post(t, client, "http://"+p.listen+"/v1/models/iris:predict", "", fmt.Sprintf(`{"x":%d}`, i))
				if status != 200 || !strings.Contains(body, fmt.Sprintf(`"label":%d`, i)) {
					t.Fatalf("request %d: %d %s", i, status, body)
				}
				if took >= slow/3 {
					t.Errorf("request %d took %v: the primary path waited on the candidate", i, took)
				}
			}
			sample := fmt.Sprintf(`shadowproxy_shadow_requests_total{candidate="iris-v2",outcome=%q,route="iris"}`, tt.outcome)
			waitFor(t, fmt.Sprint(n, " ", tt.outcome, " shadows"), func() bool { return p.metric(t, sample) == n })
			p.stop(t)
		})
	}
}

func TestE2EFullQueueDropsAndCounts(t *testing.T) {
	primary := proxytest.Serve(t, answer(0, nil, 0))
	candidate := proxytest.Serve(t, answer(0, nil, 300*time.Millisecond))
	p, _ := startProxy(t, proxyConfig(primary, candidate, filepath.Join(t.TempDir(), "r.jsonl"), "        concurrency: 1\n        queue: 1"))
	client := &fasthttp.Client{}
	defer client.CloseIdleConnections()
	const n = 30
	for i := range n {
		if status, _, _ := post(t, client, "http://"+p.listen+"/v1/models/iris:predict", "", fmt.Sprintf(`{"x":%d}`, i)); status != 200 {
			t.Fatalf("status %d", status)
		}
	}
	dropped := p.metric(t, `shadowproxy_shadow_requests_total{candidate="iris-v2",outcome="dropped",route="iris"}`)
	if dropped < n/2 {
		t.Errorf("dropped = %v, want most of %d with one worker and a queue of one", dropped, n)
	}
	p.stop(t)
}
