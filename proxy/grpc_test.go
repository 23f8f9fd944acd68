package proxy

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/connectivity"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/encoding/gzip"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	"github.com/shadowproxy/shadowproxy/proxy/proxytest"
)

// mirrored is what a recording Mirror kept of one exchange.
type mirrored struct {
	path, xcustom, requestID, grpcStatus string
	status                               int
	req, resp                            []byte
}

type recordingMirror struct {
	mu sync.Mutex
	ex []mirrored
}

func (m *recordingMirror) Offer(ex *Exchange) bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.ex = append(m.ex, mirrored{
		path:       string(ex.Request.URI().Path()),
		xcustom:    string(ex.Request.Header.Peek("x-custom")),
		requestID:  string(ex.RequestID),
		grpcStatus: string(ex.Response.Header.Peek(HeaderGRPCStatus)),
		status:     ex.Response.StatusCode(),
		req:        append([]byte(nil), ex.Request.Body()...),
		resp:       append([]byte(nil), ex.Response.Body()...),
	})
	return true
}

func (m *recordingMirror) all() []mirrored {
	m.mu.Lock()
	defer m.mu.Unlock()
	return append([]mirrored(nil), m.ex...)
}

// atLeast returns the exchanges offered once there are n (the last side of a call to finish offers
// it, which may be after the client has its answer), or after 20s those offered by then.
func (m *recordingMirror) atLeast(n int) []mirrored {
	for end := time.Now().Add(20 * time.Second); time.Now().Before(end); time.Sleep(time.Millisecond) {
		if ex := m.all(); len(ex) >= n {
			return ex
		}
	}
	return m.all()
}

// grpcHarness is a GRPCServer on a loopback port and a client connection to it.
type grpcHarness struct {
	srv  *GRPCServer
	conn *grpc.ClientConn
	reg  *prometheus.Registry
}

func newGRPCHarness(t *testing.T, o GRPCOptions) *grpcHarness {
	t.Helper()
	h := &grpcHarness{reg: prometheus.NewRegistry()}
	o.Metrics = NewMetrics(h.reg)
	srv, err := NewGRPC(o)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { defer close(done); _ = srv.Serve(ln) }()
	conn, err := grpc.NewClient("passthrough:///"+ln.Addr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithDefaultCallOptions(grpc.ForceCodec(proxytest.Bytes{})))
	if err != nil {
		t.Fatal(err)
	}
	h.srv, h.conn = srv, conn
	t.Cleanup(func() {
		_ = conn.Close()
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = srv.Shutdown(ctx)
		<-done
	})
	return h
}

func (h *grpcHarness) invoke(ctx context.Context, method string, req []byte, opts ...grpc.CallOption) ([]byte, error) {
	var resp []byte
	err := h.conn.Invoke(ctx, method, &req, &resp, opts...)
	return resp, err
}

const inferMethod = "/inference.GRPCInferenceService/ModelInfer"

