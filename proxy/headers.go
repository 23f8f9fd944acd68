package proxy

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"net"
	"net/netip"
	"strconv"
	"sync/atomic"
	"unsafe"

	"github.com/valyala/fasthttp"
)

// HeaderRequestID carries the request id to the primary, the candidates and back to the client.
const HeaderRequestID = "X-Request-Id"

// ShadowHeader marks a shadow request: such a request is proxied but never mirrored.
const ShadowHeader = "X-Shadowproxy-Shadow"

// hopHeaders are the hop-by-hop headers of RFC 9110 section 7.6.1, removed in both directions, with
// the tokens named in Connection.
var hopHeaders = [][]byte{
	[]byte("Connection"), []byte("Proxy-Connection"), []byte("Keep-Alive"),
	[]byte("Proxy-Authenticate"), []byte("Proxy-Authorization"),
	[]byte("Te"), []byte("Trailer"), []byte("Transfer-Encoding"), []byte("Upgrade"),
}

// hopMask has bit i set when hopHeaders[i] is present.
type hopMask uint16

func hopBit(k []byte) hopMask {
	for i, h := range hopHeaders {
		if len(k) == len(h) && bytes.EqualFold(k, h) {
			return 1 << i
		}
	}
	return 0
}

// connectionBit is the bit of Connection (hopHeaders[0]) in a hopMask.
const connectionBit hopMask = 1

// requestScan is what one pass over a request's headers finds: the hop-by-hop headers, and the first
// value of each header the proxy reads or sets, so that none of them is looked up again. The values
// point into the header: valid until its next edit.
type requestScan struct {
	hops                          hopMask
	id, xff, xfp, xfh             []byte
	hasID, hasXFF, hasXFP, hasXFH bool
	shadow                        bool // ShadowHeader is present, with any value
}

// scanRequest reads the request's headers in one pass, whatever the case of their names. With
// responseHops, it finds the hop-by-hop headers in one pass: deleting all nine blindly would scan
// the headers nine times, on every request.
func scanRequest(h *fasthttp.RequestHeader) (sc requestScan) {
	for k, v := range h.All() {
		sc.hops |= hopBit(k)
		switch len(k) {
		case len(HeaderRequestID):
			if !sc.hasID && bytes.EqualFold(k, s2b(HeaderRequestID)) {
				sc.id, sc.hasID = v, true
			}
		case len("X-Forwarded-For"):
			if !sc.hasXFF && bytes.EqualFold(k, s2b("X-Forwarded-For")) {
				sc.xff, sc.hasXFF = v, true
			}
		case len("X-Forwarded-Proto"):
			if !sc.hasXFP && bytes.EqualFold(k, s2b("X-Forwarded-Proto")) {
				sc.xfp, sc.hasXFP = v, true
			}
		case len("X-Forwarded-Host"):
			if !sc.hasXFH && bytes.EqualFold(k, s2b("X-Forwarded-Host")) {
				sc.xfh, sc.hasXFH = v, true
			}
		case len(ShadowHeader):
			if bytes.EqualFold(k, s2b(ShadowHeader)) {
				sc.shadow = true
			}
		}
	}
	return sc
}

// responseHops also reports whether the answer has an X-Request-Id (which the proxy then replaces
// rather than adds).
func responseHops(h *fasthttp.ResponseHeader) (m hopMask, hasID bool) {
	for k := range h.All() {
		m |= hopBit(k)
		hasID = hasID || (len(k) == len(HeaderRequestID) && bytes.EqualFold(k, s2b(HeaderRequestID)))
	}
	return m, hasID
}

// s2b is the bytes of a string constant, without a copy; they must not be written to.
func s2b(s string) []byte { return unsafe.Slice(unsafe.StringData(s), len(s)) }

// header is what removeHop needs of fasthttp's request and response headers.
type header interface {
	PeekBytes(key []byte) []byte
	DelBytes(key []byte)
}

// removeHop deletes the hop-by-hop headers in m, first those named in Connection. scratch holds the
// Connection value while its tokens are deleted; the grown buffer is returned for reuse.
func removeHop(h header, m hopMask, scratch []byte) []byte {
	if m == 0 {
		return scratch
	}
	if m&1 != 0 { // hopHeaders[0] is Connection
		scratch = append(scratch[:0], h.PeekBytes(hopHeaders[0])...)
		for tok := range bytes.SplitSeq(scratch, []byte(",")) {
			if tok = bytes.TrimSpace(tok); len(tok) > 0 {
				h.DelBytes(tok)
			}
		}
	}
	for i, k := range hopHeaders {
		if m&(1<<i) != 0 {
			h.DelBytes(k)
		}
	}
	return scratch
}

