package compare

import (
	"bytes"
	"math"
	"strconv"
	"unicode/utf8"
	"unsafe"

	"github.com/valyala/fastjson"
)

// node is a value of the normalised view: a JSON value, or a row-major view of a kserve-v2 tensor
// (flat data read by shape). The zero node is a value absent on its side.
type node struct {
	v    *fastjson.Value
	flat []*fastjson.Value // tensor view when dims != nil
	dims []int
	off  int
}

func (n node) missing() bool { return n.v == nil && n.dims == nil }

func (n node) typ() fastjson.Type {
	if n.dims != nil {
		return fastjson.TypeArray
	}
	if n.v == nil {
		return fastjson.TypeNull
	}
	return n.v.Type()
}

func (n node) length() int {
	if n.dims != nil {
		return n.dims[0]
	}
	a, _ := n.v.Array()
	return len(a)
}

func (n node) index(i int) node {
	if n.dims != nil {
		if len(n.dims) == 1 {
			return node{v: n.flat[n.off+i]}
		}
		stride := 1
		for _, d := range n.dims[1:] {
			stride *= d
		}
		return node{flat: n.flat, dims: n.dims[1:], off: n.off + i*stride}
	}
	a, _ := n.v.Array()
	return node{v: a[i]}
}

// values returns the elements of a JSON array node (not a tensor view), or nil.
func (n node) values() []*fastjson.Value {
	if n.dims != nil || n.v == nil {
		return nil
	}
	a, _ := n.v.Array()
	return a
}

// b2s returns b as a string without copying; the string lives as long as b's memory.
func b2s(b []byte) string { return unsafe.String(unsafe.SliceData(b), len(b)) }

// equal reports whether a and b agree under t: |a-b| <= max(Rel*min(|a|,|b|), Abs). NaN equals only
// NaN; an infinity equals only the same infinity.
func (t Tolerance) equal(a, b float64) bool {
	if a == b {
		return true
	}
	an, bn := math.IsNaN(a), math.IsNaN(b)
	if an || bn {
		return an && bn
	}
	if math.IsInf(a, 0) || math.IsInf(b, 0) {
		return false
	}
	// d <= max(Rel*min(|a|, |b|), Abs), without math.Max and math.Min's NaN and signed-zero cases
	// (no NaN gets here).
	d := math.Abs(a - b)
	if d <= t.Abs {
		return true
	}
	m := math.Abs(a)
	if mb := math.Abs(b); mb < m {
		m = mb
	}
	return d <= t.Rel*m
}

// Equal reports whether numbers a and b agree under t (see Tolerance).
func (t Tolerance) Equal(a, b float64) bool { return t.equal(a, b) }

// walker holds the state of one comparison; walkers are pooled by their Comparator so that the
// parsers' memory and the scratch slices are reused.
type walker struct {
	c            *Comparator
	pp, cp       fastjson.Parser
	arena        fastjson.Arena // decoded Triton binary tensors
	stack        []seg
	bad          []uint64
	fa, fb       []float64
	ia, ib       []int
	ra, rb       []rune
	lev          []int
	used         []bool
	dimsP, dimsC []int
	tmpP, tmpC   []byte
	scratch      []byte
	kp, kc       []byte
	sib          []siblingKeys // fast path: per depth, the keys of the objects of an array
	okeys        []string      // fast path: keys read so far of the objects being compared (firstKey)
	same         bool          // fast path: the two texts are byte-identical (bareSame)

	res       Result
	tol       Tolerance
	unitDepth int // len(stack) of the arrays whose elements are predictions; -1 for none
	unit      int // the prediction being compared; -1 outside predictions
	nUnits    int
	applied   uint64 // Result.RulesApplied
	shape     bool
	shapeWhy  string
}

func (w *walker) reset(c *Comparator) {
	w.c = c
	w.res = Result{}
	w.arena.Reset()
	w.restart()
}

