package compare

import (
	"bytes"
	"fmt"
	"math"
	"slices"
	"strconv"
	"unicode"
	"unicode/utf8"

	"github.com/valyala/fastjson"
)

// apply compares p and c (both present) under rule r.
func (w *walker) apply(r *compiledRule, p, c node) {
	switch r.mode {
	case modeIgnore:
	case modeExact, modeTolerance:
		saved := w.tol
		w.tol = r.tolerance()
		w.structural(p, c)
		w.tol = saved
	case modeArgmax, modeTopK, modeCosine:
		w.vector(r, p, c)
	case modeLabel:
		w.label(r, p, c)
	case modeText:
		w.text(r, p, c)
	case modeSet:
		w.set(r, p, c)
	}
}

// tolerance is the tolerance an exact or tolerance rule compares numbers within.
func (r *compiledRule) tolerance() Tolerance {
	if r.mode == modeTolerance {
		return Tolerance{Abs: r.Abs, Rel: r.Rel}
	}
	return Tolerance{}
}

// rows applies r to each element pair of two arrays (a batch under a vector or label rule).
func (w *walker) rows(r *compiledRule, p, c node, each func(r *compiledRule, p, c node)) {
	pl, cl := p.length(), c.length()
	w.noteLen(pl, cl)
	for i := 0; i < max(pl, cl); i++ {
		saved := w.enter(i)
		switch {
		case i >= cl:
			w.mismatch(p.index(i), node{}, "missing in candidate")
		case i >= pl:
			w.mismatch(node{}, c.index(i), "missing in primary")
		default:
			each(r, p.index(i), c.index(i))
		}
		w.leave(saved)
	}
}

func isArray(n node) bool { return n.typ() == fastjson.TypeArray }

// floats appends the numbers of array n to dst; ok is false when n holds a non-number.
func floats(dst []float64, n node) ([]float64, bool) {
	if n.dims == nil {
		for _, e := range n.values() {
			if e.Type() != fastjson.TypeNumber {
				return dst, false
			}
			f, err := e.Float64()
			if err != nil {
				f = math.NaN()
			}
			dst = append(dst, f)
		}
		return dst, true
	}
	l := n.length()
	for i := 0; i < l; i++ {
		e := n.index(i)
		if e.typ() != fastjson.TypeNumber {
			return dst, false
		}
		f, err := e.v.Float64()
		if err != nil {
			f = math.NaN()
		}
		dst = append(dst, f)
	}
	return dst, true
}

// vector applies argmax, topk or cosine to two arrays of numbers (or ranked strings for topk).
func (w *walker) vector(r *compiledRule, p, c node) {
	if !isArray(p) || !isArray(c) {
		w.structural(p, c)
		return
	}
	if (p.length() > 0 && isArray(p.index(0))) || (c.length() > 0 && isArray(c.index(0))) {
		w.rows(r, p, c, w.vector)
		return
	}
	if r.mode == modeTopK && (r.Ranked || (p.length() > 0 && p.index(0).typ() == fastjson.TypeString)) {
		w.topkRanked(r, p, c)
		return
	}
	var okP, okC bool
	w.fa, okP = floats(w.fa[:0], p)
	w.fb, okC = floats(w.fb[:0], c)
	if !okP || !okC {
		w.structural(p, c)
		return
	}
	if len(w.fa) != len(w.fb) {
		w.setShape("vector length differs")
		if w.keep() {
			w.addDiff(marshalNode(p), marshalNode(c), "length "+strconv.Itoa(len(w.fa))+" != "+strconv.Itoa(len(w.fb)))
		}
		return
	}
	if len(w.fa) == 0 {
		return
	}
	switch r.mode {
	case modeArgmax:
		a, b := argmax(w.fa), argmax(w.fb)
		if a != b && w.keep() {
			w.addDiff(strconv.AppendInt(nil, int64(a), 10), strconv.AppendInt(nil, int64(b), 10), "argmax")
		}
	case modeTopK:
		k := min(r.K, len(w.fa))
		w.ia = topK(w.ia[:0], w.fa, k)
		w.ib = topK(w.ib[:0], w.fb, k)
		w.judgeTopK(r, k, nil, nil)
	case modeCosine:
		sim := cosine(w.fa, w.fb)
		if !(sim >= r.MinSimilarity) && w.keep() {
			w.addDiff(marshalNode(p), marshalNode(c), fmt.Sprintf("cosine %.4f < %g", sim, r.MinSimilarity))
		}
	}
}

// less orders scores with NaN below everything.
func less(a, b float64) bool {
	if math.IsNaN(a) {
		return !math.IsNaN(b)
	}
	return a < b
}

