package compare

import (
	"bytes"
	"errors"
	"fmt"
	"strconv"
	"sync"
)

// Outcome is the result of comparing two answers.
type Outcome uint8

// Outcomes. An error is never a disagreement.
const (
	Agree Outcome = iota
	Disagree
	Unparseable
	PrimaryError
	CandidateError
	ShapeMismatch
)

var outcomeNames = [...]string{"agree", "disagree", "unparseable", "primary_error", "candidate_error", "shape_mismatch"}

// String returns the metric label of o.
func (o Outcome) String() string {
	if int(o) < len(outcomeNames) {
		return outcomeNames[o]
	}
	return "unknown"
}

// Response is one model's answer as the comparator sees it.
type Response struct {
	// Status is the HTTP status. Anything outside 200-299, 0 included, is an error answer.
	Status int
	// ContentType is the Content-Type header; it helps auto detection (text/event-stream, JSON or
	// not). It may be empty.
	ContentType []byte
	// JSONLength, when > 0, says only the first JSONLength bytes of Body are JSON (Triton's binary
	// tensor extension, from the Inference-Header-Content-Length header).
	JSONLength int
	Body       []byte
}

// Tolerance is |a-b| <= max(Rel*min(|a|,|b|), Abs). The zero Tolerance means exact numbers: the
// configuration's defaults (abs 1e-6, rel 1e-4) are applied by the caller, not here.
type Tolerance struct{ Abs, Rel float64 }

// Rule applies a comparison mode to the values at Path. Which fields a mode reads, and what their
// zero values mean, is listed with the modes in the package documentation.
type Rule struct {
	// Path addresses the format's normalised view, e.g. predictions[*].scores (see the package
	// documentation for the syntax).
	Path string
	// Mode is exact, tolerance, argmax, label, topk, cosine, text, set or ignore.
	Mode string
	// Abs and Rel are the tolerance of mode tolerance.
	Abs, Rel float64
	// K is the rank cut-off of mode topk. 0 means 5.
	K int
	// MinOverlap is topk's minimum |A∩B|/k. When MinOverlap and MinJaccard are both 0, the top-k
	// sets must be equal (MinOverlap 1).
	MinOverlap float64
	// MinJaccard is topk's minimum |A∩B|/|A∪B|.
	MinJaccard float64
	// Ranked makes topk read arrays of numbers as ranked lists of ids, best first (recommended item
	// ids), instead of scores. Arrays of strings are always ranked lists.
	Ranked bool
	// MinSimilarity is cosine's minimum cosine similarity. 0 means 0.99.
	MinSimilarity float64
	// MaxDistance is text's maximum normalised edit distance (0 to 1). 0 means the normalised texts
	// must be equal.
	MaxDistance float64
	// Mapping maps a candidate label to the primary's vocabulary (mode label), {candidate: primary};
	// labels not in it are compared as they are.
	Mapping map[string]string
}

// Options configure a Comparator. The zero value compares answers structurally in auto format with
// exact numbers.
type Options struct {
	// Format is auto, json, raw, tfserving, kserve-v1, kserve-v2, mlflow or openai. "" means auto.
	Format string
	// Ignore lists paths never compared (the syntax of Rule.Path).
	Ignore []string
	// Tolerance applies to every number that no rule covers. The zero value means exact.
	Tolerance Tolerance
	// Rules apply modes to paths. The first rule whose path matches a value wins.
	Rules []Rule
	// MaxDiffs caps Result.Diffs. 0 means 32; a negative value keeps none (they are still counted).
	MaxDiffs int
}

// Diff is one differing field.
type Diff struct {
	// Path is the concrete path, e.g. predictions[3].label.
	Path string
	// Field is Path with indices replaced by [*], e.g. predictions[*].label: the metric label.
	Field string
	// Primary and Candidate are compact JSON text of each side's value: "null" when the value is
	// absent on that side (Reason then says "missing in primary" or "missing in candidate"). Numbers
	// JSON cannot carry (NaN, Infinity) are written as strings; values over 2 KiB are summarised as a
	// JSON string. Rules may report a derived value instead: argmax the winning index, topk the top-k.
	Primary, Candidate []byte
	// Reason says why the values differ, e.g. "value", "type", "argmax", "topk overlap=0.40 ...".
	Reason string
}

// Predictions counts per-prediction agreement (one instance of a batch is one prediction).
type Predictions struct{ Agree, Disagree int }

// Result is the outcome of one comparison.
type Result struct {
	Outcome Outcome
	// Diffs lists up to Options.MaxDiffs differing fields, in document order.
	Diffs []Diff
	// DiffCount counts every differing field, including those beyond MaxDiffs.
	DiffCount   int
	Predictions Predictions
	// Format is the format used (the detected one under auto).
	Format string
	// Reason explains Unparseable, ShapeMismatch and the error outcomes.
	Reason string
	// RulesApplied has bit i set when Options.Rules[i] (i < 64) applied to a value of the answers:
	// a rule that never applies names nothing in them. Zero for the error outcomes and Unparseable.
	RulesApplied uint64
}

