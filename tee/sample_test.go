package tee

import (
	"errors"
	"fmt"
	"math"
	"testing"

	"github.com/cespare/xxhash/v2"
	"github.com/valyala/fasthttp"
)

func TestParseStickyKey(t *testing.T) {
	tests := []struct {
		in      string
		wantErr bool
		header  string
		cookie  string
		query   string
		want    string
	}{
		{in: "", want: ""},
		{in: "header:X-User-Id", header: "u1", want: "u1"},
		{in: "cookie:session", cookie: "s9", want: "s9"},
		{in: "query:user", query: "user=q7", want: "q7"},
		{in: "header:", wantErr: true},
		{in: "body:x", wantErr: true},
		{in: "header", wantErr: true},
		{in: "header:a b", wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			k, err := ParseStickyKey(tt.in)
			if tt.wantErr {
				if !errors.Is(err, ErrStickyKey) {
					t.Fatalf("ParseStickyKey(%q) error = %v, want ErrStickyKey", tt.in, err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			var req fasthttp.Request
			req.SetRequestURI("/p?" + tt.query)
			if tt.header != "" {
				req.Header.Set("X-User-Id", tt.header)
			}
			if tt.cookie != "" {
				req.Header.SetCookie("session", tt.cookie)
			}
			if got := string(k.Extract(&req)); got != tt.want {
				t.Errorf("Extract = %q, want %q", got, tt.want)
			}
		})
	}
}

func TestSamplerRates(t *testing.T) {
	const n = 20000
	for _, rate := range []float64{0, 0.01, 0.25, 0.5, 1} {
		t.Run(fmt.Sprint(rate), func(t *testing.T) {
			s := newSampler("cand", rate, StickyKey{})
			var req fasthttp.Request
			taken := 0
			for range n {
				if s.take(&req) {
					taken++
				}
			}
			got := float64(taken) / n
			// Four standard deviations of a binomial share: fails by chance about once in 15,000 runs.
			if tol := 4*math.Sqrt(rate*(1-rate)/n) + 1e-9; math.Abs(got-rate) > tol {
				t.Errorf("rate %v: took %v", rate, got)
			}
		})
	}
}

// TestStickyDecisionsPinned pins sticky decisions to golden values: a replica built from another
// version of shadowproxy, or on another machine, must decide the same way for the same key, so any
// change to the hash (xxhash of the key, the seed from the candidate's name, the mix, the threshold)
// fails here. A change on purpose is a visible behaviour change: it belongs in the changelog.
func TestStickyDecisionsPinned(t *testing.T) {
	key, err := ParseStickyKey("header:X-User-Id")
	if err != nil {
		t.Fatal(err)
	}
	// Decisions for the keys user-0 ... user-31, '1' for mirrored.
	for _, tt := range []struct {
		candidate string
		rate      float64
		want      string
	}{
		{"iris-v2", 0.01, "00000000000000000000000000000000"},
		{"iris-v2", 0.3, "10011101001100000000111100100011"},
		{"iris-v2", 0.5, "10011101001101100000111100101011"},
		{"iris-v3", 0.01, "00000000000000000000000001000000"},
		{"iris-v3", 0.3, "01000111000000010001000001000101"},
		{"iris-v3", 0.5, "01101111101100010111000001000101"},
	} {
		s := newSampler(tt.candidate, tt.rate, key)
		var req fasthttp.Request
		got := make([]byte, 0, len(tt.want))
		for i := range len(tt.want) {
			req.Header.Set("X-User-Id", fmt.Sprintf("user-%d", i))
			d := byte('0')
			if s.take(&req) {
				d = '1'
			}
			got = append(got, d)
		}
		if string(got) != tt.want {
			t.Errorf("%s at %v: decisions %s, want %s", tt.candidate, tt.rate, got, tt.want)
		}
	}
	// The 64-bit draws themselves (a decision is draw < rate * 2^64).
	for _, tt := range []struct {
		candidate, key string
		want           uint64
	}{
		{"iris-v2", "user-0", 0x21d3f612e0350264},
		{"iris-v2", "alice", 0xd0e2e33bf9e0d98a},
		{"iris-v3", "user-1", 0x24ece417ed389b01},
		{"iris-v3", "alice", 0x1bca98b15e6d925a},
	} {
		s := newSampler(tt.candidate, 0.3, key)
		if got := mix(xxhash.Sum64String(tt.key) ^ s.seed); got != tt.want {
			t.Errorf("%s, key %q: draw %#x, want %#x", tt.candidate, tt.key, got, tt.want)
		}
	}
}

// TestStickySamplingAcrossInstances checks that two independent samplers (two replicas in one
// process; TestStickyDecisionsPinned holds replicas of other builds) decide the same way for the
// same key, and that the share still matches the rate.
func TestStickySamplingAcrossInstances(t *testing.T) {
	key, err := ParseStickyKey("header:X-User-Id")
	if err != nil {
		t.Fatal(err)
	}
	a := newSampler("iris-v2", 0.3, key)
	b := newSampler("iris-v2", 0.3, key)
	other := newSampler("iris-v3", 0.3, key)
	const n = 10000
	taken, differ := 0, 0
	var req fasthttp.Request
	for i := range n {
		req.Header.Set("X-User-Id", fmt.Sprintf("user-%d", i))
		da, db := a.take(&req), b.take(&req)
		if da != db {
			t.Fatalf("user-%d: replicas disagree", i)
		}
		if da {
			taken++
		}
		if da != other.take(&req) {
			differ++
		}
		// The same key twice gives the same answer.
		if a.take(&req) != da {
			t.Fatalf("user-%d: decision changed", i)
		}
	}
	if got := float64(taken) / n; math.Abs(got-0.3) > 0.02 {
		t.Errorf("sticky share = %v, want about 0.3", got)
	}
	// Decisions for another candidate are independent of this one's.
	if differ < n/5 {
		t.Errorf("candidates iris-v2 and iris-v3 made the same decision for %d of %d keys", n-differ, n)
	}
}

func BenchmarkSamplerTake(b *testing.B) {
	key, _ := ParseStickyKey("header:X-User-Id")
	for _, bc := range []struct {
		name string
		s    sampler
	}{
		{"all", newSampler("c", 1, StickyKey{})},
		{"random", newSampler("c", 0.1, StickyKey{})},
		{"sticky", newSampler("c", 0.1, key)},
	} {
		b.Run(bc.name, func(b *testing.B) {
			var req fasthttp.Request
			req.Header.Set("X-User-Id", "user-12345")
			b.ReportAllocs()
			for b.Loop() {
				bc.s.take(&req)
			}
		})
	}
}

func TestSamplerAllocs(t *testing.T) {
	for _, spec := range []string{"header:X-User-Id", "query:user"} {
		if spec == "query:user" && raceEnabled {
			continue // the race detector makes sync.Pool drop items at random: Args are then made anew
		}
		key, _ := ParseStickyKey(spec)
		s := newSampler("c", 0.1, key)
		var req fasthttp.Request
		req.Header.Set("X-User-Id", "user-12345")
		req.SetRequestURI("/p?a=1&user=user-12345")
		if n := testing.AllocsPerRun(1000, func() { s.take(&req) }); n != 0 {
			t.Errorf("%s: sampling allocates %v times, want 0", spec, n)
		}
	}
}

// TestStickyQueryKeyLeavesTheQueryAlone: reading a query key must not change the query that the
// candidates get (fasthttp re-encodes a URI whose arguments were parsed).
func TestStickyQueryKeyLeavesTheQueryAlone(t *testing.T) {
	key, _ := ParseStickyKey("query:user")
	s := newSampler("c", 0.5, key)
	var req fasthttp.Request
	req.SetRequestURI("/x?user=a%7Eb&q=1+2%2B&flag")
	s.take(&req)
	if got := string(key.Extract(&req)); got != "a~b" {
		t.Errorf("key %q, want the decoded value", got)
	}
	var cp fasthttp.Request
	req.CopyTo(&cp)
	if got := string(cp.URI().RequestURI()); got != "/x?user=a%7Eb&q=1+2%2B&flag" {
		t.Errorf("after sampling, the request goes out as %q", got)
	}
}

func FuzzParseStickyKey(f *testing.F) {
	for _, s := range []string{"header:X-User-Id", "cookie:sid", "query:u", "", "header:", "x:y", "header:a:b"} {
		f.Add(s, "value")
	}
	f.Fuzz(func(t *testing.T, spec, value string) {
		k, err := ParseStickyKey(spec)
		if err != nil {
			return
		}
		var req fasthttp.Request
		req.SetRequestURI("/p?u=" + value)
		req.Header.Set("X-User-Id", value)
		req.Header.SetCookie("sid", value)
		k.Extract(&req)
		s := newSampler("c", 0.5, k)
		first, second := s.take(&req), s.take(&req)
		if first != second && len(k.Extract(&req)) > 0 {
			t.Fatalf("sticky decision changed for %q", spec)
		}
	})
}
