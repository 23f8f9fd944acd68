package sink

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/prometheus/client_golang/prometheus/testutil"
)

func openTestSpool(t *testing.T, opts SpoolOptions, m *Metrics) *spool {
	t.Helper()
	s, err := openSpool(opts, "kafka", m)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// drainSpool reads and acknowledges everything in s, in order.
func drainSpool(t *testing.T, s *spool) []string {
	t.Helper()
	var out []string
	for range 100000 {
		frames, end := s.read(7, 1<<20)
		if len(frames) == 0 {
			break
		}
		for _, f := range frames {
			out = append(out, string(f))
		}
		s.ack(end, len(frames))
	}
	return out
}

func segFiles(t *testing.T, dir string) []string {
	t.Helper()
	m, err := filepath.Glob(filepath.Join(dir, "*"+segmentSuffix))
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func TestSpoolOrderRotationAndRestart(t *testing.T) {
	dir := t.TempDir()
	m := NewMetrics(nil)
	opts := SpoolOptions{Dir: dir, SegmentBytes: 200, Fsync: FsyncAlways}
	s := openTestSpool(t, opts, m)
	if _, err := openSpool(opts, "kafka", m); !errors.Is(err, ErrSpoolLocked) {
		t.Fatalf("second open of a locked spool: %v", err)
	}
	for i := range 30 {
		if err := s.append(fmt.Appendf(nil, "record-%02d", i)); err != nil {
			t.Fatal(err)
		}
	}
	if n := len(segFiles(t, dir)); n < 3 {
		t.Fatalf("%d segments, want rotation", n)
	}
	// Deliver the first 10, then "crash" (close) and reopen.
	var got []string
	for len(got) < 10 {
		frames, end := s.read(10-len(got), 1<<20)
		for _, f := range frames {
			got = append(got, string(f))
		}
		s.ack(end, len(frames))
	}
	if err := s.close(); err != nil {
		t.Fatal(err)
	}
	s = openTestSpool(t, opts, m)
	if p := s.pendingRecords(); p != 20 {
		t.Fatalf("pending after reopen = %d, want 20", p)
	}
	if g := testutil.ToFloat64(m.SpoolRecords); g != 20 {
		t.Errorf("spool_records = %v", g)
	}
	got = append(got, drainSpool(t, s)...)
	for i := range 30 {
		if got[i] != fmt.Sprintf("record-%02d", i) {
			t.Fatalf("record %d is %q", i, got[i])
		}
	}
	if len(got) != 30 {
		t.Fatalf("%d records", len(got))
	}
	if g := testutil.ToFloat64(m.SpoolRecords); g != 0 {
		t.Errorf("spool_records = %v after drain", g)
	}
	if err := s.close(); err != nil {
		t.Fatal(err)
	}
	// Everything delivered: nothing is replayed again.
	s = openTestSpool(t, opts, m)
	defer s.close()
	if p := s.pendingRecords(); p != 0 {
		t.Fatalf("pending = %d after full delivery", p)
	}
}

func TestSpoolCorruptTail(t *testing.T) {
	tests := []struct {
		name   string
		damage func(t *testing.T, path string)
		want   int // records that survive, of 5 in the damaged (last) segment
	}{
		{"torn frame", func(t *testing.T, path string) {
			st, _ := os.Stat(path)
			if err := os.Truncate(path, st.Size()-3); err != nil {
				t.Fatal(err)
			}
		}, 4},
		{"garbage appended", func(t *testing.T, path string) {
			f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND, 0)
			if err != nil {
				t.Fatal(err)
			}
			f.Write([]byte("\x05\x00\x00\x00garbage"))
			f.Close()
		}, 5},
		{"zeroed tail", func(t *testing.T, path string) {
			f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND, 0)
			if err != nil {
				t.Fatal(err)
			}
			f.Write(make([]byte, 64))
			f.Close()
		}, 5},
		{"flipped bit in the third frame", func(t *testing.T, path string) {
			b, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			frame := len(b) / 5
			b[2*frame+frameHeader+1] ^= 0x40
			if err := os.WriteFile(path, b, 0o644); err != nil {
				t.Fatal(err)
			}
		}, 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			m := NewMetrics(nil)
			opts := SpoolOptions{Dir: dir, Fsync: FsyncNever}
			s := openTestSpool(t, opts, m)
			for i := range 5 {
				if err := s.append(fmt.Appendf(nil, "r%d", i)); err != nil {
					t.Fatal(err)
				}
			}
			s.close()
			segs := segFiles(t, dir)
			tt.damage(t, segs[len(segs)-1])
			s = openTestSpool(t, opts, m)
			if got := testutil.ToFloat64(m.SpoolCorrupt); got != 1 {
				t.Errorf("spool_corrupt_total = %v, want 1", got)
			}
			got := drainSpool(t, s)
			if len(got) != tt.want {
				t.Fatalf("recovered %v, want %d records", got, tt.want)
			}
			for i, g := range got {
				if g != fmt.Sprintf("r%d", i) {
					t.Fatalf("record %d = %q", i, g)
				}
			}
			// Appends after the damage are read back too.
			if err := s.append([]byte("after")); err != nil {
				t.Fatal(err)
			}
			if got := drainSpool(t, s); len(got) != 1 || got[0] != "after" {
				t.Fatalf("after damage: %v", got)
			}
			s.close()
		})
	}
}

func TestSpoolFull(t *testing.T) {
	m := NewMetrics(nil)
	s := openTestSpool(t, SpoolOptions{Dir: t.TempDir(), MaxBytes: 100}, m)
	defer s.close()
	var full int
	for range 20 {
		if err := s.append([]byte("0123456789")); errors.Is(err, ErrSpoolFull) {
			full++
		} else if err != nil {
			t.Fatal(err)
		}
	}
	if full != 15 { // 5 frames of 18 bytes fit in 100
		t.Fatalf("%d appends refused, want 15", full)
	}
	drainSpool(t, s)
	if err := s.append([]byte("0123456789")); err != nil {
		t.Fatalf("append after drain: %v", err)
	}
}

// TestSpoolDiskFull makes the next segment a symlink to /dev/full: the append fails with ENOSPC, and
// succeeds again once the segment is a regular file.
func TestSpoolDiskFull(t *testing.T) {
	if _, err := os.Stat("/dev/full"); err != nil {
		t.Skip("no /dev/full")
	}
	dir := t.TempDir()
	m := NewMetrics(nil)
	s := openTestSpool(t, SpoolOptions{Dir: dir, SegmentBytes: 20}, m)
	if err := s.append([]byte("first-record")); err != nil {
		t.Fatal(err)
	}
	next := s.segPath(s.segs[len(s.segs)-1].id + 1)
	if err := os.Symlink("/dev/full", next); err != nil {
		t.Fatal(err)
	}
	if err := s.append([]byte("second-record")); err == nil {
		t.Fatal("append to /dev/full succeeded")
	}
	s.close()
	os.Remove(next)
	s = openTestSpool(t, SpoolOptions{Dir: dir, SegmentBytes: 20}, m)
	defer s.close()
	if err := s.append([]byte("third-record")); err != nil {
		t.Fatal(err)
	}
	if got := drainSpool(t, s); len(got) != 2 || got[0] != "first-record" || got[1] != "third-record" {
		t.Fatalf("got %q", got)
	}
}
