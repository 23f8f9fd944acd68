package proxy

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"io"
	"net"
	"net/url"
	"syscall"
	"time"

	"github.com/valyala/fasthttp"
)

// Upstream clients: the one builder of the HTTP/1.1 clients that talk to model servers (the primary
// here, candidates and the secondary in package tee), and the one classification of their errors.
//
// A pooled keep-alive connection is only reused when it is known clean. fasthttp's pool never looks
// at an idle connection, so a server that writes an extra response (a buggy handler writing twice)
// leaves bytes that the next request on that connection reads as its answer: every later answer
// shifts by one, across clients. And a server that closed an idle connection (gunicorn after 2s,
// uvicorn after 5s) makes the next request on it fail. As nginx does with its cached upstream
// connections and Go's net/http with its per-connection reader, each connection is checked before it
// carries another request: the first write after a completed read (the start of the next request on
// a reused connection) first makes one non-blocking recvfrom(MSG_PEEK). A pending byte (unsolicited
// data), an end of stream or a reset (the server closed it) closes the connection and fails the
// attempt with ErrStaleConn before any byte of the request is sent, and the request is retried on
// another connection, whatever its method.

// DefaultIdleTimeout is how long a pooled upstream connection may stay idle before the proxy closes
// it. It is below the keep-alive timeout of the servers models are usually served with (gunicorn 2s,
// uvicorn and Node 5s, nginx 75s), so that the proxy, not the server, ends idle connections: a server
// that closes a connection just as a request is written on it is a race no check can win.
const DefaultIdleTimeout = time.Second

// ErrStaleConn is the error of an attempt that found its pooled connection unusable before sending
// anything: the server had sent bytes nobody asked for, or had closed the connection.
var ErrStaleConn = errors.New("stale upstream connection")

var (
	errUnsolicited  = fmt.Errorf("%w: the server sent unsolicited bytes on the idle connection", ErrStaleConn)
	errServerClosed = fmt.Errorf("%w: the server closed the idle connection", ErrStaleConn)
)

// maxAttempts bounds the attempts of one request: stale connections are retried (each costs a
// syscall, no round trip), an answer cut off before its first byte once.
const maxAttempts = 8

// NewHostClient makes the client of one upstream and returns it with the URL's host (host[:port] as
// written, for the Host header of requests that do not keep the client's). The client's target
// label is its Addr (host:port).
func NewHostClient(u Upstream) (*fasthttp.HostClient, string, error) {
	p, err := url.Parse(u.URL)
	if err != nil {
		return nil, "", fmt.Errorf("url: %w", err)
	}
	isTLS := false
	switch p.Scheme {
	case "http":
	case "https":
		isTLS = true
	default:
		return nil, "", fmt.Errorf("url %q: scheme must be http or https", u.URL)
	}
	if p.Host == "" {
		return nil, "", fmt.Errorf("url %q: no host", u.URL)
	}
	addr := p.Host
	if p.Port() == "" {
		port := "80"
		if isTLS {
			port = "443"
		}
		addr = net.JoinHostPort(p.Hostname(), port)
	}
	timeout := u.timeout()
	c := &fasthttp.HostClient{
		Addr:                      addr,
		IsTLS:                     isTLS,
		MaxConns:                  u.maxConns(),
		MaxConnWaitTimeout:        timeout,
		MaxIdleConnDuration:       u.idleTimeout(),
		ReadTimeout:               timeout,
		WriteTimeout:              timeout,
		MaxResponseBodySize:       u.maxResponseBody(),
		NoDefaultUserAgentHeader:  true,
		DisablePathNormalizing:    true,
		RetryIfErr:                retryUpstream,
		MaxIdemponentCallAttempts: maxAttempts,
		// The most recently used connection is the least likely to have been closed by the server;
		// the others age out after the idle timeout.
		ConnPoolStrategy: fasthttp.LIFO,
	}
	d := &dialer{client: c}
	if isTLS {
		d.tls = &tls.Config{}
		if u.TLS != nil {
			d.tls = u.TLS.Clone()
		}
		if d.tls.ServerName == "" {
			d.tls.ServerName = p.Hostname()
		}
		if d.tls.ClientSessionCache == nil {
			d.tls.ClientSessionCache = tls.NewLRUClientSessionCache(0)
		}
	}
	c.DialTimeout = d.dial
	return c, p.Host, nil
}

// dialer dials an upstream's connections, each wrapped in a checkedConn (under TLS when the
// upstream uses it, so the check sees the socket).
type dialer struct {
	client *fasthttp.HostClient
	tls    *tls.Config
}

func (d *dialer) dial(addr string, timeout time.Duration) (net.Conn, error) {
	if timeout <= 0 {
		timeout = fasthttp.DefaultDialTimeout
	}
	raw, err := fasthttp.DialTimeout(addr, timeout)
	if err != nil {
		return nil, err
	}
	// Under LIFO, an idle connection the server closed means the older idle ones are closed too
	// (a restart, or their idle timeout): drop them all rather than find each the same way.
	c := newCheckedConn(raw, d.client.CloseIdleConnections)
	// The client sets a read and a write deadline per request, each later than the one armed: extend
	// them lazily, as on client connections (deadline.go). The check still peeks at raw's socket.
	c.Conn = lazyDeadlines(raw)
	if d.tls == nil {
		c.armed = true
		return c, nil
	}
	tc := tls.Client(c, d.tls)
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	if err := tc.HandshakeContext(ctx); err != nil {
		_ = raw.Close()
		return nil, fmt.Errorf("tls handshake with %s: %w", addr, err)
	}
	// The handshake's own reads and writes are not requests.
	c.read, c.armed = false, true
	return tc, nil
}

