package sink

import (
	"bytes"
	"context"
	"errors"
	"path/filepath"
	"testing"
)

func TestSwapReplacesTheDestination(t *testing.T) {
	dir := t.TempDir()
	a, b := filepath.Join(dir, "a.jsonl"), filepath.Join(dir, "b.jsonl")
	m := NewMetrics(nil)
	first, err := NewFile(FileOptions{Path: a, Name: "a", Metrics: m})
	if err != nil {
		t.Fatal(err)
	}
	w := NewSwap(first)
	w.Write(testRecord("to-a"))
	var second *File
	closeErr, err := w.Replace(context.Background(), func() (Sink, error) {
		// The old destination is closed before its successor opens.
		first.Write(testRecord("after-close"))
		if got := dropped(m, "a", ReasonClosed); got != 1 {
			t.Errorf("open ran before the old destination closed (closed drops %d, want 1)", got)
		}
		var err error
		second, err = NewFile(FileOptions{Path: b, Name: "b", Metrics: m})
		return second, err
	})
	if closeErr != nil || err != nil {
		t.Fatalf("Replace = %v, %v", closeErr, err)
	}
	w.Write(testRecord("to-b"))
	closeCtx(t, w)
	w.Write(testRecord("after-swap-close"))
	if got := dropped(m, "b", ReasonClosed); got != 0 {
		t.Errorf("a write after Close reached the closed destination (%d drops)", got)
	}
	if got := readLines(t, a); len(got) != 1 || !bytes.Contains(got[0], []byte(`"to-a"`)) {
		t.Errorf("a holds %q, want the one record written before Replace", got)
	}
	if got := readLines(t, b); len(got) != 1 || !bytes.Contains(got[0], []byte(`"to-b"`)) {
		t.Errorf("b holds %q, want the one record written after Replace", got)
	}
}

func TestSwapOpenFails(t *testing.T) {
	dir := t.TempDir()
	m := NewMetrics(nil)
	first, err := NewFile(FileOptions{Path: filepath.Join(dir, "a.jsonl"), Name: "a", Metrics: m})
	if err != nil {
		t.Fatal(err)
	}
	w := NewSwap(first)
	boom := errors.New("boom")
	if _, err := w.Replace(context.Background(), func() (Sink, error) { return nil, boom }); !errors.Is(err, boom) {
		t.Fatalf("Replace = %v, want %v", err, boom)
	}
	w.Write(testRecord("nowhere")) // no destination: must not reach the closed one or panic
	if got := dropped(m, "a", ReasonClosed); got != 0 {
		t.Errorf("a write after a failed Replace reached the closed destination (%d drops)", got)
	}
	// The next Replace brings a destination back.
	path := filepath.Join(dir, "b.jsonl")
	if _, err := w.Replace(context.Background(), func() (Sink, error) {
		return NewFile(FileOptions{Path: path, Name: "b", Metrics: m})
	}); err != nil {
		t.Fatal(err)
	}
	w.Write(testRecord("back"))
	closeCtx(t, w)
	if got := readLines(t, path); len(got) != 1 || !bytes.Contains(got[0], []byte(`"back"`)) {
		t.Errorf("b holds %q", got)
	}
}
