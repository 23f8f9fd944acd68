package tee

import (
	"bytes"
	"context"
	"encoding/json"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/valyala/fasthttp"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	"github.com/shadowproxy/shadowproxy/compare"
	"github.com/shadowproxy/shadowproxy/proxy"
	"github.com/shadowproxy/shadowproxy/proxy/proxytest"
	"github.com/shadowproxy/shadowproxy/sink"
)

const inferMethod = "/inference.GRPCInferenceService/ModelInfer"

// grpcExchange builds an exchange as proxy.GRPCServer hands it to the mirror.
func grpcExchange(id string, msg, answer []byte, code codes.Code) (*fasthttp.Request, *fasthttp.Response) {
	req := new(fasthttp.Request)
	req.Header.SetMethod("POST")
	req.SetRequestURI(inferMethod)
	req.Header.SetContentType("application/grpc")
	req.Header.Set("x-request-id", id)
	req.Header.Set("authorization", "Bearer secret-token")
	req.Header.Set("x-custom", "v1")
	req.SetBody(msg)
	resp := new(fasthttp.Response)
	resp.SetStatusCode(proxy.HTTPStatus(code))
	resp.Header.Set(proxy.HeaderGRPCStatus, itoa(int(code)))
	resp.SetBody(answer)
	return req, resp
}

