package tee

import (
	"context"
	"encoding/base64"
	"strconv"
	"strings"

	"github.com/valyala/fasthttp"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	"github.com/shadowproxy/shadowproxy/compare"
	"github.com/shadowproxy/shadowproxy/proxy"
)

// A gRPC exchange reaches the tee as the proxy's GRPCServer hands it over: a POST of the full
// method with the metadata as headers and the request message as body, and a response with the
// primary's message as body and its status in proxy.HeaderGRPCStatus. A grpc:// candidate gets the
// same call through a gRPC client; both answers become JSON views (compare.GRPCView) before they
// are compared, chaos-injected and recorded, so everything downstream is as for HTTP.

var jsonContentType = []byte("application/json")

// noAnswer are the gRPC codes that mean the candidate did not answer (a shadow error or timeout,
// recorded as candidate_error) rather than answered with an error status (compared, as an HTTP
// error answer is).
func noAnswer(c codes.Code) bool {
	switch c {
	case codes.Unavailable, codes.DeadlineExceeded, codes.Canceled, codes.ResourceExhausted:
		return true
	}
	return false
}

// sendGRPC makes req's call on the candidate and fills resp as the proxy fills a primary's.
func (c *candidate) sendGRPC(req *fasthttp.Request, resp *fasthttp.Response) error {
	md := make(metadata.MD, req.Header.Len())
	for k, v := range req.Header.All() {
		key := strings.ToLower(string(k))
		switch key {
		case "host", "content-type", "content-length", "user-agent", "te", "connection", "grpc-timeout", "grpc-encoding", "grpc-accept-encoding":
			continue
		}
		val := string(v)
		if strings.HasSuffix(key, "-bin") {
			b, err := base64.RawStdEncoding.DecodeString(strings.TrimRight(val, "="))
			if err != nil {
				continue
			}
			val = string(b)
		}
		md[key] = append(md[key], val)
	}
	ctx, cancel := context.WithTimeout(metadata.NewOutgoingContext(context.Background(), md), c.timeout)
	defer cancel()
	in := req.Body()
	var out []byte
	err := c.grpc.Invoke(ctx, string(req.URI().Path()), &in, &out)
	st := status.Convert(err)
	if err != nil && noAnswer(st.Code()) {
		return err
	}
	resp.SetStatusCode(proxy.HTTPStatus(st.Code()))
	resp.Header.SetContentType("application/grpc")
	resp.Header.Set(proxy.HeaderGRPCStatus, strconv.Itoa(int(st.Code())))
	if m := st.Message(); m != "" {
		resp.Header.Set(proxy.HeaderGRPCMessage, m)
	}
	resp.SetBodyRaw(out)
	return nil
}

// viewAnswer replaces a successful answer's message with its JSON view. On an error resp keeps the
// message's bytes (the record shows them in base64).
func viewAnswer(method string, resp *fasthttp.Response) error {
	if resp.StatusCode() != fasthttp.StatusOK {
		return nil
	}
	v, _, err := compare.GRPCView(method, resp.Body(), true)
	if err != nil {
		return err
	}
	resp.SetBody(v)
	resp.Header.SetContentTypeBytes(jsonContentType)
	return nil
}

// grpcStatus reads the gRPC status of an answer; -1 when it is not a gRPC one.
func grpcStatus(h *fasthttp.ResponseHeader) (int, string) {
	v := h.Peek(proxy.HeaderGRPCStatus)
	if len(v) == 0 {
		return -1, ""
	}
	n, err := strconv.Atoi(string(v))
	if err != nil {
		return -1, ""
	}
	return n, string(h.Peek(proxy.HeaderGRPCMessage))
}

// closeClient closes the candidate's connections.
func (c *candidate) closeClient() {
	if c.grpc != nil {
		_ = c.grpc.Close()
		return
	}
	c.client.CloseIdleConnections()
}
