package configs

import "time"

// Config is the whole shadowproxy YAML file. Field comments say where the default of a field left out
// lives: Load fills in the defaults configs owns (a "Default" with a value); a field whose default a
// package owns ("Default: pkg.Options.Field") stays zero, and that package applies it. The README's
// defaults table lists them all.
type Config struct {
	// Listen is the client-facing address. Default "0.0.0.0:8080".
	Listen string `yaml:"listen"`
	// GRPCListen is the client-facing gRPC address (cleartext HTTP/2, h2c), which serves the routes
	// whose primary is a grpc:// or grpcs:// URL. Default "" (no gRPC listener).
	GRPCListen string `yaml:"grpc_listen"`
	// GRPCTLS, when set, serves TLS on GRPCListen.
	GRPCTLS *ServerTLS `yaml:"grpc_tls"`
	// Admin is the address of /metrics /healthz /readyz /status. Default "127.0.0.1:9901" (loopback).
	Admin string `yaml:"admin"`
	// Pprof exposes /debug/pprof/ on the admin listener. Default off.
	Pprof bool `yaml:"pprof"`
	// Console is the web page on the admin listener (GET /).
	Console Console `yaml:"console"`
	// MaxRequestBody caps client bodies; larger ones get 413. Default: proxy.Options.MaxRequestBody.
	MaxRequestBody ByteSize `yaml:"max_request_body"`
	// MaxHeaderBytes caps the request line and headers; larger ones get 431. Default:
	// proxy.Options.MaxHeaderBytes.
	MaxHeaderBytes ByteSize `yaml:"max_header_bytes"`
	// ReadTimeout bounds reading one whole request (slowloris). Default: proxy.Options.ReadTimeout.
	ReadTimeout Duration `yaml:"read_timeout"`
	// WriteTimeout bounds writing one response. Default: proxy.Options.WriteTimeout.
	WriteTimeout Duration `yaml:"write_timeout"`
	// IdleTimeout closes idle keep-alive connections. Default: proxy.Options.IdleTimeout.
	IdleTimeout Duration `yaml:"idle_timeout"`
	// ShutdownTimeout is the drain window on SIGTERM. Default 15s.
	ShutdownTimeout Duration `yaml:"shutdown_timeout"`
	// Reload controls reloading the file on change (SIGHUP always reloads).
	Reload Reload `yaml:"reload"`
	Log    Log    `yaml:"log"`
	// Routes are matched in order; the first match wins. At least one is required.
	Routes []Route `yaml:"routes"`
	Sinks  Sinks   `yaml:"sinks"`
	// Labels configures where ground-truth labels arrive besides the admin listener's POST /labels.
	Labels Labels `yaml:"labels"`
}

// Console configures the admin listener's web page.
type Console struct {
	// RemoteDisagreements serves the latest disagreements (requests and answers, redacted) to
	// clients that are not on loopback too. Default false: loopback clients only.
	RemoteDisagreements bool `yaml:"remote_disagreements"`
}

// Reload configures the file watch.
type Reload struct {
	// Watch reloads when the config file changes. Default true.
	Watch *bool `yaml:"watch"`
	// Debounce waits this long after the last change before reloading. Default 1s.
	Debounce Duration `yaml:"debounce"`
}

// Log configures zap.
type Log struct {
	// Level is debug, info, warn or error. Default info.
	Level string `yaml:"level"`
	// Format is json or console. Default json.
	Format string `yaml:"format"`
}

// Route is one client-facing route: a primary and the candidates it is shadowed to.
type Route struct {
	// Name is the `route` metric label and the record's route. Required, unique.
	Name  string `yaml:"name"`
	Match Match  `yaml:"match"`
	// Primary is the production model. Required.
	Primary Upstream `yaml:"primary"`
	// Secondary is an optional second instance of the production model, used to measure noise.
	Secondary *Upstream `yaml:"secondary"`
	// Candidates receive sampled copies. May be empty (then the route only proxies).
	Candidates []Candidate `yaml:"candidates"`
	// ShadowHeaders edits requests before they reach candidates.
	ShadowHeaders ShadowHeaders `yaml:"shadow_headers"`
	Compare       Compare       `yaml:"compare"`
	Record        Record        `yaml:"record"`
	// Truth names the value ground-truth labels judge. Unset: labels are not joined on this route.
	Truth Truth `yaml:"truth"`
}

