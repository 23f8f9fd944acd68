package tee

import (
	"strings"
	"testing"
	"time"

	"github.com/shadowproxy/shadowproxy/compare"
	"github.com/shadowproxy/shadowproxy/proxy"
	"github.com/shadowproxy/shadowproxy/proxy/proxytest"
	"github.com/shadowproxy/shadowproxy/sink"
)

// BenchmarkRecord is the whole path of one disagreement record for the bench's shape, outside the
// network: buildRecord as a worker runs it (the job as process leaves it: shadow header set,
// credentials stripped) and Encode as the file sink's goroutine runs it. The primary's answer is
// bench/modelserver's ~1 KB one; the candidate's differs in two labels (two diffs). proc-cpu-ns/op
// is the process's CPU per record, the garbage collector's included.
func BenchmarkRecord(b *testing.B) {
	primary := benchAnswer("versicolor")
	cand := []byte(strings.Replace(string(primary), `"label":"versicolor"`, `"label":"virginica"`, 2))
	req, resp := exchange("bench-1", `{"instances":[[5.1,3.5,1.4,0.2],[6.7,3.0,5.2,2.3]]}`, string(primary))
	req.Header.Set("X-Forwarded-For", "127.0.0.1")
	red, err := newRedactor(RecordOptions{})
	if err != nil {
		b.Fatal(err)
	}
	cmp, err := compare.New(compare.Options{Format: compare.FormatAuto, Ignore: []string{"model_version"}})
	if err != nil {
		b.Fatal(err)
	}
	c := &candidate{shared: &shared{route: "bench", maxBody: 64 << 10, redact: red, strip: newStripper(nil, nil)}, name: "cand"}
	j := acquireJob()
	defer releaseJob(j)
	j.fill(offered(req, resp, time.Millisecond))
	j.req.Header.Set(proxy.ShadowHeader, "1")
	c.strip.strip(j)
	_, candResp := exchange("", "", string(cand))
	p, _ := j.primary(c.maxBody)
	cr, _ := j.candidate(candResp, c.maxBody)
	res := cmp.Compare(p, cr)
	if res.Outcome != compare.Disagree || len(res.Diffs) != 2 {
		b.Fatalf("outcome %v with %d diffs, want a disagreement with 2", res.Outcome, len(res.Diffs))
	}
	buf := make([]byte, 0, 8<<10)
	b.ReportAllocs()
	defer proxytest.ProcessCPUPerOp(b)() // the garbage collector's work included
	for b.Loop() {
		rec := c.buildRecord(j, candResp, nil, res, 2*time.Millisecond, sink.KindDisagreement, 1, "")
		buf = sink.Encode(buf[:0], rec)
	}
	b.SetBytes(int64(len(buf)))
}
