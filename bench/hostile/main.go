//go:build linux

// Command hostile runs a shadowproxy binary against sloppy and hostile model servers on loopback and
// reports its peak RSS and CPU, the primary's latency and the error counts: the figures of the
// README's "Security and reliability" section.
//
//	go build -o /tmp/shadowproxy ./cmd/shadowproxy
//	go run ./bench/hostile -bin /tmp/shadowproxy -scenario bombs                 # zstd, 16 x 1 GiB, 4 at once
//	go run ./bench/hostile -bin /tmp/shadowproxy -scenario bombs -enc gzip -bomb 66060288 -bombs 32 -conc 16
//	go run ./bench/hostile -bin /tmp/shadowproxy -scenario endless [-baseline]   # 300 requests, endless candidate body
//	go run ./bench/hostile -bin /tmp/shadowproxy -scenario idle [-idle_timeout 1m] # upstreams closing idle conns after 2s
//
// Every run is bounded (request counts, a 1 GiB cap on the endless body) and kills the binary at its
// end. Linux only: it reads /proc.
package main

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

func zstdRLEBomb(size int) []byte {
	b := []byte{0x28, 0xb5, 0x2f, 0xfd, 0x00, 13 << 3}
	for size > 0 {
		n := min(size, 128<<10)
		size -= n
		h := uint32(n)<<3 | 1<<1
		if size == 0 {
			h |= 1
		}
		b = append(b, byte(h), byte(h>>8), byte(h>>16), 'a')
	}
	return b
}

func serve(h http.Handler, idle time.Duration) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		panic(err)
	}
	s := &http.Server{Handler: h, IdleTimeout: idle}
	go s.Serve(ln)
	return "http://" + ln.Addr().String()
}

type proc struct {
	cmd           *exec.Cmd
	listen, admin string
}

func start(bin, cfg string) *proc {
	dir, _ := os.MkdirTemp("", "measure")
	path := filepath.Join(dir, "c.yaml")
	os.WriteFile(path, []byte(strings.ReplaceAll(cfg, "RECORDS", filepath.Join(dir, "r.jsonl"))), 0o600)
	p := &proc{cmd: exec.Command(bin, "run", "-config", path)}
	// The binary dies with the harness, also when the harness is killed (its output piped to head).
	p.cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	stderr, _ := p.cmd.StderrPipe()
	if err := p.cmd.Start(); err != nil {
		panic(err)
	}
	started := make(chan struct{})
	go func() {
		sc := bufio.NewScanner(stderr)
		sc.Buffer(make([]byte, 1<<20), 1<<20)
		once := sync.Once{}
		for sc.Scan() {
			var l struct{ Msg, Listen, Admin string }
			if json.Unmarshal(sc.Bytes(), &l) == nil && l.Msg == "started" {
				p.listen, p.admin = l.Listen, l.Admin
				once.Do(func() { close(started) })
			}
		}
	}()
	select {
	case <-started:
	case <-time.After(20 * time.Second):
		panic("not started")
	}
	return p
}

func (p *proc) peakRSS() int64 {
	b, _ := os.ReadFile(fmt.Sprintf("/proc/%d/status", p.cmd.Process.Pid))
	for _, l := range strings.Split(string(b), "\n") {
		if rest, ok := strings.CutPrefix(l, "VmHWM:"); ok {
			kb, _ := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 10, 64)
			return kb >> 10
		}
	}
	return -1
}

// cpu returns the process's user+system CPU seconds.
func (p *proc) cpu() float64 {
	b, _ := os.ReadFile(fmt.Sprintf("/proc/%d/stat", p.cmd.Process.Pid))
	f := strings.Fields(string(b[bytes.LastIndexByte(b, ')')+2:]))
	u, _ := strconv.ParseFloat(f[11], 64)
	s, _ := strconv.ParseFloat(f[12], 64)
	return (u + s) / 100
}

func (p *proc) metrics(prefix string) string {
	resp, err := http.Get("http://" + p.admin + "/metrics")
	if err != nil {
		return err.Error()
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	var out []string
	for _, l := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(l, prefix) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}

var client = &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 64, DisableCompression: true}, Timeout: 30 * time.Second}

