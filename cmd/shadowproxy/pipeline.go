package main

import (
	"context"
	"errors"
	"fmt"
	"os"

	"go.uber.org/zap"

	"github.com/shadowproxy/shadowproxy/compare"
	"github.com/shadowproxy/shadowproxy/configs"
	"github.com/shadowproxy/shadowproxy/proxy"
	"github.com/shadowproxy/shadowproxy/sink"
	"github.com/shadowproxy/shadowproxy/tee"
)

// pipeline is what one config builds: a tee per route. The tees write to the app's sinks, which
// outlive pipelines.
type pipeline struct {
	cfg  *configs.Config
	tees []*tee.Tee
}

// build makes a pipeline for cfg.
func (a *app) build(cfg *configs.Config) (*pipeline, []proxy.Route, error) {
	p := &pipeline{cfg: cfg}
	routes := make([]proxy.Route, 0, len(cfg.Routes))
	for i := range cfg.Routes {
		rc := &cfg.Routes[i]
		opts, err := teeOptions(rc, cfg, a.sinks, a.metrics.tee, a.log)
		opts.Truth = a.truth
		if err != nil {
			p.close(context.Background())
			return nil, nil, fmt.Errorf("route %s: %w", rc.Name, err)
		}
		opts.Stats = a.stats
		opts.Recent = a.recent
		var m proxy.Mirror
		if len(rc.Candidates) > 0 {
			t, err := tee.New(opts)
			if err != nil {
				p.close(context.Background())
				return nil, nil, err
			}
			p.tees = append(p.tees, t)
			m = t
		}
		primaryTLS, err := tlsConfig(rc.Primary.TLS)
		if err != nil {
			p.close(context.Background())
			return nil, nil, fmt.Errorf("route %s: primary: %w", rc.Name, err)
		}
		routes = append(routes, proxy.Route{
			Name:       rc.Name,
			PathPrefix: rc.Match.PathPrefix,
			Methods:    rc.Match.Methods,
			Host:       rc.Match.Host,
			Headers:    rc.Match.Headers,
			Primary: proxy.Upstream{
				URL:         rc.Primary.URL,
				Timeout:     rc.Primary.Timeout.D(),
				MaxConns:    rc.Primary.MaxConns,
				IdleTimeout: rc.Primary.IdleTimeout.D(),
				TLS:         primaryTLS,
				Stream:      rc.Primary.Stream,
			},
			Mirror: m,
		})
	}
	truth, err := truthRoutes(cfg)
	if err != nil {
		p.close(context.Background())
		return nil, nil, err
	}
	a.truth.Configure(truth)
	return p, routes, nil
}

