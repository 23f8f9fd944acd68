package main

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/valyala/fasthttp"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	"github.com/shadowproxy/shadowproxy/proxy/proxytest"
)

// grpcClient is a grpc-go client of the proxy's gRPC listener passing messages as bytes.
func grpcClient(t *testing.T, addr string) *grpc.ClientConn {
	t.Helper()
	conn, err := grpc.NewClient("passthrough:///"+addr, grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithDefaultCallOptions(grpc.ForceCodec(proxytest.Bytes{}), grpc.MaxCallRecvMsgSize(64<<20), grpc.MaxCallSendMsgSize(64<<20)))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return conn
}

func infer(ctx context.Context, conn *grpc.ClientConn, req []byte, opts ...grpc.CallOption) ([]byte, error) {
	var resp []byte
	ctx = metadata.AppendToOutgoingContext(ctx, "authorization", "Bearer SECRET-TOKEN-1")
	err := conn.Invoke(ctx, modelInfer, &req, &resp, opts...)
	return resp, err
}

// grpcConfig is a gRPC route to primary with one candidate; extra is added to the candidate.
func grpcConfig(primary, candidate, records, extra string) string {
	return fmt.Sprintf(`listen: "127.0.0.1:0"
grpc_listen: "127.0.0.1:0"
admin: "127.0.0.1:0"
shutdown_timeout: 10s
max_request_body: 1MiB
routes:
  - name: fraud-grpc
    match: {path_prefix: /inference.GRPCInferenceService/}
    primary: {url: %q, timeout: 5s}
    candidates:
      - name: fraud-v8
        url: %q
%s
    compare:
      format: kserve-v2
      ignore: [model_version, id, parameters.served_at]
      tolerance: {abs: 1.0e-5, rel: 1.0e-3}
      rules:
        - {path: outputs.probabilities, mode: argmax}
    record: {disagreements: 100%%, agreements: 0%%, max_body: 64KiB}
sinks:
  file: {path: %q}
`, primary, candidate, extra, records)
}

// needGoTool finds a tool installed with go install (in PATH or GOPATH/bin); without it the test
// skips, except in CI, where .ci/run installs it and the test fails.
func needGoTool(t *testing.T, name string) string {
	t.Helper()
	if p, err := exec.LookPath(name); err == nil {
		return p
	}
	if out, err := exec.Command("go", "env", "GOPATH").Output(); err == nil {
		p := filepath.Join(strings.TrimSpace(string(out)), "bin", name)
		if _, err := os.Stat(p); err == nil {
			return p
		}
	}
	if os.Getenv("CI") == "true" {
		t.Fatalf("%s is required in CI", name)
	}
	t.Skipf("%s not installed", name)
	return ""
}