// Truth configures how labels judge a route's primary and candidates.
type Truth struct {
	// Prediction is the path (compare's syntax, one value, no wildcards) of the value a label judges
	// in each answer, e.g. predictions[0].label or outputs.label[0]. Empty: no ground truth.
	Prediction string `yaml:"prediction"`
	// Window is how long a comparison waits for its label; a label arriving later is counted late.
	// 0 means 1h.
	Window Duration `yaml:"window"`
	// MaxPending caps the comparisons waiting for a label, per route; the oldest are let go (and
	// their labels then count as late). 0 means 100000.
	MaxPending int `yaml:"max_pending"`
}

// Labels are ground-truth label sources.
type Labels struct {
	// Kafka reads labels (JSON lines {"id":..,"label":..}, one per message) with a consumer group.
	Kafka *LabelsKafka `yaml:"kafka"`
}

// LabelsKafka is a Kafka topic of labels.
type LabelsKafka struct {
	// Brokers, host:port. Required.
	Brokers []string `yaml:"brokers"`
	// Topic. Required.
	Topic string `yaml:"topic"`
	// Group is the consumer group. Empty means shadowproxy-labels.
	Group string `yaml:"group"`
}

// Match selects requests for a route. Every set field must match.
type Match struct {
	// PathPrefix matches the start of the path; empty matches every path.
	PathPrefix string `yaml:"path_prefix"`
	// Methods lists allowed methods; empty means any. These are also the methods mirrored.
	Methods []string `yaml:"methods"`
	// Host matches the Host header exactly (port ignored); empty means any.
	Host string `yaml:"host"`
	// Headers must each be present with exactly this value.
	Headers map[string]string `yaml:"headers"`
}

// Upstream is a model server the proxy sends to.
type Upstream struct {
	// URL is http:// or https:// with a host and port; grpc:// (cleartext HTTP/2) or grpcs:// (TLS)
	// in a route's primary makes the route a gRPC route, served on grpc_listen. Required.
	URL string `yaml:"url"`
	// Timeout bounds one request. Default: proxy.Upstream.Timeout for the primary,
	// tee.UpstreamOptions.Timeout for the secondary.
	Timeout Duration `yaml:"timeout"`
	// MaxConns caps connections to this upstream. Default: proxy.Upstream.MaxConns for the primary,
	// tee.UpstreamOptions.Concurrency (its workers) for the secondary.
	MaxConns int `yaml:"max_conns"`
	// IdleTimeout closes pooled connections to this upstream idle this long, 1ms to 1h; keep it
	// below the server's keep-alive timeout (gunicorn 2s, uvicorn 5s). Default 1s (package proxy's).
	IdleTimeout Duration `yaml:"idle_timeout"`
	TLS         TLS      `yaml:"tls"`
	// Stream (primary only) passes answers of unknown length, chunked or server-sent events (LLM
	// token streams), to the client as they arrive; timeout then bounds the whole answer. Default false.
	Stream bool `yaml:"stream"`
}

// TLS configures a client TLS connection. Paths are read at load time.
type TLS struct {
	// CA is a PEM file of roots to trust instead of the system pool.
	CA string `yaml:"ca"`
	// Cert and Key are a PEM client certificate and its key, for mutual TLS.
	Cert string `yaml:"cert"`
	Key  string `yaml:"key"`
	// ServerName overrides the name checked in the server's certificate.
	ServerName string `yaml:"server_name"`
	// InsecureSkipVerify turns verification off. Default false; a warning is logged.
	InsecureSkipVerify bool `yaml:"insecure_skip_verify"`
}

// ServerTLS is a listener's certificate. Paths are read at start.
type ServerTLS struct {
	// Cert and Key are PEM files of the certificate (chain) and its key. Both required.
	Cert string `yaml:"cert"`
	Key  string `yaml:"key"`
}

