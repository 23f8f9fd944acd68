package main

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/valyala/fasthttp"
	"go.uber.org/goleak"
	"go.uber.org/zap"

	"github.com/shadowproxy/shadowproxy/proxy/proxytest"
)

// TestAppShutdownLeavesNoGoroutine runs the app in process, with a reload in between, and checks
// that shutdown has joined everything it started: the Serve loops, the tees' workers, the retired
// pipeline and the sinks' writers.
func TestAppShutdownLeavesNoGoroutine(t *testing.T) {
	before := goleak.IgnoreCurrent()
	t.Run("serve, reload, shutdown", runApp) // its model servers stop when it ends
	goleak.VerifyNone(t, append(proxytest.IgnoreFasthttp(), before)...)
}

func runApp(t *testing.T) {
	model := func(ctx *fasthttp.RequestCtx) { ctx.SetContentType("application/json"); ctx.SetBodyString(`{"y":1}`) }
	primary, candidate := proxytest.Serve(t, model), proxytest.Serve(t, model)
	dir := t.TempDir()
	path := filepath.Join(dir, "shadowproxy.yaml")
	yaml := func(records string) []byte {
		return fmt.Appendf(nil, `listen: 127.0.0.1:0
admin: 127.0.0.1:0
reload: {watch: false}
routes:
  - name: model
    primary: {url: %q}
    candidates:
      - {name: candidate, url: %q}
    record: {agreements: 100%%}
sinks:
  file: {path: %q}
`, primary, candidate, records)
	}
	writeFile := func(b []byte) {
		t.Helper()
		if err := os.WriteFile(path, b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	writeFile(yaml(filepath.Join(dir, "a.jsonl")))

	cfg, err := configChecks.Load(path)
	if err != nil {
		t.Fatal(err)
	}
	a, err := start(path, cfg, zap.NewNop(), nil)
	if err != nil {
		t.Fatal(err)
	}
	client := &fasthttp.Client{}
	post := func() {
		t.Helper()
		code, _, err := client.Post(nil, "http://"+a.listener.Addr().String()+"/predict", nil)
		if err != nil || code != 200 {
			t.Fatalf("POST through the proxy: %d %v", code, err)
		}
	}
	post()
	writeFile(yaml(filepath.Join(dir, "b.jsonl"))) // new sinks, a new pipeline, a retired table
	a.reload("test")
	if got := testutil.ToFloat64(a.metrics.reloads.WithLabelValues("ok")); got != 1 {
		t.Fatalf("reloads ok = %v, want 1", got)
	}
	post()
	if err := a.shutdown(); err != nil {
		t.Fatal(err)
	}
	client.CloseIdleConnections()
}
