package main

import (
	"bufio"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"net"
	"net/url"
	"os"
	"os/signal"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/segmentio/kafka-go"
	"github.com/valyala/fasthttp"

	"github.com/shadowproxy/shadowproxy/compare"
	"github.com/shadowproxy/shadowproxy/compare/stats"
	"github.com/shadowproxy/shadowproxy/configs"
	"github.com/shadowproxy/shadowproxy/proxy"
	"github.com/shadowproxy/shadowproxy/sink"
	"github.com/shadowproxy/shadowproxy/tee"
)

// replayReport is what `shadowproxy replay` prints: a /status candidate, plus what was skipped.
type replayReport struct {
	Name             string           `json:"name"`
	Routes           []string         `json:"routes"`
	Shadows          map[string]int64 `json:"shadows"`
	Comparisons      map[string]int64 `json:"comparisons"`
	DisagreementRate float64          `json:"disagreement_rate"`
	CI95             [2]float64       `json:"ci95"`
	CS95             [2]float64       `json:"cs95"`
	// WeightedEstimate is the disagreement rate over the records' weights: each record stands for
	// 1/share requests of the production traffic it was recorded from.
	WeightedEstimate *float64 `json:"weighted_estimate"`
	// Truth is present with -labels: the new candidate against the recorded primary.
	Truth   *stats.Accuracy `json:"truth,omitempty"`
	Skipped replaySkipped   `json:"skipped"`
	// RedactedHeaders counts, by name, the headers that were redacted in the records and so not
	// replayed (supply them with -header).
	RedactedHeaders map[string]int64 `json:"redacted_headers,omitempty"`
}

type replaySkipped struct {
	// Truncated records hold a request or primary answer cut at max_body: they cannot be replayed.
	Truncated int64 `json:"truncated"`
	// Duplicate records repeat a request already replayed (one record per candidate it was shadowed to).
	Duplicate int64 `json:"duplicate"`
	// NoRoute records name a route not in the config (or not the -route asked for).
	NoRoute int64 `json:"no_route"`
	// NoAnswer records have no primary answer to compare with (a primary error).
	NoAnswer  int64 `json:"no_answer"`
	Malformed int64 `json:"malformed"`
}

// replayer sends recorded requests to one new candidate and compares its answers with the recorded
// primary answers.
type replayer struct {
	name      string
	base      *url.URL
	client    *fasthttp.Client
	timeout   time.Duration
	headers   [][2]string
	routes    map[string]*replayRoute
	onlyRoute string
	// rewriteLike names the configured candidate whose rewrite the replayed requests get (by
	// default the one named as the new candidate).
	rewriteLike string
	labels      *labelBook
	out         *bufio.Writer // with -out; written under mu
	outBuf      []byte
	tick        <-chan time.Time // nil: no rate limit

	mu       sync.Mutex
	seen     map[[2]string]bool
	rep      replayReport
	wsum     float64
	wdis     float64
	tally    stats.Tally
	sent     atomic.Int64
	compared atomic.Int64
}

type replayRoute struct {
	cmp     *compare.Comparator
	picker  *compare.Picker
	rewrite *tee.Rewriter // nil: the requests are replayed as recorded
}

// hopHeaders are never replayed; the client sets them itself.
var hopHeaders = []string{"Connection", "Keep-Alive", "Proxy-Connection", "Transfer-Encoding", "Te", "Trailer", "Upgrade",
	"Content-Length", "Host", "Accept-Encoding"}

