// Command run benchmarks shadowproxy side by side with nginx's mirror module, in one run on one
// machine, and writes the results to bench/RESULTS.md.
//
//	go run ./bench/run [-duration 10s] [-rounds 3] [-connections 64] [-threads 2] [-pin]
//	go run ./bench/run -soak 10m
//
// It builds shadowproxy and the benchmark model server, starts on loopback a fast primary, a fast
// candidate and a candidate that answers after 50 ms, Debian's nginx (by hand, with its own prefix in a
// temporary directory) and three shadowproxies, then runs Debian's wrk against each scenario in
// alternating order over several rounds and reports medians. See bench/README.md.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"
	"time"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
}

// loadAvg is /proc/loadavg when the run started.
var loadAvg string

type options struct {
	duration    time.Duration
	rounds      int
	connections int
	threads     int
	pin         bool
	nginx, wrk  string
	grpc        bool
	ghz         string
	out         string
	soak        time.Duration
	sample      time.Duration
	only        string
	bin         string
	profile     string
}

func run() error {
	var o options
	flag.DurationVar(&o.duration, "duration", 10*time.Second, "length of one wrk run")
	flag.IntVar(&o.rounds, "rounds", 3, "rounds; each runs every scenario once, in rotated order")
	flag.IntVar(&o.connections, "connections", 64, "wrk connections")
	flag.IntVar(&o.threads, "threads", 2, "wrk threads")
	flag.BoolVar(&o.pin, "pin", false, "pin the load generator, the proxies and the models to separate CPUs with taskset")
	flag.StringVar(&o.nginx, "nginx", "nginx", "nginx binary")
	flag.StringVar(&o.wrk, "wrk", "wrk", "wrk binary")
	flag.BoolVar(&o.grpc, "grpc", false, "instead of the HTTP comparison, the gRPC scenarios (KServe v2 ModelInfer) driven by ghz")
	flag.StringVar(&o.ghz, "ghz", "ghz", "ghz binary (go install github.com/bojand/ghz/cmd/ghz@latest); GOPATH/bin is looked in too")
	flag.StringVar(&o.out, "out", "bench/RESULTS.md", "results file (the table is also printed)")
	flag.DurationVar(&o.soak, "soak", 0, "instead of the comparison, a soak run of this length with the 50 ms candidate and a Kafka outage in the middle")
	flag.DurationVar(&o.sample, "sample", 5*time.Second, "soak: sampling interval of memory, goroutines and fds")
	flag.StringVar(&o.only, "only", "", "run only the scenarios whose name contains this (or one of these, comma-separated)")
	flag.StringVar(&o.bin, "bin", "", "directory with prebuilt shadowproxy, modelserver and kfakebroker (default: go build them from the working tree)")
	flag.StringVar(&o.profile, "profile", "", "write a CPU profile of each shadowproxy scenario's first load to this directory (pprof on the admin listener)")
	flag.Parse()
	if b, err := os.ReadFile("/proc/loadavg"); err == nil {
		loadAvg = string(b)
	}

	if o.grpc && o.ghz == "ghz" {
		if _, err := exec.LookPath("ghz"); err != nil {
			if gp, err := exec.Command("go", "env", "GOPATH").Output(); err == nil {
				o.ghz = filepath.Join(strings.TrimSpace(string(gp)), "bin", "ghz")
			}
		}
	}
	if err := findTools(o); err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	dir, err := os.MkdirTemp("", "shadowproxy-bench-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	h := &harness{o: o, dir: dir, cpus: splitCPUs(runtime.NumCPU(), o.pin)}
	defer h.stopAll()
	if err := h.build(); err != nil {
		return err
	}
	if o.soak > 0 {
		return h.soakRun(ctx)
	}
	if o.grpc {
		return h.compareGRPC(ctx)
	}
	return h.compare(ctx)
}

// findTools checks that the load generator (and, for the comparison, nginx) can be run, with a hint
// at how to get them.
func findTools(o options) error {
	type tool struct{ flag, path, pkg string }
	if o.grpc {
		if _, err := exec.LookPath(o.ghz); err != nil {
			return fmt.Errorf("%s not found: go install github.com/bojand/ghz/cmd/ghz@latest, or point -ghz at it", o.ghz)
		}
		return nil
	}
	tools := []tool{{"-wrk", o.wrk, "wrk"}}
	if o.soak == 0 {
		tools = append(tools, tool{"-nginx", o.nginx, "nginx-core"})
	}
	if o.pin {
		tools = append(tools, tool{"", "taskset", "util-linux"})
	}
	for _, t := range tools {
		if _, err := exec.LookPath(t.path); err != nil {
			hint := "install Debian's " + t.pkg + " (apt-get install " + t.pkg + ")"
			if t.flag != "" {
				hint += " or point " + t.flag + " at it"
			}
			return fmt.Errorf("%s not found: %s", t.path, hint)
		}
	}
	return nil
}

// cpuSets are the taskset CPU lists of each role; empty lists mean no pinning.
type cpuSets struct{ load, proxy, models string }

// splitCPUs gives the load generator, the proxies and the models their own CPUs: on n CPUs, the
// proxies get n/2 (as many as nginx workers), the load generator a quarter and the models the rest.
func splitCPUs(n int, pin bool) cpuSets {
	if !pin || n < 4 {
		return cpuSets{}
	}
	proxy := n / 2
	load := max(1, n/4)
	return cpuSets{
		proxy:  fmt.Sprintf("0-%d", proxy-1),
		load:   fmt.Sprintf("%d-%d", proxy, proxy+load-1),
		models: fmt.Sprintf("%d-%d", proxy+load, n-1),
	}
}

func (c cpuSets) proxyCount() int {
	if c.proxy == "" {
		return runtime.NumCPU()
	}
	var a, b int
	fmt.Sscanf(c.proxy, "%d-%d", &a, &b)
	return b - a + 1
}
