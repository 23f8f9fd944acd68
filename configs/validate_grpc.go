package configs

import (
	"encoding/json"
	"fmt"
	"strings"
)

// isGRPC reports whether an upstream URL is a gRPC one.
func isGRPC(url string) bool {
	return strings.HasPrefix(url, "grpc://") || strings.HasPrefix(url, "grpcs://")
}

// IsGRPCRoute reports whether a route is a gRPC route: its primary is a grpc:// or grpcs:// URL. A
// gRPC route serves on grpc_listen only, an HTTP route on listen only.
func IsGRPCRoute(r *Route) bool { return isGRPC(r.Primary.URL) }

// grpcListener checks grpc_listen and grpc_tls.
func (v *validator) grpcListener(c *Config) {
	if c.GRPCListen != "" {
		v.address("grpc_listen", c.GRPCListen, true)
		if !strings.HasSuffix(c.GRPCListen, ":0") && (c.GRPCListen == c.Listen || c.GRPCListen == c.Admin) {
			v.errorf("grpc_listen", "must differ from listen (%s) and admin (%s)", c.Listen, c.Admin)
		}
	}
	if t := c.GRPCTLS; t != nil {
		if c.GRPCListen == "" {
			v.errorf("grpc_tls", "grpc_tls is set but grpc_listen is not")
		}
		if t.Cert == "" {
			v.errorf("grpc_tls.cert", "a certificate (PEM file) is required")
		}
		if t.Key == "" {
			v.errorf("grpc_tls.key", "the certificate's key (PEM file) is required")
		}
	}
}

// grpcRoute checks that a route's upstreams are all gRPC or all HTTP, and what only an HTTP route has.
func (v *validator) grpcRoute(c *Config, r *Route, f string) {
	if r.Primary.URL == "" {
		return
	}
	g := IsGRPCRoute(r)
	kind := func(url string) string {
		if g {
			return "a gRPC route (its primary is " + r.Primary.URL + ") needs a grpc:// or grpcs:// URL here, not " + url
		}
		return "an HTTP route (its primary is " + r.Primary.URL + ") needs an http:// or https:// URL here, not " + url
	}
	if g && c.GRPCListen == "" {
		v.errorf(f+".primary.url", "a grpc:// or grpcs:// primary makes this a gRPC route, served on grpc_listen only: set grpc_listen (e.g. \"0.0.0.0:8001\")")
	}
	if g && r.Primary.Stream {
		v.errorf(f+".primary.stream", "a gRPC route proxies streaming calls as they are: stream is for HTTP routes")
	}
	if g {
		for i, m := range r.Match.Methods {
			if m != "POST" {
				v.errorf(fmt.Sprintf("%s.match.methods[%d]", f, i), "every gRPC call is a POST: %s matches nothing on a gRPC route", m)
			}
		}
	}
	if s := r.Secondary; s != nil && s.URL != "" && isGRPC(s.URL) != g {
		v.errorf(f+".secondary.url", "%s", kind(s.URL))
	}
	for i := range r.Candidates {
		cd := &r.Candidates[i]
		cf := fmt.Sprintf("%s.candidates[%d]", f, i)
		if cd.URL != "" && isGRPC(cd.URL) != g {
			v.errorf(cf+".url", "%s", kind(cd.URL))
		}
		if rw := cd.Rewrite; g && rw != nil {
			for p, val := range rw.Body.Set {
				var s string
				if json.Unmarshal(val, &s) != nil {
					v.errorf(cf+".rewrite.body.set."+p, "on a gRPC route body.set sets fields of the request message to text: %s is not text", val)
				}
			}
		}
	}
}

// rewrite checks a candidate's rewrite.
func (v *validator) rewrite(rw *Rewrite, f string) {
	if p := rw.PathPrefix; p != nil {
		if !strings.HasPrefix(p.From, "/") {
			v.errorf(f+".path_prefix.from", "%q must start with /", p.From)
		}
		if !strings.HasPrefix(p.To, "/") {
			v.errorf(f+".path_prefix.to", "%q must start with /", p.To)
		}
	}
	for p := range rw.Body.Set {
		switch {
		case strings.TrimSpace(p) == "":
			v.errorf(f+".body.set", "empty path")
		case v.checks.BodyPath != nil:
			if err := v.checks.BodyPath(p); err != nil {
				v.errorf(f+".body.set."+p, "%v", err)
			}
		}
	}
	for k := range rw.Headers.Set {
		if !tokenRE.MatchString(k) {
			v.errorf(f+".headers.set."+k, "bad header name %q", k)
		}
	}
	for i, h := range rw.Headers.Remove {
		if !tokenRE.MatchString(h) {
			v.errorf(fmt.Sprintf("%s.headers.remove[%d]", f, i), "bad header name %q", h)
		}
	}
}
