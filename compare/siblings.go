package compare

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

// remember records the k-th key of an object.
func (s *siblingKeys) remember(k int, e siblingKey) {
	switch {
	case s == nil:
	case k < len(s.keys):
		s.keys[k] = e
	case k == len(s.keys) && k < siblingKeysMax:
		s.keys = append(s.keys, e)
	}
}
