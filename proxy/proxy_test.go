package proxy

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/valyala/fasthttp"
	"github.com/valyala/fasthttp/fasthttputil"
	"go.uber.org/goleak"

	"github.com/shadowproxy/shadowproxy/proxy/proxytest"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m, proxytest.IgnoreFasthttp()...) }

// harness is a proxy served on an in-memory listener with a client for it.
type harness struct {
	srv    *Server
	ln     *fasthttputil.InmemoryListener
	client *fasthttp.HostClient
	reg    *prometheus.Registry
	done   chan struct{}
}

func newHarness(t testing.TB, o Options) *harness {
	t.Helper()
	h := &harness{reg: prometheus.NewRegistry(), ln: fasthttputil.NewInmemoryListener(), done: make(chan struct{})}
	if o.Metrics == nil {
		o.Metrics = NewMetrics(h.reg)
	}
	srv, err := New(o)
	if err != nil {
		t.Fatal(err)
	}
	h.srv = srv
	go func() { defer close(h.done); _ = srv.Serve(h.ln) }()
	h.client = &fasthttp.HostClient{Addr: "proxy", Dial: func(string) (net.Conn, error) { return h.ln.Dial() }, DisableHeaderNamesNormalizing: true}
	t.Cleanup(func() {
		h.client.CloseIdleConnections()
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = srv.Shutdown(ctx)
		<-h.done
	})
	return h
}

func (h *harness) do(t testing.TB, method, uri string, hdr map[string]string, body string) *fasthttp.Response {
	t.Helper()
	req := fasthttp.AcquireRequest()
	defer fasthttp.ReleaseRequest(req)
	req.Header.SetMethod(method)
	req.SetRequestURI("http://proxy" + uri)
	for k, v := range hdr {
		req.Header.Set(k, v)
		if k == "Host" {
			req.UseHostHeader = true
		}
	}
	req.SetBodyString(body)
	resp := new(fasthttp.Response)
	if err := h.client.DoTimeout(req, resp, 10*time.Second); err != nil {
		t.Fatalf("%s %s: %v", method, uri, err)
	}
	return resp
}

// recorder is a Mirror that keeps copies of what it is offered.
type recorder struct {
	mu  sync.Mutex
	got []recorded
}

type recorded struct {
	route, id, path, body, answer string
	status                        int
}

func (r *recorder) Offer(ex *Exchange) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.got = append(r.got, recorded{ex.Route, string(ex.RequestID), string(ex.Request.URI().Path()), string(ex.Request.Body()), string(ex.Response.Body()), ex.Response.StatusCode()})
	return true
}

func (r *recorder) all() []recorded {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]recorded(nil), r.got...)
}

var _ Mirror = (*recorder)(nil)

// limitedRecorder is a recorder that states a BodyLimit.
type limitedRecorder struct {
	recorder
	max int
}

func (r *limitedRecorder) MaxBody() int { return r.max }

var _ BodyLimit = (*limitedRecorder)(nil)

func echo(name string) fasthttp.RequestHandler {
	return func(ctx *fasthttp.RequestCtx) {
		ctx.Response.Header.Set("X-Upstream", name)
		ctx.SetContentType("application/json")
		fmt.Fprintf(ctx, `{"upstream":%q,"path":%q}`, name, ctx.Path())
	}
}

