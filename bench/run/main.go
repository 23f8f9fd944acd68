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
	"bufio"
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"regexp"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"text/template"
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
	flag.StringVar(&o.out, "out", "bench/RESULTS.md", "results file (the table is also printed)")
	flag.DurationVar(&o.soak, "soak", 0, "instead of the comparison, a soak run of this length with the 50 ms candidate and a Kafka outage in the middle")
	flag.DurationVar(&o.sample, "sample", 5*time.Second, "soak: sampling interval of memory, goroutines and fds")
	flag.StringVar(&o.only, "only", "", "run only the scenarios whose name contains this")
	flag.StringVar(&o.bin, "bin", "", "directory with prebuilt shadowproxy, modelserver and kfakebroker (default: go build them from the working tree)")
	flag.StringVar(&o.profile, "profile", "", "write a CPU profile of each shadowproxy scenario's first load to this directory (pprof on the admin listener)")
	flag.Parse()
	if b, err := os.ReadFile("/proc/loadavg"); err == nil {
		loadAvg = string(b)
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
	return h.compare(ctx)
}

// findTools checks that the load generator (and, for the comparison, nginx) can be run, with a hint
// at how to get them.
func findTools(o options) error {
	type tool struct{ flag, path, pkg string }
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

type harness struct {
	o     options
	dir   string
	cpus  cpuSets
	procs []*exec.Cmd
	bin   struct{ proxy, model, broker string }
}

func (h *harness) build() error {
	binDir := h.dir
	if h.o.bin != "" {
		binDir = h.o.bin
	}
	h.bin.proxy = filepath.Join(binDir, "shadowproxy")
	h.bin.model = filepath.Join(binDir, "modelserver")
	h.bin.broker = filepath.Join(binDir, "kfakebroker")
	if h.o.bin != "" {
		for _, b := range []string{h.bin.proxy, h.bin.model, h.bin.broker} {
			if _, err := os.Stat(b); err != nil {
				return fmt.Errorf("-bin: %w", err)
			}
		}
		return nil
	}
	for pkg, out := range map[string]string{"./cmd/shadowproxy": h.bin.proxy, "./bench/modelserver": h.bin.model, "./sink/kfakebroker": h.bin.broker} {
		cmd := exec.Command("go", "build", "-o", out, pkg)
		cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
		if err := cmd.Run(); err != nil {
			return fmt.Errorf("build %s: %w", pkg, err)
		}
	}
	return nil
}

// start runs a long-lived process pinned to cpus, logging to a file in the work directory.
func (h *harness) start(cpus, name string, args ...string) (*exec.Cmd, error) {
	if cpus != "" {
		args = append([]string{"-c", cpus, name}, args...)
		name = "taskset"
	}
	cmd := exec.Command(name, args...)
	logf, err := os.Create(filepath.Join(h.dir, fmt.Sprintf("log-%d.txt", len(h.procs))))
	if err != nil {
		return nil, err
	}
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s: %w", name, err)
	}
	h.procs = append(h.procs, cmd)
	return cmd, nil
}

func (h *harness) stopAll() {
	for _, p := range h.procs {
		if p.Process != nil {
			_ = syscall.Kill(-p.Process.Pid, syscall.SIGKILL)
			_ = p.Wait()
		}
	}
	h.procs = nil
}

func freeAddr() (string, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer l.Close()
	return l.Addr().String(), nil
}

// waitListening waits until addr accepts connections.
func waitListening(addr string) error {
	deadline := time.Now().Add(15 * time.Second)
	for time.Now().Before(deadline) {
		c, err := net.DialTimeout("tcp", addr, 200*time.Millisecond)
		if err == nil {
			c.Close()
			return nil
		}
		time.Sleep(50 * time.Millisecond)
	}
	return fmt.Errorf("%s does not listen", addr)
}

// models are the three model servers.
type models struct{ primary, fast, slow string }

func (h *harness) startModels() (models, error) {
	var m models
	for _, s := range []struct {
		addr  *string
		delay string
		dis   string
	}{{&m.primary, "0s", "0"}, {&m.fast, "0s", "0.05"}, {&m.slow, "50ms", "0.05"}} {
		addr, err := freeAddr()
		if err != nil {
			return m, err
		}
		if _, err := h.start(h.cpus.models, h.bin.model, "-addr", addr, "-delay", s.delay, "-disagree", s.dis); err != nil {
			return m, err
		}
		if err := waitListening(addr); err != nil {
			return m, err
		}
		*s.addr = addr
	}
	return m, nil
}

