package proxytest

import (
	"runtime"
	"syscall"
	"testing"
	"time"
)

// rusageThread is Linux's RUSAGE_THREAD: the calling thread's times only.
const rusageThread = 1

// CPUPerOp reports, as the metric cpu-ns/op, the CPU time (user and system) the benchmark's own
// thread spent per iteration: unlike ns/op it does not grow when other processes take the CPUs of a
// shared machine. Call it before the loop and call the function it returns after; the benchmark's
// goroutine stays on its thread in between. Where the thread's times cannot be read (not Linux) it
// reports nothing.
func CPUPerOp(b *testing.B) (stop func()) {
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
	if err := syscall.Getrusage(rusageThread, &ru); err != nil {
		return 0, false
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano()), true
}

// ProcessCPUPerOp reports, as the metric proc-cpu-ns/op, the CPU time (user and system) of the whole
// test process per iteration: every goroutine's, the servers' a benchmark starts included. Call it
// before the loop and call the function it returns after. Elsewhere than Linux and the BSDs it may
// report nothing.
func ProcessCPUPerOp(b *testing.B) (stop func()) {
	start, ok := processCPU()
	return func() {
		end, ok2 := processCPU()
		if ok && ok2 && b.N > 0 {
			b.ReportMetric(float64(end-start)/float64(b.N), "proc-cpu-ns/op")
		}
	}
}

func processCPU() (time.Duration, bool) {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0, false
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano()), true
}
