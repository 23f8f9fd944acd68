package compare

import (
	"fmt"
	"runtime"
	"strings"
	"syscall"
	"testing"
	"time"
)

// benchAnswer is bench/modelserver's answer: about 1 KB of TensorFlow Serving predictions with a
// label, three scores and three classes each, and a model_version the bench's config ignores.
func benchAnswer(label string) []byte {
	one := fmt.Sprintf(`{"label":%q,"scores":[0.0123,0.9712,0.0165],"classes":["setosa","versicolor","virginica"]}`, label)
	n := max(1, 1024/(len(one)+1))
	return []byte(`{"predictions":[` + strings.TrimSuffix(strings.Repeat(one+",", n), ",") + `],"model_version":"1"}`)
}

// BenchmarkCompareBenchAnswer compares the bench's primary and candidate answers as the bench's
// config does (format auto, model_version ignored): identical (95% of the bench's requests) and
// with every label changed (the other 5%).
func BenchmarkCompareBenchAnswer(b *testing.B) {
	c, err := New(Options{Format: FormatAuto, Ignore: []string{"model_version"}})
	if err != nil {
		b.Fatal(err)
	}
	agree, disagree := benchAnswer("versicolor"), benchAnswer("virginica")
	for _, bc := range []struct {
		name string
		cand []byte
		want Outcome
	}{{"identical", agree, Agree}, {"labels-differ", disagree, Disagree}} {
		b.Run(bc.name, func(b *testing.B) {
			p := Response{Status: 200, ContentType: []byte("application/json"), Body: agree}
			q := Response{Status: 200, ContentType: []byte("application/json"), Body: bc.cand}
			b.SetBytes(int64(len(p.Body)))
			b.ReportAllocs()
			defer cpuPerOp(b)()
			for b.Loop() {
				if r := c.Compare(p, q); r.Outcome != bc.want {
					b.Fatal(r.Outcome, r.Reason)
				}
			}
		})
	}
}

// cpuPerOp reports the benchmark thread's CPU time (user and system) per iteration as cpu-ns/op:
// unlike ns/op it does not grow when other processes take the CPUs of a shared machine (the same
// as proxy/proxytest.CPUPerOp, which compare does not import). Linux only; elsewhere it reports
// nothing.
func cpuPerOp(b *testing.B) (stop func()) {
	runtime.LockOSThread()
	start, ok := threadCPU()
	return func() {
		end, ok2 := threadCPU()
		runtime.UnlockOSThread()
		if ok && ok2 && b.N > 0 {
			b.ReportMetric(float64(end-start)/float64(b.N), "cpu-ns/op")
		}
	}
}

func threadCPU() (time.Duration, bool) {
	var ru syscall.Rusage
	if err := syscall.Getrusage(1, &ru); err != nil { // 1: RUSAGE_THREAD
		return 0, false
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano()), true
}
