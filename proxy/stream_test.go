package proxy

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/valyala/fasthttp"

	"github.com/shadowproxy/shadowproxy/proxy/proxytest"
)

// sse is a primary that streams server-sent events like an LLM server: the first event, then the
// rest only once gate is closed (or after 5 s, so a proxy that buffers fails the test instead of
// hanging it).
func sse(gate <-chan struct{}) fasthttp.RequestHandler {
	return func(ctx *fasthttp.RequestCtx) {
		ctx.SetContentType("text/event-stream")
		ctx.SetBodyStreamWriter(func(w *bufio.Writer) {
			fmt.Fprint(w, "data: {\"n\":1}\n\n")
			_ = w.Flush()
			select {
			case <-gate:
			case <-time.After(5 * time.Second):
			}
			fmt.Fprint(w, "data: {\"n\":2}\n\ndata: [DONE]\n\n")
			_ = w.Flush()
		})
	}
}

// streamingClient reads the proxy's answers as streams.
func (h *harness) streamingClient() *fasthttp.HostClient {
	return &fasthttp.HostClient{Addr: "proxy", Dial: func(string) (net.Conn, error) { return h.ln.Dial() }, StreamResponseBody: true}
}

// waitConnsClosed waits, for at most 5 s, until the proxy has no client connection open: every
// exchange on them is over, its stream closed and, when whole, offered (the server counts a
// connection closed only after its last response, body stream included, is done).
func waitConnsClosed(t *testing.T, h *harness) {
	t.Helper()
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(time.Millisecond) {
		if h.srv.srv.GetOpenConnectionsCount() == 0 {
			return
		}
	}
	t.Fatalf("%d client connections still open", h.srv.srv.GetOpenConnectionsCount())
}

// waitOffers polls rec until it holds n offers, for at most 5 s.
func waitOffers(t *testing.T, rec *recorder, n int) []recorded {
	t.Helper()
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(5 * time.Millisecond) {
		if got := rec.all(); len(got) >= n {
			return got
		}
	}
	t.Fatalf("offers = %d, want %d", len(rec.all()), n)
	return nil
}

func TestStreamedAnswerReachesClientAsItArrives(t *testing.T) {
	gate := make(chan struct{})
	rec := &recorder{}
	h := newHarness(t, Options{Routes: []Route{{Name: "llm", Primary: Upstream{URL: proxytest.Serve(t, sse(gate)), Stream: true}, Mirror: rec}}})
	c := h.streamingClient()
	defer c.CloseIdleConnections()
	req := fasthttp.AcquireRequest()
	defer fasthttp.ReleaseRequest(req)
	req.SetRequestURI("http://proxy/v1/chat/completions")
	req.Header.SetMethod("POST")
	req.Header.Set(HeaderRequestID, "s1")
	req.SetBodyString(`{"stream":true}`)
	resp := fasthttp.AcquireResponse()
	defer fasthttp.ReleaseResponse(resp)
	if err := c.DoTimeout(req, resp, 10*time.Second); err != nil {
		t.Fatal(err)
	}
	if ct := string(resp.Header.ContentType()); ct != "text/event-stream" {
		t.Fatalf("content type %q", ct)
	}
	if got := string(resp.Header.Peek(HeaderRequestID)); got != "s1" {
		t.Errorf("request id %q", got)
	}
	// The first event arrives while the primary is still holding the second back.
	var got bytes.Buffer
	buf := make([]byte, 256)
	for !strings.Contains(got.String(), "\n\n") {
		n, err := resp.BodyStream().Read(buf)
		got.Write(buf[:n])
		if err != nil {
			t.Fatalf("after %q: %v", got.String(), err)
		}
	}
	if s := got.String(); s != "data: {\"n\":1}\n\n" {
		t.Fatalf("first read %q: the proxy waited for more than the first event", s)
	}
	close(gate)
	rest, err := io.ReadAll(resp.BodyStream())
	if err != nil {
		t.Fatal(err)
	}
	full := got.String() + string(rest)
	want := "data: {\"n\":1}\n\ndata: {\"n\":2}\n\ndata: [DONE]\n\n"
	if full != want {
		t.Fatalf("client got %q, want %q", full, want)
	}
	offers := waitOffers(t, rec, 1)
	if o := offers[0]; o.id != "s1" || o.answer != want || o.status != 200 || o.body != `{"stream":true}` {
		t.Errorf("offered %+v", o)
	}
}

