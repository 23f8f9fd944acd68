package sink

import (
	"github.com/twmb/franz-go/pkg/sasl"
	"github.com/twmb/franz-go/pkg/sasl/plain"
	"github.com/twmb/franz-go/pkg/sasl/scram"
)

// kgoSASL is the franz-go consumer's side of the same SASL settings.
func kgoSASL(o SASLOptions) sasl.Mechanism {
	switch o.Mechanism {
	case "PLAIN":
		return plain.Auth{User: o.Username, Pass: o.Password}.AsMechanism()
	case "SCRAM-SHA-256":
		return scram.Auth{User: o.Username, Pass: o.Password}.AsSha256Mechanism()
	default:
		return scram.Auth{User: o.Username, Pass: o.Password}.AsSha512Mechanism()
	}
}
