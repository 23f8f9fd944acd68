package tee

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/valyala/fasthttp"
	"go.uber.org/goleak"

	"github.com/shadowproxy/shadowproxy/compare"
	"github.com/shadowproxy/shadowproxy/proxy"
	"github.com/shadowproxy/shadowproxy/proxy/proxytest"
	"github.com/shadowproxy/shadowproxy/sink"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m, proxytest.IgnoreFasthttp()...) }

// memorySink keeps records in memory: a real Sink, for asserting what the tee writes.
type memorySink struct {
	mu   sync.Mutex
	recs []*sink.Record
}

func (s *memorySink) Write(r *sink.Record)        { s.mu.Lock(); s.recs = append(s.recs, r); s.mu.Unlock() }
func (s *memorySink) Close(context.Context) error { return nil }
func (s *memorySink) records() []*sink.Record {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]*sink.Record(nil), s.recs...)
}

var _ sink.Sink = (*memorySink)(nil)

// exchange builds a client request with body and the primary's answer.
func exchange(id, body, answer string) (*fasthttp.Request, *fasthttp.Response) {
	req := new(fasthttp.Request)
	req.Header.SetMethod("POST")
	req.SetRequestURI("/v1/models/iris:predict?x=1")
	req.Header.Set("X-Request-Id", id)
	req.Header.Set("Authorization", "Bearer secret-token")
	req.Header.SetContentType("application/json")
	req.SetBodyString(body)
	resp := new(fasthttp.Response)
	resp.Header.SetContentType("application/json")
	resp.SetBodyString(answer)
	return req, resp
}

// offered is the exchange the proxy hands the tee for req and resp: the request id is the request's
// X-Request-Id and the primary took latency.
func offered(req *fasthttp.Request, resp *fasthttp.Response, latency time.Duration) *proxy.Exchange {
	return &proxy.Exchange{
		Route:     "iris",
		RequestID: req.Header.Peek(proxy.HeaderRequestID),
		Request:   req,
		Response:  resp,
		Start:     time.Now().Add(-latency),
		Latency:   latency,
	}
}

// labelModel answers {"predictions":[label]} where label is the request's "x" field, except that it
// adds delta to x listed in wrong.
func labelModel(wrong map[int]bool) fasthttp.RequestHandler {
	return func(ctx *fasthttp.RequestCtx) {
		var in struct{ X int }
		_ = json.Unmarshal(ctx.PostBody(), &in)
		label := in.X
		if wrong[in.X] {
			label += 100
		}
		ctx.SetContentType("application/json")
		ctx.SetBodyString(`{"predictions":[` + itoa(label) + `],"model_version":"2"}`)
	}
}

func itoa(i int) string { b, _ := json.Marshal(i); return string(b) }

func newTestTee(t *testing.T, reg *prometheus.Registry, o Options) *Tee {
	t.Helper()
	if o.Metrics == nil {
		o.Metrics = NewMetrics(reg, nil)
	}
	if o.Route == "" {
		o.Route = "iris"
	}
	tee, err := New(o)
	if err != nil {
		t.Fatal(err)
	}
	return tee
}

func closeTee(t *testing.T, tee *Tee) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := tee.Close(ctx); err != nil {
		t.Fatal(err)
	}
}