func TestGRPCUnaryProxied(t *testing.T) {
	type seen struct {
		custom, requestID, xff string
		deadline               bool
	}
	got := make(chan seen, 1)
	primary := proxytest.ServeGRPC(t, func(ctx context.Context, method string, md metadata.MD, req []byte) ([]byte, error) {
		_, dl := ctx.Deadline()
		got <- seen{first(md["x-custom"]), first(md["x-request-id"]), first(md["x-forwarded-for"]), dl}
		_ = grpc.SetHeader(ctx, metadata.Pairs("x-model", "iris-1"))
		_ = grpc.SetTrailer(ctx, metadata.Pairs("x-served-by", "primary"))
		return append([]byte("answer:"), req...), nil
	})
	m := &recordingMirror{}
	h := newGRPCHarness(t, GRPCOptions{Routes: []Route{{Name: "infer", PathPrefix: "/inference.", Primary: Upstream{URL: primary}, Mirror: m}}})

	ctx := metadata.AppendToOutgoingContext(context.Background(), "x-custom", "v1", "x-request-id", "req-1")
	var hdr, trl metadata.MD
	resp, err := h.invoke(ctx, inferMethod, []byte("\x0a\x04iris"), grpc.Header(&hdr), grpc.Trailer(&trl))
	if err != nil {
		t.Fatal(err)
	}
	if want := "answer:\x0a\x04iris"; string(resp) != want {
		t.Errorf("response %q, want %q", resp, want)
	}
	s := <-got
	if s.custom != "v1" || s.requestID != "req-1" || s.xff != "127.0.0.1" || !s.deadline {
		t.Errorf("the primary saw %+v; want the client's metadata, its request id, X-Forwarded-For 127.0.0.1 and a deadline", s)
	}
	if first(hdr["x-model"]) != "iris-1" || first(hdr["x-request-id"]) != "req-1" || first(trl["x-served-by"]) != "primary" {
		t.Errorf("headers %v trailers %v: want the primary's header and trailer and the request id", hdr, trl)
	}
	ex := m.atLeast(1)
	if len(ex) != 1 {
		t.Fatalf("%d exchanges mirrored, want 1", len(ex))
	}
	want := mirrored{path: inferMethod, xcustom: "v1", requestID: "req-1", grpcStatus: "0", status: 200, req: []byte("\x0a\x04iris"), resp: resp}
	if e := ex[0]; e.path != want.path || e.xcustom != want.xcustom || e.requestID != want.requestID || e.grpcStatus != want.grpcStatus ||
		e.status != want.status || !bytes.Equal(e.req, want.req) || !bytes.Equal(e.resp, want.resp) {
		t.Errorf("mirrored %+v\nwant     %+v", e, want)
	}
	if n := testutil.ToFloat64(h.srv.metrics.requests.WithLabelValues("infer", "200")); n != 1 {
		t.Errorf("requests_total{route=infer,code=200} = %v, want 1", n)
	}

	// A gzip-compressed call is accepted; the primary and the mirror get the message itself.
	if resp, err := h.invoke(context.Background(), inferMethod, []byte("zipped"), grpc.UseCompressor(gzip.Name)); err != nil || string(resp) != "answer:zipped" {
		t.Errorf("a gzip-compressed call: %q %v, want answer:zipped", resp, err)
	}
	<-got
	if ex := m.atLeast(2); len(ex) != 2 || string(ex[1].req) != "zipped" {
		t.Errorf("the mirror got %+v, want the compressed call's message uncompressed", ex)
	}

	// A shadow (marked) call is proxied, not mirrored again.
	sctx := metadata.AppendToOutgoingContext(context.Background(), ShadowHeader, "1")
	if _, err := h.invoke(sctx, inferMethod, []byte("x")); err != nil {
		t.Fatal(err)
	}
	<-got
	if n := len(m.all()); n != 2 {
		t.Errorf("%d exchanges mirrored after a shadow call, want still 2", n)
	}
}

func TestGRPCErrors(t *testing.T) {
	primary := proxytest.ServeGRPC(t, func(ctx context.Context, method string, md metadata.MD, req []byte) ([]byte, error) {
		switch {
		case strings.HasSuffix(method, "/Missing"):
			_ = grpc.SetTrailer(ctx, metadata.Pairs("x-why", "unknown model"))
			return nil, status.Error(codes.NotFound, "model iris-9 is not loaded")
		case strings.HasSuffix(method, "/Slow"):
			<-ctx.Done()
			return nil, ctx.Err()
		}
		return req, nil
	})
	dead, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	deadURL := "grpc://" + dead.Addr().String()
	dead.Close()
	m := &recordingMirror{}
	h := newGRPCHarness(t, GRPCOptions{
		MaxRequestBody: 1 << 10,
		Routes: []Route{
			{Name: "dead", PathPrefix: "/dead.", Primary: Upstream{URL: deadURL}},
			{Name: "svc", PathPrefix: "/svc.", Primary: Upstream{URL: primary, Timeout: 5 * time.Second}, Mirror: m},
		},
	})
	ctx := context.Background()

	var trl metadata.MD
	_, err = h.invoke(ctx, "/svc.S/Missing", []byte("x"), grpc.Trailer(&trl))
	if st := status.Convert(err); st.Code() != codes.NotFound || st.Message() != "model iris-9 is not loaded" || first(trl["x-why"]) != "unknown model" {
		t.Errorf("got %v trailers %v; want the primary's NotFound, message and trailer unchanged", err, trl)
	}
	if ex := m.atLeast(1); len(ex) != 1 || ex[0].grpcStatus != "5" || ex[0].status != 404 {
		t.Errorf("mirrored %+v; want the error exchange with grpc-status 5 and HTTP status 404", ex)
	}

	if _, err := h.invoke(ctx, "/dead.S/M", []byte("x")); status.Code(err) != codes.Unavailable {
		t.Errorf("unreachable primary: %v, want Unavailable", err)
	}

	dctx, cancel := context.WithTimeout(ctx, 200*time.Millisecond)
	defer cancel()
	start := time.Now()
	if _, err := h.invoke(dctx, "/svc.S/Slow", []byte("x")); status.Code(err) != codes.DeadlineExceeded {
		t.Errorf("past the client's deadline: %v, want DeadlineExceeded", err)
	}
	if d := time.Since(start); d > 3*time.Second {
		t.Errorf("the deadline of 200ms took %v: it did not reach the primary's call", d)
	}

	if _, err := h.invoke(ctx, "/other.S/M", []byte("x")); status.Code(err) != codes.Unimplemented {
		t.Errorf("no route: %v, want Unimplemented", err)
	}

	bigMD := metadata.AppendToOutgoingContext(ctx, "x-big", strings.Repeat("m", 32<<10))
	if _, err := h.invoke(bigMD, "/svc.S/Echo", []byte("x")); status.Code(err) == codes.OK {
		t.Errorf("32 KiB of metadata past the 16 KiB default: %v, want the call refused", err)
	}

	big := bytes.Repeat([]byte("a"), 2<<10)
	if _, err := h.invoke(ctx, "/svc.S/Echo", big); status.Code(err) != codes.ResourceExhausted {
		t.Errorf("a 2 KiB message past max_request_body 1 KiB: %v, want ResourceExhausted", err)
	}
}

