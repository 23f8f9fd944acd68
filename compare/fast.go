package compare

import (
	"bytes"
	"slices"

	"github.com/valyala/fastjson"
)

// The fast path compares two JSON texts in one lockstep scan, without building trees. It only
// ever concludes "agree": at the first difference, or anything it does not handle (escaped
// strings or keys, keys in another order, NaN and Infinity tokens, kserve-v2 outputs in another
// order or without JSON data, error objects, label, text and set rules over differing values,
// invalid JSON), it gives up and the full
// comparison runs from the start. So the fast path changes the speed of agreeing comparisons,
// never a Result; a differential fuzz test (FuzzFastPath) holds it to that.

// fastMaxDepth keeps the fast path within fastjson's nesting limit, with a margin.
const fastMaxDepth = fastjson.MaxDepth - 2

// detection gathers, during the top-level scan under auto, the answer's shape and what the fast
// path did that only some formats allow.
type detection struct {
	shape
	units   [maxUnitKeys]int       // per unitKeys key, its batch size
	outV2   bool                   // the outputs list was compared as kserve-v2's (foutputs)
	skipped uint16                 // autoSpec.ignored keys skipped because they differed or sat elsewhere
	applied [maxIgnoredKeys]uint64 // per autoSpec.ignored key compared: the rules it applied (compared)

	asked string // the format the comparator asked for (auto, or the one to read)
}

// skip records that ignored key was skipped, not compared: the answer's format must ignore it.
func (d *detection) skip(key string) {
	for i, k := range autoSpec.ignored {
		if k == key {
			d.skipped |= 1 << i
		}
	}
}

// compared records the rules applied while comparing ignored key, which count only if the answer's
// format compares the key (appliedIn).
func (d *detection) compared(key string, applied uint64) {
	for i, k := range autoSpec.ignored {
		if k == key {
			d.applied[i] |= applied
		}
	}
}

// appliedIn returns the rules applied in the ignored keys compared that format compares.
func (d *detection) appliedIn(format string) uint64 {
	var out uint64
	ignored := specs[format].ignored
	for i, k := range autoSpec.ignored {
		if d.applied[i] != 0 && !slices.Contains(ignored, k) {
			out |= d.applied[i]
		}
	}
	return out
}

// skippedOK reports whether format ignores every key skipped.
func (d *detection) skippedOK(format string) bool {
	if d.skipped == 0 {
		return true
	}
	ignored := specs[format].ignored
	for i, k := range autoSpec.ignored {
		if d.skipped&(1<<i) != 0 && !slices.Contains(ignored, k) {
			return false
		}
	}
	return true
}

// note records top-level key (p positioned at its value) in the answer's shape; false sends the
// comparison to the full path (an error object, an escaped "object" string).
func (d *detection) note(p *scan, key string) bool {
	c := p.peek()
	switch key {
	case "error":
		return false
	case "model_name":
		d.modelName = true
	case "outputs":
		d.outputsList, d.outputsOther = c == '[', c != '['
	case "choices":
		d.choicesList = c == '['
	case "object":
		if c == '"' {
			save := p.i
			v, esc, _ := p.str()
			p.i = save
			if esc {
				return false
			}
			d.noteObject(v)
		}
	case "data":
		d.data = true
	case "predictions":
		d.predictions, d.predObject = true, c == '{'
	case "result", "results":
		d.resultList = d.resultList || c == '['
	}
	return true
}

// unitsOf returns the number of predictions format counts from the per-key batch sizes.
func (d *detection) unitsOf(format string) int {
	if format == FormatKServeV2 {
		return max(d.units[unitKey("outputs")], 1)
	}
	keys := specs[format].unitKeys
	n := 0
	for i := range unitKeys {
		if keys&(1<<i) != 0 {
			n = max(n, d.units[i])
		}
	}
	return max(n, 1)
}