func TestRouting(t *testing.T) {
	a, b, c := proxytest.Serve(t, echo("a")), proxytest.Serve(t, echo("b")), proxytest.Serve(t, echo("c"))
	h := newHarness(t, Options{Routes: []Route{
		{Name: "iris", PathPrefix: "/v1/models/iris", Methods: []string{"POST"}, Primary: Upstream{URL: a}},
		{Name: "canary", PathPrefix: "/v2", Headers: map[string]string{"X-Canary": "yes"}, Primary: Upstream{URL: b}},
		{Name: "host", PathPrefix: "/v2", Host: "models.example", Primary: Upstream{URL: c}},
	}})
	tests := []struct {
		name, method, uri string
		hdr               map[string]string
		status            int
		upstream          string
		route             string
	}{
		{"prefix and method", "POST", "/v1/models/iris:predict", nil, 200, "a", "iris"},
		{"wrong method", "GET", "/v1/models/iris:predict", nil, 405, "", "none"},
		{"header match", "GET", "/v2/x", map[string]string{"X-Canary": "yes"}, 200, "b", "canary"},
		{"header mismatch falls through to host", "GET", "/v2/x", map[string]string{"X-Canary": "no", "Host": "Models.Example:8080"}, 200, "c", "host"},
		{"no match", "GET", "/nowhere", nil, 404, "", "none"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp := h.do(t, tt.method, tt.uri, tt.hdr, "")
			if resp.StatusCode() != tt.status || string(resp.Header.Peek("X-Upstream")) != tt.upstream {
				t.Fatalf("got %d from %q: %s", resp.StatusCode(), resp.Header.Peek("X-Upstream"), resp.Body())
			}
			if tt.status >= 400 && (!strings.Contains(string(resp.Body()), `"error":`) || string(resp.Header.ContentType()) != "application/json") {
				t.Errorf("error body %s", resp.Body())
			}
			if tt.status == 404 && !strings.Contains(string(resp.Body()), tt.uri) {
				t.Errorf("404 body does not name the path: %s", resp.Body())
			}
			if got := testutil.ToFloat64(h.srv.metrics.requests.WithLabelValues(tt.route, fmt.Sprint(tt.status))); got < 1 {
				t.Errorf("requests_total{route=%q,code=%d} = %v", tt.route, tt.status, got)
			}
		})
	}
}

func TestPassthroughAndHeaders(t *testing.T) {
	var seen atomic.Pointer[fasthttp.RequestHeader]
	url := proxytest.Serve(t, func(ctx *fasthttp.RequestCtx) {
		h := new(fasthttp.RequestHeader)
		ctx.Request.Header.CopyTo(h)
		seen.Store(h)
		ctx.SetStatusCode(201)
		ctx.Response.Header.Set("X-Model", "m1")
		ctx.Response.Header.Set("Keep-Alive", "timeout=5")
		ctx.Response.Header.Set("X-Secret-Hop", "x")
		ctx.Response.Header.Set("Connection", "X-Secret-Hop")
		ctx.SetContentType("application/vnd.model+json")
		ctx.SetBodyString(`{"predictions":[1,2,3]}`)
	})
	h := newHarness(t, Options{Routes: []Route{{Name: "r", Primary: Upstream{URL: url}}}})
	resp := h.do(t, "POST", "/predict?x=1", map[string]string{
		"X-Forwarded-For": "10.1.2.3",
		"Connection":      "X-Hop",
		"X-Hop":           "drop me",
		"Te":              "trailers",
		"X-Keep":          "kept",
		"X-Request-Id":    "client-id-1",
	}, `{"instances":[1]}`)
	if resp.StatusCode() != 201 || string(resp.Body()) != `{"predictions":[1,2,3]}` ||
		string(resp.Header.ContentType()) != "application/vnd.model+json" || string(resp.Header.Peek("X-Model")) != "m1" {
		t.Errorf("response not passed through: %d %q %s", resp.StatusCode(), resp.Header.ContentType(), resp.Body())
	}
	for _, hop := range []string{"Keep-Alive", "X-Secret-Hop"} {
		if v := resp.Header.Peek(hop); len(v) > 0 {
			t.Errorf("response hop-by-hop header %s reached the client: %q", hop, v)
		}
	}
	if got := string(resp.Header.Peek(HeaderRequestID)); got != "client-id-1" {
		t.Errorf("response X-Request-Id = %q", got)
	}
	up := seen.Load()
	if up == nil {
		t.Fatal("primary saw no request")
	}
	if got := string(up.Peek("X-Forwarded-For")); got != "10.1.2.3, 0.0.0.0" && !strings.HasPrefix(got, "10.1.2.3, ") {
		t.Errorf("X-Forwarded-For = %q", got)
	}
	for _, hop := range []string{"X-Hop", "Te", "Connection"} {
		if v := up.Peek(hop); len(v) > 0 && !(hop == "Connection" && string(v) == "keep-alive") {
			t.Errorf("request hop-by-hop header %s reached the primary: %q", hop, v)
		}
	}
	if string(up.Peek("X-Keep")) != "kept" || string(up.Peek(HeaderRequestID)) != "client-id-1" {
		t.Errorf("end-to-end headers lost: %s", up.Header())
	}
}

