// Command floor is the benchmark's floor: the least a fasthttp shadow proxy can do. It forwards each
// request to the primary with one keep-alive HostClient and, with -candidate, copies the request
// into a bounded queue that a fixed set of workers sends to the candidate, discarding the answers.
// No comparison, records, metrics, request ids or header work: what shadowproxy costs over its own
// library is measured against this program (bench/run's "floor" scenarios).
//
//	floor -addr 127.0.0.1:8080 -primary 127.0.0.1:8501 [-candidate 127.0.0.1:8502 -workers 64 -queue 1024] [-pprof 127.0.0.1:6060] [-grpc]
//
// With -grpc it is the gRPC floor: a grpc-go server passing every unary call (bytes, metadata,
// status) to the primary, and with a candidate copying it to the same kind of queue.
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
		for range *workers {
			wg.Go(func() {
				resp := fasthttp.AcquireResponse()
				defer fasthttp.ReleaseResponse(resp)
				for req := range shadows {
					_ = cand.Do(req, resp)
					fasthttp.ReleaseRequest(req)
					resp.Reset()
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
	}
	if err != nil {
		log.Fatal(err)
	}
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
