package sink

import (
	"crypto/tls"
	"fmt"
	"strings"
	"time"

	"github.com/segmentio/kafka-go"
	"github.com/segmentio/kafka-go/sasl"
	"github.com/segmentio/kafka-go/sasl/plain"
	"github.com/segmentio/kafka-go/sasl/scram"
	"go.uber.org/zap"
)

// KafkaOptions configure a Kafka sink. The zero value of each field but Brokers and Topic means the
// default its comment names.
type KafkaOptions struct {
	// Brokers are the bootstrap addresses, host:port. Required.
	Brokers []string
	// Topic receives the records. Required.
	Topic string
	// Acks is "all" (the default), "one" (alias "leader") or "none".
	Acks string
	// Compression is "none" (the default), "gzip", "snappy", "lz4" or "zstd".
	Compression string
	// BatchSize is the most messages per produce request. The default is 100.
	BatchSize int
	// BatchTimeout is how long a partial batch waits for more messages. The default is 10 ms
	// (kafka-go's own default of 1 s would delay every partial batch).
	BatchTimeout time.Duration
	// WriteTimeout bounds one produce request. The default is 10 s.
	WriteTimeout time.Duration
	// ClientID identifies the client to the brokers. The default is "shadowproxy".
	ClientID string
	// CreateTopic creates the topic at start (one partition per broker default, broker's
	// replication) if it is missing. Off by default. Either way, writes let the broker create a
	// missing topic when it allows automatic creation (auto.create.topics.enable), as Kafka's own
	// producers do; a topic that stays missing is logged once, and records wait in the spool.
	CreateTopic bool
	// TLS, when set, is used for every broker connection. The default is plaintext.
	TLS *tls.Config
	// SASL authenticates to the brokers. The default is no authentication.
	SASL SASLOptions
	// MaxMessageBytes bounds a message value. A record that encodes larger loses bodies, largest
	// first (the candidate's, the primary's, the request's, then diff values), each replaced by null
	// and marked truncated, until it fits; if it still does not, it is dropped (reason too_large).
	// The default is 1000000, under Kafka's default limit of 1 MiB per message batch.
	MaxMessageBytes int
	// Buffer is how many records wait in memory; beyond it records are dropped (reason
	// buffer_full). The default is 4096.
	Buffer int
	// MaxInFlight is how many records may be in the Kafka writer, not yet acknowledged. Beyond it
	// records go to the spool (or wait, without a spool). The default is 10000.
	MaxInFlight int
	// RetryBackoff is the longest wait between failed attempts to replay the spool; waits grow
	// exponentially from 100 ms up to it, with jitter. The default is 5 s.
	RetryBackoff time.Duration
	// MaxInFlightBytes bounds the bytes of the records in the Kafka writer, with MaxInFlight.
	// The default is 64 MiB.
	MaxInFlightBytes int64
	// Spool is the durable disk spool for records Kafka cannot take now. Without Spool.Dir records
	// are dropped when Kafka fails them (reason kafka_error).
	Spool SpoolOptions
	// Name is the sink label in metrics. The default is "kafka".
	Name string
	// Metrics receives the sink's metrics. The default is a set registered nowhere.
	Metrics *Metrics
	// Logger logs state changes (Kafka failing, recovering), never one line per record. The default
	// logs nothing.
	Logger *zap.Logger
}

// SASLOptions select SASL authentication. The caller reads secrets (from the environment); they are
// never logged.
type SASLOptions struct {
	// Mechanism is "" (none), "PLAIN", "SCRAM-SHA-256" or "SCRAM-SHA-512".
	Mechanism string
	Username  string
	Password  string
}

func (o *KafkaOptions) acks() string {
	if o.Acks != "" {
		return o.Acks
	}
	return "all"
}

func (o *KafkaOptions) compression() string {
	if o.Compression != "" {
		return o.Compression
	}
	return "none"
}

