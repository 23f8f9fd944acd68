package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/valyala/fasthttp"

	"github.com/shadowproxy/shadowproxy/proxy/proxytest"
	"github.com/shadowproxy/shadowproxy/sink"
)

// rewriteConfig is a config whose route iris has the candidate iris-v3, served under its own path
// and model name: its rewrite edits both.
func rewriteConfig(t *testing.T) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "rewrite.yaml")
	cfg := `listen: "127.0.0.1:0"
admin: "127.0.0.1:0"
routes:
  - name: iris
    match: {path_prefix: /v2/models/iris}
    primary: {url: "http://127.0.0.1:1"}
    candidates:
      - name: iris-v3
        url: "http://127.0.0.1:2"
        rewrite:
          path_prefix: {from: /v2/models/iris/, to: /v2/models/iris-v3/}
          body: {set: {model: "iris-v3"}}
    compare: {format: kserve-v2}
`
	if err := os.WriteFile(path, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// rewriteRecords writes n records of requests to /v2/models/iris/infer naming the model iris, whose
// recorded primary answered outputs [i].
func rewriteRecords(t *testing.T, n int) string {
	t.Helper()
	var b []byte
	for i := range n {
		rec := &sink.Record{Schema: sink.Schema, ID: fmt.Sprint("req-", i), Time: time.Now().UTC(), Kind: sink.KindAgreement,
			Route: "iris", Candidate: "iris-v2", Weight: 1}
		rec.Request.Method, rec.Request.Path = "POST", "/v2/models/iris/infer"
		rec.Request.Headers = map[string]string{"Content-Type": "application/json"}
		rec.Request.Body = json.RawMessage(fmt.Sprintf(`{"model":"iris","inputs":[{"name":"x","datatype":"INT64","shape":[1],"data":[%d]}]}`, i))
		rec.PrimaryResponse.Status = 200
		rec.PrimaryResponse.Body = json.RawMessage(fmt.Sprintf(`{"outputs":[{"name":"y","datatype":"INT64","shape":[1],"data":[%d]}]}`, i))
		b = append(sink.Encode(b, rec), '\n')
	}
	path := filepath.Join(t.TempDir(), "records.jsonl")
	if err := os.WriteFile(path, b, 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// TestReplayAppliesTheCandidatesRewrite: records of requests to /v2/models/iris/infer naming the
// model iris, replayed to a candidate that only answers /v2/models/iris-v3/infer naming iris-v3
// (and answers the recorded primary's outputs but on every fourth request): with the configured
// candidate's rewrite, by its name or borrowed with -rewrite-like, every comparison is counted and
// none is an error; without a rewrite, every request is the candidate's error (404).
func TestReplayAppliesTheCandidatesRewrite(t *testing.T) {
	const n = 20
	cfg, records := rewriteConfig(t), rewriteRecords(t, n)
	url := proxytest.Serve(t, func(ctx *fasthttp.RequestCtx) {
		var req struct {
			Model  string `json:"model"`
			Inputs []struct {
				Data []int `json:"data"`
			} `json:"inputs"`
		}
		if string(ctx.Path()) != "/v2/models/iris-v3/infer" || json.Unmarshal(ctx.PostBody(), &req) != nil || req.Model != "iris-v3" || len(req.Inputs) != 1 || len(req.Inputs[0].Data) != 1 {
			ctx.SetStatusCode(fasthttp.StatusNotFound)
			return
		}
		x := req.Inputs[0].Data[0]
		if x%4 == 0 {
			x = -1 // a different answer
		}
		ctx.SetContentType("application/json")
		fmt.Fprintf(ctx, `{"outputs":[{"name":"y","datatype":"INT64","shape":[1],"data":[%d]}]}`, x)
	})
	for _, tt := range []struct {
		name string
		args []string
	}{
		{"its own", []string{"-candidate", "iris-v3=" + url}},
		{"-rewrite-like", []string{"-candidate", "iris-v4=" + url, "-rewrite-like", "iris-v3"}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			rep := runReplay(t, append([]string{"-config", cfg, "-records", records}, tt.args...)...)
			if rep.Comparisons["agree"] != n-n/4 || rep.Comparisons["disagree"] != n/4 || rep.Shadows["ok"] != n ||
				rep.Shadows["error"] != 0 || rep.Comparisons["candidate_error"] != 0 {
				t.Errorf("comparisons %v shadows %v, want %d agreements and %d disagreements", rep.Comparisons, rep.Shadows, n-n/4, n/4)
			}
		})
	}
	t.Run("without a rewrite", func(t *testing.T) {
		rep := runReplay(t, "-config", cfg, "-records", records, "-candidate", "iris-v4="+url)
		if rep.Comparisons["candidate_error"] != n || rep.Comparisons["agree"]+rep.Comparisons["disagree"] != 0 {
			t.Errorf("comparisons %v, want every request the candidate's error", rep.Comparisons)
		}
	})
	t.Run("-rewrite-like a candidate not configured", func(t *testing.T) {
		var out, errb bytes.Buffer
		err := run([]string{"replay", "-config", cfg, "-records", records, "-candidate", "iris-v4=" + url, "-rewrite-like", "iris-v9"}, &out, &errb)
		if err == nil || !bytes.Contains([]byte(err.Error()), []byte("iris-v9")) {
			t.Errorf("replay = %v, want an error naming iris-v9", err)
		}
	})
}