// restart clears what a failed fast path left (and, from reset, what the last comparison did).
func (w *walker) restart() {
	w.tol = w.c.tol
	w.unitDepth, w.unit, w.nUnits, w.applied = -1, -1, 0, 0
	w.shape, w.shapeWhy = false, ""
	w.stack = w.stack[:0]
	clear(w.bad)
	w.bad = w.bad[:0]
	w.okeys = w.okeys[:0]
}

func (w *walker) release() {
	w.c = nil
	w.res = Result{}
	clear(w.okeys[:cap(w.okeys)]) // no references into this comparison's bodies outlive it
	w.okeys = w.okeys[:0]
	clear(w.stack)
	w.stack = w.stack[:0]
}

func (w *walker) push(s seg) { w.stack = append(w.stack, s) }
func (w *walker) pop()       { w.stack = w.stack[:len(w.stack)-1] }

// enter pushes index i and, when the array holds predictions, makes i the current prediction.
func (w *walker) enter(i int) (saved int) {
	saved = w.unit
	if len(w.stack) == w.unitDepth {
		w.unit = i
	}
	w.push(seg{kind: segIndex, idx: i})
	return saved
}

func (w *walker) leave(saved int) {
	w.pop()
	w.unit = saved
}

// noteLen records the lengths of two arrays being compared: at the prediction depth they are
// batch sizes, and different batch sizes are a shape mismatch.
func (w *walker) noteLen(pl, cl int) {
	if len(w.stack) != w.unitDepth {
		return
	}
	w.nUnits = max(w.nUnits, pl, cl)
	if pl != cl {
		w.setShape("batch size differs")
	}
}

func (w *walker) setShape(why string) {
	if !w.shape {
		w.shape, w.shapeWhy = true, why
	}
}

func (w *walker) markUnit(i int) {
	word := i / 64
	for len(w.bad) <= word {
		w.bad = append(w.bad, 0)
	}
	w.bad[word] |= 1 << (uint(i) % 64)
}

func (w *walker) badUnits() int {
	n := 0
	for _, x := range w.bad {
		for ; x != 0; x &= x - 1 {
			n++
		}
	}
	return n
}

// depthBit is the bit of a path or stack of n segments in Comparator.ruleDepths and ignoreDepths.
func depthBit(n int) uint64 { return 1 << min(n, 63) }

func (w *walker) ignored() bool {
	if len(w.stack) == 0 || w.c.ignoreDepths&depthBit(len(w.stack)) == 0 {
		return false
	}
	for _, p := range w.c.ignore {
		if p.match(w.stack) {
			return true
		}
	}
	return false
}

func (w *walker) ruleAt() *compiledRule {
	if len(w.stack) == 0 || w.c.ruleDepths&depthBit(len(w.stack)) == 0 {
		return nil
	}
	for i := range w.c.rules {
		if w.c.rules[i].pat.match(w.stack) {
			if i < 64 {
				w.applied |= 1 << i
			}
			return &w.c.rules[i]
		}
	}
	return nil
}

// walk compares p and c at the current path.
func (w *walker) walk(p, c node) {
	if w.ignored() {
		return
	}
	pm, cm := p.missing(), c.missing()
	if pm || cm {
		switch {
		case pm && cm:
		case pm:
			w.mismatch(p, c, "missing in primary")
		default:
			w.mismatch(p, c, "missing in candidate")
		}
		return
	}
	if r := w.ruleAt(); r != nil {
		w.apply(r, p, c)
		return
	}
	w.structural(p, c)
}

