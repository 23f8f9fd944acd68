package proxy

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"net"
	"strconv"
	"sync/atomic"

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

// requestHops and responseHops find the hop-by-hop headers present in one pass: deleting all nine
// blindly would scan the headers nine times, on every request.
func requestHops(h *fasthttp.RequestHeader) (m hopMask) {
	for k := range h.All() {
		m |= hopBit(k)
	}
	return m
}

func responseHops(h *fasthttp.ResponseHeader) (m hopMask) {
	for k := range h.All() {
		m |= hopBit(k)
	}
	return m
}

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
	return append(dst, ctx.RemoteIP().String()...)
}
