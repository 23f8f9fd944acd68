package compare

import "bytes"

// The fast path's vectors: two arrays of numbers read side by side, and the rules that read them.

// numPairs reads two arrays of numbers (p and c at '[') side by side into w.fa and w.fb; ok is
// false for anything but two arrays of numbers of one length. Reading both in one loop, with the
// positions in registers, gives the CPU two independent chains of "where the next number starts".
func (w *walker) numPairs(p, c *scan) bool {
	fa, fb, i, j, ok := readPairs(p.b, c.b, p.i+1, c.i+1, w.fa[:0], w.fb[:0])
	w.fa, w.fb = fa, fb
	if ok {
		p.i, c.i = i, j
	}
	return ok
}

// readPairs is numPairs' loop over pb and cb from i and j (just inside the brackets), with all its
// state in registers; it returns where the arrays end.
func readPairs(pb, cb []byte, i, j int, fa, fb []float64) (_, _ []float64, _, _ int, ok bool) {
	i, j = skipSpace(pb, i), skipSpace(cb, j)
	if i < len(pb) && j < len(cb) && pb[i] == ']' && cb[j] == ']' {
		return fa, fb, i + 1, j + 1, true
	}
	for {
		f, ei, ok1 := shortAt(pb, i)
		g, ej, ok2 := shortAt(cb, j)
		if !ok1 || !ok2 {
			i, j = skipSpace(pb, i), skipSpace(cb, j)
			if f, ei, ok1 = numberAt(pb, i); !ok1 {
				return fa, fb, i, j, false
			}
			if g, ej, ok2 = numberAt(cb, j); !ok2 {
				return fa, fb, i, j, false
			}
		}
		fa, fb = append(fa, f), append(fb, g)
		// Compact JSON: a comma right after both numbers, and the next numbers right after it (white
		// space there fails shortAt, and the loop's general reading skips it).
		if ei < len(pb) && ej < len(cb) && pb[ei] == ',' && cb[ej] == ',' {
			i, j = ei+1, ej+1
			continue
		}
		i, j = skipSpace(pb, ei), skipSpace(cb, ej)
		if i >= len(pb) || j >= len(cb) || pb[i] != cb[j] {
			return fa, fb, i, j, false
		}
		switch pb[i] {
		case ',':
			i, j = i+1, j+1
		case ']':
			return fa, fb, i + 1, j + 1, true
		default:
			return fa, fb, i, j, false
		}
	}
}

// skipSpace returns where the JSON white space at b[i:] ends.
func skipSpace(b []byte, i int) int {
	for i < len(b) && b[i] <= ' ' && (b[i] == ' ' || b[i] == '\n' || b[i] == '\r' || b[i] == '\t') {
		i++
	}
	return i
}

// frule applies a rule on the fast path.
func (w *walker) frule(r *compiledRule, p, c *scan, depth int) bool {
	switch r.mode {
	case modeIgnore:
		return p.skip(depth) && c.skip(depth)
	case modeExact, modeTolerance:
		saved := w.tol
		w.tol = r.tolerance()
		ok := w.fstruct(p, c, depth)
		w.tol = saved
		return ok
	case modeArgmax, modeTopK, modeCosine:
		// Ranked lists of ids are the full path's (fvector reads numbers as scores).
		return !r.Ranked && w.fvector(r, p, c, depth)
	}
	// label, text, set: identical texts agree (a label mapping may still say otherwise; lists
	// under label and text count predictions, which the full path does). Objects are compared
	// structurally by these modes, the predictions within them counted: so here too.
	if (r.mode == modeLabel && len(r.Mapping) > 0) || (r.mode != modeSet && p.peek() == '[') {
		return false
	}
	if p.peek() == '{' {
		return w.fstruct(p, c, depth)
	}
	ps, cs := p.i, c.i
	if !p.skip(depth) || !c.skip(depth) {
		return false
	}
	return bytes.Equal(bytes.TrimSpace(p.b[ps:p.i]), bytes.TrimSpace(c.b[cs:c.i]))
}

// fvector applies argmax, topk or cosine to arrays of numbers (or to each row of a batch).
func (w *walker) fvector(r *compiledRule, p, c *scan, depth int) bool {
	if p.peek() != '[' || c.peek() != '[' {
		return false
	}
	// A batch of vectors: [[...],[...]].
	ps, cs := p.i, c.i
	p.i++
	c.i++
	if p.peek() == '[' || c.peek() == '[' {
		n := 0
		for {
			saved := w.enter(n)
			ok := w.fvector(r, p, c, depth+1)
			w.leave(saved)
			n++
			if !ok {
				return false
			}
			more, ok := sep(p, c, ']')
			if !more {
				if ok {
					w.noteLen(n, n)
				}
				return ok
			}
			if p.peek() != '[' || c.peek() != '[' {
				return false
			}
		}
	}
	p.i, c.i = ps, cs
	return w.numPairs(p, c) && w.vectorAgrees(r, w.fa, w.fb)
}

// vectorAgrees applies argmax, topk or cosine to two score vectors of one length.
func (w *walker) vectorAgrees(r *compiledRule, a, b []float64) bool {
	if len(a) == 0 {
		return true
	}
	switch r.mode {
	case modeArgmax:
		return argmax(a) == argmax(b)
	case modeTopK:
		k := min(r.K, len(a))
		w.ia = topK(w.ia[:0], a, k)
		w.ib = topK(w.ib[:0], b, k)
		overlap, jaccard := topKAgreement(w.ia, w.ib, k)
		return overlap >= r.MinOverlap && jaccard >= r.MinJaccard
	default:
		return cosine(a, b) >= r.MinSimilarity
	}
}
