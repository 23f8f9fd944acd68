package sink

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

func closeCtx(t testing.TB, s Sink) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := s.Close(ctx); err != nil {
		t.Fatalf("close: %v", err)
	}
}

func records(m *Metrics, sink, outcome string) int {
	return int(testutil.ToFloat64(m.Records.WithLabelValues(sink, outcome)))
}

func dropped(m *Metrics, sink, reason string) int {
	return int(testutil.ToFloat64(m.Dropped.WithLabelValues(sink, reason)))
}

func readLines(t *testing.T, path string) [][]byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if len(b) > 0 && b[len(b)-1] != '\n' {
		t.Fatalf("%s does not end in a newline", path)
	}
	return bytes.SplitAfter(b[:max(len(b)-1, 0)], []byte("\n"))
}

// TestFileWritesExactBytes checks that each line is exactly the record's encoding: what the tee
// redacted is what reaches the disk, nothing added.
func TestFileWritesExactBytes(t *testing.T) {
	path := filepath.Join(t.TempDir(), "records.jsonl")
	m := NewMetrics(prometheus.NewRegistry())
	s, err := NewFile(FileOptions{Path: path, Metrics: m})
	if err != nil {
		t.Fatal(err)
	}
	const n = 50
	var want [][]byte
	for i := range n {
		r := testRecord(fmt.Sprintf("req-%d", i))
		r.Request.Headers["Authorization"] = "[redacted]"
		want = append(want, Encode(nil, r))
		s.Write(r)
	}
	closeCtx(t, s)
	lines := readLines(t, path)
	if len(lines) != n {
		t.Fatalf("%d lines, want %d", len(lines), n)
	}
	for i, l := range lines {
		l = bytes.TrimSuffix(l, []byte("\n"))
		if !bytes.Equal(l, want[i]) {
			t.Fatalf("line %d:\n got %s\nwant %s", i, l, want[i])
		}
		if bytes.Contains(l, []byte("Bearer")) {
			t.Fatalf("line %d leaks a credential", i)
		}
	}
	if got := records(m, "file", OutcomeWritten); got != n {
		t.Errorf("written = %d, want %d", got, n)
	}
	// Write after Close drops and counts, without panicking.
	s.Write(testRecord("late"))
	if got := dropped(m, "file", ReasonClosed); got != 1 {
		t.Errorf("dropped closed = %d", got)
	}
}

func TestFileRotation(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "r.jsonl")
	m := NewMetrics(nil)
	lineLen := len(Encode(nil, testRecord("req-000"))) + 1
	s, err := NewFile(FileOptions{Path: path, MaxBytes: int64(3 * lineLen), Keep: 2, Buffer: 1000, Metrics: m})
	if err != nil {
		t.Fatal(err)
	}
	const n = 40
	for i := range n {
		s.Write(testRecord(fmt.Sprintf("req-%03d", i)))
		if i%5 == 4 {
			waitFor(t, func() bool { return records(m, "file", OutcomeWritten) == i+1 })
		}
	}
	closeCtx(t, s)
	if got := records(m, "file", OutcomeWritten); got != n {
		t.Fatalf("written = %d", got)
	}
	for _, name := range []string{"r.jsonl", "r.jsonl.1", "r.jsonl.2"} {
		st, err := os.Stat(filepath.Join(dir, name))
		if err != nil {
			t.Fatal(err)
		}
		if st.Size() > int64(5*lineLen) || st.Size() == 0 {
			t.Errorf("%s is %d bytes", name, st.Size())
		}
		for _, l := range readLines(t, filepath.Join(dir, name)) {
			decode(t, bytes.TrimSuffix(l, []byte("\n")))
		}
	}
	if _, err := os.Stat(filepath.Join(dir, "r.jsonl.3")); !os.IsNotExist(err) {
		t.Errorf("r.jsonl.3 kept beyond Keep: %v", err)
	}
	// The newest record is in the current file.
	lines := readLines(t, path)
	if last := decode(t, bytes.TrimSpace(lines[len(lines)-1])); last.ID != fmt.Sprintf("req-%03d", n-1) {
		t.Errorf("last record %s", last.ID)
	}
}

