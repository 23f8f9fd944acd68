package proxy

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/valyala/fasthttp"
	"go.uber.org/zap"
)

// Options configure a Server. Each zero value means the default its comment names.
type Options struct {
	// MaxRequestBody caps a client's body; a larger one gets 413. The default is 16 MiB.
	MaxRequestBody int
	// MaxHeaderBytes caps the request line and headers; larger ones get 431. The default is 16 KiB.
	MaxHeaderBytes int
	// ReadTimeout bounds reading a whole request, so slow clients (slowloris) are cut off. The
	// default is 30s.
	ReadTimeout time.Duration
	// WriteTimeout bounds writing a response. The default is 30s.
	WriteTimeout time.Duration
	// IdleTimeout closes keep-alive connections idle this long. The default is 90s.
	IdleTimeout time.Duration
	// Concurrency caps the connections served at once. The default is fasthttp's, 256 * 1024.
	Concurrency int
	// Routes are matched in order; the first match wins.
	Routes []Route
	// Metrics. The default registers on a private registry.
	Metrics *Metrics
	// Logger. The default discards logs.
	Logger *zap.Logger
}

func (o *Options) maxRequestBody() int { return orInt(o.MaxRequestBody, 16<<20) }
func (o *Options) maxHeaderBytes() int { return orInt(o.MaxHeaderBytes, 16<<10) }

func (o *Options) readTimeout() time.Duration  { return orDuration(o.ReadTimeout, 30*time.Second) }
func (o *Options) writeTimeout() time.Duration { return orDuration(o.WriteTimeout, 30*time.Second) }
func (o *Options) idleTimeout() time.Duration  { return orDuration(o.IdleTimeout, 90*time.Second) }

// WithDefaults returns o with the default of each zero limit and timeout filled in: the values a
// Server built from o uses.
func (o Options) WithDefaults() Options {
	o.MaxRequestBody, o.MaxHeaderBytes = o.maxRequestBody(), o.maxHeaderBytes()
	o.ReadTimeout, o.WriteTimeout, o.IdleTimeout = o.readTimeout(), o.writeTimeout(), o.idleTimeout()
	return o
}

// Server is the client-facing proxy.
type Server struct {
	srv      *fasthttp.Server
	lnMu     sync.Mutex
	ln       net.Listener
	metrics  *Metrics
	log      *zap.Logger
	ids      *idSource
	table    atomic.Pointer[table]
	draining atomic.Bool
	none     *codeCounters
	scratch  sync.Pool
	exchange sync.Pool

	// conns counts open client connections; gone is closed once none is left while draining.
	conns    atomic.Int64
	gone     chan struct{}
	goneOnce sync.Once

	// retiring holds the tables replaced by SetRoutes whose clients still keep idle connections;
	// each has a timer, and retired counts the timers that have not finished.
	retireMu sync.Mutex
	retiring map[*retiredTable]struct{}
	stopped  bool // Shutdown has retired every table: a later SetRoutes closes the old one at once
	retired  sync.WaitGroup
}

// retiredTable is a table replaced by SetRoutes, with the timer that closes its idle connections.
type retiredTable struct {
	t     *table
	timer *time.Timer
}

// retireGrace is how long the clients of replaced primaries keep their idle connections: requests
// routed just before the swap still use them.
const retireGrace = time.Minute

// New builds a Server; Serve starts it.
func New(o Options) (*Server, error) {
	if o.Metrics == nil {
		o.Metrics = NewMetrics(prometheus.NewRegistry())
	}
	if o.Logger == nil {
		o.Logger = zap.NewNop()
	}
	s := &Server{
		metrics:  o.Metrics,
		log:      o.Logger,
		ids:      newIDSource(),
		none:     o.Metrics.codes(noRoute),
		scratch:  sync.Pool{New: func() any { return &scratch{buf: make([]byte, 0, 256)} }},
		exchange: sync.Pool{New: func() any { return new(Exchange) }},
		gone:     make(chan struct{}),
		retiring: make(map[*retiredTable]struct{}),
	}
	if err := s.SetRoutes(o.Routes); err != nil {
		return nil, err
	}
	s.srv = &fasthttp.Server{
		Handler:      s.handle,
		ErrorHandler: s.requestError,
		// No Name: fasthttp would send it as the Server header of every answer whose primary
		// sends none, and the client gets the primary's headers, not the proxy's.
		NoDefaultServerHeader: true,
		NoDefaultContentType:  true,
		CloseOnShutdown:       true,
		ReadTimeout:           o.readTimeout(),
		WriteTimeout:          o.writeTimeout(),
		IdleTimeout:           o.idleTimeout(),
		MaxRequestBodySize:    o.maxRequestBody(),
		ReadBufferSize:        o.maxHeaderBytes(),
		Concurrency:           o.Concurrency,
		ConnState:             s.connState,
		Logger:                zapPrintf{o.Logger},
	}
	return s, nil
}

