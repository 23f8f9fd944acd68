package proxytest

import (
	"net"
	"sync"
	"testing"

	"github.com/valyala/fasthttp"
)

// Serve runs h on a fasthttp server on a loopback port until the test ends and returns its
// http://host:port URL.
func Serve(t testing.TB, h fasthttp.RequestHandler) string {
	t.Helper()
	return serve(t, h, nil, nil)
}

// ServeTLS is Serve over TLS with the given PEM certificate and key; it returns an https URL.
func ServeTLS(t testing.TB, h fasthttp.RequestHandler, certPEM, keyPEM []byte) string {
	t.Helper()
	return serve(t, h, certPEM, keyPEM)
}

func serve(t testing.TB, h fasthttp.RequestHandler, certPEM, keyPEM []byte) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := &fasthttp.Server{Handler: h, CloseOnShutdown: true, DisableHeaderNamesNormalizing: true}
	done := make(chan struct{})
	go func() {
		defer close(done)
		if certPEM != nil {
			_ = s.ServeTLSEmbed(ln, certPEM, keyPEM)
			return
		}
		_ = s.Serve(ln)
	}()
	t.Cleanup(func() { _ = s.Shutdown(); <-done })
	if certPEM != nil {
		return "https://" + ln.Addr().String()
	}
	return "http://" + ln.Addr().String()
}

// ServeConns accepts connections on a loopback port until the test ends and runs handle on each,
// in its own goroutine, closing the connection after it; it returns the http://host:port URL. For
// upstreams that must write exact bytes (a fasthttp server would add or fix headers).
func ServeConns(t testing.TB, handle func(net.Conn)) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	t.Cleanup(func() { ln.Close(); wg.Wait() })
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				defer c.Close()
				handle(c)
			}()
		}
	}()
	return "http://" + ln.Addr().String()
}
