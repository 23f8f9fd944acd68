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

// rewriter is a Rewrite compiled for one candidate.
type rewriter struct {
	from, to []byte
	paths    []string // BodySet's keys, sorted: the same request is rewritten the same way
	values   [][]byte
	grpcSet  map[string]string
	set      [][2]string
	remove   []string
	counts   [numRewriteResults]prometheus.Counter
}

func newRewriter(rw *Rewrite, isGRPC bool, counts *prometheus.CounterVec, route, cand string) (*rewriter, error) {
	if rw.empty() {
		return nil, nil
	}
	r := &rewriter{remove: rw.RemoveHeaders}
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
	for i, l := range rewriteLabels {
		r.counts[i] = counts.WithLabelValues(route, cand, l)
	}
	return r, nil
}

var errNoPrefix = errors.New("the path does not start with rewrite.path_prefix.from")

// apply rewrites req, a copy the caller owns. On a failure req is left half-rewritten and the
// caller sends the original instead; the result is counted either way.
func (r *rewriter) apply(req *fasthttp.Request) error {
	res, err := r.rewrite(req)
	r.counts[res].Inc()
	return err
}

func (r *rewriter) rewrite(req *fasthttp.Request) (int, error) {
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