func TestTeeRecordsExactlyTheDisagreements(t *testing.T) {
	wrong := map[int]bool{3: true, 7: true, 11: true}
	url := proxytest.Serve(t, labelModel(wrong))
	reg := prometheus.NewRegistry()
	ms := &memorySink{}
	cmp, err := compare.New(compare.Options{Ignore: []string{"model_version"}, Tolerance: compare.Tolerance{Abs: 1e-6, Rel: 1e-4}})
	if err != nil {
		t.Fatal(err)
	}
	tee := newTestTee(t, reg, Options{
		Comparator: cmp,
		Methods:    []string{"POST"},
		Candidates: []CandidateOptions{{UpstreamOptions: UpstreamOptions{Name: "v2", URL: url}, Sample: 1}},
		Record:     RecordOptions{Disagreements: 1, Agreements: 0, RedactHeaders: []string{"Authorization"}},
		Sink:       ms,
	})
	const n = 20
	for i := range n {
		req, resp := exchange("req-"+itoa(i), `{"x":`+itoa(i)+`}`, `{"predictions":[`+itoa(i)+`],"model_version":"1"}`)
		if !tee.Offer(offered(req, resp, time.Millisecond)) {
			t.Fatalf("exchange %d not taken", i)
		}
	}
	closeTee(t, tee)

	if got := testutil.ToFloat64(tee.metrics.shadows.WithLabelValues("iris", "v2", "ok")); got != n {
		t.Errorf("ok shadows = %v, want %d", got, n)
	}
	if got := testutil.ToFloat64(tee.metrics.comparisons.WithLabelValues("iris", "v2", "disagree")); got != float64(len(wrong)) {
		t.Errorf("disagreements = %v, want %d", got, len(wrong))
	}
	if got := testutil.ToFloat64(tee.metrics.comparisons.WithLabelValues("iris", "v2", "agree")); got != float64(n-len(wrong)) {
		t.Errorf("agreements = %v, want %d", got, n-len(wrong))
	}
	recs := ms.records()
	if len(recs) != len(wrong) {
		t.Fatalf("records = %d, want %d", len(recs), len(wrong))
	}
	for _, r := range recs {
		var in struct{ X int }
		if err := json.Unmarshal(r.Request.Body, &in); err != nil || !wrong[in.X] {
			t.Errorf("recorded request %s is not one of the disagreeing inputs", r.Request.Body)
		}
		if len(r.Diff) != 1 || r.Diff[0].Path != "predictions[0]" {
			t.Errorf("diff = %+v", r.Diff)
		}
		if r.Kind != sink.KindDisagreement || r.Route != "iris" || r.Candidate != "v2" || r.Weight != 1 {
			t.Errorf("record %+v", r)
		}
		if r.Request.Headers["Authorization"] != redacted {
			t.Errorf("Authorization = %q, want redacted", r.Request.Headers["Authorization"])
		}
		if _, ok := r.Request.Headers[proxy.ShadowHeader]; ok {
			t.Errorf("record keeps the shadow marker header")
		}
		if !strings.HasPrefix(r.ID, "req-") {
			t.Errorf("id = %q", r.ID)
		}
	}
}

// TestTeeRecordsTheExchangesFields checks that a record takes its id, time and primary latency from
// the exchange the proxy hands over, not from the request's headers or the time of the offer.
func TestTeeRecordsTheExchangesFields(t *testing.T) {
	url := proxytest.Serve(t, labelModel(map[int]bool{1: true}))
	ms := &memorySink{}
	tee := newTestTee(t, prometheus.NewRegistry(), Options{
		Candidates: []CandidateOptions{{UpstreamOptions: UpstreamOptions{Name: "v2", URL: url}, Sample: 1}},
		Record:     RecordOptions{Disagreements: 1},
		Sink:       ms,
	})
	req, resp := exchange("header-id", `{"x":1}`, `{"predictions":[1],"model_version":"1"}`)
	start := time.Date(2026, 1, 2, 3, 4, 5, 6000, time.UTC)
	ex := &proxy.Exchange{Route: "iris", RequestID: []byte("exchange-id"), Request: req, Response: resp, Start: start, Latency: 250 * time.Millisecond}
	if !tee.Offer(ex) {
		t.Fatal("exchange not taken")
	}
	ex.RequestID[0] = 'X' // the proxy reuses its buffers once Offer returns
	closeTee(t, tee)
	recs := ms.records()
	if len(recs) != 1 {
		t.Fatalf("records = %d, want 1", len(recs))
	}
	r := recs[0]
	if r.ID != "exchange-id" || !r.Time.Equal(start) || r.PrimaryResponse.LatencyMS != 250 {
		t.Errorf("id %q, time %v, primary latency %v ms; want exchange-id, %v, 250", r.ID, r.Time, r.PrimaryResponse.LatencyMS, start)
	}
}