// replay implements `shadowproxy replay`.
func replay(args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("replay", flag.ContinueOnError)
	fs.SetOutput(stderr)
	path := fs.String("config", "shadowproxy.yaml", "path of the YAML config (the routes' compare and truth settings)")
	var records, labelFiles, headers multiFlag
	fs.Var(&records, "records", "records file (JSON lines); may be repeated")
	candFlag := fs.String("candidate", "", "the new candidate, NAME=URL (http://host:port)")
	route := fs.String("route", "", "replay only this route's records")
	rewriteLike := fs.String("rewrite-like", "", "rewrite the requests as the route's configured candidate of this name does (by default: the one named as -candidate, if any)")
	conc := fs.Int("c", 8, "requests in flight")
	rps := fs.Float64("rate", 0, "requests per second at most (0: as fast as -c allows)")
	outPath := fs.String("out", "", "write the new comparisons as records to this file")
	fs.Var(&labelFiles, "labels", "labels to score the new candidate with (as score reads them); may be repeated")
	fs.Var(&headers, "header", "'Name: value' added to every request (redacted headers cannot be replayed); may be repeated")
	timeout := fs.Duration("timeout", 5*time.Second, "timeout of one request")
	brokers := fs.String("kafka-brokers", "", "read the records from Kafka: comma-separated host:port")
	topic := fs.String("kafka-topic", "", "the records topic (with -kafka-brokers)")
	if err := fs.Parse(args); err != nil {
		return exitCode(2)
	}
	name, rawURL, ok := strings.Cut(*candFlag, "=")
	if !ok || name == "" || fs.NArg() > 0 || (len(records) == 0) == (*brokers == "") || (*brokers == "") != (*topic == "") || *conc <= 0 {
		fmt.Fprintln(stderr, "usage: shadowproxy replay -config F (-records R | -kafka-brokers B -kafka-topic T) -candidate NAME=URL [-rewrite-like CANDIDATE] [-c N] [-rate R] [-out FILE] [-labels L] [-header 'K: V']")
		return exitCode(2)
	}
	base, err := url.Parse(rawURL)
	if err != nil || (base.Scheme != "http" && base.Scheme != "https") || base.Host == "" {
		return fmt.Errorf("-candidate %s: want NAME=http://host:port", *candFlag)
	}
	cfg, err := configChecks.Load(*path)
	if err != nil {
		fmt.Fprintln(stderr, err)
		return exitCode(1)
	}
	r := &replayer{
		name: name, base: base, timeout: *timeout, onlyRoute: *route, rewriteLike: *rewriteLike,
		client: &fasthttp.Client{MaxConnsPerHost: *conc, ReadTimeout: *timeout, WriteTimeout: *timeout,
			NoDefaultUserAgentHeader: true, DisablePathNormalizing: true, MaxResponseBodySize: 64 << 20},
		routes: map[string]*replayRoute{},
		seen:   map[[2]string]bool{},
		rep: replayReport{Name: name, Routes: []string{}, Shadows: map[string]int64{"ok": 0, "error": 0, "timeout": 0, "dropped": 0, "sampled_out": 0},
			Comparisons: map[string]int64{}, CI95: [2]float64{0, 1}, CS95: [2]float64{0, 1}},
	}
	for i := range compare.ShapeMismatch + 1 {
		r.rep.Comparisons[i.String()] = 0
	}
	for _, h := range headers {
		k, v, ok := strings.Cut(h, ":")
		if !ok || strings.TrimSpace(k) == "" {
			return fmt.Errorf("-header %q: want 'Name: value'", h)
		}
		r.headers = append(r.headers, [2]string{strings.TrimSpace(k), strings.TrimSpace(v)})
	}
	if err := r.configure(cfg); err != nil {
		return err
	}
	if len(labelFiles) > 0 {
		if !slices.ContainsFunc(cfg.Routes, func(rc configs.Route) bool { return rc.Truth.Prediction != "" }) {
			return fmt.Errorf("-labels: no route of %s has truth.prediction: name the value a label judges", *path)
		}
		if r.labels, err = newLabelBook(labelFiles); err != nil {
			return err
		}
	}
	var outFile *os.File
	if *outPath != "" {
		if outFile, err = os.Create(*outPath); err != nil {
			return fmt.Errorf("-out: %w", err)
		}
		defer outFile.Close()
		r.out = bufio.NewWriterSize(outFile, 256<<10)
	}
	if *rps > 0 {
		t := time.NewTicker(time.Duration(float64(time.Second) / *rps))
		defer t.Stop()
		r.tick = t.C
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()

	jobs := make(chan *sink.Record, 2**conc) // bounded: reading waits for the workers
	var wg sync.WaitGroup
	for range *conc {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for rec := range jobs {
				r.one(ctx, rec)
			}
		}()
	}
	progressDone := make(chan struct{})
	var pwg sync.WaitGroup
	pwg.Add(1)
	go func() {
		defer pwg.Done()
		t := time.NewTicker(2 * time.Second)
		defer t.Stop()
		for {
			select {
			case <-progressDone:
				return
			case <-t.C:
				fmt.Fprintf(stderr, "replay: %d sent, %d compared\n", r.sent.Load(), r.compared.Load())
			}
		}
	}()
	feed := func(rec *sink.Record) {
		if ctx.Err() == nil {
			jobs <- rec
		}
	}
	var readErr error
	if *brokers != "" {
		readErr = eachKafkaRecord(ctx, strings.Split(*brokers, ","), *topic, feed, func() { r.count(func(s *replaySkipped) { s.Malformed++ }) })
	} else {
		var malformed int
		malformed, readErr = eachRecord(records, feed)
		r.rep.Skipped.Malformed += int64(malformed)
	}
	close(jobs)
	wg.Wait()
	close(progressDone)
	pwg.Wait()
	if r.out != nil {
		if err := r.out.Flush(); err != nil {
			return fmt.Errorf("-out: %w", err)
		}
		if err := outFile.Close(); err != nil {
			return fmt.Errorf("-out: %w", err)
		}
	}
	if readErr != nil {
		return readErr
	}
	fmt.Fprintf(stderr, "replay: %d sent, %d compared\n", r.sent.Load(), r.compared.Load())
	enc := json.NewEncoder(stdout)
	enc.SetIndent("", "  ")
	return enc.Encode(r.report())
}

