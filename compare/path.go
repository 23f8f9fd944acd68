package compare

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
)

type segKind uint8

const (
	segKey      segKind = iota // an object key (or a kserve-v2 output name)
	segIndex                   // an array index
	segAnyIndex                // [*] in a pattern
	segAnyKey                  // * in a pattern
)

type seg struct {
	kind segKind
	idx  int
	key  string
}

// pattern is a compiled path.
type pattern []seg

// parsePath compiles a path: keys separated by dots, [N] for index N, [*] for any index, * for any
// key, ["key"] for a key holding dots or brackets; a leading "$" or "$." is allowed.
func parsePath(s string) (pattern, error) {
	bad := func(why string) (pattern, error) {
		return nil, fmt.Errorf("%w %q: %s", ErrBadPath, s, why)
	}
	p := strings.TrimPrefix(s, "$")
	p = strings.TrimPrefix(p, ".")
	if p == "" {
		return bad("empty")
	}
	var out pattern
	expectKey := true // at start or after a dot
	for len(p) > 0 {
		switch p[0] {
		case '[':
			end := strings.IndexByte(p, ']')
			if len(p) > 1 && p[1] == '"' {
				q, err := strconv.QuotedPrefix(p[1:])
				if err != nil || len(p) < 2+len(q) || p[1+len(q)] != ']' {
					return bad("unterminated quoted key")
				}
				k, _ := strconv.Unquote(q)
				out = append(out, seg{kind: segKey, key: k})
				p = p[2+len(q):]
				expectKey = false
				continue
			}
			if end < 0 {
				return bad("missing ]")
			}
			in := p[1:end]
			if in == "*" {
				out = append(out, seg{kind: segAnyIndex})
			} else {
				n, err := strconv.Atoi(in)
				if err != nil || n < 0 {
					return bad("index " + strconv.Quote(in) + " is neither a number nor *")
				}
				out = append(out, seg{kind: segIndex, idx: n})
			}
			p = p[end+1:]
			expectKey = false
		case '.':
			if expectKey {
				return bad("empty key")
			}
			p = p[1:]
			expectKey = true
			if p == "" {
				return bad("ends with a dot")
			}
		case ']':
			return bad("unexpected ]")
		default:
			if !expectKey {
				return bad("missing dot before key")
			}
			end := strings.IndexAny(p, ".[]")
			if end < 0 {
				end = len(p)
			}
			k := p[:end]
			if k == "*" {
				out = append(out, seg{kind: segAnyKey})
			} else {
				out = append(out, seg{kind: segKey, key: k})
			}
			p = p[end:]
			expectKey = false
		}
	}
	return out, nil
}

// CheckPath reports what is wrong with an ignore or rule path for answers of format (auto, or ""
// for any): its syntax (ErrBadPath), and under kserve-v2 a path that can name nothing there
// (ErrBadPath too). New runs the same checks; a config checker can run them before New.
func CheckPath(format, path string) error {
	pat, err := parsePath(path)
	if err != nil {
		return err
	}
	return checkPattern(format, path, pat)
}

// checkPattern finds paths that a format's normalised view can never match: kserve-v2 names its
// outputs (outputs.NAME is the data of the output called NAME), so outputs[N] and
// outputs.NAME.data name nothing.
func checkPattern(format, path string, pat pattern) error {
	if format != FormatKServeV2 || len(pat) < 2 || pat[0].kind != segKey || pat[0].key != "outputs" {
		return nil
	}
	if k := pat[1].kind; k == segIndex || k == segAnyIndex {
		return fmt.Errorf("%w %q: kserve-v2 outputs are named, not numbered: outputs.NAME is the data of the output called NAME (outputs.* is every output)", ErrBadPath, path)
	}
	if len(pat) > 2 && pat[2].kind == segKey && slices.Contains(v2OutputKeys, pat[2].key) {
		return fmt.Errorf("%w %q: in kserve-v2 answers outputs.NAME is already the data of the output called NAME, with no %q below it", ErrBadPath, path, pat[2].key)
	}
	return nil
}

// hasIndex reports whether p names an index ([N], not [*]).
func (p pattern) hasIndex() bool {
	for _, s := range p {
		if s.kind == segIndex {
			return true
		}
	}
	return false
}

// match reports whether the concrete path stack is matched by p.
func (p pattern) match(stack []seg) bool {
	if len(p) != len(stack) {
		return false
	}
	for i := len(p) - 1; i >= 0; i-- { // the last segment differs most often
		ps, s := p[i], stack[i]
		switch ps.kind {
		case segKey:
			if s.kind != segKey || s.key != ps.key {
				return false
			}
		case segIndex:
			if s.kind != segIndex || s.idx != ps.idx {
				return false
			}
		case segAnyIndex:
			if s.kind != segIndex {
				return false
			}
		case segAnyKey:
			if s.kind != segKey {
				return false
			}
		}
	}
	return true
}

// appendPath writes a concrete path; with field set, indices are written as [*].
func appendPath(dst []byte, stack []seg, field bool) []byte {
	for i, s := range stack {
		switch s.kind {
		case segIndex:
			if field {
				dst = append(dst, "[*]"...)
			} else {
				dst = append(dst, '[')
				dst = strconv.AppendInt(dst, int64(s.idx), 10)
				dst = append(dst, ']')
			}
		default:
			if s.key == "" || strings.ContainsAny(s.key, ".[]\"") || s.key == "*" || (i == 0 && s.key[0] == '$') {
				dst = append(dst, '[')
				dst = strconv.AppendQuote(dst, s.key)
				dst = append(dst, ']')
				continue
			}
			if i > 0 {
				dst = append(dst, '.')
			}
			dst = append(dst, s.key...)
		}
	}
	return dst
}
