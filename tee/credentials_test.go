package tee

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/valyala/fasthttp"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"

	"github.com/shadowproxy/shadowproxy/proxy/proxytest"
)

// credentialed is an exchange whose request carries every kind of credential header.
func credentialed(id string) (*fasthttp.Request, *fasthttp.Response) {
	req, resp := exchange(id, `{"x":1}`, `{"predictions":[1]}`)
	req.Header.Set("Cookie", "session=secret-cookie")
	req.Header.Set("X-Api-Key", "secret-key")
	req.Header.Set("X-Amz-Security-Token", "secret-amz")
	req.Header.Set("X-User", "alice")
	req.SetRequestURI("/v1/models/iris:predict?api_key=secret-q1&x=1&Access_Token=secret-q2&sig=secret-q3")
	return req, resp
}

func TestTeeShadowsCarryNoCredentialsByDefault(t *testing.T) {
	tests := []struct {
		name       string
		keep       []string
		want, gone []string // headers the candidate gets, and does not
	}{
		{"default", nil, []string{"X-User"}, []string{"Authorization", "Cookie", "X-Api-Key", "X-Amz-Security-Token"}},
		{"keep Authorization", []string{"authorization"}, []string{"X-User", "Authorization"}, []string{"Cookie", "X-Api-Key", "X-Amz-Security-Token"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := make(chan *fasthttp.RequestHeader, 1)
			url := proxytest.Serve(t, func(ctx *fasthttp.RequestCtx) {
				h := new(fasthttp.RequestHeader)
				ctx.Request.Header.CopyTo(h)
				got <- h
				ctx.SetContentType("application/json")
				ctx.SetBodyString(`{"predictions":[2]}`)
			})
			ms := &memorySink{}
			tee := newTestTee(t, prometheus.NewRegistry(), Options{
				Candidates:  []CandidateOptions{{UpstreamOptions: UpstreamOptions{Name: "c", URL: url}, Sample: 1}},
				KeepHeaders: tt.keep,
				Sink:        ms,
				Record:      RecordOptions{Disagreements: 1}, // no list: credentials are redacted all the same
			})
			req, resp := credentialed("id-c")
			tee.Offer(offered(req, resp, 0))
			h := <-got
			closeTee(t, tee)
			for _, k := range tt.want {
				if len(h.Peek(k)) == 0 {
					t.Errorf("the candidate did not get %s", k)
				}
			}
			for _, k := range tt.gone {
				if v := h.Peek(k); len(v) != 0 {
					t.Errorf("the candidate got %s: %s", k, v)
				}
			}
			recs := ms.records()
			if len(recs) != 1 {
				t.Fatalf("%d records, want 1", len(recs))
			}
			// The record shows the client's request as it was, with every credential redacted,
			// also those the redact list does not name.
			hdr := recs[0].Request.Headers
			for _, k := range []string{"Authorization", "Cookie", "X-Api-Key", "X-Amz-Security-Token"} {
				if hdr[k] != redacted {
					t.Errorf("record header %s = %q, want %q", k, hdr[k], redacted)
				}
			}
			if recs[0].ID != "id-c" {
				t.Errorf("record id %q", recs[0].ID)
			}
			if q := recs[0].Request.Query; q != "api_key=[redacted]&x=1&Access_Token=[redacted]&sig=[redacted]" {
				t.Errorf("record query %q", q)
			}
		})
	}
}

func TestTeeLogsOnceWhenACandidateRefusesShadowsWithoutCredentials(t *testing.T) {
	var mu sync.Mutex
	n := 0
	url := proxytest.Serve(t, func(ctx *fasthttp.RequestCtx) {
		mu.Lock()
		n++
		mu.Unlock()
		ctx.SetStatusCode(fasthttp.StatusUnauthorized)
	})
	core, logs := observer.New(zap.InfoLevel)
	tee := newTestTee(t, prometheus.NewRegistry(), Options{
		Candidates: []CandidateOptions{{UpstreamOptions: UpstreamOptions{Name: "c", URL: url, Concurrency: 1}, Sample: 1}},
		Logger:     zap.New(core),
	})
	for i := range 5 {
		req, resp := credentialed("id-" + itoa(i))
		tee.Offer(offered(req, resp, 0))
		// A queue of one worker: each shadow is answered before the next is offered, so that all
		// five are refused.
		for end := time.Now().Add(20 * time.Second); testutil.ToFloat64(tee.metrics.shadows.WithLabelValues("iris", "c", "ok")) < float64(i+1); {
			if time.Now().After(end) {
				t.Fatalf("shadow %d not answered in 20s", i)
			}
			time.Sleep(time.Millisecond)
		}
	}
	closeTee(t, tee)
	mu.Lock()
	defer mu.Unlock()
	if n != 5 {
		t.Fatalf("the candidate got %d shadows, want 5", n)
	}
	entries := logs.FilterMessageSnippet("shadow_headers.keep").All()
	if len(entries) != 1 {
		t.Fatalf("%d log lines about shadow_headers.keep for %d refusals, want 1: %v", len(entries), n, logs.All())
	}
	stripped := entries[0].ContextMap()["stripped"]
	for _, h := range []string{"Authorization", "Cookie", "X-Api-Key"} {
		if !strings.Contains(strings.Join(toStrings(stripped), ","), h) {
			t.Errorf("the log line does not name %s: %v", h, stripped)
		}
	}
	for _, e := range logs.All() {
		for _, v := range e.ContextMap() {
			if s, ok := v.(string); ok && strings.Contains(s, "secret") {
				t.Errorf("a log line holds a credential: %v", e)
			}
		}
	}
}

