package proxy

import (
	"context"
	"net"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"

	"github.com/shadowproxy/shadowproxy/proxy/proxytest"
)

// BenchmarkGRPCUnary measures a unary call of a 1 KiB message on loopback straight to a gRPC server
// and through GRPCServer (no mirror): the difference is the proxy's cost on the primary path.
func BenchmarkGRPCUnary(b *testing.B) {
	answer := make([]byte, 1<<10)
	primary := proxytest.ServeGRPC(b, func(context.Context, string, metadata.MD, []byte) ([]byte, error) { return answer, nil })
	srv, err := NewGRPC(GRPCOptions{Metrics: NewMetrics(prometheus.NewRegistry()), Routes: []Route{{Name: "b", Primary: Upstream{URL: primary}}}})
	if err != nil {
		b.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	go func() { _ = srv.Serve(ln) }()
	b.Cleanup(func() { _ = srv.Shutdown(context.Background()) })
	for _, bc := range []struct{ name, addr string }{{"direct", primary[len("grpc://"):]}, {"proxied", ln.Addr().String()}} {
		b.Run(bc.name, func(b *testing.B) {
			conn, err := grpc.NewClient("passthrough:///"+bc.addr, grpc.WithTransportCredentials(insecure.NewCredentials()),
				grpc.WithDefaultCallOptions(grpc.ForceCodec(proxytest.Bytes{})))
			if err != nil {
				b.Fatal(err)
			}
			defer conn.Close()
			req := make([]byte, 1<<10)
			b.ReportAllocs()
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
	}
}