func TestStreamRouteKnownLengthAndLimits(t *testing.T) {
	big := strings.Repeat("x", 3000)
	primary := proxytest.Serve(t, func(ctx *fasthttp.RequestCtx) {
		switch string(ctx.Path()) {
		case "/json":
			ctx.SetContentType("application/json")
			ctx.SetBodyString(`{"predictions":[1]}`)
		case "/big-stream":
			ctx.SetContentType("text/event-stream")
			ctx.SetBodyStreamWriter(func(w *bufio.Writer) {
				for i := 0; i < len(big); i += 500 {
					fmt.Fprint(w, big[i:i+500])
					_ = w.Flush()
				}
			})
		case "/too-big":
			ctx.SetBodyString(big)
		}
	})
	lim := &limitedRecorder{max: 1000}
	rec := &lim.recorder
	h := newHarness(t, Options{Routes: []Route{{Name: "r", Primary: Upstream{URL: primary, Stream: true, MaxResponseBody: 2000}, Mirror: lim}}})

	// A known length is read whole and passed with its length, as on other routes.
	resp := h.do(t, "GET", "/json", nil, "")
	if resp.Header.ContentLength() != len(`{"predictions":[1]}`) || string(resp.Body()) != `{"predictions":[1]}` {
		t.Fatalf("known length: %d %q", resp.Header.ContentLength(), resp.Body())
	}
	// A stream longer than the mirror's limit reaches the client whole; the mirror gets one byte more
	// than its limit, so it drops the exchange as too large.
	resp = h.do(t, "GET", "/big-stream", nil, "")
	if string(resp.Body()) != big {
		t.Fatalf("big stream: client got %d bytes, want %d", len(resp.Body()), len(big))
	}
	// A known length over the primary's response limit is a 502, as without streaming.
	if resp = h.do(t, "GET", "/too-big", nil, ""); resp.StatusCode() != fasthttp.StatusBadGateway {
		t.Fatalf("too big: status %d", resp.StatusCode())
	}
	offers := waitOffers(t, rec, 2)
	if offers[0].answer != `{"predictions":[1]}` {
		t.Errorf("known length offered %q", offers[0].answer)
	}
	if len(offers[1].answer) != 1001 {
		t.Errorf("big stream offered %d bytes, want the limit and one more (1001)", len(offers[1].answer))
	}
}

// A client that goes away in the middle of a stream: nothing is offered (the answer is not whole),
// the primary's connection is let go, and the proxy serves the next request.
func TestStreamClientGoesAway(t *testing.T) {
	gate := make(chan struct{})
	rec := &recorder{}
	h := newHarness(t, Options{Routes: []Route{{Name: "llm", Primary: Upstream{URL: proxytest.Serve(t, sse(gate)), Stream: true}, Mirror: rec}}})
	conn, err := h.ln.Dial()
	if err != nil {
		t.Fatal(err)
	}
	fmt.Fprint(conn, "GET /stream HTTP/1.1\r\nHost: proxy\r\n\r\n")
	br := bufio.NewReader(conn)
	for {
		line, err := br.ReadString('\n')
		if err != nil {
			t.Fatal(err)
		}
		if strings.Contains(line, `"n":1`) {
			break
		}
	}
	conn.Close()
	close(gate)
	waitConnsClosed(t, h) // the proxy has finished writing into the closed connection
	if got := rec.all(); len(got) != 0 {
		t.Errorf("offered %d exchanges of a stream the client did not get whole", len(got))
	}
	resp := h.do(t, "GET", "/again", nil, "")
	if !strings.Contains(string(resp.Body()), `"n":2`) {
		t.Errorf("next request got %q", resp.Body())
	}
}