func post(url, body string) (int, time.Duration) {
	start := time.Now()
	resp, err := client.Post(url, "application/json", strings.NewReader(body))
	if err != nil {
		return -1, time.Since(start)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode, time.Since(start)
}

func pct(d []time.Duration, q float64) time.Duration {
	if len(d) == 0 {
		return 0
	}
	sort.Slice(d, func(i, j int) bool { return d[i] < d[j] })
	return d[int(q*float64(len(d)-1))]
}

// steady sends normal requests one after another until stop, returning their latencies and the count of non-200s.
func steady(url string, stop chan struct{}) ([]time.Duration, int) {
	var lat []time.Duration
	bad := 0
	for {
		select {
		case <-stop:
			return lat, bad
		default:
		}
		code, d := post(url, `{"x":1}`)
		if code != 200 {
			bad++
		}
		lat = append(lat, d)
		time.Sleep(5 * time.Millisecond)
	}
}

const cfgTmpl = `listen: "127.0.0.1:0"
admin: "127.0.0.1:0"
log: {level: info, format: json}
routes:
  - name: iris
    match: {path_prefix: /v1/models/iris, methods: [POST]}
    primary: {url: %q, timeout: 30s}
    candidates:
      - {name: iris-v2, url: %q, sample: 100%%, timeout: 10s}
    compare: {format: raw}
    record: {disagreements: 100%%, agreements: 0%%}
sinks:
  file: {path: RECORDS}
`

func main() {
	bin := flag.String("bin", "", "shadowproxy binary")
	scenario := flag.String("scenario", "bombs", "bombs | endless | idle")
	bombSize := flag.Int("bomb", 1<<30, "bytes a bomb expands to")
	bombs := flag.Int("bombs", 16, "bomb requests")
	conc := flag.Int("conc", 4, "bombs at once")
	enc := flag.String("enc", "zstd", "zstd | gzip")
	candidate := flag.String("candidate", "", "endless: the candidate's URL (one run with -scenario serve-endless, e.g. under nice) instead of one in this process")
	addr := flag.String("addr", "127.0.0.1:0", "serve-endless: the address to listen on")
	idleTimeout := flag.String("idle_timeout", "", "idle: the upstreams' idle_timeout")
	baseline := flag.Bool("baseline", false, "endless: a normal candidate instead")
	flag.Parse()
	normal := []byte(`{"predictions":[1]}`)
	switch *scenario {
	case "bombs":
		bomb := zstdRLEBomb(*bombSize)
		if *enc == "gzip" {
			var buf bytes.Buffer
			zw, _ := gzip.NewWriterLevel(&buf, gzip.BestCompression)
			zeros := make([]byte, 1<<20)
			for n := *bombSize; n > 0; n -= len(zeros) {
				zw.Write(zeros)
			}
			zw.Close()
			bomb = buf.Bytes()
		}
		primary := serve(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			b, _ := io.ReadAll(r.Body)
			w.Header().Set("Content-Type", "application/json")
			if bytes.Equal(b, []byte(`{"bomb":true}`)) {
				w.Header().Set("Content-Encoding", *enc)
				w.Write(bomb)
				return
			}
			w.Write(normal)
		}), 0)
		cand := serve(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "application/json")
			w.Write(normal)
		}), 0)
		p := start(*bin, fmt.Sprintf(cfgTmpl, primary, cand))
		url := "http://" + p.listen + "/v1/models/iris:predict"
		stop := make(chan struct{})
		var lat []time.Duration
		var bad int
		done := make(chan struct{})
		go func() { lat, bad = steady(url, stop); close(done) }()
		sem := make(chan struct{}, *conc)
		var wg sync.WaitGroup
		var bombBad atomic.Int64
		t0 := time.Now()
		for range *bombs {
			wg.Add(1)
			sem <- struct{}{}
			go func() {
				defer wg.Done()
				defer func() { <-sem }()
				if code, _ := post(url, `{"bomb":true}`); code != 200 {
					bombBad.Add(1)
				}
			}()
		}
		wg.Wait()
		took := time.Since(t0)
		time.Sleep(3 * time.Second) // shadows finish
		close(stop)
		<-done
		fmt.Printf("bombs: %d %s of %d MiB (%d KiB each, %d at once) in %v; bomb non-200: %d\n", *bombs, *enc, *bombSize>>20, len(bomb)>>10, *conc, took.Round(time.Millisecond), bombBad.Load())
		fmt.Printf("other clients: %d requests, non-200 %d, p50 %v p99 %v\n", len(lat), bad, pct(lat, 0.5), pct(lat, 0.99))
		fmt.Printf("peak RSS %d MiB, proxy CPU %.2fs\n%s\n", p.peakRSS(), p.cpu(), p.metrics("shadowproxy_shadow_drops_total"))
		p.cmd.Process.Kill()
	case "endless":
		primary := serve(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "application/json")
			w.Write(normal)
		}), 0)
		chunk := bytes.Repeat([]byte("a"), 32<<10)
		cand := *candidate
		if cand == "" {
			cand = serve(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Content-Type", "application/json")
				if *baseline {
					w.Write(normal)
					return
				}
				f := w.(http.Flusher)
				for range (1 << 30) / len(chunk) { // 1 GiB at most
					if _, err := w.Write(chunk); err != nil {
						return
					}
					f.Flush()
				}
			}), 0)
		}
		p := start(*bin, fmt.Sprintf(cfgTmpl, primary, cand))
		url := "http://" + p.listen + "/v1/models/iris:predict"
		var mu sync.Mutex
		var lat []time.Duration
		bad := 0
		var wg sync.WaitGroup
		sem := make(chan struct{}, 8)
		t0 := time.Now()
		for range 300 {
			wg.Add(1)
			sem <- struct{}{}
			go func() {
				defer wg.Done()
				defer func() { <-sem }()
				code, d := post(url, `{"x":1}`)
				mu.Lock()
				lat = append(lat, d)
				if code != 200 {
					bad++
				}
				mu.Unlock()
			}()
		}
		wg.Wait()
		took := time.Since(t0)
		time.Sleep(5 * time.Second)
		fmt.Printf("endless candidate: 300 client requests (8 at once) in %v, non-200 %d, primary p50 %v p99 %v\n", took.Round(time.Millisecond), bad, pct(lat, 0.5), pct(lat, 0.99))
		fmt.Printf("peak RSS %d MiB, proxy CPU %.2fs\n%s\n", p.peakRSS(), p.cpu(), p.metrics("shadowproxy_shadow_requests_total"))
		p.cmd.Process.Kill()
	case "serve-endless":
		ln, err := net.Listen("tcp", *addr)
		if err != nil {
			panic(err)
		}
		chunk := bytes.Repeat([]byte("a"), 32<<10)
		fmt.Println("http://" + ln.Addr().String())
		http.Serve(ln, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "application/json")
			for range (1 << 30) / len(chunk) {
				if _, err := w.Write(chunk); err != nil {
					return
				}
				w.(http.Flusher).Flush()
			}
		}))
	case "idle":
		h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			b, _ := io.ReadAll(r.Body)
			w.Header().Set("Content-Type", "application/json")
			w.Write(b)
		})
		primary, cand := serve(h, 2*time.Second), serve(h, 2*time.Second) // gunicorn's keep-alive
		cfg := fmt.Sprintf(cfgTmpl, primary, cand)
		if *idleTimeout != "" {
			cfg = strings.Replace(cfg, "timeout: 30s}", "timeout: 30s, idle_timeout: "+*idleTimeout+"}", 1)
			cfg = strings.Replace(cfg, "timeout: 10s}", "timeout: 10s, idle_timeout: "+*idleTimeout+"}", 1)
		}
		p := start(*bin, cfg)
		url := "http://" + p.listen + "/v1/models/iris:predict"
		var codes sync.Map
		var n5xx atomic.Int64
		for burst := range 5 {
			var wg sync.WaitGroup
			for i := range 16 {
				wg.Add(1)
				go func() {
					defer wg.Done()
					code, _ := post(url, fmt.Sprintf(`{"x":%d}`, burst*16+i))
					if code >= 500 || code < 0 {
						n5xx.Add(1)
					}
					v, _ := codes.LoadOrStore(code, new(atomic.Int64))
					v.(*atomic.Int64).Add(1)
				}()
			}
			wg.Wait()
			time.Sleep(3 * time.Second)
		}
		fmt.Printf("idle-closing upstreams (2s keep-alive), 5 bursts of 16, 3s apart: 5xx %d of 80\n", n5xx.Load())
		fmt.Println(p.metrics("shadowproxy_shadow_requests_total"))
		p.cmd.Process.Kill()
	}
}
