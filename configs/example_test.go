package configs_test

import (
	"errors"
	"fmt"

	"github.com/shadowproxy/shadowproxy/configs"
)

func ExampleParse() {
	cfg, err := configs.Parse("shadowproxy.yaml", []byte(`
routes:
  - name: iris
    primary: {url: "http://127.0.0.1:8501"}
    candidates:
      - {name: iris-v2, url: "http://127.0.0.1:8502", sample: 25%}
`))
	if err != nil {
		panic(err)
	}
	c := cfg.Routes[0].Candidates[0]
	fmt.Println(configs.Summary(cfg))
	// record.agreements takes its default here; timeout stays zero, for tee.UpstreamOptions' default.
	fmt.Println(c.Sample.Fraction(), cfg.Routes[0].Record.Agreements.Fraction(), c.Timeout.D())
	// Output:
	// ok: 1 route, 1 candidate, sinks: file(./shadowproxy-records.jsonl)
	// 0.25 0.01 0s
}

func ExampleErrors() {
	_, err := configs.Parse("shadowproxy.yaml", []byte(`
routes:
  - name: iris
    primary: {url: "127.0.0.1:8501"}
    candidates:
      - {name: iris-v2, url: "http://127.0.0.1:8502", sample: 1, timout: 5s}
`))
	fmt.Println(err)
	var es configs.Errors
	if errors.As(err, &es) {
		fmt.Println(len(es), "problems; the first is on line", es[0].Line)
	}
	// Output:
	// shadowproxy.yaml:4:20: routes[0].primary.url: bad URL "127.0.0.1:8501": want http://host:port or https://host:port
	// shadowproxy.yaml:6:63: routes[0].candidates[0].sample: bare number 1 is ambiguous (1 could mean 1% or 100%): write a percentage such as "1%"
	// shadowproxy.yaml:6:66: routes[0].candidates[0]: unknown field "timout" (did you mean "timeout"?)
	// 3 problems; the first is on line 4
}
