//go:build unix

package sink

import (
	"bytes"
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"
)

// TestFileCloseWaitsForItsWriter: a Close whose ctx has ended drops what is still buffered, and
// returns only once the writer goroutine has ended, every record counted. The file is a FIFO that
// nobody reads until Close has given up, so the writer is held in a write whatever the load.
func TestFileCloseWaitsForItsWriter(t *testing.T) {
	path := filepath.Join(t.TempDir(), "r.fifo")
	if err := syscall.Mkfifo(path, 0o600); err != nil {
		t.Skipf("mkfifo: %v", err)
	}
	// Opened without blocking first, so that the sink's own open (for writing) finds a reader.
	rd, err := os.OpenFile(path, os.O_RDONLY|syscall.O_NONBLOCK, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer rd.Close()
	r := testRecord("same")
	const n = 20000
	// The records far exceed a pipe's buffer (64 KiB) plus the one write in progress (a batch of
	// fileBatchBytes at most), so some are still buffered when Close gives up.
	if size := n * (len(Encode(nil, r)) + 1); size < 2*fileBatchBytes+1<<20 {
		t.Fatalf("%d records are only %d bytes", n, size)
	}
	m := NewMetrics(nil)
	s, err := NewFile(FileOptions{Path: path, Buffer: n, Metrics: m})
	if err != nil {
		t.Fatal(err)
	}
	for range n {
		s.Write(r)
	}
	read := make(chan []byte, 1)
	go func() {
		// Once Close's ctx has ended (the writer drops what it has not started writing), read
		// until the writer closes the file.
		for end := time.Now().Add(20 * time.Second); !s.abandon.Load() && time.Now().Before(end); {
			time.Sleep(time.Millisecond)
		}
		b, _ := io.ReadAll(rd)
		read <- b
	}()
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	err = s.Close(ctx)
	select {
	case <-s.done:
	default:
		t.Fatal("Close returned while the writer goroutine still runs")
	}
	b := <-read
	w, d := records(m, "file", OutcomeWritten), dropped(m, "file", ReasonCloseTimeout)
	if w+d != n || d == 0 {
		t.Fatalf("written %d + dropped %d != %d (or nothing dropped)", w, d, n)
	}
	if !errors.Is(err, context.Canceled) {
		t.Errorf("Close = %v after dropping %d records, want a context error", err, d)
	}
	if lines := bytes.Count(b, []byte("\n")); lines != w {
		t.Fatalf("%d lines, %d written", lines, w)
	}
}
