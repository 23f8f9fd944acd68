// Package configs owns shadowproxy's configuration: the YAML schema as Go types (Config and the
// types it holds), loading it, filling in defaults, and validating it with errors that name the
// file, line, column and field of every problem. It also holds the files the project ships: the
// example configs (configs/*.yaml, each loaded by a test), the Kubernetes example
// (configs/kubernetes/, checked against the config it mounts), and the Grafana dashboards and
// Prometheus rules (configs/grafana, configs/prometheus).
//
// Only cmd/shadowproxy imports this package; it maps a Config onto each package's own Options.
//
// Load and Parse are strict: an unknown field is an error (with a suggestion when it looks like a
// typo), and so is a value of the wrong shape. Sizes are written as 512B, 64KiB, 16MiB, 1GiB (KB,
// MB, GB are powers of 1000; a plain integer is bytes), durations in Go syntax (250ms, 2s, 1m30s),
// and shares as percentages (37%, 0.5%): a bare number is rejected because 1 could mean 1% or 100%.
// Anchors, aliases and merge keys (<<: *defaults) work as in YAML.
//
// After loading, every field left out holds its default, as documented on the field, so other
// packages never see a zero value that means "default":
//
//	cfg, err := configs.Load("shadowproxy.yaml")
//	if err != nil {
//		// err is configs.Errors: one "file:line:column: field: message" per problem.
//		return err
//	}
//	fmt.Println(configs.Summary(cfg)) // ok: 1 route, 1 candidate, sinks: file(./shadowproxy-records.jsonl)
//	timeout := cfg.Routes[0].Candidates[0].Timeout.D()
//
// Load only parses and checks; secrets are never in the file. Files it names (TLS certificates, the
// spool directory) and environment variables (SASL credentials, the redaction hash key) are read by
// cmd when it builds the pipeline.
package configs
