package configs

import (
	"fmt"
	"net"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"
)

// validate checks a decoded and defaulted config, adding every problem to d.errs.
func validate(c *Config, d *decoder, ch Checks) {
	v := &validator{d: d, checks: ch}
	v.address("listen", c.Listen, true)
	v.address("admin", c.Admin, true)
	if c.Listen == c.Admin && !strings.HasSuffix(c.Listen, ":0") { // :0 picks a free port each time
		v.errorf("admin", "must differ from listen (%s)", c.Listen)
	}
	v.oneOf("log.level", c.Log.Level, "debug", "info", "warn", "error")
	v.oneOf("log.format", c.Log.Format, "json", "console")

	if len(c.Routes) == 0 {
		v.errorf("routes", "at least one route is required")
	}
	v.grpcListener(c)
	names := map[string]string{} // route name -> field of its first use
	for i := range c.Routes {
		v.route(&c.Routes[i], fmt.Sprintf("routes[%d]", i), names)
		v.grpcRoute(c, &c.Routes[i], fmt.Sprintf("routes[%d]", i))
	}
	v.sinks(&c.Sinks)
	ls := []listener{{"listen", c.Listen}, {"admin", c.Admin}}
	if c.GRPCListen != "" {
		ls = append(ls, listener{"grpc_listen", c.GRPCListen})
	}
	v.loops(c, ls)
	v.labels(&c.Labels)
}

// labels checks the label sources.
func (v *validator) labels(l *Labels) {
	k := l.Kafka
	if k == nil {
		return
	}
	if len(k.Brokers) == 0 {
		v.errorf("labels.kafka.brokers", "at least one broker (host:port) is required")
	}
	for i, b := range k.Brokers {
		v.address(fmt.Sprintf("labels.kafka.brokers[%d]", i), b, false)
	}
	if k.Topic == "" || len(k.Topic) > 249 || !topicRE.MatchString(k.Topic) {
		v.errorf("labels.kafka.topic", "a topic of up to 249 of a-z A-Z 0-9 . _ - is required")
	}
}

// truth checks a route's ground-truth settings.
func (v *validator) truth(t *Truth, format, f string) {
	if t.Prediction == "" {
		if t.Window != 0 || t.MaxPending != 0 {
			v.errorf(f+".prediction", "a prediction path is required: the value a label judges, e.g. predictions[0].label")
		}
		return
	}
	if t.Window < 0 {
		v.errorf(f+".window", "must not be negative")
	}
	v.notNegative(f+".max_pending", t.MaxPending)
	if v.checks.PredictionPath != nil {
		if err := v.checks.PredictionPath(format, t.Prediction); err != nil {
			v.errorf(f+".prediction", "%v", err)
		}
	}
}

