package proxy

import (
	"context"
	"crypto/tls"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"net"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/valyala/fasthttp"
	"go.uber.org/zap"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/peer"
	"google.golang.org/grpc/status"
)

// GRPCOptions configure a GRPCServer. Each zero value means the default its comment names.
type GRPCOptions struct {
	// MaxRequestBody caps one client message; a larger one gets RESOURCE_EXHAUSTED. The default is
	// 16 MiB.
	MaxRequestBody int
	// MaxHeaderBytes caps a call's metadata (the HTTP/2 header list); a call with more is refused.
	// The default is 16 KiB.
	MaxHeaderBytes int
	// TLS, when set, serves gRPC over TLS. The default nil serves cleartext HTTP/2 (h2c).
	TLS *tls.Config
	// Routes are matched in order against the full method (/package.Service/Method); the first
	// match wins. Their primaries are grpc:// or grpcs:// URLs. Methods is not read: every gRPC call
	// is a POST.
	Routes []Route
	// Metrics. The default registers on a private registry.
	Metrics *Metrics
	// Logger. The default discards logs.
	Logger *zap.Logger
}

// GRPCServer is the client-facing gRPC proxy. It forwards every call to the route's primary as a
// stream of opaque messages (grpc-go with a pass-through codec: nothing is decoded), with its
// metadata, deadline, headers, trailers and status. A call that carried one message each way (a
// unary call) is then offered to the route's Mirror as an Exchange whose Request is a POST of the
// full method with the metadata as headers and the message as body, and whose Response carries the
// primary's message as body, its status in HeaderGRPCStatus and HeaderGRPCMessage, and the matching
// HTTP status (HTTPStatus). Streaming calls are proxied, never mirrored.
type GRPCServer struct {
	srv     *grpc.Server
	metrics *Metrics
	log     *zap.Logger
	ids     *idSource
	none    *codeCounters
	table   atomic.Pointer[grpcTable]
	// pumps tracks the goroutines that forward client messages; Shutdown waits for them.
	pumps sync.WaitGroup
}

// grpcRoute is a gRPC route compiled for the hot path.
type grpcRoute struct {
	name    string
	prefix  string
	host    string
	headers map[string]string
	conn    *grpc.ClientConn
	timeout time.Duration
	mirror  Mirror
	codes   *codeCounters
	latency prometheus.Observer

	// inflight counts calls using conn; a retired route closes conn when the last one ends.
	inflight  atomic.Int64
	retired   atomic.Bool
	closeOnce sync.Once
}

type grpcTable struct{ routes []*grpcRoute }

// streamDesc lets any call through: unary, client, server and bidirectional streaming all travel
// as a stream of messages each way.
var streamDesc = grpc.StreamDesc{ServerStreams: true, ClientStreams: true}

// NewGRPC builds a GRPCServer; Serve starts it.
func NewGRPC(o GRPCOptions) (*GRPCServer, error) {
	if o.Metrics == nil {
		o.Metrics = NewMetrics(prometheus.NewRegistry())
	}
	if o.Logger == nil {
		o.Logger = zap.NewNop()
	}
	s := &GRPCServer{metrics: o.Metrics, log: o.Logger, ids: newIDSource(), none: o.Metrics.codes(noRoute)}
	if err := s.SetRoutes(o.Routes); err != nil {
		return nil, err
	}
	opts := []grpc.ServerOption{
		grpc.UnknownServiceHandler(s.handle),
		grpc.ForceServerCodecV2(RawCodec{}),
		grpc.MaxRecvMsgSize(orInt(o.MaxRequestBody, 16<<20)),
		grpc.MaxHeaderListSize(uint32(orInt(o.MaxHeaderBytes, 16<<10))),
		grpc.NumStreamWorkers(uint32(runtime.GOMAXPROCS(0))),
		// Stop, past Shutdown's deadline, waits for the handlers too: none is left running (or
		// starting a pump) once Shutdown returns.
		grpc.WaitForHandlers(true),
	}
	if o.TLS != nil {
		opts = append(opts, grpc.Creds(credentials.NewTLS(o.TLS)))
	}
	s.srv = grpc.NewServer(opts...)
	return s, nil
}