// The proxy adds no header of its own to the primary's answer: no Server when the primary sends
// none. (X-Request-Id is added; Date is always the proxy's, as fasthttp writes it, which RFC 9110
// asks of a proxy forwarding an answer that has none.)
func TestNoHeadersAdded(t *testing.T) {
	const answer = "HTTP/1.1 200 OK\r\nDate: Tue, 01 Jan 2030 00:00:00 GMT\r\nContent-Type: application/json\r\nContent-Length: 2\r\n\r\n{}"
	primary := proxytest.ServeConns(t, func(c net.Conn) { // writes exactly answer to each request
		br := bufio.NewReader(c)
		for {
			var req fasthttp.Request
			if err := req.Read(br); err != nil {
				return
			}
			if _, err := c.Write([]byte(answer)); err != nil {
				return
			}
		}
	})
	h := newHarness(t, Options{Routes: []Route{{Name: "r", Primary: Upstream{URL: primary}}}})
	resp := h.do(t, "GET", "/", nil, "")
	if s := resp.Header.Peek("Server"); len(s) > 0 {
		t.Errorf("Server header %q added", s)
	}
	if len(resp.Header.Peek("Date")) == 0 {
		t.Error("no Date header")
	}
	if string(resp.Body()) != "{}" {
		t.Errorf("body %q", resp.Body())
	}
}

func TestRequestIDs(t *testing.T) {
	var ids sync.Map
	url := proxytest.Serve(t, func(ctx *fasthttp.RequestCtx) { ids.Store(string(ctx.Request.Header.Peek(HeaderRequestID)), true) })
	h := newHarness(t, Options{Routes: []Route{{Name: "r", Primary: Upstream{URL: url}}}})
	seen := map[string]bool{}
	for i := range 50 {
		hdr := map[string]string{}
		if i%2 == 0 {
			hdr[HeaderRequestID] = "bad id with spaces"
		}
		id := string(h.do(t, "GET", "/", hdr, "").Header.Peek(HeaderRequestID))
		if !validRequestID([]byte(id)) || seen[id] {
			t.Fatalf("request %d: id %q invalid or repeated", i, id)
		}
		seen[id] = true
		if _, ok := ids.Load(id); !ok {
			t.Fatalf("id %q was not sent to the primary", id)
		}
	}
}

func TestPrimaryFailures(t *testing.T) {
	dead, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	deadURL := "http://" + dead.Addr().String()
	dead.Close()
	reset := func() string {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { ln.Close() })
		go func() {
			for {
				c, err := ln.Accept()
				if err != nil {
					return
				}
				go func() {
					br := bufio.NewReader(c)
					var req fasthttp.Request
					_ = req.Read(br)
					_, _ = c.Write([]byte("HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\npartial"))
					c.(*net.TCPConn).SetLinger(0)
					c.Close()
				}()
			}
		}()
		return "http://" + ln.Addr().String()
	}()
	tests := []struct {
		name   string
		url    string
		status int
	}{
		{"down", deadURL, 502},
		{"slow", proxytest.Serve(t, func(ctx *fasthttp.RequestCtx) { time.Sleep(time.Second) }), 504},
		{"reset mid-response", reset, 502},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec := &recorder{}
			h := newHarness(t, Options{Routes: []Route{{Name: "r", Primary: Upstream{URL: tt.url, Timeout: 100 * time.Millisecond}, Mirror: rec}}})
			resp := h.do(t, "POST", "/p", nil, "{}")
			if resp.StatusCode() != tt.status || !strings.Contains(string(resp.Body()), `"request_id"`) {
				t.Errorf("got %d %s, want %d with a JSON error", resp.StatusCode(), resp.Body(), tt.status)
			}
			if len(rec.all()) != 0 {
				t.Error("a failed exchange was offered to the mirror")
			}
		})
	}
}

