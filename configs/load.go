package configs

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"reflect"
	"regexp"
	"strconv"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"
)

// Load reads, parses, defaults (see Parse) and validates the config file at path. A config with problems
// returns Errors naming each one as path:line:column.
func Load(path string) (*Config, error) { return Checks{}.Load(path) }

// Parse is Load for a config already in memory; name is used in error messages. On success the
// defaults configs owns are filled in; the fields whose default a package owns stay zero (see the
// field comments of Config). Otherwise the error is Errors, listing every problem found with its
// line and column.
func Parse(name string, data []byte) (*Config, error) { return Checks{}.Parse(name, data) }

// Checks are checks of values whose grammar another package owns. The program wires them in, so
// that configs imports nothing of the project and still reports those problems with line and
// column, from validate as from run. A nil check is skipped.
type Checks struct {
	// ComparePath checks a compare ignore or rule path for answers of format (compare.CheckPath).
	ComparePath func(format, path string) error
	// PredictionPath checks a truth.prediction path for answers of format (compare.NewPicker).
	PredictionPath func(format, path string) error
	// BodyPath checks a path of a candidate's rewrite.body.set (compare.CheckSetPath).
	BodyPath func(path string) error
}

// MaxFileBytes is the largest config file Load and Parse take. A config is a few kilobytes; a file
// of tens of megabytes (a mistake, or an attack on a watched file) would cost seconds and
// gigabytes to parse, on every reload.
const MaxFileBytes = 4 << 20

// Load is the package's Load, with these checks added to validation. A file over MaxFileBytes is
// refused without being read whole.
func (ch Checks) Load(path string) (*Config, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("read config: %w", err)
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, MaxFileBytes+1))
	if err != nil {
		return nil, fmt.Errorf("read config: %w", err)
	}
	return ch.Parse(path, data)
}

// Parse is the package's Parse, with these checks added to validation.
func (ch Checks) Parse(name string, data []byte) (cfg *Config, err error) {
	if len(data) > MaxFileBytes {
		return nil, Errors{{File: name, Msg: fmt.Sprintf("the file is larger than %d MiB, the most a config may be; is it the right file?", MaxFileBytes>>20)}}
	}
	root, perr := parseYAML(name, data)
	if perr != nil {
		return nil, Errors{perr}
	}
	d := newDecoder(name)
	cfg = new(Config)
	d.decode(root, reflect.ValueOf(cfg).Elem(), "")
	if d.steps >= maxDecodeSteps {
		return nil, d.errs.sorted() // the partial config would only repeat the same problems
	}
	// Validate even after decode errors, so that one run reports every problem; fields that failed
	// to decode are left out of validation (d.bad).
	setDefaults(cfg)
	validate(cfg, d, ch)
	if len(d.errs) > 0 {
		return nil, d.errs.sorted()
	}
	return cfg, nil
}

var yamlLineRE = regexp.MustCompile(`^yaml: line (\d+): (.*)$`)

// parseYAML returns the root node of the one document in data.
func parseYAML(name string, data []byte) (root *yaml.Node, err *Error) {
	defer func() {
		// The YAML parser reports problems as errors; a panic is its bug, but a bad file must
		// still not take the process down.
		if r := recover(); r != nil {
			root, err = nil, &Error{File: name, Line: 1, Msg: fmt.Sprintf("invalid YAML: %v", r)}
		}
	}()
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var doc yaml.Node
	if e := dec.Decode(&doc); e != nil {
		if errors.Is(e, io.EOF) {
			return nil, &Error{File: name, Line: 1, Column: 1, Msg: "empty config: want at least routes: with one route"}
		}
		return nil, yamlError(name, e)
	}
	var next yaml.Node
	if e := dec.Decode(&next); e == nil {
		return nil, &Error{File: name, Line: next.Line, Column: next.Column, Msg: "a second YAML document (---): a config file holds one"}
	} else if !errors.Is(e, io.EOF) {
		return nil, yamlError(name, e)
	}
	n := &doc
	if n.Kind == yaml.DocumentNode {
		if len(n.Content) == 0 {
			return nil, &Error{File: name, Line: 1, Column: 1, Msg: "empty config: want at least routes: with one route"}
		}
		n = n.Content[0]
	}
	if n.Kind == yaml.ScalarNode && n.ShortTag() == "!!null" {
		return nil, &Error{File: name, Line: n.Line, Column: n.Column, Msg: "empty config: want at least routes: with one route"}
	}
	if n.Kind != yaml.MappingNode {
		return nil, &Error{File: name, Line: n.Line, Column: n.Column, Msg: fmt.Sprintf("a config is a mapping (listen:, routes:, ...), got %s", describe(n))}
	}
	return n, nil
}

