package proxy

import (
	"context"
	"net"
	"syscall"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/valyala/fasthttp"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"

	"github.com/shadowproxy/shadowproxy/proxy/proxytest"
)

// cpuTime is the process's user and system CPU time so far.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// reportCPU adds cpu-µs/op: the CPU the whole process (client, proxy and model, all in process)
// spent per call. On a shared machine it moves far less than wall time, so the difference between
// a proxied and a direct run is the proxy's own cost per call.
func reportCPU(b *testing.B, run func()) {
	start := cpuTime()
	run()
	b.ReportMetric(float64((cpuTime()-start).Microseconds())/float64(b.N), "cpu-µs/op")
}

// BenchmarkPrimaryPath measures one call of a 1 KiB request and answer on loopback, straight to the
// model and through the proxy (no mirror), for HTTP (fasthttp) and gRPC (grpc-go): the proxy's cost
// on the primary path of each protocol, in CPU time and allocations.
func BenchmarkPrimaryPath(b *testing.B) {
	answer := make([]byte, 1<<10)
	req := make([]byte, 1<<10)

	httpModel := proxytest.Serve(b, func(ctx *fasthttp.RequestCtx) { ctx.SetBody(answer) })
	hs, err := New(Options{Metrics: NewMetrics(prometheus.NewRegistry()), Routes: []Route{{Name: "b", Primary: Upstream{URL: httpModel}}}})
	if err != nil {
		b.Fatal(err)
	}
	hln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	go func() { _ = hs.Serve(hln) }()
	b.Cleanup(func() { _ = hs.Shutdown(context.Background()) })

	grpcModel := proxytest.ServeGRPC(b, func(context.Context, string, metadata.MD, []byte) ([]byte, error) { return answer, nil })
	gs, err := NewGRPC(GRPCOptions{Metrics: NewMetrics(prometheus.NewRegistry()), Routes: []Route{{Name: "b", Primary: Upstream{URL: grpcModel}}}})
	if err != nil {
		b.Fatal(err)
	}
	gln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	go func() { _ = gs.Serve(gln) }()
	b.Cleanup(func() { _ = gs.Shutdown(context.Background()) })

	for _, bc := range []struct{ name, addr string }{{"http/direct", httpModel[len("http://"):]}, {"http/proxied", hln.Addr().String()}} {
		b.Run(bc.name, func(b *testing.B) {
			c := &fasthttp.HostClient{Addr: bc.addr, MaxConns: 64}
			defer c.CloseIdleConnections()
			b.ReportAllocs()
			reportCPU(b, func() {
				b.RunParallel(func(pb *testing.PB) {
					rq, rs := fasthttp.AcquireRequest(), fasthttp.AcquireResponse()
					defer fasthttp.ReleaseRequest(rq)
					defer fasthttp.ReleaseResponse(rs)
					for pb.Next() {
						rq.SetRequestURI("http://" + bc.addr + "/v2/models/m/infer")
						rq.Header.SetMethod("POST")
						rq.SetBodyRaw(req)
						if err := c.Do(rq, rs); err != nil {
							b.Error(err)
							return
						}
					}
				})
			})
		})
	}
	for _, bc := range []struct{ name, addr string }{{"grpc/direct", grpcModel[len("grpc://"):]}, {"grpc/proxied", gln.Addr().String()}} {
		b.Run(bc.name, func(b *testing.B) {
			conn, err := grpc.NewClient("passthrough:///"+bc.addr, grpc.WithTransportCredentials(insecure.NewCredentials()),
				grpc.WithDefaultCallOptions(grpc.ForceCodec(proxytest.Bytes{})))
			if err != nil {
				b.Fatal(err)
			}
			defer conn.Close()
			b.ReportAllocs()
			reportCPU(b, func() {
				b.RunParallel(func(pb *testing.PB) {
					for pb.Next() {
						var resp []byte
						if err := conn.Invoke(context.Background(), "/inference.GRPCInferenceService/ModelInfer", &req, &resp); err != nil {
							b.Error(err)
							return
						}
					}
				})
			})
		})
	}
}
