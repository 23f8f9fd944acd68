package tee

import (
	"context"
	"crypto/tls"
	"fmt"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/valyala/fasthttp"
	"go.uber.org/zap"

	"github.com/shadowproxy/shadowproxy/compare"
	"github.com/shadowproxy/shadowproxy/proxy"
	"github.com/shadowproxy/shadowproxy/sink"
)

// Options configure a Tee.
type Options struct {
	// Route is the route name used in metrics and records.
	Route string
	// Methods are the request methods mirrored. Empty mirrors every method.
	Methods []string
	// Candidates receive the sampled copies. May be empty.
	Candidates []CandidateOptions
	// Secondary is an optional second instance of the production model: it receives one copy of every
	// request sampled for any candidate, and the fields that differ between primary and secondary are
	// treated as noise (Diffy's noise cancellation). Nil disables noise cancellation.
	Secondary *UpstreamOptions
	// Noise sets the margins by which a candidate's per-field difference rate must exceed the
	// primary-vs-secondary rate to count. The default is Diffy's: 20% relative and 0.03% absolute.
	Noise NoiseOptions
	// Comparator compares answers. The default compares JSON structurally (compare.Options{}).
	Comparator *compare.Comparator
	// MaxBody bounds every body copy the Tee keeps. An exchange whose request body or primary answer
	// is larger is not mirrored (dropped, reason body_too_large), so that a candidate's queue holds at
	// most Queue x 2 x MaxBody bytes of bodies. A compressed primary answer counts at its decoded
	// size. A candidate's answer is read up to UpstreamOptions.MaxResponseBody, by default MaxBody
	// too. The default is 64 KiB.
	MaxBody int
	// Record chooses what is written to Sink.
	Record RecordOptions
	// RemoveHeaders are deleted from shadow requests (headers a candidate must not see), and left
	// out of records.
	RemoveHeaders []string
	// KeepHeaders are the CredentialHeaders that shadow requests keep. The default (empty) strips
	// every credential header from shadows; records still show them, redacted as RedactHeaders
	// says or, when it does not name them, as "[redacted]". A candidate that answers 401 or 403 to
	// a shadow stripped of credentials is logged once, with the headers stripped.
	KeepHeaders []string
	// Sink receives records. Nil writes no records.
	Sink sink.Sink
	// Metrics are shared by every Tee of the process. The default registers on a private registry.
	Metrics *Metrics
	// Stats, the counts behind Status, are shared by every Tee of the process so that they survive
	// reloads. The default is private to the Tee.
	Stats *Stats
	// Recent keeps the latest disagreements for the console; shared by every Tee of the process. Nil
	// keeps none.
	Recent *Recent
	// Logger. The default discards logs.
	Logger *zap.Logger
	// FieldLabels caps distinct field label values per candidate. The default is 20.
	FieldLabels int
	// Truth joins ground-truth labels with this route's comparisons when it has the route configured
	// (Truth.Configure). Nil joins none.
	Truth *Truth
}

func (o *Options) maxBody() int {
	if o.MaxBody > 0 {
		return o.MaxBody
	}
	return 64 << 10
}

func (o *Options) fieldLabels() int {
	if o.FieldLabels > 0 {
		return o.FieldLabels
	}
	return 20
}

// WithDefaults returns o with the default of each zero setting filled in, its candidates' and
// secondary's included: the values a Tee built from o uses (Record.RedactHeaders: every header
// records redact, the CredentialHeaders included).
func (o Options) WithDefaults() Options {
	o.MaxBody, o.FieldLabels = o.maxBody(), o.fieldLabels()
	o.Noise = o.Noise.withDefaults()
	o.Record.RedactHeaders, o.Record.RedactQuery = o.Record.redactHeaders(), o.Record.redactQuery()
	o.Candidates = slices.Clone(o.Candidates)
	for i := range o.Candidates {
		o.Candidates[i].UpstreamOptions = o.Candidates[i].withDefaults(roleCandidate, o.MaxBody)
	}
	if o.Secondary != nil {
		sec := o.Secondary.withDefaults(roleSecondary, o.MaxBody)
		o.Secondary = &sec
	}
	return o
}

