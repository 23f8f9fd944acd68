package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"
)

// scenario is one contender: a URL to load and the process whose memory is measured.
type scenario struct {
	name    string
	url     string
	pid     int    // 0: no proxy (direct)
	admin   string // shadowproxy's admin address ("" for the others)
	nginx   string // the nginx scenario doing the same job
	floor   string // the floor scenario doing the same job
	results []result
}

func (h *harness) compare(ctx context.Context) error {
	m, err := h.startModels()
	if err != nil {
		return err
	}
	na := nginxAddrs{Dir: h.dir, Primary: m.primary, Fast: m.fast, Slow: m.slow, Workers: h.cpus.proxyCount(), Root: os.Geteuid() == 0}
	for _, p := range []*string{&na.Proxy, &na.MirrorFast, &na.MirrorSlow} {
		if *p, err = freeAddr(); err != nil {
			return err
		}
	}
	var conf bytes.Buffer
	if err := renderNginx(&conf, na); err != nil {
		return err
	}
	confPath := filepath.Join(h.dir, "nginx.conf")
	if err := os.WriteFile(confPath, conf.Bytes(), 0o644); err != nil {
		return err
	}
	ng, err := h.start(h.cpus.proxy, h.o.nginx, "-e", filepath.Join(h.dir, "nginx-error.log"), "-p", h.dir, "-c", confPath)
	if err != nil {
		return err
	}
	for _, a := range []string{na.Proxy, na.MirrorFast, na.MirrorSlow} {
		if err := waitListening(a); err != nil {
			return fmt.Errorf("nginx: %w (see %s/nginx-error.log)", err, h.dir)
		}
	}
	spNone, adNone, pidNone, err := h.startShadowproxy("none", m.primary, "", "")
	if err != nil {
		return err
	}
	spFast, adFast, pidFast, err := h.startShadowproxy("fast", m.primary, m.fast, "")
	if err != nil {
		return err
	}
	spSlow, adSlow, pidSlow, err := h.startShadowproxy("slow", m.primary, m.slow, "")
	if err != nil {
		return err
	}
	flNone, fpNone, err := h.startFloor(m.primary, "", false)
	if err != nil {
		return err
	}
	flFast, fpFast, err := h.startFloor(m.primary, m.fast, false)
	if err != nil {
		return err
	}
	flSlow, fpSlow, err := h.startFloor(m.primary, m.slow, false)
	if err != nil {
		return err
	}
	const (
		floorNone = "floor (bare fasthttp), no candidate"
		floorFast = "floor (bare fasthttp) mirror 100%, fast candidate"
		floorSlow = "floor (bare fasthttp) mirror 100%, 50 ms candidate"
	)
	scenarios := []*scenario{
		{name: "direct (no proxy)", url: "http://" + m.primary},
		{name: "nginx proxy, no mirror", url: "http://" + na.Proxy, pid: ng.Process.Pid, nginx: "nginx proxy, no mirror"},
		{name: floorNone, url: "http://" + flNone, pid: fpNone},
		{name: "shadowproxy, no candidate", url: "http://" + spNone, pid: pidNone, admin: adNone, nginx: "nginx proxy, no mirror", floor: floorNone},
		{name: "nginx mirror 100%, fast candidate", url: "http://" + na.MirrorFast, pid: ng.Process.Pid, nginx: "nginx mirror 100%, fast candidate"},
		{name: floorFast, url: "http://" + flFast, pid: fpFast},
		{name: "shadowproxy mirror 100%, fast candidate", url: "http://" + spFast, pid: pidFast, admin: adFast, nginx: "nginx mirror 100%, fast candidate", floor: floorFast},
		{name: "nginx mirror 100%, 50 ms candidate", url: "http://" + na.MirrorSlow, pid: ng.Process.Pid, nginx: "nginx mirror 100%, 50 ms candidate"},
		{name: floorSlow, url: "http://" + flSlow, pid: fpSlow},
		{name: "shadowproxy mirror 100%, 50 ms candidate", url: "http://" + spSlow, pid: pidSlow, admin: adSlow, nginx: "nginx mirror 100%, 50 ms candidate", floor: floorSlow},
	}
	if h.o.only != "" {
		scenarios = slices.DeleteFunc(scenarios, func(s *scenario) bool { return !selected(s.name, h.o.only) })
	}
	script := filepath.Join(h.dir, "post.lua")
	if err := os.WriteFile(script, []byte(wrkScript), 0o644); err != nil {
		return err
	}
	for round := range h.o.rounds {
		for i := range scenarios {
			s := scenarios[(i+round)%len(scenarios)]
			if ctx.Err() != nil {
				return ctx.Err()
			}
			var profiled chan error
			if h.o.profile != "" && s.admin != "" && round == 0 {
				profiled = make(chan error, 1)
				go func() { profiled <- h.cpuProfile(s, h.o.duration) }()
			}
			cpu0 := cpuTime(s.pid)
			r, err := h.load(ctx, s.url, script, h.o.duration)
			if err != nil {
				return fmt.Errorf("%s: %w", s.name, err)
			}
			if s.pid != 0 && r.requests > 0 {
				r.cpuPerReq = float64((cpuTime(s.pid) - cpu0).Microseconds()) / float64(r.requests)
			}
			if profiled != nil {
				if err := <-profiled; err != nil {
					return fmt.Errorf("%s: profile: %w", s.name, err)
				}
			}
			r.rssKB = peakRSS(s.pid)
			s.results = append(s.results, r)
			fmt.Fprintf(os.Stderr, "round %d  %-50s %10.0f req/s  p50 %7.2f ms  p99 %7.2f ms  %6.1f µs CPU/req\n", round+1, s.name, r.rps, r.p50, r.p99, r.cpuPerReq)
		}
	}
	table := formatTable(scenarios)
	fmt.Println(table)
	return writeResults(h.o, table, "comparison")
}