func TestMirrorOffer(t *testing.T) {
	rec := &recorder{}
	h := newHarness(t, Options{Routes: []Route{{Name: "iris", Primary: Upstream{URL: proxytest.Serve(t, echo("p"))}, Mirror: rec}}})
	h.do(t, "POST", "/v1/a", map[string]string{HeaderRequestID: "r1"}, `{"x":1}`)
	h.do(t, "POST", "/v1/b", map[string]string{HeaderRequestID: "r2", ShadowHeader: "1"}, `{"x":2}`)
	got := rec.all()
	if len(got) != 1 {
		t.Fatalf("offers = %d, want 1 (shadow-marked requests are not mirrored)", len(got))
	}
	want := recorded{"iris", "r1", "/v1/a", `{"x":1}`, `{"upstream":"p","path":"/v1/a"}`, 200}
	if got[0] != want {
		t.Errorf("offered %+v, want %+v", got[0], want)
	}
}

func TestLimits(t *testing.T) {
	h := newHarness(t, Options{
		MaxRequestBody: 1024,
		MaxHeaderBytes: 4096,
		Routes:         []Route{{Name: "r", Primary: Upstream{URL: proxytest.Serve(t, echo("p"))}}},
	})
	tests := []struct {
		name   string
		raw    string
		status string
	}{
		{"body too large", "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 5000\r\n\r\n" + strings.Repeat("a", 5000), "413"},
		{"headers too large", "GET / HTTP/1.1\r\nHost: x\r\nX-Big: " + strings.Repeat("a", 8000) + "\r\n\r\n", "431"},
		{"malformed", "NOT A REQUEST\r\n\r\n", "400"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := h.ln.Dial()
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			_ = c.SetDeadline(time.Now().Add(5 * time.Second))
			go func() { _, _ = c.Write([]byte(tt.raw)) }()
			line, _ := bufio.NewReader(c).ReadString('\n')
			if !strings.Contains(line, " "+tt.status+" ") {
				t.Errorf("status line %q, want %s", line, tt.status)
			}
		})
	}
}

// serveTCP serves a proxy built from o on a loopback TCP port until the test ends and returns its
// address: for what the in-memory listener does not have (deadlines).
func serveTCP(t *testing.T, o Options) string {
	t.Helper()
	srv, err := New(o)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { defer close(done); _ = srv.Serve(ln) }()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = srv.Shutdown(ctx)
		<-done
	})
	return ln.Addr().String()
}

func TestSlowlorisIsCutOff(t *testing.T) {
	addr := serveTCP(t, Options{ReadTimeout: 200 * time.Millisecond, Routes: []Route{{Name: "r", Primary: Upstream{URL: proxytest.Serve(t, echo("p"))}}}})
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_, _ = c.Write([]byte("GET / HTTP/1.1\r\nHost: x\r\n"))
	// Never finish the headers: the server must give up on its own.
	_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
	buf := make([]byte, 512)
	for {
		if _, err := c.Read(buf); err != nil {
			if ne, ok := err.(net.Error); ok && ne.Timeout() {
				t.Fatal("the server kept a slowloris connection open past 5s")
			}
			return // closed by the server
		}
	}
}

// TestKeepAliveSlowlorisIsCutOff: a second request on a kept-alive connection that never finishes
// its headers is cut off by the read timeout too (the deadlines of client connections are extended
// lazily: the one armed by the first request fires first and must not end or outlive the second's).
func TestKeepAliveSlowlorisIsCutOff(t *testing.T) {
	addr := serveTCP(t, Options{ReadTimeout: 200 * time.Millisecond, Routes: []Route{{Name: "r", Primary: Upstream{URL: proxytest.Serve(t, echo("p"))}}}})
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
	br := bufio.NewReader(c)
	var resp fasthttp.Response
	for i := range 2 {
		if _, err := c.Write([]byte("GET / HTTP/1.1\r\nHost: x\r\n\r\n")); err != nil {
			t.Fatal(err)
		}
		if err := resp.Read(br); err != nil || resp.StatusCode() != 200 {
			t.Fatalf("request %d on the kept-alive connection: status %d, %v", i, resp.StatusCode(), err)
		}
	}
	_, _ = c.Write([]byte("GET / HTTP/1.1\r\nHost: x\r\n"))
	// Never finish the headers: the server must give up on its own (it may answer 408 first).
	for {
		if _, err := br.ReadByte(); err != nil {
			if ne, ok := err.(net.Error); ok && ne.Timeout() {
				t.Fatal("the server kept a slowloris keep-alive connection open past 5s")
			}
			return // closed by the server
		}
	}
}

