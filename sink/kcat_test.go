package sink

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestKcatReadsTopic builds sink/kfakebroker, runs it as a separate process, writes records with the
// Kafka sink and reads the topic back with Debian's kcat, a client this project did not write. A
// missing kcat skips the test, or fails it under CI=true.
func TestKcatReadsTopic(t *testing.T) {
	kcat, err := exec.LookPath("kcat")
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("kcat is not installed (apt-get install kcat)")
		}
		t.Skip("kcat is not installed")
	}
	if testing.Short() {
		t.Skip("builds a command")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 120*time.Second)
	defer cancel()

	bin := filepath.Join(t.TempDir(), "kfakebroker")
	build := exec.CommandContext(ctx, "go", "build", "-o", bin, "./kfakebroker")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build ./kfakebroker: %v\n%s", err, out)
	}
	broker := exec.CommandContext(ctx, bin, "-addr", "127.0.0.1:0", "-topic", testTopic, "-partitions", "2")
	stdin, err := broker.StdinPipe() // closing it stops the broker
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := broker.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	broker.Stderr = os.Stderr
	if err := broker.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() {
		stdin.Close()
		done := make(chan error, 1)
		go func() { done <- broker.Wait() }()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			broker.Process.Kill()
			<-done
		}
	}()
	line, err := bufio.NewReader(stdout).ReadString('\n')
	if err != nil {
		t.Fatalf("read broker address: %v", err)
	}
	addr := strings.TrimSpace(line)

	k, err := NewKafka(KafkaOptions{Brokers: []string{addr}, Topic: testTopic, Compression: "snappy"})
	if err != nil {
		t.Fatal(err)
	}
	const n = 100
	for i := range n {
		k.Write(testRecord(fmt.Sprintf("kcat-%03d", i)))
	}
	closeCtx(t, k)

	kc := exec.CommandContext(ctx, kcat, "-C", "-b", addr, "-t", testTopic, "-e", "-o", "beginning", "-q",
		"-f", "%k\t%s\n")
	out, err := kc.Output()
	if err != nil {
		t.Fatalf("kcat: %v\n%s", err, out)
	}
	keys := map[string]bool{}
	for l := range bytes.Lines(out) {
		l = bytes.TrimSuffix(l, []byte("\n"))
		if len(l) == 0 {
			continue
		}
		key, value, ok := bytes.Cut(l, []byte("\t"))
		if !ok {
			t.Fatalf("kcat line without a tab: %q", l)
		}
		r := decode(t, value)
		if r.ID != string(key) || r.Schema != Schema {
			t.Fatalf("key %q, record id %q schema %q", key, r.ID, r.Schema)
		}
		keys[string(key)] = true
	}
	if len(keys) != n {
		t.Fatalf("kcat read %d records, want %d", len(keys), n)
	}
}
