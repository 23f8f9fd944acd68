package main

import (
	"bytes"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/valyala/fasthttp"

	"github.com/shadowproxy/shadowproxy/configs"
	"github.com/shadowproxy/shadowproxy/proxy/proxytest"
)

// runValidate runs `shadowproxy validate` on path and returns its exit code and output.
func runValidate(t *testing.T, path string) (int, string, time.Duration) {
	t.Helper()
	var out bytes.Buffer
	cmd := exec.Command(binary, "validate", "-config", path)
	cmd.Stdout, cmd.Stderr = &out, &out
	start := time.Now()
	err := cmd.Run()
	var ee *exec.ExitError
	switch {
	case errors.As(err, &ee):
		return ee.ExitCode(), out.String(), time.Since(start)
	case err != nil:
		t.Fatal(err)
	}
	return 0, out.String(), time.Since(start)
}

// bigConfig is a valid config padded with a comment to more than configs.MaxFileBytes.
func bigConfig(cfg string) string {
	return cfg + "#" + strings.Repeat("x", configs.MaxFileBytes) + "\n"
}

// TestValidateRefusesLoopsAndHugeFiles: an upstream at the proxy's own address, and a config file
// over the cap, fail validate with the file (and line) named (issue 18, item 10).
func TestValidateRefusesLoopsAndHugeFiles(t *testing.T) {
	dir := t.TempDir()
	write := func(name, data string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(data), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	loop := write("loop.yaml", "listen: 0.0.0.0:18080\nroutes:\n  - name: a\n    primary: {url: \"http://127.0.0.1:18081\"}\n    candidates:\n      - {name: c, url: \"http://localhost:18080\"}\n")
	big := write("big.yaml", bigConfig(proxyConfig("http://127.0.0.1:8501", "http://127.0.0.1:8502", "r.jsonl", "")))
	tests := []struct {
		name string
		path string
		want *regexp.Regexp
	}{
		{"loop", loop, regexp.MustCompile(`loop\.yaml:6:\d+: routes\[0\]\.candidates\[0\]\.url: http://localhost:18080 is this proxy's own listen address`)},
		{"big", big, regexp.MustCompile(`big\.yaml: the file is larger than 4 MiB`)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, out, took := runValidate(t, tt.path)
			if code != 1 || !tt.want.MatchString(out) {
				t.Errorf("validate: exit %d, output:\n%s\nwant exit 1 and %v", code, out, tt.want)
			}
			if took > 10*time.Second {
				t.Errorf("validate took %v", took)
			}
		})
	}
}

func TestRunRefusesAHugeFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "big.yaml")
	if err := os.WriteFile(path, []byte(bigConfig(proxyConfig("http://127.0.0.1:8501", "http://127.0.0.1:8502", "r.jsonl", ""))), 0o600); err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	cmd := exec.Command(binary, "run", "-config", path)
	cmd.Stdout, cmd.Stderr = &out, &out
	done := make(chan error, 1)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		if err == nil || !strings.Contains(out.String(), "big.yaml: the file is larger than 4 MiB") {
			t.Errorf("run: %v, output:\n%s\nwant a failure naming the file and the cap", err, out.String())
		}
	case <-time.After(20 * time.Second):
		_ = cmd.Process.Kill()
		<-done
		t.Fatalf("run did not refuse the file:\n%s", out.String())
	}
}

func TestE2EReloadRefusesAHugeFile(t *testing.T) {
	primary := proxytest.Serve(t, answer(0, nil, 0))
	cfg := proxyConfig(primary, primary, filepath.Join(t.TempDir(), "r.jsonl"), "")
	p, path := startProxy(t, cfg)
	if err := os.WriteFile(path, []byte(bigConfig(cfg)), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := p.cmd.Process.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "a rejected reload", func() bool { return p.metric(t, `shadowproxy_config_reloads_total{result="error"}`) >= 1 })
	if !strings.Contains(p.log(), "shadowproxy.yaml: the file is larger than 4 MiB") {
		t.Errorf("the rejected reload's log does not name the file and the cap:\n%s", p.log())
	}
	client := &fasthttp.Client{}
	defer client.CloseIdleConnections()
	if status, _, _ := post(t, client, "http://"+p.listen+"/v1/models/iris:predict", "", `{"x":1}`); status != 200 {
		t.Fatalf("after the rejected reload: status %d", status)
	}
	p.stop(t)
}