// nginxConf is the nginx configuration: one server per scenario.
var nginxConf = template.Must(template.New("nginx").Parse(`# generated by bench/run
{{if .Root}}user root root;
{{end}}worker_processes {{.Workers}};
pid {{.Dir}}/nginx.pid;
error_log {{.Dir}}/nginx-error.log warn;
daemon off;
events { worker_connections 8192; }
http {
  access_log off;
  client_body_temp_path {{.Dir}}/client_body;
  proxy_temp_path {{.Dir}}/proxy;
  fastcgi_temp_path {{.Dir}}/fastcgi;
  uwsgi_temp_path {{.Dir}}/uwsgi;
  scgi_temp_path {{.Dir}}/scgi;
  keepalive_requests 1000000;
  upstream primary { server {{.Primary}}; keepalive 512; }
  upstream fast { server {{.Fast}}; keepalive 512; }
  upstream slow { server {{.Slow}}; keepalive 512; }
  server {
    listen {{.Proxy}};
    location / { proxy_pass http://primary; proxy_http_version 1.1; proxy_set_header Connection ""; }
  }
  server {
    listen {{.MirrorFast}};
    location / {
      mirror /mirror; mirror_request_body on;
      proxy_pass http://primary; proxy_http_version 1.1; proxy_set_header Connection "";
    }
    location = /mirror { internal; proxy_pass http://fast$request_uri; proxy_http_version 1.1; proxy_set_header Connection ""; }
  }
  server {
    listen {{.MirrorSlow}};
    location / {
      mirror /mirror; mirror_request_body on;
      proxy_pass http://primary; proxy_http_version 1.1; proxy_set_header Connection "";
    }
    location = /mirror { internal; proxy_pass http://slow$request_uri; proxy_http_version 1.1; proxy_set_header Connection ""; }
  }
}
`))

type nginxAddrs struct {
	Dir, Primary, Fast, Slow, Proxy, MirrorFast, MirrorSlow string
	Workers                                                 int
	Root                                                    bool
}

func renderNginx(w io.Writer, a nginxAddrs) error { return nginxConf.Execute(w, a) }

// shadowproxyConf is a shadowproxy config for one scenario; candidate "" means no candidates.
func shadowproxyConf(listen, admin, primary, candidate, records, kafka string, pprof bool) string {
	var b strings.Builder
	fmt.Fprintf(&b, "listen: %q\nadmin: %q\npprof: %t\nlog: {level: warn}\nreload: {watch: false}\nroutes:\n  - name: bench\n    match: {path_prefix: /}\n    primary: {url: \"http://%s\", timeout: 2s}\n", listen, admin, pprof, primary)
	if candidate != "" {
		fmt.Fprintf(&b, "    candidates:\n      - {name: cand, url: \"http://%s\", sample: 100%%, timeout: 2s, concurrency: 64, queue: 1024}\n", candidate)
	}
	b.WriteString("    compare: {format: auto, ignore: [model_version]}\n    record: {disagreements: 100%, agreements: 0%}\nsinks:\n")
	fmt.Fprintf(&b, "  file: {path: %q, max_bytes: 64MiB, keep: 1}\n", records)
	if kafka != "" {
		fmt.Fprintf(&b, "  kafka: {brokers: [%q], topic: shadowproxy.records, spool: {dir: %q, max_bytes: 256MiB}}\n", kafka, records+".spool")
	}
	return b.String()
}

// scenario is one contender: a URL to load and the process whose memory is measured.
type scenario struct {
	name    string
	url     string
	pid     int    // 0: no proxy (direct)
	admin   string // shadowproxy's admin address ("" for the others)
	nginx   string
	results []result
}

