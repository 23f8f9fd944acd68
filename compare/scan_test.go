package compare

import (
	"encoding/binary"
	"math"
	"math/rand/v2"
	"strconv"
	"strings"
	"testing"

	"github.com/valyala/fastjson/fastfloat"
)

func FuzzNumber(f *testing.F) {
	for _, s := range []string{"0", "-0", "1", "0.5", "0.200000", "123456789012345678901234", "1e22", "1e23", "4.9e-324", "1.7976931348623157e308", "1e400", "-2.5E-3", "9007199254740993", "0.1e-22", "00", "1.", ".5", "-", "1e", "+1", "12345678", "123456789", "0.12345678", "0.123456789012", "99999999999.99999999", "1234567890123456789", "0.00000000000000000000001", "3.14159265,1", "7/", "0.1234567:"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		sc := scan{b: []byte(s)}
		tok, got, ok := sc.number()
		// With bytes after it (numberAt's one-word shapes need room to load), the same token and value.
		padded := scan{b: []byte(s + ",          ")}
		ptok, pgot, pok := padded.number()
		if pok != ok || string(ptok) != string(tok) || math.Float64bits(pgot) != math.Float64bits(got) {
			t.Fatalf("%q: alone %q %v %v, followed by more %q %v %v", s, tok, got, ok, ptok, pgot, pok)
		}
		if !ok || len(tok) != len(s) {
			if ok && validNumber(tok) == false {
				t.Fatalf("%q: token %q accepted but invalid", s, tok)
			}
			return
		}
		if !validNumber([]byte(s)) {
			t.Fatalf("%q accepted, not a JSON number", s)
		}
		// Within Clinger's range the value is exactly rounded; elsewhere it is what fastjson
		// reads (fastfloat, within an ulp or so of exact).
		want, err := strconv.ParseFloat(s, 64)
		if err != nil && !math.IsInf(want, 0) {
			t.Fatalf("%q: ParseFloat: %v", s, err)
		}
		ff, _ := fastfloat.Parse(s)
		if math.Float64bits(got) != math.Float64bits(want) && math.Float64bits(got) != math.Float64bits(ff) && !(got == 0 && want == 0) {
			t.Fatalf("%q = %v, want %v (fastfloat %v)", s, got, want, ff)
		}
	})
}

// FuzzStr holds str (8 bytes at a time up to 16, then IndexByte) to the byte-by-byte strEsc, with
// the string's end at every distance from the end of the body.
func FuzzStr(f *testing.F) {
	for _, s := range []string{`"a"`, `""`, `"probabilities"`, `"class-9",1`, `"0123456789abcdef"`, `"0123456789abcdefg"`, `"a\"b"`, `"\\"`, `"abc`, "\"\x80\xff\"", `"ab\u00e9"`} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if len(s) == 0 || s[0] != '"' {
			return
		}
		for pad := range 10 {
			b := []byte(s + strings.Repeat(" ", pad))
			got := scan{b: b}
			raw, esc, ok := got.str()
			want := scan{b: b}
			wraw, wesc, wok := want.strEsc(1)
			if ok != wok || esc != wesc || string(raw) != string(wraw) || got.i != want.i {
				t.Fatalf("%q: str = %q %v %v at %d, strEsc = %q %v %v at %d", b, raw, esc, ok, got.i, wraw, wesc, wok, want.i)
			}
		}
	})
}

// TestEightDigits holds the SWAR digit count and value to a byte loop: every byte value at every
// position after a run of digits, and random words.
func TestEightDigits(t *testing.T) {
	check := func(x uint64) {
		t.Helper()
		var b [8]byte
		binary.LittleEndian.PutUint64(b[:], x)
		n, v := 0, uint64(0)
		for n < 8 && isDigit(b[n]) {
			v = v*10 + uint64(b[n]-'0')
			n++
		}
		if gn, gv := eightDigits(x); gn != n || gv != v {
			t.Fatalf("%q: eightDigits = %d, %d; want %d, %d", b[:], gn, gv, n, v)
		}
	}
	for c := range 256 {
		for pos := range 8 {
			check(0x3935373133393731&^(0xFF<<(8*pos)) | uint64(c)<<(8*pos))
		}
	}
	r := rand.New(rand.NewPCG(1, 2))
	for range 200000 {
		x := r.Uint64()
		for pos := range r.IntN(9) { // a run of digits first
			x = x&^(0xFF<<(8*pos)) | uint64('0'+r.IntN(10))<<(8*pos)
		}
		check(x)
	}
}

// TestShortAt holds the one-word reading of digit.fraction to strconv, for every fraction length
// it takes, random digits, and what may follow the number.
func TestShortAt(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	for k := range 300000 {
		var b strings.Builder
		b.WriteByte(byte('0' + r.IntN(10)))
		b.WriteByte('.')
		n := 1 + k%7
		for range n {
			b.WriteByte(byte('0' + r.IntN(10)))
		}
		num := b.String()
		b.WriteString([]string{",", "]", "}", " ", ",0.1"}[k%5])
		b.WriteString("        ")
		f, end, ok := shortAt([]byte(b.String()), 0)
		want, _ := strconv.ParseFloat(num, 64)
		if !ok || end != len(num) || math.Float64bits(f) != math.Float64bits(want) {
			t.Fatalf("shortAt(%q) = %v, %d, %v; want %v, %d", b.String(), f, end, ok, want, len(num))
		}
	}
	for _, s := range []string{"0.12345678,        ", "1.5e3,          ", "1.5E3,          ", "12.5,          ", "-0.5,          ", "0.,          ", ".5,          ", "0.5"} {
		if _, _, ok := shortAt([]byte(s), 0); ok {
			t.Errorf("shortAt(%q) took a shape it leaves to numberAt", s)
		}
	}
}
