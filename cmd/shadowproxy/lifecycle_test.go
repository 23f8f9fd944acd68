package main

import (
	"bytes"
	"errors"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/valyala/fasthttp"

	"github.com/shadowproxy/shadowproxy/compare"
	"github.com/shadowproxy/shadowproxy/proxy/proxytest"
)

func TestE2EReload(t *testing.T) {
	primary := proxytest.Serve(t, answer(0, nil, 0))
	candidate := proxytest.Serve(t, answer(0, nil, 0))
	records := filepath.Join(t.TempDir(), "r.jsonl")
	cfg := proxyConfig(primary, candidate, records, "")
	p, path := startProxy(t, cfg)
	client := &fasthttp.Client{}
	defer client.CloseIdleConnections()
	url := "http://" + p.listen

	// A bad file is rejected with its line, counted, and the old config keeps serving.
	bad := strings.Replace(cfg, "sample: 100%", "sample: 250%", 1)
	if err := os.WriteFile(path, []byte(bad), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := p.cmd.Process.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "a rejected reload", func() bool { return p.metric(t, `shadowproxy_config_reloads_total{result="error"}`) >= 1 })
	if !regexp.MustCompile(`shadowproxy.yaml:\d+:\d+`).MatchString(p.log()) {
		t.Errorf("the rejected reload's log names no file:line:column:\n%s", p.log())
	}
	if status, _, _ := post(t, client, url+"/v1/models/iris:predict", "", `{"x":1}`); status != 200 {
		t.Fatalf("after a rejected reload: status %d", status)
	}

	// A good file adds a route; requests keep succeeding while it is applied.
	good := strings.Replace(cfg, "routes:\n", fmt.Sprintf("routes:\n  - name: other\n    match: {path_prefix: /v1/models/other}\n    primary: {url: %q}\n", primary), 1)
	var failures atomic.Int64
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		c := &fasthttp.Client{}
		defer c.CloseIdleConnections()
		for i := 0; i < 5000; i++ {
			select {
			case <-stop:
				return
			default:
			}
			req, resp := fasthttp.AcquireRequest(), fasthttp.AcquireResponse()
			req.SetRequestURI(url + "/v1/models/iris:predict")
			req.Header.SetMethod("POST")
			req.SetBodyString(`{"x":2}`)
			if err := c.DoTimeout(req, resp, 5*time.Second); err != nil || resp.StatusCode() != 200 {
				failures.Add(1)
			}
			fasthttp.ReleaseRequest(req)
			fasthttp.ReleaseResponse(resp)
		}
	}()
	if err := os.WriteFile(path, []byte(good), 0o600); err != nil {
		t.Fatal(err)
	}
	// The file watch reloads on its own; SIGHUP works too.
	_ = p.cmd.Process.Signal(syscall.SIGHUP)
	waitFor(t, "a good reload", func() bool { return p.metric(t, `shadowproxy_config_reloads_total{result="ok"}`) >= 1 })
	time.Sleep(100 * time.Millisecond)
	close(stop)
	wg.Wait()
	if f := failures.Load(); f != 0 {
		t.Errorf("%d requests failed during the reload", f)
	}
	if status, _, _ := post(t, client, url+"/v1/models/other", "", `{"x":3}`); status != 200 {
		t.Errorf("new route: status %d", status)
	}
	p.stop(t)
}

