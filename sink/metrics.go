package sink

import (
	"github.com/prometheus/client_golang/prometheus"
	"github.com/segmentio/kafka-go"
)

// Outcomes of records_total.
const (
	// OutcomeWritten counts records the destination accepted (a file write, a Kafka acknowledgement).
	OutcomeWritten = "written"
	// OutcomeSpooled counts records appended to the disk spool.
	OutcomeSpooled = "spooled"
	// OutcomeRetried counts records in a Kafka write that failed and will be tried again.
	OutcomeRetried = "retried"
	// OutcomeDropped counts records that will never be delivered; records_dropped_total says why.
	OutcomeDropped = "dropped"
)

// Reasons of records_dropped_total.
const (
	ReasonBufferFull   = "buffer_full"   // the in-memory buffer was full
	ReasonWriteError   = "write_error"   // the file write failed (disk full, permissions)
	ReasonSpoolFull    = "spool_full"    // the spool reached MaxBytes
	ReasonSpoolError   = "spool_error"   // appending to the spool failed (disk full)
	ReasonKafkaError   = "kafka_error"   // Kafka refused the record and there is no spool
	ReasonTooLarge     = "too_large"     // still over MaxMessageBytes with every body removed
	ReasonClosed       = "closed"        // written after Close
	ReasonCorrupt      = "corrupt"       // a spool frame failed its checksum and was skipped
	ReasonCloseTimeout = "close_timeout" // Close's context ended before the record was persisted
)

// Metrics are the sink metrics. Create them once with NewMetrics and pass the same value to every
// sink, including the sinks rebuilt on a config reload. All fields are safe for concurrent use.
type Metrics struct {
	// Records is shadowproxy_records_total{sink,outcome}.
	Records *prometheus.CounterVec
	// Dropped is shadowproxy_records_dropped_total{sink,reason}, the reason behind outcome="dropped".
	Dropped *prometheus.CounterVec
	// SpoolBytes is shadowproxy_spool_bytes, the size of the spool's segment files.
	SpoolBytes prometheus.Gauge
	// SpoolRecords is shadowproxy_spool_records, the records in the spool not yet delivered.
	SpoolRecords prometheus.Gauge
	// SpoolCorrupt is shadowproxy_spool_corrupt_total, torn or corrupt spool tails skipped.
	SpoolCorrupt prometheus.Counter
	// KafkaWriteDuration is shadowproxy_kafka_write_duration_seconds: from handing a batch to the
	// Kafka writer to its completion, successful or not.
	KafkaWriteDuration prometheus.Histogram
	// KafkaErrors is shadowproxy_kafka_errors_total{kind}: kind is one of unreachable, timeout,
	// too_large, broker, other.
	KafkaErrors *prometheus.CounterVec
	// KafkaWriter holds the kafka-go writer statistics, accumulated: shadowproxy_kafka_writer_*_total.
	KafkaWriterWrites, KafkaWriterMessages, KafkaWriterBytes, KafkaWriterErrors, KafkaWriterRetries prometheus.Counter
	// FileErrors is shadowproxy_file_sink_errors_total{op}: op is open, write, rotate or sync.
	FileErrors *prometheus.CounterVec
}

// NewMetrics creates the sink metrics and registers them on reg; a nil reg registers nothing.
// Registering twice on the same registry panics, like prometheus.MustRegister.
func NewMetrics(reg prometheus.Registerer) *Metrics {
	counter := func(name, help string) prometheus.Counter {
		return prometheus.NewCounter(prometheus.CounterOpts{Namespace: "shadowproxy", Name: name, Help: help})
	}
	m := &Metrics{
		Records: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "shadowproxy", Name: "records_total",
			Help: "Records by sink and outcome (written, spooled, retried, dropped).",
		}, []string{"sink", "outcome"}),
		Dropped: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "shadowproxy", Name: "records_dropped_total",
			Help: "Dropped records by sink and reason.",
		}, []string{"sink", "reason"}),
		SpoolBytes: prometheus.NewGauge(prometheus.GaugeOpts{
			Namespace: "shadowproxy", Name: "spool_bytes", Help: "Bytes in the Kafka spool's segment files.",
		}),
		SpoolRecords: prometheus.NewGauge(prometheus.GaugeOpts{
			Namespace: "shadowproxy", Name: "spool_records", Help: "Records in the Kafka spool waiting for delivery.",
		}),
		SpoolCorrupt: counter("spool_corrupt_total", "Torn or corrupt spool tails detected and skipped."),
		KafkaWriteDuration: prometheus.NewHistogram(prometheus.HistogramOpts{
			Namespace: "shadowproxy", Name: "kafka_write_duration_seconds",
			Help:    "Time from handing a batch to the Kafka writer to its completion.",
			Buckets: []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10},
		}),
		KafkaErrors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "shadowproxy", Name: "kafka_errors_total", Help: "Failed Kafka writes by kind.",
		}, []string{"kind"}),
		KafkaWriterWrites:   counter("kafka_writer_writes_total", "Produce requests sent by the Kafka writer (kafka-go stats)."),
		KafkaWriterMessages: counter("kafka_writer_messages_total", "Messages written by the Kafka writer (kafka-go stats)."),
		KafkaWriterBytes:    counter("kafka_writer_bytes_total", "Message bytes written by the Kafka writer (kafka-go stats)."),
		KafkaWriterErrors:   counter("kafka_writer_errors_total", "Errors of the Kafka writer (kafka-go stats)."),
		KafkaWriterRetries:  counter("kafka_writer_retries_total", "Retries of the Kafka writer (kafka-go stats)."),
		FileErrors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "shadowproxy", Name: "file_sink_errors_total", Help: "File sink errors by operation.",
		}, []string{"op"}),
	}
	if reg != nil {
		reg.MustRegister(m.Records, m.Dropped, m.SpoolBytes, m.SpoolRecords, m.SpoolCorrupt,
			m.KafkaWriteDuration, m.KafkaErrors, m.KafkaWriterWrites, m.KafkaWriterMessages,
			m.KafkaWriterBytes, m.KafkaWriterErrors, m.KafkaWriterRetries, m.FileErrors)
	}
	return m
}

func (m *Metrics) add(sink, outcome string, n int) {
	if n > 0 {
		m.Records.WithLabelValues(sink, outcome).Add(float64(n))
	}
}

func (m *Metrics) drop(sink, reason string, n int) {
	if n > 0 {
		m.Records.WithLabelValues(sink, OutcomeDropped).Add(float64(n))
		m.Dropped.WithLabelValues(sink, reason).Add(float64(n))
	}
}

// addWriterStats adds one kafka-go Stats() reading. Stats returns the counts since its previous
// call, so each reading is a delta that is added, never set.
func (m *Metrics) addWriterStats(s kafka.WriterStats) {
	m.KafkaWriterWrites.Add(float64(s.Writes))
	m.KafkaWriterMessages.Add(float64(s.Messages))
	m.KafkaWriterBytes.Add(float64(s.Bytes))
	m.KafkaWriterErrors.Add(float64(s.Errors))
	m.KafkaWriterRetries.Add(float64(s.Retries))
}

// init creates the records_total series of a sink at zero, so that they exist before the first event.
func (m *Metrics) init(sink string) {
	for _, o := range []string{OutcomeWritten, OutcomeSpooled, OutcomeRetried, OutcomeDropped} {
		m.Records.WithLabelValues(sink, o)
	}
}
