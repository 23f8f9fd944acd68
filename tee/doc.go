// Package tee mirrors sampled client exchanges to candidate models, compares each candidate's answer
// with the primary's, counts the outcome and hands records to a sink.
//
// A Tee serves one route. Offer is called on the primary path: it decides per candidate whether to
// mirror (sampling, optionally sticky by a request key), copies the request and the primary's answer
// into a pooled job, and makes a non-blocking send on the candidate's bounded queue. A full queue drops
// the shadow and counts it; Offer never waits. A fixed pool of workers per candidate sends jobs with a
// dedicated fasthttp.HostClient and its own timeout, compares the answers with a compare.Comparator,
// updates the statistics shown on /status and writes records for disagreements, candidate errors and a
// sample of agreements, each with weight 1/share. A Recent, when given, keeps each candidate's latest
// disagreements (those records, bodies cut short) in a bounded ring for the console.
//
// Shadow requests carry no credentials (CredentialHeaders: Authorization, Cookie, API keys and
// tokens) unless Options.KeepHeaders names them; records redact them, and the credential query
// parameters (DefaultRedactQuery), by default.
//
// Every shadow ends in exactly one outcome of shadowproxy_shadow_requests_total: ok, error, timeout,
// dropped or sampled_out. Drops also carry a reason in shadowproxy_shadow_drops_total (queue_full,
// body_too_large, shutdown).
//
// A candidate whose URL is grpc:// or grpcs:// gets the unary gRPC exchanges of a proxy.GRPCServer
// through a gRPC client; both answers become JSON views (compare.GRPCView) before chaos, comparison
// and records, so paths and rules are those of the REST formats. A candidate's Rewrite edits its copy
// of each request (path prefix, JSON body or known gRPC request fields, headers) and is counted in
// shadowproxy_shadow_rewrites_total by result: ok, not_applicable or error.
//
// Close stops taking offers, lets the workers drain their queues until its context ends, counts what is
// left as dropped with reason shutdown, and waits for the workers.
//
// Truth, shared by the Tees of a process, joins ground-truth labels (arriving later, by request id)
// with the comparisons of a bounded window: for each request it keeps each candidate's judged values
// only, at most MaxPending requests for at most Window per route, and counts every label's outcome
// (joined, late, unknown, duplicate, malformed).
package tee
