package proxy

import (
	"encoding/json"
	"errors"
	"net"
	"strings"

	"github.com/valyala/fasthttp"
)

// statusError maps a failed round trip to the primary onto the status the client gets.
func statusError(err error) int {
	switch ClassifyError(err) {
	case FailureTimeout:
		return fasthttp.StatusGatewayTimeout
	case FailureNoFreeConn:
		return fasthttp.StatusServiceUnavailable
	}
	return fasthttp.StatusBadGateway
}

// requestErrorStatus maps an error reading a client's request onto a 4xx status.
func requestErrorStatus(err error) int {
	switch {
	case errors.Is(err, fasthttp.ErrBodyTooLarge):
		return fasthttp.StatusRequestEntityTooLarge
	case isHeaderTooLarge(err):
		return fasthttp.StatusRequestHeaderFieldsTooLarge
	}
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		return fasthttp.StatusRequestTimeout
	}
	return fasthttp.StatusBadRequest
}

// isHeaderTooLarge reports fasthttp's error for headers that do not fit the read buffer.
func isHeaderTooLarge(err error) bool {
	var sb *fasthttp.ErrSmallBuffer
	return errors.As(err, &sb) || strings.Contains(err.Error(), "small read buffer")
}

// errorBody is the JSON of an error answer.
type errorBody struct {
	Error     string `json:"error"`
	RequestID string `json:"request_id,omitempty"`
}

// writeError answers with a short JSON error. Error answers are rare, so encoding/json writes it
// (invalid UTF-8 in a client's request id becomes \ufffd); '<', '>' and '&' are written as they are.
func writeError(ctx *fasthttp.RequestCtx, status int, msg string, id []byte) {
	ctx.Response.Reset()
	ctx.SetStatusCode(status)
	ctx.SetContentType("application/json")
	if len(id) > 0 {
		ctx.Response.Header.SetBytesV(HeaderRequestID, id)
	}
	enc := json.NewEncoder(ctx.Response.BodyWriter())
	enc.SetEscapeHTML(false)
	_ = enc.Encode(errorBody{Error: msg, RequestID: string(id)}) // one line, as before
}