func (v *validator) route(r *Route, f string, names map[string]string) {
	v.name(f+".name", r.Name, names, "route")
	m := r.Match
	if m.PathPrefix != "" && !strings.HasPrefix(m.PathPrefix, "/") {
		v.errorf(f+".match.path_prefix", "%q must start with /", m.PathPrefix)
	}
	for i, meth := range m.Methods {
		if !methodRE.MatchString(meth) {
			v.errorf(fmt.Sprintf("%s.match.methods[%d]", f, i), "bad method %q: want an upper-case method such as POST", meth)
		}
	}
	if strings.ContainsAny(m.Host, "/ ") {
		v.errorf(f+".match.host", "bad host %q: want a host name, without scheme or path", m.Host)
	}
	for k := range m.Headers {
		if !tokenRE.MatchString(k) {
			v.errorf(f+".match.headers."+k, "bad header name %q", k)
		}
	}
	if _, ok := v.d.pos[f+".primary"]; !ok || r.Primary.URL == "" {
		if ok {
			v.errorf(f+".primary.url", "the primary's url is required")
		} else {
			v.errorf(f, "primary is required (the production model: primary: {url: \"http://host:port\"})")
		}
	} else {
		v.upstream(&r.Primary, f+".primary")
	}
	if r.Secondary != nil {
		if r.Secondary.URL == "" {
			v.errorf(f+".secondary.url", "url is required")
		} else {
			v.upstream(r.Secondary, f+".secondary")
		}
		if r.Secondary.Stream {
			v.errorf(f+".secondary.stream", "only the primary streams its answer to the client")
		}
	}
	cands := map[string]string{}
	for i := range r.Candidates {
		v.candidate(&r.Candidates[i], fmt.Sprintf("%s.candidates[%d]", f, i), cands)
	}
	for i, h := range r.ShadowHeaders.Remove {
		if !tokenRE.MatchString(h) {
			v.errorf(fmt.Sprintf("%s.shadow_headers.remove[%d]", f, i), "bad header name %q", h)
		}
	}
	for i, h := range r.ShadowHeaders.Keep {
		if !tokenRE.MatchString(h) {
			v.errorf(fmt.Sprintf("%s.shadow_headers.keep[%d]", f, i), "bad header name %q", h)
		}
	}
	v.compare(&r.Compare, f+".compare")
	v.truth(&r.Truth, r.Compare.Format, f+".truth")
	rec := &r.Record
	for i, h := range rec.Redact.Headers {
		if !tokenRE.MatchString(h) {
			v.errorf(fmt.Sprintf("%s.record.redact.headers[%d]", f, i), "bad header name %q", h)
		}
	}
	for i, q := range rec.Redact.Query {
		if strings.TrimSpace(q) == "" || strings.ContainsAny(q, "&;= ") {
			v.errorf(fmt.Sprintf("%s.record.redact.query[%d]", f, i), "bad query parameter name %q", q)
		}
	}
	for i, p := range rec.Redact.Fields {
		if strings.TrimSpace(p) == "" {
			v.errorf(fmt.Sprintf("%s.record.redact.fields[%d]", f, i), "empty path")
		}
	}
	if rec.Redact.HashKeyEnv != "" {
		v.envName(f+".record.redact.hash_key_env", rec.Redact.HashKeyEnv)
	}
}

// name checks a required name and that no earlier one (in names) is the same.
func (v *validator) name(f, name string, names map[string]string, what string) {
	if strings.TrimSpace(name) == "" {
		v.errorf(f, "a %s name is required", what)
		return
	}
	if first, dup := names[name]; dup {
		v.errorf(f, "duplicate %s name %q (also at line %d)", what, name, v.at(first).Line)
		return
	}
	names[name] = f
}

func (v *validator) upstream(u *Upstream, f string) {
	v.url(f+".url", u.URL)
	v.notNegative(f+".max_conns", u.MaxConns)
	v.idleTimeout(f+".idle_timeout", u.IdleTimeout)
	v.upstreamTLS(&u.TLS, u.URL, f+".tls")
}

// upstreamTLS checks the TLS settings of an upstream, which only an https URL uses.
func (v *validator) upstreamTLS(t *TLS, rawURL, f string) {
	v.tls(t, f)
	if *t != (TLS{}) && strings.HasPrefix(rawURL, "http://") {
		v.errorf(f, "tls is set but the URL is http://; use https:// or remove tls")
	}
	if *t != (TLS{}) && strings.HasPrefix(rawURL, "grpc://") {
		v.errorf(f, "tls is set but the URL is grpc:// (cleartext); use grpcs:// or remove tls")
	}
}

func (v *validator) candidate(c *Candidate, f string, names map[string]string) {
	v.name(f+".name", c.Name, names, "candidate")
	if c.URL == "" {
		v.errorf(f+".url", "url is required")
	} else {
		v.url(f+".url", c.URL)
	}
	if c.StickyKey != "" {
		kind, name, ok := strings.Cut(c.StickyKey, ":")
		if !ok || !slices.Contains([]string{"header", "cookie", "query"}, kind) || strings.TrimSpace(name) == "" ||
			(kind != "query" && !tokenRE.MatchString(name)) {
			v.errorf(f+".sticky_key", "bad sticky_key %q: want header:NAME, cookie:NAME or query:NAME", c.StickyKey)
		}
	}
	v.notNegative(f+".concurrency", c.Concurrency)
	v.notNegative(f+".queue", c.Queue)
	v.idleTimeout(f+".idle_timeout", c.IdleTimeout)
	v.upstreamTLS(&c.TLS, c.URL, f+".tls")
	if ch := c.Chaos; ch != nil && ch.Perturb < 0 {
		v.errorf(f+".chaos.perturb", "must not be negative")
	}
	if rw := c.Rewrite; rw != nil {
		v.rewrite(rw, f+".rewrite")
	}
}

