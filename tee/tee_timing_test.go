package tee

import (
	"context"
	"fmt"
	"hash/fnv"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/valyala/fasthttp"

	"github.com/shadowproxy/shadowproxy/compare"
	"github.com/shadowproxy/shadowproxy/proxy/proxytest"
	"github.com/shadowproxy/shadowproxy/sink"
)

// benchAnswer is bench/modelserver's ~1 KB answer.
func benchAnswer(label string) []byte {
	one := fmt.Sprintf(`{"label":%q,"scores":[0.0123,0.9712,0.0165],"classes":["setosa","versicolor","virginica"]}`, label)
	n := max(1, 1024/(len(one)+1))
	return []byte(`{"predictions":[` + strings.TrimSuffix(strings.Repeat(one+",", n), ",") + `],"model_version":"1"}`)
}

// BenchmarkTee mirrors exchanges as the bench's "mirror 100%, fast candidate" does: every exchange
// offered to a candidate on loopback that disagrees on 5% of the bodies (by hash, as
// bench/modelserver), compared (auto, model_version ignored), disagreements recorded to a file.
// One op is one exchange offered, sent, compared and counted; proc-cpu-ns/op is the whole
// process's CPU per exchange (the candidate server's included), robust to a shared machine.
func BenchmarkTee(b *testing.B) {
	agree, disagree := benchAnswer("versicolor"), benchAnswer("virginica")
	url := proxytest.Serve(b, func(ctx *fasthttp.RequestCtx) {
		h := fnv.New32a()
		h.Write(ctx.PostBody())
		body := agree
		if h.Sum32()%10000 < 500 {
			body = disagree
		}
		ctx.SetContentType("application/json")
		ctx.SetBody(body)
	})
	fs, err := sink.NewFile(sink.FileOptions{Path: filepath.Join(b.TempDir(), "records.jsonl"), MaxBytes: 64 << 20, Keep: 1})
	if err != nil {
		b.Fatal(err)
	}
	cmp, err := compare.New(compare.Options{Format: compare.FormatAuto, Ignore: []string{"model_version"}})
	if err != nil {
		b.Fatal(err)
	}
	stats := NewStats()
	tee, err := New(Options{
		Route:      "bench",
		Candidates: []CandidateOptions{{UpstreamOptions: UpstreamOptions{Name: "cand", URL: url, Timeout: 2 * time.Second, Concurrency: 64, Queue: 1024}, Sample: 1}},
		Comparator: cmp,
		Record:     RecordOptions{Disagreements: 1},
		Sink:       fs,
		Stats:      stats,
	})
	if err != nil {
		b.Fatal(err)
	}
	reqs := make([]*fasthttp.Request, 256)
	for i := range reqs {
		reqs[i], _ = exchange("", fmt.Sprintf(`{"instances":[[5.1,3.5,1.4,%d.2],[6.7,3.0,5.2,2.3]]}`, i+1), "")
		reqs[i].Header.Set("X-Request-Id", fmt.Sprintf("bench-%d", i))
	}
	resp := new(fasthttp.Response)
	resp.Header.SetContentType("application/json")
	resp.SetBody(agree)

	cs := stats.candidate("bench", "cand")
	// compared counts the exchanges whose comparison has been counted (the outcome is counted a
	// little before): the loop keeps at most a batch in flight, so nothing is dropped.
	compared := func() int64 {
		var n int64
		for i := range cs.results {
			n += cs.results[i].Load()
		}
		return n
	}
	const batch = 512 // half the queue
	b.ReportAllocs()
	stop := proxytest.ProcessCPUPerOp(b)
	i := 0
	for b.Loop() {
		if i%batch == 0 {
			for compared() < int64(i-batch) {
				time.Sleep(50 * time.Microsecond)
			}
		}
		if !tee.Offer(offered(reqs[i%len(reqs)], resp, time.Millisecond)) {
			b.Fatal("an exchange was dropped")
		}
		i++
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := tee.Close(ctx); err != nil {
		b.Fatal(err)
	}
	stop()
	if err := fs.Close(ctx); err != nil {
		b.Fatal(err)
	}
	if n := cs.results[compare.Agree].Load() + cs.results[compare.Disagree].Load(); n < int64(i) {
		b.Fatalf("%d of %d exchanges compared", n, i)
	}
}

// BenchmarkStrip is the credential stripping of one shadow request with the headers of a typical
// client (no credentials, as the bench's wrk) and with a bearer token and an API key.
func BenchmarkStrip(b *testing.B) {
	for _, bc := range []struct {
		name  string
		creds map[string]string
	}{{"none", nil}, {"two", map[string]string{"Authorization": "Bearer t", "X-Api-Key": "k"}}} {
		b.Run(bc.name, func(b *testing.B) {
			var src fasthttp.Request
			src.Header.SetMethod("POST")
			src.SetRequestURI("/v1/models/m:predict")
			src.Header.SetHost("127.0.0.1:8080")
			src.Header.SetContentType("application/json")
			for _, h := range []string{"X-Request-Id", "X-Forwarded-For", "X-Forwarded-Proto", "X-Forwarded-Host"} {
				src.Header.Set(h, "v")
			}
			for k, v := range bc.creds {
				src.Header.Set(k, v)
			}
			s := newStripper(nil, nil)
			j := acquireJob()
			b.ReportAllocs()
			defer proxytest.CPUPerOp(b)()
			for b.Loop() {
				src.Header.CopyTo(&j.req.Header)
				j.nstrip = 0
				if m := s.strip(j); (m != 0) != (len(bc.creds) > 0) {
					b.Fatal("mask", m)
				}
			}
		})
	}
}

// BenchmarkTruthObserve is the ground-truth bookkeeping of one exchange as process runs it on a
// route without ground truth configured (the Truth exists whenever cmd runs the proxy).
func BenchmarkTruthObserve(b *testing.B) {
	tr := NewTruth(prometheus.NewRegistry())
	id := []byte("0123456789abcdef-0123")
	p, c := answerLabel(1), answerLabel(2)
	b.ReportAllocs()
	for b.Loop() {
		tr.observe("bench", "cand", id, p, c)
	}
}