// selected reports whether the scenario name contains one of the comma-separated parts of only.
func selected(name, only string) bool {
	for part := range strings.SplitSeq(only, ",") {
		if part != "" && strings.Contains(name, part) {
			return true
		}
	}
	return false
}

// cpuProfile saves a CPU profile of scenario s's shadowproxy, taken while wrk loads it for d (a
// second less, so the profile ends before the load does), as PROFILE/<scenario>.pprof.
func (h *harness) cpuProfile(s *scenario, d time.Duration) error {
	secs := max(1, int(d.Seconds())-1)
	c := http.Client{Timeout: time.Duration(secs)*time.Second + 30*time.Second}
	resp, err := c.Get(fmt.Sprintf("http://%s/debug/pprof/profile?seconds=%d", s.admin, secs))
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("%s: %s", resp.Request.URL, resp.Status)
	}
	if err := os.MkdirAll(h.o.profile, 0o755); err != nil {
		return err
	}
	name := strings.NewReplacer(" ", "-", ",", "", "%", "").Replace(s.name)
	f, err := os.Create(filepath.Join(h.o.profile, name+".pprof"))
	if err != nil {
		return err
	}
	if _, err := io.Copy(f, resp.Body); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// wrkScript makes wrk POST small JSON prediction requests, rotating over 256 different bodies so
// that the candidates' body-hash disagreement share (5%) applies to the load as to the inputs.
const wrkScript = `wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
local n, i, reqs = 256, 0, {}
request = function()
  i = i % n + 1
  local r = reqs[i]
  if r == nil then
    r = wrk.format(nil, nil, nil, string.format('{"instances":[[5.1,3.5,1.4,%d.2],[6.7,3.0,5.2,2.3]]}', i))
    reqs[i] = r
  end
  return r
end
`

type result struct {
	rps, p50, p99 float64 // p50 and p99 in milliseconds
	rssKB         int
	errors        int
	requests      int     // completed in the run (wrk's count)
	cpuPerReq     float64 // the proxy's CPU time (user+system, workers included) per request, µs; 0 direct
}

// load runs wrk once.
func (h *harness) load(ctx context.Context, url, script string, d time.Duration) (result, error) {
	args := []string{"-t", strconv.Itoa(h.o.threads), "-c", strconv.Itoa(h.o.connections), "-d", fmt.Sprintf("%ds", max(1, int(d.Seconds()))), "--latency", "-s", script, url}
	name := h.o.wrk
	if h.cpus.load != "" {
		args = append([]string{"-c", h.cpus.load, name}, args...)
		name = "taskset"
	}
	cctx, cancel := context.WithTimeout(ctx, d+30*time.Second)
	defer cancel()
	out, err := exec.CommandContext(cctx, name, args...).CombinedOutput()
	if err != nil {
		return result{}, fmt.Errorf("wrk: %w\n%s", err, out)
	}
	return parseWrk(out)
}

var (
	reRPS     = regexp.MustCompile(`Requests/sec:\s+([0-9.]+)`)
	reCount   = regexp.MustCompile(`(\d+) requests in`)
	rePct     = regexp.MustCompile(`(?m)^\s+(50|99)(?:\.000)?%\s+([0-9.]+)(us|ms|s)\s*$`)
	reErrors  = regexp.MustCompile(`Non-2xx or 3xx responses: (\d+)`)
	reSockets = regexp.MustCompile(`Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)`)
)

// parseWrk reads wrk's --latency report.
func parseWrk(out []byte) (result, error) {
	var r result
	m := reRPS.FindSubmatch(out)
	if m == nil {
		return r, fmt.Errorf("no Requests/sec in wrk output:\n%s", out)
	}
	r.rps, _ = strconv.ParseFloat(string(m[1]), 64)
	if m := reCount.FindSubmatch(out); m != nil {
		r.requests, _ = strconv.Atoi(string(m[1]))
	}
	for _, p := range rePct.FindAllSubmatch(out, -1) {
		v, _ := strconv.ParseFloat(string(p[2]), 64)
		switch string(p[3]) {
		case "us":
			v /= 1000
		case "s":
			v *= 1000
		}
		if string(p[1]) == "50" {
			r.p50 = v
		} else {
			r.p99 = v
		}
	}
	if m := reErrors.FindSubmatch(out); m != nil {
		r.errors, _ = strconv.Atoi(string(m[1]))
	}
	if m := reSockets.FindSubmatch(out); m != nil {
		for _, g := range m[1:] {
			n, _ := strconv.Atoi(string(g))
			r.errors += n
		}
	}
	return r, nil
}

// median returns the median of each figure over the rounds (peak RSS: the largest).
func median(rs []result) result {
	pick := func(f func(result) float64) float64 {
		v := make([]float64, len(rs))
		for i, r := range rs {
			v[i] = f(r)
		}
		slices.Sort(v)
		if len(v)%2 == 1 {
			return v[len(v)/2]
		}
		return (v[len(v)/2-1] + v[len(v)/2]) / 2
	}
	m := result{
		rps: pick(func(r result) float64 { return r.rps }),
		p50: pick(func(r result) float64 { return r.p50 }),
		p99: pick(func(r result) float64 { return r.p99 }),

		cpuPerReq: pick(func(r result) float64 { return r.cpuPerReq }),
	}
	for _, r := range rs {
		m.rssKB = max(m.rssKB, r.rssKB)
		m.errors += r.errors
	}
	return m
}
