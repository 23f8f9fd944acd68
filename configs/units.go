package configs

import (
	"encoding/json"
	"fmt"
	"math"
	"regexp"
	"strconv"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"
)

// D returns the duration as a time.Duration.
func (d Duration) D() time.Duration { return time.Duration(d) }

// String writes the duration in Go syntax ("2s").
func (d Duration) String() string { return time.Duration(d).String() }

// MarshalYAML writes the duration in Go syntax, so a Config round-trips.
func (d Duration) MarshalYAML() (any, error) { return d.String(), nil }

// UnmarshalYAML reads Go duration syntax ("250ms", "2s", "1m30s"); negative durations are errors.
func (d *Duration) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind != yaml.ScalarNode {
		return nodeError(n, "expected a duration such as 250ms, 2s or 1m30s, got %s", describe(n))
	}
	v, err := time.ParseDuration(strings.TrimSpace(n.Value))
	if err != nil {
		return nodeError(n, "bad duration %q: want Go syntax such as 250ms, 2s or 1m30s", n.Value)
	}
	if v < 0 {
		return nodeError(n, "duration %q must not be negative", n.Value)
	}
	*d = Duration(v)
	return nil
}

// Int returns the size as an int (sizes larger than the platform's int are clamped).
func (b ByteSize) Int() int {
	if int64(b) > int64(math.MaxInt) {
		return math.MaxInt
	}
	return int(b)
}

// Int64 returns the size in bytes.
func (b ByteSize) Int64() int64 { return int64(b) }

// String writes the size with the largest binary unit that divides it ("64KiB", "1000B").
func (b ByteSize) String() string {
	for _, u := range []struct {
		name string
		n    int64
	}{{"TiB", 1 << 40}, {"GiB", 1 << 30}, {"MiB", 1 << 20}, {"KiB", 1 << 10}} {
		if b != 0 && int64(b)%u.n == 0 {
			return strconv.FormatInt(int64(b)/u.n, 10) + u.name
		}
	}
	return strconv.FormatInt(int64(b), 10) + "B"
}

// MarshalYAML writes the size as String does, so a Config round-trips.
func (b ByteSize) MarshalYAML() (any, error) { return b.String(), nil }

var (
	sizeRE    = regexp.MustCompile(`^([0-9]+(?:\.[0-9]+)?)\s*([A-Za-z]*)$`)
	sizeUnits = map[string]float64{
		"": 1, "B": 1,
		"KB": 1e3, "MB": 1e6, "GB": 1e9, "TB": 1e12,
		"KiB": 1 << 10, "MiB": 1 << 20, "GiB": 1 << 30, "TiB": 1 << 40,
	}
)

// UnmarshalYAML reads a size: a plain integer is bytes; otherwise a number and one of the units B,
// KB, MB, GB, TB (powers of 1000) or KiB, MiB, GiB, TiB (powers of 1024).
func (b *ByteSize) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind != yaml.ScalarNode {
		return nodeError(n, "expected a size such as 512B, 64KiB or 16MiB, got %s", describe(n))
	}
	v := strings.TrimSpace(n.Value)
	if n.ShortTag() == "!!int" {
		var i int64
		if err := n.Decode(&i); err != nil {
			return nodeError(n, "size %s is out of range", v)
		}
		if i < 0 {
			return nodeError(n, "size %s must not be negative", v)
		}
		*b = ByteSize(i)
		return nil
	}
	m := sizeRE.FindStringSubmatch(v)
	mult, ok := 0.0, false
	if m != nil {
		mult, ok = sizeUnits[m[2]]
	}
	if !ok {
		return nodeError(n, "bad size %q: want bytes or a number with a unit B, KB, MB, GB, TB, KiB, MiB, GiB or TiB (e.g. 64KiB)", n.Value)
	}
	f, err := strconv.ParseFloat(m[1], 64)
	if err != nil || f*mult >= math.MaxInt64 {
		return nodeError(n, "size %q is too large", n.Value)
	}
	*b = ByteSize(f * mult)
	return nil
}

// Fraction returns the share as a fraction: 37% is 0.37.
func (p Percent) Fraction() float64 { return float64(p) }

// String writes the share as a percentage ("37%"), to 12 significant digits so that the float
// arithmetic of the conversion does not show (0.07% rather than 0.07000000000000001%).
func (p Percent) String() string {
	f, _ := strconv.ParseFloat(strconv.FormatFloat(float64(p)*100, 'g', 12, 64), 64)
	return strconv.FormatFloat(f, 'f', -1, 64) + "%"
}

