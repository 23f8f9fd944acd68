package proxy

import (
	"crypto/tls"
	"fmt"
	"net"
	"net/url"
	"strings"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/encoding"
	_ "google.golang.org/grpc/encoding/gzip" // gzip-compressed messages are accepted (and forwarded uncompressed)
	"google.golang.org/grpc/mem"
)

// Headers of a gRPC exchange handed to a Mirror (see GRPCServer): the call's status and its message.
const (
	HeaderGRPCStatus  = "Grpc-Status"
	HeaderGRPCMessage = "Grpc-Message"
)

// IsGRPC reports whether an upstream URL is a gRPC one (grpc:// or grpcs://), which makes a route a
// gRPC route.
func IsGRPC(rawURL string) bool {
	return strings.HasPrefix(rawURL, "grpc://") || strings.HasPrefix(rawURL, "grpcs://")
}

// RawCodec passes gRPC messages through as bytes: the proxy never decodes a message on its path. Its
// values are *[]byte. Each message is copied once, out of gRPC's receive buffers (which it reuses),
// and sent from that copy.
type RawCodec struct{}

// Marshal returns the bytes v points to, without copying them.
func (RawCodec) Marshal(v any) (mem.BufferSlice, error) {
	b, ok := v.(*[]byte)
	if !ok {
		return nil, fmt.Errorf("raw codec: cannot marshal %T", v)
	}
	return mem.BufferSlice{mem.SliceBuffer(*b)}, nil
}

// Unmarshal sets the slice v points to to a copy of data.
func (RawCodec) Unmarshal(data mem.BufferSlice, v any) error {
	b, ok := v.(*[]byte)
	if !ok {
		return fmt.Errorf("raw codec: cannot unmarshal into %T", v)
	}
	*b = data.Materialize()
	return nil
}

// Name is "proto": the messages are protobuf, only not decoded here, and it is what servers expect
// in the content type (application/grpc+proto).
func (RawCodec) Name() string { return "proto" }

var _ encoding.CodecV2 = RawCodec{}

// DialGRPC makes the client of a gRPC upstream (grpc://host:port in cleartext HTTP/2, grpcs:// with
// TLS) whose calls pass messages through as bytes (RawCodec, values *[]byte). It returns the target
// label (host:port). Connecting is lazy: an unreachable upstream fails the calls, not DialGRPC.
func DialGRPC(u Upstream) (*grpc.ClientConn, string, error) {
	p, err := url.Parse(u.URL)
	if err != nil {
		return nil, "", fmt.Errorf("url: %w", err)
	}
	var creds credentials.TransportCredentials
	port := "80"
	switch p.Scheme {
	case "grpc":
		creds = insecure.NewCredentials()
	case "grpcs":
		port = "443"
		cfg := u.TLS
		if cfg == nil {
			cfg = &tls.Config{MinVersion: tls.VersionTLS12}
		}
		creds = credentials.NewTLS(cfg)
	default:
		return nil, "", fmt.Errorf("url %q: scheme must be grpc or grpcs", u.URL)
	}
	if p.Host == "" {
		return nil, "", fmt.Errorf("url %q: no host", u.URL)
	}
	addr := p.Host
	if p.Port() == "" {
		addr = net.JoinHostPort(p.Hostname(), port)
	}
	maxBody := u.MaxResponseBody
	if maxBody <= 0 {
		maxBody = 64 << 20
	}
	// passthrough: the address is dialled as given, like the HTTP clients' (no resolver goroutine).
	cc, err := grpc.NewClient("passthrough:///"+addr,
		grpc.WithTransportCredentials(creds),
		grpc.WithDefaultCallOptions(grpc.ForceCodecV2(RawCodec{}), grpc.MaxCallRecvMsgSize(maxBody), grpc.MaxCallSendMsgSize(maxBody)),
	)
	if err != nil {
		return nil, "", fmt.Errorf("url %q: %w", u.URL, err)
	}
	return cc, addr, nil
}

// HTTPStatus maps a gRPC status code onto the HTTP status that means the same (the mapping of
// gRPC's own HTTP gateway): it is the code label of requests_total for gRPC routes, and the status
// comparisons and records see, so that 5xx alerts cover gRPC routes too.
func HTTPStatus(c codes.Code) int {
	switch c {
	case codes.OK:
		return 200
	case codes.Canceled:
		return 499
	case codes.InvalidArgument, codes.FailedPrecondition, codes.OutOfRange:
		return 400
	case codes.DeadlineExceeded:
		return 504
	case codes.NotFound:
		return 404
	case codes.AlreadyExists, codes.Aborted:
		return 409
	case codes.PermissionDenied:
		return 403
	case codes.Unauthenticated:
		return 401
	case codes.ResourceExhausted:
		return 429
	case codes.Unimplemented:
		return 501
	case codes.Unavailable:
		return 503
	}
	return 500 // Unknown, Internal, DataLoss and codes gRPC does not define
}
