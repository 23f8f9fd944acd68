package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/valyala/fasthttp"

	"github.com/shadowproxy/shadowproxy/proxy/proxytest"
)

const recordsTopic = "shadowproxy.records"

// broker starts an in-process Kafka-protocol broker on port, keeping its log in dataDir.
func broker(t *testing.T, port int, dataDir string) *kfake.Cluster {
	t.Helper()
	var err error
	for range 50 { // a port just closed can take a moment to be free again
		var c *kfake.Cluster
		c, err = kfake.NewCluster(kfake.NumBrokers(1), kfake.Ports(port), kfake.SeedTopics(1, recordsTopic), kfake.DataDir(dataDir))
		if err == nil {
			return c
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatalf("start kfake: %v", err)
	return nil
}

// consumeKeys reads the topic from the start until it has want distinct keys or 30s pass, checking
// that every value is a record.
func consumeKeys(t *testing.T, addr string, want int) map[string]bool {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(addr), kgo.ConsumeTopics(recordsTopic), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	keys := map[string]bool{}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for len(keys) < want && ctx.Err() == nil {
		fs := cl.PollFetches(ctx)
		fs.EachRecord(func(r *kgo.Record) {
			var rec struct{ Schema, ID, Kind string }
			if err := json.Unmarshal(r.Value, &rec); err != nil || rec.Schema != "shadowproxy.record/v1" || rec.ID != string(r.Key) {
				t.Errorf("message %q is not a record keyed by its id: %v", r.Value, err)
			}
			assertRedacted(t, r.Value)
			keys[string(r.Key)] = true
		})
	}
	return keys
}

func TestE2EKafkaOutageAndRestartLoseNothing(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	l.Close()
	addr := fmt.Sprintf("127.0.0.1:%d", port)
	dataDir, spool := t.TempDir(), t.TempDir()
	kafka := broker(t, port, dataDir)
	defer func() { kafka.Close() }()

	primary := proxytest.Serve(t, answer(0, nil, 0))
	candidate := proxytest.Serve(t, answer(1, func(int) bool { return true }, 0)) // disagrees on everything
	cfg := fmt.Sprintf(`listen: "127.0.0.1:0"
admin: "127.0.0.1:0"
reload: {watch: false}
routes:
  - name: iris
    match: {path_prefix: /}
    primary: {url: %q}
    candidates:
      - {name: iris-v2, url: %q, sample: 100%%}
    compare: {format: json, ignore: [served_at]}
    record: {redact: {fields: [user.ssn]}}
sinks:
  kafka:
    brokers: [%q]
    topic: %s
    batch_timeout: 5ms
    spool: {dir: %q, max_bytes: 64MiB, fsync: always}
`, primary, candidate, addr, recordsTopic, spool)
	path := filepath.Join(t.TempDir(), "shadowproxy.yaml")
	if err := os.WriteFile(path, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	p := startProxyFile(t, path)
	client := &fasthttp.Client{}
	defer client.CloseIdleConnections()
	send := func(p *process, from, to int) {
		for i := from; i < to; i++ {
			status, _, took := post(t, client, "http://"+p.listen+"/predict", fmt.Sprintf("rec-%03d", i), fmt.Sprintf(`{"x":%d,"user":{"ssn":"123-45-6789"}}`, i))
			if status != 200 {
				t.Fatalf("request %d: status %d", i, status)
			}
			// The primary answers at once; nothing on the record path may hold it up. (kafka-go's
			// writes time out after 10 s: a primary path waiting on Kafka would take that long.)
			if took > time.Second {
				t.Errorf("request %d took %v while Kafka was unavailable", i, took)
			}
		}
	}

	send(p, 0, 20)
	if got := consumeKeys(t, addr, 20); len(got) != 20 {
		t.Fatalf("records in Kafka = %d, want 20", len(got))
	}

	// Kafka goes away: records wait in the spool; the primary path does not notice.
	kafka.Close()
	send(p, 20, 50)
	waitFor(t, "30 spooled records", func() bool {
		return p.metric(t, `shadowproxy_records_total{outcome="spooled",sink="kafka"}`) >= 30
	})
	p.stop(t) // the spool stays on disk

	// Kafka comes back, and so does the proxy: what the spool held is delivered.
	kafka = broker(t, port, dataDir)
	p2 := startProxyFile(t, path)
	send(p2, 50, 60)
	if got := consumeKeys(t, addr, 60); len(got) != 60 {
		t.Fatalf("distinct records in Kafka after the outage and restart = %d, want 60", len(got))
	}
	p2.stop(t)
}
