package proxytest

import (
	"context"
	"crypto/tls"
	"fmt"
	"net"
	"testing"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/metadata"
)

// GRPCHandler answers one unary call: the full method, the call's metadata and its request
// message, as bytes. It returns the response message, or an error (a status.Error sets the status).
// It may set headers and trailers with grpc.SetHeader and grpc.SetTrailer on ctx.
type GRPCHandler func(ctx context.Context, method string, md metadata.MD, req []byte) ([]byte, error)

// ServeGRPC runs h as a gRPC server (cleartext HTTP/2) on a loopback port until the test ends and
// returns its grpc://host:port URL. Every method is served as unary; messages pass as bytes.
func ServeGRPC(t testing.TB, h GRPCHandler) string {
	t.Helper()
	return serveGRPC(t, h, "grpc://")
}

// ServeGRPCTLS is ServeGRPC over TLS with the given PEM certificate and key; it returns a grpcs URL.
func ServeGRPCTLS(t testing.TB, h GRPCHandler, certPEM, keyPEM []byte) string {
	t.Helper()
	cert, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		t.Fatal(err)
	}
	return serveGRPC(t, h, "grpcs://", grpc.Creds(credentials.NewServerTLSFromCert(&cert)))
}

func serveGRPC(t testing.TB, h GRPCHandler, scheme string, opts ...grpc.ServerOption) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := NewGRPCServer(h, opts...)
	done := make(chan struct{})
	go func() { defer close(done); _ = s.Serve(ln) }()
	t.Cleanup(func() { s.Stop(); <-done })
	return scheme + ln.Addr().String()
}

// NewGRPCServer returns a gRPC server that answers every method with h (see ServeGRPC).
func NewGRPCServer(h GRPCHandler, opts ...grpc.ServerOption) *grpc.Server {
	opts = append(opts, grpc.ForceServerCodec(Bytes{}), grpc.UnknownServiceHandler(func(_ any, ss grpc.ServerStream) error {
		method, _ := grpc.MethodFromServerStream(ss)
		md, _ := metadata.FromIncomingContext(ss.Context())
		var req []byte
		if err := ss.RecvMsg(&req); err != nil {
			return err
		}
		ctx := grpc.NewContextWithServerTransportStream(ss.Context(), &transportStream{method: method, ss: ss})
		resp, err := h(ctx, method, md, req)
		if err != nil {
			return err
		}
		return ss.SendMsg(&resp)
	}))
	return grpc.NewServer(opts...)
}

// transportStream lets a handler call grpc.SetHeader and grpc.SetTrailer on its context.
type transportStream struct {
	method string
	ss     grpc.ServerStream
}

func (s *transportStream) Method() string                  { return s.method }
func (s *transportStream) SetHeader(md metadata.MD) error  { return s.ss.SetHeader(md) }
func (s *transportStream) SendHeader(md metadata.MD) error { return s.ss.SendHeader(md) }
func (s *transportStream) SetTrailer(md metadata.MD) error { s.ss.SetTrailer(md); return nil }

// Bytes is a gRPC codec of raw messages: values are *[]byte.
type Bytes struct{}

// Marshal returns the bytes v points to.
func (Bytes) Marshal(v any) ([]byte, error) {
	if b, ok := v.(*[]byte); ok {
		return *b, nil
	}
	return nil, fmt.Errorf("bytes codec: %T", v)
}

// Unmarshal copies data into the slice v points to.
func (Bytes) Unmarshal(data []byte, v any) error {
	b, ok := v.(*[]byte)
	if !ok {
		return fmt.Errorf("bytes codec: %T", v)
	}
	*b = append([]byte(nil), data...)
	return nil
}

// Name is "proto".
func (Bytes) Name() string { return "proto" }
