package proxy

import (
	"errors"
	"net"
	"os"
	"sync"
	"time"
)

// Client connections with lazily extended deadlines.
//
// fasthttp sets three deadlines on a keep-alive client connection for every request: the idle
// timeout while it waits for the next request, the read timeout once its first byte arrives, and the
// write timeout before the answer. Each is a runtime timer update, and together they were a fifth of
// the proxy's user CPU over a bare fasthttp proxy's (which sets none). Almost every one of them only
// moves a deadline later than the one already armed on the socket, so deadlineConn arms a deadline at
// once only when it is earlier than the armed one (or none is armed), and otherwise records it: when
// the armed one fires, the read or write that timed out looks at the deadline last asked for and, if
// that has not passed, arms it and carries on. A connection therefore times out exactly when the
// deadline last set says (a slow client is cut off as before), and a busy one updates its timer about
// once per timeout instead of three times a request.
//
// Upstream connections (the dialer in upstream.go) are wrapped the same way: fasthttp's client sets a
// write and a read deadline on them for every request, each later than the one armed by the last.

// deadlineListener wraps the TCP connections it accepts in a deadlineConn.
type deadlineListener struct{ net.Listener }

func (l deadlineListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return c, err
	}
	return lazyDeadlines(c), nil
}

// lazyDeadlines wraps a TCP connection in a deadlineConn; any other connection is returned as it is.
func lazyDeadlines(c net.Conn) net.Conn {
	if tc, ok := c.(*net.TCPConn); ok {
		return &deadlineConn{Conn: tc}
	}
	return c
}

// deadlineConn is a connection whose deadlines are extended lazily (see above). It embeds net.Conn,
// not *net.TCPConn, so that no method (ReadFrom, SetDeadline) reaches the socket around it.
type deadlineConn struct {
	net.Conn
	mu          sync.Mutex
	read, write lazyDeadline
}

// lazyDeadline is one direction's deadline: the one asked for and the one armed on the socket; zero
// means none.
type lazyDeadline struct {
	want, armed time.Time
}

// set records t and says whether it must be armed now: it is earlier than the armed deadline, or
// none is armed.
func (d *lazyDeadline) set(t time.Time) bool {
	d.want = t
	if d.armed.IsZero() {
		return !t.IsZero()
	}
	return !t.IsZero() && t.Before(d.armed)
}

// rearm says, after the armed deadline fired, whether the one asked for is still ahead (or none is
// asked for), in which case it becomes the armed one.
func (d *lazyDeadline) rearm() bool {
	if !d.want.IsZero() && !time.Now().Before(d.want) {
		return false
	}
	d.armed = d.want
	return true
}

func (c *deadlineConn) SetReadDeadline(t time.Time) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.read.set(t) {
		return nil
	}
	c.read.armed = t
	return c.Conn.SetReadDeadline(t)
}

func (c *deadlineConn) SetWriteDeadline(t time.Time) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.write.set(t) {
		return nil
	}
	c.write.armed = t
	return c.Conn.SetWriteDeadline(t)
}

func (c *deadlineConn) SetDeadline(t time.Time) error {
	return errors.Join(c.SetReadDeadline(t), c.SetWriteDeadline(t))
}

func (c *deadlineConn) Read(b []byte) (int, error) {
	for {
		n, err := c.Conn.Read(b)
		if n > 0 || !errors.Is(err, os.ErrDeadlineExceeded) || !c.extend(&c.read, c.Conn.SetReadDeadline) {
			return n, err
		}
	}
}

func (c *deadlineConn) Write(b []byte) (int, error) {
	written := 0
	for {
		n, err := c.Conn.Write(b[written:])
		written += n
		if err == nil || !errors.Is(err, os.ErrDeadlineExceeded) || !c.extend(&c.write, c.Conn.SetWriteDeadline) {
			return written, err
		}
	}
}

// extend arms d's wanted deadline after the armed one fired, and says whether the timed-out read or
// write should carry on.
func (c *deadlineConn) extend(d *lazyDeadline, arm func(time.Time) error) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !d.rearm() {
		return false
	}
	return arm(d.armed) == nil
}