func (v *validator) tls(t *TLS, f string) {
	if t.Cert != "" && t.Key == "" {
		v.errorf(f+".cert", "a client certificate needs its key (tls.key)")
	}
	if t.Key != "" && t.Cert == "" {
		v.errorf(f+".key", "a client key needs its certificate (tls.cert)")
	}
}

var (
	formats = []string{"auto", "json", "raw", "tfserving", "kserve-v1", "kserve-v2", "mlflow", "openai"}
	modes   = []string{"exact", "tolerance", "argmax", "label", "topk", "cosine", "text", "set", "ignore"}
)

func (v *validator) compare(c *Compare, f string) {
	v.oneOfOrDefault(f+".format", c.Format, formats...)
	for i, p := range c.Ignore {
		if strings.TrimSpace(p) == "" {
			v.errorf(fmt.Sprintf("%s.ignore[%d]", f, i), "empty path")
		} else {
			v.comparePath(fmt.Sprintf("%s.ignore[%d]", f, i), c.Format, p)
		}
	}
	v.notNegativeFloat(f+".tolerance.abs", *c.Tolerance.Abs)
	v.notNegativeFloat(f+".tolerance.rel", *c.Tolerance.Rel)
	v.notNegative(f+".max_diffs", c.MaxDiffs)
	v.notNegative(f+".field_labels", c.FieldLabels)
	for i := range c.Rules {
		v.rule(&c.Rules[i], fmt.Sprintf("%s.rules[%d]", f, i))
		if p := c.Rules[i].Path; strings.TrimSpace(p) != "" {
			v.comparePath(fmt.Sprintf("%s.rules[%d].path", f, i), c.Format, p)
		}
	}
}

// comparePath runs the ComparePath check on a non-empty path.
func (v *validator) comparePath(field, format, path string) {
	if v.checks.ComparePath == nil {
		return
	}
	if err := v.checks.ComparePath(format, path); err != nil {
		v.errorf(field, "%v", err)
	}
}

func (v *validator) rule(r *Rule, f string) {
	if strings.TrimSpace(r.Path) == "" {
		v.errorf(f+".path", "a rule needs a path")
	}
	if r.Mode == "" {
		v.errorf(f+".mode", "a rule needs a mode: one of %s", strings.Join(modes, ", "))
		return
	}
	if !v.oneOf(f+".mode", r.Mode, modes...) {
		return
	}
	// Each setting belongs to the modes that read it; anywhere else it is a mistake.
	only := func(name string, set bool, allowed ...string) {
		if set && !slices.Contains(allowed, r.Mode) {
			v.errorf(f+"."+name, "applies only to mode %s, not %s", strings.Join(allowed, " or "), r.Mode)
		}
	}
	only("abs", r.Abs != nil, "tolerance")
	only("rel", r.Rel != nil, "tolerance")
	only("k", r.K != 0, "topk")
	only("ranked", r.Ranked, "topk")
	only("min_overlap", r.MinOverlap != nil, "topk", "set")
	only("min_jaccard", r.MinJaccard != nil, "topk", "set")
	only("min_similarity", r.MinSimilarity != nil, "cosine")
	only("max_distance", r.MaxDistance != nil, "text")
	only("mapping", len(r.Mapping) > 0, "label")
	if r.Abs != nil {
		v.notNegativeFloat(f+".abs", *r.Abs)
	}
	if r.Rel != nil {
		v.notNegativeFloat(f+".rel", *r.Rel)
	}
	v.notNegative(f+".k", r.K)
	if r.MinOverlap != nil && r.MinJaccard != nil {
		v.errorf(f+".min_jaccard", "set min_overlap or min_jaccard, not both")
	}
	if r.MinJaccard != nil && (*r.MinJaccard < 0 || *r.MinJaccard > 1) {
		v.errorf(f+".min_jaccard", "%v is outside 0-1", *r.MinJaccard)
	}
	if r.MinSimilarity != nil && (*r.MinSimilarity < -1 || *r.MinSimilarity > 1) {
		v.errorf(f+".min_similarity", "%v is outside -1 to 1", *r.MinSimilarity)
	}
	if r.MaxDistance != nil && (*r.MaxDistance < 0 || *r.MaxDistance > 1) {
		v.errorf(f+".max_distance", "%v is outside 0-1 (a normalised edit distance)", *r.MaxDistance)
	}
}

