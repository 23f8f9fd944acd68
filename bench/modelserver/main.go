// Command modelserver is a fasthttp stand-in for an ML model server, used by the benchmark harness
// (bench/run). It answers every request with a tfserving-like JSON prediction of about -size bytes,
// after -delay. A share -disagree of requests, chosen deterministically from a hash of the request
// body, gets a different label, so a primary and a candidate started with different -disagree shares
// disagree on a stable subset of requests.
//
//	modelserver -addr 127.0.0.1:8501 -delay 50ms -size 1024 -disagree 0.05
//
// It prints its address on the first line of stdout, then serves until SIGINT or SIGTERM.
package main

import (
	"flag"
	"fmt"
	"hash/fnv"
	"net"
	"os"
	"os/signal"
	"strconv"
	"syscall"
	"time"

	"github.com/valyala/fasthttp"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "modelserver:", err)
		os.Exit(1)
	}
}

func run() error {
	addr := flag.String("addr", "127.0.0.1:0", "address to listen on (port 0 picks one)")
	delay := flag.Duration("delay", 0, "time to wait before answering")
	size := flag.Int("size", 1024, "approximate size of the answer in bytes")
	disagree := flag.Float64("disagree", 0, "share of requests (0..1, by body hash) answered with another label")
	flag.Parse()
	if *disagree < 0 || *disagree > 1 {
		return fmt.Errorf("disagree: %v is outside 0..1", *disagree)
	}

	agree, other := Answer(*size, 1), Answer(*size, 2)
	threshold := uint32(*disagree * float64(1<<32-1))
	h := func(ctx *fasthttp.RequestCtx) {
		if *delay > 0 {
			time.Sleep(*delay)
		}
		body := agree
		if threshold > 0 {
			f := fnv.New32a()
			_, _ = f.Write(ctx.PostBody())
			if f.Sum32() < threshold || *disagree == 1 {
				body = other
			}
		}
		ctx.SetContentType("application/json")
		ctx.SetBody(body)
	}

	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		return fmt.Errorf("listen: %w", err)
	}
	srv := &fasthttp.Server{
		Handler:                       h,
		Name:                          "modelserver",
		NoDefaultDate:                 true,
		NoDefaultServerHeader:         true,
		DisableHeaderNamesNormalizing: true,
		Concurrency:                   1 << 20,
		ReadTimeout:                   30 * time.Second,
		IdleTimeout:                   60 * time.Second,
	}
	fmt.Println(ln.Addr().String())

	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGINT, syscall.SIGTERM)
	select {
	case err := <-errc:
		return err
	case <-sig:
		return srv.Shutdown()
	}
}

// Answer returns a tfserving-like prediction {"predictions":[{"label":label,"scores":[...]}]} padded
// with score values to about size bytes. The scores peak at index label, so an argmax rule agrees
// with the label.
func Answer(size, label int) []byte {
	b := []byte(`{"predictions":[{"label":` + strconv.Itoa(label) + `,"scores":[`)
	for i := 0; len(b) < size-8 || i < 3; i++ {
		if i > 0 {
			b = append(b, ',')
		}
		v := 0.001 + float64(i%97)*1e-5
		if i == label {
			v = 0.9
		}
		b = strconv.AppendFloat(b, v, 'f', 6, 64)
	}
	return append(b, "]}]}"...)
}
