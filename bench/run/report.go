package main

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"regexp"
	"runtime"
	"strings"
	"time"
)

// formatTable renders the medians with ratios to the matching nginx scenario, to the matching floor
// scenario (bench/floor) and to direct.
func formatTable(ss []*scenario) string {
	med := map[string]result{}
	rounds := map[string][]result{}
	for _, s := range ss {
		if len(s.results) > 0 {
			med[s.name] = median(s.results)
			rounds[s.name] = s.results
		}
	}
	direct, hasDirect := med["direct (no proxy)"]
	var b strings.Builder
	b.WriteString("| scenario | req/s | p50 ms | p99 ms | CPU µs/req | peak RSS MB | errors | req/s vs nginx | p99 vs nginx | req/s vs floor | p99 vs floor | CPU vs floor | req/s vs direct |\n")
	b.WriteString("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n")
	for _, s := range ss {
		r, ok := med[s.name]
		if !ok {
			continue
		}
		vsNginx, p99Nginx := ratios(r, med, s.nginx, s.name)
		vsFloor, p99Floor := ratios(r, med, s.floor, s.name)
		if vsFloor != "" {
			if lo, hi, ok := roundRange(rounds[s.name], rounds[s.floor], func(r result) float64 { return r.rps }); ok {
				vsFloor += fmt.Sprintf(" (%.2f-%.2f)", lo, hi)
			}
		}
		cpu, cpuFloor := "", ""
		if r.cpuPerReq > 0 {
			cpu = fmt.Sprintf("%.1f", r.cpuPerReq)
			if f, ok := med[s.floor]; ok && f.cpuPerReq > 0 && s.floor != s.name {
				cpuFloor = fmt.Sprintf("%.2fx", r.cpuPerReq/f.cpuPerReq)
			}
		}
		vsDirect := ""
		if hasDirect && direct.rps > 0 {
			vsDirect = fmt.Sprintf("%.2f", r.rps/direct.rps)
		}
		rss := ""
		if r.rssKB > 0 {
			rss = fmt.Sprintf("%.1f", float64(r.rssKB)/1024)
		}
		fmt.Fprintf(&b, "| %s | %.0f | %.2f | %.2f | %s | %s | %d | %s | %s | %s | %s | %s | %s |\n", s.name, r.rps, r.p50, r.p99, cpu, rss, r.errors, vsNginx, p99Nginx, vsFloor, p99Floor, cpuFloor, vsDirect)
	}
	// The 50 ms candidate against shadowproxy's own no-candidate figures.
	if slow, ok := med["shadowproxy mirror 100%, 50 ms candidate"]; ok {
		if none, ok := med["shadowproxy, no candidate"]; ok && none.rps > 0 && none.p99 > 0 {
			fmt.Fprintf(&b, "\nshadowproxy with the 50 ms candidate vs without candidates: req/s %.2fx, p99 %.2fx.\n", slow.rps/none.rps, slow.p99/none.p99)
		}
	}
	if t := targets(med); t != "" {
		b.WriteString("\nTargets:\n\n" + t)
	}
	return b.String()
}

// roundRange is the smallest and largest per-round ratio of f between two scenarios' rounds (round i
// of one against round i of the other: the rounds alternate, so neighbours share the machine's
// state); ok is false when they have no rounds in common.
func roundRange(a, b []result, f func(result) float64) (lo, hi float64, ok bool) {
	for i := range min(len(a), len(b)) {
		if f(b[i]) <= 0 {
			continue
		}
		r := f(a[i]) / f(b[i])
		if !ok || r < lo {
			lo = r
		}
		if !ok || r > hi {
			hi = r
		}
		ok = true
	}
	return lo, hi, ok
}

// ratios are r's req/s and p99 as multiples of the scenario named other ("" when it did not run, is
// r's own, or has no figures).
func ratios(r result, med map[string]result, other, self string) (rps, p99 string) {
	o, ok := med[other]
	if !ok || other == self || o.rps <= 0 || o.p99 <= 0 {
		return "", ""
	}
	return fmt.Sprintf("%.2fx", r.rps/o.rps), fmt.Sprintf("%.2fx", r.p99/o.p99)
}