// TestE2EGRPCKServeV2 sends batches of two instances through the binary to a KServe v2 gRPC model
// (typed contents) shadowed to a candidate answering with raw_output_contents: the two agree where
// their classes agree (argmax rule, probabilities beyond the tolerance), predictions are counted
// one by one, and each disagreement record names the prediction that moved, with the method as
// the request path, the decoded views and each answer's gRPC status.
func TestE2EGRPCKServeV2(t *testing.T) {
	flip := func(x int) bool { return x%5 == 0 && x%2 == 1 } // second instances only
	primary := proxytest.ServeGRPC(t, v2Model{version: "7"}.handler())
	candidate := proxytest.ServeGRPC(t, v2Model{version: "8", raw: true, candidate: true, flip: flip}.handler())
	records := filepath.Join(t.TempDir(), "records.jsonl")
	p, _ := startProxy(t, grpcConfig(primary, candidate, records, ""))
	conn := grpcClient(t, p.grpc)

	const n = 50
	flipped := 0
	for i := range n {
		x := []float32{float32(2 * i), float32(2*i + 1)} // the second instance flips for 2i+1 in flip
		if flip(2*i + 1) {
			flipped++
		}
		var hdr metadata.MD
		resp, err := infer(context.Background(), conn, encodeV2Request("fraud", fmt.Sprintf("kv2-%02d", i), x, false), grpc.Header(&hdr))
		if err != nil {
			t.Fatalf("call %d: %v", i, err)
		}
		want := encodeV2Response("fraud", "7", fmt.Sprintf("kv2-%02d", i), "t-7", nil, false)
		if !bytes.HasPrefix(resp, want[:len(want)-len("t-7")-12]) || len(hdr["x-request-id"]) != 1 {
			t.Fatalf("call %d: answer %q, header %v: want the primary's answer and a request id", i, resp, hdr)
		}
	}
	sample := func(metric, result string) string {
		return fmt.Sprintf(`shadowproxy_%s_total{candidate="fraud-v8",result=%q,route="fraud-grpc"}`, metric, result)
	}
	waitFor(t, "50 comparisons", func() bool {
		return p.metric(t, sample("comparisons", "agree"))+p.metric(t, sample("comparisons", "disagree"))+p.metric(t, sample("comparisons", "unparseable")) == n
	})
	for _, c := range []struct {
		metric, result string
		want           float64
	}{
		{"comparisons", "agree", float64(n - flipped)}, {"comparisons", "disagree", float64(flipped)},
		{"predictions", "agree", float64(2*n - flipped)}, {"predictions", "disagree", float64(flipped)},
	} {
		if got := p.metric(t, sample(c.metric, c.result)); got != c.want {
			t.Errorf("%s = %v, want %v", sample(c.metric, c.result), got, c.want)
		}
	}
	if got := p.metric(t, `shadowproxy_requests_total{code="200",route="fraud-grpc"}`); got != n {
		t.Errorf("requests_total{code=200} = %v, want %d", got, n)
	}
	if _, st, err := fasthttp.Get(nil, "http://"+p.admin+"/status"); err != nil || !bytes.Contains(st, []byte(`"fraud-v8"`)) {
		t.Errorf("/status does not show the gRPC route's candidate: %s %v", st, err)
	}
	p.stop(t)

	recs := readRecords(t, records)
	if len(recs) != flipped {
		t.Fatalf("%d records, want %d", len(recs), flipped)
	}
	for _, r := range recs {
		var paths []string
		for _, d := range r["diff"].([]any) {
			paths = append(paths, d.(map[string]any)["path"].(string))
		}
		sort.Strings(paths)
		req := r["request"].(map[string]any)
		pr, cr := r["primary_response"].(map[string]any), r["candidate_response"].(map[string]any)
		body, _ := req["body"].(map[string]any)
		if got := strings.Join(paths, " "); got != "outputs.label[1] outputs.probabilities[1]" ||
			req["path"] != modelInfer || body["model_name"] != "fraud" ||
			pr["grpc_status"] != 0.0 || cr["grpc_status"] != 0.0 || req["headers"].(map[string]any)["Authorization"] != "[redacted]" {
			b, _ := json.Marshal(r)
			t.Errorf("record %s\nwant diff paths outputs.label[1] outputs.probabilities[1], the method as path, the request's view, grpc_status 0 and authorization redacted", b)
		}
	}
}

// TestE2EGRPCurl calls the binary with grpcurl, a gRPC client no one here wrote, given the .proto
// of the protocol's wire contract.
func TestE2EGRPCurl(t *testing.T) {
	grpcurl := needGoTool(t, "grpcurl")
	primary := proxytest.ServeGRPC(t, v2Model{version: "7"}.handler())
	candidate := proxytest.ServeGRPC(t, v2Model{version: "8", raw: true, candidate: true, flip: func(int) bool { return true }}.handler())
	records := filepath.Join(t.TempDir(), "records.jsonl")
	p, _ := startProxy(t, grpcConfig(primary, candidate, records, ""))
	req := `{"model_name":"fraud","id":"curl-1","inputs":[{"name":"x","datatype":"FP32","shape":[2,1],"contents":{"fp32_contents":[4,7]}}]}`
	out, err := exec.Command(grpcurl, "-plaintext", "-import-path", "testdata", "-proto", "kserve_v2.proto",
		"-H", "authorization: Bearer SECRET-TOKEN-1", "-H", "x-request-id: curl-1", "-d", req,
		p.grpc, "inference.GRPCInferenceService/ModelInfer").CombinedOutput()
	if err != nil {
		t.Fatalf("grpcurl: %v\n%s", err, out)
	}
	var resp struct {
		ModelName, ModelVersion, ID string
		Outputs                     []struct {
			Name     string
			Contents struct {
				Int64Contents []string `json:"int64Contents"`
				Fp32Contents  []float64
			}
		}
	}
	if err := json.Unmarshal(out, &resp); err != nil {
		t.Fatalf("grpcurl's output %s: %v", out, err)
	}
	if resp.ModelName != "fraud" || resp.ModelVersion != "7" || resp.ID != "curl-1" || len(resp.Outputs) != 2 ||
		strings.Join(resp.Outputs[1].Contents.Int64Contents, ",") != "0,1" {
		t.Fatalf("grpcurl got %s, want the primary's answer: version 7, classes 0,1", out)
	}
	waitFor(t, "the comparison", func() bool {
		return p.metric(t, `shadowproxy_comparisons_total{candidate="fraud-v8",result="disagree",route="fraud-grpc"}`) == 1
	})
	p.stop(t)
	recs := readRecords(t, records)
	if len(recs) != 1 || recs[0]["id"] != "curl-1" {
		t.Fatalf("records %v, want the disagreement of curl-1", recs)
	}
}