func toStrings(v any) []string {
	switch x := v.(type) {
	case []string:
		return x
	case []any:
		out := make([]string, 0, len(x))
		for _, e := range x {
			s, _ := e.(string)
			out = append(out, s)
		}
		return out
	}
	return nil
}

func TestRedactQuery(t *testing.T) {
	r, err := newRedactor(RecordOptions{})
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct{ in, want string }{
		{"", ""},
		{"x=1", "x=1"},
		{"api_key=abc", "api_key=[redacted]"},
		{"x=1&token=abc&y=2", "x=1&token=[redacted]&y=2"},
		{"a=1;password=p;b", "a=1;password=[redacted];b"},
		{"API%5FKEY=abc&key", "API%5FKEY=[redacted]&key"},
		{"signature=a%26b&&sig=", "signature=[redacted]&&sig=[redacted]"},
		{"tokens=1&keyring=2", "tokens=1&keyring=2"},
	}
	for _, tt := range tests {
		if got := r.redactQuery([]byte(tt.in)); got != tt.want {
			t.Errorf("redactQuery(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
	none, _ := newRedactor(RecordOptions{RedactQuery: []string{}})
	if got := none.redactQuery([]byte("api_key=abc")); got != "api_key=abc" {
		t.Errorf("with an empty list, redactQuery = %q", got)
	}
}

// FuzzRedactQuery checks that no value of a redacted parameter survives, and that the rest of the
// query is kept as it was.
func FuzzRedactQuery(f *testing.F) {
	for _, s := range []string{"api_key=abc&x=1", "a=1;token=t", "%zz=1&sig=%41", "key&key=&=v"} {
		f.Add(s)
	}
	r, err := newRedactor(RecordOptions{})
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, q string) {
		got := r.redactQuery([]byte(q))
		in, out := splitQuery(q), splitQuery(got)
		if len(in) != len(out) {
			t.Fatalf("redactQuery(%q) = %q: %d parameters, want %d", q, got, len(out), len(in))
		}
		for i := range in {
			k, _, hasValue := strings.Cut(in[i], "=")
			if hasValue && r.queryKey([]byte(k)) {
				if out[i] != k+"="+redacted {
					t.Errorf("redactQuery(%q): parameter %q became %q", q, in[i], out[i])
				}
			} else if out[i] != in[i] {
				t.Errorf("redactQuery(%q): parameter %q became %q", q, in[i], out[i])
			}
		}
	})
}

func splitQuery(q string) []string {
	return strings.FieldsFunc(q, func(r rune) bool { return r == '&' || r == ';' })
}

// TestTeeGRPCShadowsCarryNoCredentials: gRPC metadata is headers too; a grpc:// candidate gets no
// authorization unless it is kept.
func TestTeeGRPCShadowsCarryNoCredentials(t *testing.T) {
	for _, keep := range [][]string{nil, {"Authorization"}} {
		got := make(chan metadata.MD, 1)
		url := proxytest.ServeGRPC(t, func(_ context.Context, _ string, md metadata.MD, _ []byte) ([]byte, error) {
			got <- md
			return []byte("same"), nil
		})
		tee := newTestTee(t, prometheus.NewRegistry(), Options{
			Candidates:  []CandidateOptions{{UpstreamOptions: UpstreamOptions{Name: "v2", URL: url}, Sample: 1}},
			KeepHeaders: keep,
		})
		req, resp := grpcExchange("req-1", []byte{1}, []byte("same"), codes.OK)
		tee.Offer(offered(req, resp, time.Millisecond))
		md := <-got
		closeTee(t, tee)
		if has := len(md["authorization"]) > 0; has != (keep != nil) {
			t.Errorf("keep %v: the gRPC candidate got authorization %v", keep, md["authorization"])
		}
		if len(md["x-custom"]) == 0 {
			t.Errorf("the gRPC candidate lost x-custom: %v", md)
		}
	}
}