// argmax returns the index of the largest value (the first on ties; NaN ranks lowest).
func argmax(v []float64) int {
	if len(v) == 0 {
		return 0
	}
	best, m := 0, v[0]
	for i, x := range v[1:] {
		if x > m || (m != m && x == x) { // less(m, x), with the maximum kept in a register
			best, m = i+1, x
		}
	}
	return best
}

// topK appends the indices of the k largest values, largest first (lower index first on ties).
func topK(dst []int, v []float64, k int) []int {
	for len(dst) < k {
		best := -1
		for i := range v {
			taken := false
			for _, j := range dst {
				if j == i {
					taken = true
					break
				}
			}
			if !taken && (best < 0 || less(v[best], v[i])) {
				best = i
			}
		}
		dst = append(dst, best)
	}
	return dst
}

func cosine(a, b []float64) float64 {
	var dot, na, nb float64
	for i := range a {
		dot += a[i] * b[i]
		na += a[i] * a[i]
		nb += b[i] * b[i]
	}
	switch {
	case na == 0 && nb == 0:
		return 1
	case na == 0 || nb == 0:
		return 0
	}
	return dot / (math.Sqrt(na) * math.Sqrt(nb))
}

// topkRanked compares the first k items of two ranked lists (strings or numbers as ids).
func (w *walker) topkRanked(r *compiledRule, p, c node) {
	k := min(r.K, max(p.length(), c.length()))
	kp, kc := min(k, p.length()), min(k, c.length())
	// Items become ints: p's item i is i; c's item is the index of the equal p item, or -1-j.
	w.ia, w.ib = w.ia[:0], w.ib[:0]
	for i := 0; i < kp; i++ {
		w.ia = append(w.ia, i)
	}
	for j := 0; j < kc; j++ {
		id := -1 - j
		for i := 0; i < kp; i++ {
			if w.equal(p.index(i), c.index(j)) {
				id = i
				break
			}
		}
		w.ib = append(w.ib, id)
	}
	w.judgeTopK(r, k, &p, &c)
}

// judgeTopK compares the top-k lists w.ia and w.ib; p and c, when given, are the ranked lists
// reported in the diff (otherwise the top-k indices are).
func (w *walker) judgeTopK(r *compiledRule, k int, p, c *node) {
	overlap, jaccard := topKAgreement(w.ia, w.ib, k)
	if overlap >= r.MinOverlap && jaccard >= r.MinJaccard {
		return
	}
	if !w.keep() {
		return
	}
	reason := fmt.Sprintf("topk k=%d overlap=%.2f jaccard=%.2f spearman=%s", k, overlap, jaccard, spearman(w.ia, w.ib))
	if p != nil {
		w.addDiff(marshalNode(*p), marshalNode(*c), reason)
		return
	}
	w.addDiff(appendInts(nil, w.ia), appendInts(nil, w.ib), reason)
}

func appendInts(dst []byte, v []int) []byte {
	dst = append(dst, '[')
	for i, x := range v {
		if i > 0 {
			dst = append(dst, ',')
		}
		dst = strconv.AppendInt(dst, int64(x), 10)
	}
	return append(dst, ']')
}

// spearman is Spearman's rank correlation of the items common to both lists (ranked within the
// common items), "n/a" for fewer than two.
func spearman(a, b []int) string {
	var ra, rb []int // ranks of the common items, in a's order
	for _, x := range a {
		pos := -1
		for j, y := range b {
			if x == y {
				pos = j
				break
			}
		}
		if pos >= 0 {
			ra = append(ra, len(ra))
			rb = append(rb, pos)
		}
	}
	m := len(ra)
	if m < 2 {
		return "n/a"
	}
	// Re-rank b's positions to 0..m-1.
	var d2 float64
	for i := range rb {
		rank := 0
		for j := range rb {
			if rb[j] < rb[i] {
				rank++
			}
		}
		d := float64(ra[i] - rank)
		d2 += d * d
	}
	rho := 1 - 6*d2/float64(m*(m*m-1))
	return strconv.FormatFloat(rho, 'f', 2, 64)
}

// labelText returns a scalar's label text: a string's content, a number's or literal's text.
func labelText(dst []byte, n node) []byte {
	if n.typ() == fastjson.TypeString {
		s, _ := n.v.StringBytes()
		return append(dst[:0], s...)
	}
	return n.v.MarshalTo(dst[:0])
}

