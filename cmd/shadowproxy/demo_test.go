package main

import (
	"encoding/json"
	"math"
	"testing"

	"github.com/valyala/fasthttp"
)

// TestDemoTrafficHasTheStatedShare runs the demo's two models on the demo's inputs: the candidate
// answers differently on exactly floor(n*share) of the first n requests, for every n, so that the
// share the demo states is the share of its traffic, whatever the run's length.
func TestDemoTrafficHasTheStatedShare(t *testing.T) {
	primary := irisModel{version: "1"}
	for _, share := range []float64{0, 0.013, 0.05, 0.1, 0.5, 1} {
		candidate := irisModel{version: "2", disagree: share}
		differ := 0
		const n = 4000
		for i := range int64(n) {
			body := irisInput(i, share)
			if label(t, primary, body) != label(t, candidate, body) {
				differ++
			}
			if want := int(math.Floor(float64(i+1) * share)); differ != want {
				t.Fatalf("share %v: the candidate disagrees on %d of the first %d requests, want %d", share, differ, i+1, want)
			}
		}
	}
}

// label runs model m on one request body and returns the label it predicts.
func label(t *testing.T, m irisModel, body []byte) string {
	t.Helper()
	var ctx fasthttp.RequestCtx
	ctx.Request.Header.SetMethod("POST")
	ctx.Request.SetBody(body)
	m.handle(&ctx)
	if ctx.Response.StatusCode() != 200 {
		t.Fatalf("%s: %d %s", body, ctx.Response.StatusCode(), ctx.Response.Body())
	}
	var out struct {
		Predictions []struct{ Label string } `json:"predictions"`
	}
	if err := json.Unmarshal(ctx.Response.Body(), &out); err != nil || len(out.Predictions) != 1 {
		t.Fatalf("%s: %s: %v", body, ctx.Response.Body(), err)
	}
	return out.Predictions[0].Label
}