// yamlError turns a YAML syntax error ("yaml: line 3: ...") into an Error at that line.
func yamlError(name string, e error) *Error {
	msg := e.Error()
	if m := yamlLineRE.FindStringSubmatch(msg); m != nil {
		line, _ := strconv.Atoi(m[1])
		if parserProblem(m[2]) {
			// The YAML parser (unlike its scanner) reports 0-based lines: the line where the
			// enclosing collection starts, or where the problem is.
			line++
		}
		return &Error{File: name, Line: line, Msg: "YAML syntax: " + m[2]}
	}
	msg = strings.TrimPrefix(msg, "yaml: ")
	return &Error{File: name, Line: 1, Msg: "YAML syntax: " + msg}
}

// parserProblem tells the YAML parser's messages from its scanner's.
func parserProblem(msg string) bool {
	for _, p := range []string{"did not find expected", "found undefined tag handle", "found duplicate %", "found incompatible YAML"} {
		if strings.HasPrefix(msg, p) {
			return true
		}
	}
	return false
}

// Defaults of the settings that configs owns: those no package's Options can express at their zero
// value (an address, a path, a share where 0% means none), and the process's own (shutdown, reload,
// log). Every other field left out stays zero, and the package it is mapped onto applies its default
// (see the field comments of Config, which name that package's field).
const (
	DefaultListen          = "0.0.0.0:8080"
	DefaultAdmin           = "127.0.0.1:9901"
	DefaultShutdownTimeout = 15 * time.Second
	DefaultRecordsFile     = "./shadowproxy-records.jsonl"
	DefaultSpoolDir        = "./spool"
)

func setDefaults(c *Config) {
	str(&c.Listen, DefaultListen)
	str(&c.Admin, DefaultAdmin)
	dur(&c.ShutdownTimeout, DefaultShutdownTimeout)
	if c.Reload.Watch == nil {
		t := true
		c.Reload.Watch = &t
	}
	dur(&c.Reload.Debounce, time.Second)
	str(&c.Log.Level, "info")
	str(&c.Log.Format, "json")
	for i := range c.Routes {
		r := &c.Routes[i]
		for j := range r.Candidates {
			pct(&r.Candidates[j].Sample, 100)
		}
		cmp := &r.Compare
		// compare's zero tolerance means exact; a config's means the default below.
		float(&cmp.Tolerance.Abs, 1e-6)
		float(&cmp.Tolerance.Rel, 1e-4)
		for k := range cmp.Rules {
			if rule := &cmp.Rules[k]; rule.Mode == "tolerance" {
				// A tolerance rule without abs or rel takes the route's.
				float(&rule.Abs, *cmp.Tolerance.Abs)
				float(&rule.Rel, *cmp.Tolerance.Rel)
			}
		}
		rec := &r.Record
		pct(&rec.Disagreements, 100)
		pct(&rec.Agreements, 1)
	}
	if c.Sinks.File == nil && c.Sinks.Kafka == nil {
		c.Sinks.File = &FileSink{}
	}
	if f := c.Sinks.File; f != nil {
		str(&f.Path, DefaultRecordsFile)
	}
	if k := c.Sinks.Kafka; k != nil {
		str(&k.Spool.Dir, DefaultSpoolDir) // sink's empty Dir turns the spool off
	}
}

func str(p *string, def string) {
	if *p == "" {
		*p = def
	}
}

func dur(p *Duration, def time.Duration) {
	if *p == 0 {
		*p = Duration(def)
	}
}

func pct(p **Percent, def float64) {
	if *p == nil {
		*p = PercentOf(def)
	}
}

func float(p **float64, def float64) {
	if *p == nil {
		*p = &def
	}
}
