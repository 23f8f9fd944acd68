package main

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/valyala/fasthttp"
	"go.uber.org/zap"

	"github.com/shadowproxy/shadowproxy/compare"
	"github.com/shadowproxy/shadowproxy/proxy/proxytest"
	"github.com/shadowproxy/shadowproxy/tee"
)

// seen is what an upstream received: each request's head as fasthttp read it, and its body.
type seen struct {
	mu   sync.Mutex
	reqs []string
}

func (s *seen) all() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.reqs...)
}

// recordingModel answers {"predictions":[{"label":label}]} and keeps every request it received.
func recordingModel(s *seen, label int) fasthttp.RequestHandler {
	return func(ctx *fasthttp.RequestCtx) {
		s.mu.Lock()
		s.reqs = append(s.reqs, ctx.Request.Header.String()+string(ctx.Request.Body()))
		s.mu.Unlock()
		ctx.SetContentType("application/json")
		fmt.Fprintf(ctx, `{"predictions":[{"label":%d}]}`, label)
	}
}

// rawExchange writes raw to the proxy on a new connection and reads one answer.
func rawExchange(t *testing.T, addr, raw string) *fasthttp.Response {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := io.WriteString(c, raw); err != nil {
		t.Fatal(err)
	}
	resp := new(fasthttp.Response)
	if err := resp.Read(bufio.NewReader(c)); err != nil {
		t.Fatalf("reading the answer to %q: %v", raw, err)
	}
	return resp
}

func requestConfig(primary, candidate, records string) string {
	return fmt.Sprintf(`listen: "127.0.0.1:0"
admin: "127.0.0.1:0"
log: {level: debug, format: json}
routes:
  - name: iris
    match: {path_prefix: /v1/models/iris, methods: [POST], host: good.example}
    primary: {url: %q}
    candidates:
      - {name: iris-v2, url: %q}
    compare: {format: json}
    record: {disagreements: 100%%, agreements: 0%%}
  - name: open
    match: {path_prefix: /v2/}
    primary: {url: %[1]q}
sinks:
  file: {path: %[3]q}
`, primary, candidate, records)
}