// Rewrite edits the copy of each request a candidate gets; the primary and the records keep the
// client's request. A rewrite that cannot apply sends the request unchanged (and is counted).
type Rewrite struct {
	// PathPrefix replaces a leading prefix of the path (for gRPC, of the full method).
	PathPrefix *PathPrefixRewrite `yaml:"path_prefix"`
	Body       RewriteBody        `yaml:"body"`
	Headers    RewriteHeaders     `yaml:"headers"`
}

// PathPrefixRewrite replaces From, when it starts the path, with To.
type PathPrefixRewrite struct {
	From string `yaml:"from"`
	To   string `yaml:"to"`
}

// RewriteBody edits JSON request bodies (for gRPC: fields of known request messages).
type RewriteBody struct {
	// Set maps paths (compare's syntax, e.g. model or parameters.version) to the values set there.
	Set map[string]JSONValue `yaml:"set"`
}

// RewriteHeaders edits headers (for gRPC: metadata): Remove first, then Set.
type RewriteHeaders struct {
	Set    map[string]string `yaml:"set"`
	Remove []string          `yaml:"remove"`
}

// Candidate is a model under evaluation.
type Candidate struct {
	// Name is the `candidate` metric label and the record's candidate. Required, unique in its route.
	Name string `yaml:"name"`
	// URL is http:// or https:// (grpc:// or grpcs:// on a gRPC route). Required.
	URL string `yaml:"url"`
	// Sample is the share of matching requests mirrored. Default 100%.
	Sample *Percent `yaml:"sample"`
	// StickyKey makes the sampling decision a function of header:NAME, cookie:NAME or query:NAME.
	StickyKey string `yaml:"sticky_key"`
	// Timeout bounds one shadow request. Default: tee.UpstreamOptions.Timeout.
	Timeout Duration `yaml:"timeout"`
	// Concurrency is the number of workers (in-flight shadows). Default: tee.UpstreamOptions.Concurrency.
	Concurrency int `yaml:"concurrency"`
	// Queue is the number of waiting shadows; beyond it they are dropped. Default:
	// tee.UpstreamOptions.Queue.
	Queue int `yaml:"queue"`
	// IdleTimeout closes pooled connections to this candidate idle this long, as an upstream's.
	// Default 1s.
	IdleTimeout Duration `yaml:"idle_timeout"`
	TLS         TLS      `yaml:"tls"`
	// PromoteWhen sets the verdict thresholds shown on /status.
	PromoteWhen *PromoteWhen `yaml:"promote_when"`
	// Chaos injects faults into this candidate's answers before comparison. Off unless set.
	Chaos *Chaos `yaml:"chaos"`
	// Rewrite edits the requests this candidate gets. Off unless set.
	Rewrite *Rewrite `yaml:"rewrite"`
}

// PromoteWhen is the goal a candidate is judged against.
type PromoteWhen struct {
	// DisagreementBelow: promote when the upper confidence bound is below it, stop when the lower is above.
	DisagreementBelow Percent `yaml:"disagreement_below"`
}

// Chaos describes faults injected into a candidate's answers.
type Chaos struct {
	// Latency is added before the answer is compared.
	Latency Duration `yaml:"latency"`
	// LatencyJitter adds a uniformly random extra delay in [0, LatencyJitter).
	LatencyJitter Duration `yaml:"latency_jitter"`
	// ErrorRate replaces this share of answers with a 500.
	ErrorRate Percent `yaml:"error_rate"`
	// FlipRate changes the predicted label/argmax of this share of answers (known formats).
	FlipRate Percent `yaml:"flip_rate"`
	// PerturbRate adds noise of relative size Perturb to numbers in this share of answers.
	PerturbRate Percent `yaml:"perturb_rate"`
	Perturb     float64 `yaml:"perturb"`
}

// ShadowHeaders edits shadow requests.
type ShadowHeaders struct {
	// Remove lists headers never sent to candidates (nor written to records).
	Remove []string `yaml:"remove"`
	// Keep lists credential headers that candidates do get. Shadows carry none by default: not
	// Authorization, Proxy-Authorization, Cookie, X-Api-Key, Api-Key, X-Auth-Token,
	// X-Access-Token, X-Amz-Security-Token, X-Goog-Api-Key, Ocp-Apim-Subscription-Key,
	// X-Functions-Key, X-Vault-Token, X-Csrf-Token, X-Xsrf-Token (see the README).
	Keep []string `yaml:"keep"`
}