// structural compares objects by key, arrays by index, numbers within the current tolerance.
func (w *walker) structural(p, c node) {
	pt, ct := p.typ(), c.typ()
	if pt != ct {
		if (pt == fastjson.TypeTrue || pt == fastjson.TypeFalse) && (ct == fastjson.TypeTrue || ct == fastjson.TypeFalse) {
			w.mismatch(p, c, "value")
			return
		}
		w.mismatch(p, c, "type")
		return
	}
	switch pt {
	case fastjson.TypeObject:
		po, _ := p.v.Object()
		co, _ := c.v.Object()
		found := 0
		po.Visit(func(k []byte, pv *fastjson.Value) {
			key := b2s(k)
			if po.Get(key) != pv {
				return // a duplicate key: the first one wins, on both sides
			}
			cv := co.Get(key)
			if cv != nil {
				found++
			}
			w.push(seg{kind: segKey, key: key})
			w.walk(node{v: pv}, node{v: cv})
			w.pop()
		})
		if found == co.Len() {
			return // every candidate key was seen
		}
		co.Visit(func(k []byte, cv *fastjson.Value) {
			key := b2s(k)
			if po.Get(key) != nil {
				return
			}
			w.push(seg{kind: segKey, key: key})
			w.walk(node{}, node{v: cv})
			w.pop()
		})
	case fastjson.TypeArray:
		pl, cl := p.length(), c.length()
		w.noteLen(pl, cl)
		for i := 0; i < max(pl, cl); i++ {
			var pe, ce node
			if i < pl {
				pe = p.index(i)
			}
			if i < cl {
				ce = c.index(i)
			}
			saved := w.enter(i)
			w.walk(pe, ce)
			w.leave(saved)
		}
	case fastjson.TypeNumber:
		if !w.numbersEqual(p.v, c.v, w.tol) {
			w.mismatch(p, c, "value")
		}
	case fastjson.TypeString:
		a, _ := p.v.StringBytes()
		b, _ := c.v.StringBytes()
		if !bytes.Equal(a, b) {
			w.mismatch(p, c, "value")
		}
	}
}

// equal reports, without recording anything, whether p and c are structurally equal.
func (w *walker) equal(p, c node) bool {
	pt, ct := p.typ(), c.typ()
	if pt != ct || p.missing() != c.missing() {
		return false
	}
	switch pt {
	case fastjson.TypeObject:
		// As structural: the first of a duplicate key wins, on both sides.
		po, _ := p.v.Object()
		co, _ := c.v.Object()
		eq, keys := true, 0
		po.Visit(func(k []byte, pv *fastjson.Value) {
			if key := b2s(k); eq && po.Get(key) == pv {
				keys++
				cv := co.Get(key)
				eq = cv != nil && w.equal(node{v: pv}, node{v: cv})
			}
		})
		if !eq {
			return false
		}
		if co.Len() != po.Len() || keys != po.Len() { // duplicates on a side: count the keys
			co.Visit(func(k []byte, cv *fastjson.Value) {
				if co.Get(b2s(k)) == cv {
					keys--
				}
			})
			return keys == 0
		}
		return true
	case fastjson.TypeArray:
		n := p.length()
		if n != c.length() {
			return false
		}
		for i := 0; i < n; i++ {
			if !w.equal(p.index(i), c.index(i)) {
				return false
			}
		}
		return true
	case fastjson.TypeNumber:
		return w.numbersEqual(p.v, c.v, w.tol)
	case fastjson.TypeString:
		a, _ := p.v.StringBytes()
		b, _ := c.v.StringBytes()
		return bytes.Equal(a, b)
	}
	return true
}

func (w *walker) numbersEqual(a, b *fastjson.Value, t Tolerance) bool {
	w.kp = a.MarshalTo(w.kp[:0])
	w.kc = b.MarshalTo(w.kc[:0])
	if bytes.Equal(w.kp, w.kc) { // same text: no need to read the numbers
		return true
	}
	fa, ea := a.Float64()
	fb, eb := b.Float64()
	if ea != nil || eb != nil { // number text fastjson accepts but cannot read: the text differs
		return false
	}
	return t.equal(fa, fb) && !intsDiffer(w.kp, w.kc, t)
}

// intsDiffer reports two different integer texts under exact comparison: integers past 2^53 (64-bit
// ids, Triton INT64 outputs) can round to the same float64, and exact must still tell them apart.
func intsDiffer(a, b []byte, t Tolerance) bool {
	if t != (Tolerance{}) || !isIntText(a) || !isIntText(b) || bytes.Equal(a, b) {
		return false
	}
	zero := func(s []byte) bool { return string(s) == "0" || string(s) == "-0" }
	return !zero(a) || !zero(b)
}

