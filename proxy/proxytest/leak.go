// Package proxytest holds helpers for tests of code that runs fasthttp servers and clients.
package proxytest

import "go.uber.org/goleak"

// IgnoreFasthttp lists goroutines that fasthttp keeps for itself, for goleak: process-wide ones (the
// default dialer's address cache cleaner, the server date updater, the stackless workers its
// compression functions start) and two that end on their own timers
// some seconds after the last connection (a client's host and idle-connection cleaners, a server's worker-pool
// cleaner). None of them is started by shadowproxy's code.
func IgnoreFasthttp() []goleak.Option {
	return []goleak.Option{
		goleak.IgnoreAnyFunction("github.com/valyala/fasthttp.(*TCPDialer).tcpAddrsClean"),
		goleak.IgnoreAnyFunction("github.com/valyala/fasthttp.updateServerDate.func1"),
		goleak.IgnoreAnyFunction("github.com/valyala/fasthttp/stackless.funcWorker"),
		goleak.IgnoreAnyFunction("github.com/valyala/fasthttp.(*HostClient).connsCleaner"),
		goleak.IgnoreAnyFunction("github.com/valyala/fasthttp.(*Client).mCleaner"),
		goleak.IgnoreAnyFunction("github.com/valyala/fasthttp.(*workerPool).Start.func2"),
	}
}