func TestGRPCRouteTimeout(t *testing.T) {
	primary := proxytest.ServeGRPC(t, func(ctx context.Context, _ string, _ metadata.MD, req []byte) ([]byte, error) {
		<-ctx.Done()
		return nil, ctx.Err()
	})
	h := newGRPCHarness(t, GRPCOptions{Routes: []Route{{Name: "svc", Primary: Upstream{URL: primary, Timeout: 100 * time.Millisecond}}}})
	if _, err := h.invoke(context.Background(), "/svc.S/M", []byte("x")); status.Code(err) != codes.DeadlineExceeded {
		t.Errorf("past the primary's timeout: %v, want DeadlineExceeded", err)
	}
	if n := testutil.ToFloat64(h.srv.metrics.requests.WithLabelValues("svc", "504")); n != 1 {
		t.Errorf("requests_total{code=504} = %v, want 1", n)
	}
}

// TestGRPCStreaming: a bidirectional stream is proxied message by message and not mirrored.
func TestGRPCStreaming(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	backend := grpc.NewServer(grpc.ForceServerCodec(proxytest.Bytes{}), grpc.UnknownServiceHandler(func(_ any, ss grpc.ServerStream) error {
		for {
			var msg []byte
			if err := ss.RecvMsg(&msg); err != nil {
				if errors.Is(err, io.EOF) {
					return nil
				}
				return err
			}
			msg = append([]byte("echo:"), msg...)
			if err := ss.SendMsg(&msg); err != nil {
				return err
			}
		}
	}))
	done := make(chan struct{})
	go func() { defer close(done); _ = backend.Serve(ln) }()
	defer func() { backend.Stop(); <-done }()

	m := &recordingMirror{}
	h := newGRPCHarness(t, GRPCOptions{Routes: []Route{{Name: "chat", Primary: Upstream{URL: "grpc://" + ln.Addr().String()}, Mirror: m}}})
	cs, err := h.conn.NewStream(context.Background(), &grpc.StreamDesc{ServerStreams: true, ClientStreams: true}, "/chat.S/Talk")
	if err != nil {
		t.Fatal(err)
	}
	for i, w := range []string{"a", "b", "c"} {
		msg := []byte(w)
		if err := cs.SendMsg(&msg); err != nil {
			t.Fatal(err)
		}
		var got []byte
		if err := cs.RecvMsg(&got); err != nil || string(got) != "echo:"+w {
			t.Fatalf("message %d: %q %v, want echo:%s (each answer before the next message is sent)", i, got, err, w)
		}
	}
	_ = cs.CloseSend()
	var end []byte
	if err := cs.RecvMsg(&end); !errors.Is(err, io.EOF) {
		t.Fatalf("end of stream: %v, want io.EOF", err)
	}
	h.srv.pumps.Wait() // the request side has finished: whatever would be mirrored, was
	if n := len(m.all()); n != 0 {
		t.Errorf("%d streaming exchanges mirrored, want 0", n)
	}
}