// Format names.
const (
	FormatAuto      = "auto"
	FormatJSON      = "json"
	FormatRaw       = "raw"
	FormatTFServing = "tfserving"
	FormatKServeV1  = "kserve-v1"
	FormatKServeV2  = "kserve-v2"
	FormatMLflow    = "mlflow"
	FormatOpenAI    = "openai"
)

// Modes lists the rule modes New accepts. It is informative: New does not read it.
var Modes = []string{"exact", "tolerance", "argmax", "label", "topk", "cosine", "text", "set", "ignore"}

// Errors New wraps, for errors.Is.
var (
	ErrUnknownFormat = errors.New("unknown format")
	ErrUnknownMode   = errors.New("unknown rule mode")
	ErrBadPath       = errors.New("bad path")
	ErrBadRule       = errors.New("bad rule")
)

type mode uint8

const (
	modeExact mode = iota
	modeTolerance
	modeArgmax
	modeLabel
	modeTopK
	modeCosine
	modeText
	modeSet
	modeIgnore
)

type compiledRule struct {
	pat  pattern
	mode mode
	Rule
}

// Comparator compares answers. It is safe for concurrent use.
type Comparator struct {
	format   string
	tol      Tolerance
	ignore   []pattern
	rules    []compiledRule
	maxDiffs int
	pool     sync.Pool // *walker
	noFast   bool      // tests: always take the full path
	// tensorPaths: an ignore or rule path reaches inside a kserve-v2 output's data, which the fast
	// path does not follow.
	tensorPaths bool
	// indexPaths: an ignore or rule path names an index ([N]), so what a path decides may differ
	// between the elements of an array.
	indexPaths bool
	// ruleDepths and ignoreDepths have bit n set when a rule or ignore path has n segments (a
	// path matches only a stack of its own length; 63 stands for 63 or more).
	ruleDepths, ignoreDepths uint64
}

// New compiles opts. It returns an error naming the unknown format, the unknown mode or the bad path.
func New(opts Options) (*Comparator, error) {
	format, err := checkFormat(opts.Format)
	if err != nil {
		return nil, err
	}
	c := &Comparator{format: format, tol: opts.Tolerance, maxDiffs: opts.MaxDiffs}
	if err := checkTolerance(opts.Tolerance.Abs, opts.Tolerance.Rel); err != nil {
		return nil, fmt.Errorf("tolerance: %w", err)
	}
	if c.maxDiffs == 0 {
		c.maxDiffs = 32
	}
	for i, p := range opts.Ignore {
		pat, err := parsePath(p)
		if err == nil {
			err = checkPattern(c.format, p, pat)
		}
		if err != nil {
			return nil, fmt.Errorf("ignore[%d]: %w", i, err)
		}
		c.ignore = append(c.ignore, pat)
		c.ignoreDepths |= depthBit(len(pat))
		c.indexPaths = c.indexPaths || pat.hasIndex()
	}
	for i, r := range opts.Rules {
		cr, err := compileRule(r)
		if err == nil {
			err = checkPattern(c.format, r.Path, cr.pat)
		}
		if err != nil {
			return nil, fmt.Errorf("rules[%d]: %w", i, err)
		}
		c.rules = append(c.rules, cr)
		c.ruleDepths |= depthBit(len(cr.pat))
		c.indexPaths = c.indexPaths || cr.pat.hasIndex()
		c.tensorPaths = c.tensorPaths || intoTensor(cr.pat)
	}
	for _, pat := range c.ignore {
		c.tensorPaths = c.tensorPaths || intoTensor(pat)
	}
	return c, nil
}

// Rules returns the rules c compares with, in their order: bit i of Result.RulesApplied is Rules()[i].
func (c *Comparator) Rules() []Rule {
	out := make([]Rule, len(c.rules))
	for i, r := range c.rules {
		out[i] = r.Rule
	}
	return out
}

func checkTolerance(abs, rel float64) error {
	if !(abs >= 0) || !(rel >= 0) {
		return fmt.Errorf("%w: abs and rel must be >= 0 (abs %v, rel %v)", ErrBadRule, abs, rel)
	}
	return nil
}