// TestE2EGRPCFaultyCandidates: slow, dead and garbage-answering candidates change neither the
// primary's answers nor its status; each fault is counted as its own outcome.
func TestE2EGRPCFaultyCandidates(t *testing.T) {
	primary := proxytest.ServeGRPC(t, v2Model{version: "7"}.handler())
	slow := proxytest.ServeGRPC(t, func(ctx context.Context, _ string, _ metadata.MD, _ []byte) ([]byte, error) {
		select {
		case <-ctx.Done(): // the shadow's deadline, propagated
			return nil, ctx.Err()
		case <-time.After(2 * time.Second):
			return nil, status.Error(codes.Internal, "the deadline did not reach the candidate")
		}
	})
	garbage := proxytest.ServeGRPC(t, func(context.Context, string, metadata.MD, []byte) ([]byte, error) {
		return []byte{0xff, 0xff, 0xff, 0x07}, nil
	})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	dead := "grpc://" + ln.Addr().String()
	ln.Close()
	records := filepath.Join(t.TempDir(), "records.jsonl")
	cfg := grpcConfig(primary, slow, records, "        timeout: 200ms\n      - {name: dead, url: "+fmt.Sprintf("%q", dead)+"}\n      - {name: garbage, url: "+fmt.Sprintf("%q", garbage)+"}")
	p, _ := startProxy(t, cfg)
	conn := grpcClient(t, p.grpc)
	const n = 20
	var worst time.Duration
	for i := range n {
		start := time.Now()
		if _, err := infer(context.Background(), conn, encodeV2Request("fraud", fmt.Sprint(i), []float32{float32(i)}, false)); err != nil {
			t.Fatalf("call %d: %v", i, err)
		}
		worst = max(worst, time.Since(start))
	}
	if worst > time.Second {
		t.Errorf("the slowest call took %v with a 2s candidate: the primary waited on it", worst)
	}
	outcome := func(cand, o string) float64 {
		return p.metric(t, fmt.Sprintf(`shadowproxy_shadow_requests_total{candidate=%q,outcome=%q,route="fraud-grpc"}`, cand, o))
	}
	waitFor(t, "every shadow's outcome", func() bool {
		return outcome("fraud-v8", "timeout") == n && outcome("dead", "error") == n && outcome("garbage", "ok") == n
	})
	waitFor(t, "the garbage comparisons", func() bool {
		return p.metric(t, `shadowproxy_comparisons_total{candidate="garbage",result="unparseable",route="fraud-grpc"}`) == n
	})
	p.stop(t)
}