// TestE2ERequestsAreForwardedAsRouted sends exact bytes that once made the proxy route one request
// and forward another, or lose the request id (issue 18, items 5, 6, 7 and 9).
func TestE2ERequestsAreForwardedAsRouted(t *testing.T) {
	var prim, cand seen
	primary := proxytest.Serve(t, recordingModel(&prim, 1))
	candidate := proxytest.Serve(t, recordingModel(&cand, 2)) // always disagrees: every shadow is recorded
	records := filepath.Join(t.TempDir(), "records.jsonl")
	p, _ := startProxy(t, requestConfig(primary, candidate, records))
	const body = `{"x":1}`
	post := func(target, headers string) string {
		return "POST " + target + " HTTP/1.1\r\n" + headers + fmt.Sprintf("Content-Length: %d\r\n\r\n%s", len(body), body)
	}

	tests := []struct {
		name string
		raw  string
		// status the client gets; forwarded: whether the primary got the request, with these
		// lines in its head and none of the absent ones.
		status          int
		forwarded       bool
		present, absent []string
		id              string // the X-Request-Id the client gets back; "" for any generated one
		notID           string
		recordPath      string
	}{
		{
			name:      "Connection names X-Request-Id",
			raw:       post("/v1/models/iris:predict", "Host: good.example\r\nX-Request-Id: client-id-0123456789\r\nConnection: X-Request-Id\r\n"),
			status:    200,
			forwarded: true,
			present:   []string{"X-Request-Id: client-id-0123456789\r\n"},
			id:        "client-id-0123456789",
		},
		{
			name:   "encoded dot-segments before the prefix",
			raw:    post("/admin/secret/..%2f..%2fv1/models/iris", "Host: good.example\r\n"),
			status: 400,
		},
		{
			name:   "encoded dot-segments after the prefix",
			raw:    post("/v1/models/iris/..%2F..%2Fadmin", "Host: good.example\r\n"),
			status: 400,
		},
		{
			name:   "dot-segments after the prefix",
			raw:    post("/v1/models/iris/../../admin", "Host: good.example\r\n"),
			status: 400,
		},
		{
			name:   "absolute-form target of another host",
			raw:    post("http://evil.example/v1/models/iris:predict", "Host: good.example\r\n"),
			status: 404,
		},
		{
			name:       "absolute-form target of the route's host",
			raw:        post("http://good.example/v1/models/iris:predict%41", "Host: evil.example\r\nX-Request-Id: absolute-1\r\n"),
			status:     200,
			forwarded:  true,
			present:    []string{"POST /v1/models/iris:predict%41 HTTP/1.1\r\n", "Host: good.example\r\n", "X-Forwarded-Host: good.example\r\n"},
			absent:     []string{"evil.example"},
			id:         "absolute-1",
			recordPath: "/v1/models/iris:predict%41",
		},
		{
			name:   "HTTP/1.0 without Host",
			raw:    "POST /v2/models/iris/infer HTTP/1.0\r\n" + fmt.Sprintf("Content-Length: %d\r\n\r\n%s", len(body), body),
			status: 400,
		},
		{
			name: "chunked trailers",
			raw: "POST /v1/models/iris:predict HTTP/1.1\r\nHost: good.example\r\nTrailer: X-Request-Id, X-Evil\r\nTransfer-Encoding: chunked\r\n\r\n" +
				fmt.Sprintf("%x\r\n%s\r\n0\r\nX-Request-Id: trailer-id\r\nX-Evil: 1\r\n\r\n", len(body), body),
			status:    200,
			forwarded: true,
			absent:    []string{"trailer-id", "X-Evil", "Trailer"},
			notID:     "trailer-id",
		},
		{
			name: "unannounced chunked trailers",
			raw: "POST /v1/models/iris:predict HTTP/1.1\r\nHost: good.example\r\nX-Request-Id: header-id\r\nTransfer-Encoding: chunked\r\n\r\n" +
				fmt.Sprintf("%x\r\n%s\r\n0\r\nX-Request-Id: trailer-id\r\nX-Evil: 1\r\n\r\n", len(body), body),
			status:    200,
			forwarded: true,
			present:   []string{"X-Request-Id: header-id\r\n"},
			absent:    []string{"trailer-id", "X-Evil"},
			id:        "header-id",
		},
	}
	wantShadows := 0
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := len(prim.all())
			resp := rawExchange(t, p.listen, tt.raw)
			if resp.StatusCode() != tt.status {
				t.Fatalf("status %d %s, want %d", resp.StatusCode(), resp.Body(), tt.status)
			}
			id := string(resp.Header.Peek("X-Request-Id"))
			if tt.id != "" && id != tt.id {
				t.Errorf("the client got back the id %q, want %q", id, tt.id)
			}
			if id == "" || (tt.notID != "" && id == tt.notID) {
				t.Errorf("the client got back the id %q", id)
			}
			got := prim.all()[before:]
			if !tt.forwarded {
				if len(got) != 0 {
					t.Fatalf("the primary got %q; the proxy must answer this itself", got)
				}
				return
			}
			wantShadows++
			if len(got) != 1 {
				t.Fatalf("the primary got %d requests, want 1", len(got))
			}
			if !strings.Contains(got[0], "X-Request-Id: "+id+"\r\n") {
				t.Errorf("the primary did not get the id %q the client got back:\n%s", id, got[0])
			}
			for _, s := range tt.present {
				if !strings.Contains(got[0], s) {
					t.Errorf("the primary's request lacks %q:\n%s", s, got[0])
				}
			}
			for _, s := range tt.absent {
				if strings.Contains(got[0], s) {
					t.Errorf("the primary's request holds %q:\n%s", s, got[0])
				}
			}
			waitFor(t, "the shadow", func() bool { return len(cand.all()) == wantShadows })
			c := cand.all()[wantShadows-1]
			if !strings.Contains(c, "X-Request-Id: "+id+"\r\n") {
				t.Errorf("the candidate did not get the id %q:\n%s", id, c)
			}
			for _, s := range tt.absent {
				if strings.Contains(c, s) {
					t.Errorf("the candidate's request holds %q:\n%s", s, c)
				}
			}
			waitFor(t, "the record", func() bool {
				return p.metric(t, `shadowproxy_records_total{outcome="written",sink="file"}`) >= float64(wantShadows)
			})
		})
	}
	if got := p.metric(t, `shadowproxy_requests_total{code="502",route="open"}`) + p.metric(t, `shadowproxy_requests_total{code="502",route="iris"}`); got != 0 {
		t.Errorf("%v requests counted as the primary's 502", got)
	}
	if got := p.metric(t, `shadowproxy_requests_total{code="400",route="none"}`); got != 4 {
		t.Errorf("requests_total{code=400,route=none} = %v, want 4", got)
	}
	p.stop(t)

	byID := map[string]map[string]any{}
	for _, r := range readRecords(t, records) {
		byID[r["id"].(string)] = r
	}
	if len(byID) != wantShadows {
		t.Errorf("%d records with distinct ids, want %d: %v", len(byID), wantShadows, byID)
	}
	for _, tt := range tests {
		if tt.id == "" || !tt.forwarded {
			continue
		}
		r, ok := byID[tt.id]
		if !ok {
			t.Errorf("%s: no record with id %q", tt.name, tt.id)
			continue
		}
		if tt.recordPath != "" {
			if got := r["request"].(map[string]any)["path"]; got != tt.recordPath {
				t.Errorf("%s: the record's path is %q, want %q as forwarded", tt.name, got, tt.recordPath)
			}
		}
	}
}