// SetRoutes replaces the route table at once: new requests use the new routes, requests in flight
// finish on the old. Clients of replaced primaries close their idle connections after a grace period
// (a minute), or at Shutdown if it comes first.
func (s *Server) SetRoutes(rs []Route) error {
	t, err := s.compile(rs)
	if err != nil {
		return err
	}
	if old := s.table.Swap(t); old != nil {
		s.retire(old)
	}
	return nil
}

// retire closes the idle connections of old's clients after retireGrace, or at Shutdown.
func (s *Server) retire(old *table) {
	s.retireMu.Lock()
	defer s.retireMu.Unlock()
	if s.stopped {
		old.closeIdle()
		return
	}
	rt := &retiredTable{t: old}
	s.retired.Add(1)
	rt.timer = time.AfterFunc(retireGrace, func() {
		defer s.retired.Done()
		s.retireMu.Lock()
		delete(s.retiring, rt)
		s.retireMu.Unlock()
		old.closeIdle()
	})
	s.retiring[rt] = struct{}{}
}

// retireAll closes the idle connections of every replaced table now, and of those replaced later at
// once, and waits for timers that already fired.
func (s *Server) retireAll() {
	s.retireMu.Lock()
	s.stopped = true
	for rt := range s.retiring {
		if rt.timer.Stop() {
			delete(s.retiring, rt)
			rt.t.closeIdle()
			s.retired.Done()
		}
	}
	s.retireMu.Unlock()
	s.retired.Wait()
}

// connState counts client connections, so that Shutdown learns when the last one has gone.
func (s *Server) connState(_ net.Conn, state fasthttp.ConnState) {
	switch state {
	case fasthttp.StateNew:
		s.conns.Add(1)
	case fasthttp.StateClosed, fasthttp.StateHijacked:
		if s.conns.Add(-1) == 0 && s.draining.Load() {
			s.goneOnce.Do(func() { close(s.gone) })
		}
	}
}

// Serve serves clients on ln until Shutdown, after which it returns nil.
func (s *Server) Serve(ln net.Listener) error {
	s.lnMu.Lock()
	s.ln = ln
	s.lnMu.Unlock()
	// Plain TCP connections get lazily extended deadlines (deadline.go): the same timeouts, a
	// fraction of the timer updates.
	err := s.srv.Serve(deadlineListener{ln})
	if s.draining.Load() && errors.Is(err, net.ErrClosed) {
		return nil
	}
	return err
}

// drainGrace bounds how long Shutdown lets keep-alive clients leave on their own.
const drainGrace = 2 * time.Second

// Shutdown drains without racing keep-alive clients: it closes the listener (new connections are
// refused), answers every request on the open connections with Connection: close so their clients
// move away after their current exchange, waits for them to go (at most drainGrace, or half the time
// ctx leaves), then closes what is left (connections idle all that while) and waits for requests in
// flight until ctx ends.
func (s *Server) Shutdown(ctx context.Context) error {
	s.draining.Store(true)
	s.lnMu.Lock()
	if s.ln != nil {
		_ = s.ln.Close()
	}
	s.lnMu.Unlock()
	grace := drainGrace
	if d, ok := ctx.Deadline(); ok {
		grace = min(grace, time.Until(d)/2)
	}
	if s.conns.Load() == 0 {
		s.goneOnce.Do(func() { close(s.gone) })
	}
	wait := time.NewTimer(grace)
	select {
	case <-s.gone:
	case <-wait.C:
	case <-ctx.Done():
	}
	wait.Stop()
	err := s.srv.ShutdownWithContext(ctx)
	if ctx.Err() == nil {
		err = nil // the only other error is closing the listener a second time
	}
	s.table.Load().closeIdle()
	s.retireAll()
	if err != nil {
		return fmt.Errorf("shutdown: %w", err)
	}
	return nil
}

// scratch is the per-request memory of handle, pooled.
type scratch struct {
	buf []byte
	// id holds the request id: a copy, since a header edit (a hop-by-hop removal that Connection
	// names, a header set after a delete) reuses the memory a Peek'ed value points into.
	id [maxRequestID]byte
}