// Compare configures how answers are compared.
type Compare struct {
	// Format is auto, json, raw, tfserving, kserve-v1, kserve-v2, mlflow or openai. Default:
	// compare.Options.Format.
	Format string `yaml:"format"`
	// Ignore lists paths never compared (dotted, [*] for any index).
	Ignore    []string  `yaml:"ignore"`
	Tolerance Tolerance `yaml:"tolerance"`
	Rules     []Rule    `yaml:"rules"`
	// MaxDiffs caps the diffs kept per comparison. Default: compare.Options.MaxDiffs.
	MaxDiffs int `yaml:"max_diffs"`
	// FieldLabels caps distinct `field` label values per route and candidate; the rest are "other".
	// Default: tee.Options.FieldLabels.
	FieldLabels int `yaml:"field_labels"`
	// Noise sets the margins used when a secondary is configured.
	Noise Noise `yaml:"noise"`
}

// Tolerance is |a-b| <= max(rel*min(|a|,|b|), abs). Defaults abs 1e-6, rel 1e-4 (compare's zero
// would mean exact).
type Tolerance struct {
	Abs *float64 `yaml:"abs"`
	Rel *float64 `yaml:"rel"`
}

// Rule applies an ML-aware comparison mode to a path.
type Rule struct {
	Path string `yaml:"path"`
	// Mode is exact, tolerance, argmax, label, topk, cosine, text, set or ignore.
	Mode string `yaml:"mode"`
	// Abs and Rel for tolerance. Default: the route's tolerance.
	Abs *float64 `yaml:"abs"`
	Rel *float64 `yaml:"rel"`
	// K for topk. Default: compare.Rule.K. MinOverlap (share of k) or MinJaccard.
	K          int      `yaml:"k"`
	MinOverlap *Percent `yaml:"min_overlap"`
	MinJaccard *float64 `yaml:"min_jaccard"`
	// Ranked (topk): the arrays are ranked lists of ids, best first, even when the ids are numbers;
	// without it an array of numbers is read as scores. Default false.
	Ranked bool `yaml:"ranked"`
	// MinSimilarity for cosine. Default: compare.Rule.MinSimilarity.
	MinSimilarity *float64 `yaml:"min_similarity"`
	// MaxDistance for text: the largest normalised edit distance that still agrees. Default 0 (the
	// normalised texts must be equal).
	MaxDistance *float64 `yaml:"max_distance"`
	// Mapping for label: candidate label -> primary label.
	Mapping map[string]string `yaml:"mapping"`
}

// Noise sets how much a candidate's difference rate must exceed the primary-vs-secondary rate.
type Noise struct {
	// Relative margin. Default: tee.NoiseOptions.Relative.
	Relative *Percent `yaml:"relative"`
	// Absolute margin. Default: tee.NoiseOptions.Absolute.
	Absolute *Percent `yaml:"absolute"`
}

// Record configures which comparisons are written to the sinks.
type Record struct {
	// Disagreements is the share of disagreements (and candidate errors) recorded. Default 100%.
	Disagreements *Percent `yaml:"disagreements"`
	// Agreements is the share of agreements recorded. Default 1%.
	Agreements *Percent `yaml:"agreements"`
	// MaxBody bounds every body copy of the shadow path: exchanges with a larger request or primary
	// answer are not mirrored, which bounds the memory of the queues, and a larger candidate answer is
	// cut in its record (truncated: true). Default: tee.Options.MaxBody.
	MaxBody ByteSize `yaml:"max_body"`
	Redact  Redact   `yaml:"redact"`
}

