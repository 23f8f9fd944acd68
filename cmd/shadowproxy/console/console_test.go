package console

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/valyala/fasthttp"
	"go.uber.org/goleak"

	"github.com/shadowproxy/shadowproxy/proxy"
	"github.com/shadowproxy/shadowproxy/proxy/proxytest"
	"github.com/shadowproxy/shadowproxy/tee"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m, proxytest.IgnoreFasthttp()...) }

func routes(agree, disagree int64, cands ...string) []tee.RouteStatus {
	r := tee.RouteStatus{Name: "iris"}
	for _, c := range cands {
		r.Candidates = append(r.Candidates, tee.CandidateStatus{Name: c,
			Comparisons:      map[string]int64{"agree": agree, "disagree": disagree},
			DisagreementRate: float64(disagree) / float64(max(agree+disagree, 1)),
			CI95:             [2]float64{0.01, 0.2}, CS95: [2]float64{0, 0.3}})
	}
	return []tee.RouteStatus{r}
}

func TestHistoryKeepsSpanAndDropsGoneCandidates(t *testing.T) {
	h := NewHistory(time.Second, 10*time.Second) // at most 11 points
	t0 := time.Unix(1000, 0)
	for i := range 30 {
		cands := []string{"v2"}
		if i < 5 {
			cands = append(cands, "old") // leaves the config after 5 s
		}
		h.Add(t0.Add(time.Duration(i)*time.Second), routes(int64(i), 1, cands...))
	}
	now := t0.Add(29 * time.Second)
	got := h.Snapshot(now, time.Time{}, routes(100, 1, "v2", "new"))
	if len(got) != 2 || got[0].Candidate != "v2" || got[1].Candidate != "new" {
		t.Fatalf("series %v, want v2 (with history) then new (live only); old forgotten", got)
	}
	pts := got[0].Points
	if len(pts) != 12 { // 11 kept and the live one
		t.Fatalf("%d points, want 11 kept plus the live one", len(pts))
	}
	for i, p := range pts[:11] {
		if want := t0.Add(time.Duration(19+i) * time.Second); !p.Time.Equal(want) || p.Agree != int64(19+i) {
			t.Errorf("point %d: %v agree %d, want %v agree %d", i, p.Time, p.Agree, want, 19+i)
		}
	}
	if live := pts[11]; !live.Time.Equal(now) || live.Agree != 100 || !live.Live || pts[10].Live {
		t.Errorf("live point %+v", live)
	}
	if n := len(got[1].Points); n != 1 {
		t.Errorf("new candidate: %d points, want the live one", n)
	}
	// Read later, points older than the span are left out even before the next sample.
	later := h.Snapshot(now.Add(5*time.Second), time.Time{}, nil)
	if len(later[0].Points) != 6 {
		t.Errorf("5 s later: %d points, want 6", len(later[0].Points))
	}
	// Since a time, only the points after it, and the live one.
	newer := h.Snapshot(now, t0.Add(27*time.Second), routes(100, 1, "v2"))
	if pts := newer[0].Points; len(pts) != 3 || pts[0].Agree != 28 || pts[2].Agree != 100 {
		t.Errorf("since 27 s: %+v, want the points of 28 s and 29 s and the live one", pts)
	}
}

func TestHistoryConcurrent(t *testing.T) {
	h := NewHistory(time.Millisecond, 50*time.Millisecond)
	var wg sync.WaitGroup
	t0 := time.Now()
	for w := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 300 {
				now := t0.Add(time.Duration(i) * time.Millisecond)
				if w%2 == 0 {
					h.Add(now, routes(int64(i), 1, "v2", fmt.Sprint("c", w)))
					continue
				}
				for _, s := range h.Snapshot(now, time.Time{}, routes(int64(i), 1, "v2")) {
					if len(s.Points) > 52 {
						t.Errorf("%s: %d points, beyond the bound", s.Candidate, len(s.Points))
						return
					}
				}
			}
		}()
	}
	wg.Wait()
}