// SetRoutes replaces the route table at once: new calls use the new routes, calls in flight finish
// on the old, whose primary connections close when their last call ends (no timer is left behind).
func (s *GRPCServer) SetRoutes(rs []Route) error {
	t := &grpcTable{}
	seen := make(map[string]bool, len(rs))
	for _, r := range rs {
		if seen[r.Name] {
			t.retire()
			return fmt.Errorf("duplicate route %q", r.Name)
		}
		seen[r.Name] = true
		conn, target, err := DialGRPC(r.Primary)
		if err != nil {
			t.retire()
			return fmt.Errorf("route %s: primary: %w", r.Name, err)
		}
		headers := make(map[string]string, len(r.Headers))
		for k, v := range r.Headers {
			headers[strings.ToLower(k)] = v
		}
		t.routes = append(t.routes, &grpcRoute{
			name:    r.Name,
			prefix:  r.PathPrefix,
			host:    r.Host,
			headers: headers,
			conn:    conn,
			timeout: orDuration(r.Primary.Timeout, 2*time.Second),
			mirror:  r.Mirror,
			codes:   s.metrics.codes(r.Name),
			latency: s.metrics.Upstream.WithLabelValues(r.Name, "primary", target),
		})
	}
	if old := s.table.Swap(t); old != nil {
		old.retire()
	}
	return nil
}

// retire closes each route's connection once no call uses it (acquire and release).
func (t *grpcTable) retire() {
	for _, r := range t.routes {
		r.retired.Store(true)
		if r.inflight.Load() == 0 {
			r.close()
		}
	}
}

// acquire takes a reference to the route's connection for one call; it fails when the route was
// retired meanwhile (the caller matches again on the new table). The order of the atomics makes
// sure that retire and the last release between them close the connection once no call holds it.
func (r *grpcRoute) acquire() bool {
	r.inflight.Add(1)
	if r.retired.Load() {
		r.release()
		return false
	}
	return true
}

func (r *grpcRoute) close() { r.closeOnce.Do(func() { _ = r.conn.Close() }) }

func (r *grpcRoute) release() {
	if r.inflight.Add(-1) == 0 && r.retired.Load() {
		r.close()
	}
}

// Serve serves gRPC clients on ln until Shutdown, after which it returns nil.
func (s *GRPCServer) Serve(ln net.Listener) error {
	err := s.srv.Serve(ln)
	if errors.Is(err, grpc.ErrServerStopped) {
		return nil
	}
	return err
}

// Shutdown drains: it sends every client GOAWAY (new calls go elsewhere; no call in flight fails)
// and waits for the calls in flight until ctx ends, when it cuts what is left. Then it closes the
// primaries' connections.
func (s *GRPCServer) Shutdown(ctx context.Context) error {
	done := make(chan struct{})
	go func() {
		s.srv.GracefulStop()
		close(done)
	}()
	var err error
	select {
	case <-done:
	case <-ctx.Done():
		s.srv.Stop()
		<-done
		err = fmt.Errorf("grpc shutdown: %w", ctx.Err())
	}
	s.pumps.Wait()
	for _, r := range s.table.Load().routes {
		r.close()
	}
	return err
}

// match returns the first route for a call, or nil.
func (t *grpcTable) match(method, authority string, md metadata.MD) *grpcRoute {
	for _, r := range t.routes {
		if !strings.HasPrefix(method, r.prefix) || !matchAuthority(r.host, authority) {
			continue
		}
		ok := true
		for k, v := range r.headers {
			if vs := md[k]; len(vs) == 0 || vs[0] != v {
				ok = false
				break
			}
		}
		if ok {
			return r
		}
	}
	return nil
}

