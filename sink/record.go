package sink

import (
	"context"
	"encoding/json"
	"time"
)

// Schema is the value of Record.Schema.
const Schema = "shadowproxy.record/v1"

// Record kinds.
const (
	KindDisagreement   = "disagreement"
	KindAgreement      = "agreement"
	KindCandidateError = "candidate_error"
)

// Record is one comparison written to the sinks (the JSON contract of docs/design.md). A Record handed to a
// Sink must not be changed afterwards, and its byte slices must not come from a pool.
type Record struct {
	Schema            string    `json:"schema"`
	ID                string    `json:"id"`
	Time              time.Time `json:"time"`
	Kind              string    `json:"kind"`
	Route             string    `json:"route"`
	Candidate         string    `json:"candidate"`
	Weight            float64   `json:"weight"`
	Request           Request   `json:"request"`
	PrimaryResponse   Response  `json:"primary_response"`
	CandidateResponse Response  `json:"candidate_response"`
	Diff              []Diff    `json:"diff"`
	// Chaos is set when chaos injection changed the candidate's answer.
	Chaos string `json:"chaos,omitempty"`
}

// Request is the client request as mirrored.
type Request struct {
	Method    string            `json:"method"`
	Path      string            `json:"path"`
	Query     string            `json:"query"`
	Headers   map[string]string `json:"headers"`
	Body      json.RawMessage   `json:"body"`
	Truncated bool              `json:"truncated"`
}

// Response is one model's answer.
type Response struct {
	Status    int             `json:"status"`
	LatencyMS float64         `json:"latency_ms"`
	Body      json.RawMessage `json:"body"`
	Truncated bool            `json:"truncated,omitempty"`
	Error     string          `json:"error,omitempty"`
	// GRPCStatus and GRPCMessage are a gRPC answer's status code and message (Status is then the
	// HTTP status meaning the same); nil for HTTP answers.
	GRPCStatus  *int   `json:"grpc_status,omitempty"`
	GRPCMessage string `json:"grpc_message,omitempty"`
}

// Diff is one differing field with both values as JSON.
type Diff struct {
	Path      string          `json:"path"`
	Primary   json.RawMessage `json:"primary"`
	Candidate json.RawMessage `json:"candidate"`
}

// Sink receives records. Write never blocks: a record the sink cannot take is dropped and counted.
// Close flushes what is buffered until ctx ends, then releases resources.
type Sink interface {
	Write(rec *Record)
	Close(ctx context.Context) error
}
