package compare

import (
	"bytes"
	"encoding/binary"
	"math/bits"

	"github.com/valyala/fastjson"
	"github.com/valyala/fastjson/fastfloat"
)

// The fast path compares two JSON texts in one lockstep scan, without building trees. It only
// ever concludes "agree": at the first difference, or anything it does not handle (escaped
// strings or keys, keys in another order, NaN and Infinity tokens, kserve-v2, error objects,
// label, text and set rules over differing values, invalid JSON), it gives up and the full
// comparison runs from the start. So the fast path changes the speed of agreeing comparisons,
// never a Result; a differential fuzz test (FuzzFastPath) holds it to that.

// fastMaxDepth keeps the fast path within fastjson's nesting limit, with a margin.
const fastMaxDepth = fastjson.MaxDepth - 2

type scan struct {
	b []byte
	i int
}

func (s *scan) ws() {
	if s.i < len(s.b) && s.b[s.i] > ' ' {
		return
	}
	for s.i < len(s.b) {
		switch s.b[s.i] {
		case ' ', '\t', '\n', '\r':
			s.i++
		default:
			return
		}
	}
}

// end reports whether only white space is left.
func (s *scan) end() bool {
	s.ws()
	return s.i == len(s.b)
}

// peek returns the next non-space byte, 0 at the end.
func (s *scan) peek() byte {
	s.ws()
	if s.i < len(s.b) {
		return s.b[s.i]
	}
	return 0
}

// str reads a string token at s.i (after the quote check) and returns its raw content; esc reports
// a backslash in it.
func (s *scan) str() (raw []byte, esc, ok bool) {
	if s.i >= len(s.b) || s.b[s.i] != '"' {
		return nil, false, false
	}
	start := s.i + 1
	// Keys and labels are short: a byte loop beats two IndexByte calls up to 16 bytes or so.
	for j := start; j < len(s.b) && j < start+16; j++ {
		switch s.b[j] {
		case '"':
			s.i = j + 1
			return s.b[start:j], false, true
		case '\\':
			return s.strEsc(start)
		}
	}
	if q := bytes.IndexByte(s.b[start:], '"'); q >= 0 && bytes.IndexByte(s.b[start:start+q], '\\') < 0 {
		s.i = start + q + 1
		return s.b[start : start+q], false, true
	}
	return s.strEsc(start)
}

// strEsc reads a string from its content at start, escapes and all.
func (s *scan) strEsc(start int) (raw []byte, esc, ok bool) {
	for j := start; j < len(s.b); j++ {
		switch s.b[j] {
		case '\\':
			esc = true
			j++
		case '"':
			s.i = j + 1
			return s.b[start:j], esc, true
		}
	}
	return nil, false, false
}

var pow10 = [...]float64{1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11, 1e12, 1e13, 1e14, 1e15, 1e16, 1e17, 1e18, 1e19, 1e20, 1e21, 1e22}

var pow10u = [...]uint64{1, 10, 100, 1000, 10000, 100000, 1000000, 10000000, 100000000}

func isDigit(c byte) bool { return c >= '0' && c <= '9' }

// digits reads the run of decimal digits at b[i:] on to mant and returns where it ends, the new
// mant, how many digits it appended, and big when mant had too many digits to take them all: mant
// only grows while it is below 1e11, so that 8 more digits always fit in 64 bits.
func digits(b []byte, i int, mant uint64) (end int, m uint64, appended int, big bool) {
	for {
		var n int
		var v uint64
		if i+8 <= len(b) {
			n, v = eightDigits(binary.LittleEndian.Uint64(b[i:]))
		} else {
			n, v = fewDigits(b, i)
		}
		i += n
		if mant < 1e11 {
			mant = mant*pow10u[n] + v
			appended += n
		} else {
			big = true
		}
		if n < 8 {
			return i, mant, appended, big
		}
	}
}