// A stuck candidate with one worker and a queue of two takes exactly three exchanges (one in flight,
// two queued); every other Offer returns at once, reports false and is counted as a queue_full drop.
// The offers run while the candidate is still stuck: an Offer that waited for it would never return.
func TestTeeOfferNeverBlocksAndCountsDrops(t *testing.T) {
	release := make(chan struct{})
	arrived := make(chan struct{}, 1)
	url := proxytest.Serve(t, func(ctx *fasthttp.RequestCtx) {
		select {
		case arrived <- struct{}{}:
		default:
		}
		<-release
	})
	reg := prometheus.NewRegistry()
	tee := newTestTee(t, reg, Options{
		Candidates: []CandidateOptions{{UpstreamOptions: UpstreamOptions{Name: "stuck", URL: url, Concurrency: 1, Queue: 2, Timeout: 10 * time.Second}, Sample: 1}},
	})
	defer closeTee(t, tee)
	defer close(release)
	const n = 50
	offer := func(i int) bool {
		req, resp := exchange(itoa(i), `{}`, `{}`)
		return tee.Offer(offered(req, resp, 0))
	}
	if !offer(0) {
		t.Fatal("the first exchange was not taken by an idle candidate")
	}
	select {
	case <-arrived: // the worker is now stuck in the candidate; the queue is empty
	case <-time.After(5 * time.Second):
		t.Fatal("the first exchange never reached the candidate")
	}
	taken := make(chan []bool, 1)
	go func() {
		got := make([]bool, 0, n-1)
		for i := 1; i < n; i++ {
			got = append(got, offer(i))
		}
		taken <- got
	}()
	var got []bool
	select {
	case got = <-taken:
	case <-time.After(5 * time.Second):
		t.Fatal("Offer blocked on a stuck candidate")
	}
	for i, ok := range got {
		if want := i < 2; ok != want { // the queue's two places, then drops
			t.Errorf("offer %d: taken %v, want %v", i+1, ok, want)
		}
	}
	dropped := testutil.ToFloat64(tee.metrics.shadows.WithLabelValues("iris", "stuck", "dropped"))
	if dropped != n-3 {
		t.Errorf("dropped = %v, want %d", dropped, n-3)
	}
	if q := testutil.ToFloat64(tee.metrics.drops.WithLabelValues("iris", "stuck", dropQueueFull)); q != n-3 {
		t.Errorf("queue_full drops = %v, want %d", q, n-3)
	}
}

