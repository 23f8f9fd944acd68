package tee

import (
	"bytes"
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
// the job is reused. The record's strings (its id, method, path, header names and values) share one
// allocation, and so do its diff values: they live as long as the record.
func (c *candidate) buildRecord(j *job, resp *fasthttp.Response, err error, res compare.Result, lat time.Duration, kind string, weight float64, injected string) *sink.Record {
	req := &j.req
	max := c.maxBody
	var small [16]recordHeader
	hs, size := c.recordHeaders(j, small[:0])
	// The path as forwarded to the primary and the candidate, byte for byte (not normalised).
	method, path := req.Header.Method(), req.URI().PathOriginal()
	var strs strings.Builder
	strs.Grow(len(j.id) + len(method) + len(path) + size)
	rec := &sink.Record{
		Schema:    sink.Schema,
		ID:        cut(&strs, j.id),
		Time:      j.start.UTC(),
		Kind:      kind,
		Route:     c.route,
		Candidate: c.name,
		Weight:    weight,
		Chaos:     injected,
	}
	rec.Request.Method = cut(&strs, method)
	rec.Request.Path = cut(&strs, path)
	if rec.Request.Path == "" {
		rec.Request.Path = "/"
	}
	rec.Request.Headers = collectHeaders(hs, &strs)
	rec.Request.Query = c.redact.redactQuery(req.URI().QueryString())
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
			code := code // only a gRPC answer's code goes to the heap
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
	n := 0
	for _, d := range res.Diffs {
		n += len(d.Primary) + len(d.Candidate)
	}
	vals := make([]byte, 0, n) // every diff value, each cut to its length: none can grow into the next
	value := func(v []byte) json.RawMessage {
		start := len(vals)
		vals = append(vals, v...)
		return vals[start:len(vals):len(vals)]
	}
	for _, d := range res.Diffs {
		var pv, cv json.RawMessage
		if c.redact.field(d.Path, d.Field) {
			pv, cv = c.redact.valueJSON(d.Primary), c.redact.valueJSON(d.Candidate)
		} else {
			pv, cv = value(d.Primary), value(d.Candidate)
		}
		rec.Diff = append(rec.Diff, sink.Diff{Path: d.Path, Primary: orNull(pv), Candidate: orNull(cv)})
	}
	return rec
}

// cut appends b to strs and returns it as a string that shares strs's allocation. strings.Builder
// never changes the bytes it has written, so the string stays valid as strs grows.
func cut(strs *strings.Builder, b []byte) string {
	start := strs.Len()
	strs.Write(b)
	return strs.String()[start:]
}

// recordHeader is one request header a record keeps, its bytes still in the job until
// collectHeaders copies them into the record.
type recordHeader struct {
	name, value []byte
	// redacted replaces value when set.
	redacted string
}

// recordHeaders appends to hs the request headers a record keeps, redacting the configured ones
// and leaving out the shadow marker; the credential headers stripped from the shadow are put back,
// always redacted, first. It returns hs and the bytes of every name and value.
func (c *candidate) recordHeaders(j *job, hs []recordHeader) ([]recordHeader, int) {
	size := 0
	add := func(name, value []byte, redacted string) {
		hs = append(hs, recordHeader{name: name, value: value, redacted: redacted})
		size += len(name) + len(value) + len(redacted)
	}
	for _, s := range j.stripped[:j.nstrip] {
		add(s.name, nil, c.redact.value(s.value))
	}
	for k, v := range j.req.Header.All() {
		switch {
		case bytes.EqualFold(k, []byte(proxy.ShadowHeader)):
		case c.redact.header(k):
			add(k, nil, c.redact.value(v))
		default:
			add(k, v, "")
		}
	}
	return hs, size
}

// collectHeaders returns hs as a map whose strings share strs's allocation; a header sent more
// than once has its values joined with ", ".
func collectHeaders(hs []recordHeader, strs *strings.Builder) map[string]string {
	h := make(map[string]string, len(hs))
	for _, e := range hs {
		name, val := cut(strs, e.name), e.redacted
		if val == "" {
			val = cut(strs, e.value)
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
