package proxytest

import (
	"bufio"
	"crypto/tls"
	"fmt"
	"net"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/valyala/fasthttp"
)

// Strays is an upstream that answers each request with its X-Request-Id and then, on the test's
// cue (Send), writes one more response that nobody asked for ("stray-" and the id), as a handler
// that writes twice does. The cue, given once the client has its answer, makes the stray answer
// arrive while the connection is idle whatever the machine's load.
type Strays struct {
	// URL is the server's http:// (https:// with a certificate) URL.
	URL string
	// Conns counts the connections the server accepted.
	Conns atomic.Int64
	cue   chan struct{}
	sent  chan error
	done  chan struct{}
}

// StrayServer starts a Strays server on a loopback port, over TLS with cert when it is not nil.
func StrayServer(t testing.TB, cert *tls.Certificate) *Strays {
	t.Helper()
	return idServer(t, cert, true)
}

// IDServer is a StrayServer that writes no stray answer: it answers each request with its
// X-Request-Id, and counts the connections it accepts.
func IDServer(t testing.TB, cert *tls.Certificate) *Strays {
	t.Helper()
	return idServer(t, cert, false)
}

func idServer(t testing.TB, cert *tls.Certificate, strays bool) *Strays {
	t.Helper()
	s := &Strays{cue: make(chan struct{}), sent: make(chan error), done: make(chan struct{})}
	var cfg *tls.Config
	if cert != nil {
		cfg = &tls.Config{Certificates: []tls.Certificate{*cert}}
	}
	s.URL = ServeConns(t, func(c net.Conn) {
		s.Conns.Add(1)
		if cfg != nil {
			c = tls.Server(c, cfg)
		}
		if strays {
			serveIDs(c, s)
		} else {
			serveIDs(c, nil)
		}
	})
	if cfg != nil {
		s.URL = "https" + strings.TrimPrefix(s.URL, "http")
	}
	t.Cleanup(func() { close(s.done) }) // runs before ServeConns' cleanup waits for the handlers
	return s
}

// Send makes the connection that answered last write its stray answer, and returns once it is
// written.
func (s *Strays) Send(t testing.TB) {
	t.Helper()
	select {
	case s.cue <- struct{}{}:
	case <-time.After(20 * time.Second):
		t.Fatal("no connection of the stray server waits to write a stray answer")
	}
	select {
	case err := <-s.sent:
		if err != nil {
			t.Fatalf("write the stray answer: %v", err)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("the stray answer not written in 20s")
	}
}

// serveIDs serves one connection; s, when not nil, cues stray answers.
func serveIDs(c net.Conn, s *Strays) {
	br := bufio.NewReader(c)
	for {
		_ = c.SetReadDeadline(time.Now().Add(10 * time.Second))
		req, err := http.ReadRequest(br)
		if err != nil {
			return
		}
		id := req.Header.Get("X-Request-Id")
		_ = req.Body.Close()
		if _, err := fmt.Fprintf(c, "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: %d\r\n\r\n%s", len(id), id); err != nil {
			return
		}
		if s == nil {
			continue
		}
		select {
		case <-s.cue:
		case <-s.done:
			return
		}
		stray := "stray-" + id
		_, err = fmt.Fprintf(c, "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: %d\r\n\r\n%s", len(stray), stray)
		select {
		case s.sent <- err:
		case <-s.done:
			return
		}
		if err != nil {
			return
		}
	}
}

// IdleClosingServer serves h on a loopback port and closes keep-alive connections idle for idle, as
// gunicorn (2s) and uvicorn (5s) do; it returns the http://host:port URL.
func IdleClosingServer(t testing.TB, idle time.Duration, h fasthttp.RequestHandler) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := &fasthttp.Server{Handler: h, IdleTimeout: idle, CloseOnShutdown: true}
	done := make(chan struct{})
	go func() { defer close(done); _ = s.Serve(ln) }()
	t.Cleanup(func() { _ = s.Shutdown(); <-done })
	return "http://" + ln.Addr().String()
}