// TestIdleTimeoutOutlastsReadTimeout: a kept-alive connection idle longer than the read timeout but
// not the idle timeout still serves its next request, and one idle past the idle timeout is closed.
func TestIdleTimeoutOutlastsReadTimeout(t *testing.T) {
	addr := serveTCP(t, Options{ReadTimeout: 100 * time.Millisecond, IdleTimeout: 2 * time.Second, Routes: []Route{{Name: "r", Primary: Upstream{URL: proxytest.Serve(t, echo("p"))}}}})
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_ = c.SetReadDeadline(time.Now().Add(10 * time.Second))
	br := bufio.NewReader(c)
	var resp fasthttp.Response
	for i := range 2 {
		if i > 0 {
			time.Sleep(500 * time.Millisecond) // past the read timeout, within the idle timeout
		}
		if _, err := c.Write([]byte("GET / HTTP/1.1\r\nHost: x\r\n\r\n")); err != nil {
			t.Fatal(err)
		}
		if err := resp.Read(br); err != nil || resp.StatusCode() != 200 {
			t.Fatalf("request %d: status %d, %v", i, resp.StatusCode(), err)
		}
	}
	if _, err := br.ReadByte(); err == nil {
		t.Fatal("unexpected bytes on an idle connection")
	} else if ne, ok := err.(net.Error); ok && ne.Timeout() {
		t.Fatal("the server kept an idle connection open past its idle timeout (10s)")
	}
}

func TestSetRoutesUnderLoad(t *testing.T) {
	a, b := proxytest.Serve(t, echo("a")), proxytest.Serve(t, echo("b"))
	h := newHarness(t, Options{Routes: []Route{{Name: "r", Primary: Upstream{URL: a}}}})
	var failures, total atomic.Int64
	var wg sync.WaitGroup
	stop := make(chan struct{})
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 2000; i++ {
				select {
				case <-stop:
					return
				default:
				}
				req, resp := fasthttp.AcquireRequest(), fasthttp.AcquireResponse()
				req.SetRequestURI("http://proxy/x")
				if err := h.client.DoTimeout(req, resp, 5*time.Second); err != nil || resp.StatusCode() != 200 {
					failures.Add(1)
				}
				total.Add(1)
				fasthttp.ReleaseRequest(req)
				fasthttp.ReleaseResponse(resp)
			}
		}()
	}
	for i := range 20 {
		url := a
		if i%2 == 0 {
			url = b
		}
		if err := h.srv.SetRoutes([]Route{{Name: "r", Primary: Upstream{URL: url}}}); err != nil {
			t.Fatal(err)
		}
		time.Sleep(5 * time.Millisecond)
	}
	close(stop)
	wg.Wait()
	if failures.Load() != 0 {
		t.Errorf("%d of %d requests failed while routes were swapped", failures.Load(), total.Load())
	}
	if err := h.srv.SetRoutes([]Route{{Name: "x", Primary: Upstream{URL: "ftp://nope"}}}); err == nil {
		t.Error("SetRoutes accepted an ftp primary")
	}
}

func TestShutdownDrains(t *testing.T) {
	started := make(chan struct{}, 1)
	url := proxytest.Serve(t, func(ctx *fasthttp.RequestCtx) {
		started <- struct{}{}
		time.Sleep(200 * time.Millisecond)
		ctx.SetBodyString("done")
	})
	h := newHarness(t, Options{Routes: []Route{{Name: "r", Primary: Upstream{URL: url}}}})
	result := make(chan *fasthttp.Response, 1)
	go func() { result <- h.do(t, "GET", "/", nil, "") }()
	<-started
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := h.srv.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	resp := <-result
	if string(resp.Body()) != "done" {
		t.Errorf("in-flight request got %d %s", resp.StatusCode(), resp.Body())
	}
	if !resp.ConnectionClose() {
		t.Error("the response during the drain lacks Connection: close")
	}
}

