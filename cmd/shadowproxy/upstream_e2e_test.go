package main

import (
	"bufio"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/valyala/fasthttp"

	"github.com/shadowproxy/shadowproxy/proxy/proxytest"
)

// Sloppy and hostile model servers in front of the real binary: the primary path stays correct and
// bounded (README, "Security and reliability").

// rawConfig is a config with one route whose answers are compared as raw bytes.
func rawConfig(primary, candidate, records, maxBody string) string {
	return fmt.Sprintf(`listen: "127.0.0.1:0"
admin: "127.0.0.1:0"
log: {level: info, format: json}
routes:
  - name: iris
    match: {path_prefix: /v1/models/iris, methods: [POST]}
    primary: {url: %q, timeout: 2s}
    candidates:
      - {name: iris-v2, url: %q, sample: 100%%, timeout: 2s}
    compare: {format: raw}
    record: {disagreements: 100%%, agreements: 0%%, max_body: %s}
sinks:
  file: {path: %q}
`, primary, candidate, maxBody, records)
}

// TestE2EStrayResponsesNeverShiftAnswers: a primary and a candidate that each write one extra
// response after every answer, while the connection is idle; clients, each on its own connection,
// get their own answer and every comparison pairs a request with its own answers.
func TestE2EStrayResponsesNeverShiftAnswers(t *testing.T) {
	primary := proxytest.StrayServer(t, nil)
	candidate := proxytest.StrayServer(t, nil)
	records := filepath.Join(t.TempDir(), "r.jsonl")
	p, _ := startProxy(t, rawConfig(primary.URL, candidate.URL, records, "64KiB"))
	const n = 4
	for i := range n {
		client := &fasthttp.Client{} // a new connection for each client
		id := fmt.Sprintf("client-%d", i)
		status, body, _ := post(t, client, "http://"+p.listen+"/v1/models/iris:predict", id, `{}`)
		client.CloseIdleConnections()
		if status != 200 || body != id {
			t.Errorf("client %d got %d %q, want its own answer %q", i, status, body, id)
		}
		// Once the candidate has answered too, the stray answers arrive while the connections are
		// idle (one arriving after the next request went out is the known limit: README, "Security
		// and reliability").
		waitFor(t, "the shadow", func() bool {
			return p.metric(t, `shadowproxy_shadow_requests_total{candidate="iris-v2",outcome="ok",route="iris"}`) == float64(i+1)
		})
		primary.Send(t)
		candidate.Send(t)
	}
	const agree = `shadowproxy_comparisons_total{candidate="iris-v2",result="agree",route="iris"}`
	waitFor(t, "4 shadows", func() bool {
		return p.metric(t, `shadowproxy_shadow_requests_total{candidate="iris-v2",outcome="ok",route="iris"}`) == n
	})
	if got := p.metric(t, agree); got != n {
		t.Errorf("agreements = %v, want %d: a shadow was paired with another request's answer", got, n)
	}
	p.stop(t)
	if recs := readRecords(t, records); len(recs) != 0 {
		t.Errorf("%d disagreement records, want none: %v", len(recs), recs)
	}
}

// TestE2EIdleClosingUpstreams: a primary and a candidate that close idle keep-alive connections
// after 200ms (as gunicorn does after 2s), bursts of 16 concurrent clients 400ms apart, the
// proxy's idle timeout (1s by default) longer than theirs: no 502 and no failed shadow.
func TestE2EIdleClosingUpstreams(t *testing.T) {
	model := answer(0, nil, 0)
	primary := proxytest.IdleClosingServer(t, 200*time.Millisecond, model)
	candidate := proxytest.IdleClosingServer(t, 200*time.Millisecond, model)
	p, _ := startProxy(t, proxyConfig(primary, candidate, filepath.Join(t.TempDir(), "r.jsonl"), ""))
	const bursts, per = 4, 16
	for burst := range bursts {
		var wg sync.WaitGroup
		for i := range per {
			wg.Add(1)
			go func() {
				defer wg.Done()
				client := &fasthttp.Client{}
				defer client.CloseIdleConnections()
				x := burst*per + i
				status, body, _ := post(t, client, "http://"+p.listen+"/v1/models/iris:predict", "", fmt.Sprintf(`{"x":%d}`, x))
				if status != 200 || !strings.Contains(body, fmt.Sprintf(`"label":%d`, x)) {
					t.Errorf("burst %d request %d: %d %s", burst, i, status, body)
				}
			}()
		}
		wg.Wait()
		time.Sleep(400 * time.Millisecond)
	}
	waitFor(t, "every shadow done", func() bool {
		return p.metric(t, `shadowproxy_shadow_requests_total{candidate="iris-v2",outcome="ok",route="iris"}`)+
			p.metric(t, `shadowproxy_shadow_requests_total{candidate="iris-v2",outcome="error",route="iris"}`) == bursts*per
	})
	if got := p.metric(t, `shadowproxy_requests_total{code="502",route="iris"}`); got != 0 {
		t.Errorf("%v clients got 502", got)
	}
	if got := p.metric(t, `shadowproxy_shadow_requests_total{candidate="iris-v2",outcome="error",route="iris"}`); got != 0 {
		t.Errorf("%v shadows failed", got)
	}
	p.stop(t)
}