func (h *harness) startShadowproxy(name, primary, candidate, kafka string) (listen, admin string, pid int, err error) {
	if listen, err = freeAddr(); err != nil {
		return
	}
	if admin, err = freeAddr(); err != nil {
		return
	}
	cfg := filepath.Join(h.dir, name+".yaml")
	conf := shadowproxyConf(listen, admin, primary, candidate, filepath.Join(h.dir, name+"-records.jsonl"), kafka, h.o.profile != "")
	if err = os.WriteFile(cfg, []byte(conf), 0o600); err != nil {
		return
	}
	cmd, err := h.start(h.cpus.proxy, h.bin.proxy, "run", "-config", cfg)
	if err != nil {
		return
	}
	if err = waitListening(listen); err != nil {
		return
	}
	return listen, admin, cmd.Process.Pid, nil
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
	scenarios := []*scenario{
		{name: "direct (no proxy)", url: "http://" + m.primary},
		{name: "nginx proxy, no mirror", url: "http://" + na.Proxy, pid: ng.Process.Pid, nginx: "nginx proxy, no mirror"},
		{name: "shadowproxy, no candidate", url: "http://" + spNone, pid: pidNone, admin: adNone, nginx: "nginx proxy, no mirror"},
		{name: "nginx mirror 100%, fast candidate", url: "http://" + na.MirrorFast, pid: ng.Process.Pid, nginx: "nginx mirror 100%, fast candidate"},
		{name: "shadowproxy mirror 100%, fast candidate", url: "http://" + spFast, pid: pidFast, admin: adFast, nginx: "nginx mirror 100%, fast candidate"},
		{name: "nginx mirror 100%, 50 ms candidate", url: "http://" + na.MirrorSlow, pid: ng.Process.Pid, nginx: "nginx mirror 100%, 50 ms candidate"},
		{name: "shadowproxy mirror 100%, 50 ms candidate", url: "http://" + spSlow, pid: pidSlow, admin: adSlow, nginx: "nginx mirror 100%, 50 ms candidate"},
	}
	if h.o.only != "" {
		scenarios = slices.DeleteFunc(scenarios, func(s *scenario) bool { return !strings.Contains(s.name, h.o.only) })
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
			r, err := h.load(ctx, s.url, script, h.o.duration)
			if err != nil {
				return fmt.Errorf("%s: %w", s.name, err)
			}
			if profiled != nil {
				if err := <-profiled; err != nil {
					return fmt.Errorf("%s: profile: %w", s.name, err)
				}
			}
			r.rssKB = peakRSS(s.pid)
			s.results = append(s.results, r)
			fmt.Fprintf(os.Stderr, "round %d  %-42s %10.0f req/s  p50 %7.2f ms  p99 %7.2f ms\n", round+1, s.name, r.rps, r.p50, r.p99)
		}
	}
	table := formatTable(scenarios)
	fmt.Println(table)
	return writeResults(h.o, table, "comparison")
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

// peakRSS is the peak resident set (VmHWM) in KiB of the process and its children (nginx's
// workers), summed; 0 without a process.
func peakRSS(pid int) int {
	if pid == 0 {
		return 0
	}
	kb := procStatusKB(pid, "VmHWM:")
	for _, c := range children(pid) {
		kb += procStatusKB(c, "VmHWM:")
	}
	return kb
}

// children lists the processes whose parent is pid.
func children(pid int) []int {
	ents, _ := os.ReadDir("/proc")
	var out []int
	for _, e := range ents {
		c, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		if procStatusKB(c, "PPid:") == pid {
			out = append(out, c)
		}
	}
	return out
}

func procStatusKB(pid int, field string) int {
	if pid == 0 {
		return 0
	}
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if rest, ok := strings.CutPrefix(sc.Text(), field); ok {
			n, _ := strconv.Atoi(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(rest), "kB")))
			return n
		}
	}
	return 0
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
	}
	for _, r := range rs {
		m.rssKB = max(m.rssKB, r.rssKB)
		m.errors += r.errors
	}
	return m
}

