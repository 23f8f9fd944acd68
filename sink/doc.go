// Package sink owns where comparison records go: a local JSON-lines file (File), a Kafka topic
// (Kafka, with segmentio/kafka-go) with a durable disk spool in front of it, and both at once
// (Multi). It also owns the record type and its encoding (Encode, RequestBody, ResponseBody, Cap).
//
// # Writing never blocks
//
// Every sink's Write is a non-blocking send into a bounded buffer read by the sink's own goroutine.
// A full buffer drops the record and counts it in shadowproxy_records_total{outcome="dropped"} and,
// with the reason, in shadowproxy_records_dropped_total. Close(ctx) flushes, then waits, at most
// until ctx ends.
//
// # Metrics
//
// NewMetrics registers the sink metrics on a prometheus.Registerer once; the same *Metrics goes into
// the Options of every sink, including the sinks rebuilt on a config reload.
// shadowproxy_records_total{sink,outcome} counts written (accepted by the file or acknowledged by
// Kafka), spooled (appended to the spool), retried (in a Kafka write that failed and will be tried
// again) and dropped records.
//
// # Kafka messages
//
// The message key is the record's request id and the value its JSON (Encode). Headers: schema,
// route, candidate, kind, content-type (application/json), and the CloudEvents 1.0 Kafka binding's
// binary-mode attributes: ce_specversion "1.0", ce_id "<id>/<candidate>/<kind>", ce_source
// "shadowproxy/<route>", ce_type "dev.shadowproxy.record.<kind>", ce_time (RFC 3339) and ce_subject
// (the candidate). Values stay under KafkaOptions.MaxMessageBytes (default 1000000): a record that
// encodes larger loses bodies, largest first, each replaced by null with truncated set, then its diff
// values; a record still too large is dropped with reason too_large. A message the broker itself
// refuses as too large (a broker limit below MaxMessageBytes) is dropped with the same reason, so it
// never holds up the spool.
//
// # The spool and delivery guarantees
//
// When Kafka fails a write or falls behind (more than MaxInFlight records or MaxInFlightBytes
// unacknowledged), records
// are appended to the spool: segment files in SpoolOptions.Dir, each a sequence of frames (a uint32
// length, a CRC-32C of the payload, the payload: one encoded record), rotated by size. While the
// spool holds records, new records go to it too, so that the spool is replayed to Kafka in order,
// with exponential backoff between failed attempts. The read position is kept in the file "cursor";
// fully delivered segments are deleted. On start, existing segments are validated frame by frame and
// replayed; a torn or corrupt tail (a crash mid-write, a flipped bit) ends that segment's replay and
// is counted in shadowproxy_spool_corrupt_total. A spool at MaxBytes drops new records (reason
// spool_full); an append that fails (disk full) drops the record (reason spool_error) and the next
// append tries again.
//
// Delivery is at-least-once: a batch that Kafka took but did not acknowledge, or a batch in flight
// at a restart, is sent again. Consumers dedupe on the key (the request id) together with the
// candidate and kind (ce_id). Order is kept within the spool; records that failed on the direct path
// are spooled after records that were sent directly later.
//
// Records waiting in memory (the Buffer, or in the Kafka writer on the direct path) are spooled or
// sent by Close; a crash of the process loses them, but nothing the spool took.
//
// Fsync policy: each frame is one write(2), so a crash of the process loses nothing the spool took.
// Against a crash of the machine, SpoolOptions.Fsync chooses: "interval" (the default) fsyncs the
// active segment every FsyncInterval (1 s), losing at most that window; "always" fsyncs after every
// append; "never" leaves it to the OS. Segments are fsynced when rotated and when the sink closes.
// One sink at a time owns a spool directory (an flock on Dir/LOCK): on a config reload, close the
// old Kafka sink before opening the new one on the same directory (NewKafka returns ErrSpoolLocked
// otherwise).
//
// # File sink
//
// File appends JSON lines through one writer goroutine, rotates at MaxBytes to Path.1 ... Path.Keep,
// and fsyncs on Close. A failed write (ENOSPC) drops and counts that batch (reason write_error), cuts
// the file back to its last complete line and reopens it on the next batch, so it recovers by itself.
package sink
