package tee

import (
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/valyala/fasthttp"
	"go.uber.org/zap"
	"google.golang.org/grpc"

	"github.com/shadowproxy/shadowproxy/compare"
	"github.com/shadowproxy/shadowproxy/proxy"
	"github.com/shadowproxy/shadowproxy/sink"
)

// role tells a candidate from the secondary (the noise reference).
type role uint8

const (
	roleCandidate role = iota
	roleSecondary
)

var roleLabels = [...]string{"candidate", "secondary"}

// shared is what every candidate of a Tee uses.
type shared struct {
	route   string
	maxBody int // bounds every body copy (Options.MaxBody)
	cmp     *compare.Comparator
	record  RecordOptions
	redact  *redactor
	strip   stripper
	sink    sink.Sink
	metrics *Metrics
	stats   *Stats
	recent  *Recent
	noise   *noiseTable
	rules   *ruleUse
	log     *zap.Logger
	truth   *Truth // nil: no ground truth
}

// candidate is one upstream a Tee mirrors to: its sampler, bounded queue, workers and client.
type candidate struct {
	*shared
	name         string
	role         role
	host         string
	sampler      sampler
	timeout      time.Duration
	maxAnswer    int
	chaos        Chaos
	promoteBelow float64
	client       *fasthttp.HostClient
	// grpc is the client of a grpc:// or grpcs:// candidate (then client is nil), and views says
	// whether its answers are compared as JSON views (compare.GRPCView) rather than as bytes.
	grpc    *grpc.ClientConn
	views   bool
	rewrite *rewriter
	stats   *candidateStats
	fields  *fieldSeries
	recent  *ring // the latest disagreements, for the console

	// queue holds at most Queue jobs; offer drops (reason queue_full) when it is full.
	queue   chan *job
	stop    chan struct{}
	abandon atomic.Bool
	// authHinted is set once a 401 or 403 to a shadow without credentials has been logged.
	authHinted atomic.Bool
	wg         sync.WaitGroup

	outcomes     [numOutcomes]prometheus.Counter
	dropQueue    prometheus.Counter
	dropBody     prometheus.Counter
	dropShutdown prometheus.Counter
	results      [numResults]prometheus.Counter
	predAgree    prometheus.Counter
	predDisagree prometheus.Counter
	latency      prometheus.Observer
}

func newCandidate(sh *shared, o CandidateOptions, r role, fieldLabels int) (*candidate, error) {
	if o.Name == "" {
		o.Name = roleLabels[r]
	}
	o.UpstreamOptions = o.withDefaults(r, sh.maxBody)
	m := sh.metrics
	isGRPC := proxy.IsGRPC(o.URL)
	rw, err := newRewriter(o.Rewrite, isGRPC, m.rewrites, sh.route, o.Name)
	if err != nil {
		return nil, err
	}
	c := &candidate{
		shared:       sh,
		name:         o.Name,
		role:         r,
		sampler:      newSampler(o.Name, o.Sample, o.StickyKey),
		timeout:      o.Timeout,
		chaos:        o.Chaos,
		promoteBelow: o.PromoteBelow,
		maxAnswer:    o.MaxResponseBody,
		rewrite:      rw,
		stats:        sh.stats.candidate(sh.route, o.Name),
		fields:       m.fieldSeriesFor(sh.route, o.Name, fieldLabels),
		queue:        make(chan *job, o.Queue),
		stop:         make(chan struct{}),
	}
	if isGRPC {
		c.grpc, _, err = proxy.DialGRPC(proxy.Upstream{URL: o.URL, TLS: o.TLS, MaxResponseBody: o.MaxResponseBody})
		if err != nil {
			return nil, err
		}
		c.views = sh.cmp.Format() != compare.FormatRaw
	} else {
		c.client, c.host, err = proxy.NewHostClient(proxy.Upstream{
			URL:             o.URL,
			Timeout:         o.Timeout,
			MaxConns:        o.Concurrency,
			MaxResponseBody: o.MaxResponseBody,
			IdleTimeout:     o.IdleTimeout,
			TLS:             o.TLS,
		})
		if err != nil {
			return nil, err
		}
	}
	for i, l := range outcomeLabels {
		c.outcomes[i] = m.shadows.WithLabelValues(sh.route, o.Name, l)
	}
	c.dropQueue = m.drops.WithLabelValues(sh.route, o.Name, dropQueueFull)
	c.dropBody = m.drops.WithLabelValues(sh.route, o.Name, dropBodyTooLarge)
	c.dropShutdown = m.drops.WithLabelValues(sh.route, o.Name, dropShutdown)
	if r == roleCandidate {
		c.recent = sh.recent.ring(sh.route, o.Name)
		for i := range c.results {
			c.results[i] = m.comparisons.WithLabelValues(sh.route, o.Name, compare.Outcome(i).String())
		}
		c.predAgree = m.predictions.WithLabelValues(sh.route, o.Name, "agree")
		c.predDisagree = m.predictions.WithLabelValues(sh.route, o.Name, "disagree")
	}
	if m.upstream != nil {
		c.latency = m.upstream.WithLabelValues(sh.route, roleLabels[r], o.Name)
	}
	m.addLive(c)
	c.wg.Add(o.Concurrency)
	for range o.Concurrency {
		go c.work()
	}
	return c, nil
}

