package tee

import (
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"strings"

	"github.com/cespare/xxhash/v2"
	"github.com/valyala/fasthttp"
)

// keySource says where a sticky sampling key is read from.
type keySource uint8

const (
	keyNone keySource = iota
	keyHeader
	keyCookie
	keyQuery
)

// StickyKey is a parsed sticky_key: where the key is read from and its name.
type StickyKey struct {
	source keySource
	name   string
}

// ErrStickyKey is wrapped by ParseStickyKey's errors.
var ErrStickyKey = errors.New("sticky_key must be header:NAME, cookie:NAME or query:NAME")

// ParseStickyKey parses "header:NAME", "cookie:NAME" or "query:NAME". The empty string means no key.
func ParseStickyKey(s string) (StickyKey, error) {
	if s == "" {
		return StickyKey{}, nil
	}
	kind, name, ok := strings.Cut(s, ":")
	if !ok || name == "" || strings.ContainsAny(name, " \t\r\n") {
		return StickyKey{}, fmt.Errorf("%w, got %q", ErrStickyKey, s)
	}
	switch kind {
	case "header":
		return StickyKey{source: keyHeader, name: name}, nil
	case "cookie":
		return StickyKey{source: keyCookie, name: name}, nil
	case "query":
		return StickyKey{source: keyQuery, name: name}, nil
	}
	return StickyKey{}, fmt.Errorf("%w, got %q", ErrStickyKey, s)
}

// Extract returns the key's value in req, or nil when absent. The result aliases req's memory, or
// is a copy for a query key.
func (k StickyKey) Extract(req *fasthttp.Request) []byte {
	switch k.source {
	case keyHeader:
		return req.Header.Peek(k.name)
	case keyCookie:
		return req.Header.Cookie(k.name)
	case keyQuery:
		a := parseQuery(req)
		defer fasthttp.ReleaseArgs(a)
		if v := a.Peek(k.name); v != nil {
			return append([]byte(nil), v...)
		}
	}
	return nil
}

// hash returns the hash of the key's value in req, and false when it is absent or empty.
func (k StickyKey) hash(req *fasthttp.Request) (uint64, bool) {
	var v []byte
	switch k.source {
	case keyHeader:
		v = req.Header.Peek(k.name)
	case keyCookie:
		v = req.Header.Cookie(k.name)
	case keyQuery:
		a := parseQuery(req)
		defer fasthttp.ReleaseArgs(a)
		v = a.Peek(k.name)
	}
	return xxhash.Sum64(v), len(v) > 0
}

// parseQuery parses req's query apart from its URI: parsing the URI's own arguments would make the
// copy sent to the candidates re-encode its query (a%7Eb sent as a~b), so that they would not get
// the primary's request. The caller releases the Args.
func parseQuery(req *fasthttp.Request) *fasthttp.Args {
	a := fasthttp.AcquireArgs()
	a.ParseBytes(req.URI().QueryString())
	return a
}

// sampler decides which requests are mirrored to one candidate. With a sticky key the decision is a
// pure function of (candidate name, key), so every replica decides the same way; requests without the
// key, and samplers without one, decide at random.
type sampler struct {
	all, none bool
	threshold uint64 // mirror when the 64-bit draw is below it
	seed      uint64
	key       StickyKey
}

func newSampler(candidate string, rate float64, key StickyKey) sampler {
	s := sampler{key: key, seed: xxhash.Sum64String(candidate)}
	switch {
	case rate >= 1:
		s.all = true
	case rate <= 0 || math.IsNaN(rate):
		s.none = true
	default:
		s.threshold = uint64(rate * (1 << 63) * 2)
	}
	return s
}

// take reports whether req is mirrored.
func (s *sampler) take(req *fasthttp.Request) bool {
	if s.all {
		return true
	}
	if s.none {
		return false
	}
	if s.key.source != keyNone {
		if h, ok := s.key.hash(req); ok {
			return mix(h^s.seed) < s.threshold
		}
	}
	return rand.Uint64() < s.threshold
}

// mix is splitmix64's finalizer: it spreads a hash combined with a seed over all 64 bits.
func mix(x uint64) uint64 {
	x ^= x >> 30
	x *= 0xbf58476d1ce4e5b9
	x ^= x >> 27
	x *= 0x94d049bb133111eb
	x ^= x >> 31
	return x
}

// chance reports true with probability p (a recording share).
func chance(p float64) bool {
	if p >= 1 {
		return true
	}
	if p <= 0 {
		return false
	}
	return rand.Float64() < p
}
