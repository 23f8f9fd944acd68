package sink

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"
)

// TestKafkaMissingTopic: with create_topic off, a broker that creates topics on demand gets the
// records (the writer used to forbid it, so records spooled forever with "Unknown Topic Or
// Partition"); a broker that does not is logged once, not once per record, and the records wait in
// the spool.
func TestKafkaMissingTopic(t *testing.T) {
	tests := []struct {
		name      string
		cluster   []kfake.Opt
		delivered bool
	}{
		{"broker creates topics", []kfake.Opt{kfake.AllowAutoTopicCreation()}, true},
		{"broker refuses", nil, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := kfake.NewCluster(append([]kfake.Opt{kfake.NumBrokers(1), kfake.Ports(0)}, tt.cluster...)...)
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			addr := c.ListenAddrs()[0]
			core, logs := observer.New(zap.InfoLevel)
			m := NewMetrics(nil)
			k, err := NewKafka(KafkaOptions{
				Brokers: []string{addr}, Topic: "auto.records", Metrics: m, Logger: zap.New(core),
				Spool: SpoolOptions{Dir: t.TempDir()},
			})
			if err != nil {
				t.Fatal(err)
			}
			const n = 20
			for i := range n {
				k.Write(testRecord(fmt.Sprintf("req-%d", i)))
			}
			if tt.delivered {
				closeCtx(t, k)
				if got := distinctKeys(consumeTopic(t, addr, "auto.records", n)); len(got) != n {
					t.Fatalf("%d distinct keys, want %d", len(got), n)
				}
				if l := logs.FilterMessageSnippet("does not exist").Len(); l != 0 {
					t.Errorf("%d lines about a missing topic", l)
				}
				return
			}
			deadline := time.Now().Add(20 * time.Second)
			for logs.FilterMessageSnippet("does not exist").Len() == 0 && time.Now().Before(deadline) {
				time.Sleep(50 * time.Millisecond)
			}
			for i := range n { // more records, more failures: still one line
				k.Write(testRecord(fmt.Sprintf("late-%d", i)))
			}
			time.Sleep(time.Second)
			ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
			_ = k.Close(ctx) // the spool cannot drain: ctx ends
			cancel()
			missing := logs.FilterMessageSnippet("does not exist").All()
			if len(missing) != 1 {
				t.Fatalf("%d lines about the missing topic, want 1: %v", len(missing), logs.All())
			}
			if !strings.Contains(missing[0].Message, "create_topic") || missing[0].ContextMap()["topic"] != "auto.records" {
				t.Errorf("the line does not name the topic and the fix: %v", missing[0])
			}
		})
	}
}