// TestE2EGRPCDeadlinesAndLimits: the client's deadline reaches the primary and ends the call with
// DEADLINE_EXCEEDED; a message up to max_request_body is proxied (but not mirrored past
// record.max_body), a larger one refused with RESOURCE_EXHAUSTED.
func TestE2EGRPCDeadlinesAndLimits(t *testing.T) {
	var sawDeadline atomic.Int64
	var hadDeadline atomic.Bool
	primary := proxytest.ServeGRPC(t, func(ctx context.Context, method string, md metadata.MD, req []byte) ([]byte, error) {
		if dl, ok := ctx.Deadline(); ok {
			sawDeadline.Store(int64(time.Until(dl)))
			hadDeadline.Store(true)
		}
		if len(md["x-slow"]) > 0 {
			<-ctx.Done()
			return nil, status.Error(codes.Internal, "too late")
		}
		return req, nil // echo: a large answer for a large request
	})
	candidate := proxytest.ServeGRPC(t, func(_ context.Context, _ string, _ metadata.MD, req []byte) ([]byte, error) { return req, nil })
	records := filepath.Join(t.TempDir(), "records.jsonl")
	p, _ := startProxy(t, grpcConfig(primary, candidate, records, ""))
	conn := grpcClient(t, p.grpc)

	ctx, cancel := context.WithTimeout(metadata.AppendToOutgoingContext(context.Background(), "x-slow", "1"), 300*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, err := infer(ctx, conn, []byte{})
	if status.Code(err) != codes.DeadlineExceeded || time.Since(start) > 10*time.Second {
		t.Errorf("a 300ms deadline: %v after %v, want DeadlineExceeded soon after 300ms", err, time.Since(start))
	}
	// Whenever the call reached the primary (its deadline may have passed on a loaded machine), the
	// primary saw the client's deadline, not one of its own.
	waitFor(t, "the slow call at the primary", hadDeadline.Load)
	if d := time.Duration(sawDeadline.Load()); d > 300*time.Millisecond {
		t.Errorf("the primary saw a deadline %v away, want at most the client's 300ms", d)
	}

	big := bytes.Repeat([]byte{0x0a, 0x01, 'a'}, 300<<10) // 900 KiB: under max_request_body, over record.max_body
	resp, err := infer(context.Background(), conn, big)
	if err != nil || !bytes.Equal(resp, big) {
		t.Errorf("a 900 KiB message: %d bytes back, %v; want it echoed", len(resp), err)
	}
	waitFor(t, "the large exchange dropped for the mirror", func() bool {
		return p.metric(t, `shadowproxy_shadow_drops_total{candidate="fraud-v8",reason="body_too_large",route="fraud-grpc"}`) == 1 ||
			p.metric(t, `shadowproxy_shadow_requests_total{candidate="fraud-v8",outcome="dropped",route="fraud-grpc"}`) == 1
	})
	if _, err := infer(context.Background(), conn, bytes.Repeat([]byte{0}, 2<<20)); status.Code(err) != codes.ResourceExhausted {
		t.Errorf("a 2 MiB message past max_request_body 1MiB: %v, want ResourceExhausted", err)
	}
	p.stop(t)
}

// TestE2EGRPCReloadAndDrain keeps gRPC clients calling through a reload (SIGHUP) and a drain
// (SIGTERM): no call fails, calls in flight at SIGTERM complete, and the process exits cleanly.
func TestE2EGRPCReloadAndDrain(t *testing.T) {
	primary := proxytest.ServeGRPC(t, func(ctx context.Context, _ string, md metadata.MD, req []byte) ([]byte, error) {
		time.Sleep(50 * time.Millisecond)
		return req, nil
	})
	candidate := proxytest.ServeGRPC(t, func(_ context.Context, _ string, _ metadata.MD, req []byte) ([]byte, error) { return req, nil })
	records := filepath.Join(t.TempDir(), "records.jsonl")
	p, path := startProxy(t, grpcConfig(primary, candidate, records, ""))
	conn := grpcClient(t, p.grpc)

	var ok, failed atomic.Int64
	var firstErr atomic.Value
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for c := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 400; i++ {
				select {
				case <-stop:
					return
				default:
				}
				msg := []byte(fmt.Sprintf("c%d-%d", c, i))
				resp, err := infer(context.Background(), conn, msg)
				if err != nil || !bytes.Equal(resp, msg) {
					failed.Add(1)
					firstErr.CompareAndSwap(nil, fmt.Sprint(err))
					continue
				}
				ok.Add(1)
			}
		}()
	}
	waitFor(t, "calls before the reload", func() bool { return ok.Load() >= 20 })
	cfg, _ := os.ReadFile(path)
	if err := os.WriteFile(path, bytes.Replace(cfg, []byte("agreements: 0%"), []byte("agreements: 1%"), 1), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := p.cmd.Process.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the reload", func() bool { return p.metric(t, `shadowproxy_config_reloads_total{result="ok"}`) >= 1 })
	before := ok.Load()
	waitFor(t, "calls after the reload", func() bool { return ok.Load() >= before+20 })
	if n := failed.Load(); n != 0 {
		t.Fatalf("%d calls failed around the reload (first: %v)", n, firstErr.Load())
	}
	// SIGTERM with calls in flight: each completes; the clients stop once the drain has begun.
	close(stop)
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	wg.Wait()
	select {
	case <-p.exited:
	case <-time.After(30 * time.Second):
		t.Fatal("shadowproxy did not exit within 30s of SIGTERM")
	}
	if p.err != nil {
		t.Fatalf("exit: %v", p.err)
	}
	if n := failed.Load(); n != 0 {
		t.Errorf("%d calls failed during the drain (first: %v)", n, firstErr.Load())
	}
}