// validRequestID accepts 1 to 128 printable ASCII characters.
func validRequestID(id []byte) bool {
	if len(id) == 0 || len(id) > 128 {
		return false
	}
	for _, c := range id {
		if c < 0x21 || c > 0x7e {
			return false
		}
	}
	return true
}

// idSource makes request ids: a random per-process prefix and a counter, so ids are unique across
// replicas and restarts without a random draw per request.
type idSource struct {
	prefix [17]byte // 16 hex digits and '-'
	n      atomic.Uint64
}

func newIDSource() *idSource {
	var s idSource
	var b [8]byte
	_, _ = rand.Read(b[:])
	hex.Encode(s.prefix[:16], b[:])
	s.prefix[16] = '-'
	return &s
}

// appendNext appends a new id to dst.
func (s *idSource) appendNext(dst []byte) []byte {
	dst = append(dst, s.prefix[:]...)
	return strconv.AppendUint(dst, s.n.Add(1), 16)
}

// appendClientIP appends the client address of ctx (no port) to dst.
func appendClientIP(dst []byte, ctx *fasthttp.RequestCtx) []byte {
	if a, ok := ctx.RemoteAddr().(*net.TCPAddr); ok {
		return a.AddrPort().Addr().Unmap().AppendTo(dst)
	}
	if ip, ok := netip.AddrFromSlice(ctx.RemoteIP()); ok {
		return ip.Unmap().AppendTo(dst)
	}
	return append(dst, ctx.RemoteIP().String()...)
}

// maxRequestID is the longest request id taken from a client.
const maxRequestID = 128

// dropTrailers removes the trailer section of a chunked request. fasthttp keeps trailer fields
// beside the headers, and forwarding the body with a Content-Length (as the proxy does) would send
// them as headers: a trailer could then set X-Request-Id, or any header the primary trusts. Header
// fields that share a name with a trailer stay. Requests without trailers cost one length check.
func dropTrailers(h *fasthttp.RequestHeader) {
	keys := h.PeekTrailerKeys()
	if len(keys) == 0 {
		return
	}
	names := make([]string, len(keys))
	for i, k := range keys {
		names[i] = string(k)
	}
	// All visits the header section only: these are the values that arrived before the body.
	var keep [][2]string
	for k, v := range h.All() {
		for _, n := range names {
			if bytes.EqualFold(k, []byte(n)) {
				keep = append(keep, [2]string{string(k), string(v)})
			}
		}
	}
	for _, n := range names {
		h.Del(n)
	}
	h.Del(fasthttp.HeaderTrailer) // with no trailer values left, nothing moves to the headers
	for _, kv := range keep {
		h.Add(kv[0], kv[1])
	}
}

// ambiguousPath reports a request path that a primary may read differently from the proxy: one
// with a dot-segment ("/../", "/./", also percent-encoded as %2e), an encoded slash or backslash
// (%2f, %5c), a backslash, or a leading "//" followed later by "://". Routing matches the path as it is forwarded, byte for byte, so such a
// path could match one route's prefix and reach another path of the primary; it is refused.
func ambiguousPath(p []byte) bool {
	if bytes.IndexByte(p, '\\') >= 0 {
		return true
	}
	// A target that starts with "//" and has a "://" later reads as an authority to some parsers
	// (fasthttp's among them: "//a://x/y" is host "a:", path "/x/y"), not as the path routed.
	if bytes.HasPrefix(p, []byte("//")) && bytes.Contains(p, []byte("://")) {
		return true
	}
	dots := bytes.IndexByte(p, '.') >= 0 // a dot, or %2e: only then can a segment be a dot-segment
	for q := p; ; {
		i := bytes.IndexByte(q, '%')
		if i < 0 {
			break
		}
		if i+2 < len(q) {
			switch c, d := q[i+1], q[i+2]|0x20; {
			case c == '2' && d == 'f', c == '5' && d == 'c':
				return true
			case c == '2' && d == 'e':
				dots = true
			}
		}
		q = q[i+1:]
	}
	if !dots {
		return false
	}
	for seg := range bytes.SplitSeq(p, []byte("/")) {
		if dotSegment(seg) {
			return true
		}
	}
	return false
}

// dotSegment reports "." or "..", each dot possibly written %2e or %2E.
func dotSegment(seg []byte) bool {
	dots := 0
	for len(seg) > 0 {
		switch {
		case seg[0] == '.':
			seg = seg[1:]
		case len(seg) >= 3 && seg[0] == '%' && seg[1] == '2' && seg[2]|0x20 == 'e':
			seg = seg[3:]
		default:
			return false
		}
		dots++
	}
	return dots == 1 || dots == 2
}