func compileRule(r Rule) (compiledRule, error) {
	pat, err := parsePath(r.Path)
	if err != nil {
		return compiledRule{}, err
	}
	cr := compiledRule{pat: pat, Rule: r}
	switch r.Mode {
	case "exact":
		cr.mode = modeExact
	case "tolerance":
		cr.mode = modeTolerance
		if err := checkTolerance(r.Abs, r.Rel); err != nil {
			return cr, err
		}
	case "argmax":
		cr.mode = modeArgmax
	case "label":
		cr.mode = modeLabel
	case "topk":
		cr.mode = modeTopK
		if r.K < 0 {
			return cr, fmt.Errorf("%w: topk k must be >= 0, got %d", ErrBadRule, r.K)
		}
		if cr.K == 0 {
			cr.K = 5
		}
		if !(r.MinOverlap >= 0 && r.MinOverlap <= 1) || !(r.MinJaccard >= 0 && r.MinJaccard <= 1) {
			return cr, fmt.Errorf("%w: topk min_overlap and min_jaccard must be within 0..1", ErrBadRule)
		}
		if cr.MinOverlap == 0 && cr.MinJaccard == 0 {
			cr.MinOverlap = 1
		}
	case "cosine":
		cr.mode = modeCosine
		if !(r.MinSimilarity >= -1 && r.MinSimilarity <= 1) {
			return cr, fmt.Errorf("%w: cosine min_similarity must be within -1..1, got %v", ErrBadRule, r.MinSimilarity)
		}
		if cr.MinSimilarity == 0 {
			cr.MinSimilarity = 0.99
		}
	case "text":
		cr.mode = modeText
		if !(r.MaxDistance >= 0 && r.MaxDistance <= 1) {
			return cr, fmt.Errorf("%w: text max_distance must be within 0..1, got %v", ErrBadRule, r.MaxDistance)
		}
	case "set":
		cr.mode = modeSet
	case "ignore":
		cr.mode = modeIgnore
	default:
		return cr, fmt.Errorf("%w %q for path %q (want one of exact, tolerance, argmax, label, topk, cosine, text, set, ignore)", ErrUnknownMode, r.Mode, r.Path)
	}
	if len(r.Mapping) > 0 && cr.mode != modeLabel {
		return cr, fmt.Errorf("%w: mapping is only for mode label (path %q)", ErrBadRule, r.Path)
	}
	if r.Mapping != nil { // a copy: the caller may change its map, the Comparator stays as compiled
		cr.Mapping = make(map[string]string, len(r.Mapping))
		for k, v := range r.Mapping {
			cr.Mapping[k] = v
		}
	}
	return cr, nil
}

// Format returns the configured format ("auto" when detection is on).
func (c *Comparator) Format() string { return c.format }

// MaxDiffs returns the cap on Result.Diffs: Options.MaxDiffs, or its default.
func (c *Comparator) MaxDiffs() int { return c.maxDiffs }

func ok2xx(status int) bool { return status >= 200 && status <= 299 }

// Compare compares a candidate's answer with the primary's. It never panics on any input and does
// not keep primary, candidate or their bodies after it returns.
//
// Status codes come first: when both are errors (outside 2xx) with the same status the outcome is
// Agree (both models refused the request alike; the bodies, usually error messages, are not
// compared); otherwise a primary error gives PrimaryError and a candidate error CandidateError. The
// same holds for an error object in a 2xx answer of a model-server format (e.g. OpenAI's
// {"error":{...}} after a 200).
func (c *Comparator) Compare(primary, candidate Response) Result {
	pOK, cOK := ok2xx(primary.Status), ok2xx(candidate.Status)
	switch {
	case !pOK && !cOK && primary.Status == candidate.Status:
		return Result{Outcome: Agree, Format: c.format, Reason: "both answered status " + strconv.Itoa(primary.Status)}
	case !pOK:
		return Result{Outcome: PrimaryError, Format: c.format, Reason: "primary status " + strconv.Itoa(primary.Status)}
	case !cOK:
		return Result{Outcome: CandidateError, Format: c.format, Reason: "candidate status " + strconv.Itoa(candidate.Status)}
	}
	w, _ := c.pool.Get().(*walker)
	if w == nil {
		w = &walker{}
	}
	w.reset(c)
	res := w.run(primary, candidate)
	w.release()
	c.pool.Put(w)
	return res
}

// jsonPart returns the JSON part of r's body and the binary tail (Triton's extension).
func jsonPart(r Response) (js, tail []byte) {
	if r.JSONLength > 0 && r.JSONLength <= len(r.Body) {
		return r.Body[:r.JSONLength], r.Body[r.JSONLength:]
	}
	return r.Body, nil
}

func trimLeftSpace(b []byte) []byte {
	for len(b) > 0 && (b[0] == ' ' || b[0] == '\t' || b[0] == '\r' || b[0] == '\n') {
		b = b[1:]
	}
	return b
}

// looksJSON reports whether a body should be parsed as JSON under auto.
func looksJSON(ct, body []byte) bool {
	if bytes.Contains(ct, []byte("json")) {
		return true
	}
	b := trimLeftSpace(body)
	return len(b) > 0 && (b[0] == '{' || b[0] == '[')
}

// looksSSE reports whether a body is a server-sent event stream.
func looksSSE(ct, body []byte) bool {
	if bytes.Contains(ct, []byte("text/event-stream")) {
		return true
	}
	b := trimLeftSpace(body)
	return bytes.HasPrefix(b, []byte("data:")) || bytes.HasPrefix(b, []byte("event:"))
}
