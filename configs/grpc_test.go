package configs

import (
	"errors"
	"strings"
	"testing"
)

// grpcBase is a valid gRPC config: a gRPC route on line 3, its candidate on line 6.
const grpcBase = `grpc_listen: "127.0.0.1:8001"
routes:
  - name: infer
    primary: {url: "grpc://127.0.0.1:8011"}
    candidates:
      - name: v2
        url: "grpc://127.0.0.1:8012"
`

func TestGRPCAndRewriteConfig(t *testing.T) {
	tests := []struct {
		name string
		yaml string
		want []want
	}{
		{"a gRPC route", grpcBase, nil},
		{"grpcs and TLS", strings.Replace(grpcBase, `"grpc://127.0.0.1:8012"`, `"grpcs://127.0.0.1:8012"`, 1) +
			"        tls: {ca: ca.pem}\ngrpc_tls: {cert: c.pem, key: k.pem}\n", nil},
		{"a gRPC route without grpc_listen", strings.TrimPrefix(grpcBase, `grpc_listen: "127.0.0.1:8001"`+"\n"),
			[]want{{"3:20", "routes[0].primary.url: a grpc:// or grpcs:// primary makes this a gRPC route, served on grpc_listen only: set grpc_listen"}}},
		{"an HTTP candidate on a gRPC route", strings.Replace(grpcBase, `"grpc://127.0.0.1:8012"`, `"http://127.0.0.1:8012"`, 1),
			[]want{{"7:14", "routes[0].candidates[0].url: a gRPC route (its primary is grpc://127.0.0.1:8011) needs a grpc:// or grpcs:// URL here"}}},
		{"a gRPC candidate on an HTTP route", base + "    candidates:\n      - {name: c, url: \"grpc://127.0.0.1:1\"}\n",
			[]want{{"5:24", "routes[0].candidates[0].url: an HTTP route (its primary is http://127.0.0.1:8501) needs an http:// or https:// URL here"}}},
		{"tls on grpc://", grpcBase + "        tls: {ca: ca.pem}\n",
			[]want{{"8:14", "routes[0].candidates[0].tls: tls is set but the URL is grpc:// (cleartext); use grpcs://"}}},
		{"grpc_tls without its key", grpcBase + "grpc_tls: {cert: c.pem}\n", []want{{"8:11", "grpc_tls.key: the certificate's key (PEM file) is required"}}},
		{"grpc_tls without grpc_listen", base + "grpc_tls: {cert: c.pem, key: k.pem}\n", []want{{"4:11", "grpc_tls: grpc_tls is set but grpc_listen is not"}}},
		{"grpc_listen same as listen", "listen: 127.0.0.1:8080\n" + grpcBase[:len(`grpc_listen: "127.0.0.1:`)] + `8080"` + grpcBase[len(`grpc_listen: "127.0.0.1:8001"`):],
			[]want{{"2:14", "grpc_listen: must differ from listen"}}},
		{"a gRPC primary at grpc_listen", strings.Replace(grpcBase, `"grpc://127.0.0.1:8011"`, `"grpc://127.0.0.1:8001"`, 1),
			[]want{{"4:20", "routes[0].primary.url: grpc://127.0.0.1:8001 is this proxy's own grpc_listen address"}}},
		{"a method other than POST on a gRPC route", strings.Replace(grpcBase, "  - name: infer\n", "  - name: infer\n    match: {methods: [GET]}\n", 1),
			[]want{{"4:23", "routes[0].match.methods[0]: every gRPC call is a POST"}}},
		{"a streaming gRPC primary", strings.Replace(grpcBase, `"grpc://127.0.0.1:8011"}`, `"grpc://127.0.0.1:8011", stream: true}`, 1),
			[]want{{"4:53", "routes[0].primary.stream: a gRPC route proxies streaming calls as they are"}}},

		{"a rewrite", cand + `        url: http://127.0.0.1:8502
        rewrite:
          path_prefix: {from: /v2/models/iris/, to: /v2/models/iris-v2/}
          body: {set: {model: "llama-v2", "parameters.n": 2, "inputs[*].name": x}}
          headers: {set: {X-Model-Version: "2"}, remove: [X-Debug]}
`, nil},
		{"rewrite prefixes without /", cand + "        url: http://127.0.0.1:8502\n        rewrite: {path_prefix: {from: v2, to: v3}}\n",
			[]want{{"7:39", `routes[0].candidates[0].rewrite.path_prefix.from: "v2" must start with /`}, {"7:47", `rewrite.path_prefix.to: "v3" must start with /`}}},
		{"a bad body path", cand + "        url: http://127.0.0.1:8502\n        rewrite: {body: {set: {\"a..b\": 1}}}\n",
			[]want{{"7:40", `routes[0].candidates[0].rewrite.body.set.a..b: bad path "a..b"`}}},
		{"a body path ending in an index", cand + "        url: http://127.0.0.1:8502\n        rewrite: {body: {set: {\"a[0]\": 1}}}\n",
			[]want{{"7:40", `a path to set ends in a key`}}},
		{"a bad header name", cand + "        url: http://127.0.0.1:8502\n        rewrite: {headers: {remove: [\"X Debug\"]}}\n",
			[]want{{"7:38", `routes[0].candidates[0].rewrite.headers.remove[0]: bad header name "X Debug"`}}},
		{"a gRPC body.set that is not text", grpcBase + "        rewrite: {body: {set: {model_name: 2}}}\n",
			[]want{{"8:44", "routes[0].candidates[0].rewrite.body.set.model_name: on a gRPC route body.set sets fields of the request message to text"}}},
	}
	checks := Checks{BodyPath: func(p string) error {
		// The check cmd wires in is compare.CheckSetPath; configs imports nothing of the project,
		// so the test uses the same grammar's two cases it exercises.
		switch {
		case strings.Contains(p, ".."):
			return errors.New(`bad path "` + p + `": empty key`)
		case strings.HasSuffix(p, "]"):
			return errors.New(`bad path "` + p + `": a path to set ends in a key`)
		}
		return nil
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := checks.Parse("t.yaml", []byte(tt.yaml))
			if tt.want == nil {
				if err != nil {
					t.Fatalf("unexpected error:\n%v", err)
				}
				checkRoundTrip(t, c)
				return
			}
			var es Errors
			if !errors.As(err, &es) {
				t.Fatalf("error %v, want Errors", err)
			}
			if len(es) != len(tt.want) {
				t.Fatalf("got %d errors, want %d:\n%v", len(es), len(tt.want), err)
			}
			for i, w := range tt.want {
				got := es[i].Error()
				if prefix := "t.yaml:" + w.pos + ": "; !strings.HasPrefix(got, prefix) || !strings.Contains(got, w.msg) {
					t.Errorf("error %d = %q\nwant prefix %q and %q", i, got, prefix, w.msg)
				}
			}
		})
	}
}