// isIntText reports a JSON integer: an optional minus and digits only.
func isIntText(s []byte) bool {
	if len(s) > 0 && s[0] == '-' {
		s = s[1:]
	}
	if len(s) == 0 {
		return false
	}
	for _, c := range s {
		if c < '0' || c > '9' {
			return false
		}
	}
	return true
}

// mismatch records a differing field with both values.
func (w *walker) mismatch(p, c node, reason string) {
	if !w.keep() {
		return
	}
	w.addDiff(marshalNode(p), marshalNode(c), reason)
}

// keep counts a difference and reports whether its Diff is to be kept.
func (w *walker) keep() bool {
	w.res.DiffCount++
	if w.unit >= 0 {
		w.markUnit(w.unit)
	}
	return len(w.res.Diffs) < w.c.maxDiffs
}

func (w *walker) addDiff(p, c []byte, reason string) {
	if w.res.Diffs == nil {
		w.res.Diffs = make([]Diff, 0, min(w.c.maxDiffs, 4))
	}
	w.scratch = appendPath(w.scratch[:0], w.stack, false)
	path := string(w.scratch)
	w.scratch = appendPath(w.scratch[:0], w.stack, true)
	field := string(w.scratch)
	if path == "" {
		path, field = "$", "$"
	}
	w.res.Diffs = append(w.res.Diffs, Diff{Path: path, Field: field, Primary: p, Candidate: c, Reason: reason})
}

// maxDiffValue bounds the JSON text of one Diff value.
const maxDiffValue = 2048

func marshalNode(n node) []byte {
	if n.missing() {
		return []byte("null")
	}
	b := appendNode(nil, n, 0)
	if len(b) <= maxDiffValue {
		return b
	}
	switch n.typ() {
	case fastjson.TypeString:
		// Cut at a rune boundary; escaping can make a short string long (a control character is six
		// bytes in JSON), so halve the cut until the escaped text fits.
		s, _ := n.v.StringBytes()
		for cut := min(maxDiffValue/2, len(s)); ; cut /= 2 {
			for cut > 0 && cut < len(s) && !utf8.RuneStart(s[cut]) {
				cut--
			}
			b = appendJSONString(b[:0], s[:cut], "…")
			if len(b) <= maxDiffValue || cut == 0 {
				break
			}
		}
	case fastjson.TypeArray:
		b = strconv.AppendQuote(b[:0], "<array of "+strconv.Itoa(n.length())+" elements, "+strconv.Itoa(len(b))+" bytes>")
	default:
		b = strconv.AppendQuote(b[:0], "<"+strconv.Itoa(len(b))+" bytes of JSON>")
	}
	return b
}

func appendNode(dst []byte, n node, depth int) []byte {
	if n.dims != nil {
		dst = append(dst, '[')
		for i := 0; i < n.length(); i++ {
			if i > 0 {
				dst = append(dst, ',')
			}
			dst = appendNode(dst, n.index(i), depth+1)
		}
		return append(dst, ']')
	}
	return appendValue(dst, n.v)
}

// appendValue writes v as compact JSON; NaN and infinities become strings.
func appendValue(dst []byte, v *fastjson.Value) []byte { return appendValueTok(dst, v, false) }

