package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"
)

// The gRPC comparison: KServe v2 ModelInfer calls driven by ghz (github.com/bojand/ghz) against the
// model directly and through shadowproxy's gRPC listener with no candidate, mirroring every call to a
// fast candidate, and to a 50 ms one. There is no nginx contender: nginx's mirror module does not
// mirror gRPC.

// protoFile is the KServe v2 .proto ghz encodes the calls with (the wire contract's ModelInfer).
const protoFile = "cmd/shadowproxy/testdata/kserve_v2.proto"

// ghzData is one ModelInfer request; the id varies per call, so the candidates' body-hash
// disagreements (5%) apply to the load.
const ghzData = `{"model_name":"bench","id":"{{.RequestNumber}}","inputs":[{"name":"x","datatype":"FP32","shape":[2,4],"contents":{"fp32_contents":[5.1,3.5,1.4,0.2,6.7,3.0,5.2,2.3]}}]}`

func (h *harness) compareGRPC(ctx context.Context) error {
	var m models
	for _, s := range []struct {
		addr  *string
		delay string
		dis   string
	}{{&m.primary, "0s", "0"}, {&m.fast, "0s", "0.05"}, {&m.slow, "50ms", "0.05"}} {
		addr, err := freeAddr()
		if err != nil {
			return err
		}
		if _, err := h.start(h.cpus.models, h.bin.model, "-grpc", "-addr", addr, "-delay", s.delay, "-disagree", s.dis); err != nil {
			return err
		}
		if err := waitListening(addr); err != nil {
			return err
		}
		*s.addr = addr
	}
	var scenarios []*scenario
	scenarios = append(scenarios, &scenario{name: "direct (no proxy)", url: m.primary})
	for _, s := range []struct{ name, floor, cand string }{
		{"shadowproxy, no candidate", "floor (bare grpc-go), no candidate", ""},
		{"shadowproxy mirror 100%, fast candidate", "floor (bare grpc-go) mirror 100%, fast candidate", m.fast},
		{"shadowproxy mirror 100%, 50 ms candidate", "floor (bare grpc-go) mirror 100%, 50 ms candidate", m.slow},
	} {
		addr, pid, err := h.startFloor(m.primary, s.cand, true)
		if err != nil {
			return err
		}
		scenarios = append(scenarios, &scenario{name: s.floor, url: addr, pid: pid})
		addr, admin, pid, err := h.startGRPCShadowproxy(strings.NewReplacer(" ", "-", ",", "", "%", "").Replace(s.name), m.primary, s.cand)
		if err != nil {
			return err
		}
		scenarios = append(scenarios, &scenario{name: s.name, url: addr, pid: pid, admin: admin, floor: s.floor})
	}
	if h.o.only != "" {
		scenarios = slices.DeleteFunc(scenarios, func(s *scenario) bool { return !selected(s.name, h.o.only) })
	}
	for round := range h.o.rounds {
		for i := range scenarios {
			s := scenarios[(i+round)%len(scenarios)]
			if ctx.Err() != nil {
				return ctx.Err()
			}
			cpu0 := cpuTime(s.pid)
			r, err := h.loadGRPC(ctx, s.url, h.o.duration)
			if err != nil {
				return fmt.Errorf("%s: %w", s.name, err)
			}
			if s.pid != 0 && r.requests > 0 {
				r.cpuPerReq = float64((cpuTime(s.pid) - cpu0).Microseconds()) / float64(r.requests)
			}
			r.rssKB = peakRSS(s.pid)
			s.results = append(s.results, r)
			fmt.Fprintf(os.Stderr, "round %d  grpc %-50s %10.0f req/s  p50 %7.2f ms  p99 %7.2f ms  %6.1f µs CPU/req\n", round+1, s.name, r.rps, r.p50, r.p99, r.cpuPerReq)
		}
	}
	table := formatTable(scenarios)
	fmt.Println(table)
	return writeResults(h.o, table, "grpc")
}

// grpcConf is a shadowproxy config with one gRPC route; candidate "" means no candidates.
func grpcConf(listen, grpcListen, admin, primary, candidate, records string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "listen: %q\ngrpc_listen: %q\nadmin: %q\nlog: {level: warn}\nreload: {watch: false}\nroutes:\n  - name: bench\n    match: {path_prefix: /inference.GRPCInferenceService/}\n    primary: {url: \"grpc://%s\", timeout: 2s}\n", listen, grpcListen, admin, primary)
	if candidate != "" {
		fmt.Fprintf(&b, "    candidates:\n      - {name: cand, url: \"grpc://%s\", sample: 100%%, timeout: 2s, concurrency: 64, queue: 1024}\n", candidate)
	}
	b.WriteString("    compare: {format: auto, ignore: [model_version, id]}\n    record: {disagreements: 100%, agreements: 0%}\nsinks:\n")
	fmt.Fprintf(&b, "  file: {path: %q, max_bytes: 64MiB, keep: 1}\n", records)
	return b.String()
}

func (h *harness) startGRPCShadowproxy(name, primary, candidate string) (grpcListen, admin string, pid int, err error) {
	var listen string
	for _, a := range []*string{&listen, &grpcListen, &admin} {
		if *a, err = freeAddr(); err != nil {
			return
		}
	}
	conf := grpcConf(listen, grpcListen, admin, primary, candidate, filepath.Join(h.dir, "grpc-"+name+"-records.jsonl"))
	pid, err = h.runShadowproxy("grpc-"+name, conf, grpcListen)
	return grpcListen, admin, pid, err
}

// loadGRPC runs ghz once: -connections concurrent calls over -threads connections.
func (h *harness) loadGRPC(ctx context.Context, addr string, d time.Duration) (result, error) {
	args := []string{"--insecure", "--proto", protoFile, "--call", "inference.GRPCInferenceService/ModelInfer",
		"-d", ghzData, "-c", strconv.Itoa(h.o.connections), "--connections", strconv.Itoa(h.o.threads),
		"-z", d.String(), "--duration-stop", "wait", "--cpus", strconv.Itoa(max(1, h.o.threads)), "-O", "json", addr}
	name := h.o.ghz
	if h.cpus.load != "" {
		args = append([]string{"-c", h.cpus.load, name}, args...)
		name = "taskset"
	}
	cctx, cancel := context.WithTimeout(ctx, d+30*time.Second)
	defer cancel()
	out, err := exec.CommandContext(cctx, name, args...).Output()
	if err != nil {
		return result{}, fmt.Errorf("ghz: %w\n%s", err, out)
	}
	return parseGhz(out)
}

// parseGhz reads ghz's JSON report (latencies in nanoseconds).
func parseGhz(out []byte) (result, error) {
	var rep struct {
		Count               int     `json:"count"`
		RPS                 float64 `json:"rps"`
		LatencyDistribution []struct {
			Percentage int     `json:"percentage"`
			Latency    float64 `json:"latency"`
		} `json:"latencyDistribution"`
		StatusCodeDistribution map[string]int `json:"statusCodeDistribution"`
	}
	if err := json.Unmarshal(out, &rep); err != nil {
		return result{}, fmt.Errorf("ghz report: %w\n%s", err, out)
	}
	r := result{rps: rep.RPS, requests: rep.Count}
	for _, l := range rep.LatencyDistribution {
		switch l.Percentage {
		case 50:
			r.p50 = l.Latency / 1e6
		case 99:
			r.p99 = l.Latency / 1e6
		}
	}
	for code, n := range rep.StatusCodeDistribution {
		if code != "OK" {
			r.errors += n
		}
	}
	return r, nil
}