// targets checks the ratio targets on the medians, one line each, for the scenarios that ran.
func targets(med map[string]result) string {
	var b strings.Builder
	check := func(desc string, ok bool, detail string) {
		verdict := "met"
		if !ok {
			verdict = "NOT met"
		}
		fmt.Fprintf(&b, "- %s: %s (%s)\n", desc, verdict, detail)
	}
	vs := func(a, n string) (result, result, bool) {
		x, ok1 := med[a]
		y, ok2 := med[n]
		return x, y, ok1 && ok2 && y.rps > 0 && y.p99 > 0
	}
	if sp, ng, ok := vs("shadowproxy mirror 100%, fast candidate", "nginx mirror 100%, fast candidate"); ok {
		check("mirror 100% to a fast candidate: req/s >= 2x nginx mirror, p99 no worse", sp.rps >= 2*ng.rps && sp.p99 <= ng.p99,
			fmt.Sprintf("req/s %.2fx, p99 %.2fx", sp.rps/ng.rps, sp.p99/ng.p99))
	}
	if slow, none, ok := vs("shadowproxy mirror 100%, 50 ms candidate", "shadowproxy, no candidate"); ok {
		check("50 ms candidate: req/s >= 0.8x and p99 <= 1.3x shadowproxy without candidates", slow.rps >= 0.8*none.rps && slow.p99 <= 1.3*none.p99,
			fmt.Sprintf("req/s %.2fx, p99 %.2fx", slow.rps/none.rps, slow.p99/none.p99))
	}
	if sp, ng, ok := vs("shadowproxy, no candidate", "nginx proxy, no mirror"); ok {
		check("no candidates: req/s >= nginx proxy, p99 no worse", sp.rps >= ng.rps && sp.p99 <= ng.p99,
			fmt.Sprintf("req/s %.2fx, p99 %.2fx", sp.rps/ng.rps, sp.p99/ng.p99))
	}
	if sp, fl, ok := vs("shadowproxy, no candidate", "floor (bare fasthttp), no candidate"); ok {
		check("no candidates: req/s >= 0.95x the floor (bare fasthttp proxy)", sp.rps >= 0.95*fl.rps,
			fmt.Sprintf("req/s %.2fx, p99 %.2fx", sp.rps/fl.rps, sp.p99/fl.p99))
	}
	if sp, fl, ok := vs("shadowproxy mirror 100%, fast candidate", "floor (bare fasthttp) mirror 100%, fast candidate"); ok {
		check("mirror 100% to a fast candidate, comparing and recording: req/s >= 0.90x the floor (bare fasthttp mirror)", sp.rps >= 0.90*fl.rps,
			fmt.Sprintf("req/s %.2fx, p99 %.2fx", sp.rps/fl.rps, sp.p99/fl.p99))
	}
	if sp, fl, ok := vs("shadowproxy, no candidate", "floor (bare grpc-go), no candidate"); ok {
		check("gRPC, no candidates: req/s >= 0.95x the floor (bare grpc-go proxy)", sp.rps >= 0.95*fl.rps,
			fmt.Sprintf("req/s %.2fx, p99 %.2fx", sp.rps/fl.rps, sp.p99/fl.p99))
	}
	if sp, fl, ok := vs("shadowproxy mirror 100%, fast candidate", "floor (bare grpc-go) mirror 100%, fast candidate"); ok {
		check("gRPC, mirror 100% to a fast candidate, comparing and recording: req/s >= 0.90x the floor (bare grpc-go mirror)", sp.rps >= 0.90*fl.rps,
			fmt.Sprintf("req/s %.2fx, p99 %.2fx", sp.rps/fl.rps, sp.p99/fl.p99))
	}
	if slow, ok := med["shadowproxy mirror 100%, 50 ms candidate"]; ok && slow.rssKB > 0 {
		check("peak RSS <= 100 MB with the 50 ms candidate", slow.rssKB <= 100*1024, fmt.Sprintf("%.1f MB", float64(slow.rssKB)/1024))
	}
	return b.String()
}

// machine describes where and how the benchmark ran, with the load average when it started (other
// work on the machine makes the figures noisy, p99 first).
func machine(o options, kind string) string {
	cpu := "unknown CPU"
	if data, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		if m := regexp.MustCompile(`(?m)^model name\s*:\s*(.+)$`).FindSubmatch(data); m != nil {
			cpu = string(m[1])
		}
	}
	version := func(name string, args ...string) string {
		out, _ := exec.Command(name, args...).CombinedOutput() // wrk -v exits 1 after printing its version
		if len(out) == 0 {
			return name + " not found"
		}
		return strings.TrimSpace(strings.SplitN(string(out), "\n", 2)[0])
	}
	run := fmt.Sprintf("wrk -t%d -c%d, %s per run, %d rounds", o.threads, o.connections, o.duration, o.rounds)
	if kind == "grpc" {
		run = fmt.Sprintf("ghz -c%d --connections %d, %s per run, %d rounds", o.connections, o.threads, o.duration, o.rounds)
	}
	if kind == "soak" {
		run = fmt.Sprintf("soak %s, wrk -t%d -c%d, sampled every %s", o.soak, o.threads, o.connections, max(o.sample, time.Second))
	}
	load := "?"
	if f := strings.Fields(loadAvg); len(f) >= 3 {
		load = strings.Join(f[:3], " ")
	}
	return fmt.Sprintf("%s, %d CPUs (%s), %s; %s; %s; %s; %s, pinning %v; load average at start %s",
		time.Now().UTC().Format("2006-01-02 15:04 MST"), runtime.NumCPU(), cpu, runtime.Version(),
		version(o.nginx, "-v"), strings.TrimSuffix(version(o.wrk, "-v"), " Copyright (C) 2012 Will Glozer"), version("uname", "-sr"),
		run, o.pin, load)
}

// writeResults replaces the section of out between the markers of kind with the new table.
func writeResults(o options, table, kind string) error {
	begin, end := "<!-- bench:"+kind+":begin -->", "<!-- bench:"+kind+":end -->"
	section := begin + "\n" + machine(o, kind) + "\n\n" + table + "\n" + end
	old, err := os.ReadFile(o.out)
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return err
	}
	s := string(old)
	if i, j := strings.Index(s, begin), strings.Index(s, end); i >= 0 && j > i {
		s = s[:i] + section + s[j+len(end):]
	} else {
		s += "\n" + section + "\n"
	}
	return os.WriteFile(o.out, []byte(s), 0o644)
}
