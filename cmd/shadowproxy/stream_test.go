package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/valyala/fasthttp"

	"github.com/shadowproxy/shadowproxy/proxy/proxytest"
)

// chatStream is an OpenAI-style chat completion streamed as server-sent events: the words of the
// answer to {"x":N} one chunk each, then [DONE]. With wrong(N), the last word differs. For x = 999 it
// holds the chunks after the first until gate is closed (5 s at most).
func chatStream(name string, wrong func(int) bool, gate <-chan struct{}) fasthttp.RequestHandler {
	return func(ctx *fasthttp.RequestCtx) {
		var in struct{ X int }
		if err := json.Unmarshal(ctx.PostBody(), &in); err != nil {
			ctx.SetStatusCode(400)
			return
		}
		words := []string{"The", " answer", " is", fmt.Sprintf(" %d.", in.X)}
		if wrong != nil && wrong(in.X) {
			words[3] = " unknown."
		}
		ctx.SetContentType("text/event-stream")
		ctx.SetBodyStreamWriter(func(w *bufio.Writer) {
			for i, word := range words {
				chunk := fmt.Sprintf(`{"id":"%s-%d","object":"chat.completion.chunk","created":%d,"model":"m","choices":[{"index":0,"delta":{"content":%q},"finish_reason":null}]}`, name, in.X, time.Now().UnixNano(), word)
				fmt.Fprintf(w, "data: %s\n\n", chunk)
				_ = w.Flush()
				if i == 0 && in.X == 999 {
					select {
					case <-gate:
					case <-time.After(5 * time.Second):
					}
				}
			}
			fmt.Fprint(w, `data: {"id":"x","object":"chat.completion.chunk","created":1,"model":"m","choices":[{"index":0,"delta":{},"finish_reason":"stop"}]}`+"\n\ndata: [DONE]\n\n")
			_ = w.Flush()
		})
	}
}

// An LLM route with stream: true: clients get the primary's token stream as it is produced, and the
// candidate's stream is compared with it once both have ended.
func TestE2EStreamedLLMAnswers(t *testing.T) {
	gate := make(chan struct{})
	wrong := func(x int) bool { return x%3 == 0 }
	primary := proxytest.Serve(t, chatStream("p", nil, gate))
	candidate := proxytest.Serve(t, chatStream("c", wrong, gate))
	records := filepath.Join(t.TempDir(), "records.jsonl")
	p, _ := startProxy(t, fmt.Sprintf(`listen: "127.0.0.1:0"
admin: "127.0.0.1:0"
routes:
  - name: chat
    match: {path_prefix: /v1/chat/completions}
    primary: {url: %q, timeout: 10s, stream: true}
    candidates:
      - {name: llm-v2, url: %q, timeout: 10s}
    compare: {format: openai}
    record: {disagreements: 100%%, agreements: 0%%}
sinks:
  file: {path: %q}
`, primary, candidate, records))
	url := "http://" + p.listen + "/v1/chat/completions"

	// The first chunk reaches the client while the model still holds back the rest: a proxy that
	// waited for the whole answer would send nothing for 5 s, past this client's timeout.
	hc := &http.Client{Timeout: 3 * time.Second}
	defer hc.CloseIdleConnections()
	resp, err := hc.Post(url, "application/json", strings.NewReader(`{"x":999,"stream":true}`))
	if err != nil {
		t.Fatal(err)
	}
	br := bufio.NewReader(resp.Body)
	first, err := br.ReadString('\n')
	if err != nil || !strings.Contains(first, `"content":"The"`) {
		t.Fatalf("first line %q: %v", first, err)
	}
	close(gate)
	rest, err := io.ReadAll(br)
	resp.Body.Close()
	if err != nil || !strings.Contains(string(rest), `" 999."`) || !strings.HasSuffix(string(rest), "data: [DONE]\n\n") {
		t.Fatalf("rest of the stream %q: %v", rest, err)
	}

	client := &fasthttp.Client{}
	defer client.CloseIdleConnections()
	const n = 30
	for i := range n {
		status, body, _ := post(t, client, url, fmt.Sprintf("chat-%02d", i), fmt.Sprintf(`{"x":%d,"stream":true}`, i))
		if status != 200 || !strings.Contains(body, fmt.Sprintf(`"content":" %d."`, i)) || !strings.Contains(body, `"id":"p-`) {
			t.Fatalf("request %d: %d %q, want the primary's stream", i, status, body)
		}
	}
	const agree = `shadowproxy_comparisons_total{candidate="llm-v2",result="agree",route="chat"}`
	const disagree = `shadowproxy_comparisons_total{candidate="llm-v2",result="disagree",route="chat"}`
	waitFor(t, "31 comparisons", func() bool { return p.metric(t, agree)+p.metric(t, disagree) == n+1 })
	if got := p.metric(t, disagree); got != n/3+1 { // 0, 3, ..., 27 and 999
		t.Errorf("disagreements = %v, want %d", got, n/3+1)
	}
	p.stop(t)
	recs := readRecords(t, records)
	if len(recs) != n/3+1 {
		t.Fatalf("%d records, want %d", len(recs), n/3+1)
	}
	for _, r := range recs {
		if id, _ := r["id"].(string); id != "" && strings.HasPrefix(id, "chat-") {
			var x int
			fmt.Sscanf(id, "chat-%d", &x)
			if !wrong(x) {
				t.Errorf("record for %s, which agrees", id)
			}
		}
	}
}