// formatTable renders the medians with ratios to the matching nginx scenario and to direct.
func formatTable(ss []*scenario) string {
	med := map[string]result{}
	for _, s := range ss {
		if len(s.results) > 0 {
			med[s.name] = median(s.results)
		}
	}
	direct, hasDirect := med["direct (no proxy)"]
	var b strings.Builder
	b.WriteString("| scenario | req/s | p50 ms | p99 ms | peak RSS MB | errors | req/s vs nginx | p99 vs nginx | req/s vs direct |\n")
	b.WriteString("|---|---:|---:|---:|---:|---:|---:|---:|---:|\n")
	for _, s := range ss {
		r, ok := med[s.name]
		if !ok {
			continue
		}
		vsNginx, p99Nginx, vsDirect := "", "", ""
		if n, ok := med[s.nginx]; ok && s.nginx != s.name && n.rps > 0 && n.p99 > 0 {
			vsNginx = fmt.Sprintf("%.2fx", r.rps/n.rps)
			p99Nginx = fmt.Sprintf("%.2fx", r.p99/n.p99)
		}
		if hasDirect && direct.rps > 0 {
			vsDirect = fmt.Sprintf("%.2f", r.rps/direct.rps)
		}
		rss := ""
		if r.rssKB > 0 {
			rss = fmt.Sprintf("%.1f", float64(r.rssKB)/1024)
		}
		fmt.Fprintf(&b, "| %s | %.0f | %.2f | %.2f | %s | %d | %s | %s | %s |\n", s.name, r.rps, r.p50, r.p99, rss, r.errors, vsNginx, p99Nginx, vsDirect)
	}
	// The 50 ms candidate against shadowproxy's own no-candidate figures.
	if slow, ok := med["shadowproxy mirror 100%, 50 ms candidate"]; ok {
		if none, ok := med["shadowproxy, no candidate"]; ok && none.rps > 0 && none.p99 > 0 {
			fmt.Fprintf(&b, "\nshadowproxy with the 50 ms candidate vs without candidates: req/s %.2fx, p99 %.2fx.\n", slow.rps/none.rps, slow.p99/none.p99)
		}
	}
	if t := targets(med); t != "" {
		b.WriteString("\nTargets (issue 6):\n\n" + t)
	}
	return b.String()
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

// soakRun loads shadowproxy with the 50 ms candidate and a Kafka sink for o.soak, stops the broker for
// the middle third, and samples memory, goroutines and file descriptors.
func (h *harness) soakRun(ctx context.Context) error {
	m, err := h.startModels()
	if err != nil {
		return err
	}
	brokerAddr, err := freeAddr()
	if err != nil {
		return err
	}
	dataDir := filepath.Join(h.dir, "kafka-data")
	startBroker := func() (*exec.Cmd, error) {
		b, err := h.start(h.cpus.models, h.bin.broker, "-addr", brokerAddr, "-topic", "shadowproxy.records", "-data-dir", dataDir, "-stdin=false")
		if err != nil {
			return nil, err
		}
		return b, waitListening(brokerAddr)
	}
	broker, err := startBroker()
	if err != nil {
		return err
	}
	listen, admin, pid, err := h.startShadowproxy("soak", m.primary, m.slow, brokerAddr)
	if err != nil {
		return err
	}
	script := filepath.Join(h.dir, "post.lua")
	if err := os.WriteFile(script, []byte(wrkScript), 0o644); err != nil {
		return err
	}
	type loadOut struct {
		r   result
		err error
	}
	done := make(chan loadOut, 1)
	go func() {
		r, err := h.load(ctx, "http://"+listen, script, h.o.soak)
		done <- loadOut{r, err}
	}()
	var rows []string
	start := time.Now()
	tick := time.NewTicker(max(h.o.sample, time.Second))
	defer tick.Stop()
	outage := false
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case lo := <-done:
			if lo.err != nil {
				return lo.err
			}
			table := "| t | RSS MB | goroutines | open fds | Kafka | records to Kafka | spooled | in spool | dropped |\n|---:|---:|---:|---:|---|---:|---:|---:|---:|\n" + strings.Join(rows, "\n") +
				fmt.Sprintf("\n\nLoad: %.0f req/s, p50 %.2f ms, p99 %.2f ms, %d errors; peak RSS %.1f MB.\n", lo.r.rps, lo.r.p50, lo.r.p99, lo.r.errors, float64(peakRSS(pid))/1024)
			fmt.Println(table)
			return writeResults(h.o, table, "soak")
		case <-tick.C:
			el := time.Since(start)
			switch {
			case !outage && broker != nil && el > h.o.soak/3:
				_ = syscall.Kill(-broker.Process.Pid, syscall.SIGKILL)
				_ = broker.Wait()
				broker, outage = nil, true
			case outage && broker == nil && el > 2*h.o.soak/3:
				if broker, err = startBroker(); err != nil {
					return err
				}
			}
			state := "up"
			if broker == nil {
				state = "down"
			}
			fds, _ := os.ReadDir(fmt.Sprintf("/proc/%d/fd", pid))
			mt := scrape(admin)
			rows = append(rows, fmt.Sprintf("| %s | %.1f | %s | %d | %s | %s | %s | %s | %s |", el.Round(time.Second), float64(procStatusKB(pid, "VmRSS:"))/1024,
				metricSum(mt, "go_goroutines"), len(fds), state,
				metricSum(mt, "shadowproxy_records_total", `sink="kafka"`, `outcome="written"`),
				metricSum(mt, "shadowproxy_records_total", `outcome="spooled"`),
				metricSum(mt, "shadowproxy_spool_records"),
				metricSum(mt, "shadowproxy_records_total", `outcome="dropped"`)))
			fmt.Fprintln(os.Stderr, rows[len(rows)-1])
		}
	}
}

// scrape reads shadowproxy's /metrics as text; "" when it cannot.
func scrape(admin string) string {
	c := http.Client{Timeout: 2 * time.Second}
	resp, err := c.Get("http://" + admin + "/metrics")
	if err != nil {
		return ""
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 8<<20))
	return string(b)
}

// metricSum sums the samples of metric whose labels contain every one of labels (e.g.
// `outcome="spooled"`); "?" when the metrics text has none.
func metricSum(text, metric string, labels ...string) string {
	sum, found := 0.0, false
	for line := range strings.Lines(text) {
		rest, ok := strings.CutPrefix(line, metric)
		if !ok || (rest != "" && rest[0] != ' ' && rest[0] != '{') {
			continue
		}
		i := strings.LastIndexByte(rest, ' ')
		if i < 0 {
			continue
		}
		all := true
		for _, l := range labels {
			all = all && strings.Contains(rest[:i], l)
		}
		if v, err := strconv.ParseFloat(strings.TrimSpace(rest[i+1:]), 64); all && err == nil {
			sum, found = sum+v, true
		}
	}
	if !found {
		return "?"
	}
	return strconv.FormatFloat(sum, 'f', -1, 64)
}