// close drains the pipeline's tees.
func (p *pipeline) close(ctx context.Context) error {
	var errs []error
	for _, t := range p.tees {
		if err := t.Close(ctx); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// statuses reports every route with candidates.
func (p *pipeline) statuses() []tee.RouteStatus {
	out := make([]tee.RouteStatus, 0, len(p.tees))
	for _, t := range p.tees {
		out = append(out, t.Status())
	}
	return out
}

func proxyOptions(cfg *configs.Config, routes []proxy.Route, log *zap.Logger, m *proxy.Metrics) proxy.Options {
	return proxy.Options{
		MaxRequestBody: int(cfg.MaxRequestBody),
		MaxHeaderBytes: int(cfg.MaxHeaderBytes),
		ReadTimeout:    cfg.ReadTimeout.D(),
		WriteTimeout:   cfg.WriteTimeout.D(),
		IdleTimeout:    cfg.IdleTimeout.D(),
		Logger:         log,
		Metrics:        m,
		Routes:         routes,
	}
}

// defaultMirrorMethods are mirrored by routes whose match lists no methods.
var defaultMirrorMethods = []string{"GET", "POST"}

// teeOptions maps one route of the config onto tee.Options.
func teeOptions(rc *configs.Route, cfg *configs.Config, s sink.Sink, m *tee.Metrics, log *zap.Logger) (tee.Options, error) {
	cmp, err := compare.New(compareOptions(rc.Compare))
	if err != nil {
		return tee.Options{}, fmt.Errorf("compare: %w", err)
	}
	rec := rc.Record
	// Mirroring repeats a request's side effects on the candidate: a route that matches every method
	// mirrors only GET and POST (inference calls); other methods are mirrored only when listed.
	methods := rc.Match.Methods
	if len(methods) == 0 {
		methods = defaultMirrorMethods
	}
	o := tee.Options{
		Route:         rc.Name,
		Methods:       methods,
		Comparator:    cmp,
		MaxBody:       int(rec.MaxBody),
		RemoveHeaders: rc.ShadowHeaders.Remove,
		KeepHeaders:   rc.ShadowHeaders.Keep,
		Sink:          s,
		Metrics:       m,
		Logger:        log,
		FieldLabels:   rc.Compare.FieldLabels,
		Noise: tee.NoiseOptions{
			Relative: fraction(rc.Compare.Noise.Relative),
			Absolute: fraction(rc.Compare.Noise.Absolute),
		},
		Record: tee.RecordOptions{
			Disagreements: rec.Disagreements.Fraction(),
			Agreements:    rec.Agreements.Fraction(),
			RedactHeaders: rec.Redact.Headers,
			RedactQuery:   rec.Redact.Query,
			RedactFields:  rec.Redact.Fields,
		},
	}
	if env := rec.Redact.HashKeyEnv; env != "" {
		key := os.Getenv(env)
		if key == "" {
			return tee.Options{}, fmt.Errorf("record.redact.hash_key_env: environment variable %s is empty", env)
		}
		o.Record.HashKey = []byte(key)
	}
	if sec := rc.Secondary; sec != nil {
		t, err := tlsConfig(sec.TLS)
		if err != nil {
			return tee.Options{}, fmt.Errorf("secondary: %w", err)
		}
		// The secondary's connections are its workers: max_conns caps both.
		o.Secondary = &tee.UpstreamOptions{Name: "secondary", URL: sec.URL, Timeout: sec.Timeout.D(), Concurrency: sec.MaxConns, IdleTimeout: sec.IdleTimeout.D(), TLS: t}
	}
	for _, c := range rc.Candidates {
		key, err := tee.ParseStickyKey(c.StickyKey)
		if err != nil {
			return tee.Options{}, fmt.Errorf("candidate %s: %w", c.Name, err)
		}
		t, err := tlsConfig(c.TLS)
		if err != nil {
			return tee.Options{}, fmt.Errorf("candidate %s: %w", c.Name, err)
		}
		co := tee.CandidateOptions{
			UpstreamOptions: tee.UpstreamOptions{
				Name:        c.Name,
				URL:         c.URL,
				Timeout:     c.Timeout.D(),
				Concurrency: c.Concurrency,
				Queue:       c.Queue,
				IdleTimeout: c.IdleTimeout.D(),
				TLS:         t,
			},
			Sample:    c.Sample.Fraction(),
			StickyKey: key,
			Rewrite:   rewriteOptions(c.Rewrite),
		}
		if c.PromoteWhen != nil {
			co.PromoteBelow = c.PromoteWhen.DisagreementBelow.Fraction()
		}
		if ch := c.Chaos; ch != nil {
			co.Chaos = tee.Chaos{
				Latency:     ch.Latency.D(),
				Jitter:      ch.LatencyJitter.D(),
				ErrorRate:   ch.ErrorRate.Fraction(),
				FlipRate:    ch.FlipRate.Fraction(),
				PerturbRate: ch.PerturbRate.Fraction(),
				Perturb:     ch.Perturb,
				Format:      rc.Compare.Format,
			}
			log.Warn("chaos injection is on", zap.String("route", rc.Name), zap.String("candidate", c.Name))
		}
		o.Candidates = append(o.Candidates, co)
	}
	return o, nil
}

// fraction is the share p, or 0 (the package's default) when it is left out.
func fraction(p *configs.Percent) float64 {
	if p == nil {
		return 0
	}
	return p.Fraction()
}

func compareOptions(c configs.Compare) compare.Options {
	o := compare.Options{
		Format:   c.Format,
		Ignore:   c.Ignore,
		MaxDiffs: c.MaxDiffs,
	}
	if c.Tolerance.Abs != nil {
		o.Tolerance.Abs = *c.Tolerance.Abs
	}
	if c.Tolerance.Rel != nil {
		o.Tolerance.Rel = *c.Tolerance.Rel
	}
	for _, r := range c.Rules {
		cr := compare.Rule{Path: r.Path, Mode: r.Mode, K: r.K, Ranked: r.Ranked, Mapping: r.Mapping}
		setF := func(dst *float64, src *float64) {
			if src != nil {
				*dst = *src
			}
		}
		setF(&cr.Abs, r.Abs)
		setF(&cr.Rel, r.Rel)
		setF(&cr.MinJaccard, r.MinJaccard)
		setF(&cr.MinSimilarity, r.MinSimilarity)
		setF(&cr.MaxDistance, r.MaxDistance)
		if r.MinOverlap != nil {
			cr.MinOverlap = r.MinOverlap.Fraction()
		}
		o.Rules = append(o.Rules, cr)
	}
	return o
}