func TestRoutingAllocs(t *testing.T) {
	s, err := New(Options{Routes: []Route{
		{Name: "a", PathPrefix: "/a", Methods: []string{"POST"}, Primary: Upstream{URL: "http://127.0.0.1:1"}},
		{Name: "b", PathPrefix: "/v1/models/iris", Methods: []string{"POST"}, Headers: map[string]string{"X-T": "1"}, Primary: Upstream{URL: "http://127.0.0.1:1"}},
	}})
	if err != nil {
		t.Fatal(err)
	}
	var req fasthttp.Request
	req.Header.SetMethod("POST")
	req.SetRequestURI("/v1/models/iris:predict")
	req.Header.Set("X-T", "1")
	tbl, path, host := s.table.Load(), []byte("/v1/models/iris:predict"), []byte("models.example")
	if n := testing.AllocsPerRun(1000, func() { tbl.match(&req, path, host) }); n != 0 {
		t.Errorf("routing allocates %v times, want 0", n)
	}
}

// nopMirror takes every exchange and keeps nothing.
type nopMirror struct{}

func (nopMirror) Offer(*Exchange) bool { return true }

// BenchmarkProxy runs requests through the proxy to a primary on loopback, with no mirror and
// with a mirror keeping nothing, and through the floor: a bare fasthttp server whose handler only
// calls HostClient.Do, what the proxy costs over. proc-cpu-ns/op is the whole process's CPU per
// request (client and primary included, the same in every case), robust to a shared machine.
func BenchmarkProxy(b *testing.B) {
	url := proxytest.Serve(b, func(ctx *fasthttp.RequestCtx) {
		ctx.SetContentType("application/json")
		ctx.SetBody(answer1KB)
	})
	for _, bc := range []struct {
		name   string
		mirror Mirror
		floor  bool
	}{{"floor", nil, true}, {"no-mirror", nil, false}, {"mirror", nopMirror{}, false}} {
		b.Run(bc.name, func(b *testing.B) {
			var client *fasthttp.HostClient
			if bc.floor {
				client = floorProxy(b, strings.TrimPrefix(url, "http://"))
			} else {
				client = newHarness(b, Options{Routes: []Route{{Name: "r", Primary: Upstream{URL: url}, Mirror: bc.mirror}}}).client
			}
			b.ReportAllocs()
			defer proxytest.ProcessCPUPerOp(b)()
			b.RunParallel(func(pb *testing.PB) {
				req, resp := fasthttp.AcquireRequest(), fasthttp.AcquireResponse()
				req.Header.SetMethod("POST")
				req.SetRequestURI("http://proxy/v1/models/m:predict")
				req.SetBodyString(`{"instances":[[5.1,3.5,1.4,0.2]]}`)
				for pb.Next() {
					if err := client.Do(req, resp); err != nil {
						b.Error(err)
						return
					}
				}
			})
		})
	}
}

// floorProxy serves a bare fasthttp proxy to addr (bench/floor's, without mirroring) on an in-memory
// listener until the benchmark ends, and returns a client of it.
func floorProxy(b *testing.B, addr string) *fasthttp.HostClient {
	up := &fasthttp.HostClient{Addr: addr, MaxConns: 1024, ReadTimeout: 2 * time.Second, WriteTimeout: 2 * time.Second}
	srv := &fasthttp.Server{
		Handler: func(ctx *fasthttp.RequestCtx) {
			if err := up.Do(&ctx.Request, &ctx.Response); err != nil {
				ctx.Error("bad gateway", fasthttp.StatusBadGateway)
			}
		},
		NoDefaultServerHeader: true,
		NoDefaultContentType:  true,
	}
	ln := fasthttputil.NewInmemoryListener()
	done := make(chan struct{})
	go func() { defer close(done); _ = srv.Serve(ln) }()
	client := &fasthttp.HostClient{Addr: "proxy", Dial: func(string) (net.Conn, error) { return ln.Dial() }, DisableHeaderNamesNormalizing: true}
	b.Cleanup(func() {
		client.CloseIdleConnections()
		up.CloseIdleConnections()
		_ = srv.Shutdown()
		<-done
	})
	return client
}

var answer1KB = []byte(`{"predictions":[` + strings.TrimSuffix(strings.Repeat(`{"label":"versicolor","scores":[0.01,0.97,0.02],"id":12345},`, 17), ",") + `]}`)

