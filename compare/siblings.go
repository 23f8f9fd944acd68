package compare

import "slices"

// siblingKeys remembers the keys of the objects of one array, with what the path decides for each
// (ignored, rule), so that the next element's members are found by comparing bytes: the objects of
// a batch of predictions repeat their keys. It is used only when no path names an index (then the
// decisions do not depend on which element it is). tok is a key as written, quotes to colon, in the
// primary's body.
type siblingKeys struct {
	armed bool
	keys  []siblingKey
}

type siblingKey struct {
	tok     []byte
	key     string
	ignored bool
	rule    *compiledRule
}

// siblings returns the sibling keys of the objects at depth when an array is iterating over them.
func (w *walker) siblings(depth int) *siblingKeys {
	if depth < len(w.sib) && w.sib[depth].armed {
		return &w.sib[depth]
	}
	return nil
}

// Sibling keys are remembered near the top of an answer, where batches of predictions are, and for
// the first keys of an object: a pooled walker keeps at most siblingDepths x siblingKeysMax.
const (
	siblingDepths  = 8
	siblingKeysMax = 32
)

// armSiblings starts remembering the keys of the objects at depth (an array's elements), or, with
// on false, stops. It arms nothing when a path names an index.
func (w *walker) armSiblings(depth int, on bool) {
	if w.c.indexPaths || depth >= siblingDepths {
		return
	}
	for len(w.sib) <= depth {
		w.sib = append(w.sib, siblingKeys{})
	}
	s := &w.sib[depth]
	s.armed = on
	clear(s.keys) // no references into this comparison's bodies outlive it
	s.keys = s.keys[:0]
}

// knownKey steps both scanners past the k-th remembered key when both texts write it there.
func (s *siblingKeys) knownKey(p, c *scan, k int) *siblingKey {
	if s == nil || k >= len(s.keys) {
		return nil
	}
	e := &s.keys[k]
	p.ws()
	c.ws()
	if !p.same(e.tok) {
		return nil
	}
	if !c.same(e.tok) {
		p.i -= len(e.tok)
		return nil
	}
	return e
}

// remember records the k-th key of an object. The keys after it are forgotten, so that the keys
// remembered are always the first keys of one object, in its order: distinct keys (firstKey).
func (s *siblingKeys) remember(k int, e siblingKey) {
	switch {
	case s == nil:
	case k < len(s.keys):
		s.keys[k] = e
		clear(s.keys[k+1:])
		s.keys = s.keys[:k+1]
	case k == len(s.keys) && k < siblingKeysMax:
		s.keys = append(s.keys, e)
	}
}

// known returns the keys remembered, nil for s nil.
func (s *siblingKeys) known() []siblingKey {
	if s == nil {
		return nil
	}
	return s.keys
}

// maxObjectKeys bounds the keys of one object the fast path checks for duplicates (a quadratic
// check); an object with more is left to the full path.
const maxObjectKeys = 256

// firstKey reports whether key, read at position k of an object whose keys so far are
// known[:k'] (found as sibling keys, k' <= k) and w.okeys[base:], occurs there for the first time,
// and adds it to w.okeys. A key written twice is left to the full path, which compares only its
// first occurrence on each side, as fastjson's Get finds it.
func (w *walker) firstKey(base int, known []siblingKey, k int, key string) bool {
	if len(w.okeys)-base >= maxObjectKeys {
		return false
	}
	for _, e := range known[:min(k, len(known))] {
		if e.key == key {
			return false
		}
	}
	if slices.Contains(w.okeys[base:], key) {
		return false
	}
	w.okeys = append(w.okeys, key)
	return true
}
