package compare

import (
	"bytes"
	"slices"
)

// The fast path for kserve-v2 (Open Inference Protocol) outputs lists. It handles the common
// answer, outputs in the same order on both sides, each naming itself before its shape and data,
// with its data in JSON, and gives up on the rest (outputs in another order, binary data, paths into
// a tensor, nested or scalar data), which the full path (v2 in formats.go) reads.

// v2List reports whether the outputs value at p is read as kserve-v2's list of output objects: always
// when kserve-v2 was asked for, and under auto when it is a list of objects (format then checks the
// answer is kserve-v2's).
func (d *detection) v2List(p *scan) bool {
	if p.peek() != '[' || (d.asked != FormatKServeV2 && d.asked != FormatAuto) {
		return false
	}
	if d.asked == FormatAuto {
		save := p.i
		p.i++
		obj := p.peek() == '{'
		p.i = save
		if !obj {
			return false
		}
		d.outV2 = true
	}
	return true
}

// intoTensor reports whether pat may address something inside a kserve-v2 output's data
// (outputs.NAME[i]...), below where the fast path looks up rules.
func intoTensor(pat pattern) bool {
	return len(pat) > 2 && (pat[0].kind == segAnyKey || (pat[0].kind == segKey && pat[0].key == "outputs"))
}

// foutputs compares two outputs lists, p and c at their '[', output by output.
func (w *walker) foutputs(p, c *scan, d *detection) bool {
	if w.c.tensorPaths || c.peek() != '[' {
		return false
	}
	if empty, ok := openBoth(p, c, ']'); empty || !ok {
		return ok
	}
	for first := true; ; first = false {
		if p.peek() != '{' || c.peek() != '{' {
			return false
		}
		looksV2, ok := w.foutput(p, c)
		if !ok {
			return false
		}
		if first {
			d.v2Output = looksV2
		}
		if more, ok := sep(p, c, ']'); !more {
			return ok
		}
	}
}

// foutput compares one output object pair (p and c at '{'): the names must be equal and come
// first, the shapes equal; the data is then compared by shape (ftensor). Nothing else in an output
// counts (datatype, parameters), as on the full path. looksV2 reports a name and a datatype or
// shape, what detect looks for.
func (w *walker) foutput(p, c *scan) (looksV2, ok bool) {
	if empty, ok := openBoth(p, c, '}'); empty || !ok {
		return false, false
	}
	var named, typed, shaped, hasData, ignored bool
	defer func() {
		if named {
			w.pop()
		}
	}()
	for {
		pk, ck, ok := keyPair(p, c)
		if !ok || !bytes.Equal(pk, ck) {
			return false, false
		}
		switch key := b2s(pk); {
		case key == "name":
			if named || p.peek() != '"' || c.peek() != '"' {
				return false, false
			}
			pn, pesc, ok1 := p.str()
			cn, cesc, ok2 := c.str()
			if !ok1 || !ok2 || pesc || cesc || !bytes.Equal(pn, cn) {
				return false, false
			}
			named = true
			w.push(seg{kind: segKey, key: b2s(pn)})
			ignored = w.ignored()
		case (key == "shape" || key == "data") && !named:
			return false, false // the full path may match this output to another by name
		case key == "shape" && !ignored:
			if shaped {
				return false, false
			}
			shaped = true
			var ok1, ok2 bool
			w.dimsP, ok1 = fdims(p, w.dimsP[:0])
			w.dimsC, ok2 = fdims(c, w.dimsC[:0])
			if !ok1 || !ok2 || !slices.Equal(w.dimsP, w.dimsC) {
				return false, false
			}
		case key == "data" && !ignored:
			if hasData || !shaped || !w.ftensor(p, c) {
				return false, false
			}
			hasData = true
		default:
			typed = typed || key == "datatype"
			if !p.skip(3) || !c.skip(3) {
				return false, false
			}
		}
		if more, ok := sep(p, c, '}'); !more {
			// An output without JSON data (Triton's binary tensors) is the full path's.
			return named && (typed || shaped), ok && (hasData || ignored)
		}
	}
}

// fdims reads a shape, a list of positive integers, into dst.
func fdims(s *scan, dst []int) ([]int, bool) {
	if s.peek() != '[' {
		return dst, false
	}
	s.i++
	if s.peek() == ']' {
		s.i++
		return dst, true
	}
	for {
		s.ws()
		tok, f, ok := s.number()
		if !ok || !isIntText(tok) || f < 1 || f > 1<<31 {
			return dst, false
		}
		dst = append(dst, int(f))
		switch s.peek() {
		case ',':
			s.i++
		case ']':
			s.i++
			return dst, true
		default:
			return dst, false
		}
	}
}

// ftensor compares the flat data of one output (p and c at '['; the shape in w.dimsP, equal on
// both sides) as the full path reads it: the first dimension counts predictions; a vector rule
// applies to each row of the last dimension.
func (w *walker) ftensor(p, c *scan) bool {
	dims := w.dimsP
	if len(dims) == 0 || p.peek() != '[' || c.peek() != '[' {
		return false // scalars and data that is not a list
	}
	n := 1
	for _, d := range dims {
		if n *= d; n > 1<<24 {
			return false
		}
	}
	r := w.ruleAt()
	switch {
	case r == nil:
		if !w.fflat(p, c, n) {
			return false
		}
	case r.mode == modeExact || r.mode == modeTolerance:
		saved := w.tol
		w.tol = r.tolerance()
		ok := w.fflat(p, c, n)
		w.tol = saved
		if !ok {
			return false
		}
	case r.mode == modeIgnore:
		return p.skip(3) && c.skip(3) // nothing compared, no predictions counted
	case (r.mode == modeArgmax || r.mode == modeTopK || r.mode == modeCosine) && !r.Ranked:
		if !w.numPairs(p, c) || len(w.fa) != n {
			return false
		}
		row := dims[len(dims)-1]
		for i := 0; i < n; i += row {
			if !w.vectorAgrees(r, w.fa[i:i+row], w.fb[i:i+row]) {
				return false
			}
		}
		if len(dims) == 1 {
			return true // one vector: one prediction, counted by finish
		}
	default:
		return false // label, text and set rules
	}
	w.nUnits = max(w.nUnits, dims[0])
	return true
}

// fflat compares two flat lists of n scalars (p and c at '[') value by value.
func (w *walker) fflat(p, c *scan, n int) bool {
	p.i++
	c.i++
	for count := 1; ; count++ {
		if pc := p.peek(); pc == '[' || pc == '{' || pc == ']' || !w.fstruct(p, c, 3) {
			return false // nested or empty data reads otherwise
		}
		if more, ok := sep(p, c, ']'); !more {
			return ok && count == n
		}
	}
}