// UpstreamOptions describe a model server a Tee sends copies to.
type UpstreamOptions struct {
	// Name is the candidate label (and the record's candidate). Required.
	Name string
	// URL is http://host:port or https://host:port, or grpc://host:port (cleartext HTTP/2) or
	// grpcs://host:port on a route the proxy's GRPCServer serves. Required.
	URL string
	// Timeout bounds one request. The default is 5s for a candidate and 2s for the Secondary (a
	// production model, held to the primary's default).
	Timeout time.Duration
	// Concurrency is the number of workers, and so of requests in flight. The default is 64.
	Concurrency int
	// Queue is the number of copies waiting for a worker; beyond it copies are dropped. The default is 1024.
	Queue int
	// MaxResponseBody is the largest answer read from the candidate, decoded when it is compressed:
	// a larger one is cut off as it streams in and not compared (outcome error, a candidate_error
	// record saying so). The default is the Tee's MaxBody.
	MaxResponseBody int
	// IdleTimeout closes pooled connections to the candidate idle this long; keep it below the
	// server's keep-alive timeout. The default is proxy.DefaultIdleTimeout, 1s.
	IdleTimeout time.Duration
	// TLS is used for https URLs. The default is Go's default client configuration.
	TLS *tls.Config
}

// withDefaults fills in the defaults of an upstream of role r in a Tee whose MaxBody is maxBody.
func (o UpstreamOptions) withDefaults(r role, maxBody int) UpstreamOptions {
	if o.Timeout <= 0 {
		o.Timeout = 5 * time.Second
		if r == roleSecondary {
			o.Timeout = 2 * time.Second
		}
	}
	if o.Concurrency <= 0 {
		o.Concurrency = 64
	}
	if o.Queue <= 0 {
		o.Queue = 1024
	}
	if o.MaxResponseBody <= 0 {
		o.MaxResponseBody = maxBody
	}
	if o.IdleTimeout <= 0 {
		o.IdleTimeout = proxy.DefaultIdleTimeout
	}
	return o
}

// CandidateOptions describe one candidate.
type CandidateOptions struct {
	UpstreamOptions
	// Sample is the share of requests mirrored, from 0 (none) to 1 (all).
	Sample float64
	// StickyKey, when set, makes the sampling decision a function of the key's value.
	StickyKey StickyKey
	// Chaos injects faults into the candidate's answers before comparison. The zero value injects none.
	Chaos Chaos
	// PromoteBelow is the disagreement rate the verdict on /status is judged against. 0 means no verdict.
	PromoteBelow float64
	// Rewrite edits the copy of each request this candidate gets. Nil rewrites nothing.
	Rewrite *Rewrite
}

// NoiseOptions are the margins of noise cancellation.
type NoiseOptions struct {
	// Relative margin. The default is 0.2.
	Relative float64
	// Absolute margin. The default is 0.0003.
	Absolute float64
}

func (o NoiseOptions) withDefaults() NoiseOptions {
	if o.Relative <= 0 {
		o.Relative = 0.2
	}
	if o.Absolute <= 0 {
		o.Absolute = 0.0003
	}
	return o
}

// RecordOptions choose which comparisons become records and what they contain.
type RecordOptions struct {
	// Disagreements is the share of disagreements and candidate errors recorded, 0 to 1.
	Disagreements float64
	// Agreements is the share of agreements recorded, 0 to 1.
	Agreements float64
	// RedactHeaders are written as "[redacted]" (or a keyed hash, see HashKey), besides the
	// CredentialHeaders, which always are. Nil means DefaultRedactHeaders; an empty, non-nil list
	// adds none.
	RedactHeaders []string
	// RedactQuery are query parameters (case-insensitive) whose values records redact, as
	// "name=[redacted]". Nil means DefaultRedactQuery; an empty, non-nil list redacts none.
	RedactQuery []string
	// RedactFields are JSON paths (dotted, [*] for any index) redacted in every body and diff.
	RedactFields []string
	// HashKey, when set, replaces redacted values with "hmac-sha256:" and the hex HMAC of the value,
	// so records stay joinable without revealing the value.
	HashKey []byte
}

// redactHeaders are the headers records redact: the CredentialHeaders always, and RedactHeaders
// or, when it is nil, DefaultRedactHeaders.
func (o *RecordOptions) redactHeaders() []string {
	extra := o.RedactHeaders
	if extra == nil {
		extra = DefaultRedactHeaders
	}
	return append(slices.Clip(CredentialHeaders), extra...)
}

func (o *RecordOptions) redactQuery() []string {
	if o.RedactQuery != nil {
		return o.RedactQuery
	}
	return DefaultRedactQuery
}

// Tee mirrors one route's exchanges to its candidates: it is the route's proxy.Mirror.
type Tee struct {
	route     string
	maxBody   int
	methods   proxy.Methods
	cands     []*candidate
	secondary *candidate
	noise     *noiseTable
	rules     *ruleUse
	metrics   *Metrics
	log       *zap.Logger
	closed    atomic.Bool
	closeOnce sync.Once
	closeErr  error
}