// TestHeaderNamesAnyCase checks that header names match whatever their case: a lower-case request id
// is kept, a lower-case shadow marker still prevents mirroring, lower-case hop-by-hop headers are
// removed.
func TestHeaderNamesAnyCase(t *testing.T) {
	var seen atomic.Pointer[fasthttp.RequestHeader]
	url := proxytest.Serve(t, func(ctx *fasthttp.RequestCtx) {
		h := new(fasthttp.RequestHeader)
		ctx.Request.Header.CopyTo(h)
		seen.Store(h)
		ctx.Response.Header.Set("keep-alive", "timeout=5")
	})
	rec := &recorder{}
	h := newHarness(t, Options{Routes: []Route{{Name: "r", Primary: Upstream{URL: url}, Mirror: rec}}})
	h.client.DisableHeaderNamesNormalizing = true
	resp := h.do(t, "POST", "/", map[string]string{"x-request-id": "lower-1", "x-shadowproxy-shadow": "1", "proxy-connection": "keep-alive"}, "{}")
	if got := string(resp.Header.Peek(HeaderRequestID)); got != "lower-1" {
		t.Errorf("request id = %q, want the client's lower-case one", got)
	}
	if len(resp.Header.Peek("Keep-Alive")) > 0 {
		t.Error("a lower-case keep-alive from the primary reached the client")
	}
	if up := seen.Load(); up == nil || len(up.Peek("Proxy-Connection")) > 0 || string(up.Peek(HeaderRequestID)) != "lower-1" {
		t.Errorf("primary saw %v", up)
	}
	if len(rec.all()) != 0 {
		t.Error("a request marked as a shadow in lower case was mirrored")
	}
}

func TestHopScanAllocs(t *testing.T) {
	var req fasthttp.Request
	req.Header.Set("X-Forwarded-For", "10.0.0.1")
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Keep-Alive", "timeout=5")
	var sc requestScan
	if n := testing.AllocsPerRun(1000, func() { sc = scanRequest(&req.Header) }); n != 0 {
		t.Errorf("scanning the headers allocates %v times, want 0", n)
	}
	if sc.hops != hopBit([]byte("Keep-Alive")) {
		t.Errorf("mask %b, want Keep-Alive only", sc.hops)
	}
	if !sc.hasXFF || string(sc.xff) != "10.0.0.1" || sc.hasID || sc.hasXFP || sc.hasXFH || sc.shadow {
		t.Errorf("scan %+v, want X-Forwarded-For only", sc)
	}
}