// TestE2ERewriteHTTP: a Triton-style candidate serving the model under another name gets each
// shadow at its own path with its own model name in the body; the records keep the client's.
func TestE2ERewriteHTTP(t *testing.T) {
	primary := proxytest.Serve(t, answer(0, nil, 0))
	var mu sync.Mutex
	var paths, models []string
	candidate := proxytest.Serve(t, func(ctx *fasthttp.RequestCtx) {
		var in struct {
			Model string
			X     int
		}
		_ = json.Unmarshal(ctx.PostBody(), &in)
		mu.Lock()
		paths, models = append(paths, string(ctx.Path())), append(models, in.Model)
		mu.Unlock()
		if string(ctx.Path()) != "/v2/models/iris-v2/infer" || in.Model != "iris-v2" {
			ctx.SetStatusCode(404)
			return
		}
		answer(0, nil, 0)(ctx)
	})
	records := filepath.Join(t.TempDir(), "records.jsonl")
	cfg := strings.Replace(proxyConfig(primary, candidate, records, `        rewrite:
          path_prefix: {from: /v1/models/iris/, to: /v2/models/iris-v2/}
          body: {set: {model: iris-v2}}`), "agreements: 0%", "agreements: 100%", 1)
	p, _ := startProxy(t, cfg)
	client := &fasthttp.Client{}
	defer client.CloseIdleConnections()
	const n = 10
	for i := range n {
		status, _, _ := post(t, client, "http://"+p.listen+"/v1/models/iris/infer", fmt.Sprintf("rw-%d", i), fmt.Sprintf(`{"model":"iris","x":%d}`, i))
		if status != 200 {
			t.Fatalf("request %d: %d", i, status)
		}
	}
	waitFor(t, "10 agreements", func() bool {
		return p.metric(t, `shadowproxy_comparisons_total{candidate="iris-v2",result="agree",route="iris"}`) == n
	})
	if got := p.metric(t, `shadowproxy_shadow_rewrites_total{candidate="iris-v2",result="ok",route="iris"}`); got != n {
		t.Errorf("shadow_rewrites_total{result=ok} = %v, want %d", got, n)
	}
	p.stop(t)
	mu.Lock()
	for i := range paths {
		if paths[i] != "/v2/models/iris-v2/infer" || models[i] != "iris-v2" {
			t.Errorf("the candidate got %s with model %q, want /v2/models/iris-v2/infer and iris-v2", paths[i], models[i])
		}
	}
	mu.Unlock()
	for _, r := range readRecords(t, records) {
		req := r["request"].(map[string]any)
		if req["path"] != "/v1/models/iris/infer" || req["body"].(map[string]any)["model"] != "iris" {
			t.Errorf("record %v: want the client's path and body", req)
		}
	}
}