// Redact keeps secrets out of records.
type Redact struct {
	// Headers are written as "[redacted]", besides the credential headers that shadows are stripped
	// of (see ShadowHeaders.Keep), which always are. Default: tee.RecordOptions.RedactHeaders
	// (Set-Cookie); an empty list adds none.
	Headers []string `yaml:"headers"`
	// Query lists query parameters whose values are written as "[redacted]" (case-insensitive).
	// Default: tee.RecordOptions.RedactQuery, the common credential parameters (api_key,
	// access_token, token, sig, password, ...); an empty list redacts none.
	Query []string `yaml:"query"`
	// Fields are JSON paths in bodies that are redacted.
	Fields []string `yaml:"fields"`
	// HashKeyEnv names an environment variable holding a key; when set, values are replaced by
	// "hmac-sha256:<hex>" of that key instead of "[redacted]", so records stay joinable.
	HashKeyEnv string `yaml:"hash_key_env"`
}

// Sinks are where records go. With neither set, the file sink is used with its defaults.
type Sinks struct {
	File  *FileSink  `yaml:"file"`
	Kafka *KafkaSink `yaml:"kafka"`
}

// FileSink appends JSON lines to a file with size-based rotation.
type FileSink struct {
	// Path. Default ./shadowproxy-records.jsonl.
	Path string `yaml:"path"`
	// MaxBytes rotates the file past this size. Default: sink.FileOptions.MaxBytes.
	MaxBytes ByteSize `yaml:"max_bytes"`
	// Keep is the number of rotated files kept. Default: sink.FileOptions.Keep.
	Keep int `yaml:"keep"`
	// Buffer is the number of records waiting to be written; beyond it they are dropped. Default:
	// sink.FileOptions.Buffer.
	Buffer int `yaml:"buffer"`
}

// KafkaSink streams records to a Kafka topic.
type KafkaSink struct {
	// Brokers, host:port. Required.
	Brokers []string `yaml:"brokers"`
	// Topic. Required.
	Topic string `yaml:"topic"`
	// Acks is all, one or none. Default: sink.KafkaOptions.Acks.
	Acks string `yaml:"acks"`
	// Compression is none, gzip, snappy, lz4 or zstd. Default: sink.KafkaOptions.Compression.
	Compression string `yaml:"compression"`
	// BatchSize in messages. Default: sink.KafkaOptions.BatchSize.
	BatchSize int `yaml:"batch_size"`
	// BatchTimeout flushes a partial batch. Default: sink.KafkaOptions.BatchTimeout.
	BatchTimeout Duration `yaml:"batch_timeout"`
	// ClientID. Default: sink.KafkaOptions.ClientID.
	ClientID string `yaml:"client_id"`
	// CreateTopic creates the topic when missing. Default false.
	CreateTopic bool  `yaml:"create_topic"`
	TLS         *TLS  `yaml:"tls"`
	SASL        *SASL `yaml:"sasl"`
	// Buffer is the number of records waiting in memory for the writer. Default: sink.KafkaOptions.Buffer.
	Buffer int   `yaml:"buffer"`
	Spool  Spool `yaml:"spool"`
}

// SASL authenticates to Kafka. Secrets come from environment variables, never from the file.
type SASL struct {
	// Mechanism is PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512.
	Mechanism string `yaml:"mechanism"`
	// UsernameEnv and PasswordEnv name environment variables.
	UsernameEnv string `yaml:"username_env"`
	PasswordEnv string `yaml:"password_env"`
}

// Spool is the disk log records wait in while Kafka is unreachable.
type Spool struct {
	// Dir. Default ./spool.
	Dir string `yaml:"dir"`
	// MaxBytes caps the spool; past it new records are dropped. Default: sink.SpoolOptions.MaxBytes.
	MaxBytes ByteSize `yaml:"max_bytes"`
	// Fsync is always, interval (every FsyncInterval) or never. Default: sink.SpoolOptions.Fsync.
	Fsync string `yaml:"fsync"`
	// FsyncInterval. Default: sink.SpoolOptions.FsyncInterval.
	FsyncInterval Duration `yaml:"fsync_interval"`
}

// JSONValue is any YAML value, kept as its JSON text.
type JSONValue []byte

// Duration is a time.Duration written as "250ms", "2s", "1m".
type Duration time.Duration

// ByteSize is a size written as 1024, "64KiB", "16MiB", "1GiB" (KB/MB/GB are powers of 1000).
type ByteSize int64

// Percent is a share written as "37%" or "0.5%"; its value is the fraction (0.37). A bare number is an error.
type Percent float64
