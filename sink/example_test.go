package sink_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/shadowproxy/shadowproxy/sink"
)

func ExampleEncode() {
	rec := &sink.Record{
		ID:        "req-1",
		Time:      time.Date(2026, 11, 22, 10, 0, 0, 0, time.UTC),
		Kind:      sink.KindDisagreement,
		Route:     "iris",
		Candidate: "iris-v2",
		Weight:    1,
		Request: sink.Request{
			Method: "POST", Path: "/v1/models/iris:predict",
			Body: sink.RequestBody([]byte(`{"instances": [[5.1, 3.5, 1.4, 0.2]]}`)),
		},
		PrimaryResponse:   sink.Response{Status: 200, LatencyMS: 3.1, Body: sink.ResponseBody([]byte(`{"predictions": [0]}`))},
		CandidateResponse: sink.Response{Status: 500, Body: sink.ResponseBody([]byte("internal error")), Error: "status 500"},
	}
	fmt.Println(string(sink.Encode(nil, rec)))
	// Output:
	// {"schema":"shadowproxy.record/v1","id":"req-1","time":"2026-11-22T10:00:00Z","kind":"disagreement","route":"iris","candidate":"iris-v2","weight":1,"request":{"method":"POST","path":"/v1/models/iris:predict","query":"","headers":{},"body":{"instances":[[5.1,3.5,1.4,0.2]]},"truncated":false},"primary_response":{"status":200,"latency_ms":3.1,"body":{"predictions":[0]}},"candidate_response":{"status":500,"latency_ms":0,"body":"internal error","error":"status 500"},"diff":null}
}

func ExampleCap() {
	body := []byte(`{"instances": [[1, 2, 3]]}`)
	capped, truncated := sink.Cap(body, 10)
	fmt.Println(string(sink.RequestBody(capped)), truncated)
	// Output: "eyJpbnN0YW5jZQ==" true
}

func ExampleNewFile() {
	dir, _ := os.MkdirTemp("", "records")
	defer os.RemoveAll(dir)
	metrics := sink.NewMetrics(prometheus.NewRegistry()) // once per process, shared by every sink

	s, err := sink.NewFile(sink.FileOptions{Path: filepath.Join(dir, "records.jsonl"), Metrics: metrics})
	if err != nil {
		fmt.Println(err)
		return
	}
	s.Write(&sink.Record{ID: "req-1", Kind: sink.KindAgreement, Route: "iris", Candidate: "iris-v2", Weight: 100})
	if err := s.Close(context.Background()); err != nil {
		fmt.Println(err)
	}
	b, _ := os.ReadFile(filepath.Join(dir, "records.jsonl"))
	fmt.Printf("%d bytes, ends in a newline: %v\n", len(b), b[len(b)-1] == '\n')
	// Output: 367 bytes, ends in a newline: true
}

func ExampleNewKafka() {
	metrics := sink.NewMetrics(prometheus.NewRegistry())
	k, err := sink.NewKafka(sink.KafkaOptions{
		Brokers:     []string{"127.0.0.1:9092"},
		Topic:       "shadowproxy.records",
		Compression: "zstd",
		Spool:       sink.SpoolOptions{Dir: "./spool", MaxBytes: 1 << 30},
		Metrics:     metrics,
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	// File and Kafka together.
	f, err := sink.NewFile(sink.FileOptions{Path: "./shadowproxy-records.jsonl", Metrics: metrics})
	if err != nil {
		fmt.Println(err)
		return
	}
	s := sink.NewMulti(f, k)
	s.Write(&sink.Record{ID: "req-1"})
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	_ = s.Close(ctx)
}