func TestE2EDrainOnSIGTERM(t *testing.T) {
	primary := proxytest.Serve(t, answer(0, nil, 20*time.Millisecond))
	candidate := proxytest.Serve(t, answer(0, nil, 50*time.Millisecond))
	p, _ := startProxy(t, proxyConfig(primary, candidate, filepath.Join(t.TempDir(), "r.jsonl"), ""))
	url := "http://" + p.listen + "/v1/models/iris:predict"

	var ok, refused, other atomic.Int64
	var closeSeen atomic.Bool
	var wg sync.WaitGroup
	deadline := time.Now().Add(10 * time.Second)
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c := &fasthttp.Client{}
			defer c.CloseIdleConnections()
			for time.Now().Before(deadline) {
				req, resp := fasthttp.AcquireRequest(), fasthttp.AcquireResponse()
				req.SetRequestURI(url)
				req.Header.SetMethod("POST")
				req.SetBodyString(`{"x":5}`)
				err := c.DoTimeout(req, resp, 5*time.Second)
				switch {
				case err == nil && resp.StatusCode() == 200:
					ok.Add(1)
					if resp.ConnectionClose() {
						closeSeen.Store(true)
					}
				case err != nil && errors.Is(err, syscall.ECONNREFUSED):
					refused.Add(1)
				default:
					other.Add(1)
					t.Logf("error during drain: %v (status %d)", err, resp.StatusCode())
				}
				fasthttp.ReleaseRequest(req)
				fasthttp.ReleaseResponse(resp)
				if refused.Load() > 0 {
					return
				}
			}
		}()
	}
	waitFor(t, "traffic", func() bool { return ok.Load() > 50 })
	p.stop(t)
	wg.Wait()
	if other.Load() != 0 {
		t.Errorf("%d client errors other than a refused connection", other.Load())
	}
	if !closeSeen.Load() {
		t.Error("no response during the drain carried Connection: close")
	}
}