// TestFileBufferFullNeverBlocks writes far more records than the buffer holds: Write returns at once
// and every record is either written or counted as dropped.
func TestFileBufferFullNeverBlocks(t *testing.T) {
	path := filepath.Join(t.TempDir(), "r.jsonl")
	m := NewMetrics(nil)
	s, err := NewFile(FileOptions{Path: path, Buffer: 1, Metrics: m})
	if err != nil {
		t.Fatal(err)
	}
	const n = 20000
	r := testRecord("same")
	for range n {
		s.Write(r)
	}
	closeCtx(t, s)
	w, d := records(m, "file", OutcomeWritten), dropped(m, "file", ReasonBufferFull)
	if w+d != n || d == 0 || records(m, "file", OutcomeDropped) != d {
		t.Fatalf("written %d + dropped %d != %d (or nothing dropped)", w, d, n)
	}
	if lines := readLines(t, path); len(lines) != w {
		t.Fatalf("%d lines, %d written", len(lines), w)
	}
}

// TestFileDiskFull writes through a path that is a symlink to /dev/full, where every write fails
// with ENOSPC from the kernel: records are dropped and counted, nothing crashes; once the path is
// a regular file again (space is back), writes succeed.
func TestFileDiskFull(t *testing.T) {
	if _, err := os.Stat("/dev/full"); err != nil {
		t.Skip("no /dev/full")
	}
	path := filepath.Join(t.TempDir(), "r.jsonl")
	if err := os.Symlink("/dev/full", path); err != nil {
		t.Fatal(err)
	}
	m := NewMetrics(nil)
	s, err := NewFile(FileOptions{Path: path, Metrics: m})
	if err != nil {
		t.Fatal(err)
	}
	for i := range 10 {
		s.Write(testRecord(fmt.Sprintf("full-%d", i)))
	}
	waitFor(t, func() bool { return dropped(m, "file", ReasonWriteError) == 10 })
	if got := testutil.ToFloat64(m.FileErrors.WithLabelValues("write")); got < 1 {
		t.Errorf("file_sink_errors_total{op=write} = %v", got)
	}
	// Space returns: the path is a regular file again.
	if err := os.Remove(path); err != nil {
		t.Fatal(err)
	}
	for i := range 5 {
		s.Write(testRecord(fmt.Sprintf("ok-%d", i)))
	}
	closeCtx(t, s)
	if got := records(m, "file", OutcomeWritten); got != 5 {
		t.Fatalf("written after recovery = %d", got)
	}
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	n := 0
	for sc.Scan() {
		if r := decode(t, sc.Bytes()); r.ID != fmt.Sprintf("ok-%d", n) {
			t.Errorf("line %d is %s", n, r.ID)
		}
		n++
	}
	if n != 5 {
		t.Fatalf("%d lines", n)
	}
}

func TestNewFileErrors(t *testing.T) {
	if _, err := NewFile(FileOptions{}); err == nil {
		t.Error("empty path accepted")
	}
	if _, err := NewFile(FileOptions{Path: filepath.Join(t.TempDir(), "missing", "dir", "r.jsonl")}); err == nil {
		t.Error("path in a missing directory accepted")
	}
}

// waitFor polls cond for up to 20 s.
func waitFor(t testing.TB, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not met within 20s")
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// BenchmarkFileSink measures records through the file sink, Close (flush and fsync) included.
func BenchmarkFileSink(b *testing.B) {
	m := NewMetrics(nil)
	s, err := NewFile(FileOptions{Path: filepath.Join(b.TempDir(), "r.jsonl"), Metrics: m, Buffer: 4096})
	if err != nil {
		b.Fatal(err)
	}
	r := testRecord("0123456789abcdef")
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		s.Write(r)
		// Bursts of 4000, then wait for the sink: this measures throughput, not the cost of a drop.
		if i++; i%4000 == 0 {
			poll(b, func() bool { return records(m, "file", OutcomeWritten)+records(m, "file", OutcomeDropped) >= i })
		}
	}
	closeCtx(b, s)
	b.ReportMetric(float64(dropped(m, "file", ReasonBufferFull)), "dropped")
}

// poll is waitFor with a 1 ms period, for benchmarks.
func poll(b *testing.B, cond func() bool) {
	deadline := time.Now().Add(20 * time.Second)
	for !cond() && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
	}
}
