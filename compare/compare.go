package compare

import "errors"

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
	Status      int
	ContentType []byte
	// JSONLength, when > 0, says only the first JSONLength bytes of Body are JSON (Triton's binary
	// tensor extension, from the Inference-Header-Content-Length header).
	JSONLength int
	Body       []byte
}

// Tolerance is |a-b| <= max(Rel*min(|a|,|b|), Abs).
type Tolerance struct{ Abs, Rel float64 }

// Rule applies a comparison mode to the values at Path.
type Rule struct {
	Path, Mode    string
	Abs, Rel      float64
	K             int
	MinOverlap    float64
	MinJaccard    float64
	MinSimilarity float64
	MaxDistance   float64
	Mapping       map[string]string
}

// Options configure a Comparator. The zero value compares JSON structurally with the default tolerance.
type Options struct {
	// Format is auto, json, raw, tfserving, kserve-v1, kserve-v2, mlflow or openai. "" means auto.
	Format    string
	Ignore    []string
	Tolerance Tolerance
	Rules     []Rule
	// MaxDiffs caps Result.Diffs. 0 means 32.
	MaxDiffs int
}

// Diff is one differing field. Primary and Candidate are JSON text ("null" when absent on that side).
type Diff struct {
	// Path is the concrete path, e.g. predictions[3].label.
	Path string
	// Field is Path with indices replaced by [*], e.g. predictions[*].label: the metric label.
	Field              string
	Primary, Candidate []byte
}

// Predictions counts per-prediction agreement (one instance of a batch is one prediction).
type Predictions struct{ Agree, Disagree int }

// Result is the outcome of one comparison.
type Result struct {
	Outcome     Outcome
	Diffs       []Diff
	Predictions Predictions
	// Format is the format used (the detected one under auto).
	Format string
	// Reason explains Unparseable, ShapeMismatch and the error outcomes.
	Reason string
}

// Comparator compares answers. It is safe for concurrent use.
type Comparator struct{ opts Options }

// ErrUnknownFormat is returned by New for an unknown format name.
var ErrUnknownFormat = errors.New("unknown format")

// New compiles opts.
func New(opts Options) (*Comparator, error) { return &Comparator{opts: opts}, nil }

// Compare compares a candidate's answer with the primary's.
func (c *Comparator) Compare(primary, candidate Response) Result {
	panic("compare: not implemented yet")
}