func TestValidateCommand(t *testing.T) {
	dir := t.TempDir()
	good := filepath.Join(dir, "good.yaml")
	if err := os.WriteFile(good, []byte(proxyConfig("http://127.0.0.1:8501", "http://127.0.0.1:8502", "r.jsonl", "")), 0o600); err != nil {
		t.Fatal(err)
	}
	bad := filepath.Join(dir, "bad.yaml")
	if err := os.WriteFile(bad, []byte("listen: \":8080\"\nroutes:\n  - name: a\n    primary: {url: \"ftp://x\"}\n    bogus: 1\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	// A path compare rejects is found by validate, where it is written (not first by run).
	badPath := filepath.Join(dir, "badpath.yaml")
	if err := os.WriteFile(badPath, []byte("routes:\n  - name: a\n    primary: {url: \"http://127.0.0.1:8501\"}\n    compare:\n      format: kserve-v2\n      rules: [{path: \"outputs[*].data\", mode: argmax}]\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name     string
		args     []string
		wantCode int
		want     *regexp.Regexp
	}{
		{"good", []string{"validate", "-config", good}, 0, regexp.MustCompile(`1 route`)},
		{"bad", []string{"validate", "-config", bad}, 1, regexp.MustCompile(`bad\.yaml:5:5: .*bogus`)},
		{"bad path", []string{"validate", "-config", badPath}, 1, regexp.MustCompile(`badpath\.yaml:6:\d+: routes\[0\]\.compare\.rules\[0\]\.path: bad path "outputs\[\*\]\.data": kserve-v2 outputs are named`)},
		{"missing", []string{"validate", "-config", filepath.Join(dir, "nope.yaml")}, 1, regexp.MustCompile(`nope\.yaml`)},
		{"version", []string{"version"}, 0, regexp.MustCompile(`^shadowproxy `)},
		{"unknown", []string{"frobnicate"}, 2, regexp.MustCompile(`unknown command`)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var out bytes.Buffer
			cmd := exec.Command(binary, tt.args...)
			cmd.Stdout, cmd.Stderr = &out, &out
			err := cmd.Run()
			code := 0
			var ee *exec.ExitError
			if errors.As(err, &ee) {
				code = ee.ExitCode()
			} else if err != nil {
				t.Fatal(err)
			}
			if code != tt.wantCode || !tt.want.Match(out.Bytes()) {
				t.Errorf("shadowproxy %v: exit %d, output:\n%s\nwant exit %d and %v", tt.args, code, out.String(), tt.wantCode, tt.want)
			}
		})
	}
}

func TestDemoCommand(t *testing.T) {
	records := filepath.Join(t.TempDir(), "demo.jsonl")
	var out bytes.Buffer
	// 4 s: the demo labels what it sent two seconds before, so even a loaded machine posts labels twice.
	cmd := exec.Command(binary, "demo", "-duration", "4s", "-rate", "200", "-disagree", "0.1", "-records", records)
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		t.Fatalf("demo: %v\n%s", err, out.String())
	}
	s := out.String()
	for _, want := range []string{"/metrics", "/status", records, "disagree", "final:"} {
		if !strings.Contains(s, want) {
			t.Errorf("demo output lacks %q:\n%s", want, s)
		}
	}
	if !regexp.MustCompile(`^shadowproxy demo: open the console, http://127\.0\.0\.1:\d+/, in a browser\n`).MatchString(s) {
		t.Errorf("the demo's first line is not the console's URL:\n%s", s)
	}
	if n := len(readRecords(t, records)); n == 0 {
		t.Errorf("the demo wrote no records")
	}
	// The demo states the candidate's share of disagreements, and the interval it measures over its
	// own traffic covers it (it once stated 5% and measured 3.7%, 95% CI 2.8-4.9%).
	if !strings.Contains(s, "disagrees on 10.0% of the requests") {
		t.Errorf("the demo does not state the share it was given:\n%s", s)
	}
	m := regexp.MustCompile(`final:.*disagreement ([0-9.]+)% \(95% CI ([0-9.]+)-([0-9.]+)%\)`).FindStringSubmatch(s)
	if m == nil {
		t.Fatalf("no final disagreement rate in:\n%s", s)
	}
	var rate, lo, hi float64
	fmt.Sscan(m[1], &rate)
	fmt.Sscan(m[2], &lo)
	fmt.Sscan(m[3], &hi)
	if lo > 10 || hi < 10 || rate < 8 || rate > 12 {
		t.Errorf("demo disagreement %v%% (95%% CI %v-%v%%), want the stated 10%% inside the interval", rate, lo, hi)
	}
	// The demo labels its own traffic: the summary shows the accuracy delta with its interval.
	if !regexp.MustCompile(`final:.*accuracy delta [+-][0-9.]+% \(95% CI [+-][0-9.]+\.\.[+-][0-9.]+%, [1-9][0-9]* labels\)`).MatchString(s) {
		t.Errorf("no accuracy delta in the final summary:\n%s", s)
	}
}

func TestAdminEndpoints(t *testing.T) {
	primary := proxytest.Serve(t, answer(0, nil, 0))
	p, _ := startProxy(t, proxyConfig(primary, primary, filepath.Join(t.TempDir(), "r.jsonl"), ""))
	client := &fasthttp.Client{}
	defer client.CloseIdleConnections()
	post(t, client, "http://"+p.listen+"/v1/models/iris:predict", "", `{"x":1}`)
	for path, want := range map[string]string{"/healthz": "ok", "/readyz": "ready", "/status": `"routes"`, "/metrics": "shadowproxy_requests_total"} {
		resp, err := http.Get("http://" + p.admin + path)
		if err != nil {
			t.Fatal(err)
		}
		var b bytes.Buffer
		b.ReadFrom(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 || !strings.Contains(b.String(), want) {
			t.Errorf("%s: %d %s", path, resp.StatusCode, b.String())
		}
	}
	resp, err := http.Get("http://" + p.admin + "/debug/pprof/")
	if err == nil {
		resp.Body.Close()
		if resp.StatusCode == 200 {
			t.Error("pprof is served although not enabled")
		}
	}
	p.stop(t)
}

func TestE2EReloadSwapsSinks(t *testing.T) {
	primary := proxytest.Serve(t, answer(0, nil, 0))
	candidate := proxytest.Serve(t, answer(1, func(int) bool { return true }, 0))
	dir := t.TempDir()
	first, second := filepath.Join(dir, "first.jsonl"), filepath.Join(dir, "second.jsonl")
	cfg := proxyConfig(primary, candidate, first, "")
	p, path := startProxy(t, cfg)
	client := &fasthttp.Client{}
	defer client.CloseIdleConnections()
	url := "http://" + p.listen + "/v1/models/iris:predict"
	const disagree = `shadowproxy_comparisons_total{candidate="iris-v2",result="disagree",route="iris"}`
	for i := range 3 {
		post(t, client, url, fmt.Sprintf("a-%d", i), fmt.Sprintf(`{"x":%d}`, i))
	}
	waitFor(t, "3 comparisons", func() bool { return p.metric(t, disagree) == 3 })

	if err := os.WriteFile(path, []byte(strings.Replace(cfg, first, second, 1)), 0o600); err != nil {
		t.Fatal(err)
	}
	_ = p.cmd.Process.Signal(syscall.SIGHUP)
	waitFor(t, "the reload", func() bool { return p.metric(t, `shadowproxy_config_reloads_total{result="ok"}`) >= 1 })
	for i := range 4 {
		post(t, client, url, fmt.Sprintf("b-%d", i), fmt.Sprintf(`{"x":%d}`, i))
	}
	waitFor(t, "7 comparisons", func() bool { return p.metric(t, disagree) == 7 })
	p.stop(t)
	if a, b := len(readRecords(t, first)), len(readRecords(t, second)); a != 3 || b != 4 {
		t.Errorf("records before and after the sinks changed: %d and %d, want 3 and 4", a, b)
	}
}

func TestE2EOnlySafeMethodsMirroredByDefault(t *testing.T) {
	primary := proxytest.Serve(t, func(ctx *fasthttp.RequestCtx) { ctx.SetBodyString(`{"ok":true}`) })
	var mirrored sync.Map
	candidate := proxytest.Serve(t, func(ctx *fasthttp.RequestCtx) {
		mirrored.Store(string(ctx.Method()), true)
		ctx.SetBodyString(`{"ok":true}`)
	})
	cfg := fmt.Sprintf(`listen: "127.0.0.1:0"
admin: "127.0.0.1:0"
routes:
  - name: all
    primary: {url: %q}
    candidates: [{name: c, url: %q}]
sinks: {file: {path: %q}}
`, primary, candidate, filepath.Join(t.TempDir(), "r.jsonl"))
	p, _ := startProxy(t, cfg)
	client := &fasthttp.Client{}
	defer client.CloseIdleConnections()
	for _, m := range []string{"GET", "POST", "PUT", "DELETE", "PATCH"} {
		req, resp := fasthttp.AcquireRequest(), fasthttp.AcquireResponse()
		req.SetRequestURI("http://" + p.listen + "/x")
		req.Header.SetMethod(m)
		if err := client.DoTimeout(req, resp, 5*time.Second); err != nil || resp.StatusCode() != 200 {
			t.Fatalf("%s: %v %d", m, err, resp.StatusCode())
		}
		fasthttp.ReleaseRequest(req)
		fasthttp.ReleaseResponse(resp)
	}
	waitFor(t, "two shadows", func() bool {
		return p.metric(t, `shadowproxy_shadow_requests_total{candidate="c",outcome="ok",route="all"}`) == 2
	})
	p.stop(t)
	for _, m := range []string{"PUT", "DELETE", "PATCH"} {
		if _, ok := mirrored.Load(m); ok {
			t.Errorf("%s was mirrored although the route lists no methods", m)
		}
	}
}

// Every shipped example passes validate with the checks run uses, and builds every route's
// comparator: a config validate accepts is one run starts with.
func TestExampleConfigsBuild(t *testing.T) {
	files, err := filepath.Glob("../../configs/*.yaml")
	if err != nil || len(files) < 5 {
		t.Fatalf("example configs: %v %v", files, err)
	}
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			cfg, err := configChecks.Load(f)
			if err != nil {
				t.Fatal(err)
			}
			for _, rc := range cfg.Routes {
				if _, err := compare.New(compareOptions(rc.Compare)); err != nil {
					t.Errorf("route %s: %v", rc.Name, err)
				}
			}
		})
	}
}
