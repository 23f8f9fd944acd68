package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"hash/fnv"
	"io"
	"math"
	"net"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/valyala/fasthttp"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	"github.com/shadowproxy/shadowproxy/tee"
)

// demo runs a primary and a candidate model on loopback, shadowproxy in front of them and a client
// driving traffic, and prints a summary every second until Ctrl-C or -duration.
func demo(args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("demo", flag.ContinueOnError)
	fs.SetOutput(stderr)
	duration := fs.Duration("duration", 0, "stop after this long (0 runs until Ctrl-C)")
	rate := fs.Int("rate", 200, "client requests per second")
	disagree := fs.Float64("disagree", 0.05, "share of inputs on which the candidate model disagrees (0 to 1)")
	delay := fs.Duration("candidate-delay", 3*time.Millisecond, "extra latency of the candidate model")
	records := fs.String("records", "", "records file (default: shadowproxy-demo-records.jsonl in a new temporary directory)")
	if err := fs.Parse(args); err != nil {
		return exitCode(2)
	}
	if *rate <= 0 || *disagree < 0 || *disagree > 1 {
		fmt.Fprintln(stderr, "shadowproxy demo: -rate must be positive and -disagree between 0 and 1")
		return exitCode(2)
	}
	if *records == "" {
		dir, err := os.MkdirTemp("", "shadowproxy-demo-")
		if err != nil {
			return err
		}
		*records = filepath.Join(dir, "shadowproxy-demo-records.jsonl")
	}

	primary, err := startModel(irisModel{version: "1"})
	if err != nil {
		return err
	}
	defer primary.close()
	candidate, err := startModel(irisModel{version: "2", disagree: *disagree, delay: *delay})
	if err != nil {
		return err
	}
	defer candidate.close()

	cfg, err := configChecks.Parse("demo.yaml", []byte(demoConfig(primary.url, candidate.url, *records)))
	if err != nil {
		return fmt.Errorf("demo config: %w", err)
	}
	log := zap.New(zapcore.NewCore(zapcore.NewConsoleEncoder(zap.NewDevelopmentEncoderConfig()), zapcore.AddSync(stderr), zap.WarnLevel))
	var proxyAddr, adminAddr string
	a, err := start("", cfg, log, func(p, ad string) { proxyAddr, adminAddr = p, ad })
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "shadowproxy demo: open the console, http://%s/, in a browser\n", adminAddr)
	fmt.Fprintf(stdout, `shadowproxy demo
  primary model    %s   (iris classifier v1)
  candidate model  %s   (v2: disagrees on %.1f%% of the requests, %s slower)
  proxy            http://%s/v1/models/iris:predict
  metrics          http://%s/metrics
  status           http://%s/status
  records          %s
Ctrl-C stops.
`, primary.url, candidate.url, *disagree*100, *delay, proxyAddr, adminAddr, adminAddr, *records)

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if *duration > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, *duration)
		defer cancel()
	}
	var sent, failed atomic.Int64
	var wg sync.WaitGroup
	wg.Add(2)
	go func() {
		defer wg.Done()
		drive(ctx, "http://"+proxyAddr+"/v1/models/iris:predict", *rate, *disagree, &sent, &failed)
	}()
	go func() {
		defer wg.Done()
		labelDemo(ctx, "http://"+adminAddr+"/labels", &sent, *disagree)
	}()

	begin := time.Now()
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	for done := false; !done; {
		select {
		case <-ctx.Done():
			done = true
		case <-tick.C:
			fmt.Fprintln(stdout, summaryLine(time.Since(begin), sent.Load(), failed.Load(), a.cur.Load().statuses()))
		}
	}
	wg.Wait()
	if err := a.shutdown(); err != nil {
		return err
	}
	fmt.Fprintln(stdout, "final:", summaryLine(time.Since(begin), sent.Load(), failed.Load(), a.cur.Load().statuses()))
	fmt.Fprintf(stdout, "records written to %s\n", *records)
	return nil
}

func demoConfig(primaryURL, candidateURL, records string) string {
	quoted, _ := json.Marshal(records) // a JSON string is a valid YAML scalar
	return fmt.Sprintf(`listen: "127.0.0.1:0"
admin: "127.0.0.1:0"
shutdown_timeout: 5s
reload: {watch: false}
routes:
  - name: iris
    match: {path_prefix: /v1/models/iris, methods: [POST]}
    primary: {url: %q, timeout: 2s}
    candidates:
      - name: iris-v2
        url: %q
        sample: 100%%
        timeout: 2s
        promote_when: {disagreement_below: 2%%}
    compare:
      format: json
      ignore: [model_version]
      tolerance: {abs: 1.0e-6, rel: 1.0e-4}
    record:
      disagreements: 100%%
      agreements: 1%%
    truth: {prediction: "predictions[0].label"}
sinks:
  file: {path: %s, max_bytes: 64MiB, keep: 2}
`, primaryURL, candidateURL, quoted)
}

