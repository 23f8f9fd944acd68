package configs

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestUpstreamsThatAreNotTheProxy(t *testing.T) {
	tests := []struct{ listen, admin, url string }{
		{"127.0.0.1:8080", "127.0.0.1:9901", "http://127.0.0.1:8081"},
		{"127.0.0.1:8080", "127.0.0.1:9901", "http://127.0.0.2:8080"}, // a listener on 127.0.0.1 does not take 127.0.0.2
		{"127.0.0.1:0", "127.0.0.1:0", "http://127.0.0.1:1"},
		{"0.0.0.0:8080", "127.0.0.1:9901", "http://192.0.2.1:8080"}, // TEST-NET-1: never a local address
		{"0.0.0.0:8443", "127.0.0.1:9901", "https://127.0.0.1"},
		{"0.0.0.0:8080", "127.0.0.1:9901", "http://no-such-host.invalid:8080"},
	}
	for _, tt := range tests {
		yaml := fmt.Sprintf("listen: %q\nadmin: %q\nroutes: [{name: r, primary: {url: %q}}]\n", tt.listen, tt.admin, tt.url)
		if _, err := Parse("t.yaml", []byte(yaml)); err != nil {
			t.Errorf("listen %s, primary %s: %v", tt.listen, tt.url, err)
		}
	}
}

func TestConfigFileSizeIsCapped(t *testing.T) {
	// A valid config padded with a comment past the cap: refused before parsing, naming the file
	// and the cap, and quickly.
	path := filepath.Join(t.TempDir(), "big.yaml")
	data := "routes: [{name: r, primary: {url: \"http://127.0.0.1:1\"}}]\n#" + strings.Repeat("x", MaxFileBytes) + "\n"
	if err := os.WriteFile(path, []byte(data), 0o600); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	_, err := Load(path)
	if err == nil || !strings.Contains(err.Error(), path+": ") || !strings.Contains(err.Error(), "larger than 4 MiB") {
		t.Fatalf("Load of a %d-byte file: %v, want an error naming the file and the cap", len(data), err)
	}
	if took := time.Since(start); took > 5*time.Second {
		t.Errorf("refusing took %v", took)
	}
	// At the cap, the file is parsed.
	if _, err := Parse("t.yaml", []byte(data[:MaxFileBytes])); err != nil {
		t.Errorf("a file of exactly MaxFileBytes: %v", err)
	}
}

func TestGRPCUpstreamAtTheGRPCListener(t *testing.T) {
	yaml := "grpc_listen: 0.0.0.0:8001\nroutes:\n  - name: g\n    match: {path_prefix: /inference.GRPCInferenceService/ModelInfer}\n    primary: {url: \"grpc://127.0.0.1:8011\"}\n    candidates:\n      - {name: c, url: \"grpc://localhost:8001\"}\n"
	_, err := Parse("g.yaml", []byte(yaml))
	if err == nil || !strings.Contains(err.Error(), "g.yaml:7:") || !strings.Contains(err.Error(), "grpc://localhost:8001 is this proxy's own grpc_listen address") {
		t.Fatalf("got %v, want the candidate's line and the grpc_listen loop", err)
	}
}