// A stream may last longer than the server's write timeout (which bounds writing an ordinary
// answer): the primary's timeout bounds it instead.
func TestStreamOutlastsWriteTimeout(t *testing.T) {
	primary := proxytest.Serve(t, func(ctx *fasthttp.RequestCtx) {
		ctx.SetContentType("text/event-stream")
		ctx.SetBodyStreamWriter(func(w *bufio.Writer) {
			for i := range 5 {
				fmt.Fprintf(w, "data: %d\n\n", i)
				_ = w.Flush()
				time.Sleep(100 * time.Millisecond)
			}
		})
	})
	// Over TCP: the in-memory listener's connections have no write deadlines.
	addr := serveTCP(t, Options{WriteTimeout: 200 * time.Millisecond, Routes: []Route{{Name: "llm", Primary: Upstream{URL: primary, Stream: true, Timeout: 10 * time.Second}}}})
	c := &fasthttp.Client{}
	defer c.CloseIdleConnections()
	status, body, err := c.GetTimeout(nil, "http://"+addr+"/stream", 10*time.Second)
	if want := "data: 0\n\ndata: 1\n\ndata: 2\n\ndata: 3\n\ndata: 4\n\n"; err != nil || status != 200 || string(body) != want {
		t.Fatalf("client got %d %q (%v), want %q", status, body, err, want)
	}
}

// Many streams at once, every other client leaving after the first event: the whole ones are
// offered exactly once each, the others not at all, and nothing is left running (goleak in
// TestMain). Run with -race.
func TestConcurrentStreams(t *testing.T) {
	gate := make(chan struct{})
	rec := &recorder{}
	h := newHarness(t, Options{Routes: []Route{{Name: "llm", Primary: Upstream{URL: proxytest.Serve(t, sse(gate)), Stream: true}, Mirror: rec}}})
	const n = 40
	var wg sync.WaitGroup
	firsts := make(chan struct{}, n)
	errs := make(chan error, n)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			conn, err := h.ln.Dial()
			if err != nil {
				errs <- err
				return
			}
			defer conn.Close()
			fmt.Fprintf(conn, "GET /s HTTP/1.1\r\nHost: proxy\r\nX-Request-Id: s%d\r\nConnection: close\r\n\r\n", i)
			br := bufio.NewReader(conn)
			for {
				line, err := br.ReadString('\n')
				if err != nil {
					errs <- fmt.Errorf("stream %d: %w", i, err)
					return
				}
				if strings.Contains(line, `"n":1`) {
					break
				}
			}
			firsts <- struct{}{}
			if i%2 == 1 {
				return // leaves in the middle
			}
			rest, err := io.ReadAll(br)
			if err != nil || !strings.Contains(string(rest), "[DONE]") {
				errs <- fmt.Errorf("stream %d: rest %q: %v", i, rest, err)
			}
		}()
	}
	for range n {
		select {
		case <-firsts:
		case err := <-errs:
			t.Fatal(err)
		case <-time.After(10 * time.Second):
			t.Fatal("not every stream got its first event")
		}
	}
	close(gate) // every stream has its first event: let them all finish
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	waitConnsClosed(t, h) // every stream is over: each whole one offered, the others not
	offers := rec.all()
	if got := len(offers); got != n/2 {
		t.Errorf("%d offers, want %d", got, n/2)
	}
	seen := map[string]bool{}
	for _, o := range offers {
		var i int
		if _, err := fmt.Sscanf(o.id, "s%d", &i); err != nil || i%2 == 1 || seen[o.id] {
			t.Errorf("offer for %q (whole streams are the even ones, each once)", o.id)
		}
		seen[o.id] = true
	}
}