func (r *replayer) configure(cfg *configs.Config) error {
	found := false
	for _, rc := range cfg.Routes {
		if r.onlyRoute != "" && rc.Name != r.onlyRoute {
			continue
		}
		cmp, err := compare.New(compareOptions(rc.Compare))
		if err != nil {
			return fmt.Errorf("route %s: compare: %w", rc.Name, err)
		}
		rr := &replayRoute{cmp: cmp}
		if rc.Truth.Prediction != "" {
			if rr.picker, err = compare.NewPicker(rc.Compare.Format, rc.Truth.Prediction); err != nil {
				return fmt.Errorf("route %s: truth.prediction: %w", rc.Name, err)
			}
		}
		like := r.rewriteLike
		if like == "" {
			like = r.name
		}
		for _, c := range rc.Candidates {
			if c.Name != like {
				continue
			}
			found = true
			if rr.rewrite, err = tee.NewRewriter(rewriteOptions(c.Rewrite), false); err != nil {
				return fmt.Errorf("route %s: candidate %s: %w", rc.Name, c.Name, err)
			}
		}
		r.routes[rc.Name] = rr
	}
	if r.onlyRoute != "" && len(r.routes) == 0 {
		return fmt.Errorf("-route %s: no such route in the config", r.onlyRoute)
	}
	if r.rewriteLike != "" && !found {
		return fmt.Errorf("-rewrite-like %s: no candidate of that name in the replayed routes", r.rewriteLike)
	}
	return nil
}

func (r *replayer) count(fn func(*replaySkipped)) {
	r.mu.Lock()
	fn(&r.rep.Skipped)
	r.mu.Unlock()
}

// requestBody inverts sink.RequestBody: JSON as it is, a base64 string as its bytes.
func requestBody(raw json.RawMessage) []byte {
	if len(raw) == 0 || string(raw) == "null" {
		return nil
	}
	if raw[0] == '"' {
		var s string
		if json.Unmarshal(raw, &s) == nil {
			if b, err := base64.StdEncoding.DecodeString(s); err == nil {
				return b
			}
		}
	}
	return raw
}