func TestTeeCandidateFailures(t *testing.T) {
	dead, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	deadURL := "http://" + dead.Addr().String()
	dead.Close()
	tests := []struct {
		name    string
		url     string
		timeout time.Duration
		outcome string
		result  string // comparison result, "" when none is made
	}{
		{"refused", deadURL, time.Second, "error", ""},
		{"slow", proxytest.Serve(t, func(ctx *fasthttp.RequestCtx) { time.Sleep(300 * time.Millisecond) }), 50 * time.Millisecond, "timeout", ""},
		{"5xx", proxytest.Serve(t, func(ctx *fasthttp.RequestCtx) { ctx.SetStatusCode(503) }), time.Second, "error", "candidate_error"},
		{"garbage", proxytest.Serve(t, func(ctx *fasthttp.RequestCtx) {
			ctx.SetContentType("application/json")
			ctx.SetBodyString("\x00\xff{{not json")
		}), time.Second, "ok", "unparseable"},
		{"wrong content type", proxytest.Serve(t, func(ctx *fasthttp.RequestCtx) {
			ctx.SetContentType("text/html")
			ctx.SetBodyString("<html>maintenance</html>")
		}), time.Second, "ok", "unparseable"},
		{"reset mid-response", rawServer(t, "HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n{\"predi", 0), time.Second, "error", ""},
		{"body too large", proxytest.Serve(t, func(ctx *fasthttp.RequestCtx) { ctx.SetBody(make([]byte, 64<<10)) }), time.Second, "error", ""},
		{"slow drip", rawServer(t, "HTTP/1.1 200 OK\r\nContent-Length: 20\r\n\r\n{\"predictions\":[1]}", 40*time.Millisecond), 200 * time.Millisecond, "timeout", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			reg := prometheus.NewRegistry()
			ms := &memorySink{}
			tee := newTestTee(t, reg, Options{
				Candidates: []CandidateOptions{{UpstreamOptions: UpstreamOptions{Name: "c", URL: tt.url, Timeout: tt.timeout, MaxResponseBody: 32 << 10}, Sample: 1}},
				Record:     RecordOptions{Disagreements: 1},
				Sink:       ms,
			})
			req, resp := exchange("id-1", `{"x":1}`, `{"predictions":[1]}`)
			tee.Offer(offered(req, resp, time.Millisecond))
			closeTee(t, tee)
			if got := testutil.ToFloat64(tee.metrics.shadows.WithLabelValues("iris", "c", tt.outcome)); got != 1 {
				t.Errorf("outcome %s = %v, want 1", tt.outcome, got)
			}
			if tt.result != "" {
				if got := testutil.ToFloat64(tee.metrics.comparisons.WithLabelValues("iris", "c", tt.result)); got != 1 {
					t.Errorf("result %s = %v, want 1", tt.result, got)
				}
			}
			if got := testutil.ToFloat64(tee.metrics.comparisons.WithLabelValues("iris", "c", "disagree")); got != 0 {
				t.Errorf("a failure was counted as a disagreement")
			}
			recs := ms.records()
			if len(recs) != 1 {
				t.Fatalf("records = %d, want 1", len(recs))
			}
			if tt.result != "unparseable" && recs[0].Kind != sink.KindCandidateError {
				t.Errorf("kind = %s, want candidate_error", recs[0].Kind)
			}
		})
	}
}

func TestTeeCloseCountsAbandoned(t *testing.T) {
	release := make(chan struct{})
	url := proxytest.Serve(t, func(ctx *fasthttp.RequestCtx) { <-release })
	reg := prometheus.NewRegistry()
	tee := newTestTee(t, reg, Options{
		Candidates: []CandidateOptions{{UpstreamOptions: UpstreamOptions{Name: "c", URL: url, Concurrency: 1, Queue: 10, Timeout: 200 * time.Millisecond}, Sample: 1}},
	})
	for i := range 5 {
		req, resp := exchange(itoa(i), `{}`, `{}`)
		tee.Offer(offered(req, resp, 0))
	}
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	if err := tee.Close(ctx); err == nil {
		t.Error("Close with a short deadline and a stuck candidate returned nil")
	}
	close(release)
	var total float64
	for _, o := range outcomeLabels {
		total += testutil.ToFloat64(tee.metrics.shadows.WithLabelValues("iris", "c", o))
	}
	if total != 5 {
		t.Errorf("outcomes add up to %v, want 5 (nothing lost silently)", total)
	}
	// The one worker holds the first job past the deadline; the 4 queued behind it are dropped, not
	// each sent and waited for to its timeout.
	if got := testutil.ToFloat64(tee.metrics.drops.WithLabelValues("iris", "c", dropShutdown)); got < 4 {
		t.Errorf("shutdown drops = %v, want >= 4 (the queued jobs)", got)
	}
	// Offers after Close are refused.
	req, resp := exchange("late", `{}`, `{}`)
	if tee.Offer(offered(req, resp, 0)) {
		t.Error("Offer after Close was taken")
	}
}