// TestE2EGRPCTLS: grpc_tls serves the gRPC listener over TLS, and a grpcs:// primary is reached over
// TLS with the route's CA.
func TestE2EGRPCTLS(t *testing.T) {
	certPEM, keyPEM := selfSigned(t)
	dir := t.TempDir()
	ca, key := filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	if err := os.WriteFile(ca, certPEM, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(key, keyPEM, 0o600); err != nil {
		t.Fatal(err)
	}
	primary := proxytest.ServeGRPCTLS(t, v2Model{version: "7"}.handler(), certPEM, keyPEM)
	p, _ := startProxy(t, fmt.Sprintf(`listen: "127.0.0.1:0"
grpc_listen: "127.0.0.1:0"
grpc_tls: {cert: %q, key: %q}
admin: "127.0.0.1:0"
routes:
  - name: tls
    primary: {url: %q, tls: {ca: %q}}
`, ca, key, primary, ca))
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(certPEM)
	conn, err := grpc.NewClient("passthrough:///"+p.grpc, grpc.WithTransportCredentials(credentials.NewTLS(&tls.Config{RootCAs: pool, ServerName: "127.0.0.1"})),
		grpc.WithDefaultCallOptions(grpc.ForceCodec(proxytest.Bytes{})))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	resp, err := infer(context.Background(), conn, encodeV2Request("fraud", "tls-1", []float32{3}, true))
	if err != nil {
		t.Fatalf("a call over TLS to a TLS primary: %v", err)
	}
	if r, err := decodeV2Request(resp); err != nil || r.model != "fraud" || r.id != "tls-1" {
		t.Errorf("answer %q: want the primary's, naming model fraud and id tls-1", resp)
	}
	plain := grpcClient(t, p.grpc)
	if _, err := infer(context.Background(), plain, []byte("x")); status.Code(err) != codes.Unavailable {
		t.Errorf("a cleartext call to the TLS listener: %v, want Unavailable", err)
	}
	p.stop(t)
}

// TestE2EGRPCRewrite: a candidate serving the model under another name gets ModelInfer requests
// with its model_name (compare.GRPCSet) and its metadata; the primary and the records keep the
// client's.
func TestE2EGRPCRewrite(t *testing.T) {
	var mu sync.Mutex
	var primaryModels, candModels, candMeta []string
	primary := proxytest.ServeGRPC(t, v2Model{version: "7", seen: func(r v2Request, _ metadata.MD) {
		mu.Lock()
		primaryModels = append(primaryModels, r.model)
		mu.Unlock()
	}}.handler())
	candidate := proxytest.ServeGRPC(t, v2Model{version: "8", raw: true, seen: func(r v2Request, md metadata.MD) {
		mu.Lock()
		candModels, candMeta = append(candModels, r.model), append(candMeta, strings.Join(md["x-model"], ","))
		mu.Unlock()
	}}.handler())
	records := filepath.Join(t.TempDir(), "records.jsonl")
	cfg := strings.Replace(grpcConfig(primary, candidate, records, `        rewrite:
          body: {set: {model_name: fraud-v8}}
          headers: {set: {x-model: v8}}`), "agreements: 0%", "agreements: 100%", 1)
	cfg = strings.Replace(cfg, "ignore: [model_version", "ignore: [model_name, model_version", 1)
	p, _ := startProxy(t, cfg)
	conn := grpcClient(t, p.grpc)
	const n = 5
	for i := range n {
		if _, err := infer(context.Background(), conn, encodeV2Request("fraud", fmt.Sprint(i), []float32{float32(i)}, false)); err != nil {
			t.Fatalf("call %d: %v", i, err)
		}
	}
	waitFor(t, "5 agreements", func() bool {
		return p.metric(t, `shadowproxy_comparisons_total{candidate="fraud-v8",result="agree",route="fraud-grpc"}`) == n
	})
	if got := p.metric(t, `shadowproxy_shadow_rewrites_total{candidate="fraud-v8",result="ok",route="fraud-grpc"}`); got != n {
		t.Errorf("shadow_rewrites_total{result=ok} = %v, want %d", got, n)
	}
	p.stop(t)
	mu.Lock()
	defer mu.Unlock()
	if strings.Join(primaryModels, ",") != "fraud,fraud,fraud,fraud,fraud" || strings.Join(candModels, ",") != "fraud-v8,fraud-v8,fraud-v8,fraud-v8,fraud-v8" ||
		strings.Join(candMeta, ",") != "v8,v8,v8,v8,v8" {
		t.Errorf("the primary saw models %v, the candidate %v with x-model %v; want fraud, and fraud-v8 with v8", primaryModels, candModels, candMeta)
	}
	for _, r := range readRecords(t, records) {
		if m := r["request"].(map[string]any)["body"].(map[string]any)["model_name"]; m != "fraud" {
			t.Errorf("record's request model_name %v, want the client's fraud", m)
		}
	}
}