// MarshalYAML writes the share as a percentage, so a Config round-trips.
func (p Percent) MarshalYAML() (any, error) { return p.String(), nil }

// PercentOf returns a pointer to the share pct% (PercentOf(37) is 37%), for building configs in code.
func PercentOf(pct float64) *Percent {
	p := Percent(pct / 100)
	return &p
}

// UnmarshalYAML reads a percentage between 0% and 100% ("37%", "0.5%"). A bare number is an error,
// because 1 could mean 1% or 100%.
func (p *Percent) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind != yaml.ScalarNode {
		return nodeError(n, "expected a percentage such as 37%%, got %s", describe(n))
	}
	v := strings.TrimSpace(n.Value)
	num, hasPct := strings.CutSuffix(v, "%")
	if !hasPct {
		f, err := strconv.ParseFloat(v, 64)
		if err == nil && f >= 0 && f <= 1 {
			return nodeError(n, "bare number %s is ambiguous (%s could mean %s%% or %s%%): write a percentage such as \"%s%%\"",
				v, v, v, hundredfold(v), v)
		}
		if err == nil || n.ShortTag() == "!!int" || n.ShortTag() == "!!float" {
			return nodeError(n, "bare number %s: shares are written as percentages, since a bare 1 could mean 1%% or 100%%; write \"%s%%\"", v, v)
		}
		return nodeError(n, "bad percentage %q: want a number followed by %%, such as 37%% or 0.5%%", n.Value)
	}
	f, err := strconv.ParseFloat(strings.TrimSpace(num), 64)
	if err != nil || math.IsNaN(f) || math.IsInf(f, 0) {
		return nodeError(n, "bad percentage %q: want a number followed by %%, such as 37%% or 0.5%%", n.Value)
	}
	if f < 0 || f > 100 {
		return nodeError(n, "percentage %s is outside 0-100%%", v)
	}
	*p = Percent(f / 100)
	return nil
}

// hundredfold returns v*100 as text, for the ambiguity message ("1" -> "100").
func hundredfold(v string) string {
	f, err := strconv.ParseFloat(v, 64)
	if err != nil || math.IsNaN(f) || math.IsInf(f, 0) {
		return v + "00"
	}
	return strconv.FormatFloat(f*100, 'f', -1, 64)
}

// nodeError is an Error at n's position; the decoder fills in File and Field.
func nodeError(n *yaml.Node, format string, args ...any) *Error {
	return &Error{Line: n.Line, Column: n.Column, Msg: fmt.Sprintf(format, args...)}
}

// describe names a node's kind for messages: a mapping, a list, "text".
func describe(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	case yaml.AliasNode:
		return "an alias"
	case yaml.DocumentNode:
		return "a document"
	case yaml.ScalarNode:
		if n.ShortTag() == "!!null" {
			return "nothing"
		}
		v := n.Value
		if len(v) > 40 {
			v = v[:40] + "..."
		}
		return strconv.Quote(v)
	}
	return "an unknown node"
}

var (
	_ yaml.Unmarshaler = (*Duration)(nil)
	_ yaml.Unmarshaler = (*ByteSize)(nil)
	_ yaml.Unmarshaler = (*Percent)(nil)
	_ yaml.Marshaler   = Duration(0)
	_ yaml.Marshaler   = ByteSize(0)
	_ yaml.Marshaler   = Percent(0)
	_ error            = (*Error)(nil)
	_ error            = Errors(nil)
)

// UnmarshalYAML keeps any YAML value (text, number, boolean, null, list, mapping with text keys)
// as its JSON text.
func (j *JSONValue) UnmarshalYAML(n *yaml.Node) error {
	var v any
	if err := n.Decode(&v); err != nil {
		return nodeError(n, "bad value: %v", err)
	}
	b, err := json.Marshal(v)
	if err != nil {
		return nodeError(n, "a value set in a JSON body must be JSON (mappings with text keys, lists, text, numbers, booleans, null): %v", err)
	}
	*j = b
	return nil
}

// MarshalYAML writes the value back as YAML, so a Config round-trips.
func (j JSONValue) MarshalYAML() (any, error) {
	var v any
	err := json.Unmarshal(j, &v)
	return v, err
}