func TestTeeShadowRequestHeaders(t *testing.T) {
	got := make(chan *fasthttp.RequestHeader, 1)
	url := proxytest.Serve(t, func(ctx *fasthttp.RequestCtx) {
		h := new(fasthttp.RequestHeader)
		ctx.Request.Header.CopyTo(h)
		got <- h
	})
	tee := newTestTee(t, prometheus.NewRegistry(), Options{
		Candidates:    []CandidateOptions{{UpstreamOptions: UpstreamOptions{Name: "c", URL: url}, Sample: 1}},
		RemoveHeaders: []string{"Authorization"},
	})
	req, resp := exchange("id-h", `{}`, `{}`)
	tee.Offer(offered(req, resp, 0))
	h := <-got
	closeTee(t, tee)
	if string(h.Peek(proxy.ShadowHeader)) != "1" {
		t.Error("shadow request lacks the shadow marker")
	}
	if len(h.Peek("Authorization")) != 0 {
		t.Error("removed header reached the candidate")
	}
	if string(h.Peek("X-Request-Id")) != "id-h" {
		t.Errorf("X-Request-Id = %q", h.Peek("X-Request-Id"))
	}
}

func TestTeeMirrorsOnlyConfiguredMethods(t *testing.T) {
	url := proxytest.Serve(t, func(ctx *fasthttp.RequestCtx) {})
	tee := newTestTee(t, prometheus.NewRegistry(), Options{
		Methods:    []string{"POST"},
		Candidates: []CandidateOptions{{UpstreamOptions: UpstreamOptions{Name: "c", URL: url}, Sample: 1}},
	})
	req, resp := exchange("id", `{}`, `{}`)
	req.Header.SetMethod("DELETE")
	if tee.Offer(offered(req, resp, 0)) {
		t.Error("a DELETE was mirrored by a POST-only route")
	}
	closeTee(t, tee)
}

func TestRedactorBody(t *testing.T) {
	tests := []struct {
		name   string
		fields []string
		key    string
		in     string
		want   string
	}{
		{"none", nil, "", `{"a":1}`, `{"a":1}`},
		{"top", []string{"email"}, "", `{"email":"x@y","a":1}`, `{"email":"[redacted]","a":1}`},
		{"nested any index", []string{"users[*].ssn"}, "", `{"users":[{"ssn":"1"},{"ssn":"2","n":3}]}`, `{"users":[{"ssn":"[redacted]"},{"ssn":"[redacted]","n":3}]}`},
		{"one index", []string{"xs[1]"}, "", `{"xs":[1,2,3]}`, `{"xs":[1,"[redacted]",3]}`},
		{"absent", []string{"nope.x"}, "", `{"a":1}`, `{"a":1}`},
		{"not json", []string{"a"}, "", `a=1`, `a=1`},
		{"hash", []string{"email"}, "k", `{"email":"x@y"}`, `{"email":"hmac-sha256:`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, err := newRedactor(RecordOptions{RedactFields: tt.fields, HashKey: []byte(tt.key)})
			if err != nil {
				t.Fatal(err)
			}
			got := string(r.body([]byte(tt.in)))
			if !strings.HasPrefix(got, tt.want) {
				t.Errorf("body(%s) = %s, want %s", tt.in, got, tt.want)
			}
			if tt.key != "" && strings.Contains(got, "x@y") {
				t.Errorf("hashed body still holds the secret: %s", got)
			}
		})
	}
}

func TestParseFieldPathErrors(t *testing.T) {
	for _, s := range []string{"", "a[", "a[x]", ".a", "a."} {
		if _, err := parseFieldPath(s); err == nil {
			t.Errorf("parseFieldPath(%q) = nil error", s)
		}
	}
}