// TestShutdownClosesReplacedPrimaries: a table replaced by SetRoutes keeps its clients' idle
// connections for a grace period; Shutdown must not leave that timer behind, but close them at once.
func TestShutdownClosesReplacedPrimaries(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closed := make(chan struct{}, 16)
	old := &fasthttp.Server{
		Handler: func(ctx *fasthttp.RequestCtx) { ctx.SetBodyString("old") },
		ConnState: func(_ net.Conn, st fasthttp.ConnState) {
			if st == fasthttp.StateClosed {
				closed <- struct{}{}
			}
		},
	}
	served := make(chan struct{})
	go func() { defer close(served); _ = old.Serve(ln) }()
	defer func() { _ = old.Shutdown(); <-served }()
	fresh := proxytest.Serve(t, func(ctx *fasthttp.RequestCtx) { ctx.SetBodyString("new") })

	h := newHarness(t, Options{Routes: []Route{{Name: "r", Primary: Upstream{URL: "http://" + ln.Addr().String()}}}})
	if got := h.do(t, "GET", "/", nil, ""); string(got.Body()) != "old" {
		t.Fatalf("before SetRoutes: %s", got.Body())
	}
	if err := h.srv.SetRoutes([]Route{{Name: "r", Primary: Upstream{URL: fresh}}}); err != nil {
		t.Fatal(err)
	}
	if got := h.do(t, "GET", "/", nil, ""); string(got.Body()) != "new" {
		t.Fatalf("after SetRoutes: %s", got.Body())
	}
	select {
	case <-closed:
		t.Fatal("the replaced primary's connection closed before its grace period or Shutdown")
	default:
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := h.srv.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	select {
	case <-closed:
	case <-time.After(5 * time.Second): // the grace period is a minute, the idle timeout 30 s
		t.Fatal("Shutdown left the replaced primary's idle connection open")
	}
	h.srv.retireMu.Lock()
	left := len(h.srv.retiring)
	h.srv.retireMu.Unlock()
	if left != 0 {
		t.Errorf("%d grace timers left after Shutdown", left)
	}
}

// BenchmarkForwardHeaders is the header work of one request without the round trip: the request
// headers a client like wrk sends (no request id, no X-Forwarded-*), forwarded as the proxy does.
func BenchmarkForwardHeaders(b *testing.B) {
	var raw fasthttp.Request
	raw.Header.SetMethod("POST")
	raw.SetRequestURI("/v1/models/m:predict")
	raw.Header.SetHost("127.0.0.1:8080")
	raw.Header.SetContentType("application/json")
	raw.SetBodyString(`{"instances":[[5.1,3.5,1.4,0.2]]}`)
	var ctx fasthttp.RequestCtx
	ctx.Init(&raw, &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 40000}, nil)
	ids := newIDSource()
	var idBuf [maxRequestID]byte
	buf := make([]byte, 0, 256)
	b.ReportAllocs()
	defer proxytest.CPUPerOp(b)()
	for b.Loop() {
		raw.Header.CopyTo(&ctx.Request.Header)
		hs := scanRequest(&ctx.Request.Header)
		id := ids.appendNext(idBuf[:0])
		if validRequestID(hs.id) {
			id = append(idBuf[:0], hs.id...)
		}
		buf = forwardHeaders(&ctx, &hs, id, buf[:0])
		if hs.shadow || len(ctx.Request.Header.Peek("X-Forwarded-For")) == 0 {
			b.Fatal("headers not set")
		}
	}
}

// TestConnectionNamesProxyHeaders: a Connection header naming X-Request-Id, X-Forwarded-* and the
// shadow marker makes them hop-by-hop. The proxy removes them, then treats the request as one
// without them: a fresh X-Forwarded-For, the request mirrored; the request id, read before, stays
// the client's, the same on the primary, the mirror and the answer.
func TestConnectionNamesProxyHeaders(t *testing.T) {
	var seen atomic.Pointer[fasthttp.RequestHeader]
	url := proxytest.Serve(t, func(ctx *fasthttp.RequestCtx) {
		h := new(fasthttp.RequestHeader)
		ctx.Request.Header.CopyTo(h)
		seen.Store(h)
	})
	rec := &recorder{}
	h := newHarness(t, Options{Routes: []Route{{Name: "r", Primary: Upstream{URL: url}, Mirror: rec}}})
	resp := h.do(t, "POST", "/", map[string]string{
		"Connection":           "X-Request-Id, X-Forwarded-For, X-Forwarded-Proto, X-Forwarded-Host, X-Shadowproxy-Shadow",
		"X-Request-Id":         "hop-id",
		"X-Forwarded-For":      "10.9.9.9",
		"X-Forwarded-Proto":    "gopher",
		"X-Forwarded-Host":     "elsewhere",
		"X-Shadowproxy-Shadow": "1",
	}, "{}")
	id := string(resp.Header.Peek(HeaderRequestID))
	if id != "hop-id" {
		t.Errorf("answer's X-Request-Id = %q, want the client's", id)
	}
	up := seen.Load()
	if up == nil {
		t.Fatal("primary saw no request")
	}
	if got := string(up.Peek(HeaderRequestID)); got != id {
		t.Errorf("primary's X-Request-Id = %q, answer's %q", got, id)
	}
	if got := string(up.Peek("X-Forwarded-For")); strings.Contains(got, "10.9.9.9") || got == "" {
		t.Errorf("X-Forwarded-For = %q, want only the client's address", got)
	}
	if got := string(up.Peek("X-Forwarded-Proto")); got != "http" {
		t.Errorf("X-Forwarded-Proto = %q", got)
	}
	if len(up.Peek(ShadowHeader)) > 0 {
		t.Error("the hop-by-hop shadow marker reached the primary")
	}
	if got := rec.all(); len(got) != 1 || got[0].id != id {
		t.Errorf("mirrored %+v, want one exchange with id %q", got, id)
	}
}