// handle proxies one request.
func (s *Server) handle(ctx *fasthttp.RequestCtx) {
	req, resp := &ctx.Request, &ctx.Response
	sc := s.scratch.Get().(*scratch)
	defer s.scratch.Put(sc)
	buf := sc.buf[:0]

	// Trailer fields are never headers: not to the primary, not as the request id.
	dropTrailers(&req.Header)
	hs := scanRequest(&req.Header)
	var id []byte
	if validRequestID(hs.id) {
		id = append(sc.id[:0], hs.id...)
	} else {
		id = s.ids.appendNext(sc.id[:0])
	}

	// The route is chosen on what is forwarded: the path as the client wrote it (fasthttp's
	// normalised Path would resolve "..%2f" that the primary gets raw) and the host the
	// primary gets (an absolute-form target's, which RFC 9112 puts before the Host header).
	host := req.URI().Host()
	if len(host) == 0 {
		// HTTP/1.0 allows a request without Host; there is no host to forward it to.
		s.reject(ctx, fasthttp.StatusBadRequest, "missing Host header", id)
		return
	}
	path := req.URI().PathOriginal()
	if len(path) == 0 {
		path = slash
	}
	if ambiguousPath(path) {
		s.reject(ctx, fasthttp.StatusBadRequest, "ambiguous path: dot-segments, encoded slashes and backslashes are refused", id)
		return
	}
	r, methodOnly := s.table.Load().match(req, path, host)
	if r == nil {
		status, msg := fasthttp.StatusNotFound, "no route for path "+string(path)
		if methodOnly {
			status, msg = fasthttp.StatusMethodNotAllowed, "method "+string(req.Header.Method())+" not allowed on path "+string(path)
		}
		s.reject(ctx, status, msg, id)
		return
	}

	clientClose := req.Header.ConnectionClose()
	sc.buf = forwardHeaders(ctx, &hs, id, buf)

	req.URI().SetSchemeBytes(r.scheme)
	start := time.Now()
	var stream *primaryStream
	var err error
	if r.stream {
		stream, err = r.doStream(req, resp)
	} else {
		err = r.client.DoTimeout(req, resp, r.timeout)
	}
	latency := time.Since(start)
	r.latency.Observe(latency.Seconds())
	if err != nil {
		status := statusError(err)
		writeError(ctx, status, primaryErrorMessage(status), id)
		r.codes.inc(status)
		s.log.Debug("primary failed", zap.String("route", r.name), zap.Int("status", status), zap.String("error", LogSafe(err)))
		s.finish(ctx)
		if clientClose {
			ctx.SetConnectionClose()
		}
		return
	}
	hops, hasID := responseHops(&resp.Header)
	sc.buf = removeHop(&resp.Header, hops, sc.buf)
	if hasID {
		resp.Header.SetBytesV(HeaderRequestID, id)
	} else {
		resp.Header.AddBytesV(HeaderRequestID, id) // none to replace: no lookup for one
	}
	r.codes.inc(resp.StatusCode())

	if stream != nil {
		// The server's write timeout bounds writing an ordinary answer; a stream lasts as long as
		// the primary's timeout lets it, and then gets the same time to reach the client.
		_ = ctx.SetWriteDeadline(start.Add(r.timeout + s.srv.WriteTimeout))
		stream.offerWhenDone(ctx, r, start)
	} else if r.mirror != nil && !hs.shadow {
		ex := s.exchange.Get().(*Exchange)
		*ex = Exchange{Route: r.name, RequestID: id, Request: req, Response: resp, Start: start, Latency: latency}
		r.mirror.Offer(ex)
		*ex = Exchange{}
		s.exchange.Put(ex)
	}
	if clientClose {
		ctx.SetConnectionClose()
	}
	s.finish(ctx)
}