// summaryLine is one line of the demo's live summary.
func summaryLine(elapsed time.Duration, sent, failed int64, routes []tee.RouteStatus) string {
	line := fmt.Sprintf("[%4.0fs] requests %d (%d failed)", elapsed.Seconds(), sent, failed)
	for _, r := range routes {
		for _, c := range r.Candidates {
			line += fmt.Sprintf(" | %s: shadows ok %d dropped %d error %d | agree %d disagree %d | disagreement %.2f%% (95%% CI %.2f-%.2f%%)",
				c.Name, c.Shadows["ok"], c.Shadows["dropped"], c.Shadows["error"]+c.Shadows["timeout"],
				c.Comparisons["agree"], c.Comparisons["disagree"],
				c.DisagreementRate*100, c.CI95[0]*100, c.CI95[1]*100)
			if c.Verdict != nil {
				line += " | verdict: " + c.Verdict.Decision
			}
			if t := c.Truth; t != nil && t.AccuracyDelta != nil {
				line += fmt.Sprintf(" | accuracy delta %+.2f%% (95%% CI %+.2f..%+.2f%%, %d labels)",
					*t.AccuracyDelta*100, t.AccuracyDeltaCI95[0]*100, t.AccuracyDeltaCI95[1]*100, t.Labeled)
			}
		}
	}
	return line
}

// drive sends iris requests at rate per second until ctx ends; the candidate disagrees on share of them.
func drive(ctx context.Context, url string, rate int, share float64, sent, failed *atomic.Int64) {
	client := &fasthttp.Client{MaxConnsPerHost: 64, ReadTimeout: 5 * time.Second, WriteTimeout: 5 * time.Second}
	defer client.CloseIdleConnections()
	tokens := make(chan int64, rate)
	var wg sync.WaitGroup
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			req, resp := fasthttp.AcquireRequest(), fasthttp.AcquireResponse()
			defer fasthttp.ReleaseRequest(req)
			defer fasthttp.ReleaseResponse(resp)
			for i := range tokens {
				req.Reset()
				req.SetRequestURI(url)
				req.Header.SetMethod(fasthttp.MethodPost)
				req.Header.SetContentType("application/json")
				req.Header.Set("X-Request-Id", "demo-"+strconv.FormatInt(i, 10))
				req.SetBody(irisInput(i, share))
				if err := client.Do(req, resp); err != nil || resp.StatusCode() != fasthttp.StatusOK {
					failed.Add(1)
				}
				sent.Add(1)
			}
		}()
	}
	interval := time.Second / time.Duration(rate)
	tick := time.NewTicker(max(interval, time.Millisecond))
	perTick := max(1, int64(rate)/int64(time.Second/max(interval, time.Millisecond)))
	var n int64
	for loop := true; loop; {
		select {
		case <-ctx.Done():
			loop = false
		case <-tick.C:
			for range perTick {
				select {
				case tokens <- n:
					n++
				default: // the clients are behind: skip rather than queue without bound
				}
			}
		}
	}
	tick.Stop()
	close(tokens)
	wg.Wait()
}

// irisInput is a deterministic iris-like feature vector for request i, chosen so that the candidate
// model (which flips the answers to a share of its inputs, see flips) disagrees on exactly
// floor(n*share) of the first n requests, spread evenly: the share the demo states is the share its
// traffic has, and the interval it measures covers it. (Inputs once cycled through 124 distinct
// vectors, of which the hash flipped 3.8%, not the 5% the demo stated.)
func irisInput(i int64, share float64) []byte {
	want := math.Floor(float64(i+1)*share) > math.Floor(float64(i)*share)
	x := irisFeatures(i, 0)
	// A flip is wanted once in 1/share requests and takes about 1/share tries; the bound only
	// matters for shares below one in a million.
	for j := uint64(1); flips(x, share) != want && j < 1<<20; j++ {
		x = irisFeatures(i, j)
	}
	return fmt.Appendf(nil, `{"instances":[[%.1f,%.1f,%.1f,%.1f]]}`, x[0], x[1], x[2], x[3])
}

// irisFeatures is the try-th iris-like feature vector for request i: sepal and petal lengths and
// widths in the iris data set's ranges, to one decimal.
func irisFeatures(i int64, try uint64) [4]float64 {
	h := splitmix64(uint64(i)*0x9e3779b97f4a7c15 ^ try*0xd1b54a32d192ed03)
	ranges := [4][2]float64{{4.3, 7.9}, {2.0, 4.4}, {1.0, 6.9}, {0.1, 2.5}}
	var x [4]float64
	for k, r := range ranges {
		u := float64(h>>(16*k)&0xffff) / 0xffff
		x[k] = math.Round((r[0]+u*(r[1]-r[0]))*10) / 10
	}
	return x
}

func splitmix64(z uint64) uint64 {
	z += 0x9e3779b97f4a7c15
	z = (z ^ z>>30) * 0xbf58476d1ce4e5b9
	z = (z ^ z>>27) * 0x94d049bb133111eb
	return z ^ z>>31
}

