package main

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/valyala/fasthttp"

	"github.com/shadowproxy/shadowproxy/proxy/proxytest"
)

// selfSigned makes a certificate for 127.0.0.1 that is its own CA, as PEM.
func selfSigned(t *testing.T) (certPEM, keyPEM []byte) {
	_, certPEM, keyPEM = proxytest.SelfSigned(t)
	return certPEM, keyPEM
}

func TestE2ETLSUpstreamsWithCustomCA(t *testing.T) {
	certPEM, keyPEM := selfSigned(t)
	ca := filepath.Join(t.TempDir(), "ca.pem")
	if err := os.WriteFile(ca, certPEM, 0o600); err != nil {
		t.Fatal(err)
	}
	primary := proxytest.ServeTLS(t, answer(0, nil, 0), certPEM, keyPEM)
	candidate := proxytest.ServeTLS(t, answer(1, func(int) bool { return true }, 0), certPEM, keyPEM)
	records := filepath.Join(t.TempDir(), "r.jsonl")

	// Without the CA, the primary's certificate is not trusted: 502, never a plain-text fallback.
	p, _ := startProxy(t, proxyConfig(primary, candidate, records, ""))
	client := &fasthttp.Client{}
	defer client.CloseIdleConnections()
	if status, _, _ := post(t, client, "http://"+p.listen+"/v1/models/iris:predict", "", `{"x":1}`); status != 502 {
		t.Errorf("untrusted primary certificate: status %d, want 502", status)
	}
	p.stop(t)

	cfg := proxyConfig(primary, candidate, records, fmt.Sprintf("        tls: {ca: %q}", ca))
	cfg = strings.Replace(cfg, "timeout: 2s}", fmt.Sprintf("timeout: 2s, tls: {ca: %q}}", ca), 1)
	p, _ = startProxy(t, cfg)
	status, body, _ := post(t, client, "http://"+p.listen+"/v1/models/iris:predict", "tls-1", `{"x":7}`)
	if status != 200 || !strings.Contains(body, `"label":7`) {
		t.Fatalf("over TLS: %d %s", status, body)
	}
	waitFor(t, "a comparison over TLS", func() bool {
		return p.metric(t, `shadowproxy_comparisons_total{candidate="iris-v2",result="disagree",route="iris"}`) == 1
	})
	p.stop(t)
}

// TestE2EMutualTLSPrimary checks client certificates: a primary that requires one is reached with
// the configured cert and key, and refuses the proxy without them (502).
func TestE2EMutualTLSPrimary(t *testing.T) {
	certPEM, keyPEM := selfSigned(t)
	dir := t.TempDir()
	ca, cert, key := filepath.Join(dir, "ca.pem"), filepath.Join(dir, "client.pem"), filepath.Join(dir, "client.key")
	for path, data := range map[string][]byte{ca: certPEM, cert: certPEM, key: keyPEM} {
		if err := os.WriteFile(path, data, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	pair, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(certPEM)
	ln, err := tls.Listen("tcp", "127.0.0.1:0", &tls.Config{
		Certificates: []tls.Certificate{pair},
		ClientAuth:   tls.RequireAndVerifyClientCert,
		ClientCAs:    pool,
		MinVersion:   tls.VersionTLS12,
	})
	if err != nil {
		t.Fatal(err)
	}
	srv := &fasthttp.Server{Handler: answer(0, nil, 0), CloseOnShutdown: true}
	done := make(chan struct{})
	go func() { defer close(done); _ = srv.Serve(ln) }()
	defer func() { _ = srv.Shutdown(); <-done }()
	primary := "https://" + ln.Addr().String()
	candidate := proxytest.Serve(t, answer(0, nil, 0))
	client := &fasthttp.Client{}
	defer client.CloseIdleConnections()

	for _, tt := range []struct {
		name   string
		tls    string
		status int
	}{
		{"no client certificate", fmt.Sprintf("tls: {ca: %q}", ca), 502},
		{"client certificate", fmt.Sprintf("tls: {ca: %q, cert: %q, key: %q}", ca, cert, key), 200},
	} {
		t.Run(tt.name, func(t *testing.T) {
			cfg := strings.Replace(proxyConfig(primary, candidate, filepath.Join(t.TempDir(), "r.jsonl"), ""), "timeout: 2s}", "timeout: 2s, "+tt.tls+"}", 1)
			p, _ := startProxy(t, cfg)
			if status, _, _ := post(t, client, "http://"+p.listen+"/v1/models/iris:predict", "", `{"x":3}`); status != tt.status {
				t.Errorf("status %d, want %d", status, tt.status)
			}
			p.stop(t)
		})
	}
}
