package proxy

import (
	"encoding/json"
	"testing"

	"github.com/valyala/fasthttp"
)

// An error answer is one line of valid JSON whatever the message and the client's request id hold.
func TestWriteErrorIsJSON(t *testing.T) {
	for _, tt := range []struct {
		name, msg string
		id        []byte
		want      string
	}{
		{"plain", "Bad Gateway", []byte("abc"), `{"error":"Bad Gateway","request_id":"abc"}` + "\n"},
		{"no id", "Gateway Timeout", nil, `{"error":"Gateway Timeout"}` + "\n"},
		{"quotes and controls", `a "b" \ <c>&` + "\n\x01", []byte(`x"y`), `{"error":"a \"b\" \\ <c>&\n\u0001","request_id":"x\"y"}` + "\n"},
		{"invalid UTF-8", "m", []byte("id\xff"), `{"error":"m","request_id":"id\ufffd"}` + "\n"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			var ctx fasthttp.RequestCtx
			writeError(&ctx, fasthttp.StatusBadGateway, tt.msg, tt.id)
			body := ctx.Response.Body()
			if string(body) != tt.want {
				t.Errorf("body %q, want %q", body, tt.want)
			}
			var v errorBody
			if err := json.Unmarshal(body, &v); err != nil || v.Error != tt.msg {
				t.Errorf("body %q: %v, error %q", body, err, v.Error)
			}
			if ctx.Response.StatusCode() != fasthttp.StatusBadGateway || string(ctx.Response.Header.ContentType()) != "application/json" {
				t.Errorf("status %d, content type %q", ctx.Response.StatusCode(), ctx.Response.Header.ContentType())
			}
		})
	}
}