// forwardHeaders edits the request's headers for the primary, whose scan is hs: it removes the
// hop-by-hop headers, sets X-Forwarded-For (appending the client's address), X-Forwarded-Proto and
// X-Forwarded-Host (when the client sent none) and, last, X-Request-Id to id. buf is scratch space;
// the grown buffer is returned for reuse. hs is updated to what is left once the hop-by-hop headers
// are gone. A header the scan did not find is added rather than set: setting would look for it.
func forwardHeaders(ctx *fasthttp.RequestCtx, hs *requestScan, id, buf []byte) []byte {
	h := &ctx.Request.Header
	if hs.hops != 0 {
		buf = removeHop(h, hs.hops, buf)
		if hs.hops&connectionBit != 0 {
			// The tokens of Connection may have named any header: look again at what is left.
			*hs = scanRequest(h)
		}
	}
	buf = append(buf[:0], hs.xff...)
	if len(buf) > 0 {
		buf = append(buf, ", "...)
	}
	buf = appendClientIP(buf, ctx)
	setOrAdd(h, hs.hasXFF, "X-Forwarded-For", buf)
	if len(hs.xfp) == 0 {
		proto := "http"
		if ctx.IsTLS() {
			proto = "https"
		}
		setOrAdd(h, hs.hasXFP, "X-Forwarded-Proto", s2b(proto))
	}
	if len(hs.xfh) == 0 {
		setOrAdd(h, hs.hasXFH, "X-Forwarded-Host", ctx.Request.URI().Host())
	}
	// Set after every other edit of the request's headers, from the copy.
	setOrAdd(h, hs.hasID, HeaderRequestID, id)
	return buf
}

// setOrAdd sets the header when present is true, and otherwise adds it without looking for it.
func setOrAdd(h *fasthttp.RequestHeader, present bool, key string, value []byte) {
	if present {
		h.SetBytesV(key, value)
	} else {
		h.AddBytesV(key, value)
	}
}

// closeIdle closes the idle connections of the table's primary clients.
func (t *table) closeIdle() {
	for _, r := range t.routes {
		r.client.CloseIdleConnections()
	}
}

// reject answers a request the proxy does not forward, counted under no route.
func (s *Server) reject(ctx *fasthttp.RequestCtx, status int, msg string, id []byte) {
	writeError(ctx, status, msg, id)
	s.none.inc(status)
	s.finish(ctx)
}

var slash = []byte("/")

// finish asks keep-alive clients to move away while the server drains.
func (s *Server) finish(ctx *fasthttp.RequestCtx) {
	if s.draining.Load() {
		ctx.SetConnectionClose()
	}
}

func primaryErrorMessage(status int) string {
	switch status {
	case fasthttp.StatusGatewayTimeout:
		return "the primary did not answer in time"
	case fasthttp.StatusServiceUnavailable:
		return "no free connection to the primary"
	}
	return "the primary could not be reached"
}

// requestError answers requests fasthttp could not read.
func (s *Server) requestError(ctx *fasthttp.RequestCtx, err error) {
	status := requestErrorStatus(err)
	writeError(ctx, status, fasthttp.StatusMessage(status), nil)
	ctx.SetConnectionClose()
	s.none.inc(status)
}

// LogSafe returns err's text for a log line: fasthttp quotes the bytes it could not parse into its
// errors (a request's headers, an answer's first line), and every quoted string but a network
// address is replaced by its length, so that no credential reaches a log.
func LogSafe(err error) string { return scrubQuoted(err.Error()) }

// zapPrintf adapts zap to fasthttp's Printf logger, at debug level: fasthttp logs per-connection
// errors that would otherwise flood the log under attack. The detail goes through scrubQuoted:
// fasthttp quotes the bytes of a request it rejects, credentials included.
type zapPrintf struct{ l *zap.Logger }

func (z zapPrintf) Printf(format string, args ...any) {
	if ce := z.l.Check(zap.DebugLevel, "fasthttp"); ce != nil {
		ce.Write(zap.String("detail", scrubQuoted(fmt.Sprintf(format, args...))))
	}
}

// quotedRE matches a Go-quoted string (%q), as fasthttp writes request bytes into its errors: the
// request line, a header key or value, up to 400 bytes of a header block it could not parse.
var quotedRE = regexp.MustCompile(`"(?:[^"\\]|\\.)*"`)

// scrubQuoted replaces every quoted string of a log detail with its length, except a network
// address (fasthttp names the connection's ends that way), so that no request bytes, and so no
// Authorization or Cookie value, reach the log at any level.
func scrubQuoted(s string) string {
	if strings.IndexByte(s, '"') < 0 {
		return s
	}
	return quotedRE.ReplaceAllStringFunc(s, func(q string) string {
		if u, err := strconv.Unquote(q); err == nil {
			if _, err := netip.ParseAddrPort(u); err == nil {
				return q
			}
			return fmt.Sprintf("[%d bytes not logged]", len(u))
		}
		return "[not logged]"
	})
}

func orDuration(d, def time.Duration) time.Duration {
	if d > 0 {
		return d
	}
	return def
}

func orInt(n, def int) int {
	if n > 0 {
		return n
	}
	return def
}