// offer samples and enqueues one exchange.
func (c *candidate) offer(ex *proxy.Exchange) bool {
	if !c.sampler.take(ex.Request) {
		c.count(outcomeSampledOut)
		return false
	}
	return c.enqueue(ex)
}

// enqueue copies the exchange into a job and makes a non-blocking send on the queue.
func (c *candidate) enqueue(ex *proxy.Exchange) bool {
	if len(ex.Request.Body()) > c.maxBody || len(ex.Response.Body()) > c.maxBody {
		c.drop(c.dropBody)
		return false
	}
	if len(c.queue) == cap(c.queue) {
		// Full: shed before copying anything (the common case under a slow candidate). A slot
		// freed since is only a shadow missed, counted like any other drop.
		c.drop(c.dropQueue)
		return false
	}
	j := acquireJob()
	j.fill(ex)
	if c.grpc != nil {
		j.view = c.views
		j.grpcStatus, j.grpcMessage = grpcStatus(&ex.Response.Header)
	}
	select {
	case c.queue <- j:
		return true
	default:
		releaseJob(j)
		c.drop(c.dropQueue)
		return false
	}
}

func (c *candidate) count(outcome int) {
	c.outcomes[outcome].Inc()
	c.stats.shadows[outcome].Add(1)
}

func (c *candidate) drop(reason prometheus.Counter) {
	reason.Inc()
	c.count(outcomeDropped)
}

// work is one worker: it sends jobs until stop is closed, then drains the queue (or, once abandon is
// set, counts what is left as dropped).
func (c *candidate) work() {
	defer c.wg.Done()
	var resp fasthttp.Response
	for {
		select {
		case j := <-c.queue:
			c.handle(j, &resp)
		case <-c.stop:
			// Drain what is queued, then end.
			for {
				select {
				case j := <-c.queue:
					c.handle(j, &resp)
				default:
					return
				}
			}
		}
	}
}

// handle processes a job, or drops it (shutdown) once Close has stopped waiting. Both cases of
// work's select come here: with the queue and stop both ready, select picks either, and a worker
// that took the queue's case used to process every queued job to its timeout after the deadline.
func (c *candidate) handle(j *job, resp *fasthttp.Response) {
	if c.abandon.Load() {
		releaseJob(j)
		c.drop(c.dropShutdown)
		return
	}
	c.process(j, resp)
	// An outlier's buffer is not kept for the next job, nor handed to fasthttp's pool.
	resp.ReleaseBody(maxPooledBody)
}