// fewDigits reads the decimal digits at b[i:], at most 8, near the end of b where eightDigits
// cannot load a word, and returns how many there are and their value.
func fewDigits(b []byte, i int) (n int, v uint64) {
	for n < 8 && i+n < len(b) && isDigit(b[i+n]) {
		v = v*10 + uint64(b[i+n]-'0')
		n++
	}
	return n, v
}

// eightDigits reads the leading decimal digits of 8 bytes in one word (SWAR): a byte is a digit
// when its high nibble is 3 and adding 6 keeps it so; the digits are shifted to the top of the
// word (the bytes after them fall off as leading zeros) and combined pairwise by three
// multiplications.
func eightDigits(x uint64) (n int, v uint64) {
	nonDigit := (x&0xF0F0F0F0F0F0F0F0 | ((x+0x0606060606060606)&0xF0F0F0F0F0F0F0F0)>>4) ^ 0x3333333333333333
	n = bits.TrailingZeros64(nonDigit) >> 3
	v = (x - 0x3030303030303030) << (64 - 8*n)
	v = v*10 + v>>8
	v = ((v&0x000000FF000000FF)*(100+1000000<<32) + (v>>16&0x000000FF000000FF)*(1+10000<<32)) >> 32
	return n, v
}

// number reads a number token as JSON's grammar writes it (no NaN, Infinity, 00, +1) and its
// value: exactly rounded by one multiplication or division when the mantissa and the power of ten
// are exact in float64 (Clinger's fast path), else by fastfloat.Parse like fastjson does.
func (s *scan) number() (tok []byte, f float64, ok bool) {
	b, i := s.b, s.i
	start := i
	neg := i < len(b) && b[i] == '-'
	if neg {
		i++
	}
	if i >= len(b) {
		return nil, 0, false
	}
	// mant holds the digits while it is below 1e11 (see digits); a longer mantissa (big) goes to
	// fastfloat.
	var mant uint64
	exp, big := 0, false
	switch {
	case b[i] == '0':
		i++
	case b[i] >= '1' && b[i] <= '9':
		i, mant, _, big = digits(b, i, 0)
	default:
		return nil, 0, false
	}
	if i < len(b) && b[i] == '.' {
		i++
		if i >= len(b) || !isDigit(b[i]) {
			return nil, 0, false
		}
		var n int
		var fracBig bool
		i, mant, n, fracBig = digits(b, i, mant)
		exp -= n
		big = big || fracBig
	}
	if i < len(b) && (b[i] == 'e' || b[i] == 'E') {
		i++
		eneg := false
		if i < len(b) && (b[i] == '+' || b[i] == '-') {
			eneg = b[i] == '-'
			i++
		}
		if i >= len(b) || !isDigit(b[i]) {
			return nil, 0, false
		}
		e := 0
		for i < len(b) && isDigit(b[i]) {
			if e < 100000 {
				e = e*10 + int(b[i]-'0')
			}
			i++
		}
		if eneg {
			e = -e
		}
		exp += e
	}
	s.i = i
	tok = b[start:i]
	if !big && mant < 1<<53 && exp >= -22 && exp <= 22 {
		f = float64(mant)
		if exp >= 0 {
			f *= pow10[exp]
		} else {
			f /= pow10[-exp]
		}
		if neg {
			f = -f
		}
		return tok, f, true
	}
	v, err := fastfloat.Parse(b2s(tok))
	if err != nil {
		return nil, 0, false
	}
	return tok, v, true
}

// lit reads true, false or null.
func (s *scan) lit() ([]byte, bool) {
	for _, l := range [...]string{"true", "false", "null"} {
		if bytes.HasPrefix(s.b[s.i:], []byte(l)) {
			s.i += len(l)
			return s.b[s.i-len(l) : s.i], true
		}
	}
	return nil, false
}