// fast runs the fast path; ok means the answers agree, with `units` predictions, in format.
func (w *walker) fast(pj, cj []byte, format string) (_ string, units int, ok bool) {
	p, c := scan{b: pj}, scan{b: cj}
	w.same = bytes.Equal(pj, cj)
	if format == FormatAuto && p.peek() != '{' {
		format = FormatJSON // detect reads a non-object as json (the candidate must match it)
	}
	var spec formatSpec
	switch format {
	case FormatJSON:
		w.unit = 0
		if !w.fvalue(&p, &c, 0) || !p.end() || !c.end() {
			return "", 0, false
		}
		return format, 1, true
	case FormatAuto:
		spec = autoSpec
	case FormatTFServing, FormatKServeV1, FormatMLflow, FormatOpenAI, FormatKServeV2:
		spec = specs[format]
	default:
		return "", 0, false
	}
	d := detection{asked: format, shape: shape{object: true}} // froot reads objects only under auto
	if !w.froot(&p, &c, spec, format, &d) || !p.end() || !c.end() {
		return "", 0, false
	}
	if format != FormatAuto {
		return format, max(w.nUnits, 1), true
	}
	format = d.format()
	if !d.skippedOK(format) || (d.outputsList && d.outV2 != (format == FormatKServeV2)) {
		return "", 0, false // compared under another format's reading
	}
	w.applied |= d.appliedIn(format)
	if format == FormatJSON {
		return format, 1, true
	}
	return format, d.unitsOf(format), true
}

// froot is root for the fast path. Under auto, the ignored keys of autoSpec are compared when they
// sit at the same place on both sides, and skipped otherwise (noted in d.skipped).
func (w *walker) froot(p, c *scan, spec formatSpec, format string, d *detection) bool {
	auto := format == FormatAuto
	if p.peek() != '{' || c.peek() != '{' {
		if auto || (p.peek() == '[') != (c.peek() == '[') {
			return false
		}
		if format == FormatMLflow || format == FormatKServeV1 || format == FormatTFServing {
			w.unitDepth = 0
		}
		return w.fvalue(p, c, 0)
	}
	if empty, ok := openBoth(p, c, '}'); empty || !ok {
		return ok
	}
	base := len(w.okeys) // the top-level keys, kept until restart
	for {
		pk, ck, ok := keyPair(p, c)
		if !ok {
			return false
		}
		key := b2s(pk)
		if key == "error" || string(ck) == "error" {
			return false // maybe an error object: the full path decides
		}
		if !w.firstKey(base, nil, 0, key) {
			return false
		}
		if auto && !d.note(p, key) {
			return false
		}
		switch {
		case slices.Contains(spec.ignored, key) && auto && string(ck) == key:
			// Compared, but the rules it applied count only if the answer's format compares it.
			ps, cs, applied := p.i, c.i, w.applied
			w.applied = 0
			ok := w.fkey(p, c, spec, key, d)
			d.compared(key, w.applied)
			w.applied = applied
			if !ok {
				p.i, c.i = ps, cs
				if !p.skip(1) || !c.skip(1) {
					return false
				}
				d.skip(key)
			}
		case slices.Contains(spec.ignored, key):
			// Ignored keys may differ, or be present on one side only, at the top level.
			if !p.skip(1) || !slices.Contains(spec.ignored, b2s(ck)) || !c.skip(1) {
				return false
			}
			d.skip(key)
			d.skip(b2s(ck))
		case string(ck) != key:
			if !slices.Contains(spec.ignored, b2s(ck)) {
				return false
			}
			// The candidate has an ignored key here: skip it and compare p's key with the next.
			if !c.skip(1) || c.peek() != ',' {
				return false
			}
			d.skip(b2s(ck))
			c.i++
			if ck, ok = nextKey(c); !ok || string(ck) != key {
				return false
			}
			if !w.fkey(p, c, spec, key, d) {
				return false
			}
		default:
			if !w.fkey(p, c, spec, key, d) {
				return false
			}
		}
		pe, ce := p.peek(), c.peek()
		// Trailing ignored keys on the candidate side.
		for pe == '}' && ce == ',' {
			c.i++
			if ck, ok = nextKey(c); !ok || !slices.Contains(spec.ignored, b2s(ck)) {
				return false
			}
			if !c.skip(1) {
				return false
			}
			d.skip(b2s(ck))
			ce = c.peek()
		}
		switch {
		case pe == ',' && ce == ',':
			p.i++
			c.i++
		case pe == '}' && ce == '}':
			p.i++
			c.i++
			return true
		case pe == ',' && ce == '}':
			// The primary may have trailing ignored keys.
			p.i++
			for {
				if pk, ok = nextKey(p); !ok || !slices.Contains(spec.ignored, b2s(pk)) || !w.firstKey(base, nil, 0, b2s(pk)) {
					return false
				}
				if auto && !d.note(p, b2s(pk)) {
					return false
				}
				if !p.skip(1) {
					return false
				}
				d.skip(b2s(pk))
				switch p.peek() {
				case ',':
					p.i++
				case '}':
					p.i++
					c.i++
					return true
				default:
					return false
				}
			}
		default:
			return false
		}
	}
}

