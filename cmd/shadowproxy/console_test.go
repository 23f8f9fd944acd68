package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/valyala/fasthttp"

	"github.com/shadowproxy/shadowproxy/proxy/proxytest"
)

// markupLabel and markupNote are what the candidate answers for the last request: the console must
// show them as text.
const (
	markupLabel = `<script>alert(1)</script>`
	markupNote  = `<img src=x onerror=alert(2)>`
)

// consoleCandidate disagrees with answer(0, nil, 0) on every x divisible by 5 (label x+1), and on
// x == markupAt answers with markup in its label and an extra field.
func consoleCandidate(markupAt int) fasthttp.RequestHandler {
	return func(ctx *fasthttp.RequestCtx) {
		var in struct{ X int }
		_ = json.Unmarshal(ctx.PostBody(), &in)
		ctx.SetContentType("application/json")
		if in.X == markupAt {
			b, _ := json.Marshal(map[string]any{"predictions": []any{map[string]any{"label": markupLabel, "score": 0.9}}, "note": markupNote})
			ctx.SetBody(b)
			return
		}
		label := in.X
		if in.X%5 == 0 {
			label++
		}
		fmt.Fprintf(ctx, `{"predictions":[{"label":%d,"score":0.9}],"served_at":1}`, label)
	}
}

// chromium runs Debian's chromium headless on url with a budget of virtual time for the page's
// scripts, and returns the DOM they left; with screenshot set, it saves a PNG there too.
func chromium(t *testing.T, bin, url, screenshot string) string {
	t.Helper()
	args := []string{"--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--hide-scrollbars",
		"--no-first-run", "--disable-extensions", "--user-data-dir=" + t.TempDir(),
		"--virtual-time-budget=4000", "--window-size=1280,1500"}
	if screenshot != "" {
		args = append(args, "--screenshot="+screenshot)
	} else {
		args = append(args, "--dump-dom")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, append(args, url)...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("chromium %s: %v\n%s", url, err, stderr.String())
	}
	return stdout.String()
}