// process sends one job to the candidate, compares the answers, counts and records the outcome.
func (c *candidate) process(j *job, resp *fasthttp.Response) {
	defer releaseJob(j)
	// A compressed primary answer that expands past MaxBody is not mirrored, as a larger one is not.
	primary, ok := j.primary(c.maxBody)
	if !ok {
		c.drop(c.dropBody)
		return
	}
	req := &j.req
	req.Header.Set(proxy.ShadowHeader, "1")
	stripped := c.strip.strip(j)
	// Ask for an identity answer: compare reads bodies as they are.
	req.Header.Del(fasthttp.HeaderAcceptEncoding)
	if c.client != nil {
		req.UseHostHeader = false
		req.SetHost(c.host)
		// fasthttp refuses a request whose scheme differs from its client's.
		if c.client.IsTLS {
			req.URI().SetScheme("https")
		} else {
			req.URI().SetScheme("http")
		}
	}
	// The candidate gets the rewritten copy; the record keeps req. A rewrite that cannot apply
	// sends req unchanged.
	send := req
	if c.rewrite != nil {
		req.CopyTo(&j.rewritten)
		if c.rewrite.apply(&j.rewritten) == nil {
			send = &j.rewritten
		}
	}
	resp.Reset()

	start := time.Now()
	var err error
	if c.grpc != nil {
		err = c.sendGRPC(send, resp)
	} else {
		err = c.client.DoTimeout(send, resp, c.timeout)
	}
	lat := time.Since(start)
	var viewErr error
	if err == nil && c.views {
		viewErr = viewAnswer(string(req.URI().Path()), resp)
	}
	var injected string
	if err == nil && viewErr == nil {
		injected = c.injectChaos(resp, &lat)
	}
	if c.latency != nil {
		c.latency.Observe(lat.Seconds())
	}
	var cand compare.Response
	if err == nil {
		var ok bool
		if cand, ok = j.candidate(resp, c.maxAnswer); !ok {
			err = fasthttp.ErrBodyTooLarge
		}
	}
	if err != nil && proxy.ClassifyError(err) == proxy.FailureTooLarge {
		// Cut off as it streamed in (or as it expanded): an error of the candidate, not compared.
		err = fmt.Errorf("answer over %d bytes, cut off and not compared: %w", c.maxAnswer, err)
	}
	if err == nil {
		c.authRefused(resp.StatusCode(), stripped)
	}
	outcome := outcomeOK
	switch {
	case err != nil && proxy.ClassifyError(err) == proxy.FailureTimeout:
		outcome = outcomeTimeout
	case err != nil, resp.StatusCode() >= 500:
		outcome = outcomeError
	}
	c.count(outcome)

	if err != nil {
		if c.role == roleCandidate {
			c.log.Debug("shadow failed", zap.String("route", c.route), zap.String("candidate", c.name), zap.String("error", proxy.LogSafe(err)))
			c.maybeRecord(j, nil, err, compare.Result{Outcome: compare.CandidateError}, lat, injected)
		}
		return
	}
	candCode, _ := grpcStatus(&resp.Header)
	var res compare.Result
	switch {
	case j.viewErr != nil:
		res = compare.Result{Outcome: compare.Unparseable, Reason: "the primary's message: " + j.viewErr.Error()}
	case viewErr != nil:
		res = compare.Result{Outcome: compare.Unparseable, Reason: "the candidate's message: " + viewErr.Error()}
	case j.view && j.grpcStatus >= 0 && candCode >= 0 && (j.grpcStatus != 0 || candCode != 0):
		// gRPC error answers compare by their codes (two codes may map to one HTTP status).
		res = c.cmp.CompareGRPC(string(req.URI().Path()), compare.GRPCAnswer{Code: j.grpcStatus}, compare.GRPCAnswer{Code: candCode})
	default:
		res = c.compare(primary, cand)
	}
	switch res.Outcome {
	case compare.Agree, compare.Disagree, compare.ShapeMismatch:
		c.rules.add(res, c.log, c.route)
	}
	if c.role == roleSecondary {
		c.noise.observe(res)
		return
	}
	if c.noise != nil && c.noise.explains(c, res) {
		c.metrics.noise.WithLabelValues(c.route, c.name).Inc()
		res.Outcome = compare.Agree
	}
	c.results[res.Outcome].Inc()
	c.stats.results[res.Outcome].Add(1)
	if p := res.Predictions; p.Agree+p.Disagree > 0 {
		c.predAgree.Add(float64(p.Agree))
		c.predDisagree.Add(float64(p.Disagree))
		c.stats.predAgree.Add(int64(p.Agree))
		c.stats.predDisagree.Add(int64(p.Disagree))
	}
	if res.Outcome == compare.Disagree {
		for _, d := range res.Diffs {
			c.fields.count(d.Field)
		}
	}
	if res.Outcome != compare.PrimaryError {
		c.stats.addDelta((lat - j.latency).Seconds())
	}
	if c.truth != nil && res.Outcome != compare.PrimaryError && res.Outcome != compare.CandidateError {
		c.truth.observe(c.route, c.name, j.id, primary, cand)
	}
	c.maybeRecord(j, resp, nil, res, lat, injected)
}

// compare runs the comparator, turning a panic (a comparator bug meeting an answer it did not expect)
// into an unparseable outcome: no answer a model sends can stop a worker or the process.
func (c *candidate) compare(primary, cand compare.Response) (res compare.Result) {
	defer func() {
		if r := recover(); r != nil {
			c.log.Error("comparison panicked; counted as unparseable", zap.String("route", c.route),
				zap.String("candidate", c.name), zap.Any("panic", r), zap.Stack("stack"))
			res = compare.Result{Outcome: compare.Unparseable, Reason: fmt.Sprint("comparator panic: ", r)}
		}
	}()
	return c.cmp.Compare(primary, cand)
}

