package compare

import (
	"bytes"
	"encoding/binary"
	"math/bits"

	"github.com/valyala/fastjson/fastfloat"
)

// scan reads JSON tokens for the fast path (fast.go): white space, strings, numbers with their
// values, literals, and whole values skipped, all in place over the body, allocating nothing.
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
	// Keys and labels are short: 8 bytes at a time beats two IndexByte calls up to 16 bytes or so.
	for j := start; j+8 <= len(s.b) && j < start+16; j += 8 {
		if k := quoteOrEscape(binary.LittleEndian.Uint64(s.b[j:])); k < 8 {
			if s.b[j+k] == '\\' {
				return s.strEsc(start)
			}
			s.i = j + k + 1
			return s.b[start : j+k], false, true
		}
	}
	if q := bytes.IndexByte(s.b[start:], '"'); q >= 0 && bytes.IndexByte(s.b[start:start+q], '\\') < 0 {
		s.i = start + q + 1
		return s.b[start : start+q], false, true
	}
	return s.strEsc(start)
}

// quoteOrEscape returns the index of the first '"' or '\\' among the 8 bytes of x (little endian),
// or 8: a byte equal to c makes x^c's byte zero, and v-0x01..&^v&0x80.. marks the first zero byte
// exactly (bytes above it may be marked wrongly, which the lowest mark ignores).
func quoteOrEscape(x uint64) int {
	const ones, highs = 0x0101010101010101, 0x8080808080808080
	q, e := x^('"'*ones), x^('\\'*ones)
	m := ((q - ones) &^ q & highs) | ((e - ones) &^ e & highs)
	return bits.TrailingZeros64(m) >> 3
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

// eightDigits reads the leading decimal digits of 8 bytes in one word (SWAR). The first byte that
// is not a digit gets its high bit set in x+0x46 (it is above '9') or in x-0x30 (below '0'); the
// bytes before it are digits, so no carry or borrow crosses them, and the mask is exact up to that
// byte, which is all the lowest set bit needs. It is three operations deep, the position of the
// next token waits on it. The digits are shifted to the top of the word (the bytes after them fall
// off as leading zeros) and combined pairwise by three multiplications.
func eightDigits(x uint64) (n int, v uint64) {
	d := x - 0x3030303030303030
	nonDigit := (x + 0x4646464646464646 | d) & 0x8080808080808080
	n = bits.TrailingZeros64(nonDigit) >> 3
	v = d << (64 - 8*n)
	v = v*10 + v>>8
	v = ((v&0x000000FF000000FF)*(100+1000000<<32) + (v>>16&0x000000FF000000FF)*(1+10000<<32)) >> 32
	return n, v
}

// number reads a number token at s.i (see numberAt) and steps past it.
func (s *scan) number() (tok []byte, f float64, ok bool) {
	f, end, ok := numberAt(s.b, s.i)
	if !ok {
		return nil, 0, false
	}
	tok = s.b[s.i:end]
	s.i = end
	return tok, f, true
}

// numberAt reads the number token at b[i:] as JSON's grammar writes it (no NaN, Infinity, 00, +1)
// and returns its value and where it ends: exactly rounded by one multiplication or division when
// the mantissa and the power of ten are exact in float64 (Clinger's fast path), else by
// fastfloat.Parse like fastjson does. It works on its arguments alone, so that a loop over many
// numbers keeps its position in a register.
func numberAt(b []byte, i int) (f float64, end int, ok bool) {
	if f, end, ok = shortAt(b, i); ok {
		return f, end, ok
	}
	start := i
	neg := i < len(b) && b[i] == '-'
	if neg {
		i++
	}
	if i >= len(b) {
		return 0, start, false
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
		return 0, start, false
	}
	if i < len(b) && b[i] == '.' {
		i++
		if i >= len(b) || !isDigit(b[i]) {
			return 0, start, false
		}
		var n int
		if i+8 <= len(b) && mant < 1e11 {
			// The common fraction, up to 7 digits, in one word (digits' first round, inline).
			var v uint64
			if n, v = eightDigits(binary.LittleEndian.Uint64(b[i:])); n < 8 {
				i += n
				mant = mant*pow10u[n] + v
			}
		}
		if n == 0 || n == 8 {
			var fracBig bool
			i, mant, n, fracBig = digits(b, i, mant)
			big = big || fracBig
		}
		exp -= n
	}
	if i < len(b) && (b[i] == 'e' || b[i] == 'E') {
		i++
		eneg := false
		if i < len(b) && (b[i] == '+' || b[i] == '-') {
			eneg = b[i] == '-'
			i++
		}
		if i >= len(b) || !isDigit(b[i]) {
			return 0, start, false
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
		return f, i, true
	}
	v, err := fastfloat.Parse(b2s(b[start:i]))
	if err != nil {
		return 0, start, false
	}
	return v, i, true
}

// same steps past tok when the bytes at s.i are tok's.
func (s *scan) same(tok []byte) bool {
	if s.i+len(tok) > len(s.b) || string(s.b[s.i:s.i+len(tok)]) != string(tok) {
		return false
	}
	s.i += len(tok)
	return true
}

// isNumberByte reports a byte that may continue a number token.
func isNumberByte(c byte) bool {
	return isDigit(c) || c == '.' || c == 'e' || c == 'E' || c == '+' || c == '-'
}

// shortAt reads the commonest shape of number in predictions, a digit, a point and up to 7 digits
// (probabilities, scores in [0, 10)), with one word read; ok is false for any other shape, and
// near the end of b. A leaf with a small frame: loops over numbers call it before numberAt.
//
// Unlike eightDigits it does not shift the n fraction digits down: it keeps them in place, zeroes
// the bytes after them, and reads the word as 8 digits, which is the fraction times 10^(8-n). The
// value is then (digit*10^8 + that) / 10^8: the same rational as digit.fraction, both terms exact
// in float64, so the one division rounds to the same float, with no shift or power by n.
func shortAt(b []byte, i int) (f float64, end int, ok bool) {
	if i < 0 || i+10 > len(b) {
		return 0, i, false
	}
	w := b[i : i+10] // one bounds check for all the reads below
	if w[1] != '.' || !isDigit(w[0]) {
		return 0, i, false
	}
	x := binary.LittleEndian.Uint64(w[2:])
	d := x - 0x3030303030303030
	nonDigit := (x + 0x4646464646464646 | d) & 0x8080808080808080 // exact up to the first (eightDigits)
	n := bits.TrailingZeros64(nonDigit) >> 3
	if n == 0 || n >= 8 || w[2+n] == 'e' || w[2+n] == 'E' {
		return 0, i, false
	}
	d &= (nonDigit&-nonDigit)>>7 - 1 // the n digits; the bytes from the first non-digit on, zero
	d = d*10 + d>>8
	d = ((d&0x000000FF000000FF)*(100+1000000<<32) + (d>>16&0x000000FF000000FF)*(1+10000<<32)) >> 32
	return float64(uint64(w[0]-'0')*1e8+d) / 1e8, i + 2 + n, true
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