// newConsole serves a console over a real tee whose candidate answers with markup on every request.
func newConsole(t *testing.T) (*httptest.Server, *tee.Tee) {
	t.Helper()
	evil := proxytest.Serve(t, func(ctx *fasthttp.RequestCtx) {
		ctx.SetContentType("application/json")
		ctx.SetBodyString(`{"label":"<script>alert(1)</script>","note":"<img src=x onerror=alert(2)>"}`)
	})
	recent := tee.NewRecent(tee.RecentOptions{Every: time.Nanosecond})
	tt, err := tee.New(tee.Options{
		Route:      "iris",
		Candidates: []tee.CandidateOptions{{UpstreamOptions: tee.UpstreamOptions{Name: "v2", URL: evil}, Sample: 1}},
		Metrics:    tee.NewMetrics(prometheus.NewRegistry(), nil),
		Recent:     recent,
	})
	if err != nil {
		t.Fatal(err)
	}
	req, resp := new(fasthttp.Request), new(fasthttp.Response)
	req.Header.SetMethod("POST")
	req.SetRequestURI("/predict")
	req.Header.Set("X-Request-Id", "req-1")
	req.SetBodyString(`{"x":1}`)
	resp.Header.SetContentType("application/json")
	resp.SetBodyString(`{"label":"cat"}`)
	tt.Offer(&proxy.Exchange{Route: "iris", RequestID: []byte("req-1"), Request: req, Response: resp, Start: time.Now(), Latency: time.Millisecond})
	deadline := time.Now().Add(10 * time.Second)
	for {
		if recs, _ := recent.Latest("iris", "v2", 0); len(recs) == 1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("no disagreement kept")
		}
		time.Sleep(5 * time.Millisecond)
	}
	c := New(Options{Status: func() []tee.RouteStatus { return []tee.RouteStatus{tt.Status()} }, Recent: recent, Step: time.Hour})
	mux := http.NewServeMux()
	c.Register(mux)
	srv := httptest.NewServer(mux)
	t.Cleanup(func() {
		srv.Close()
		c.Close()
		_ = tt.Close(t.Context())
	})
	return srv, tt
}

func get(t *testing.T, method, url string) (int, http.Header, string) {
	t.Helper()
	req, err := http.NewRequest(method, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header, string(b)
}

func TestDisagreementsAreEscapedJSON(t *testing.T) {
	srv, _ := newConsole(t)
	code, h, body := get(t, "GET", srv.URL+"/api/disagreements?route=iris&candidate=v2")
	if code != 200 || h.Get("Content-Type") != "application/json" || h.Get("X-Content-Type-Options") != "nosniff" {
		t.Fatalf("%d %v %s", code, h, body)
	}
	for _, raw := range []string{"<script>", "<img", "</script>"} {
		if strings.Contains(body, raw) {
			t.Errorf("the JSON holds %q unescaped: %s", raw, body)
		}
	}
	var got disagreementsBody
	if err := json.Unmarshal([]byte(body), &got); err != nil {
		t.Fatal(err)
	}
	if len(got.Disagreements) != 1 || got.Size != 50 || got.MaxBody != 16<<10 {
		t.Fatalf("answer %+v", got)
	}
	d := got.Disagreements[0]
	var label string
	_ = json.Unmarshal(d.Diff[0].Candidate, &label)
	if d.ID != "req-1" || d.Diff[0].Path != "label" || label != "<script>alert(1)</script>" {
		t.Errorf("disagreement %+v: the values must survive escaping unchanged", d)
	}
}

func TestConsoleRoutes(t *testing.T) {
	srv, _ := newConsole(t)
	tests := []struct {
		method, path string
		code         int
		ctype, has   string
	}{
		{"GET", "/", 200, "text/html; charset=utf-8", `<script src="console/app.js" defer></script>`},
		{"GET", "/console/app.js", 200, "text/javascript; charset=utf-8", "textContent"},
		{"GET", "/console/style.css", 200, "text/css; charset=utf-8", ".chart"},
		{"GET", "/console/nope.js", 404, "", ""},
		{"GET", "/nope", 404, "", ""},
		{"POST", "/", 405, "", ""},
		{"DELETE", "/api/disagreements?route=iris&candidate=v2", 405, "", ""},
		{"GET", "/api/history", 200, "application/json", `"candidate":"v2"`},
		{"GET", "/api/history?candidate=v3", 200, "application/json", `"series":[]`},
		{"GET", "/api/history?since=2026-12-01T23:00:05.059Z", 200, "application/json", `"candidate":"v2"`},
		{"GET", "/api/history?since=yesterday", 400, "application/json", "RFC 3339"},
		{"GET", "/api/disagreements", 400, "application/json", "required"},
		{"GET", "/api/disagreements?route=iris&candidate=v2&limit=x", 400, "application/json", "limit"},
		{"GET", "/api/disagreements?route=iris&candidate=v3", 404, "application/json", "no such"},
		{"GET", "/api/disagreements?route=iris&candidate=v2&limit=1", 200, "application/json", `"id":"req-1"`},
	}
	for _, tt := range tests {
		t.Run(tt.method+" "+tt.path, func(t *testing.T) {
			code, h, body := get(t, tt.method, srv.URL+tt.path)
			if code != tt.code || (tt.ctype != "" && h.Get("Content-Type") != tt.ctype) || !strings.Contains(body, tt.has) {
				t.Fatalf("%d %q: %.300s", code, h.Get("Content-Type"), body)
			}
			if tt.path == "/" && tt.code == 200 && !strings.Contains(h.Get("Content-Security-Policy"), "script-src 'self'") {
				t.Errorf("page without a CSP: %v", h)
			}
		})
	}
}

func TestTheScriptNeverParsesMarkup(t *testing.T) {
	b, err := static.ReadFile("static/app.js")
	if err != nil {
		t.Fatal(err)
	}
	for _, bad := range []string{"innerHTML", "outerHTML", "insertAdjacentHTML", "document.write", "eval(", "new Function"} {
		if strings.Contains(string(b), bad) {
			t.Errorf("app.js uses %s", bad)
		}
	}
}

// TestPageInABrowser loads the page in Debian's chromium over a /status written by hand: a
// candidate with ground truth (the truth fields of /status) and chaos, and one with nothing yet.
func TestPageInABrowser(t *testing.T) {
	bin, err := exec.LookPath("chromium")
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("chromium is required in CI")
		}
		t.Skip("chromium not installed")
	}
	const status = `{"routes":[{"name":"fraud","candidates":[
	 {"name":"fraud-v3","shadows":{"ok":1000},"comparisons":{"agree":900,"disagree":100,"unparseable":7},
	  "disagreement_rate":0.1,"ci95":[0.083,0.12],"cs95":[0.07,0.14],"latency_delta_ms":{"p50":-1.5,"p95":2,"p99":3},
	  "top_fields":[{"field":"score","count":90,"share":0.9}],
	  "chaos":{"latency_ms":0,"jitter_ms":0,"error_rate":0.05,"flip_rate":0,"perturb_rate":0,"perturb":0},
	  "truth":{"labeled":400,"primary_accuracy":0.9,"candidate_accuracy":0.925,"accuracy_delta":0.025,
	   "accuracy_delta_ci95":[-0.004,0.054],"verdict":"keep watching"}},
	 {"name":"fraud-v4","shadows":{"ok":0},"comparisons":{"agree":0,"disagree":0},
	  "disagreement_rate":0,"ci95":[0,1],"cs95":[0,1],"latency_delta_ms":null,"top_fields":[]}]}]}`
	c := New(Options{Status: func() []tee.RouteStatus { return nil }, Step: time.Hour})
	defer c.Close()
	mux := http.NewServeMux()
	c.Register(mux)
	mux.HandleFunc("GET /status", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = io.WriteString(w, status)
	})
	srv := httptest.NewServer(mux)
	defer srv.Close()

	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, bin, "--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
		"--no-first-run", "--user-data-dir="+t.TempDir(), "--virtual-time-budget=3000", "--dump-dom", srv.URL+"/").Output()
	if err != nil {
		t.Fatalf("chromium: %v", err)
	}
	dom := string(out)
	for _, want := range []string{
		`>fraud-v3<`, `>fraud-v4<`, `>10.0%<`,
		`>Ground truth<`, `>+2.50 pp<`, `>92.5%<`, `>400 labeled · keep watching<`, // truth, when present
		`5.00% errors`, `>unparseable<`, `>−1.50 ms<`, `>score<`,
		`No disagreement yet.`, `The plot starts with the first comparisons`, `The latest disagreements are not available: no disagreements are kept.`,
	} {
		if !strings.Contains(dom, want) {
			t.Errorf("the page lacks %s", want)
		}
	}
	if n := strings.Count(dom, `>Ground truth<`); n != 1 {
		t.Errorf("%d ground truth tiles, want one: none for the candidate without truth", n)
	}
	if t.Failed() {
		t.Logf("DOM:\n%s", dom)
	}
}