// TestTeeGRPCCandidate: a grpc:// candidate gets each unary call with the client's metadata and the
// shadow marker; the answers are compared (here as bytes: compare.format raw) and recorded with
// their gRPC status and the method as the request path.
func TestTeeGRPCCandidate(t *testing.T) {
	type call struct{ custom, shadow, requestID string }
	var mu sync.Mutex
	var calls []call
	url := proxytest.ServeGRPC(t, func(_ context.Context, method string, md metadata.MD, req []byte) ([]byte, error) {
		mu.Lock()
		calls = append(calls, call{strings.Join(md["x-custom"], ","), strings.Join(md["x-shadowproxy-shadow"], ","), strings.Join(md["x-request-id"], ",")})
		mu.Unlock()
		if method != inferMethod {
			return nil, status.Error(codes.Unimplemented, method)
		}
		if req[0]%2 == 1 {
			return []byte("other"), nil
		}
		return []byte("same"), nil
	})
	reg := prometheus.NewRegistry()
	ms := &memorySink{}
	cmp, err := compare.New(compare.Options{Format: compare.FormatRaw})
	if err != nil {
		t.Fatal(err)
	}
	tee := newTestTee(t, reg, Options{
		Comparator: cmp,
		Candidates: []CandidateOptions{{UpstreamOptions: UpstreamOptions{Name: "v2", URL: url}, Sample: 1}},
		Record:     RecordOptions{Disagreements: 1, Agreements: 1, RedactHeaders: []string{"Authorization"}},
		Sink:       ms,
	})
	const n = 10
	for i := range n {
		req, resp := grpcExchange("req-"+itoa(i), []byte{byte(i)}, []byte("same"), codes.OK)
		if !tee.Offer(offered(req, resp, time.Millisecond)) {
			t.Fatalf("exchange %d not taken", i)
		}
	}
	closeTee(t, tee)
	m := tee.metrics
	if a, d := testutil.ToFloat64(m.comparisons.WithLabelValues("iris", "v2", "agree")), testutil.ToFloat64(m.comparisons.WithLabelValues("iris", "v2", "disagree")); a != 5 || d != 5 {
		t.Errorf("agree %v disagree %v, want 5 and 5", a, d)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(calls) != n {
		t.Fatalf("the candidate got %d calls, want %d", len(calls), n)
	}
	for _, c := range calls {
		if c.custom != "v1" || c.shadow != "1" || !strings.HasPrefix(c.requestID, "req-") {
			t.Errorf("the candidate saw metadata %+v; want the client's x-custom, the shadow marker and the request id", c)
		}
	}
	recs := ms.records()
	if len(recs) != n {
		t.Fatalf("%d records, want %d", len(recs), n)
	}
	for _, r := range recs {
		if r.Request.Path != inferMethod || r.Request.Headers["Authorization"] != "[redacted]" ||
			r.PrimaryResponse.GRPCStatus == nil || *r.PrimaryResponse.GRPCStatus != 0 ||
			r.CandidateResponse.GRPCStatus == nil || *r.CandidateResponse.GRPCStatus != 0 {
			b, _ := json.Marshal(r)
			t.Errorf("record %s: want the method as path, authorization redacted, grpc_status 0 on both answers", b)
		}
	}
}

// TestTeeGRPCCandidateFailures: a dead candidate is a shadow error recorded as candidate_error with
// its gRPC status, a slow one a timeout.
func TestTeeGRPCCandidateFailures(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	dead := "grpc://" + ln.Addr().String()
	ln.Close()
	slow := proxytest.ServeGRPC(t, func(ctx context.Context, _ string, _ metadata.MD, req []byte) ([]byte, error) {
		<-ctx.Done()
		return nil, ctx.Err()
	})
	reg := prometheus.NewRegistry()
	ms := &memorySink{}
	cmp, err := compare.New(compare.Options{Format: compare.FormatRaw})
	if err != nil {
		t.Fatal(err)
	}
	tee := newTestTee(t, reg, Options{
		Comparator: cmp,
		Candidates: []CandidateOptions{
			{UpstreamOptions: UpstreamOptions{Name: "dead", URL: dead}, Sample: 1},
			{UpstreamOptions: UpstreamOptions{Name: "slow", URL: slow, Timeout: 100 * time.Millisecond}, Sample: 1},
		},
		Record: RecordOptions{Disagreements: 1},
		Sink:   ms,
	})
	req, resp := grpcExchange("req-1", []byte("x"), []byte("y"), codes.OK)
	tee.Offer(offered(req, resp, time.Millisecond))
	closeTee(t, tee)
	m := tee.metrics
	if n := testutil.ToFloat64(m.shadows.WithLabelValues("iris", "dead", "error")); n != 1 {
		t.Errorf("dead candidate: shadow errors %v, want 1", n)
	}
	if n := testutil.ToFloat64(m.shadows.WithLabelValues("iris", "slow", "timeout")); n != 1 {
		t.Errorf("slow candidate: shadow timeouts %v, want 1", n)
	}
	byCand := map[string]*sink.Record{}
	for _, r := range ms.records() {
		byCand[r.Candidate] = r
	}
	if r := byCand["dead"]; r == nil || r.Kind != sink.KindCandidateError || r.CandidateResponse.GRPCStatus == nil || *r.CandidateResponse.GRPCStatus != int(codes.Unavailable) {
		t.Errorf("dead candidate's record %+v: want candidate_error with grpc_status 14", r)
	}
}

// TestRewriteHTTP: the candidate gets the path, body and headers rewritten; the record keeps the
// client's request; a rewrite that cannot apply sends the request unchanged, and each is counted.
func TestRewriteHTTP(t *testing.T) {
	type seen struct{ path, body, version, debug string }
	var mu sync.Mutex
	var got []seen
	url := proxytest.Serve(t, func(ctx *fasthttp.RequestCtx) {
		mu.Lock()
		got = append(got, seen{string(ctx.Path()), string(ctx.PostBody()), string(ctx.Request.Header.Peek("X-Model-Version")), string(ctx.Request.Header.Peek("X-Debug"))})
		mu.Unlock()
		ctx.SetContentType("application/json")
		ctx.SetBodyString(`{"ok":true}`)
	})
	reg := prometheus.NewRegistry()
	ms := &memorySink{}
	tee := newTestTee(t, reg, Options{
		Candidates: []CandidateOptions{{
			UpstreamOptions: UpstreamOptions{Name: "v2", URL: url, Concurrency: 1},
			Sample:          1,
			Rewrite: &Rewrite{
				PathFrom: "/v2/models/iris/", PathTo: "/v2/models/iris-v2/",
				BodySet:       map[string][]byte{"model": []byte(`"llama-v2"`)},
				SetHeaders:    map[string]string{"X-Model-Version": "2"},
				RemoveHeaders: []string{"X-Debug"},
			},
		}},
		Record: RecordOptions{Disagreements: 1, Agreements: 1},
		Sink:   ms,
	})
	offer := func(path, body string) {
		req, resp := exchange("req", body, `{"ok":true}`)
		req.SetRequestURI(path)
		req.Header.Set("X-Debug", "1")
		tee.Offer(offered(req, resp, time.Millisecond))
	}
	offer("/v2/models/iris/infer", `{"model":"llama-3-70b","prompt":"hi"}`)
	closeTee(t, tee)
	tee2 := newTestTee(t, reg, Options{
		Metrics: tee.metrics,
		Candidates: []CandidateOptions{{
			UpstreamOptions: UpstreamOptions{Name: "v2", URL: url, Concurrency: 1},
			Sample:          1,
			Rewrite:         &Rewrite{PathFrom: "/v2/models/iris/", PathTo: "/v2/models/iris-v2/", BodySet: map[string][]byte{"model": []byte(`"llama-v2"`)}},
		}},
	})
	tee = tee2
	offer("/v1/other", `{"model":"m"}`)        // no such prefix: not_applicable
	offer("/v2/models/iris/infer", `not json`) // error
	closeTee(t, tee)

	mu.Lock()
	defer mu.Unlock()
	want := []seen{
		{"/v2/models/iris-v2/infer", `{"model":"llama-v2","prompt":"hi"}`, "2", ""},
		{"/v1/other", `{"model":"m"}`, "", "1"},
		{"/v2/models/iris/infer", `not json`, "", "1"},
	}
	if len(got) != len(want) {
		t.Fatalf("the candidate got %+v, want %+v", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("request %d: the candidate got %+v, want %+v", i, got[i], want[i])
		}
	}
	recs := ms.records()
	if len(recs) != 1 || recs[0].Request.Path != "/v2/models/iris/infer" || string(recs[0].Request.Body) != `{"model":"llama-3-70b","prompt":"hi"}` {
		t.Errorf("records %+v: want the client's path and body", recs)
	}
	for res, n := range map[string]float64{"ok": 1, "not_applicable": 1, "error": 1} {
		if v := testutil.ToFloat64(tee.metrics.rewrites.WithLabelValues("iris", "v2", res)); v != n {
			t.Errorf("shadow_rewrites_total{result=%s} = %v, want %v", res, v, n)
		}
	}
}

// TestTeeGRPCViews: ModelInfer answers compare through their KServe v2 view, typed contents and
// raw_output_contents alike; a message that does not decode is unparseable; error answers compare
// by their gRPC codes.
func TestTeeGRPCViews(t *testing.T) {
	const view = `{"model_name":"iris","outputs":[{"name":"label","datatype":"INT64","shape":[2],"data":[1,2]}]}`
	typed, err := compare.GRPCEncode(inferMethod, []byte(view), true)
	if err != nil {
		t.Fatal(err)
	}
	raw, err := compare.GRPCEncodeRaw(inferMethod, []byte(view), true)
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Equal(typed, raw) {
		t.Fatal("typed and raw encodings are the same bytes: the test would not tell them apart")
	}
	flipped, err := compare.GRPCEncodeRaw(inferMethod, []byte(strings.Replace(view, "[1,2]", "[1,0]", 1)), true)
	if err != nil {
		t.Fatal(err)
	}
	url := proxytest.ServeGRPC(t, func(_ context.Context, _ string, md metadata.MD, _ []byte) ([]byte, error) {
		switch strings.Join(md["x-answer"], "") {
		case "raw":
			return raw, nil
		case "flipped":
			return flipped, nil
		case "garbage":
			return []byte{0xff, 0xff, 0xff}, nil
		case "missing":
			return nil, status.Error(codes.NotFound, "no such model")
		}
		return nil, status.Error(codes.Internal, "unexpected")
	})
	reg := prometheus.NewRegistry()
	ms := &memorySink{}
	tee := newTestTee(t, reg, Options{
		Candidates: []CandidateOptions{{UpstreamOptions: UpstreamOptions{Name: "v2", URL: url, Concurrency: 1}, Sample: 1}},
		Record:     RecordOptions{Disagreements: 1},
		Sink:       ms,
	})
	for _, c := range []struct {
		answer  string
		primary codes.Code
	}{{"raw", codes.OK}, {"flipped", codes.OK}, {"garbage", codes.OK}, {"missing", codes.OK}, {"missing", codes.NotFound}} {
		msg := typed
		if c.primary != codes.OK {
			msg = nil
		}
		req, resp := grpcExchange("req-"+c.answer, []byte{}, msg, c.primary)
		req.Header.Set("x-answer", c.answer)
		tee.Offer(offered(req, resp, time.Millisecond))
	}
	closeTee(t, tee)
	for res, want := range map[string]float64{"agree": 2, "disagree": 1, "unparseable": 1, "candidate_error": 1} {
		if got := testutil.ToFloat64(tee.metrics.comparisons.WithLabelValues("iris", "v2", res)); got != want {
			t.Errorf("comparisons{result=%s} = %v, want %v", res, got, want)
		}
	}
	for _, r := range ms.records() {
		if r.Kind == sink.KindDisagreement && len(r.Diff) == 1 && r.Diff[0].Path != "outputs.label[1]" {
			t.Errorf("the flipped answer's diff %+v, want outputs.label[1]", r.Diff)
		}
	}
}

// TestTeeGRPCPredict: TF Serving Predict answers compare through TF Serving's columnar view (a single
// output is the tensor itself: outputs[*] is a row), so tfserving rules apply (argmax per row);
// typed values and tensor_content agree.
func TestTeeGRPCPredict(t *testing.T) {
	encode := func(view string, raw bool) []byte {
		enc := compare.GRPCEncode
		if raw {
			enc = compare.GRPCEncodeRaw
		}
		b, err := enc(compare.MethodPredict, []byte(view), true)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	primary := encode(`{"outputs":{"scores":[[0.1,0.9],[0.8,0.2]]}}`, false)
	answers := map[string][]byte{
		"same-raw": encode(`{"outputs":{"scores":[[0.1,0.9],[0.8,0.2]]}}`, true),
		"argmax":   encode(`{"outputs":{"scores":[[0.3,0.7],[0.6,0.4]]}}`, true), // beyond the tolerance, the same classes
		"flipped":  encode(`{"outputs":{"scores":[[0.1,0.9],[0.2,0.8]]}}`, false),
	}
	url := proxytest.ServeGRPC(t, func(_ context.Context, _ string, md metadata.MD, _ []byte) ([]byte, error) {
		return answers[strings.Join(md["x-answer"], "")], nil
	})
	cmp, err := compare.New(compare.Options{Format: compare.FormatTFServing, Rules: []compare.Rule{{Path: "outputs[*]", Mode: "argmax"}}})
	if err != nil {
		t.Fatal(err)
	}
	reg := prometheus.NewRegistry()
	tee := newTestTee(t, reg, Options{
		Comparator: cmp,
		Candidates: []CandidateOptions{{UpstreamOptions: UpstreamOptions{Name: "v2", URL: url, Concurrency: 1}, Sample: 1}},
	})
	for name := range answers {
		req, resp := grpcExchange("req-"+name, []byte{}, primary, codes.OK)
		req.SetRequestURI(compare.MethodPredict)
		req.Header.Set("x-answer", name)
		tee.Offer(offered(req, resp, time.Millisecond))
	}
	closeTee(t, tee)
	for res, want := range map[string]float64{"agree": 2, "disagree": 1} {
		if got := testutil.ToFloat64(tee.metrics.comparisons.WithLabelValues("iris", "v2", res)); got != want {
			t.Errorf("comparisons{result=%s} = %v, want %v", res, got, want)
		}
	}
	if got := testutil.ToFloat64(tee.metrics.predictions.WithLabelValues("iris", "v2", "disagree")); got != 1 {
		t.Errorf("predictions{result=disagree} = %v, want 1 (the second row's class)", got)
	}
}
