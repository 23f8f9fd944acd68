package proxy

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/valyala/fasthttp"

	"github.com/shadowproxy/shadowproxy/proxy/proxytest"
)

// TestUnsolicitedResponseNeverShiftsAnswers: a primary that writes an extra response after each
// answer must not make the next client, on its own connection, get the previous client's answer.
func TestUnsolicitedResponseNeverShiftsAnswers(t *testing.T) {
	primary := proxytest.StrayServer(t, nil)
	h := newHarness(t, Options{Routes: []Route{{Name: "r", Primary: Upstream{URL: primary.URL, IdleTimeout: time.Minute}}}})
	for i := range 4 {
		id := fmt.Sprintf("client-%d", i)
		resp := h.do(t, "POST", "/p", map[string]string{HeaderRequestID: id, "Connection": "close"}, "{}")
		if resp.StatusCode() != 200 || string(resp.Body()) != id {
			t.Errorf("client %d got %d %q, want 200 %q", i, resp.StatusCode(), resp.Body(), id)
		}
		// The stray answer arrives while the connection is idle (one arriving after the next request
		// went out is the known limit).
		primary.Send(t)
	}
	if got := primary.Conns.Load(); got != 4 {
		t.Errorf("%d connections to the primary, want 4: one per stray answer", got)
	}
}

// TestQuietConnectionReusedPastTheTimeout: a connection idle for longer than the upstream's
// timeout (its last read deadline long past) is clean, and reused.
func TestQuietConnectionReusedPastTheTimeout(t *testing.T) {
	primary := proxytest.IDServer(t, nil)
	h := newHarness(t, Options{Routes: []Route{{Name: "r", Primary: Upstream{URL: primary.URL, Timeout: 100 * time.Millisecond, IdleTimeout: time.Minute}}}})
	for i := range 3 {
		id := fmt.Sprint("client-", i)
		if resp := h.do(t, "POST", "/p", map[string]string{HeaderRequestID: id}, "{}"); string(resp.Body()) != id {
			t.Errorf("client %d got %d %q", i, resp.StatusCode(), resp.Body())
		}
		time.Sleep(300 * time.Millisecond)
	}
	if got := primary.Conns.Load(); got != 1 {
		t.Errorf("%d connections to the primary, want 1 reused", got)
	}
}

// TestIdleClosingUpstreamNo502: an upstream that closes idle connections after 150ms, and bursts of
// concurrent requests 300ms apart (each burst finds the connections of the last one closed): no
// client gets a 502, with the upstream idle timeout longer than the server's.
func TestIdleClosingUpstreamNo502(t *testing.T) {
	url := proxytest.IdleClosingServer(t, 150*time.Millisecond, func(ctx *fasthttp.RequestCtx) { ctx.SetBody(ctx.PostBody()) })
	h := newHarness(t, Options{Routes: []Route{{Name: "r", Primary: Upstream{URL: url, IdleTimeout: time.Minute}}}})
	var bad atomic.Int64
	for burst := range 4 {
		var wg sync.WaitGroup
		for i := range 16 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				body := fmt.Sprintf("b%d-%d", burst, i)
				resp := h.do(t, "POST", "/p", nil, body)
				if resp.StatusCode() != 200 || string(resp.Body()) != body {
					bad.Add(1)
					t.Errorf("burst %d request %d: %d %q", burst, i, resp.StatusCode(), resp.Body())
				}
			}()
		}
		wg.Wait()
		time.Sleep(300 * time.Millisecond)
	}
	if got := testutil.ToFloat64(h.srv.metrics.requests.WithLabelValues("r", "502")); got != 0 || bad.Load() != 0 {
		t.Errorf("%v answers were 502 (%d wrong in all)", got, bad.Load())
	}
}

// TestStaleConnRetriedEvenForPost: the error a stale pooled connection gives is retried for any
// method (no byte of the request was sent), other errors that are no sign of a closed idle connection
// are not.
func TestStaleConnRetriedEvenForPost(t *testing.T) {
	post := new(fasthttp.Request)
	post.Header.SetMethod("POST")
	for _, tt := range []struct {
		err      error
		attempts int
		retry    bool
	}{
		{ErrStaleConn, 1, true},
		{ErrStaleConn, 3, true},
		{fmt.Errorf("write: %w", ErrStaleConn), 1, true},
		{fasthttp.ErrConnectionClosed, 1, true},
		{fasthttp.ErrConnectionClosed, 2, false},
		{fasthttp.ErrTimeout, 1, false},
		{fasthttp.ErrBodyTooLarge, 1, false},
	} {
		if _, got := retryUpstream(post, tt.attempts, tt.err); got != tt.retry {
			t.Errorf("retry(%v, attempts %d) = %v, want %v", tt.err, tt.attempts, got, tt.retry)
		}
	}
}