// job is one exchange copied for one candidate. Jobs are pooled; nothing in a job is handed to a sink.
type job struct {
	req fasthttp.Request
	id  []byte // the exchange's RequestID
	// stripped are the credential headers removed from req, name and value, for the record.
	stripped []strippedHeader
	nstrip   int
	status   int
	ctype    []byte
	encoding []byte
	jsonLen  int
	body     []byte
	decoded  []byte
	decodeOK int8   // 0: not tried yet; 1: decoded holds the body; -1: not decodable; -2: too large
	answer   []byte // the candidate's answer decoded, when it was compressed
	latency  time.Duration
	start    time.Time
	// rewritten is the copy of req a candidate with a rewrite gets.
	rewritten fasthttp.Request
	// view: the answers are gRPC messages compared as JSON views; the primary's is decoded once
	// into decoded (viewErr says why it could not be). grpcStatus is the primary's gRPC status
	// (-1 for HTTP exchanges).
	view        bool
	viewErr     error
	grpcStatus  int
	grpcMessage string
}

var jobPool = sync.Pool{New: func() any { return new(job) }}

func acquireJob() *job { return jobPool.Get().(*job) }

// maxPooledBody keeps unusually large buffers out of the pool.
const maxPooledBody = 1 << 20

func releaseJob(j *job) {
	j.req.Reset()
	j.rewritten.Reset()
	j.view, j.viewErr = false, nil
	if cap(j.body) > maxPooledBody || cap(j.decoded) > maxPooledBody || cap(j.answer) > maxPooledBody {
		return
	}
	jobPool.Put(j)
}

func (j *job) fill(ex *proxy.Exchange) {
	req, resp := ex.Request, ex.Response
	req.CopyTo(&j.req)
	j.id = append(j.id[:0], ex.RequestID...)
	j.nstrip = 0
	j.status = resp.StatusCode()
	j.ctype = append(j.ctype[:0], resp.Header.ContentType()...)
	j.encoding = append(j.encoding[:0], resp.Header.ContentEncoding()...)
	j.jsonLen = jsonLength(&resp.Header)
	j.body = append(j.body[:0], resp.Body()...)
	j.decodeOK = 0
	j.grpcStatus, j.grpcMessage = -1, ""
	j.latency = ex.Latency
	j.start = ex.Start
}

// strippedHeader is a header removed from a shadow request; its slices are reused across jobs.
type strippedHeader struct{ name, value []byte }

func (j *job) saveStripped(name string, value []byte) {
	if j.nstrip == len(j.stripped) {
		j.stripped = append(j.stripped, strippedHeader{})
	}
	s := &j.stripped[j.nstrip]
	s.name = append(s.name[:0], name...)
	s.value = append(s.value[:0], value...)
	j.nstrip++
}

// primary returns the primary's answer, decoded when the primary compressed it (once per job: the
// comparison and the record both read it), and false when it expands past limit.
func (j *job) primary(limit int) (compare.Response, bool) {
	body, ctype := j.body, j.ctype
	if j.view && j.decodeOK == 0 {
		j.decodeOK = -1
		if j.status == fasthttp.StatusOK {
			v, _, err := compare.GRPCView(string(j.req.URI().Path()), j.body, true)
			if err == nil {
				j.decoded, j.decodeOK = append(j.decoded[:0], v...), 1
			} else {
				j.viewErr = err
			}
		}
	}
	if j.view && j.decodeOK == 1 {
		ctype = jsonContentType
	}
	if len(j.encoding) > 0 && j.decodeOK == 0 {
		var err error
		j.decoded, err = appendDecoded(j.decoded[:0], j.encoding, j.body, limit)
		switch {
		case err == nil:
			j.decodeOK = 1
		case errors.Is(err, errDecodedTooLarge):
			j.decodeOK = -2
		default:
			j.decodeOK = -1 // compared as it is: unparseable, most likely
		}
	}
	switch j.decodeOK {
	case 1:
		body = j.decoded
	case -2:
		return compare.Response{}, false
	}
	return compare.Response{Status: j.status, ContentType: ctype, JSONLength: j.jsonLen, Body: body}, true
}

// candidate returns the candidate's answer, decoded when the candidate compressed it although asked
// not to, and false when it expands past limit.
func (j *job) candidate(resp *fasthttp.Response, limit int) (compare.Response, bool) {
	body := resp.Body()
	if enc := resp.Header.ContentEncoding(); len(enc) > 0 {
		var err error
		j.answer, err = appendDecoded(j.answer[:0], enc, body, limit)
		switch {
		case err == nil:
			body = j.answer
		case errors.Is(err, errDecodedTooLarge):
			return compare.Response{}, false
		}
	}
	return compare.Response{
		Status:      resp.StatusCode(),
		ContentType: resp.Header.ContentType(),
		JSONLength:  jsonLength(&resp.Header),
		Body:        body,
	}, true
}