// TestGRPCGracefulShutdown: a call in flight when Shutdown starts completes; the server then stops.
func TestGRPCGracefulShutdown(t *testing.T) {
	release := make(chan struct{})
	entered := make(chan struct{}, 1)
	primary := proxytest.ServeGRPC(t, func(ctx context.Context, _ string, _ metadata.MD, req []byte) ([]byte, error) {
		entered <- struct{}{}
		<-release
		return req, nil
	})
	reg := prometheus.NewRegistry()
	srv, err := NewGRPC(GRPCOptions{Metrics: NewMetrics(reg), Routes: []Route{{Name: "svc", Primary: Upstream{URL: primary, Timeout: 10 * time.Second}}}})
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	conn, err := grpc.NewClient("passthrough:///"+ln.Addr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithDefaultCallOptions(grpc.ForceCodec(proxytest.Bytes{})))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	result := make(chan error, 1)
	go func() {
		req, resp := []byte("in flight"), []byte(nil)
		result <- conn.Invoke(context.Background(), "/svc.S/M", &req, &resp)
	}()
	<-entered
	shut := make(chan error, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		shut <- srv.Shutdown(ctx)
	}()
	time.Sleep(100 * time.Millisecond) // GOAWAY on its way; the call still waits on the primary
	close(release)
	if err := <-result; err != nil {
		t.Errorf("the call in flight during the drain failed: %v", err)
	}
	if err := <-shut; err != nil {
		t.Errorf("Shutdown: %v", err)
	}
	if err := <-served; err != nil {
		t.Errorf("Serve after Shutdown: %v, want nil", err)
	}
}

// TestGRPCSetRoutes: a call in flight when the routes are replaced finishes on the old primary's
// connection, which closes once that call has ended; new calls go to the new primary.
func TestGRPCSetRoutes(t *testing.T) {
	release := make(chan struct{})
	entered := make(chan struct{}, 1)
	old := proxytest.ServeGRPC(t, func(ctx context.Context, _ string, _ metadata.MD, req []byte) ([]byte, error) {
		entered <- struct{}{}
		<-release
		return []byte("old"), nil
	})
	next := proxytest.ServeGRPC(t, func(context.Context, string, metadata.MD, []byte) ([]byte, error) { return []byte("new"), nil })
	h := newGRPCHarness(t, GRPCOptions{Routes: []Route{{Name: "svc", Primary: Upstream{URL: old, Timeout: 10 * time.Second}}}})
	oldRoute := h.srv.table.Load().routes[0]
	result := make(chan string, 1)
	go func() {
		resp, err := h.invoke(context.Background(), "/svc.S/M", []byte("x"))
		result <- fmt.Sprint(string(resp), " ", err)
	}()
	<-entered
	if err := h.srv.SetRoutes([]Route{{Name: "svc", Primary: Upstream{URL: next}}}); err != nil {
		t.Fatal(err)
	}
	if resp, err := h.invoke(context.Background(), "/svc.S/M", []byte("x")); err != nil || string(resp) != "new" {
		t.Errorf("a call after SetRoutes: %q %v, want the new primary's answer", resp, err)
	}
	if st := oldRoute.conn.GetState(); st == connectivity.Shutdown {
		t.Errorf("the old primary's connection closed with a call in flight")
	}
	close(release)
	if got := <-result; got != "old <nil>" {
		t.Errorf("the call in flight: %s, want the old primary's answer", got)
	}
	waitState := time.Now().Add(5 * time.Second)
	for oldRoute.conn.GetState() != connectivity.Shutdown && time.Now().Before(waitState) {
		time.Sleep(10 * time.Millisecond)
	}
	if st := oldRoute.conn.GetState(); st != connectivity.Shutdown {
		t.Errorf("the old primary's connection is %v after its last call, want closed", st)
	}
}

// TestGRPCShutdownDeadline: a call still running when Shutdown's context ends is cut (the client
// gets an error), Shutdown reports the deadline, and nothing of the call is left running (goleak).
func TestGRPCShutdownDeadline(t *testing.T) {
	entered := make(chan struct{}, 1)
	primary := proxytest.ServeGRPC(t, func(ctx context.Context, _ string, _ metadata.MD, _ []byte) ([]byte, error) {
		entered <- struct{}{}
		<-ctx.Done()
		return nil, ctx.Err()
	})
	srv, err := NewGRPC(GRPCOptions{Metrics: NewMetrics(prometheus.NewRegistry()), Routes: []Route{{Name: "svc", Primary: Upstream{URL: primary, Timeout: time.Minute}}}})
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	conn, err := grpc.NewClient("passthrough:///"+ln.Addr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithDefaultCallOptions(grpc.ForceCodec(proxytest.Bytes{})))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	result := make(chan error, 1)
	go func() {
		req, resp := []byte("stuck"), []byte(nil)
		result <- conn.Invoke(context.Background(), "/svc.S/M", &req, &resp)
	}()
	<-entered
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	if err := srv.Shutdown(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Shutdown past its deadline: %v, want context.DeadlineExceeded", err)
	}
	if err := <-result; err == nil {
		t.Error("the call cut by the shutdown succeeded")
	}
	if err := <-served; err != nil {
		t.Errorf("Serve: %v, want nil", err)
	}
}
