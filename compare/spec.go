package compare

import (
	"bytes"
	"fmt"
	"slices"
	"strings"

	"github.com/valyala/fastjson"
)

// The formats, stated once. formatTable says what each format changes in the comparison; shape
// says what auto detection looks at and format is the one statement of its rules. Everything else
// is derived from them, for both paths: the names New accepts (Formats), the specs by name, the
// union the fast path reads under auto (autoSpec), the keys that make an object with "error" an
// answer (payloadKeys), the keys whose batch sizes the fast path keeps (unitKeys) and Perturb's
// prediction keys. The full path reads a shape from the parsed tree (shapeOf), the fast path
// while it scans (detection.note): that much is written twice, since one reads a tree and the
// other a text, but what a shape means is not.

// formatSpec is what a model-server format changes in the structural comparison: which top-level
// keys hold predictions (one element of their array, or of each column of their object, is one
// prediction) and which top-level keys are never compared.
type formatSpec struct {
	name    string
	units   []string
	ignored []string

	unitKeys uint8 // bit i: unitKeys[i] is in units (derived, for the fast path)
}

// formatTable lists every format but auto. kserve-v2 has no unit keys: its outputs are read by
// name and shape (v2, foutputs), the first dimension of each counting the predictions.
var formatTable = []formatSpec{
	{name: FormatJSON},
	{name: FormatRaw},
	{name: FormatTFServing, units: []string{"predictions", "outputs", "result", "results"}, ignored: []string{"model_spec"}},
	{name: FormatKServeV1, units: []string{"predictions"}},
	{name: FormatKServeV2, ignored: []string{"id", "model_name", "model_version", "parameters"}},
	{name: FormatMLflow, units: []string{"predictions"}},
	{name: FormatOpenAI, units: []string{"choices", "data"}, ignored: []string{"id", "created", "usage", "system_fingerprint", "model"}},
}

// v2OutputKeys are the keys of a kserve-v2 output object, which its normalised view (outputs.NAME,
// the output's data) does not have (checkPattern); v2 and foutput read them.
var v2OutputKeys = []string{"name", "shape", "datatype", "data", "parameters"}

// Formats lists the format names New accepts ("" is auto). It is informative: New does not read it.
var Formats = append([]string{FormatAuto}, names(formatTable)...)

var (
	// specs are formatTable's entries by name.
	specs = map[string]formatSpec{}
	// autoSpec is the union the fast path uses under auto: every format's prediction keys, and the
	// keys some format ignores (skipped only when the answer turns out to be of a format ignoring
	// them).
	autoSpec formatSpec
	// payloadKeys are the keys that make an object with an "error" key an answer rather than an
	// error: every format's prediction keys.
	payloadKeys []string
	// unitKeys are the keys whose batch sizes the fast path keeps per answer (detection.units).
	unitKeys []string
)

// maxUnitKeys bounds unitKeys: formatSpec.unitKeys and detection.units have a place per key.
const maxUnitKeys = 8

// maxIgnoredKeys bounds autoSpec.ignored: detection.skipped has a bit per key.
const maxIgnoredKeys = 16

func init() {
	for _, s := range formatTable {
		autoSpec.units = union(autoSpec.units, s.units)
		autoSpec.ignored = union(autoSpec.ignored, s.ignored)
	}
	payloadKeys, unitKeys = autoSpec.units, autoSpec.units
	if len(unitKeys) > maxUnitKeys || len(autoSpec.ignored) > maxIgnoredKeys {
		panic("compare: formatTable has more unit or ignored keys than the fast path keeps")
	}
	for _, s := range formatTable {
		for i, k := range unitKeys {
			if slices.Contains(s.units, k) {
				s.unitKeys |= 1 << i
			}
		}
		specs[s.name] = s
	}
}

func names(table []formatSpec) []string {
	out := make([]string, len(table))
	for i, s := range table {
		out[i] = s.name
	}
	return out
}

// union appends to a the elements of b it does not hold.
func union(a, b []string) []string {
	for _, k := range b {
		if !slices.Contains(a, k) {
			a = append(a, k)
		}
	}
	return a
}

// unitKey returns the index of k in unitKeys, or -1.
func unitKey(k string) int { return slices.Index(unitKeys, k) }

// checkFormat returns the format New compiles for name, or an error naming the formats it accepts.
func checkFormat(name string) (string, error) {
	if name == "" {
		return FormatAuto, nil
	}
	if _, ok := specs[name]; !ok && name != FormatAuto {
		return "", fmt.Errorf("%w %q (want one of %s)", ErrUnknownFormat, name, strings.Join(Formats, ", "))
	}
	return name, nil
}

// shape is what auto detection looks at in an answer (the primary's; the candidate's when the
// primary's says nothing, i.e. is json).
type shape struct {
	object       bool // the answer is an object; nothing else is read otherwise
	outputsList  bool // "outputs" is a list
	outputsOther bool // "outputs" is there and not a list (TF Serving's columns)
	v2Output     bool // the first output is an object with a name, and a datatype or a shape
	modelName    bool // "model_name" is there
	choicesList  bool // "choices" is a list
	openaiObject bool // "object" is a string starting with "chat.completion", or "text_completion"
	listObject   bool // "object" is the string "list"
	data         bool // "data" is there
	predictions  bool // "predictions" is there
	predObject   bool // ... and is an object (MLflow's columns)
	resultList   bool // "result" or "results" is a list
}

// format is auto detection's rule: the format of an answer of shape s.
func (s shape) format() string {
	switch {
	case !s.object:
		return FormatJSON
	case s.outputsList && (s.v2Output || s.modelName):
		return FormatKServeV2
	case s.choicesList || s.openaiObject || (s.listObject && s.data):
		return FormatOpenAI
	case s.predObject:
		return FormatMLflow
	case s.predictions || s.outputsList || s.outputsOther || s.resultList:
		return FormatTFServing
	}
	return FormatJSON
}

// noteObject records the value of the top-level key "object".
func (s *shape) noteObject(v []byte) {
	s.openaiObject = bytes.HasPrefix(v, []byte("chat.completion")) || string(v) == "text_completion"
	s.listObject = string(v) == "list"
}

// shapeOf reads the shape of a parsed answer (a duplicate key counts as its first occurrence).
func shapeOf(v *fastjson.Value) shape {
	if v.Type() != fastjson.TypeObject {
		return shape{}
	}
	s := shape{object: true, modelName: v.Get("model_name") != nil, data: v.Get("data") != nil}
	if outs := v.Get("outputs"); outs != nil {
		s.outputsList = outs.Type() == fastjson.TypeArray
		s.outputsOther = !s.outputsList
		if a, _ := outs.Array(); len(a) > 0 && a[0].Type() == fastjson.TypeObject {
			s.v2Output = a[0].Get("name") != nil && (a[0].Get("datatype") != nil || a[0].Get("shape") != nil)
		}
	}
	if ch := v.Get("choices"); ch != nil {
		s.choicesList = ch.Type() == fastjson.TypeArray
	}
	if obj := v.Get("object"); obj != nil && obj.Type() == fastjson.TypeString {
		s.noteObject(obj.GetStringBytes())
	}
	if pr := v.Get("predictions"); pr != nil {
		s.predictions, s.predObject = true, pr.Type() == fastjson.TypeObject
	}
	for _, k := range []string{"result", "results"} {
		if r := v.Get(k); r != nil && r.Type() == fastjson.TypeArray {
			s.resultList = true
		}
	}
	return s
}

// detect guesses the format of a parsed answer.
func detect(v *fastjson.Value) string { return shapeOf(v).format() }
