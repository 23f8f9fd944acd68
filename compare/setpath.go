package compare

import (
	"encoding/json"
	"errors"
	"fmt"

	"github.com/valyala/fastjson"
)

// ErrNoPath is returned by SetJSON when the document has nothing at the path's parent.
var ErrNoPath = errors.New("path not in document")

// CheckSetPath reports what is wrong with a path for SetJSON: the syntax of Rule.Path, ending in a
// key, with no * key ([*], every element of an array, is allowed).
func CheckSetPath(path string) error {
	pat, err := parsePath(path)
	if err != nil {
		return err
	}
	for _, s := range pat {
		if s.kind == segAnyKey {
			return fmt.Errorf("%w %q: a path to set names its keys (* is for comparing)", ErrBadPath, path)
		}
	}
	if pat[len(pat)-1].kind != segKey {
		return fmt.Errorf("%w %q: a path to set ends in a key", ErrBadPath, path)
	}
	return nil
}

// SetJSON returns the JSON document doc with the value at path (see CheckSetPath) set to value, a
// JSON text: the key is replaced, or added to its object when missing. [*] sets it in every element.
// It fails, with doc unchanged, when doc or value is not JSON or the path's parent is not in doc
// (ErrNoPath). The result is compact JSON with the keys in their order.
func SetJSON(doc []byte, path string, value []byte) ([]byte, error) {
	if err := CheckSetPath(path); err != nil {
		return doc, err
	}
	pat, _ := parsePath(path)
	// fastjson reads some texts that are not JSON (numbers such as 00); what it would write back
	// must be JSON.
	if !json.Valid(doc) {
		return doc, errors.New("document: not JSON")
	}
	if !json.Valid(value) {
		return doc, errors.New("value: not JSON")
	}
	var dp, vp fastjson.Parser
	root, err := dp.ParseBytes(doc)
	if err != nil {
		return doc, fmt.Errorf("document: %w", err)
	}
	v, err := vp.ParseBytes(value)
	if err != nil {
		return doc, fmt.Errorf("value: %w", err)
	}
	if n := setAt(root, pat, v); n == 0 {
		return doc, fmt.Errorf("%w: %s", ErrNoPath, path)
	}
	out := root.MarshalTo(nil)
	if !json.Valid(out) {
		// fastjson writes control characters in keys Go's way (\x10), which JSON does not have.
		return doc, errors.New("document: a key fastjson cannot write back as JSON")
	}
	return out, nil
}

// setAt sets the last key of pat below cur and returns how many places it set.
func setAt(cur *fastjson.Value, pat pattern, v *fastjson.Value) int {
	s := pat[0]
	if len(pat) == 1 {
		o, err := cur.Object()
		if err != nil {
			return 0
		}
		o.Set(s.key, v)
		return 1
	}
	switch s.kind {
	case segKey:
		if cur.Type() != fastjson.TypeObject {
			return 0
		}
		next := cur.Get(s.key)
		if next == nil {
			return 0
		}
		return setAt(next, pat[1:], v)
	case segIndex:
		a, err := cur.Array()
		if err != nil || s.idx >= len(a) {
			return 0
		}
		return setAt(a[s.idx], pat[1:], v)
	case segAnyIndex:
		a, err := cur.Array()
		if err != nil {
			return 0
		}
		n := 0
		for _, e := range a {
			n += setAt(e, pat[1:], v)
		}
		return n
	}
	return 0
}