// label compares class labels (ids or names), mapping the candidate's through r.Mapping into the
// primary's vocabulary.
func (w *walker) label(r *compiledRule, p, c node) {
	if isArray(p) && isArray(c) {
		w.rows(r, p, c, w.label)
		return
	}
	pt, ct := p.typ(), c.typ()
	if pt == fastjson.TypeObject || pt == fastjson.TypeArray || ct == fastjson.TypeObject || ct == fastjson.TypeArray {
		w.structural(p, c)
		return
	}
	w.kp = labelText(w.kp, p)
	w.kc = labelText(w.kc, c)
	var eq bool
	if m, ok := r.Mapping[string(w.kc)]; ok {
		eq = m == string(w.kp)
	} else if pt == fastjson.TypeNumber && ct == fastjson.TypeNumber {
		eq = w.numbersEqual(p.v, c.v, Tolerance{})
	} else {
		eq = bytes.Equal(w.kp, w.kc)
	}
	if !eq {
		w.mismatch(p, c, "label")
	}
}

// normText appends s lower-cased, with runs of white space collapsed to one space and trimmed.
func normText(dst []rune, s []byte) []rune {
	space := false
	for len(s) > 0 {
		r, size := utf8.DecodeRune(s)
		s = s[size:]
		if unicode.IsSpace(r) {
			space = len(dst) > 0
			continue
		}
		if space {
			dst = append(dst, ' ')
			space = false
		}
		dst = append(dst, unicode.ToLower(r))
	}
	return dst
}

// text compares strings after normalisation, within r.MaxDistance normalised edit distance.
func (w *walker) text(r *compiledRule, p, c node) {
	if isArray(p) && isArray(c) {
		w.rows(r, p, c, w.text)
		return
	}
	if p.typ() != fastjson.TypeString || c.typ() != fastjson.TypeString {
		w.structural(p, c)
		return
	}
	a, _ := p.v.StringBytes()
	b, _ := c.v.StringBytes()
	w.ra = normText(w.ra[:0], a)
	w.rb = normText(w.rb[:0], b)
	if slices.Equal(w.ra, w.rb) {
		return
	}
	if r.MaxDistance > 0 && w.within(w.ra, w.rb, int(r.MaxDistance*float64(max(len(w.ra), len(w.rb))))) {
		return
	}
	if w.keep() {
		reason := "text"
		if r.MaxDistance > 0 {
			reason = fmt.Sprintf("text distance > %g", r.MaxDistance)
		}
		w.addDiff(marshalNode(p), marshalNode(c), reason)
	}
}

// within reports whether the Levenshtein distance of a and b is at most k, computing only the
// diagonal band of width k (O(len*k) time, one row of memory).
func (w *walker) within(a, b []rune, k int) bool {
	const inf = 1 << 30
	la, lb := len(a), len(b)
	if la-lb > k || lb-la > k {
		return false
	}
	w.lev = w.lev[:0]
	for j := 0; j <= lb+1; j++ {
		v := j
		if j > k {
			v = inf
		}
		w.lev = append(w.lev, v)
	}
	row := w.lev
	for i := 1; i <= la; i++ {
		lo, hi := max(1, i-k), min(lb, i+k)
		diag := row[lo-1] // D[i-1][lo-1]
		switch {
		case lo > 1:
			row[lo-1] = inf // D[i][lo-1] lies outside the band
		case i <= k:
			row[0] = i
		default:
			row[0] = inf
		}
		best := row[lo-1]
		for j := lo; j <= hi; j++ {
			up := row[j]
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			v := min(up+1, row[j-1]+1, diag+cost)
			diag, row[j] = up, v
			best = min(best, v)
		}
		row[hi+1] = inf
		if best > k {
			return false
		}
	}
	return row[lb] <= k
}

// set compares two arrays as unordered multisets (elements equal within the current tolerance).
func (w *walker) set(r *compiledRule, p, c node) {
	if !isArray(p) || !isArray(c) {
		w.structural(p, c)
		return
	}
	pl, cl := p.length(), c.length()
	if pl != cl {
		w.mismatch(p, c, "set size "+strconv.Itoa(pl)+" != "+strconv.Itoa(cl))
		return
	}
	w.used = w.used[:0]
	for range cl {
		w.used = append(w.used, false)
	}
	for i := 0; i < pl; i++ {
		found := false
		for j := 0; j < cl; j++ {
			if !w.used[j] && w.equal(p.index(i), c.index(j)) {
				w.used[j], found = true, true
				break
			}
		}
		if !found {
			w.mismatch(p, c, "set")
			return
		}
	}
}

// topKAgreement returns the overlap |A∩B|/k and the Jaccard index |A∩B|/|A∪B| of two top-k lists of
// distinct items (1 and 1 for empty lists).
func topKAgreement(a, b []int, k int) (overlap, jaccard float64) {
	inter := 0
	for _, x := range a {
		for _, y := range b {
			if x == y {
				inter++
				break
			}
		}
	}
	overlap, jaccard = 1, 1
	if k > 0 {
		overlap = float64(inter) / float64(k)
	}
	if union := len(a) + len(b) - inter; union > 0 {
		jaccard = float64(inter) / float64(union)
	}
	return overlap, jaccard
}