// fkey compares the values of top-level key (read on both sides).
func (w *walker) fkey(p, c *scan, spec formatSpec, key string, d *detection) bool {
	w.unitDepth = -1
	if slices.Contains(spec.units, key) {
		w.unitDepth = 1
		if p.peek() == '{' {
			w.unitDepth = 2
		}
	}
	saved := w.nUnits
	w.nUnits = 0
	w.push(seg{kind: segKey, key: key})
	var ok bool
	if key == "outputs" && d.v2List(p) {
		ok = w.foutputs(p, c, d)
	} else {
		ok = w.fvalue(p, c, 1)
	}
	w.pop()
	w.unitDepth = -1
	if k := unitKey(key); k >= 0 {
		d.units[k] = w.nUnits
	}
	w.nUnits = max(saved, w.nUnits)
	return ok
}

// openBoth steps past the opening bracket both scanners stand on. When either container is empty it
// consumes both closing brackets: empty reports that, and ok whether both were empty.
func openBoth(p, c *scan, closing byte) (empty, ok bool) {
	p.i++
	c.i++
	if p.peek() != closing && c.peek() != closing {
		return false, true
	}
	if p.peek() != c.peek() {
		return true, false
	}
	p.i++
	c.i++
	return true, true
}

// sep steps both scanners past the separator after a value, which must be the same on both sides:
// more reports a ',' (another member or element follows), ok a ',' or closing.
func sep(p, c *scan, closing byte) (more, ok bool) {
	pe, ce := p.peek(), c.peek()
	if pe != ce || (pe != ',' && pe != closing) {
		return false, false
	}
	p.i++
	c.i++
	return pe == ',', true
}

// nextKey reads an object key, up to and past its colon. Keys with escapes are left to the full path
// (ok false).
func nextKey(s *scan) ([]byte, bool) {
	s.ws()
	k, esc, ok := s.str()
	if !ok || esc || s.peek() != ':' {
		return nil, false
	}
	s.i++
	return k, true
}

// keyPair reads the next object key on both sides.
func keyPair(p, c *scan) (pk, ck []byte, ok bool) {
	p.ws()
	start := p.i
	if pk, ok = nextKey(p); !ok {
		return nil, nil, false
	}
	// The candidate usually writes the same key: compare its bytes (key and colon) in place rather
	// than scan them. pk has no escapes, so the same bytes end the candidate's key at the same quote.
	c.ws()
	if c.same(p.b[start:p.i]) {
		return pk, pk, true
	}
	ck, ok = nextKey(c)
	return pk, ck, ok
}

// fvalue compares the values at p and c at the current path.
func (w *walker) fvalue(p, c *scan, depth int) bool {
	if depth > fastMaxDepth {
		return false
	}
	ignored := w.ignored()
	var r *compiledRule
	if !ignored {
		r = w.ruleAt()
	}
	return w.fdecided(p, c, depth, ignored, r)
}

// fdecided is fvalue once the path's ignore and rule are known.
func (w *walker) fdecided(p, c *scan, depth int, ignored bool, r *compiledRule) bool {
	switch {
	case ignored:
		return p.skip(depth) && c.skip(depth)
	case r != nil:
		return w.frule(r, p, c, depth)
	}
	return w.fstruct(p, c, depth)
}