// TestE2EShadowsCarryNoCredentials checks that candidates get no credentials unless the route keeps
// them, that records redact credential headers and query parameters, and that no log line, at debug
// level, holds a credential of a request the proxy rejected (issue 18, item 8).
func TestE2EShadowsCarryNoCredentials(t *testing.T) {
	tests := []struct {
		name  string
		extra string
		kept  []string // credential headers the candidate gets
	}{
		{"default", "", nil},
		{"keep Authorization", "    shadow_headers: {keep: [Authorization]}\n", []string{"Authorization"}},
	}
	credentials := []string{"Authorization: Bearer SECRET-TOKEN-1", "Cookie: session=SECRET-COOKIE-2", "X-Api-Key: SECRET-KEY-3", "X-Amz-Security-Token: SECRET-AMZ-4"}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var prim, cand seen
			primary := proxytest.Serve(t, recordingModel(&prim, 1))
			candidate := proxytest.Serve(t, recordingModel(&cand, 2))
			records := filepath.Join(t.TempDir(), "records.jsonl")
			cfg := strings.Replace(requestConfig(primary, candidate, records), "    compare: {format: json}\n", tt.extra+"    compare: {format: json}\n", 1)
			p, _ := startProxy(t, cfg)
			const body = `{"x":1}`
			raw := "POST /v1/models/iris:predict?api_key=SECRET-Q-5&x=1 HTTP/1.1\r\nHost: good.example\r\n" +
				strings.Join(credentials, "\r\n") + fmt.Sprintf("\r\nContent-Length: %d\r\n\r\n%s", len(body), body)
			if resp := rawExchange(t, p.listen, raw); resp.StatusCode() != 200 {
				t.Fatalf("status %d", resp.StatusCode())
			}
			// A request fasthttp rejects (a header line without a colon), with credentials in it.
			bad := "POST /v1/models/iris:predict HTTP/1.1\r\nHost: good.example\r\nAuthorization: Bearer SECRET-LOG-6\r\nnot a header\r\n\r\n"
			if resp := rawExchange(t, p.listen, bad); resp.StatusCode() != 400 {
				t.Errorf("malformed request: status %d, want 400", resp.StatusCode())
			}
			waitFor(t, "the shadow", func() bool { return len(cand.all()) == 1 })
			got := cand.all()[0]
			for _, c := range credentials {
				name, _, _ := strings.Cut(c, ":")
				kept := false
				for _, k := range tt.kept {
					kept = kept || k == name
				}
				if has := strings.Contains(got, c+"\r\n"); has != kept {
					t.Errorf("the candidate got %s: %v, want %v:\n%s", name, has, kept, got)
				}
				if !strings.Contains(prim.all()[0], c+"\r\n") {
					t.Errorf("the primary did not get %s", name)
				}
			}
			waitFor(t, "the record", func() bool {
				return p.metric(t, `shadowproxy_records_total{outcome="written",sink="file"}`) == 1
			})
			p.stop(t)
			recs := readRecords(t, records)
			data, _ := os.ReadFile(records)
			for _, secret := range []string{"SECRET-KEY-3", "SECRET-AMZ-4", "SECRET-Q-5"} {
				if strings.Contains(string(data), secret) {
					t.Errorf("the record holds %s: %s", secret, data)
				}
			}
			h := recs[0]["request"].(map[string]any)["headers"].(map[string]any)
			for _, k := range []string{"Authorization", "Cookie", "X-Api-Key", "X-Amz-Security-Token"} {
				if h[k] != "[redacted]" {
					t.Errorf("record header %s = %v, want [redacted]", k, h[k])
				}
			}
			if q := recs[0]["request"].(map[string]any)["query"]; q != "api_key=[redacted]&x=1" {
				t.Errorf("record query %v", q)
			}
			logs := p.log()
			if !strings.Contains(logs, `"level":"debug"`) {
				t.Errorf("no debug lines in the log: the check below proves nothing\n%s", logs)
			}
			for _, secret := range []string{"SECRET-TOKEN-1", "SECRET-COOKIE-2", "SECRET-KEY-3", "SECRET-AMZ-4", "SECRET-Q-5", "SECRET-LOG-6"} {
				if strings.Contains(logs, secret) {
					t.Errorf("the log holds %s:\n%s", secret, logs)
				}
			}
		})
	}
}

