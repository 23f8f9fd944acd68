// Command floor is the benchmark's floor: the least a fasthttp shadow proxy can do. It forwards each
// request to the primary with one keep-alive HostClient and, with -candidate, copies the request
// into a bounded queue that a fixed set of workers sends to the candidate, discarding the answers.
// No comparison, records, metrics, request ids or header work: what shadowproxy costs over its own
// library is measured against this program (bench/run's "floor" scenarios).
//
//	floor -addr 127.0.0.1:8080 -primary 127.0.0.1:8501 [-candidate 127.0.0.1:8502 -workers 64 -queue 1024 -work 0] [-pprof 127.0.0.1:6060] [-grpc]
//
// With -grpc it is the gRPC floor: a grpc-go server passing every unary call (bytes, metadata,
// status) to the primary, and with a candidate copying it to the same kind of queue.
//
// -work makes each shadow's worker spend that much CPU after the candidate's answer, in a busy loop
// calibrated at start: the floor plus what a comparison, a record or metrics would cost per
// exchange, to see what such a cost does to throughput on the machine at hand.
//
// -pprof serves net/http/pprof on its own listener, so that a profile of the floor can be the base
// of shadowproxy's (go tool pprof -diff_base floor.pprof shadowproxy.pprof).
package main

import (
	"flag"
	"log"
	"net/http"
	_ "net/http/pprof" // only served with -pprof
	"os"
	"os/signal"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/valyala/fasthttp"
)

func main() {
	addr := flag.String("addr", "127.0.0.1:8080", "loopback address to listen on")
	primary := flag.String("primary", "127.0.0.1:8501", "primary model host:port")
	candidate := flag.String("candidate", "", "candidate model host:port (empty: no mirroring)")
	workers := flag.Int("workers", 64, "shadow requests in flight to the candidate")
	queue := flag.Int("queue", 1024, "waiting shadows; beyond it they are dropped")
	pprofAddr := flag.String("pprof", "", "serve net/http/pprof on this loopback address (empty: none)")
	work := flag.Duration("work", 0, "CPU each shadow's worker spends after the candidate's answer (a calibrated busy loop), to size what per-exchange work such as a comparison costs in throughput")
	grpcMode := flag.Bool("grpc", false, "a gRPC floor: a grpc-go pass-through proxy of unary calls (primary and candidate are gRPC servers)")
	flag.Parse()
	if *pprofAddr != "" {
		go func() { log.Print(http.ListenAndServe(*pprofAddr, nil)) }()
	}
	if *grpcMode {
		if err := serveGRPC(*addr, *primary, *candidate, *workers, *queue); err != nil {
			log.Fatal(err)
		}
		return
	}

	up := &fasthttp.HostClient{Addr: *primary, MaxConns: 1024, ReadTimeout: 2 * time.Second, WriteTimeout: 2 * time.Second}
	var shadows chan *fasthttp.Request
	var wg sync.WaitGroup
	if *candidate != "" {
		shadows = make(chan *fasthttp.Request, *queue)
		cand := &fasthttp.HostClient{Addr: *candidate, MaxConns: *workers, ReadTimeout: 2 * time.Second, WriteTimeout: 2 * time.Second}
		spins := spinsFor(*work)
		for range *workers {
			wg.Go(func() {
				resp := fasthttp.AcquireResponse()
				defer fasthttp.ReleaseResponse(resp)
				n := int64(0) // counted here, not in the handler: no shared counter on its path
				defer func() { mirrored.Add(n) }()
				for req := range shadows {
					_ = cand.Do(req, resp)
					spin(spins)
					fasthttp.ReleaseRequest(req)
					resp.Reset()
					n++
				}
			})
		}
	}
	s := &fasthttp.Server{
		Handler: func(ctx *fasthttp.RequestCtx) {
			if err := up.Do(&ctx.Request, &ctx.Response); err != nil {
				ctx.Error("bad gateway", fasthttp.StatusBadGateway)
				return
			}
			if shadows == nil {
				return
			}
			req := fasthttp.AcquireRequest()
			ctx.Request.CopyTo(req)
			select {
			case shadows <- req:
			default: // The queue is full: the shadow is dropped.
				fasthttp.ReleaseRequest(req)
				dropped.Add(1)
			}
		},
		NoDefaultServerHeader: true,
		NoDefaultContentType:  true,
		CloseOnShutdown:       true,
	}
	stopOnSignal(func() { _ = s.Shutdown() })
	err := s.ListenAndServe(*addr)
	if shadows != nil {
		close(shadows)
		wg.Wait()
		// Mirroring is only like for like while the floor drops as few shadows as shadowproxy.
		log.Printf("floor: %d shadows mirrored, %d dropped (queue full)", mirrored.Load(), dropped.Load())
	}
	if err != nil {
		log.Fatal(err)
	}
}

// mirrored and dropped count the shadows sent to the candidate and those dropped because the queue
// was full.
var mirrored, dropped atomic.Int64

// spinSink keeps the busy loop's result alive, so the compiler cannot drop the loop.
var spinSink atomic.Uint64

// spin runs n rounds of a busy loop.
func spin(n int) {
	x := uint64(n)
	for i := 0; i < n; i++ {
		x = x*6364136223846793005 + 1442695040888963407
	}
	spinSink.Add(x)
}

// spinsFor returns the rounds of spin that take d of CPU, measured once at start (before any load).
func spinsFor(d time.Duration) int {
	if d <= 0 {
		return 0
	}
	const probe = 1 << 22
	start := time.Now()
	spin(probe)
	return int(float64(probe) * d.Seconds() / max(time.Since(start).Seconds(), 1e-9))
}

// stopOnSignal calls stop on SIGTERM or SIGINT.
func stopOnSignal(stop func()) {
	go func() {
		sig := make(chan os.Signal, 1)
		signal.Notify(sig, syscall.SIGTERM, syscall.SIGINT)
		<-sig
		stop()
	}()
}