func TestTeeChaos(t *testing.T) {
	same := func(ctx *fasthttp.RequestCtx) {
		ctx.SetContentType("application/json")
		ctx.SetBodyString(`{"predictions":[{"label":1,"scores":[0.1,0.8,0.1]}]}`)
	}
	tests := []struct {
		name   string
		chaos  Chaos
		kind   string
		result string
	}{
		{"flip", Chaos{FlipRate: 1, Format: "tfserving"}, "flip", "disagree"},
		{"error", Chaos{ErrorRate: 1}, "error", "candidate_error"},
		{"latency", Chaos{Latency: 10 * time.Millisecond}, "latency", "agree"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ms := &memorySink{}
			tee := newTestTee(t, prometheus.NewRegistry(), Options{
				Candidates: []CandidateOptions{{UpstreamOptions: UpstreamOptions{Name: "c", URL: proxytest.Serve(t, same)}, Sample: 1, Chaos: tt.chaos}},
				Record:     RecordOptions{Disagreements: 1},
				Sink:       ms,
			})
			const n = 5
			for i := range n {
				req, resp := exchange(itoa(i), `{}`, `{"predictions":[{"label":1,"scores":[0.1,0.8,0.1]}]}`)
				tee.Offer(offered(req, resp, 0))
			}
			closeTee(t, tee)
			if got := testutil.ToFloat64(tee.metrics.chaos.WithLabelValues("iris", "c", tt.kind)); got != n {
				t.Errorf("chaos %s = %v, want %d", tt.kind, got, n)
			}
			if got := testutil.ToFloat64(tee.metrics.comparisons.WithLabelValues("iris", "c", tt.result)); got != n {
				t.Errorf("%s = %v, want %d", tt.result, got, n)
			}
			for _, r := range ms.records() {
				if !strings.Contains(r.Chaos, tt.kind) {
					t.Errorf("record does not say chaos %s was injected: %q", tt.kind, r.Chaos)
				}
			}
		})
	}
}

func TestTeeNoiseCancellation(t *testing.T) {
	// Every instance stamps a random "ts": that field differs between the two production instances
	// (primary and secondary) as often as between primary and candidate, so it is noise. The
	// candidate's label is wrong for one input in ten: that is a real difference.
	model := func(wrongEvery int) fasthttp.RequestHandler {
		return func(ctx *fasthttp.RequestCtx) {
			var in struct{ X int }
			_ = json.Unmarshal(ctx.PostBody(), &in)
			label := in.X
			if wrongEvery > 0 && in.X%wrongEvery == 0 {
				label++
			}
			ctx.SetContentType("application/json")
			fmt.Fprintf(ctx, `{"label":%d,"ts":%d}`, label, time.Now().UnixNano())
		}
	}
	reg := prometheus.NewRegistry()
	tee := newTestTee(t, reg, Options{
		Candidates: []CandidateOptions{{UpstreamOptions: UpstreamOptions{Name: "c", URL: proxytest.Serve(t, model(10)), Concurrency: 1}, Sample: 1}},
		Secondary:  &UpstreamOptions{URL: proxytest.Serve(t, model(0)), Concurrency: 1},
	})
	done := func() float64 {
		var n float64
		for _, r := range []string{"agree", "disagree"} {
			n += testutil.ToFloat64(tee.metrics.comparisons.WithLabelValues("iris", "c", r))
		}
		return n
	}
	const n = 200
	for i := 1; i <= n; i++ {
		req, resp := exchange(itoa(i), fmt.Sprintf(`{"x":%d}`, i), fmt.Sprintf(`{"label":%d,"ts":%d}`, i, time.Now().UnixNano()))
		tee.Offer(offered(req, resp, 0))
		deadline := time.Now().Add(5 * time.Second)
		for done() < float64(i) && time.Now().Before(deadline) {
			time.Sleep(time.Millisecond)
		}
	}
	closeTee(t, tee)
	disagree := testutil.ToFloat64(tee.metrics.comparisons.WithLabelValues("iris", "c", "disagree"))
	filtered := testutil.ToFloat64(tee.metrics.noise.WithLabelValues("iris", "c"))
	// The 20 wrong labels always count; ts-only differences count only before the noise table has
	// its first 30 samples.
	if disagree < n/10 || disagree > n/10+minNoiseSamples+5 {
		t.Errorf("disagreements = %v, want the %d real ones plus at most the first %d", disagree, n/10, minNoiseSamples)
	}
	if filtered < n-n/10-minNoiseSamples-5 {
		t.Errorf("noise-filtered = %v, want nearly every ts-only difference", filtered)
	}
}