// TestE2EConsoleInABrowser runs the real binary with a candidate that disagrees on known requests,
// one answer holding markup, and loads the console in a real browser: the DOM its scripts leave
// shows the candidate, its rate, a plot, the known disagreements and the markup as text only.
func TestE2EConsoleInABrowser(t *testing.T) {
	bin := needTool(t, "chromium")
	const n, markupAt = 60, 59
	primary := proxytest.Serve(t, answer(0, nil, 0))
	candidate := proxytest.Serve(t, consoleCandidate(markupAt))
	extra := "        promote_when: {disagreement_below: 5%}\n        chaos: {latency: 1ms}"
	p, _ := startProxy(t, proxyConfig(primary, candidate, filepath.Join(t.TempDir(), "r.jsonl"), extra))

	client := &fasthttp.Client{}
	defer client.CloseIdleConnections()
	disagree := 0
	for i := range n {
		if status, _, _ := post(t, client, "http://"+p.listen+"/v1/models/iris:predict", fmt.Sprintf("req-%03d", i), fmt.Sprintf(`{"x":%d}`, i)); status != 200 {
			t.Fatalf("request %d: status %d", i, status)
		}
		if i%5 == 0 || i == markupAt {
			disagree++
		}
	}
	const compared = `shadowproxy_comparisons_total{candidate="iris-v2",result="%s",route="iris"}`
	waitFor(t, "every comparison", func() bool {
		return p.metric(t, fmt.Sprintf(compared, "agree"))+p.metric(t, fmt.Sprintf(compared, "disagree")) == n
	})
	// The history samples every 5 s: wait for one point after the comparisons, so that with the live
	// point the plot has two.
	var hist struct {
		Series []struct {
			Candidate string
			Points    []struct{ Agree, Disagree int64 }
		}
	}
	waitFor(t, "a point of history", func() bool {
		getJSON(t, "http://"+p.admin+"/api/history", &hist)
		if len(hist.Series) != 1 || hist.Series[0].Candidate != "iris-v2" {
			t.Fatalf("history %+v", hist)
		}
		pts := hist.Series[0].Points
		return len(pts) >= 2 && pts[len(pts)-2].Agree+pts[len(pts)-2].Disagree == n
	})

	// The JSON the page reads escapes markup, and the console takes no writes.
	resp, err := http.Get("http://" + p.admin + "/api/disagreements?route=iris&candidate=iris-v2")
	if err != nil {
		t.Fatal(err)
	}
	raw, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if bytes.Contains(raw, []byte("<script")) || bytes.Contains(raw, []byte("<img")) || !bytes.Contains(raw, []byte(`"id":"req-059"`)) {
		t.Errorf("/api/disagreements: %.500s", raw)
	}
	assertRedacted(t, raw)
	// The primary's served_at, a nanosecond count, is beyond a JavaScript number's precision: the page
	// must show the answer's own digits.
	var kept struct {
		Disagreements []struct {
			ID              string
			PrimaryResponse struct {
				Body struct {
					ServedAt json.Number `json:"served_at"`
				}
			} `json:"primary_response"`
		}
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	if err := dec.Decode(&kept); err != nil {
		t.Fatal(err)
	}
	var servedAt json.Number
	for _, d := range kept.Disagreements {
		if d.ID == "req-059" {
			servedAt = d.PrimaryResponse.Body.ServedAt
		}
	}
	if servedAt == "" {
		t.Fatalf("no served_at for req-059 in %.500s", raw)
	}
	if resp, err := http.Post("http://"+p.admin+"/", "text/plain", nil); err != nil || resp.StatusCode != http.StatusMethodNotAllowed {
		t.Errorf("POST /: %v %v", resp, err)
	} else {
		resp.Body.Close()
	}

	url := "http://" + p.admin + "/"
	dom := chromium(t, bin, url+"#open=req-059", "")
	rate := fmt.Sprintf("%.1f%%", 100*float64(disagree)/n)
	for _, want := range []string{
		`<span class="cand">iris-v2</span>`,
		`class="big rate">` + rate + `<`,
		"verdict: stop",
		"Chaos injection is on.",
		`>req-059<`, `>req-055<`,
		`>predictions[0].label<`,
		`>"&lt;script&gt;alert(1)&lt;/script&gt;"<`, // the diff's value, as text
		`>"&lt;img src=x onerror=alert(2)&gt;"<`,
		`<mark>`, // the opened disagreement's answers, the differences marked
		"predictions[*].label",
		`<span class="j-number">` + servedAt.String() + `<`,
	} {
		if !strings.Contains(dom, want) {
			t.Errorf("the page lacks %s", want)
		}
	}
	m := regexp.MustCompile(`<polyline class="rate" points="([^"]*)"`).FindStringSubmatch(dom)
	if m == nil || len(strings.Fields(m[1])) < 2 {
		t.Errorf("no plot of the rate with two points or more: %v", m)
	}
	if c := strings.Count(dom, "<script"); c != 1 {
		t.Errorf("%d script elements, want only the page's own", c)
	}
	if strings.Contains(dom, "<img") || strings.Contains(dom, "alert(1)</script>") {
		t.Error("markup from an answer became an element")
	}
	if t.Failed() {
		t.Logf("DOM:\n%s", dom)
	}

	// A screenshot for a person to look at; SHADOWPROXY_CONSOLE_SCREENSHOT=docs/console.png
	// refreshes the README's.
	shot := os.Getenv("SHADOWPROXY_CONSOLE_SCREENSHOT")
	if shot == "" {
		shot = filepath.Join(t.TempDir(), "console.png")
	} else if !filepath.IsAbs(shot) {
		shot = filepath.Join("..", "..", shot)
	}
	chromium(t, bin, url+"#open=req-059", shot)
	png, err := os.ReadFile(shot)
	if err != nil || !bytes.HasPrefix(png, []byte("\x89PNG")) || len(png) < 10<<10 {
		t.Errorf("screenshot %s: %d bytes, %v", shot, len(png), err)
	}
}

func getJSON(t *testing.T, url string, v any) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if err := json.NewDecoder(resp.Body).Decode(v); err != nil {
		t.Fatalf("%s: %v", url, err)
	}
}