func TestClassifyUpstreamError(t *testing.T) {
	for _, tt := range []struct {
		err  error
		want Failure
	}{
		{fasthttp.ErrTimeout, FailureTimeout},
		{fasthttp.ErrDialTimeout, FailureTimeout},
		{fmt.Errorf("x: %w", fasthttp.ErrTimeout), FailureTimeout},
		{fasthttp.ErrNoFreeConns, FailureNoFreeConn},
		{fasthttp.ErrBodyTooLarge, FailureTooLarge},
		{fasthttp.ErrConnectionClosed, FailureUnreachable},
		{ErrStaleConn, FailureUnreachable},
	} {
		if got := ClassifyError(tt.err); got != tt.want {
			t.Errorf("ClassifyError(%v) = %v, want %v", tt.err, got, tt.want)
		}
	}
	if got := statusError(fasthttp.ErrTimeout); got != 504 {
		t.Errorf("timeout status %d", got)
	}
	if got := statusError(fasthttp.ErrNoFreeConns); got != 503 {
		t.Errorf("no free conn status %d", got)
	}
	if got := statusError(fasthttp.ErrBodyTooLarge); got != 502 {
		t.Errorf("too large status %d", got)
	}
}

// TestPeekSeesPendingBytesAndEOF checks the idle-connection check on a real loopback socket.
func TestPeekSeesPendingBytesAndEOF(t *testing.T) {
	if !peekSupported {
		t.Skip("no MSG_PEEK on this platform")
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	accepted := make(chan net.Conn, 1)
	go func() { c, _ := ln.Accept(); accepted <- c }()
	raw, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	c := newCheckedConn(raw, nil)
	defer c.Close()
	srv := <-accepted
	if err := c.idleCheck(); err != nil {
		t.Fatalf("a quiet connection failed the check: %v", err)
	}
	// The read deadline of the last request has passed while the connection was idle (idle_timeout
	// longer than the timeout): the check does not depend on it.
	_ = c.SetReadDeadline(time.Now().Add(-time.Second))
	if err := c.idleCheck(); err != nil {
		t.Fatalf("a quiet connection past its read deadline failed the check: %v", err)
	}
	_ = c.SetReadDeadline(time.Time{})
	_, _ = srv.Write([]byte("x"))
	waitUntil(t, func() bool { return c.idleCheck() != nil })
	if err := c.idleCheck(); !strings.Contains(err.Error(), "unsolicited") {
		t.Errorf("pending byte: %v", err)
	}
	buf := make([]byte, 1)
	_, _ = raw.Read(buf)
	srv.Close()
	waitUntil(t, func() bool { return c.idleCheck() != nil })
	if err := c.idleCheck(); !strings.Contains(err.Error(), "closed") {
		t.Errorf("closed by the server: %v", err)
	}
}

func waitUntil(t *testing.T, cond func() bool) {
	t.Helper()
	for end := time.Now().Add(5 * time.Second); !cond(); time.Sleep(time.Millisecond) {
		if time.Now().After(end) {
			t.Fatal("condition not reached in 5s")
		}
	}
}

// BenchmarkIdleCheck measures the check made before each request on a reused connection: one
// non-blocking recvfrom(MSG_PEEK).
func BenchmarkIdleCheck(b *testing.B) {
	if !peekSupported {
		b.Skip("no MSG_PEEK on this platform")
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	defer ln.Close()
	accepted := make(chan net.Conn, 1)
	go func() { c, _ := ln.Accept(); accepted <- c }()
	raw, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		b.Fatal(err)
	}
	c := newCheckedConn(raw, nil)
	defer c.Close()
	if srv := <-accepted; srv != nil {
		defer srv.Close()
	}
	b.ReportAllocs()
	for b.Loop() {
		if err := c.idleCheck(); err != nil {
			b.Fatal(err)
		}
	}
}

func TestNewHostClientDefaults(t *testing.T) {
	c, host, err := NewHostClient(Upstream{URL: "https://model.example"})
	if err != nil {
		t.Fatal(err)
	}
	if c.Addr != "model.example:443" || host != "model.example" || !c.IsTLS {
		t.Errorf("addr %q host %q tls %v", c.Addr, host, c.IsTLS)
	}
	if c.MaxIdleConnDuration != DefaultIdleTimeout || DefaultIdleTimeout >= 2*time.Second {
		t.Errorf("idle timeout %v, want the default %v, below gunicorn's 2s", c.MaxIdleConnDuration, DefaultIdleTimeout)
	}
	if c.ConnPoolStrategy != fasthttp.LIFO || c.RetryIfErr == nil || c.DialTimeout == nil {
		t.Error("the client lacks its connection hygiene")
	}
	c, _, _ = NewHostClient(Upstream{URL: "http://127.0.0.1:1", IdleTimeout: 5 * time.Second})
	if c.MaxIdleConnDuration != 5*time.Second {
		t.Errorf("idle timeout %v, want 5s", c.MaxIdleConnDuration)
	}
	for _, bad := range []string{"ftp://x", "http://", "://"} {
		if _, _, err := NewHostClient(Upstream{URL: bad}); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}

// TestTLSUpstreamChecksAndReuses: over TLS the check runs under the TLS layer, after the handshake:
// a quiet connection is reused (a session ticket is no stray byte), a stray answer is never read as
// the next client's.
func TestTLSUpstreamChecksAndReuses(t *testing.T) {
	cert, pool := selfSignedTLS(t)
	for _, tt := range []struct {
		name      string
		stray     bool
		wantConns int64
	}{
		{"quiet", false, 1},
		{"stray", true, 4},
	} {
		t.Run(tt.name, func(t *testing.T) {
			server := proxytest.IDServer
			if tt.stray {
				server = proxytest.StrayServer
			}
			primary := server(t, &cert)
			h := newHarness(t, Options{Routes: []Route{{Name: "r", Primary: Upstream{URL: primary.URL, IdleTimeout: time.Minute, TLS: &tls.Config{RootCAs: pool}}}}})
			for i := range 4 {
				id := fmt.Sprintf("client-%d", i)
				resp := h.do(t, "POST", "/p", map[string]string{HeaderRequestID: id, "Connection": "close"}, "{}")
				if resp.StatusCode() != 200 || string(resp.Body()) != id {
					t.Errorf("client %d got %d %q, want 200 %q", i, resp.StatusCode(), resp.Body(), id)
				}
				if tt.stray {
					primary.Send(t)
				}
			}
			if got := primary.Conns.Load(); got != tt.wantConns {
				t.Errorf("%d connections to the primary, want %d", got, tt.wantConns)
			}
		})
	}
}

// selfSignedTLS makes a certificate for 127.0.0.1 and a pool that trusts it.
func selfSignedTLS(t *testing.T) (tls.Certificate, *x509.CertPool) {
	t.Helper()
	cert, _, _ := proxytest.SelfSigned(t)
	pool := x509.NewCertPool()
	pool.AddCert(cert.Leaf)
	return cert, pool
}

// TestUpstreamDeadlineExtendedOnReuse: upstream connections extend their deadlines lazily
// (deadline.go), so a request on a reused connection runs into the deadline an earlier request
// armed; it must carry on to its own timeout, and a request slower than its timeout still gets 504.
func TestUpstreamDeadlineExtendedOnReuse(t *testing.T) {
	url := proxytest.Serve(t, func(ctx *fasthttp.RequestCtx) {
		d, _ := time.ParseDuration(string(ctx.PostBody()))
		time.Sleep(d)
		ctx.SetBodyString(fmt.Sprint(ctx.ConnID()))
	})
	h := newHarness(t, Options{Routes: []Route{{Name: "r", Primary: Upstream{URL: url, Timeout: time.Second, IdleTimeout: time.Minute}}}})
	first := h.do(t, "POST", "/p", nil, "0s")
	conn := string(first.Body())
	time.Sleep(700 * time.Millisecond)
	// Armed by the first request: about 300ms from now; this one's own: a second from now.
	if resp := h.do(t, "POST", "/p", nil, "600ms"); resp.StatusCode() != 200 || string(resp.Body()) != conn {
		t.Errorf("a request past the deadline an earlier one armed: %d %q, want 200 on connection %s", resp.StatusCode(), resp.Body(), conn)
	}
	if resp := h.do(t, "POST", "/p", nil, "1500ms"); resp.StatusCode() != fasthttp.StatusGatewayTimeout {
		t.Errorf("a request slower than its timeout: %d, want 504", resp.StatusCode())
	}
}