// rawServer answers every connection by writing reply a byte every drip (all at once when drip is 0)
// and then resetting the connection.
func rawServer(t *testing.T, reply string, drip time.Duration) string {
	t.Helper()
	return proxytest.ServeConns(t, func(c net.Conn) {
		_ = c.SetDeadline(time.Now().Add(5 * time.Second))
		buf := make([]byte, 4096)
		_, _ = c.Read(buf)
		if drip == 0 {
			_, _ = c.Write([]byte(reply))
		} else {
			for i := range len(reply) {
				if _, err := c.Write([]byte{reply[i]}); err != nil {
					return
				}
				time.Sleep(drip)
			}
		}
		_ = c.(*net.TCPConn).SetLinger(0)
	})
}

func TestTeeBodyTooLargeIsNotMirrored(t *testing.T) {
	tee := newTestTee(t, prometheus.NewRegistry(), Options{
		MaxBody:    16,
		Candidates: []CandidateOptions{{UpstreamOptions: UpstreamOptions{Name: "c", URL: proxytest.Serve(t, func(*fasthttp.RequestCtx) {})}, Sample: 1}},
	})
	for _, tt := range []struct{ body, answer string }{{`{"x":"` + strings.Repeat("a", 32) + `"}`, `{}`}, {`{}`, `{"y":"` + strings.Repeat("b", 32) + `"}`}} {
		req, resp := exchange("big", tt.body, tt.answer)
		if tee.Offer(offered(req, resp, 0)) {
			t.Errorf("an exchange over MaxBody was mirrored (%d, %d bytes)", len(tt.body), len(tt.answer))
		}
	}
	closeTee(t, tee)
	if got := testutil.ToFloat64(tee.metrics.drops.WithLabelValues("iris", "c", dropBodyTooLarge)); got != 2 {
		t.Errorf("body_too_large drops = %v, want 2", got)
	}
}

func TestTeeCompressedPrimaryAnswer(t *testing.T) {
	const answer = `{"predictions":[{"label":2}]}`
	url := proxytest.Serve(t, func(ctx *fasthttp.RequestCtx) {
		ctx.SetContentType("application/json")
		ctx.SetBodyString(answer)
	})
	ms := &memorySink{}
	tee := newTestTee(t, prometheus.NewRegistry(), Options{
		Candidates: []CandidateOptions{{UpstreamOptions: UpstreamOptions{Name: "c", URL: url}, Sample: 1}},
		Record:     RecordOptions{Agreements: 1, Disagreements: 1},
		Sink:       ms,
	})
	req, resp := exchange("gz", `{}`, "")
	resp.SetBody(fasthttp.AppendGzipBytes(nil, []byte(answer)))
	resp.Header.SetContentEncoding("gzip")
	tee.Offer(offered(req, resp, 0))
	closeTee(t, tee)
	if got := testutil.ToFloat64(tee.metrics.comparisons.WithLabelValues("iris", "c", "agree")); got != 1 {
		t.Errorf("agree = %v: the gzip-compressed primary answer was not compared decompressed", got)
	}
	recs := ms.records()
	if len(recs) != 1 || string(recs[0].PrimaryResponse.Body) != answer {
		t.Fatalf("records %d, primary body %s", len(recs), recs[0].PrimaryResponse.Body)
	}
}
