// Command modelserver is the benchmark's model: a fasthttp server answering every request with a
// ~1 KB TensorFlow Serving-like prediction, optionally after a delay, and optionally disagreeing (a
// different label) on a share of inputs chosen by a hash of the request body. With -grpc it is a
// KServe v2 gRPC server answering ModelInfer with a batch of class scores and labels instead.
//
//	modelserver -addr 127.0.0.1:8501 [-delay 50ms] [-size 1024] [-disagree 0.05] [-grpc]
package main

import (
	"flag"
	"fmt"
	"hash/fnv"
	"log"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/valyala/fasthttp"
)

func main() {
	addr := flag.String("addr", "127.0.0.1:8501", "loopback address to listen on")
	delay := flag.Duration("delay", 0, "answer after this long")
	size := flag.Int("size", 1024, "approximate answer size in bytes")
	disagree := flag.Float64("disagree", 0, "share of inputs (by body hash) answered with another label")
	grpcMode := flag.Bool("grpc", false, "serve KServe v2 ModelInfer over gRPC (h2c) instead of HTTP")
	flag.Parse()
	if *grpcMode {
		if err := serveGRPC(*addr, *delay, *size, *disagree); err != nil {
			log.Fatal(err)
		}
		return
	}

	agreeBody, disagreeBody := answer(*size, "versicolor"), answer(*size, "virginica")
	s := &fasthttp.Server{
		Handler: func(ctx *fasthttp.RequestCtx) {
			if *delay > 0 {
				time.Sleep(*delay)
			}
			body := agreeBody
			if *disagree > 0 {
				h := fnv.New32a()
				h.Write(ctx.PostBody())
				if float64(h.Sum32()%10000) < *disagree*10000 {
					body = disagreeBody
				}
			}
			ctx.SetContentType("application/json")
			ctx.SetBody(body)
		},
		NoDefaultServerHeader: true,
		NoDefaultDate:         true,
		CloseOnShutdown:       true,
	}
	go func() {
		sig := make(chan os.Signal, 1)
		signal.Notify(sig, syscall.SIGTERM, syscall.SIGINT)
		<-sig
		_ = s.Shutdown()
	}()
	if err := s.ListenAndServe(*addr); err != nil {
		log.Fatal(err)
	}
}

// answer builds a prediction answer of about size bytes.
func answer(size int, label string) []byte {
	one := fmt.Sprintf(`{"label":%q,"scores":[0.0123,0.9712,0.0165],"classes":["setosa","versicolor","virginica"]}`, label)
	n := max(1, size/(len(one)+1))
	return []byte(`{"predictions":[` + strings.TrimSuffix(strings.Repeat(one+",", n), ",") + `],"model_version":"1"}`)
}
