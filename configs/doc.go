// Package configs owns shadowproxy's configuration: the YAML schema as Go types (Config and the
// types it holds), loading it, filling in the defaults it owns, and validating it with errors that
// name the file, line, column and field of every problem. It also holds the files the project
// ships: the example configs (configs/*.yaml, each loaded by a test), the Kubernetes example
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
// Each setting's default lives in one place. Load fills in the defaults that no package's options
// can express at their zero value (addresses, file paths, shares where 0% means none) and those of
// the process itself (shutdown, reload, log); every other field left out stays zero, and the package
// it is mapped onto applies its own default (the field's comment names that package's field):
//
//	cfg, err := configs.Load("shadowproxy.yaml")
//	if err != nil {
//		// err is configs.Errors: one "file:line:column: field: message" per problem.
//		return err
//	}
//	fmt.Println(configs.Summary(cfg)) // ok: 1 route, 1 candidate, sinks: file(./shadowproxy-records.jsonl)
//	sample := cfg.Routes[0].Candidates[0].Sample.Fraction()  // 1 when left out: configs' default
//	timeout := cfg.Routes[0].Candidates[0].Timeout.D()       // 0 when left out: tee's default applies
//
// Load only parses and checks; secrets are never in the file. Files it names (TLS certificates, the
// spool directory) and environment variables (SASL credentials, the redaction hash key) are read by
// cmd when it builds the pipeline.
package configs