func TestDisagreementsForLoopbackClientsOnly(t *testing.T) {
	tests := []struct {
		remote string
		open   bool
		code   int
	}{
		{"127.0.0.1:40000", false, http.StatusNotFound}, // served (no such candidate)
		{"[::1]:40000", false, http.StatusNotFound},
		{"[::ffff:127.0.0.1]:40000", false, http.StatusNotFound},
		{"10.1.2.3:40000", false, http.StatusForbidden},
		{"[2001:db8::1]:40000", false, http.StatusForbidden},
		{"garbage", false, http.StatusForbidden},
		{"10.1.2.3:40000", true, http.StatusNotFound},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprint(tt.remote, tt.open), func(t *testing.T) {
			c := New(Options{Status: func() []tee.RouteStatus { return nil }, Recent: tee.NewRecent(tee.RecentOptions{}), Step: time.Hour, RemoteDisagreements: tt.open})
			defer c.Close()
			mux := http.NewServeMux()
			c.Register(mux)
			for _, path := range []string{"/api/disagreements?route=iris&candidate=v2", "/", "/api/history"} {
				req := httptest.NewRequest("GET", path, nil)
				req.RemoteAddr = tt.remote
				rec := httptest.NewRecorder()
				mux.ServeHTTP(rec, req)
				want := tt.code
				if path != "/api/disagreements?route=iris&candidate=v2" {
					want = http.StatusOK // the page and the history are open to every client
				}
				if rec.Code != want {
					t.Errorf("GET %s from %s: %d %s, want %d", path, tt.remote, rec.Code, rec.Body, want)
				}
			}
		})
	}
}