// appendValueTok writes v as compact JSON; NaN and infinities become strings, or with bare set the
// tokens NaN, Infinity and -Infinity (as TF Serving writes them).
func appendValueTok(dst []byte, v *fastjson.Value, bare bool) []byte {
	switch v.Type() {
	case fastjson.TypeObject:
		o, _ := v.Object()
		dst = append(dst, '{')
		first := true
		o.Visit(func(k []byte, vv *fastjson.Value) {
			if !first {
				dst = append(dst, ',')
			}
			first = false
			dst = appendJSONString(dst, k, "")
			dst = append(dst, ':')
			dst = appendValueTok(dst, vv, bare)
		})
		return append(dst, '}')
	case fastjson.TypeArray:
		a, _ := v.Array()
		dst = append(dst, '[')
		for i, vv := range a {
			if i > 0 {
				dst = append(dst, ',')
			}
			dst = appendValueTok(dst, vv, bare)
		}
		return append(dst, ']')
	case fastjson.TypeString:
		s, _ := v.StringBytes()
		return appendJSONString(dst, s, "")
	case fastjson.TypeNumber:
		f, err := v.Float64()
		switch {
		case err != nil:
			return appendJSONString(dst, v.MarshalTo(nil), "")
		case math.IsNaN(f):
			return appendTok(dst, "NaN", bare)
		case math.IsInf(f, 1):
			return appendTok(dst, "Infinity", bare)
		case math.IsInf(f, -1):
			return appendTok(dst, "-Infinity", bare)
		}
		n := len(dst)
		dst = v.MarshalTo(dst)
		if !validNumber(dst[n:]) { // text fastjson accepts but JSON does not, like 00 or +1
			dst = strconv.AppendFloat(dst[:n], f, 'g', -1, 64)
		}
		return dst
	default:
		return v.MarshalTo(dst)
	}
}

func appendTok(dst []byte, tok string, bare bool) []byte {
	if bare {
		return append(dst, tok...)
	}
	dst = append(dst, '"')
	dst = append(dst, tok...)
	return append(dst, '"')
}

const hexDigits = "0123456789abcdef"

// appendJSONString writes s (then suffix) as a JSON string; invalid UTF-8 becomes U+FFFD.
//
// sink's appendString is its twin for records (it also escapes U+2028 and U+2029). One helper
// would need a package both import, and compare and sink import no sibling (nor a sibling's
// sub-package), and the top level has no shared internal package; encoding/json would allocate on
// paths kept free of allocations. The proxy's rare error answers use encoding/json.
func appendJSONString(dst, s []byte, suffix string) []byte {
	dst = append(dst, '"')
	for len(s) > 0 {
		r, size := utf8.DecodeRune(s)
		switch {
		case r == utf8.RuneError && size == 1:
			dst = append(dst, `\ufffd`...)
		case r == '"' || r == '\\':
			dst = append(dst, '\\', byte(r))
		case r == '\n':
			dst = append(dst, `\n`...)
		case r == '\r':
			dst = append(dst, `\r`...)
		case r == '\t':
			dst = append(dst, `\t`...)
		case r < 0x20:
			dst = append(dst, '\\', 'u', '0', '0', hexDigits[r>>4], hexDigits[r&0xf])
		default:
			dst = append(dst, s[:size]...)
		}
		s = s[size:]
	}
	dst = append(dst, suffix...)
	return append(dst, '"')
}

// validNumber reports whether b is a number as JSON's grammar writes it.
func validNumber(b []byte) bool {
	i := 0
	if i < len(b) && b[i] == '-' {
		i++
	}
	switch {
	case i < len(b) && b[i] == '0':
		i++
	case i < len(b) && b[i] >= '1' && b[i] <= '9':
		for i < len(b) && b[i] >= '0' && b[i] <= '9' {
			i++
		}
	default:
		return false
	}
	if i < len(b) && b[i] == '.' {
		i++
		if i >= len(b) || b[i] < '0' || b[i] > '9' {
			return false
		}
		for i < len(b) && b[i] >= '0' && b[i] <= '9' {
			i++
		}
	}
	if i < len(b) && (b[i] == 'e' || b[i] == 'E') {
		i++
		if i < len(b) && (b[i] == '+' || b[i] == '-') {
			i++
		}
		if i >= len(b) || b[i] < '0' || b[i] > '9' {
			return false
		}
		for i < len(b) && b[i] >= '0' && b[i] <= '9' {
			i++
		}
	}
	return i == len(b)
}
