package tee

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"sort"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/valyala/fasthttp"

	"github.com/shadowproxy/shadowproxy/compare"
)

// Rewrite edits the copy of a request that one candidate gets (a candidate under another path or
// model name). The primary and the records keep the client's request. A rewrite that cannot apply
// to a request sends it unchanged; each rewrite is counted in shadowproxy_shadow_rewrites_total by
// result: ok, not_applicable (the path lacks the prefix, or the gRPC method's messages are not
// known) or error (the body is not JSON, lacks the path's parent, or the message does not decode).
// The zero value rewrites nothing.
type Rewrite struct {
	// PathFrom, when set, must start the path; it is replaced by PathTo. For gRPC the path is the
	// full method.
	PathFrom, PathTo string
	// BodySet maps paths (compare's syntax, see compare.SetJSON) to JSON values set in a JSON body.
	// For gRPC the paths name fields of the method's request message (compare.GRPCSet) and the
	// values must be JSON strings.
	BodySet map[string][]byte
	// SetHeaders are set (for gRPC: metadata), after RemoveHeaders are removed.
	SetHeaders    map[string]string
	RemoveHeaders []string
}

func (rw *Rewrite) empty() bool {
	return rw == nil || (rw.PathFrom == "" && len(rw.BodySet) == 0 && len(rw.SetHeaders) == 0 && len(rw.RemoveHeaders) == 0)
}

// Rewrite results (the result label of shadowproxy_shadow_rewrites_total).
const (
	rewriteOK = iota
	rewriteNotApplicable
	rewriteError
	numRewriteResults
)

var rewriteLabels = [numRewriteResults]string{"ok", "not_applicable", "error"}

// Rewriter is a Rewrite compiled: what a candidate of the tee applies to its copy of each request,
// and what `shadowproxy replay` applies to the requests it replays to a candidate.
type Rewriter struct {
	from, to []byte
	paths    []string // BodySet's keys, sorted: the same request is rewritten the same way
	values   [][]byte
	grpcSet  map[string]string
	set      [][2]string
	remove   []string
}

// NewRewriter compiles rw for a candidate (of gRPC when isGRPC: the body paths name fields of the
// method's request message). An empty rw compiles to nil: nothing to rewrite.
func NewRewriter(rw *Rewrite, isGRPC bool) (*Rewriter, error) {
	if rw.empty() {
		return nil, nil
	}
	r := &Rewriter{remove: rw.RemoveHeaders}
	if rw.PathFrom != "" {
		r.from, r.to = []byte(rw.PathFrom), []byte(rw.PathTo)
	}
	for p := range rw.BodySet {
		if err := compare.CheckSetPath(p); err != nil {
			return nil, fmt.Errorf("rewrite.body.set: %w", err)
		}
		r.paths = append(r.paths, p)
	}
	sort.Strings(r.paths)
	for _, p := range r.paths {
		v := rw.BodySet[p]
		if !json.Valid(v) {
			return nil, fmt.Errorf("rewrite.body.set.%s: not a JSON value", p)
		}
		r.values = append(r.values, v)
	}
	if isGRPC && len(r.paths) > 0 {
		r.grpcSet = make(map[string]string, len(r.paths))
		for i, p := range r.paths {
			var s string
			if err := json.Unmarshal(r.values[i], &s); err != nil {
				return nil, fmt.Errorf("rewrite.body.set.%s: a gRPC message field is set to a string", p)
			}
			r.grpcSet[p] = s
		}
	}
	for k, v := range rw.SetHeaders {
		r.set = append(r.set, [2]string{k, v})
	}
	sort.Slice(r.set, func(i, j int) bool { return r.set[i][0] < r.set[j][0] })
	return r, nil
}

// Apply rewrites req, a copy the caller owns. On an error (the rewrite does not apply to req, or
// fails) req is left half-rewritten: the caller sends the original instead, as the tee does.
func (r *Rewriter) Apply(req *fasthttp.Request) error {
	_, err := r.rewrite(req)
	return err
}

// rewriter is a candidate's Rewriter, counting each result in shadowproxy_shadow_rewrites_total.
type rewriter struct {
	*Rewriter
	counts [numRewriteResults]prometheus.Counter
}

func newRewriter(rw *Rewrite, isGRPC bool, counts *prometheus.CounterVec, route, cand string) (*rewriter, error) {
	c, err := NewRewriter(rw, isGRPC)
	if c == nil || err != nil {
		return nil, err
	}
	r := &rewriter{Rewriter: c}
	for i, l := range rewriteLabels {
		r.counts[i] = counts.WithLabelValues(route, cand, l)
	}
	return r, nil
}

var errNoPrefix = errors.New("the path does not start with rewrite.path_prefix.from")

// apply is Apply, with the result counted.
func (r *rewriter) apply(req *fasthttp.Request) error {
	res, err := r.rewrite(req)
	r.counts[res].Inc()
	return err
}

func (r *Rewriter) rewrite(req *fasthttp.Request) (int, error) {
	if r.from != nil {
		path := req.URI().Path()
		if !bytes.HasPrefix(path, r.from) {
			return rewriteNotApplicable, errNoPrefix
		}
		np := append(append([]byte(nil), r.to...), path[len(r.from):]...)
		req.URI().SetPathBytes(np)
	}
	if len(r.paths) > 0 {
		if r.grpcSet != nil {
			method := string(req.URI().Path())
			if r.from != nil { // the message is the one of the client's method
				method = string(r.from) + method[len(r.to):]
			}
			body, err := compare.GRPCSet(method, req.Body(), r.grpcSet)
			if errors.Is(err, compare.ErrUnknownMethod) {
				return rewriteNotApplicable, err
			}
			if err != nil {
				return rewriteError, err
			}
			req.SetBodyRaw(body)
		} else {
			body := req.Body()
			for i, p := range r.paths {
				nb, err := compare.SetJSON(body, p, r.values[i])
				if err != nil {
					return rewriteError, err
				}
				body = nb
			}
			req.SetBodyRaw(body)
		}
	}
	for _, h := range r.remove {
		req.Header.Del(h)
	}
	for _, kv := range r.set {
		req.Header.Set(kv[0], kv[1])
	}
	return rewriteOK, nil
}