// TestCredentialHeadersAreRedactedByDefault ties the two lists together: every header that shadows
// are stripped of is redacted in records by default.
func TestCredentialHeadersAreRedactedByDefault(t *testing.T) {
	cfg, err := configChecks.Parse("t.yaml", []byte("routes: [{name: r, primary: {url: \"http://127.0.0.1:1\"}}]\n"))
	if err != nil {
		t.Fatal(err)
	}
	o, err := teeOptions(&cfg.Routes[0], cfg, nil, tee.NewMetrics(prometheus.NewRegistry(), nil), zap.NewNop())
	if err != nil {
		t.Fatal(err)
	}
	redacted := map[string]bool{}
	for _, h := range o.WithDefaults().Record.RedactHeaders {
		redacted[strings.ToLower(h)] = true
	}
	for _, h := range tee.CredentialHeaders {
		if !redacted[strings.ToLower(h)] {
			t.Errorf("%s is stripped from shadows but not redacted in records by default", h)
		}
	}
}

// TestLabelMappingAsTheREADMEWritesIt: `mapping: {cand: primary}` maps the candidate's vocabulary
// onto the primary's, from the YAML to the comparison.
func TestLabelMappingAsTheREADMEWritesIt(t *testing.T) {
	cfg, err := configChecks.Parse("t.yaml", []byte(`routes:
  - name: r
    primary: {url: "http://127.0.0.1:1"}
    compare:
      format: json
      rules: [{path: label, mode: label, mapping: {cand: primary}}]
`))
	if err != nil {
		t.Fatal(err)
	}
	cmp, err := compare.New(compareOptions(cfg.Routes[0].Compare))
	if err != nil {
		t.Fatal(err)
	}
	resp := func(label string) compare.Response {
		return compare.Response{Status: 200, ContentType: []byte("application/json"), Body: []byte(`{"label":"` + label + `"}`)}
	}
	if res := cmp.Compare(resp("primary"), resp("cand")); res.Outcome != compare.Agree {
		t.Errorf("primary %q, candidate %q: %v %v, want agree", "primary", "cand", res.Outcome, res.Diffs)
	}
	if res := cmp.Compare(resp("cand"), resp("primary")); res.Outcome != compare.Disagree {
		t.Errorf("primary %q, candidate %q: %v, want disagree", "cand", "primary", res.Outcome)
	}
}
