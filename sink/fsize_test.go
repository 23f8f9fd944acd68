//go:build linux

package sink

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"syscall"
	"testing"
)

// TestDiskFullRecovery runs fsizeChild in a child process whose file-size limit (RLIMIT_FSIZE) is
// small, so that writes fail with a real EFBIG from the kernel part-way through a record; then the
// child raises the limit ("space returns") and checks that the file sink and the spool recover with
// no torn line or frame. The limit applies to the whole process, hence the child.
func TestDiskFullRecovery(t *testing.T) {
	if os.Getenv("SINK_FSIZE_CHILD") != "" {
		t.Skip("in the child")
	}
	cmd := exec.Command(os.Args[0], "-test.run=^TestFsizeChild$", "-test.v")
	cmd.Env = append(os.Environ(), "SINK_FSIZE_CHILD="+t.TempDir())
	out, err := cmd.CombinedOutput()
	if err != nil || !bytes.Contains(out, []byte("--- PASS: TestFsizeChild")) {
		t.Fatalf("child: %v\n%s", err, out)
	}
}

func TestFsizeChild(t *testing.T) {
	dir := os.Getenv("SINK_FSIZE_CHILD")
	if dir == "" {
		t.Skip("run by TestDiskFullRecovery")
	}
	signal.Ignore(syscall.SIGXFSZ) // writes past the limit return EFBIG instead of killing us
	var old syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_FSIZE, &old); err != nil {
		t.Fatal(err)
	}
	const limit = 4000
	if err := syscall.Setrlimit(syscall.RLIMIT_FSIZE, &syscall.Rlimit{Cur: limit, Max: old.Max}); err != nil {
		t.Skipf("setrlimit: %v", err)
	}
	restore := func() {
		if err := syscall.Setrlimit(syscall.RLIMIT_FSIZE, &old); err != nil {
			t.Fatal(err)
		}
	}
	defer restore()

	t.Run("file", func(t *testing.T) {
		path := filepath.Join(dir, "r.jsonl")
		m := NewMetrics(nil)
		s, err := NewFile(FileOptions{Path: path, Metrics: m, Buffer: 1000})
		if err != nil {
			t.Fatal(err)
		}
		for i := range 20 { // about 11 KiB: past the limit
			s.Write(testRecord(fmt.Sprintf("a-%02d", i)))
			waitFor(t, func() bool {
				return records(m, "file", OutcomeWritten)+records(m, "file", OutcomeDropped) == i+1
			})
		}
		w, d := records(m, "file", OutcomeWritten), dropped(m, "file", ReasonWriteError)
		if d == 0 || w == 0 || w+d != 20 {
			t.Fatalf("written %d dropped %d", w, d)
		}
		restore()
		for i := range 5 {
			s.Write(testRecord(fmt.Sprintf("b-%d", i)))
		}
		closeCtx(t, s)
		if got := records(m, "file", OutcomeWritten); got != w+5 {
			t.Fatalf("written after recovery %d, want %d", got, w+5)
		}
		lines := readLines(t, path)
		if len(lines) != w+5 {
			t.Fatalf("%d lines, want %d", len(lines), w+5)
		}
		for _, l := range lines {
			decode(t, bytes.TrimSuffix(l, []byte("\n"))) // no torn line
		}
	})
	if err := syscall.Setrlimit(syscall.RLIMIT_FSIZE, &syscall.Rlimit{Cur: limit, Max: old.Max}); err != nil {
		t.Fatal(err)
	}
	t.Run("spool", func(t *testing.T) {
		m := NewMetrics(nil)
		s := openTestSpool(t, SpoolOptions{Dir: filepath.Join(dir, "spool"), Fsync: FsyncAlways}, m)
		payload := bytes.Repeat([]byte("x"), 700)
		ok, failed := 0, 0
		for range 10 {
			err := s.append(payload)
			switch {
			case err == nil:
				ok++
			case errors.Is(err, syscall.EFBIG):
				failed++
			default:
				t.Fatal(err)
			}
		}
		if ok == 0 || failed == 0 {
			t.Fatalf("ok %d failed %d", ok, failed)
		}
		restore()
		if err := s.append([]byte("after")); err != nil {
			t.Fatal(err)
		}
		got := drainSpool(t, s)
		if len(got) != ok+1 || got[ok] != "after" {
			t.Fatalf("read back %d records, want %d", len(got), ok+1)
		}
		s.close()
	})
}
