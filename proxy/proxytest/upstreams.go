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

// StrayServer is an upstream that answers each request with its X-Request-Id and, after, writes one
// more response that nobody asked for ("stray-" and the id), as a handler that writes twice does.
func StrayServer(t testing.TB, after time.Duration) string {
	t.Helper()
	return ServeConns(t, func(c net.Conn) { stray(c, after) })
}

// IDServer answers each request with its X-Request-Id, and counts the connections it accepts.
func IDServer(t testing.TB, conns *atomic.Int64) string {
	t.Helper()
	return ServeConns(t, func(c net.Conn) {
		conns.Add(1)
		stray(c, 0)
	})
}

// StrayServerTLS is StrayServer over TLS with the given certificate; it returns an https URL and
// counts the connections it accepts in conns.
func StrayServerTLS(t testing.TB, after time.Duration, cert tls.Certificate, conns *atomic.Int64) string {
	t.Helper()
	cfg := &tls.Config{Certificates: []tls.Certificate{cert}}
	return "https" + strings.TrimPrefix(ServeConns(t, func(c net.Conn) {
		conns.Add(1)
		stray(tls.Server(c, cfg), after)
	}), "http")
}

// stray serves one connection of StrayServer; after 0 writes no stray answers.
func stray(c net.Conn, after time.Duration) {
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
		if after == 0 {
			continue
		}
		time.Sleep(after)
		stray := "stray-" + id
		if _, err := fmt.Fprintf(c, "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: %d\r\n\r\n%s", len(stray), stray); err != nil {
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
