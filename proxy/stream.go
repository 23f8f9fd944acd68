package proxy

import (
	"bytes"
	"errors"
	"io"
	"time"

	"github.com/valyala/fasthttp"
)

// Streaming primaries (Upstream.Stream): an answer of unknown length (chunked, or server-sent
// events as LLM servers send them) goes to the client chunk by chunk as it arrives, instead of
// being read whole first; the mirror gets the exchange when the answer has ended.

var eventStream = []byte("text/event-stream")

// doStream sends req to the primary and reads its answer into resp: whole when its length is known
// and it is not an event stream, else only its status and headers, returning the stream the
// caller hands to the client.
func (r *route) doStream(req *fasthttp.Request, resp *fasthttp.Response) (*primaryStream, error) {
	p := fasthttp.AcquireResponse()
	p.StreamBody = true
	if err := r.client.DoTimeout(req, p, r.timeout); err != nil {
		fasthttp.ReleaseResponse(p)
		return nil, err
	}
	p.Header.CopyTo(&resp.Header)
	body := p.BodyStream()
	if body == nil || (p.Header.ContentLength() >= 0 && !bytes.HasPrefix(p.Header.ContentType(), eventStream)) {
		var err error
		switch {
		case body == nil:
		case p.Header.ContentLength() > r.client.MaxResponseBodySize:
			err = fasthttp.ErrBodyTooLarge
		default:
			resp.ResetBody()
			_, err = io.Copy(resp.BodyWriter(), body)
		}
		p.CloseBodyStream()
		fasthttp.ReleaseResponse(p)
		return nil, err
	}
	return &primaryStream{resp: p, body: body, limit: r.mirrorMaxBody}, nil
}

// primaryStream is the body the server writes to the client (chunked, one chunk per read, each
// flushed). It keeps a copy of the answer, at most limit+1 bytes (so the mirror sees a larger one
// as too large), and offers the exchange to the mirror when the answer has been read to its end
// and written to the client.
type primaryStream struct {
	resp  *fasthttp.Response // the primary's answer, read as a stream
	body  io.Reader
	limit int
	kept  []byte
	ended bool

	// Set by offerWhenDone: what the offer needs.
	ctx   *fasthttp.RequestCtx
	route *route
	start time.Time
}

// offerWhenDone makes the stream the body of ctx's response.
func (p *primaryStream) offerWhenDone(ctx *fasthttp.RequestCtx, r *route, start time.Time) {
	p.ctx, p.route, p.start = ctx, r, start
	ctx.Response.SetBodyStream(p, -1)
}

func (p *primaryStream) Read(b []byte) (int, error) {
	n, err := p.body.Read(b)
	if room := p.limit + 1 - len(p.kept); room > 0 && p.route.mirror != nil {
		p.kept = append(p.kept, b[:min(n, room)]...)
	}
	if errors.Is(err, io.EOF) {
		p.ended = true
	}
	return n, err
}

// CloseWithError is called by the server once the body is written (err nil) or could not be (the
// client went away: err says why). Only a whole answer, written whole, is offered to the mirror.
func (p *primaryStream) CloseWithError(err error) error {
	cerr := p.resp.CloseBodyStream()
	if err == nil && p.ended && p.route.mirror != nil && len(p.ctx.Request.Header.Peek(ShadowHeader)) == 0 {
		p.ctx.Response.Header.CopyTo(&p.resp.Header) // as the client got them
		p.resp.SetBodyRaw(p.kept)
		ex := Exchange{
			Route:     p.route.name,
			RequestID: p.ctx.Request.Header.Peek(HeaderRequestID),
			Request:   &p.ctx.Request,
			Response:  p.resp,
			Start:     p.start,
			Latency:   time.Since(p.start),
		}
		p.route.mirror.Offer(&ex)
	}
	fasthttp.ReleaseResponse(p.resp)
	return cerr
}