// skip skips one value; ok is false on invalid JSON (or depth beyond fastjson's limit).
func (s *scan) skip(depth int) bool {
	if depth > fastMaxDepth {
		return false
	}
	switch s.peek() {
	case '{':
		s.i++
		if s.peek() == '}' {
			s.i++
			return true
		}
		for {
			s.ws()
			if _, _, ok := s.str(); !ok || s.peek() != ':' {
				return false
			}
			s.i++
			if !s.skip(depth + 1) {
				return false
			}
			switch s.peek() {
			case ',':
				s.i++
			case '}':
				s.i++
				return true
			default:
				return false
			}
		}
	case '[':
		s.i++
		if s.peek() == ']' {
			s.i++
			return true
		}
		for {
			if !s.skip(depth + 1) {
				return false
			}
			switch s.peek() {
			case ',':
				s.i++
			case ']':
				s.i++
				return true
			default:
				return false
			}
		}
	case '"':
		_, _, ok := s.str()
		return ok
	case 't', 'f', 'n':
		_, ok := s.lit()
		return ok
	case 0:
		return false
	default:
		_, _, ok := s.number()
		return ok
	}
}

var trackedKeys = [...]string{"outputs", "choices", "object", "data", "predictions", "result", "results"}

func trackedKey(k string) int {
	for i, t := range trackedKeys {
		if k == t {
			return i
		}
	}
	return -1
}

// autoSpec is the union the fast path uses under auto: every format's prediction keys, and OpenAI's
// ignored keys (skipped only when the answer turns out to be OpenAI's).
var autoSpec = formatSpec{
	units:   []string{"predictions", "outputs", "result", "results", "choices", "data"},
	ignored: specs[FormatOpenAI].ignored,
}

// detection gathers, during the top-level scan under auto, what detect looks at.
type detection struct {
	seen       [len(trackedKeys)]bool
	units      [len(trackedKeys)]int
	choices    bool
	openaiObj  bool
	list, data bool
	predArr    bool
	predObj    bool
	outputs    bool
	result     bool
	needOpenAI bool // an OpenAI-ignored key differed or sat elsewhere
}

// note records top-level key (p positioned at its value); false sends the comparison to the full
// path (error objects, kserve-v2, duplicate keys, escaped object names).
func (d *detection) note(p *scan, key string) bool {
	c := p.peek()
	switch key {
	case "error", "model_name":
		return false
	case "outputs":
		if c == '[' {
			return false
		}
		d.outputs = true
	case "choices":
		d.choices = c == '['
	case "object":
		if c == '"' {
			save := p.i
			v, esc, _ := p.str()
			p.i = save
			if esc {
				return false
			}
			d.openaiObj = bytes.HasPrefix(v, []byte("chat.completion")) || string(v) == "text_completion"
			d.list = string(v) == "list"
		}
	case "data":
		d.data = true
	case "predictions":
		d.predObj, d.predArr = c == '{', c != '{'
	case "result", "results":
		d.result = d.result || c == '['
	}
	if k := trackedKey(key); k >= 0 {
		if d.seen[k] {
			return false
		}
		d.seen[k] = true
	}
	return true
}

func (d *detection) format() string {
	switch {
	case d.choices || d.openaiObj || (d.list && d.data):
		return FormatOpenAI
	case d.predObj:
		return FormatMLflow
	case d.predArr || d.outputs || d.result:
		return FormatTFServing
	}
	return FormatJSON
}

// unitsOf returns the number of predictions format counts from the per-key batch sizes.
func (d *detection) unitsOf(format string) int {
	n := 0
	for i, k := range trackedKeys {
		if contains(specs[format].units, k) {
			n = max(n, d.units[i])
		}
	}
	return max(n, 1)
}