// flips reports whether the candidate model changes its answer to the features x: a hash of the
// features below share, so that the model is a function of its input alone.
func flips(x [4]float64, share float64) bool {
	if share <= 0 {
		return false
	}
	h := fnv.New64a()
	fmt.Fprintf(h, "%.1f,%.1f,%.1f,%.1f", x[0], x[1], x[2], x[3])
	return float64(h.Sum64()%1_000_000) < share*1_000_000
}

// irisModel is a toy classifier with a TensorFlow Serving-like answer.
type irisModel struct {
	version  string
	disagree float64
	delay    time.Duration
}

var irisLabels = [...]string{"setosa", "versicolor", "virginica"}

func (m irisModel) handle(ctx *fasthttp.RequestCtx) {
	if m.delay > 0 {
		time.Sleep(m.delay)
	}
	var in struct {
		Instances [][]float64 `json:"instances"`
	}
	if err := json.Unmarshal(ctx.PostBody(), &in); err != nil {
		ctx.SetStatusCode(fasthttp.StatusBadRequest)
		ctx.SetBodyString(`{"error":"bad input"}`)
		return
	}
	type prediction struct {
		Label  string    `json:"label"`
		Scores []float64 `json:"scores"`
	}
	out := struct {
		Predictions  []prediction `json:"predictions"`
		ModelVersion string       `json:"model_version"`
	}{ModelVersion: m.version}
	for _, x := range in.Instances {
		if len(x) != 4 {
			ctx.SetStatusCode(fasthttp.StatusBadRequest)
			ctx.SetBodyString(`{"error":"want 4 features"}`)
			return
		}
		class := irisClass(x)
		if flips([4]float64(x), m.disagree) {
			class = (class + 1) % 3
		}
		scores := []float64{0.05, 0.05, 0.05}
		scores[class] = 0.9
		if m.version != "1" {
			scores[(class+1)%3] += 1e-9 // a difference well inside the tolerance
		}
		out.Predictions = append(out.Predictions, prediction{Label: irisLabels[class], Scores: scores})
	}
	ctx.SetContentType("application/json")
	body, _ := json.Marshal(out)
	ctx.SetBody(body)
}

// irisClass is the demo models' rule.
func irisClass(x []float64) int {
	switch {
	case x[2] >= 4.9:
		return 2
	case x[2] >= 2.5:
		return 1
	}
	return 0
}

// irisTruth is what the demo's labelers know: the rule, except on the hardest inputs, where the
// truth is what the candidate answers; they are 60% of the inputs the candidate answers
// differently, so the candidate wins 60% of its disagreements and is the more accurate model.
func irisTruth(x []float64, disagree float64) string {
	class := irisClass(x)
	if flips([4]float64(x), 0.6*disagree) { // a part of the inputs flips(x, disagree) holds for
		class = (class + 1) % 3
	}
	return irisLabels[class]
}

// labelDemo labels the demo's own traffic after a short delay, as labels arrive in production
// (later, keyed by request id): every second it POSTs the truth of the requests sent two seconds
// before to the admin listener's /labels.
func labelDemo(ctx context.Context, url string, sent *atomic.Int64, disagree float64) {
	client := &fasthttp.Client{ReadTimeout: 5 * time.Second, WriteTimeout: 5 * time.Second}
	defer client.CloseIdleConnections()
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	var next int64
	var behind [2]int64 // the sent counts of the last two ticks
	var body []byte
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		upTo := behind[0]
		behind[0], behind[1] = behind[1], sent.Load()
		if upTo <= next {
			continue
		}
		body = body[:0]
		for i := next; i < upTo; i++ {
			var in struct{ Instances [][]float64 }
			_ = json.Unmarshal(irisInput(i, disagree), &in)
			body = fmt.Appendf(body, `{"id":"demo-%d","label":%q}`+"\n", i, irisTruth(in.Instances[0], disagree))
		}
		next = upTo
		req, resp := fasthttp.AcquireRequest(), fasthttp.AcquireResponse()
		req.SetRequestURI(url)
		req.Header.SetMethod(fasthttp.MethodPost)
		req.SetBody(body)
		_ = client.Do(req, resp) // a lost batch leaves those requests unlabeled, no more
		fasthttp.ReleaseRequest(req)
		fasthttp.ReleaseResponse(resp)
	}
}

// model is a demo model server on loopback.
type model struct {
	url  string
	srv  *fasthttp.Server
	done chan struct{}
}

func startModel(m irisModel) (*model, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	s := &model{url: "http://" + ln.Addr().String(), srv: &fasthttp.Server{Handler: m.handle, CloseOnShutdown: true}, done: make(chan struct{})}
	go func() { defer close(s.done); _ = s.srv.Serve(ln) }()
	return s, nil
}

func (m *model) close() {
	_ = m.srv.Shutdown()
	<-m.done
}