// one replays one record.
func (r *replayer) one(ctx context.Context, rec *sink.Record) {
	rt := r.routes[rec.Route]
	switch {
	case rt == nil:
		r.count(func(s *replaySkipped) { s.NoRoute++ })
		return
	case rec.Request.Truncated || rec.PrimaryResponse.Truncated:
		r.count(func(s *replaySkipped) { s.Truncated++ })
		return
	case rec.PrimaryResponse.Status == 0:
		r.count(func(s *replaySkipped) { s.NoAnswer++ })
		return
	}
	r.mu.Lock()
	k := [2]string{rec.Route, rec.ID}
	dup := r.seen[k]
	r.seen[k] = true
	if !dup && !slices.Contains(r.rep.Routes, rec.Route) {
		r.rep.Routes = append(r.rep.Routes, rec.Route)
	}
	r.mu.Unlock()
	if dup {
		r.count(func(s *replaySkipped) { s.Duplicate++ })
		return
	}
	if r.tick != nil {
		select {
		case <-r.tick:
		case <-ctx.Done():
			return
		}
	}
	if ctx.Err() != nil {
		return
	}

	req, resp := fasthttp.AcquireRequest(), fasthttp.AcquireResponse()
	defer fasthttp.ReleaseRequest(req)
	defer fasthttp.ReleaseResponse(resp)
	u := *r.base
	u.Path = rec.Request.Path // the rewrite sees the client's path; the candidate's prefix comes after
	u.RawQuery = rec.Request.Query
	req.SetRequestURI(u.String())
	req.Header.SetMethod(rec.Request.Method)
	var redacted []string
	for name, v := range rec.Request.Headers {
		if slices.ContainsFunc(hopHeaders, func(h string) bool { return strings.EqualFold(h, name) }) {
			continue
		}
		if v == "[redacted]" || strings.HasPrefix(v, "hmac-sha256:") {
			redacted = append(redacted, name)
			continue
		}
		req.Header.Set(name, v)
	}
	for _, h := range r.headers {
		req.Header.Set(h[0], h[1])
	}
	req.Header.Set(proxy.ShadowHeader, "1")
	req.Header.Set("X-Request-Id", rec.ID)
	req.SetBody(requestBody(rec.Request.Body))
	if rt.rewrite != nil {
		// As the tee does: the candidate gets the rewritten copy, or the request as recorded when the
		// rewrite does not apply to it.
		rw := fasthttp.AcquireRequest()
		defer fasthttp.ReleaseRequest(rw)
		req.CopyTo(rw)
		if rt.rewrite.Apply(rw) == nil {
			req = rw
		}
	}
	if prefix := strings.TrimSuffix(r.base.Path, "/"); prefix != "" {
		req.URI().SetPath(prefix + string(req.URI().Path()))
	}
	r.sent.Add(1)
	start := time.Now()
	err := r.client.DoTimeout(req, resp, r.timeout)
	lat := time.Since(start)

	primary := compare.Response{Status: rec.PrimaryResponse.Status, Body: recordedBody(rec.PrimaryResponse.Body)}
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, name := range redacted {
		if !slices.ContainsFunc(r.headers, func(h [2]string) bool { return strings.EqualFold(h[0], name) }) {
			if r.rep.RedactedHeaders == nil {
				r.rep.RedactedHeaders = map[string]int64{}
			}
			r.rep.RedactedHeaders[name]++
		}
	}
	if err != nil {
		var ne net.Error
		if errors.Is(err, fasthttp.ErrTimeout) || (errors.As(err, &ne) && ne.Timeout()) {
			r.rep.Shadows["timeout"]++
		} else {
			r.rep.Shadows["error"]++
		}
		r.write(rec, nil, err, compare.Result{Outcome: compare.CandidateError}, lat)
		return
	}
	if resp.StatusCode() >= 500 {
		r.rep.Shadows["error"]++
	} else {
		r.rep.Shadows["ok"]++
	}
	cand := compare.Response{Status: resp.StatusCode(), ContentType: resp.Header.ContentType(), Body: resp.Body()}
	res := rt.cmp.Compare(primary, cand)
	r.rep.Comparisons[res.Outcome.String()]++
	r.compared.Add(1)
	if res.Outcome == compare.Agree || res.Outcome == compare.Disagree {
		w := rec.Weight
		if !(w > 0) || math.IsInf(w, 0) {
			w = 1
		}
		r.wsum += w
		if res.Outcome == compare.Disagree {
			r.wdis += w
		}
	}
	if rt.picker != nil && r.labels != nil && res.Outcome != compare.PrimaryError && res.Outcome != compare.CandidateError {
		if j, ok := rt.picker.Judge(primary, cand); ok {
			lbl := r.labels.find(rec.ID, rec.Route)
			pr, cr := j.Right(lbl)
			r.tally.Add(rec.Weight, j.Differ(), lbl != nil, pr, cr)
		}
	}
	r.write(rec, resp, nil, res, lat)
}