// fast runs the fast path; ok means the answers agree, with `units` predictions, in format.
func (w *walker) fast(pj, cj []byte, format string) (_ string, units int, ok bool) {
	p, c := scan{b: pj}, scan{b: cj}
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
	case FormatTFServing, FormatKServeV1, FormatMLflow, FormatOpenAI:
		spec = specs[format]
	default:
		return "", 0, false
	}
	var d detection
	if !w.froot(&p, &c, spec, format, &d) || !p.end() || !c.end() {
		return "", 0, false
	}
	if format != FormatAuto {
		return format, max(w.nUnits, 1), true
	}
	format = d.format()
	if d.needOpenAI && format != FormatOpenAI {
		return "", 0, false
	}
	if format == FormatJSON {
		return format, 1, true
	}
	return format, d.unitsOf(format), true
}

// froot is root for the fast path. Under auto, OpenAI's ignored keys are compared when they sit
// at the same place on both sides, and skipped otherwise with d.needOpenAI set.
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
	for {
		pk, ck, ok := keyPair(p, c)
		if !ok {
			return false
		}
		key := b2s(pk)
		if key == "error" || string(ck) == "error" {
			return false // maybe an error object: the full path decides
		}
		if auto && !d.note(p, key) {
			return false
		}
		switch {
		case contains(spec.ignored, key) && auto && string(ck) == key:
			ps, cs := p.i, c.i
			if !w.fkey(p, c, spec, key, d) {
				p.i, c.i = ps, cs
				if !p.skip(1) || !c.skip(1) {
					return false
				}
				d.needOpenAI = true
			}
		case contains(spec.ignored, key):
			// Ignored keys may differ, or be present on one side only, at the top level.
			if !p.skip(1) || !contains(spec.ignored, b2s(ck)) || !c.skip(1) {
				return false
			}
			d.needOpenAI = true
		case string(ck) != key:
			if !contains(spec.ignored, b2s(ck)) {
				return false
			}
			// The candidate has an ignored key here: skip it and compare p's key with the next.
			if !c.skip(1) || c.peek() != ',' {
				return false
			}
			d.needOpenAI = true
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
			if ck, ok = nextKey(c); !ok || !contains(spec.ignored, b2s(ck)) {
				return false
			}
			if !c.skip(1) {
				return false
			}
			d.needOpenAI = true
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
				if pk, ok = nextKey(p); !ok || !contains(spec.ignored, b2s(pk)) {
					return false
				}
				if auto && !d.note(p, b2s(pk)) {
					return false
				}
				if !p.skip(1) {
					return false
				}
				d.needOpenAI = true
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
	if contains(spec.units, key) {
		w.unitDepth = 1
		if p.peek() == '{' {
			w.unitDepth = 2
		}
	}
	saved := w.nUnits
	w.nUnits = 0
	w.push(seg{kind: segKey, key: key})
	ok := w.fvalue(p, c, 1)
	w.pop()
	w.unitDepth = -1
	if k := trackedKey(key); k >= 0 {
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
	if pk, ok = nextKey(p); !ok {
		return nil, nil, false
	}
	ck, ok = nextKey(c)
	return pk, ck, ok
}

// fvalue compares the values at p and c at the current path.
func (w *walker) fvalue(p, c *scan, depth int) bool {
	if depth > fastMaxDepth {
		return false
	}
	if w.ignored() {
		return p.skip(depth) && c.skip(depth)
	}
	if r := w.ruleAt(); r != nil {
		return w.frule(r, p, c, depth)
	}
	return w.fstruct(p, c, depth)
}

func (w *walker) fstruct(p, c *scan, depth int) bool {
	pc, cc := p.peek(), c.peek()
	switch pc {
	case '{':
		if cc != '{' {
			return false
		}
		if empty, ok := openBoth(p, c, '}'); empty || !ok {
			return ok
		}
		for {
			pk, ck, ok := keyPair(p, c)
			if !ok || !bytes.Equal(pk, ck) {
				return false
			}
			w.push(seg{kind: segKey, key: b2s(pk)})
			ok = w.fvalue(p, c, depth+1)
			w.pop()
			if !ok {
				return false
			}
			pe, ce := p.peek(), c.peek()
			if pe != ce {
				return false
			}
			p.i++
			c.i++
			switch pe {
			case ',':
			case '}':
				return true
			default:
				return false
			}
		}
	case '[':
		if cc != '[' {
			return false
		}
		n := 0
		if empty, ok := openBoth(p, c, ']'); empty || !ok {
			if empty && ok {
				w.noteLen(0, 0)
			}
			return ok
		}
		for {
			saved := w.enter(n)
			ok := w.fvalue(p, c, depth+1)
			w.leave(saved)
			n++
			if !ok {
				return false
			}
			pe, ce := p.peek(), c.peek()
			if pe != ce {
				return false
			}
			p.i++
			c.i++
			switch pe {
			case ',':
			case ']':
				w.noteLen(n, n)
				return true
			default:
				return false
			}
		}
	case '"':
		pr, _, ok1 := p.str()
		cr, _, ok2 := c.str()
		// Equal raw texts are equal strings; different ones (escapes) are left to the full path.
		return ok1 && ok2 && bytes.Equal(pr, cr)
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
		pn, a, ok1 := p.number()
		cn, b, ok2 := c.number()
		return ok1 && ok2 && (bytes.Equal(pn, cn) || (w.tol.equal(a, b) && !intsDiffer(pn, cn, w.tol)))
	}
}

// fnums reads an array of numbers into dst; ok is false for anything else.
func fnums(s *scan, dst []float64) ([]float64, bool) {
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
		_, f, ok := s.number()
		if !ok {
			return dst, false
		}
		dst = append(dst, f)
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

// frule applies a rule on the fast path.
func (w *walker) frule(r *compiledRule, p, c *scan, depth int) bool {
	switch r.mode {
	case modeIgnore:
		return p.skip(depth) && c.skip(depth)
	case modeExact, modeTolerance:
		saved := w.tol
		w.tol = Tolerance{}
		if r.mode == modeTolerance {
			w.tol = Tolerance{Abs: r.Abs, Rel: r.Rel}
		}
		ok := w.fstruct(p, c, depth)
		w.tol = saved
		return ok
	case modeArgmax, modeTopK, modeCosine:
		// Ranked lists of ids are the full path's (fvector reads numbers as scores).
		return !r.Ranked && w.fvector(r, p, c, depth)
	}
	// label, text, set: identical texts agree (a label mapping may still say otherwise; lists
	// under label and text count predictions, which the full path does).
	if (r.mode == modeLabel && len(r.Mapping) > 0) || (r.mode != modeSet && p.peek() == '[') {
		return false
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
			pe, ce := p.peek(), c.peek()
			if pe != ce {
				return false
			}
			p.i++
			c.i++
			switch pe {
			case ',':
				if p.peek() != '[' || c.peek() != '[' {
					return false
				}
			case ']':
				w.noteLen(n, n)
				return true
			default:
				return false
			}
		}
	}
	p.i, c.i = ps, cs
	var ok1, ok2 bool
	w.fa, ok1 = fnums(p, w.fa[:0])
	w.fb, ok2 = fnums(c, w.fb[:0])
	if !ok1 || !ok2 || len(w.fa) != len(w.fb) {
		return false
	}
	if len(w.fa) == 0 {
		return true
	}
	switch r.mode {
	case modeArgmax:
		return argmax(w.fa) == argmax(w.fb)
	case modeTopK:
		k := min(r.K, len(w.fa))
		w.ia = topK(w.ia[:0], w.fa, k)
		w.ib = topK(w.ib[:0], w.fb, k)
		overlap, jaccard := topKAgreement(w.ia, w.ib, k)
		return overlap >= r.MinOverlap && jaccard >= r.MinJaccard
	default:
		return cosine(w.fa, w.fb) >= r.MinSimilarity
	}
}