func (v *validator) sinks(s *Sinks) {
	if fs := s.File; fs != nil {
		if strings.TrimSpace(fs.Path) == "" {
			v.errorf("sinks.file.path", "path is required")
		}
		v.notNegative("sinks.file.keep", fs.Keep)
		v.notNegative("sinks.file.buffer", fs.Buffer)
	}
	k := s.Kafka
	if k == nil {
		return
	}
	if len(k.Brokers) == 0 {
		v.errorf("sinks.kafka.brokers", "at least one broker (host:port) is required")
	}
	for i, b := range k.Brokers {
		v.address(fmt.Sprintf("sinks.kafka.brokers[%d]", i), b, false)
	}
	switch {
	case k.Topic == "":
		v.errorf("sinks.kafka.topic", "a topic is required")
	case len(k.Topic) > 249 || k.Topic == "." || k.Topic == ".." || !topicRE.MatchString(k.Topic):
		v.errorf("sinks.kafka.topic", "bad topic %q: want up to 249 of a-z A-Z 0-9 . _ -", k.Topic)
	}
	v.oneOfOrDefault("sinks.kafka.acks", k.Acks, "all", "one", "none")
	v.oneOfOrDefault("sinks.kafka.compression", k.Compression, "none", "gzip", "snappy", "lz4", "zstd")
	v.notNegative("sinks.kafka.batch_size", k.BatchSize)
	v.notNegative("sinks.kafka.buffer", k.Buffer)
	if k.TLS != nil {
		v.tls(k.TLS, "sinks.kafka.tls")
	}
	if sa := k.SASL; sa != nil {
		if sa.Mechanism == "" {
			v.errorf("sinks.kafka.sasl.mechanism", "a mechanism is required: PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512")
		} else {
			v.oneOf("sinks.kafka.sasl.mechanism", sa.Mechanism, "PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512")
		}
		if sa.UsernameEnv == "" {
			v.errorf("sinks.kafka.sasl.username_env", "name the environment variable holding the user name (secrets never go in the file)")
		} else {
			v.envName("sinks.kafka.sasl.username_env", sa.UsernameEnv)
		}
		if sa.PasswordEnv == "" {
			v.errorf("sinks.kafka.sasl.password_env", "name the environment variable holding the password (secrets never go in the file)")
		} else {
			v.envName("sinks.kafka.sasl.password_env", sa.PasswordEnv)
		}
	}
	if strings.TrimSpace(k.Spool.Dir) == "" {
		v.errorf("sinks.kafka.spool.dir", "a directory is required")
	}
	v.oneOfOrDefault("sinks.kafka.spool.fsync", k.Spool.Fsync, "always", "interval", "never")
}

var (
	methodRE = regexp.MustCompile(`^[A-Z][A-Z0-9_-]*$`)
	tokenRE  = regexp.MustCompile("^[!#$%&'*+.^_`|~0-9A-Za-z-]+$")
	topicRE  = regexp.MustCompile(`^[a-zA-Z0-9._-]+$`)
	envRE    = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)
)

// address checks host:port; hostOptional allows ":8080" (all interfaces).
func (v *validator) address(f, addr string, hostOptional bool) {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		v.errorf(f, "bad address %q: want host:port, e.g. 127.0.0.1:9901", addr)
		return
	}
	if host == "" && !hostOptional {
		v.errorf(f, "bad address %q: the host is missing", addr)
		return
	}
	if p, err := strconv.Atoi(port); err != nil || p < 0 || p > 65535 {
		v.errorf(f, "bad port %q in %q: want 0-65535", port, addr)
	}
}

