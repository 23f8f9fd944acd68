package tee

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/valyala/fastjson"
)

// redacted replaces a secret value in records when no hash key is configured.
const redacted = "[redacted]"

// redactor keeps configured headers and JSON fields out of records.
type redactor struct {
	headers map[string]bool // lower-case names
	query   map[string]bool // lower-case query parameter names
	fields  []fieldPath
	key     []byte
}

// fieldPath is a parsed JSON path: keys, and indices where idx >= 0 or any index where idx == anyIndex.
type fieldPath struct {
	pattern string // the path with every index written [*], for matching diffs
	exact   string // the path as configured
	steps   []step
}

type step struct {
	key   string
	index int // -1: a key step; anyIndex: [*]; >= 0: that index
}

const anyIndex = -2

func newRedactor(o RecordOptions) (*redactor, error) {
	r := &redactor{headers: make(map[string]bool), key: o.HashKey}
	// The credential headers are always redacted: a kept one (Options.KeepHeaders) reaches the
	// candidate, never a record.
	for _, h := range o.redactHeaders() {
		r.headers[strings.ToLower(h)] = true
	}
	query := o.redactQuery()
	r.query = make(map[string]bool, len(query))
	for _, q := range query {
		r.query[strings.ToLower(q)] = true
	}
	for _, f := range o.RedactFields {
		p, err := parseFieldPath(f)
		if err != nil {
			return nil, err
		}
		r.fields = append(r.fields, p)
	}
	return r, nil
}

// parseFieldPath parses "a.b[*].c", "a[0]" or "[*].x".
func parseFieldPath(s string) (fieldPath, error) {
	p := fieldPath{exact: s}
	var pat strings.Builder
	rest := s
	for rest != "" {
		switch {
		case rest[0] == '[':
			end := strings.IndexByte(rest, ']')
			if end < 0 {
				return p, fmt.Errorf("redact field %q: unclosed [", s)
			}
			in := rest[1:end]
			if in == "*" {
				p.steps = append(p.steps, step{index: anyIndex})
			} else {
				n, err := strconv.Atoi(in)
				if err != nil || n < 0 {
					return p, fmt.Errorf("redact field %q: index must be a number or *", s)
				}
				p.steps = append(p.steps, step{index: n})
			}
			pat.WriteString("[*]")
			rest = rest[end+1:]
		case rest[0] == '.':
			if pat.Len() == 0 || len(rest) == 1 {
				return p, fmt.Errorf("redact field %q: empty key", s)
			}
			pat.WriteByte('.')
			rest = rest[1:]
		default:
			end := strings.IndexAny(rest, ".[")
			if end < 0 {
				end = len(rest)
			}
			p.steps = append(p.steps, step{key: rest[:end], index: -1})
			pat.WriteString(rest[:end])
			rest = rest[end:]
		}
	}
	if len(p.steps) == 0 {
		return p, fmt.Errorf("redact field %q: empty path", s)
	}
	p.pattern = pat.String()
	return p, nil
}

// header reports whether records redact the header name (any case).
func (r *redactor) header(name []byte) bool {
	if len(r.headers) == 0 {
		return false
	}
	// Lower-cased in a buffer on the stack: the lookup allocates nothing (strings.ToLower would).
	var buf [64]byte
	if len(name) > len(buf) {
		return r.headers[strings.ToLower(string(name))]
	}
	lower := buf[:len(name)]
	for i, c := range name {
		switch {
		case c >= utf8.RuneSelf:
			return r.headers[strings.ToLower(string(name))] // as newRedactor lower-cased the names
		case 'A' <= c && c <= 'Z':
			c += 'a' - 'A'
		}
		lower[i] = c
	}
	return r.headers[string(lower)]
}

// value returns the replacement of a secret value.
func (r *redactor) value(v []byte) string {
	if len(r.key) == 0 {
		return redacted
	}
	m := hmac.New(sha256.New, r.key)
	m.Write(v)
	return "hmac-sha256:" + hex.EncodeToString(m.Sum(nil))
}

// valueJSON returns the replacement of a secret value as a JSON string.
func (r *redactor) valueJSON(v []byte) json.RawMessage {
	b, _ := json.Marshal(r.value(v))
	return b
}

// field reports whether a diff at path (concrete) / field (indices as [*]) is, or is inside, a
// redacted field.
func (r *redactor) field(path, field string) bool {
	for _, f := range r.fields {
		if within(field, f.pattern) || within(path, f.exact) {
			return true
		}
	}
	return false
}

func within(path, prefix string) bool {
	if !strings.HasPrefix(path, prefix) {
		return false
	}
	return len(path) == len(prefix) || path[len(prefix)] == '.' || path[len(prefix)] == '['
}

// body returns b with every redacted field replaced. Bodies that are not JSON are returned as they are
// (no field can be found in them). The result is freshly allocated when anything was replaced.
func (r *redactor) body(b []byte) []byte {
	if len(r.fields) == 0 || len(b) == 0 {
		return b
	}
	var p fastjson.Parser
	v, err := p.ParseBytes(b)
	if err != nil {
		return b
	}
	var a fastjson.Arena
	changed := false
	for _, f := range r.fields {
		if r.replace(&a, v, f.steps, &changed) {
			changed = true
		}
	}
	if !changed {
		return b
	}
	return v.MarshalTo(nil)
}

// replace walks steps from v and replaces what they reach.
func (r *redactor) replace(a *fastjson.Arena, v *fastjson.Value, steps []step, changed *bool) bool {
	s := steps[0]
	last := len(steps) == 1
	switch {
	case s.index == -1:
		o, err := v.Object()
		if err != nil {
			return false
		}
		child := o.Get(s.key)
		if child == nil {
			return false
		}
		if last {
			o.Set(s.key, a.NewString(r.value(child.MarshalTo(nil))))
			return true
		}
		return r.replace(a, child, steps[1:], changed)
	default:
		arr, err := v.Array()
		if err != nil {
			return false
		}
		hit := false
		for i, child := range arr {
			if s.index != anyIndex && s.index != i {
				continue
			}
			if last {
				v.SetArrayItem(i, a.NewString(r.value(child.MarshalTo(nil))))
				hit = true
				continue
			}
			if r.replace(a, child, steps[1:], changed) {
				hit = true
			}
		}
		return hit
	}
}
