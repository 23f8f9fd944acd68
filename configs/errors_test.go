package configs

import (
	"errors"
	"fmt"
	"runtime"
	"strings"
	"testing"
	"time"
)

// base is a valid config of three lines; cases append to it. Line 4 is the first line they add.
const base = `routes:
  - name: iris
    primary: {url: "http://127.0.0.1:8501"}
`

// cand is base with a candidate named c on line 5; cases add its fields from line 6, indented by 8.
const cand = base + `    candidates:
      - name: c
`

type want struct {
	pos string // "line:column", or "line" for YAML syntax errors
	msg string // a substring of the message, field included
}

func TestParseErrors(t *testing.T) {
	tests := []struct {
		name string
		yaml string
		want []want
	}{
		// Shape of the file.
		{"empty file", "", []want{{"1:1", "empty config"}}},
		{"only comments", "# nothing\n\n", []want{{"1:1", "empty config"}}},
		{"null document", "~\n", []want{{"1:1", "empty config"}}},
		{"not a mapping", "- a\n- b\n", []want{{"1:1", "a config is a mapping"}}},
		{"syntax error", "routes:\n  - name: [a\n", []want{{"2", "YAML syntax: did not find expected ',' or ']'"}}},
		{"tab indentation", "listen: x\n\tadmin: y\n", []want{{"2", "YAML syntax: found a tab character that violates indentation"}}},
		{"second document", base + "---\nlisten: x\n", []want{{"4:1", "a second YAML document"}}},
		{"duplicate key", base + "listen: 127.0.0.1:1\nlisten: 127.0.0.1:2\n", []want{{"5:1", `listen: given twice (first at line 4)`}}},

		// Unknown fields, with their position and a suggestion for typos.
		{"unknown top-level field", base + "lgo: {level: info}\n", []want{{"4:1", `unknown field "lgo" (did you mean "log"?)`}}},
		{"unknown field without suggestion", base + "frobnicate: 1\n", []want{{"4:1", `unknown field "frobnicate"`}}},
		{"unknown nested field", cand + "        url: http://127.0.0.1:8502\n        timout: 5s\n",
			[]want{{"7:9", `routes[0].candidates[0]: unknown field "timout" (did you mean "timeout"?)`}}},
		{"unknown field in flow mapping", "log: {level: info, formt: json}\n" + base,
			[]want{{"1:20", `log: unknown field "formt" (did you mean "format"?)`}}},

		// Types.
		{"text where a list belongs", "routes:\n  - name: iris\n    primary: {url: \"http://127.0.0.1:8501\"}\n    match: {methods: POST}\n",
			[]want{{"4:22", `routes[0].match.methods: expected a list, got "POST"`}}},
		{"mapping where text belongs", base + "listen: {a: b}\n", []want{{"4:9", "listen: expected text, got a mapping"}}},
		{"text where an integer belongs", cand + "        url: http://127.0.0.1:8502\n        queue: many\n",
			[]want{{"7:16", `routes[0].candidates[0].queue: expected an integer, got "many"`}}},
		{"bool written as yes", base + "pprof: yes\n", []want{{"4:8", `pprof: expected true or false, got "yes"`}}},
		{"routes as a mapping", "routes: {name: iris}\n", []want{{"1:9", "routes: expected a list, got a mapping"}}},
		{"infinite float", base + "    compare: {tolerance: {abs: .inf}}\n", []want{{"4:32", "routes[0].compare.tolerance.abs: expected a finite number"}}},

		// Required parts.
		{"no routes", "listen: 127.0.0.1:8080\n", []want{{"1:1", "routes: at least one route is required"}}},
		{"empty routes", "routes: []\n", []want{{"1:9", "routes: at least one route is required"}}},
		{"missing primary", "routes:\n  - name: iris\n    match: {path_prefix: /}\n", []want{{"2:5", "routes[0]: primary is required"}}},
		{"primary without url", "routes:\n  - name: iris\n    primary: {timeout: 1s}\n", []want{{"3:14", "routes[0].primary.url: the primary's url is required"}}},
		{"route without name", "routes:\n  - primary: {url: \"http://127.0.0.1:8501\"}\n", []want{{"2:5", "routes[0].name: a route name is required"}}},
		{"candidate without url", cand, []want{{"5:9", "routes[0].candidates[0].url: url is required"}}},

		// URLs.
		{"url scheme", cand + "        url: ftp://127.0.0.1:21\n", []want{{"6:14", `routes[0].candidates[0].url: bad URL "ftp://127.0.0.1:21": the scheme must be http or https`}}},
		// Upstreams that are the proxy's own listeners: requests would loop.
		{"primary is the listen address", "listen: 127.0.0.1:8080\nroutes:\n  - name: iris\n    primary: {url: \"http://127.0.0.1:8080\"}\n",
			[]want{{"4:20", `routes[0].primary.url: http://127.0.0.1:8080 is this proxy's own listen address (127.0.0.1:8080)`}}},
		{"primary on localhost, listen on all interfaces", "listen: 0.0.0.0:8080\nroutes:\n  - name: iris\n    primary: {url: \"http://localhost:8080\"}\n",
			[]want{{"4:20", `routes[0].primary.url: http://localhost:8080 is this proxy's own listen address`}}},
		{"candidate on loopback, listen on all interfaces", "listen: \":8080\"\n" + cand + "        url: http://127.0.0.1:8080\n",
			[]want{{"7:14", `routes[0].candidates[0].url: http://127.0.0.1:8080 is this proxy's own listen address`}}},
		{"candidate is the admin address", cand + "        url: http://[::1]:9901\nadmin: \"[::1]:9901\"\n",
			[]want{{"6:14", `routes[0].candidates[0].url: http://[::1]:9901 is this proxy's own admin address`}}},
		{"secondary on the default port of http", "listen: 0.0.0.0:80\n" + base + "    secondary: {url: \"http://127.0.0.1\"}\n",
			[]want{{"5:22", `routes[0].secondary.url: http://127.0.0.1 is this proxy's own listen address`}}},
		{"url without scheme", "routes:\n  - name: iris\n    primary: {url: \"127.0.0.1:8501\"}\n", []want{{"3:20", `routes[0].primary.url: bad URL "127.0.0.1:8501": want http://host:port`}}},
		{"url without host", cand + "        url: http:///predict\n", []want{{"6:14", "want http://host:port"}}},
		{"url port out of range", cand + "        url: http://127.0.0.1:99999\n", []want{{"6:14", "port 99999 is outside 1-65535"}}},
		{"url bad port", cand + "        url: http://127.0.0.1:http\n", []want{{"6:14", `bad URL "http://127.0.0.1:http": invalid port`}}},
		{"url with credentials", cand + "        url: http://user:pw@127.0.0.1:8502\n", []want{{"6:14", "credentials do not belong in a URL"}}},

		{"url with a path", cand + "        url: http://127.0.0.1:8502/v1/models\n", []want{{"6:14", "give only the scheme, host and port"}}},
		{"url with a query", cand + "        url: http://127.0.0.1:8502?a=b\n", []want{{"6:14", "give only the scheme, host and port"}}},
		{"url without port is fine", cand + "        url: https://models.example.com/\n", nil},
		{"tls on an http url", cand + "        url: http://127.0.0.1:8502\n        tls: {ca: ca.pem}\n", []want{{"7:14", "routes[0].candidates[0].tls: tls is set but the URL is http://"}}},
		{"secondary bad url", base + "    secondary: {url: \"http//127.0.0.1:8503\"}\n", []want{{"4:22", `routes[0].secondary.url: bad URL "http//127.0.0.1:8503"`}}},

		// Percentages.
		{"sample above 100%", cand + "        url: http://127.0.0.1:8502\n        sample: 150%\n", []want{{"7:17", "routes[0].candidates[0].sample: percentage 150% is outside 0-100%"}}},
		{"sample below 0%", cand + "        url: http://127.0.0.1:8502\n        sample: -5%\n", []want{{"7:17", "percentage -5% is outside 0-100%"}}},
		{"sample bare integer", cand + "        url: http://127.0.0.1:8502\n        sample: 1\n",
			[]want{{"7:17", `routes[0].candidates[0].sample: bare number 1 is ambiguous (1 could mean 1% or 100%)`}}},
		{"sample bare quoted number", cand + "        url: http://127.0.0.1:8502\n        sample: \"50\"\n", []want{{"7:17", `bare number 50: shares are written as percentages, since a bare 1 could mean 1% or 100%; write "50%"`}}},
		{"agreements bare float", base + "    record: {agreements: 0.5}\n", []want{{"4:26", "routes[0].record.agreements: bare number 0.5 is ambiguous (0.5 could mean 0.5% or 50%)"}}},
		{"percentage not a number", base + "    record: {disagreements: lots%}\n", []want{{"4:29", `bad percentage "lots%"`}}},
		{"noise above 100%", base + "    compare: {noise: {relative: 101%}}\n", []want{{"4:33", "routes[0].compare.noise.relative: percentage 101% is outside 0-100%"}}},

		// Names.
		{"duplicate route names", base + "  - name: iris\n    primary: {url: \"http://127.0.0.1:8503\"}\n",
			[]want{{"4:11", `routes[1].name: duplicate route name "iris" (also at line 2)`}}},
		{"duplicate candidate names", cand + "        url: http://127.0.0.1:8502\n      - {name: c, url: \"http://127.0.0.1:8503\"}\n",
			[]want{{"7:16", `routes[0].candidates[1].name: duplicate candidate name "c" (also at line 5)`}}},
		{"same candidate name in two routes is fine", cand + "        url: http://127.0.0.1:8502\n  - name: other\n    primary: {url: \"http://127.0.0.1:8503\"}\n    candidates: [{name: c, url: \"http://127.0.0.1:8504\"}]\n", nil},

		// Sizes.
		{"size with unknown unit", base + "max_request_body: 16Mb\n", []want{{"4:19", `max_request_body: bad size "16Mb"`}}},
		{"size with trailing junk", base + "max_request_body: 16MiB5\n", []want{{"4:19", `bad size "16MiB5"`}}},
		{"negative size", base + "max_request_body: -1\n", []want{{"4:19", "size -1 must not be negative"}}},
		{"size too large", base + "max_request_body: 100000000TiB\n", []want{{"4:19", "is too large"}}},
		{"integer size too large", base + "max_request_body: 99999999999999999999\n", []want{{"4:19", `size "99999999999999999999" is too large`}}},
		{"size as a list", base + "    record: {max_body: [1]}\n", []want{{"4:24", "routes[0].record.max_body: expected a size"}}},

		// Durations.
		{"duration without unit", base + "shutdown_timeout: 15\n", []want{{"4:19", `shutdown_timeout: bad duration "15": want Go syntax such as 250ms, 2s or 1m30s`}}},
		{"duration in words", base + "shutdown_timeout: 15 seconds\n", []want{{"4:19", `bad duration "15 seconds"`}}},
		{"negative duration", cand + "        url: http://127.0.0.1:8502\n        timeout: -1s\n", []want{{"7:18", `routes[0].candidates[0].timeout: duration "-1s" must not be negative`}}},

		// Numbers.
		{"negative concurrency", cand + "        url: http://127.0.0.1:8502\n        concurrency: -1\n", []want{{"7:22", "routes[0].candidates[0].concurrency: -1 must not be negative"}}},
		{"negative queue", cand + "        url: http://127.0.0.1:8502\n        queue: -10\n", []want{{"7:16", "routes[0].candidates[0].queue: -10 must not be negative"}}},
		{"idle_timeout too short", "routes:\n  - name: iris\n    primary: {url: \"http://127.0.0.1:8501\", idle_timeout: 10us}\n", []want{{"3:59", "routes[0].primary.idle_timeout: 10µs is out of range: want 1ms to 1h"}}},
		{"candidate idle_timeout too long", cand + "        url: http://127.0.0.1:8502\n        idle_timeout: 2h\n", []want{{"7:23", "routes[0].candidates[0].idle_timeout: 2h0m0s is out of range"}}},
		{"negative max_conns", "routes:\n  - name: iris\n    primary: {url: \"http://127.0.0.1:8501\", max_conns: -1}\n", []want{{"3:56", "routes[0].primary.max_conns: -1 must not be negative"}}},
		{"negative tolerance", base + "    compare: {tolerance: {rel: -0.1}}\n", []want{{"4:32", "routes[0].compare.tolerance.rel: -0.1 must not be negative"}}},

		// Compare.
		{"unknown format", base + "    compare: {format: protobuf}\n", []want{{"4:23", `routes[0].compare.format: unknown value "protobuf": want one of auto, json`}}},
		{"unknown rule mode", base + "    compare: {rules: [{path: a, mode: argmaxx}]}\n", []want{{"4:39", `routes[0].compare.rules[0].mode: unknown value "argmaxx"`}}},
		{"rule without mode", base + "    compare: {rules: [{path: a}]}\n", []want{{"4:23", "routes[0].compare.rules[0].mode: a rule needs a mode"}}},
		{"rule without path", base + "    compare: {rules: [{mode: argmax}]}\n", []want{{"4:23", "routes[0].compare.rules[0].path: a rule needs a path"}}},
		{"rule setting for another mode", base + "    compare: {rules: [{path: a, mode: argmax, k: 3}]}\n", []want{{"4:50", "routes[0].compare.rules[0].k: applies only to mode topk, not argmax"}}},
		{"cosine similarity out of range", base + "    compare: {rules: [{path: a, mode: cosine, min_similarity: 2}]}\n", []want{{"4:63", "min_similarity: 2 is outside -1 to 1"}}},

		// Match.
		{"path prefix without slash", base + "    match: {path_prefix: v1/models}\n", []want{{"4:26", `routes[0].match.path_prefix: "v1/models" must start with /`}}},
		{"lower-case method", base + "    match: {methods: [POST, get]}\n", []want{{"4:29", `routes[0].match.methods[1]: bad method "get"`}}},

		// sticky_key.
		{"sticky key unknown source", cand + "        url: http://127.0.0.1:8502\n        sticky_key: body:user\n", []want{{"7:21", `bad sticky_key "body:user": want header:NAME, cookie:NAME or query:NAME`}}},
		{"sticky key without name", cand + "        url: http://127.0.0.1:8502\n        sticky_key: \"header:\"\n", []want{{"7:21", `routes[0].candidates[0].sticky_key: bad sticky_key "header:"`}}},
		{"sticky key with a bad header name", cand + "        url: http://127.0.0.1:8502\n        sticky_key: \"header:X User\"\n", []want{{"7:21", `bad sticky_key "header:X User"`}}},
		{"sticky key on a cookie is fine", cand + "        url: http://127.0.0.1:8502\n        sticky_key: cookie:session\n", nil},
		{"sticky key without source", cand + "        url: http://127.0.0.1:8502\n        sticky_key: X-User-Id\n", []want{{"7:21", `bad sticky_key "X-User-Id"`}}},

		// Log and addresses.
		{"bad log level", base + "log: {level: loud}\n", []want{{"4:14", `log.level: unknown value "loud": want one of debug, info, warn, error`}}},
		{"bad log format", base + "log: {format: text}\n", []want{{"4:15", `log.format: unknown value "text": want one of json, console`}}},
		{"listen without port", base + "listen: 0.0.0.0\n", []want{{"4:9", `listen: bad address "0.0.0.0": want host:port`}}},
		{"admin port out of range", base + "admin: 127.0.0.1:70000\n", []want{{"4:8", `admin: bad port "70000"`}}},
		{"listen and admin both on port 0 is fine", base + "listen: 127.0.0.1:0\nadmin: 127.0.0.1:0\n", nil},
		{"admin same as listen", base + "listen: 127.0.0.1:8080\nadmin: 127.0.0.1:8080\n", []want{{"5:8", "admin: must differ from listen"}}},

		// TLS.
		{"tls cert without key", "routes:\n  - name: iris\n    primary:\n      url: https://127.0.0.1:8501\n      tls: {cert: client.pem}\n",
			[]want{{"5:19", "routes[0].primary.tls.cert: a client certificate needs its key (tls.key)"}}},
		{"tls key without cert", cand + "        url: https://127.0.0.1:8502\n        tls: {key: client.key}\n", []want{{"7:20", "routes[0].candidates[0].tls.key: a client key needs its certificate"}}},

		// Kafka.
		{"kafka without brokers and topic", base + "sinks:\n  kafka: {acks: all}\n",
			[]want{{"5:10", "sinks.kafka.brokers: at least one broker"}, {"5:10", "sinks.kafka.topic: a topic is required"}}},
		{"kafka broker without port", base + "sinks:\n  kafka: {brokers: [kafka], topic: t}\n", []want{{"5:21", `sinks.kafka.brokers[0]: bad address "kafka"`}}},
		{"kafka bad topic", base + "sinks:\n  kafka: {brokers: [\"k:9092\"], topic: \"a b\"}\n", []want{{"5:39", `sinks.kafka.topic: bad topic "a b"`}}},
		{"kafka bad acks", base + "sinks:\n  kafka: {brokers: [\"k:9092\"], topic: t, acks: 2}\n", []want{{"5:48", `sinks.kafka.acks: unknown value "2": want one of all, one, none`}}},
		{"kafka bad compression", base + "sinks:\n  kafka: {brokers: [\"k:9092\"], topic: t, compression: brotli}\n", []want{{"5:55", `sinks.kafka.compression: unknown value "brotli"`}}},
		{"kafka bad spool fsync", base + "sinks:\n  kafka: {brokers: [\"k:9092\"], topic: t, spool: {fsync: sometimes}}\n", []want{{"5:57", `sinks.kafka.spool.fsync: unknown value "sometimes"`}}},
		{"sasl bad mechanism", base + "sinks:\n  kafka:\n    brokers: [\"k:9092\"]\n    topic: t\n    sasl: {mechanism: plain, username_env: KAFKA_USER, password_env: KAFKA_PASSWORD}\n",
			[]want{{"8:23", `sinks.kafka.sasl.mechanism: unknown value "plain": want one of PLAIN, SCRAM-SHA-256, SCRAM-SHA-512`}}},
		{"sasl without env names", base + "sinks:\n  kafka:\n    brokers: [\"k:9092\"]\n    topic: t\n    sasl: {mechanism: PLAIN}\n",
			[]want{{"8:11", "sinks.kafka.sasl.username_env: name the environment variable"}, {"8:11", "sinks.kafka.sasl.password_env: name the environment variable"}}},
		{"sasl secret instead of env name", base + "sinks:\n  kafka:\n    brokers: [\"k:9092\"]\n    topic: t\n    sasl: {mechanism: PLAIN, username_env: KAFKA_USER, password_env: \"hunter2!\"}\n",
			[]want{{"8:70", `sinks.kafka.sasl.password_env: bad environment variable name "hunter2!"`}}},
		{"sasl password in the file", base + "sinks:\n  kafka:\n    brokers: [\"k:9092\"]\n    topic: t\n    sasl: {mechanism: PLAIN, password: x}\n",
			[]want{{"8:11", "username_env: name the environment variable"}, {"8:11", "password_env: name the environment variable"},
				{"8:30", `sinks.kafka.sasl: unknown field "password" (did you mean "password_env"?)`}}},

		// Merge keys.
		{"merge of a scalar", "routes:\n  - <<: 5\n    name: iris\n    primary: {url: \"http://127.0.0.1:8501\"}\n", []want{{"2:9", "routes[0]: a merge (<<) needs a mapping or an alias of one, got \"5\""}}},

		// Other route settings.
		{"match header given twice", base + "    match: {headers: {X-A: a, X-A: b}}\n", []want{{"4:31", "routes[0].match.headers.X-A: given twice (first at line 4)"}}},
		{"match header with a space", base + "    match: {headers: {\"X A\": a}}\n", []want{{"4:30", `routes[0].match.headers.X A: bad header name "X A"`}}},
		{"match host with a scheme", base + "    match: {host: \"http://example.com\"}\n", []want{{"4:19", `routes[0].match.host: bad host "http://example.com"`}}},
		{"shadow header with a space", base + "    shadow_headers: {remove: [\"X Y\"]}\n", []want{{"4:31", `routes[0].shadow_headers.remove[0]: bad header name "X Y"`}}},
		{"redact header with a space", base + "    record: {redact: {headers: [\"X Y\"]}}\n", []want{{"4:33", `routes[0].record.redact.headers[0]: bad header name "X Y"`}}},
		{"empty redact field", base + "    record: {redact: {fields: [\"\"]}}\n", []want{{"4:32", "routes[0].record.redact.fields[0]: empty path"}}},
		{"bad hash key env", base + "    record: {redact: {hash_key_env: 1KEY}}\n", []want{{"4:37", `routes[0].record.redact.hash_key_env: bad environment variable name "1KEY"`}}},
		{"empty ignore path", base + "    compare: {ignore: [a, \" \"]}\n", []want{{"4:27", "routes[0].compare.ignore[1]: empty path"}}},
		{"secondary without url", base + "    secondary: {timeout: 1s}\n", []want{{"4:16", "routes[0].secondary.url: url is required"}}},
		{"ranked on argmax", base + "    compare: {rules: [{path: a, mode: argmax, ranked: true}]}\n", []want{{"4:55", "routes[0].compare.rules[0].ranked: applies only to mode topk, not argmax"}}},
		{"secondary streams", base + "    secondary: {url: \"http://127.0.0.1:8503\", stream: true}\n", []want{{"4:55", "routes[0].secondary.stream: only the primary streams its answer to the client"}}},
		{"negative chaos perturb", cand + "        url: http://127.0.0.1:8502\n        chaos: {perturb: -0.1}\n", []want{{"7:26", "routes[0].candidates[0].chaos.perturb: must not be negative"}}},
		{"chaos rate above 100%", cand + "        url: http://127.0.0.1:8502\n        chaos: {error_rate: 200%}\n", []want{{"7:29", "routes[0].candidates[0].chaos.error_rate: percentage 200% is outside 0-100%"}}},
		{"topk overlap and jaccard", base + "    compare: {rules: [{path: a, mode: topk, min_overlap: 50%, min_jaccard: 0.5}]}\n", []want{{"4:76", "routes[0].compare.rules[0].min_jaccard: set min_overlap or min_jaccard, not both"}}},
		{"text distance above 1", base + "    compare: {rules: [{path: a, mode: text, max_distance: 2}]}\n", []want{{"4:59", "max_distance: 2 is outside 0-1"}}},

		// Ground truth.
		{"truth window without a prediction", base + "    truth: {window: 1h}\n", []want{{"4:12", "routes[0].truth.prediction: a prediction path is required"}}},
		{"truth negative max_pending", base + "    truth: {prediction: a, max_pending: -1}\n", []want{{"4:41", "routes[0].truth.max_pending: -1 must not be negative"}}},
		{"labels kafka without topic", base + "labels:\n  kafka: {brokers: [\"k:9092\"]}\n", []want{{"5:10", "labels.kafka.topic: a topic of up to 249"}}},
		{"labels kafka broker without port", base + "labels:\n  kafka: {brokers: [k], topic: t}\n", []want{{"5:21", `labels.kafka.brokers[0]: bad address "k"`}}},

		// Several problems at once are all reported, in file order.
		{"every problem reported", cand + "        url: ftp://x\n        sample: 1\n        queue: -1\nlog: {level: loud}\n",
			[]want{{"6:14", "the scheme must be http or https"}, {"7:17", "bare number 1"}, {"8:16", "-1 must not be negative"}, {"9:14", `unknown value "loud"`}}},
		{"decode error is not repeated by validation", "routes:\n  - name: iris\n    primary: {url: [a]}\n", []want{{"3:20", "routes[0].primary.url: expected text, got a list"}}},
		{"alias that contains itself", base + "    compare: {ignore: &a [*a]}\n", []want{{"4:27", "routes[0].compare.ignore[0]: expected text, got a list"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := Parse("t.yaml", []byte(tt.yaml))
			if tt.want == nil {
				if err != nil {
					t.Fatalf("unexpected error:\n%v", err)
				}
				return
			}
			if c != nil || err == nil {
				t.Fatalf("Parse succeeded, want %d errors", len(tt.want))
			}
			var es Errors
			if !errors.As(err, &es) {
				t.Fatalf("error is %T, want Errors: %v", err, err)
			}
			if len(es) != len(tt.want) {
				t.Fatalf("got %d errors, want %d:\n%v", len(es), len(tt.want), err)
			}
			for i, w := range tt.want {
				got := es[i].Error()
				prefix := "t.yaml:" + w.pos + ": "
				if !strings.HasPrefix(got, prefix) || !strings.Contains(got, w.msg) {
					t.Errorf("error %d = %q\nwant prefix %q and %q", i, got, prefix, w.msg)
				}
			}
		})
	}
}

// TestPredictionPathCheck: the program's check of truth.prediction reports with line and column.
func TestPredictionPathCheck(t *testing.T) {
	ch := Checks{PredictionPath: func(format, path string) error {
		if strings.Contains(path, "*") {
			return fmt.Errorf("bad path %q for %s: a prediction path names one value", path, format)
		}
		return nil
	}}
	_, err := ch.Parse("t.yaml", []byte(base+"    compare: {format: kserve-v2}\n    truth: {prediction: \"outputs.label[*]\"}\n"))
	if err == nil || !strings.Contains(err.Error(), "t.yaml:5:25: routes[0].truth.prediction: bad path \"outputs.label[*]\" for kserve-v2") {
		t.Errorf("got %v", err)
	}
	if _, err := ch.Parse("t.yaml", []byte(base+"    truth: {prediction: \"outputs.label[0]\", window: 30m}\n")); err != nil {
		t.Errorf("a valid truth section: %v", err)
	}
}

func TestErrorFields(t *testing.T) {
	_, err := Parse("f.yaml", []byte(cand+"        url: http://127.0.0.1:8502\n        sample: 200%\n"))
	var e *Error
	if !errors.As(err, &e) {
		t.Fatalf("errors.As(*Error) failed on %v", err)
	}
	w := Error{File: "f.yaml", Line: 7, Column: 17, Field: "routes[0].candidates[0].sample", Msg: "percentage 200% is outside 0-100%"}
	if *e != w {
		t.Errorf("got %+v\nwant %+v", *e, w)
	}
}

// TestAliasBomb checks that aliases expanding exponentially end in an error, having done bounded work
// (measured as memory allocated, not time, so that a loaded machine cannot fail it).
func TestAliasBomb(t *testing.T) {
	var b strings.Builder
	b.WriteString("routes:\n  - &r\n    name: r\n    primary: {url: \"http://127.0.0.1:1\"}\n    candidates:\n      - &c {name: c, url: \"http://127.0.0.1:2\"}\n")
	for range 1000 {
		b.WriteString("      - *c\n")
	}
	for range 1000 {
		b.WriteString("  - *r\n")
	}
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	_, err := Parse("bomb.yaml", []byte(b.String()))
	runtime.ReadMemStats(&after)
	if err == nil || !strings.Contains(err.Error(), "document too complex") {
		t.Fatalf("want a too-complex error, got %.300v", err)
	}
	t.Logf("allocated %d KiB", (after.TotalAlloc-before.TotalAlloc)/1024)
	if n := after.TotalAlloc - before.TotalAlloc; n > 256<<20 {
		t.Errorf("allocated %d MiB parsing %d bytes", n>>20, b.Len())
	}
	if n := strings.Count(err.Error(), "\n") + 1; n > 10 {
		t.Errorf("%d errors, want the one that explains", n)
	}
}

func TestMergeKeys(t *testing.T) {
	c, err := Parse("m.yaml", []byte(`
routes:
  - name: iris
    primary: {url: "http://127.0.0.1:8501"}
    candidates:
      - &defaults {name: a, url: "http://127.0.0.1:8502", sample: 10%, timeout: 1s}
      - <<: *defaults
        name: b
        sample: 20%
`))
	if err != nil {
		t.Fatal(err)
	}
	b := c.Routes[0].Candidates[1]
	if b.Name != "b" || b.URL != "http://127.0.0.1:8502" || b.Sample.Fraction() != 0.2 || b.Timeout.D() != time.Second {
		t.Errorf("merged candidate = %+v", b)
	}
}

func TestUnits(t *testing.T) {
	sizes := map[string]int64{
		"0": 0, "512": 512, "512B": 512, "64KiB": 64 << 10, "16MiB": 16 << 20, "1GiB": 1 << 30, "2TiB": 2 << 40,
		"1KB": 1000, "1MB": 1e6, "1GB": 1e9, "1.5GiB": 3 << 29, "64 KiB": 64 << 10, "0x10": 16,
	}
	for in, want := range sizes {
		c, err := Parse("u.yaml", []byte(base+"max_request_body: "+in+"\n"))
		if err != nil {
			t.Errorf("%s: %v", in, err)
			continue
		}
		if got := c.MaxRequestBody.Int64(); got != want {
			t.Errorf("size %s = %d, want %d", in, got, want)
		}
	}
	pcts := map[string]float64{"0%": 0, "100%": 1, "37%": 0.37, "0.5%": 0.005, "\"12.5 %\"": 0.125}
	for in, want := range pcts {
		c, err := Parse("u.yaml", []byte(cand+"        url: http://127.0.0.1:8502\n        sample: "+in+"\n"))
		if err != nil {
			t.Errorf("%s: %v", in, err)
			continue
		}
		if got := c.Routes[0].Candidates[0].Sample.Fraction(); fmt.Sprint(got) != fmt.Sprint(want) {
			t.Errorf("percent %s = %v, want %v", in, got, want)
		}
	}
	for in, want := range map[string]string{"64KiB": "64KiB", "1000": "1000B", "3GiB": "3GiB", "0": "0B"} {
		var b ByteSize
		for _, s := range []string{in} {
			_ = s
		}
		switch in {
		case "64KiB":
			b = 64 << 10
		case "1000":
			b = 1000
		case "3GiB":
			b = 3 << 30
		}
		if b.String() != want {
			t.Errorf("ByteSize(%d).String() = %q, want %q", int64(b), b.String(), want)
		}
	}
	if s := PercentOf(37).String(); s != "37%" {
		t.Errorf("PercentOf(37) = %s", s)
	}
	if s := Duration(1500 * time.Millisecond).String(); s != "1.5s" {
		t.Errorf("Duration.String() = %s", s)
	}
}

func TestMergeList(t *testing.T) {
	c, err := Parse("m.yaml", []byte(`
routes:
  - name: iris
    primary: {url: "http://127.0.0.1:8501"}
    candidates:
      - &a {name: a, url: "http://127.0.0.1:8502", timeout: 1s}
      - &b {name: b, url: "http://127.0.0.1:8503", queue: 7, timeout: 3s}
      - <<: [*a, *b]
        name: c
`))
	if err != nil {
		t.Fatal(err)
	}
	got := c.Routes[0].Candidates[2]
	// Earlier entries of a merge list win; keys written out win over both.
	if got.Name != "c" || got.URL != "http://127.0.0.1:8502" || got.Timeout.D() != time.Second || got.Queue != 7 {
		t.Errorf("merged candidate = %+v", got)
	}
}

func TestErrorsFormat(t *testing.T) {
	es := Errors{
		{File: "a.yaml", Line: 3, Column: 7, Field: "listen", Msg: "bad"},
		{File: "a.yaml", Line: 9, Msg: "YAML syntax: x"},
		{File: "a.yaml", Line: 1, Column: 1, Msg: "top"},
	}
	want := "a.yaml:3:7: listen: bad\na.yaml:9: YAML syntax: x\na.yaml:1:1: top"
	if es.Error() != want {
		t.Errorf("got\n%s\nwant\n%s", es.Error(), want)
	}
	if len(es.Unwrap()) != 3 {
		t.Error("Unwrap")
	}
	sorted := append(Errors{}, es...).sorted()
	if sorted[0].Line != 1 || sorted[2].Line != 9 {
		t.Errorf("sorted: %v", sorted)
	}
}