func (w *walker) fstruct(p, c *scan, depth int) bool {
	pc, cc := p.peek(), c.peek()
	if (pc == '{' || pc == '[') && w.bareSame(p, c) {
		// Byte-identical answers: a container whose values no rule, ignored path or prediction
		// count can reach is equal to itself once it is valid, so only one side is read.
		if !p.skip(depth) {
			return false
		}
		c.i = p.i
		return true
	}
	switch pc {
	case '{':
		if cc != '{' {
			return false
		}
		if empty, ok := openBoth(p, c, '}'); empty || !ok {
			return ok
		}
		sib := w.siblings(depth)
		base := len(w.okeys) // this object's keys are w.okeys[base:]; a failure leaves them to restart
		for k := 0; ; k++ {
			e := sib.knownKey(p, c, k) // a key an earlier element of the array had, decisions known
			if e == nil {
				p.ws()
				start := p.i
				pk, ck, ok := keyPair(p, c)
				if !ok || !bytes.Equal(pk, ck) || !w.firstKey(base, sib.known(), k, b2s(pk)) {
					return false
				}
				e = &siblingKey{tok: p.b[start:p.i], key: b2s(pk)}
				w.push(seg{kind: segKey, key: e.key})
				if e.ignored = w.ignored(); !e.ignored {
					e.rule = w.ruleAt()
				}
				sib.remember(k, *e)
			} else {
				w.push(seg{kind: segKey, key: e.key})
			}
			ok := depth+1 <= fastMaxDepth && w.fdecided(p, c, depth+1, e.ignored, e.rule)
			w.pop()
			if !ok {
				return false
			}
			if more, ok := sep(p, c, '}'); !more {
				w.okeys = w.okeys[:base]
				return ok
			}
		}
	case '[':
		if cc != '[' {
			return false
		}
		w.armSiblings(depth+1, true)
		ok := w.farray(p, c, depth)
		w.armSiblings(depth+1, false)
		return ok
	case '"':
		return stringPair(p, c)
	case 't', 'f', 'n':
		pl, ok1 := p.lit()
		cl, ok2 := c.lit()
		return ok1 && ok2 && bytes.Equal(pl, cl)
	case 0:
		return false
	default:
		if cc == '"' || cc == '{' || cc == '[' || cc == 't' || cc == 'f' || cc == 'n' || cc == 0 {
			return false
		}
		return w.numberPair(p, c)
	}
}

// bareSame reports whether the container at p and c (the same bytes of byte-identical texts) can be
// read on one side only: no rule or ignored path is longer than the current path (none can name a
// value inside it), and no array in it counts predictions (the prediction arrays are above it).
func (w *walker) bareSame(p, c *scan) bool {
	n := len(w.stack)
	return w.same && p.i == c.i && n+1 < 63 && (w.c.ruleDepths|w.c.ignoreDepths)>>(n+1) == 0 && w.unitDepth < n
}

// farray compares two arrays, p and c at their '['.
func (w *walker) farray(p, c *scan, depth int) bool {
	n := 0
	if empty, ok := openBoth(p, c, ']'); empty || !ok {
		if empty && ok {
			w.noteLen(0, 0)
		}
		return ok
	}
	// Elements no rule or ignored path can name (no path has their length) that are numbers or
	// strings (class names, tokens) compare without the path bookkeeping, as fstruct would.
	bare := depth+1 <= fastMaxDepth && (w.c.ruleDepths|w.c.ignoreDepths)&depthBit(len(w.stack)+1) == 0
	for {
		var ok bool
		pc := p.peek()
		switch {
		case bare && (pc == '-' || isDigit(pc)):
			ok = w.numberPair(p, c)
		case bare && pc == '"':
			ok = stringPair(p, c)
		default:
			saved := w.enter(n)
			ok = w.fvalue(p, c, depth+1)
			w.leave(saved)
		}
		// Compact JSON: step over a comma right after both elements.
		if ok && p.i < len(p.b) && c.i < len(c.b) && p.b[p.i] == ',' && c.b[c.i] == ',' {
			p.i++
			c.i++
			n++
			continue
		}
		n++
		if !ok {
			return false
		}
		if more, ok := sep(p, c, ']'); !more {
			if ok {
				w.noteLen(n, n)
			}
			return ok
		}
	}
}

// stringPair compares the strings at p and c (p past white space): equal raw texts are equal
// strings; different ones (escapes) are left to the full path.
func stringPair(p, c *scan) bool {
	start := p.i
	_, _, ok := p.str()
	c.ws()
	return ok && c.same(p.b[start:p.i])
}

// numberPair compares the numbers at p and c (both past white space) within the current tolerance.
func (w *walker) numberPair(p, c *scan) bool {
	pb, cb, i, j := p.b, c.b, p.i, c.i
	a, pe, ok := shortAt(pb, i)
	if !ok {
		if a, pe, ok = numberAt(pb, i); !ok {
			return false
		}
	}
	pn := pb[i:pe]
	// The same text is the same number (when the candidate's token ends there too).
	if ce := j + len(pn); ce <= len(cb) && string(cb[j:ce]) == string(pn) && (ce == len(cb) || !isNumberByte(cb[ce])) {
		p.i, c.i = pe, ce
		return true
	}
	b, ce, ok := shortAt(cb, j)
	if !ok {
		if b, ce, ok = numberAt(cb, j); !ok {
			return false
		}
	}
	cn := cb[j:ce]
	p.i, c.i = pe, ce
	return bytes.Equal(pn, cn) || (w.tol.equal(a, b) && !intsDiffer(pn, cn, w.tol))
}
