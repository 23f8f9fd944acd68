package proxy

import (
	"time"

	"github.com/valyala/fasthttp"
)

// Exchange is one finished client exchange: the request as the primary received it and the primary's
// response. It is valid only for the duration of Mirror.Offer; a Mirror copies what it keeps.
type Exchange struct {
	// Route is the name of the route that served the request.
	Route string
	// RequestID is the X-Request-Id sent to the primary (the client's, or one the proxy generated).
	// A Mirror reads it here rather than from the request's headers.
	RequestID []byte
	// Request is the request sent to the primary (hop-by-hop headers removed, X-Forwarded-For set).
	Request *fasthttp.Request
	// Response is the primary's response as returned to the client.
	Response *fasthttp.Response
	// Start is when the proxy sent the request to the primary.
	Start time.Time
	// Latency is the primary's round trip.
	Latency time.Duration
}

// Mirror receives finished exchanges. Offer copies what it keeps and never blocks; it reports whether
// the exchange was taken by at least one candidate.
type Mirror interface {
	Offer(ex *Exchange) bool
}

// A BodyLimit is a Mirror that takes no exchange whose request body or answer is larger than
// MaxBody bytes. Of a streamed answer, the proxy keeps MaxBody()+1 bytes for such a Mirror, so that
// it sees a larger answer as too large; for any other Mirror it keeps defaultStreamKeep+1.
type BodyLimit interface {
	Mirror
	MaxBody() int
}

// defaultStreamKeep is how much of a streamed answer the proxy keeps for a Mirror that states no
// BodyLimit.
const defaultStreamKeep = 1 << 20

// mirrorMaxBody is how much of a streamed answer m takes.
func mirrorMaxBody(m Mirror) int {
	if l, ok := m.(BodyLimit); ok && l.MaxBody() > 0 {
		return l.MaxBody()
	}
	return defaultStreamKeep
}