// write writes the new comparison as a record with -out. r.mu is held.
func (r *replayer) write(old *sink.Record, resp *fasthttp.Response, err error, res compare.Result, lat time.Duration) {
	if r.out == nil {
		return
	}
	kind := sink.KindAgreement
	switch res.Outcome {
	case compare.Agree:
	case compare.CandidateError:
		kind = sink.KindCandidateError
	default:
		kind = sink.KindDisagreement
	}
	rec := &sink.Record{
		Schema: sink.Schema, ID: old.ID, Time: time.Now().UTC(), Kind: kind, Route: old.Route, Candidate: r.name,
		Weight: old.Weight, Request: old.Request, PrimaryResponse: old.PrimaryResponse,
	}
	rec.CandidateResponse.LatencyMS = float64(lat.Microseconds()) / 1000
	if resp != nil {
		rec.CandidateResponse.Status = resp.StatusCode()
		rec.CandidateResponse.Body = sink.ResponseBody(resp.Body())
	}
	if err != nil {
		rec.CandidateResponse.Error = err.Error()
	}
	for _, d := range res.Diffs {
		rec.Diff = append(rec.Diff, sink.Diff{Path: d.Path, Primary: append(json.RawMessage(nil), d.Primary...), Candidate: append(json.RawMessage(nil), d.Candidate...)})
	}
	r.outBuf = append(sink.Encode(r.outBuf[:0], rec), '\n')
	_, _ = r.out.Write(r.outBuf) // Flush reports an error of the file
}

func (r *replayer) report() replayReport {
	r.mu.Lock()
	defer r.mu.Unlock()
	rep := r.rep
	agree, disagree := rep.Comparisons["agree"], rep.Comparisons["disagree"]
	if n := agree + disagree; n > 0 {
		rep.DisagreementRate = float64(disagree) / float64(n)
		lo, hi := stats.Wilson(disagree, n, 1.959963984540054)
		rep.CI95 = [2]float64{lo, hi}
		lo, hi = stats.ConfidenceSequence(disagree, n, 0.05)
		rep.CS95 = [2]float64{lo, hi}
	}
	if r.wsum > 0 {
		e := r.wdis / r.wsum
		rep.WeightedEstimate = &e
	}
	if r.labels != nil {
		a := r.tally.Estimate()
		rep.Truth = &a
	}
	return rep
}

// eachKafkaRecord reads a records topic from its start to its current end, every partition, and calls
// fn with each record (bad for each message that is not one).
func eachKafkaRecord(ctx context.Context, brokers []string, topic string, fn func(*sink.Record), bad func()) error {
	conn, err := kafka.DialContext(ctx, "tcp", brokers[0])
	if err != nil {
		return fmt.Errorf("kafka: %w", err)
	}
	parts, err := conn.ReadPartitions(topic)
	conn.Close()
	if err != nil {
		return fmt.Errorf("kafka: partitions of %s: %w", topic, err)
	}
	for _, p := range parts {
		leader, err := kafka.DialLeader(ctx, "tcp", net.JoinHostPort(p.Leader.Host, strconv.Itoa(p.Leader.Port)), topic, p.ID)
		if err != nil {
			return fmt.Errorf("kafka: partition %d: %w", p.ID, err)
		}
		first, last, err := leader.ReadOffsets()
		leader.Close()
		if err != nil {
			return fmt.Errorf("kafka: offsets of partition %d: %w", p.ID, err)
		}
		if last <= first {
			continue
		}
		rd := kafka.NewReader(kafka.ReaderConfig{Brokers: brokers, Topic: topic, Partition: p.ID, MaxBytes: 16 << 20, MaxWait: 500 * time.Millisecond})
		if err := rd.SetOffset(first); err != nil {
			rd.Close()
			return err
		}
		for {
			m, err := rd.ReadMessage(ctx)
			if err != nil {
				rd.Close()
				return fmt.Errorf("kafka: read partition %d: %w", p.ID, err)
			}
			var rec sink.Record
			if json.Unmarshal(m.Value, &rec) != nil || rec.Route == "" {
				bad()
			} else {
				fn(&rec)
			}
			if m.Offset >= last-1 {
				break
			}
		}
		rd.Close()
	}
	return nil
}