// url checks an upstream URL: http or https, a host and an optional numeric port, no credentials.
func (v *validator) url(f, raw string) {
	if !strings.Contains(raw, "://") {
		v.errorf(f, "bad URL %q: want http://host:port or https://host:port", raw)
		return
	}
	u, err := url.Parse(raw)
	if err != nil {
		v.errorf(f, "bad URL %q: %v", raw, unwrapURLError(err))
		return
	}
	switch {
	case !slices.Contains([]string{"http", "https", "grpc", "grpcs"}, u.Scheme):
		v.errorf(f, "bad URL %q: the scheme must be http or https (grpc or grpcs for gRPC)", raw)
	case u.Hostname() == "":
		v.errorf(f, "bad URL %q: want http://host:port", raw)
	case u.User != nil:
		v.errorf(f, "bad URL %q: credentials do not belong in a URL (they would reach logs)", raw)
	case (u.Path != "" && u.Path != "/") || u.RawQuery != "" || u.Fragment != "":
		v.errorf(f, "bad URL %q: give only the scheme, host and port; requests keep the path the client sent", raw)
	}
	if p := u.Port(); p != "" {
		if n, err := strconv.Atoi(p); err != nil || n < 1 || n > 65535 {
			v.errorf(f, "bad URL %q: port %s is outside 1-65535", raw, p)
		}
	}
}

func unwrapURLError(err error) error {
	if ue, ok := err.(*url.Error); ok {
		return ue.Err
	}
	return err
}

func (v *validator) oneOf(f, val string, allowed ...string) bool {
	if slices.Contains(allowed, val) {
		return true
	}
	v.errorf(f, "unknown value %q: want one of %s", val, strings.Join(allowed, ", "))
	return false
}

// oneOfOrDefault is oneOf for a field whose package applies a default when it is left out ("").
func (v *validator) oneOfOrDefault(f, val string, allowed ...string) {
	if val != "" {
		v.oneOf(f, val, allowed...)
	}
}

func (v *validator) notNegative(f string, n int) {
	if n < 0 {
		v.errorf(f, "%d must not be negative", n)
	}
}

// idleTimeout checks an upstream's idle_timeout (0 is the default): under 1ms no connection could
// be reused, and over an hour it is beyond any server's keep-alive, whose closes it is there to
// avoid.
func (v *validator) idleTimeout(f string, d Duration) {
	if d != 0 && (d.D() < time.Millisecond || d.D() > time.Hour) {
		v.errorf(f, "%s is out of range: want 1ms to 1h, below the server's keep-alive timeout (the default is 1s)", d)
	}
}

func (v *validator) notNegativeFloat(f string, x float64) {
	if x < 0 {
		v.errorf(f, "%v must not be negative", x)
	}
}

func (v *validator) envName(f, name string) {
	if !envRE.MatchString(name) {
		v.errorf(f, "bad environment variable name %q: want letters, digits and _", name)
	}
}

// validator reports problems at the node a field path came from.
type validator struct {
	d      *decoder
	checks Checks
}

// at finds the node for field, or for its nearest ancestor that was written in the file.
func (v *validator) at(field string) *yaml.Node {
	for f := field; ; {
		if n, ok := v.d.pos[f]; ok {
			return n
		}
		i := strings.LastIndexAny(f, ".[")
		if i < 0 {
			break
		}
		f = f[:i]
	}
	if n, ok := v.d.pos[""]; ok {
		return n
	}
	return &yaml.Node{Line: 1, Column: 1}
}

func (v *validator) errorf(field, format string, args ...any) {
	for f := field; ; {
		if v.d.bad[f] {
			return // already reported by the decoder
		}
		i := strings.LastIndexAny(f, ".[")
		if i < 0 {
			break
		}
		f = f[:i]
	}
	n := v.at(field)
	v.d.errs = append(v.d.errs, &Error{File: v.d.file, Line: n.Line, Column: n.Column, Field: field, Msg: fmt.Sprintf(format, args...)})
}