// New starts a Tee's workers. Close must be called to stop them.
func New(opts Options) (*Tee, error) {
	if opts.Metrics == nil {
		opts.Metrics = NewMetrics(prometheus.NewRegistry(), nil)
	}
	if opts.Stats == nil {
		opts.Stats = NewStats()
	}
	if opts.Logger == nil {
		opts.Logger = zap.NewNop()
	}
	if opts.Comparator == nil {
		c, err := compare.New(compare.Options{})
		if err != nil {
			return nil, err
		}
		opts.Comparator = c
	}
	opts.Noise = opts.Noise.withDefaults()
	red, err := newRedactor(opts.Record)
	if err != nil {
		return nil, fmt.Errorf("route %s: %w", opts.Route, err)
	}
	t := &Tee{route: opts.Route, maxBody: opts.maxBody(), methods: proxy.NewMethods(opts.Methods), metrics: opts.Metrics, log: opts.Logger}
	shared := &shared{
		route:   opts.Route,
		cmp:     opts.Comparator,
		maxBody: t.maxBody,
		record:  opts.Record,
		redact:  red,
		strip:   newStripper(opts.RemoveHeaders, opts.KeepHeaders),
		sink:    opts.Sink,
		metrics: opts.Metrics,
		stats:   opts.Stats,
		recent:  opts.Recent,
		rules:   newRuleUse(opts.Comparator),
		log:     opts.Logger,
		truth:   opts.Truth,
	}
	t.rules = shared.rules
	if opts.Secondary != nil {
		t.noise = newNoiseTable(opts.Noise)
		shared.noise = t.noise
	}
	seen := make(map[string]bool)
	for _, co := range opts.Candidates {
		if seen[co.Name] {
			t.stop()
			return nil, fmt.Errorf("route %s: duplicate candidate %q", opts.Route, co.Name)
		}
		seen[co.Name] = true
		c, err := newCandidate(shared, co, roleCandidate, opts.fieldLabels())
		if err != nil {
			t.stop()
			return nil, fmt.Errorf("route %s: candidate %s: %w", opts.Route, co.Name, err)
		}
		t.cands = append(t.cands, c)
	}
	if opts.Secondary != nil {
		c, err := newCandidate(shared, CandidateOptions{UpstreamOptions: *opts.Secondary, Sample: 1}, roleSecondary, opts.fieldLabels())
		if err != nil {
			t.stop()
			return nil, fmt.Errorf("route %s: secondary: %w", opts.Route, err)
		}
		t.secondary = c
	}
	return t, nil
}

// MaxBody implements proxy.BodyLimit: the Tee takes no exchange with a body over Options.MaxBody.
func (t *Tee) MaxBody() int { return t.maxBody }

// Offer implements proxy.Mirror: it mirrors the exchange to every candidate whose sampler takes it.
// It copies what it keeps, never blocks, and reports whether any candidate took the exchange. The
// exchange's RequestID is the record id, its Start the record time and its Latency the primary's.
func (t *Tee) Offer(ex *proxy.Exchange) bool {
	if t.closed.Load() || !t.methods.Has(ex.Request.Header.Method()) {
		return false
	}
	taken := false
	for _, c := range t.cands {
		if c.offer(ex) {
			taken = true
		}
	}
	if taken && t.secondary != nil {
		t.secondary.enqueue(ex)
	}
	return taken
}

// Close stops taking offers and drains the queues until ctx ends; what is still queued then is
// dropped and counted with reason shutdown. It waits for the workers, whose requests in flight end at
// their own timeout, and reports ctx's error if the drain was cut short.
func (t *Tee) Close(ctx context.Context) error {
	t.closeOnce.Do(func() {
		t.closed.Store(true)
		all := t.all()
		for _, c := range all {
			close(c.stop)
		}
		done := make(chan struct{})
		go func() {
			for _, c := range all {
				c.wg.Wait()
			}
			close(done)
		}()
		select {
		case <-done:
		case <-ctx.Done():
			for _, c := range all {
				c.abandon.Store(true)
			}
			<-done
			t.closeErr = fmt.Errorf("drain tee %s: %w", t.route, ctx.Err())
		}
		for _, c := range all {
			c.closeClient()
			t.metrics.removeLive(c)
		}
	})
	return t.closeErr
}

// stop ends workers started by a failed New.
func (t *Tee) stop() {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_ = t.Close(ctx)
}

func (t *Tee) all() []*candidate {
	all := append([]*candidate(nil), t.cands...)
	if t.secondary != nil {
		all = append(all, t.secondary)
	}
	return all
}

// jsonLength reads Triton's Inference-Header-Content-Length header (0 when absent or invalid).
func jsonLength(h *fasthttp.ResponseHeader) int {
	v := h.Peek("Inference-Header-Content-Length")
	if len(v) == 0 {
		return 0
	}
	n, err := strconv.Atoi(string(v))
	if err != nil || n < 0 {
		return 0
	}
	return n
}

var _ proxy.BodyLimit = (*Tee)(nil)