func matchAuthority(host, authority string) bool {
	if host == "" {
		return true
	}
	if h, _, err := net.SplitHostPort(authority); err == nil {
		authority = h
	}
	return strings.EqualFold(strings.Trim(authority, "[]"), host)
}

// metadataRequestID is the request id's metadata key (HeaderRequestID in lower case).
var metadataRequestID = strings.ToLower(HeaderRequestID)

// handle proxies one call, of any kind.
func (s *GRPCServer) handle(_ any, ss grpc.ServerStream) error {
	method, _ := grpc.MethodFromServerStream(ss)
	ctx := ss.Context()
	in, _ := metadata.FromIncomingContext(ctx)
	authority := first(in[":authority"]) // before forwardMetadata removes it
	var r *grpcRoute
	for {
		if r = s.table.Load().match(method, authority, in); r == nil {
			s.none.inc(HTTPStatus(codes.Unimplemented))
			return status.Errorf(codes.Unimplemented, "no route for method %s", method)
		}
		if r.acquire() {
			break
		}
	}
	defer r.release()

	c := &grpcCall{s: s, r: r, method: method, authority: authority, md: forwardMetadata(in)}
	c.id = first(c.md[metadataRequestID])
	if !validRequestID([]byte(c.id)) {
		c.id = string(s.ids.appendNext(nil))
		c.md[metadataRequestID] = []string{c.id}
	}
	if p, ok := peer.FromContext(ctx); ok && p.Addr != nil {
		ip := p.Addr.String()
		if h, _, err := net.SplitHostPort(ip); err == nil {
			ip = h
		}
		if prior := strings.Join(c.md["x-forwarded-for"], ", "); prior != "" {
			ip = prior + ", " + ip
		}
		c.md["x-forwarded-for"] = []string{ip}
	}
	c.shadow = len(c.md[strings.ToLower(ShadowHeader)]) > 0
	_ = ss.SetHeader(metadata.Pairs(metadataRequestID, c.id))

	// The client's deadline (grpc-timeout) reaches the primary through the context; the route's
	// timeout bounds the whole call as well.
	callCtx, cancel := context.WithTimeout(metadata.NewOutgoingContext(ctx, c.md), r.timeout)
	defer cancel()
	c.start = time.Now()
	c.pending.Store(2)
	cs, err := r.conn.NewStream(callCtx, &streamDesc, method)
	if err != nil {
		c.pending.Store(1)
		return c.end(err)
	}
	s.pumps.Add(1)
	go c.forwardRequests(ss, cs)
	return c.end(c.forwardResponses(ss, cs))
}

// grpcCall is one call in flight. The request side (forwardRequests, in its own goroutine) and the
// response side (the handler) each own their fields until they finish; whichever finishes last
// (pending) offers the exchange to the mirror.
type grpcCall struct {
	s         *GRPCServer
	r         *grpcRoute
	method    string
	authority string
	id        string
	md        metadata.MD
	shadow    bool
	start     time.Time
	pending   atomic.Int32

	// The request side.
	reqN   int
	reqEOF bool
	req    []byte

	// The response side.
	respN   int
	resp    []byte
	st      *status.Status
	latency time.Duration
}

// forwardRequests sends the client's messages to the primary until the client half-closes.
func (c *grpcCall) forwardRequests(ss grpc.ServerStream, cs grpc.ClientStream) {
	defer c.s.pumps.Done()
	defer c.finish()
	for {
		var msg []byte
		if err := ss.RecvMsg(&msg); err != nil {
			if errors.Is(err, io.EOF) {
				c.reqEOF = true
				_ = cs.CloseSend()
			}
			// Otherwise the client is gone: the call's context, derived from the client's, ends
			// the primary's stream.
			return
		}
		c.reqN++
		if c.reqN == 1 {
			c.req = msg
		}
		if err := cs.SendMsg(&msg); err != nil {
			return // the primary ended the call: its status comes through RecvMsg
		}
	}
}