// TestE2EBombsAndEndlessCandidateStayBounded: a primary that answers half the requests with zstd
// that expands to 256 MiB, and a candidate that streams an endless body. Clients get the primary's
// bytes unchanged; the shadows are counted, not compared; the proxy's peak RSS stays far below
// either expansion.
func TestE2EBombsAndEndlessCandidateStayBounded(t *testing.T) {
	bomb := zstdRLEBomb(256 << 20)
	primary := proxytest.Serve(t, func(ctx *fasthttp.RequestCtx) {
		ctx.SetContentType("application/json")
		if string(ctx.PostBody()) == `{"bomb":true}` {
			ctx.Response.Header.SetContentEncoding("zstd")
			ctx.SetBody(bomb)
			return
		}
		ctx.SetBodyString(`{"predictions":[1]}`)
	})
	candidate := proxytest.Serve(t, func(ctx *fasthttp.RequestCtx) {
		ctx.SetContentType("application/json")
		ctx.SetBodyStreamWriter(func(w *bufio.Writer) {
			chunk := []byte(strings.Repeat("a", 32<<10))
			for range (64 << 20) / len(chunk) { // bounded: 64 MiB, ended early when the proxy hangs up
				if _, err := w.Write(chunk); err != nil {
					return
				}
				if err := w.Flush(); err != nil {
					return
				}
			}
		})
	})
	p, _ := startProxy(t, rawConfig(primary, candidate, filepath.Join(t.TempDir(), "r.jsonl"), "64KiB"))
	const n = 32
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			client := &fasthttp.Client{}
			defer client.CloseIdleConnections()
			in, want := `{}`, `{"predictions":[1]}`
			if i%2 == 0 {
				in, want = `{"bomb":true}`, string(bomb)
			}
			status, body, took := post(t, client, "http://"+p.listen+"/v1/models/iris:predict", "", in)
			if status != 200 || body != want {
				t.Errorf("request %d: %d, %d bytes, want the primary's %d bytes", i, status, len(body), len(want))
			}
			if took > 2*time.Second {
				t.Errorf("request %d took %v", i, took)
			}
		}()
	}
	wg.Wait()
	waitFor(t, "every shadow counted", func() bool {
		return p.metric(t, `shadowproxy_shadow_drops_total{candidate="iris-v2",reason="body_too_large",route="iris"}`) == n/2 &&
			p.metric(t, `shadowproxy_shadow_requests_total{candidate="iris-v2",outcome="error",route="iris"}`) == n/2
	})
	if rss := peakRSS(t, p.cmd.Process.Pid); rss > 200<<20 {
		t.Errorf("peak RSS %d MiB under %d answers expanding to 256 MiB and %d endless candidate answers", rss>>20, n/2, n/2)
	}
	p.stop(t)
}

// peakRSS reads a process's peak resident set (VmHWM) from /proc; the test skips where there is none.
func peakRSS(t *testing.T, pid int) int64 {
	t.Helper()
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		t.Skipf("no /proc: %v", err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if rest, ok := strings.CutPrefix(sc.Text(), "VmHWM:"); ok {
			kb, err := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 10, 64)
			if err != nil {
				t.Fatal(err)
			}
			return kb << 10
		}
	}
	t.Skip("no VmHWM in /proc status")
	return 0
}

// zstdRLEBomb is a zstd frame of RLE blocks: 4 bytes for each 128 KiB of output.
func zstdRLEBomb(size int) []byte {
	b := []byte{0x28, 0xb5, 0x2f, 0xfd, 0x00, 13 << 3} // magic; no content size, no checksum; 8 MiB window
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