// checkedConn is an upstream connection that checks, before the first write after a read (the start
// of the next request on a reused connection), that the server sent nothing since and did not close
// it. fasthttp never reads and writes one connection at once, so the fields need no lock.
type checkedConn struct {
	net.Conn
	raw      syscall.RawConn // nil where the socket cannot be peeked: no check
	peekFn   func(fd uintptr)
	onClosed func()
	armed    bool
	read     bool
	peekBuf  [1]byte
	peekN    int
	peekErr  error
}

func newCheckedConn(c net.Conn, onClosed func()) *checkedConn {
	cc := &checkedConn{Conn: c, onClosed: onClosed}
	if peekSupported {
		if sc, ok := c.(syscall.Conn); ok {
			if raw, err := sc.SyscallConn(); err == nil {
				cc.raw = raw
				cc.peekFn = cc.peek
			}
		}
	}
	return cc
}

func (c *checkedConn) Read(b []byte) (int, error) {
	n, err := c.Conn.Read(b)
	if n > 0 {
		c.read = true
	}
	return n, err
}

func (c *checkedConn) Write(b []byte) (int, error) {
	if c.read && c.armed {
		c.read = false
		if err := c.idleCheck(); err != nil {
			_ = c.Conn.Close()
			if errors.Is(err, errServerClosed) && c.onClosed != nil {
				c.onClosed()
			}
			return 0, err
		}
	}
	return c.Conn.Write(b)
}

// idleCheck peeks at the socket without blocking: nil when nothing is pending.
func (c *checkedConn) idleCheck() error {
	if c.raw == nil {
		return nil
	}
	c.peekN, c.peekErr = 0, nil
	// Control, not Read: RawConn.Read fails at once when the last request's read deadline has
	// passed, as it has on a connection idle longer than the timeout; recvfrom does not block.
	if err := c.raw.Control(c.peekFn); err != nil {
		return errServerClosed // the descriptor is closed already
	}
	switch {
	case c.peekErr == nil && c.peekN > 0:
		return errUnsolicited
	case c.peekErr == nil:
		return errServerClosed // end of stream
	case errors.Is(c.peekErr, syscall.EAGAIN), errors.Is(c.peekErr, syscall.EWOULDBLOCK), errors.Is(c.peekErr, syscall.EINTR):
		return nil
	}
	return errServerClosed // reset, or another error that leaves the connection unusable
}

// retryUpstream is the clients' RetryIfErr. A stale connection found before sending is retried for
// any method, since no byte of the request left. A kept-alive connection that ends (EOF, reset,
// broken pipe) before the first byte of the answer is the server closing it as the request went out
// (the race the idle timeout makes rare): the request is sent once more, even a POST, as nginx's
// proxy_next_upstream error does. Timeouts and errors after part of an answer are not retried.
func retryUpstream(_ *fasthttp.Request, attempts int, err error) (resetTimeout, retry bool) {
	if errors.Is(err, ErrStaleConn) {
		return false, true
	}
	if attempts > 1 {
		return false, false
	}
	closed := errors.Is(err, io.EOF) || errors.Is(err, fasthttp.ErrConnectionClosed) ||
		errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.EPIPE)
	return false, closed
}

// Failure is the kind of a failed round trip to an upstream.
type Failure uint8

const (
	// FailureUnreachable: refused, reset, closed before answering, or a malformed answer.
	FailureUnreachable Failure = iota
	// FailureTimeout: no connection or no whole answer within the timeout.
	FailureTimeout
	// FailureNoFreeConn: every connection stayed busy for the whole timeout.
	FailureNoFreeConn
	// FailureTooLarge: the answer is over the client's MaxResponseBody.
	FailureTooLarge
)

var failureNames = [...]string{"unreachable", "timeout", "no_free_conn", "too_large"}

func (f Failure) String() string {
	if int(f) < len(failureNames) {
		return failureNames[f]
	}
	return fmt.Sprintf("Failure(%d)", f)
}

// ClassifyError says what kind of failure a client error of NewHostClient's clients is.
func ClassifyError(err error) Failure {
	var ne net.Error
	switch {
	case status.Code(err) == codes.DeadlineExceeded: // a gRPC call past its deadline
		return FailureTimeout
	case errors.Is(err, fasthttp.ErrTimeout), errors.Is(err, fasthttp.ErrDialTimeout),
		errors.Is(err, fasthttp.ErrTLSHandshakeTimeout), errors.As(err, &ne) && ne.Timeout():
		return FailureTimeout
	case errors.Is(err, fasthttp.ErrNoFreeConns):
		return FailureNoFreeConn
	case errors.Is(err, fasthttp.ErrBodyTooLarge):
		return FailureTooLarge
	}
	return FailureUnreachable
}
