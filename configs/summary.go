package configs

import (
	"fmt"
	"strings"
)

// Summary is the one line `shadowproxy validate` prints for a valid config, e.g.
// "ok: 2 routes, 3 candidates, sinks: file(./records.jsonl), kafka(shadowproxy.records@10.0.0.1:9092)".
func Summary(c *Config) string {
	candidates := 0
	for _, r := range c.Routes {
		candidates += len(r.Candidates)
	}
	var sinks []string
	if f := c.Sinks.File; f != nil {
		sinks = append(sinks, "file("+f.Path+")")
	}
	if k := c.Sinks.Kafka; k != nil {
		sinks = append(sinks, "kafka("+k.Topic+"@"+strings.Join(k.Brokers, ",")+")")
	}
	if len(sinks) == 0 {
		sinks = append(sinks, "none")
	}
	return fmt.Sprintf("ok: %s, %s, sinks: %s", plural(len(c.Routes), "route"), plural(candidates, "candidate"), strings.Join(sinks, ", "))
}

func plural(n int, what string) string {
	if n == 1 {
		return "1 " + what
	}
	return fmt.Sprintf("%d %ss", n, what)
}