// WithDefaults returns o with the default of each zero setting filled in, its spool's included
// (a spool stays off without Dir): the values a Kafka sink built from o uses.
func (o KafkaOptions) WithDefaults() KafkaOptions {
	o.Acks, o.Compression, o.ClientID = o.acks(), o.compression(), o.clientID()
	o.BatchSize, o.BatchTimeout, o.WriteTimeout = o.batchSize(), o.batchTimeout(), o.writeTimeout()
	o.MaxMessageBytes, o.Buffer, o.MaxInFlight = o.maxMessageBytes(), o.buffer(), o.maxInFlight()
	o.RetryBackoff, o.MaxInFlightBytes = o.retryBackoff(), o.maxInFlightBytes()
	o.Spool = o.Spool.WithDefaults()
	o.Name = o.name()
	return o
}

func (o *KafkaOptions) name() string {
	if o.Name != "" {
		return o.Name
	}
	return "kafka"
}

func (o *KafkaOptions) maxMessageBytes() int {
	if o.MaxMessageBytes > 0 {
		return o.MaxMessageBytes
	}
	return 1000000
}

func (o *KafkaOptions) batchSize() int {
	if o.BatchSize > 0 {
		return o.BatchSize
	}
	return 100
}

func (o *KafkaOptions) batchTimeout() time.Duration {
	if o.BatchTimeout > 0 {
		return o.BatchTimeout
	}
	return 10 * time.Millisecond
}

func (o *KafkaOptions) writeTimeout() time.Duration {
	if o.WriteTimeout > 0 {
		return o.WriteTimeout
	}
	return 10 * time.Second
}

func (o *KafkaOptions) clientID() string {
	if o.ClientID != "" {
		return o.ClientID
	}
	return "shadowproxy"
}

func (o *KafkaOptions) maxInFlightBytes() int64 {
	if o.MaxInFlightBytes > 0 {
		return o.MaxInFlightBytes
	}
	return 64 << 20
}

func (o *KafkaOptions) retryBackoff() time.Duration {
	if o.RetryBackoff > 0 {
		return o.RetryBackoff
	}
	return 5 * time.Second
}

func (o *KafkaOptions) buffer() int {
	if o.Buffer > 0 {
		return o.Buffer
	}
	return 4096
}

func (o *KafkaOptions) maxInFlight() int {
	if o.MaxInFlight > 0 {
		return o.MaxInFlight
	}
	return 10000
}

func requiredAcks(s string) (kafka.RequiredAcks, error) {
	switch strings.ToLower(s) {
	case "all", "-1":
		return kafka.RequireAll, nil
	case "leader", "one", "1":
		return kafka.RequireOne, nil
	case "none", "0":
		return kafka.RequireNone, nil
	}
	return 0, fmt.Errorf("kafka sink: acks %q is not one of all, leader, none", s)
}

func compression(s string) (kafka.Compression, error) {
	switch strings.ToLower(s) {
	case "none":
		return 0, nil
	case "gzip":
		return kafka.Gzip, nil
	case "snappy":
		return kafka.Snappy, nil
	case "lz4":
		return kafka.Lz4, nil
	case "zstd":
		return kafka.Zstd, nil
	}
	return 0, fmt.Errorf("kafka sink: compression %q is not one of none, gzip, snappy, lz4, zstd", s)
}

func saslMechanism(o SASLOptions) (sasl.Mechanism, error) {
	switch strings.ToUpper(o.Mechanism) {
	case "":
		return nil, nil
	case "PLAIN":
		return plain.Mechanism{Username: o.Username, Password: o.Password}, nil
	case "SCRAM-SHA-256", "SCRAM-SHA-512":
		algo := scram.SHA256
		if strings.HasSuffix(o.Mechanism, "512") {
			algo = scram.SHA512
		}
		m, err := scram.Mechanism(algo, o.Username, o.Password)
		if err != nil {
			return nil, fmt.Errorf("kafka sink: sasl: %w", err)
		}
		return m, nil
	}
	return nil, fmt.Errorf("kafka sink: sasl mechanism %q is not one of PLAIN, SCRAM-SHA-256, SCRAM-SHA-512", o.Mechanism)
}