// forwardResponses relays the primary's headers, messages, trailers and status to the client.
func (c *grpcCall) forwardResponses(ss grpc.ServerStream, cs grpc.ClientStream) error {
	for {
		var msg []byte
		err := cs.RecvMsg(&msg)
		if c.respN == 0 {
			if h, herr := cs.Header(); herr == nil && len(h) > 0 {
				delete(h, metadataRequestID)
				_ = ss.SetHeader(h)
			}
		}
		if err != nil {
			ss.SetTrailer(cs.Trailer())
			if errors.Is(err, io.EOF) {
				return nil
			}
			return err
		}
		c.respN++
		if c.respN == 1 {
			c.resp = msg
		}
		if err := ss.SendMsg(&msg); err != nil {
			return err // the client is gone
		}
	}
}

// end counts the call's outcome and returns what the client gets: the primary's status unchanged,
// UNAVAILABLE when it could not be reached, DEADLINE_EXCEEDED past the deadline.
func (c *grpcCall) end(err error) error {
	c.latency = time.Since(c.start)
	c.r.latency.Observe(c.latency.Seconds())
	c.st = status.Convert(err)
	if errors.Is(err, context.DeadlineExceeded) {
		c.st = status.New(codes.DeadlineExceeded, "the primary did not answer in time")
	}
	c.r.codes.inc(HTTPStatus(c.st.Code()))
	if c.st.Code() != codes.OK {
		c.s.log.Debug("grpc call failed", zap.String("route", c.r.name), zap.String("method", c.method), zap.Stringer("code", c.st.Code()))
	}
	c.finish()
	return c.st.Err()
}

// finish marks one side done; the last offers the exchange.
func (c *grpcCall) finish() {
	if c.pending.Add(-1) == 0 {
		c.offer()
	}
}

// offer hands a unary exchange to the mirror.
func (c *grpcCall) offer() {
	r := c.r
	if r.mirror == nil || c.shadow || c.reqN != 1 || !c.reqEOF || c.respN > 1 {
		return // the mirror sees a message too large for it, and counts it (body_too_large)
	}
	req, resp := fasthttp.AcquireRequest(), fasthttp.AcquireResponse()
	defer fasthttp.ReleaseRequest(req)
	defer fasthttp.ReleaseResponse(resp)
	req.Header.SetMethod(fasthttp.MethodPost)
	req.SetRequestURI(c.method)
	req.Header.SetHost(c.authority)
	req.Header.SetContentType("application/grpc")
	for k, vs := range c.md {
		for _, v := range vs {
			if strings.HasSuffix(k, "-bin") {
				v = base64.RawStdEncoding.EncodeToString([]byte(v))
			}
			req.Header.Add(k, v)
		}
	}
	req.SetBodyRaw(c.req)
	resp.SetStatusCode(HTTPStatus(c.st.Code()))
	resp.Header.SetContentType("application/grpc")
	resp.Header.Set(HeaderGRPCStatus, strconv.Itoa(int(c.st.Code())))
	if m := c.st.Message(); m != "" {
		resp.Header.Set(HeaderGRPCMessage, m)
	}
	resp.SetBodyRaw(c.resp)
	r.mirror.Offer(&Exchange{Route: r.name, RequestID: []byte(c.id), Request: req, Response: resp, Start: c.start, Latency: c.latency})
}

// forwardMetadata removes from the client's metadata (a copy: metadata.FromIncomingContext makes
// one) the pseudo-headers and what gRPC sets itself on the next hop.
func forwardMetadata(md metadata.MD) metadata.MD {
	if md == nil {
		return metadata.MD{}
	}
	for k := range md {
		if k == "" || k[0] == ':' {
			delete(md, k)
			continue
		}
		switch k {
		case "content-type", "user-agent", "te", "grpc-timeout", "grpc-encoding", "grpc-accept-encoding", "connection":
			delete(md, k)
		}
	}
	return md
}

func first(v []string) string {
	if len(v) == 0 {
		return ""
	}
	return v[0]
}
