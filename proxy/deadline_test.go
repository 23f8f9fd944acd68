package proxy

import (
	"errors"
	"io"
	"net"
	"os"
	"testing"
	"time"
)

// deadlinePair returns the accepted end of a loopback TCP connection, through deadlineListener, and
// the dialled end.
func deadlinePair(t *testing.T) (*deadlineConn, net.Conn) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	peer, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	c, err := deadlineListener{ln}.Accept()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close(); _ = peer.Close() })
	dc, ok := c.(*deadlineConn)
	if !ok {
		t.Fatalf("accepted %T, want *deadlineConn", c)
	}
	return dc, peer
}

// writeAfter writes b to c after d, in a goroutine the test waits for.
func writeAfter(t *testing.T, c net.Conn, d time.Duration, b []byte) {
	done := make(chan struct{})
	t.Cleanup(func() { <-done })
	go func() {
		defer close(done)
		time.Sleep(d)
		_, _ = c.Write(b)
	}()
}

// TestLazyDeadlineExtendedWhenArmedFires: a later deadline is only recorded, and when the armed one
// fires the read carries on until the later one.
func TestLazyDeadlineExtendedWhenArmedFires(t *testing.T) {
	c, peer := deadlinePair(t)
	first := time.Now().Add(50 * time.Millisecond)
	if err := c.SetReadDeadline(first); err != nil {
		t.Fatal(err)
	}
	if err := c.SetReadDeadline(time.Now().Add(5 * time.Second)); err != nil {
		t.Fatal(err)
	}
	if !c.read.armed.Equal(first) {
		t.Fatalf("the later deadline was armed at once: armed %v, want %v", c.read.armed, first)
	}
	writeAfter(t, peer, 300*time.Millisecond, []byte("x"))
	b := make([]byte, 1)
	if n, err := c.Read(b); n != 1 || err != nil {
		t.Fatalf("Read = %d, %v; want the byte written after the first deadline, before the last", n, err)
	}
}

// TestLazyDeadlineStillTimesOut: the deadline last set ends a read that gets nothing, not earlier.
func TestLazyDeadlineStillTimesOut(t *testing.T) {
	c, _ := deadlinePair(t)
	start := time.Now()
	_ = c.SetReadDeadline(start.Add(30 * time.Millisecond))
	want := start.Add(300 * time.Millisecond)
	_ = c.SetReadDeadline(want)
	_, err := c.Read(make([]byte, 1))
	if !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("Read error = %v, want a deadline error", err)
	}
	if now := time.Now(); now.Before(want) {
		t.Fatalf("timed out %v before the deadline last set", want.Sub(now))
	}
}

// TestLazyDeadlineEarlierArmedAtOnce: a deadline earlier than the armed one applies at once.
func TestLazyDeadlineEarlierArmedAtOnce(t *testing.T) {
	c, _ := deadlinePair(t)
	_ = c.SetReadDeadline(time.Now().Add(time.Minute))
	_ = c.SetReadDeadline(time.Now().Add(50 * time.Millisecond))
	done := make(chan error, 1)
	go func() { _, err := c.Read(make([]byte, 1)); done <- err }()
	select {
	case err := <-done:
		if !errors.Is(err, os.ErrDeadlineExceeded) {
			t.Fatalf("Read error = %v, want a deadline error", err)
		}
	case <-time.After(10 * time.Second):
		_ = c.Close()
		<-done
		t.Fatal("the earlier deadline did not end the read")
	}
	// A deadline in the past fails the next read at once too.
	_ = c.SetReadDeadline(time.Now().Add(-time.Second))
	if _, err := c.Read(make([]byte, 1)); !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("Read after a past deadline: %v, want a deadline error", err)
	}
}

// TestLazyDeadlineCleared: clearing the deadline after one was armed means no timeout.
func TestLazyDeadlineCleared(t *testing.T) {
	c, peer := deadlinePair(t)
	_ = c.SetReadDeadline(time.Now().Add(30 * time.Millisecond))
	_ = c.SetReadDeadline(time.Time{})
	writeAfter(t, peer, 200*time.Millisecond, []byte("x"))
	if n, err := c.Read(make([]byte, 1)); n != 1 || err != nil {
		t.Fatalf("Read = %d, %v; want the byte: no deadline was left", n, err)
	}
}

// TestLazyWriteDeadlineExtended: a write blocked past the armed write deadline carries on, whole,
// until the deadline last set, and a write that cannot finish by then fails with a deadline error.
func TestLazyWriteDeadlineExtended(t *testing.T) {
	c, peer := deadlinePair(t)
	_ = c.SetWriteDeadline(time.Now().Add(30 * time.Millisecond))
	_ = c.SetWriteDeadline(time.Now().Add(10 * time.Second))
	big := make([]byte, 32<<20) // beyond the loopback socket buffers: the write blocks
	read := make(chan int64, 1)
	go func() {
		time.Sleep(300 * time.Millisecond)
		n, _ := io.CopyN(io.Discard, peer, int64(len(big)))
		read <- n
	}()
	if n, err := c.Write(big); n != len(big) || err != nil {
		t.Fatalf("Write = %d, %v; want all %d bytes", n, err, len(big))
	}
	if n := <-read; n != int64(len(big)) {
		t.Fatalf("peer read %d bytes, want %d", n, len(big))
	}

	_ = c.SetWriteDeadline(time.Now().Add(20 * time.Millisecond))
	want := time.Now().Add(200 * time.Millisecond)
	_ = c.SetWriteDeadline(want)
	if _, err := c.Write(big); !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("Write to a peer that reads nothing: %v, want a deadline error", err)
	}
	if now := time.Now(); now.Before(want) {
		t.Fatalf("write timed out %v before the deadline last set", want.Sub(now))
	}
}

// BenchmarkRequestDeadlines: the three deadlines fasthttp sets on a keep-alive client connection per
// request (idle, read, write), on a plain TCP connection and on a deadlineConn.
func BenchmarkRequestDeadlines(b *testing.B) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	defer ln.Close()
	peer, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		b.Fatal(err)
	}
	defer peer.Close()
	raw, err := ln.Accept()
	if err != nil {
		b.Fatal(err)
	}
	defer raw.Close()
	for _, bc := range []struct {
		name string
		c    net.Conn
	}{{"tcp", raw}, {"lazy", &deadlineConn{Conn: raw}}} {
		b.Run(bc.name, func(b *testing.B) {
			for b.Loop() {
				_ = bc.c.SetReadDeadline(time.Now().Add(90 * time.Second))
				_ = bc.c.SetReadDeadline(time.Now().Add(30 * time.Second))
				_ = bc.c.SetWriteDeadline(time.Now().Add(30 * time.Second))
			}
		})
	}
}
