package proxy

import (
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

// writeError answers with a short JSON error.
func writeError(ctx *fasthttp.RequestCtx, status int, msg string, id []byte) {
	ctx.Response.Reset()
	ctx.SetStatusCode(status)
	ctx.SetContentType("application/json")
	if len(id) > 0 {
		ctx.Response.Header.SetBytesV(HeaderRequestID, id)
	}
	b := ctx.Response.BodyWriter()
	buf := make([]byte, 0, 64+len(msg)+len(id))
	buf = append(buf, `{"error":`...)
	buf = appendJSONString(buf, msg)
	if len(id) > 0 {
		buf = append(buf, `,"request_id":`...)
		buf = appendJSONString(buf, string(id))
	}
	buf = append(buf, "}\n"...)
	_, _ = b.Write(buf)
}

// appendJSONString appends s as a JSON string (control characters, quotes and backslashes escaped).
func appendJSONString(dst []byte, s string) []byte {
	const hex = "0123456789abcdef"
	dst = append(dst, '"')
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '"' || c == '\\':
			dst = append(dst, '\\', c)
		case c < 0x20:
			dst = append(dst, '\\', 'u', '0', '0', hex[c>>4], hex[c&0xf])
		default:
			dst = append(dst, c)
		}
	}
	return append(dst, '"')
}
