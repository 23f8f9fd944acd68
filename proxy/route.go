package proxy

import (
	"bytes"
	"crypto/tls"
	"fmt"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/valyala/fasthttp"
)

// Route sends matching requests to a primary and offers the exchanges to a Mirror.
type Route struct {
	// Name is the route label of metrics and the Exchange's Route.
	Name string
	// PathPrefix must start the request path as the client wrote it and the primary gets it, byte
	// for byte (not percent-decoded, not normalised). The default "" matches every path.
	PathPrefix string
	// Methods lists the methods the route takes. The default (empty) takes every method.
	Methods []string
	// Host must equal the request's host, port ignored, case-insensitively: the host of an
	// absolute-form target (http://host/path) when the client sent one, else the Host header; it
	// is the host the primary gets. The default "" matches any.
	Host string
	// Headers must each be present with exactly this value.
	Headers map[string]string
	// Primary is the production model.
	Primary Upstream
	// Mirror receives the finished exchanges. The default nil mirrors nothing.
	Mirror Mirror
}

// Upstream is a model server.
type Upstream struct {
	// URL is http://host[:port] or https://host[:port]. Required.
	URL string
	// Timeout bounds one round trip, waiting for a free connection included. The default is 2s.
	Timeout time.Duration
	// MaxConns caps open connections. The default is 1024.
	MaxConns int
	// MaxResponseBody caps the answer read; a larger one is a 502. The default is 64 MiB.
	MaxResponseBody int
	// IdleTimeout closes pooled connections idle this long; keep it below the server's keep-alive
	// timeout. The default is DefaultIdleTimeout, 1s.
	IdleTimeout time.Duration
	// TLS configures https. The default is Go's client defaults.
	TLS *tls.Config
	// Stream passes an answer of unknown length (chunked, or server-sent events) to the client as
	// it arrives instead of reading it whole first; answers of known length are still read whole.
	// Timeout then bounds the whole answer. The mirror gets a streamed exchange once the answer
	// has ended. Only a route's primary streams. The default is false.
	Stream bool
}

func (u *Upstream) timeout() time.Duration { return orDuration(u.Timeout, 2*time.Second) }
func (u *Upstream) maxConns() int          { return orInt(u.MaxConns, 1024) }
func (u *Upstream) maxResponseBody() int   { return orInt(u.MaxResponseBody, 64<<20) }
func (u *Upstream) idleTimeout() time.Duration {
	return orDuration(u.IdleTimeout, DefaultIdleTimeout)
}

// WithDefaults returns u with the default of each zero limit and timeout filled in: the values the
// proxy uses for it.
func (u Upstream) WithDefaults() Upstream {
	u.Timeout, u.MaxConns, u.MaxResponseBody = u.timeout(), u.maxConns(), u.maxResponseBody()
	u.IdleTimeout = u.idleTimeout()
	return u
}

// route is a Route compiled for the hot path.
type route struct {
	name    string
	prefix  []byte
	methods Methods
	host    []byte
	headers [][2][]byte
	client  *fasthttp.HostClient
	scheme  []byte // the primary's: fasthttp refuses a request whose scheme differs from its client's
	timeout time.Duration
	stream  bool
	mirror  Mirror
	// mirrorMaxBody bounds what a streamed answer keeps for the mirror.
	mirrorMaxBody int
	codes         *codeCounters
	latency       prometheus.Observer
}

// table is an immutable route table.
type table struct {
	routes []*route
}

func (s *Server) compile(rs []Route) (*table, error) {
	t := &table{}
	seen := make(map[string]bool, len(rs))
	for _, r := range rs {
		if seen[r.Name] {
			return nil, fmt.Errorf("duplicate route %q", r.Name)
		}
		seen[r.Name] = true
		c, _, err := NewHostClient(r.Primary)
		if err != nil {
			return nil, fmt.Errorf("route %s: primary: %w", r.Name, err)
		}
		cr := &route{
			name:    r.Name,
			prefix:  []byte(r.PathPrefix),
			methods: NewMethods(r.Methods),
			host:    []byte(r.Host),
			client:  c,
			scheme:  []byte("http"),
			timeout: r.Primary.timeout(),
			stream:  r.Primary.Stream,
			mirror:  r.Mirror,

			mirrorMaxBody: mirrorMaxBody(r.Mirror),
			codes:         s.metrics.codes(r.Name),
			latency:       s.metrics.Upstream.WithLabelValues(r.Name, "primary", c.Addr),
		}
		if c.IsTLS {
			cr.scheme = []byte("https")
		}
		for k, v := range r.Headers {
			cr.headers = append(cr.headers, [2][]byte{[]byte(k), []byte(v)})
		}
		t.routes = append(t.routes, cr)
	}
	return t, nil
}

// match returns the first route for the request, or nil and whether some route matched everything but
// the method. path and host are those the primary gets: the raw path and the URI's host.
func (t *table) match(req *fasthttp.Request, path, host []byte) (*route, bool) {
	methodOnly := false
	for _, r := range t.routes {
		if !bytes.HasPrefix(path, r.prefix) || !r.matchHost(host) || !r.matchHeaders(&req.Header) {
			continue
		}
		if !r.methods.Has(req.Header.Method()) {
			methodOnly = true
			continue
		}
		return r, false
	}
	return nil, methodOnly
}

func (r *route) matchHost(h []byte) bool {
	if len(r.host) == 0 {
		return true
	}
	if i := bytes.LastIndexByte(h, ':'); i >= 0 && bytes.IndexByte(h[i:], ']') < 0 {
		h = h[:i]
	}
	return bytes.EqualFold(h, r.host)
}

func (r *route) matchHeaders(h *fasthttp.RequestHeader) bool {
	for _, kv := range r.headers {
		if !bytes.Equal(h.PeekBytes(kv[0]), kv[1]) {
			return false
		}
	}
	return true
}
