package tee

import (
	"encoding/json"
	"strings"
	"time"

	"github.com/valyala/fasthttp"
	"google.golang.org/grpc/status"

	"github.com/shadowproxy/shadowproxy/compare"
	"github.com/shadowproxy/shadowproxy/proxy"
	"github.com/shadowproxy/shadowproxy/sink"
)

// maybeRecord writes a record for the comparison at the configured share, and keeps disagreements
// in the console's ring. resp is nil when the candidate did not answer (err says why).
func (c *candidate) maybeRecord(j *job, resp *fasthttp.Response, err error, res compare.Result, lat time.Duration, injected string) {
	var kind string
	var share float64
	switch res.Outcome {
	case compare.Agree:
		kind, share = sink.KindAgreement, c.record.Agreements
	case compare.Disagree, compare.Unparseable, compare.ShapeMismatch:
		kind, share = sink.KindDisagreement, c.record.Disagreements
	case compare.CandidateError:
		kind, share = sink.KindCandidateError, c.record.Disagreements
	default:
		return // a primary error says nothing about the candidate
	}
	write := c.sink != nil && chance(share)
	keep := kind != sink.KindAgreement && c.recent.wants(write, time.Now())
	if !write && !keep {
		return
	}
	var weight float64
	if share > 0 {
		weight = 1 / share
	}
	rec := c.buildRecord(j, resp, err, res, lat, kind, weight, injected)
	if keep {
		c.recent.add(rec)
	}
	if !write {
		return
	}
	switch kind {
	case sink.KindAgreement:
		c.stats.addRecorded(false, weight)
	case sink.KindDisagreement:
		c.stats.addRecorded(true, weight)
	}
	c.sink.Write(rec)
}

// buildRecord copies everything it keeps out of pooled memory: the sink may hold the record long after
// the job is reused.
func (c *candidate) buildRecord(j *job, resp *fasthttp.Response, err error, res compare.Result, lat time.Duration, kind string, weight float64, injected string) *sink.Record {
	req := &j.req
	max := c.maxBody
	rec := &sink.Record{
		Schema:    sink.Schema,
		ID:        string(j.id),
		Time:      j.start.UTC(),
		Kind:      kind,
		Route:     c.route,
		Candidate: c.name,
		Weight:    weight,
		Chaos:     injected,
	}
	rec.Request.Method = string(req.Header.Method())
	// The path as forwarded to the primary and the candidate, byte for byte (not normalised).
	rec.Request.Path = string(req.URI().PathOriginal())
	if rec.Request.Path == "" {
		rec.Request.Path = "/"
	}
	rec.Request.Query = c.redact.redactQuery(req.URI().QueryString())
	rec.Request.Headers = c.recordHeaders(j)
	reqBody := req.Body()
	if j.view {
		// The client's message as its JSON view; bytes that do not decode are kept (base64).
		if v, _, err := compare.GRPCView(rec.Request.Path, reqBody, false); err == nil {
			reqBody = v
		}
	}
	body, truncated := sink.Cap(c.redact.body(reqBody), max)
	rec.Request.Body, rec.Request.Truncated = sink.RequestBody(body), truncated

	p, _ := j.primary(c.maxBody)
	body, truncated = sink.Cap(c.redact.body(p.Body), max)
	rec.PrimaryResponse = sink.Response{
		Status:    p.Status,
		LatencyMS: ms(j.latency),
		Body:      sink.ResponseBody(body),
		Truncated: truncated,
	}
	if j.grpcStatus >= 0 {
		code := j.grpcStatus // a copy: the job is pooled
		rec.PrimaryResponse.GRPCStatus, rec.PrimaryResponse.GRPCMessage = &code, j.grpcMessage
	}
	rec.CandidateResponse.LatencyMS = ms(lat)
	if resp != nil {
		body, truncated = sink.Cap(c.redact.body(resp.Body()), max)
		rec.CandidateResponse.Status = resp.StatusCode()
		rec.CandidateResponse.Body = sink.ResponseBody(body)
		rec.CandidateResponse.Truncated = truncated
		if code, msg := grpcStatus(&resp.Header); code >= 0 {
			rec.CandidateResponse.GRPCStatus, rec.CandidateResponse.GRPCMessage = &code, msg
		}
	} else {
		rec.CandidateResponse.Body = json.RawMessage("null")
	}
	if err != nil && c.grpc != nil {
		code := int(status.Code(err))
		rec.CandidateResponse.GRPCStatus = &code
	}
	switch {
	case err != nil:
		rec.CandidateResponse.Error = err.Error()
	case res.Outcome != compare.Agree && res.Outcome != compare.Disagree && res.Reason != "":
		rec.CandidateResponse.Error = res.Outcome.String() + ": " + res.Reason
	}
	rec.Diff = make([]sink.Diff, 0, len(res.Diffs))
	for _, d := range res.Diffs {
		pv, cv := json.RawMessage(append([]byte(nil), d.Primary...)), json.RawMessage(append([]byte(nil), d.Candidate...))
		if c.redact.field(d.Path, d.Field) {
			pv, cv = c.redact.valueJSON(d.Primary), c.redact.valueJSON(d.Candidate)
		}
		rec.Diff = append(rec.Diff, sink.Diff{Path: d.Path, Primary: orNull(pv), Candidate: orNull(cv)})
	}
	return rec
}

// recordHeaders copies the request headers, redacting the configured ones and leaving out the
// shadow marker; the credential headers stripped from the shadow are put back, always redacted.
func (c *candidate) recordHeaders(j *job) map[string]string {
	req := &j.req
	h := make(map[string]string, req.Header.Len()+j.nstrip)
	for _, s := range j.stripped[:j.nstrip] {
		name := string(s.name)
		val := c.redact.value(s.value)
		if prev, ok := h[name]; ok {
			val = prev + ", " + val
		}
		h[name] = val
	}
	for k, v := range req.Header.All() {
		name := string(k)
		if strings.EqualFold(name, proxy.ShadowHeader) {
			continue
		}
		val := string(v)
		if c.redact.header(name) {
			val = c.redact.value(v)
		}
		if prev, ok := h[name]; ok {
			val = prev + ", " + val
		}
		h[name] = val
	}
	return h
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

func orNull(v json.RawMessage) json.RawMessage {
	if len(v) == 0 {
		return json.RawMessage("null")
	}
	return v
}
