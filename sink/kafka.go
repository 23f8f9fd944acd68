package sink

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/segmentio/kafka-go"
	"go.uber.org/zap"
)

// Kafka is a Sink producing records to a Kafka topic with kafka-go, asynchronously.
//
// Records go straight to Kafka while it keeps up. When Kafka fails a write, or more than
// MaxInFlight records (or MaxInFlightBytes) wait for it, records go to the disk spool instead, and stay on that path,
// in order, until a replay goroutine has delivered the whole spool; then records go straight to
// Kafka again. Delivery is at-least-once: a record can arrive twice (after a retry or a restart),
// and its key, the request id, identifies it.
type Kafka struct {
	opts    KafkaOptions
	name    string
	metrics *Metrics
	log     *zap.Logger

	in inbox // bounded by Buffer

	transport *kafka.Transport
	async     *kafka.Writer // records on the direct path
	sync      *kafka.Writer // spool replay
	spool     *spool        // nil without Spool.Dir
	sem       chan struct{} // one token per record in the async writer, MaxInFlight in all

	pendMu    sync.Mutex
	pendCond  *sync.Cond         // on pendMu: pendBytes went down
	pend      map[uint64]pending // records in the async writer, by Message.WriterData
	pendBytes int64              // bytes of the values in pend
	seq       uint64

	failing sync.Mutex // guards down
	down    bool
	noTopic atomic.Bool // set once the missing topic has been logged

	wake      chan struct{}      // cap 1: the spool has records
	drain     chan struct{}      // closed by Close: replay what is left, then stop
	flushed   chan struct{}      // closed by pump once the async writer has flushed
	replayed  chan struct{}      // closed by replay when it ends
	stopStats chan struct{}      // closed by Close: statsLoop collects once more and ends
	cancel    context.CancelFunc // ends the replay's writes
	abandon   atomic.Bool        // set by Close once its ctx has ended: pump spools or drops what is left
	conns     *brokerConns       // cut by Close once its ctx has ended: the writes in flight end
	wg        sync.WaitGroup     // every goroutine the sink starts; Close waits for them
}

type pending struct {
	value []byte
	start time.Time
}

// NewKafka builds the writers, opens (and replays) the spool and starts the sink's goroutines. It
// does not wait for Kafka (with CreateTopic, at most 5 s for the topic): a cluster that is down at
// start sends records to the spool.
func NewKafka(opts KafkaOptions) (*Kafka, error) {
	if len(opts.Brokers) == 0 {
		return nil, errors.New("kafka sink: no brokers")
	}
	if opts.Topic == "" {
		return nil, errors.New("kafka sink: topic is empty")
	}
	acks, err := requiredAcks(opts.acks())
	if err != nil {
		return nil, err
	}
	codec, err := compression(opts.compression())
	if err != nil {
		return nil, err
	}
	mech, err := saslMechanism(opts.SASL)
	if err != nil {
		return nil, err
	}
	k := &Kafka{
		opts:      opts,
		name:      opts.name(),
		metrics:   opts.Metrics,
		log:       opts.Logger,
		in:        newInbox(opts.buffer()),
		sem:       make(chan struct{}, opts.maxInFlight()),
		pend:      make(map[uint64]pending),
		wake:      make(chan struct{}, 1),
		drain:     make(chan struct{}),
		flushed:   make(chan struct{}),
		replayed:  make(chan struct{}),
		stopStats: make(chan struct{}),
		conns:     newBrokerConns(),
	}
	if k.metrics == nil {
		k.metrics = NewMetrics(nil)
	}
	if k.log == nil {
		k.log = zap.NewNop()
	}
	k.pendCond = sync.NewCond(&k.pendMu)
	k.metrics.init(k.name)
	k.transport = &kafka.Transport{
		Dial:        k.conns.dial,
		ClientID:    opts.clientID(),
		TLS:         opts.TLS,
		SASL:        mech,
		DialTimeout: 5 * time.Second,
		MetadataTTL: 10 * time.Second,
	}
	newWriter := func(async bool) *kafka.Writer {
		w := &kafka.Writer{
			Addr:                   kafka.TCP(opts.Brokers...),
			Topic:                  opts.Topic,
			Balancer:               &kafka.Hash{},
			MaxAttempts:            3,
			WriteBackoffMin:        50 * time.Millisecond,
			WriteBackoffMax:        500 * time.Millisecond,
			BatchSize:              opts.batchSize(),
			BatchBytes:             1 << 20,
			BatchTimeout:           opts.batchTimeout(),
			ReadTimeout:            opts.writeTimeout(),
			WriteTimeout:           opts.writeTimeout(),
			RequiredAcks:           acks,
			Async:                  async,
			Compression:            codec,
			Transport:              k.transport,
			AllowAutoTopicCreation: true, // the broker decides (auto.create.topics.enable), as with Kafka's own producers
		}
		if async {
			w.Completion = k.completion
		}
		return w
	}
	k.async, k.sync = newWriter(true), newWriter(false)
	if opts.Spool.Dir != "" {
		if k.spool, err = openSpool(opts.Spool, k.name, k.metrics); err != nil {
			return nil, err
		}
	}
	if opts.CreateTopic {
		k.createTopic()
	}
	ctx, cancel := context.WithCancel(context.Background())
	k.cancel = cancel
	k.wg.Go(k.pump)
	k.wg.Go(func() { k.replay(ctx) })
	k.wg.Go(k.statsLoop)
	return k, nil
}

// createTopic creates the topic if it is missing. Kafka being down is logged, not fatal: the spool
// keeps the records and produce requests may create the topic later.
func (k *Kafka) createTopic() {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	c := &kafka.Client{Addr: kafka.TCP(k.opts.Brokers...), Transport: k.transport, Timeout: 5 * time.Second}
	resp, err := c.CreateTopics(ctx, &kafka.CreateTopicsRequest{
		Topics: []kafka.TopicConfig{{Topic: k.opts.Topic, NumPartitions: -1, ReplicationFactor: -1}},
	})
	if err == nil {
		err = resp.Errors[k.opts.Topic]
	}
	if err != nil && !errors.Is(err, kafka.TopicAlreadyExists) {
		k.log.Warn("kafka sink: create topic", zap.String("topic", k.opts.Topic), zap.Error(err))
	}
}

// Write hands rec to the sink, or drops and counts it when the buffer is full. It never blocks.
func (k *Kafka) Write(rec *Record) {
	if reason := k.in.put(rec); reason != "" {
		k.metrics.drop(k.name, reason, 1)
	}
}

// pump moves records from the buffer to Kafka or to the spool and, once the buffer is closed,
// flushes the async writer. After Close's ctx has ended, it spools (or drops) what is left.
func (k *Kafka) pump() {
	size := 1024
	for rec := range k.in.ch {
		if k.abandon.Load() {
			if k.spool == nil {
				k.metrics.drop(k.name, ReasonCloseTimeout, 1)
			} else if value := k.encode(rec, size); value != nil {
				k.toSpool(value)
			}
			continue
		}
		value := k.encode(rec, size)
		if value == nil {
			continue
		}
		size = (size*7 + len(value)) / 8
		if k.spool != nil {
			if k.spool.pendingRecords() > 0 || !k.reserve(len(value)) {
				k.toSpool(value) // in order behind the spool, or Kafka is slower than the record rate
				continue
			}
		} else {
			k.reserveWait(len(value)) // without a spool, wait; Write drops when the buffer fills
		}
		k.send(rec, value)
	}
	_ = k.async.Close() // flushes; failures are spooled by completion
	close(k.flushed)
}

// reserve takes an in-flight slot for a value of n bytes if one is free.
func (k *Kafka) reserve(n int) bool {
	k.pendMu.Lock()
	defer k.pendMu.Unlock()
	if k.pendBytes > 0 && k.pendBytes+int64(n) > k.opts.maxInFlightBytes() {
		return false
	}
	select {
	case k.sem <- struct{}{}:
		k.pendBytes += int64(n)
		return true
	default:
		return false
	}
}

// reserveWait takes an in-flight slot for a value of n bytes, waiting for completions.
func (k *Kafka) reserveWait(n int) {
	k.pendMu.Lock()
	for k.pendBytes > 0 && k.pendBytes+int64(n) > k.opts.maxInFlightBytes() {
		k.pendCond.Wait()
	}
	k.pendBytes += int64(n)
	k.pendMu.Unlock()
	k.sem <- struct{}{}
}

// encode returns the message value of rec, a fresh slice of at most MaxMessageBytes, or nil after
// counting a drop.
func (k *Kafka) encode(rec *Record, size int) []byte {
	limit := k.opts.maxMessageBytes()
	value := Encode(make([]byte, 0, size+size/4), rec)
	if len(value) <= limit {
		return value
	}
	r := *rec
	r.Diff = append([]Diff(nil), rec.Diff...)
	for len(value) > limit {
		bodies := []*json.RawMessage{&r.CandidateResponse.Body, &r.PrimaryResponse.Body, &r.Request.Body}
		largest := -1
		for i, b := range bodies {
			if len(*b) > 0 && (largest < 0 || len(*b) > len(*bodies[largest])) {
				largest = i
			}
		}
		switch largest {
		case 0:
			r.CandidateResponse.Body, r.CandidateResponse.Truncated = nil, true
		case 1:
			r.PrimaryResponse.Body, r.PrimaryResponse.Truncated = nil, true
		case 2:
			r.Request.Body, r.Request.Truncated = nil, true
		default:
			cut := false
			for i := range r.Diff {
				if r.Diff[i].Primary != nil || r.Diff[i].Candidate != nil {
					r.Diff[i].Primary, r.Diff[i].Candidate = nil, nil
					cut = true
				}
			}
			if !cut {
				k.metrics.drop(k.name, ReasonTooLarge, 1)
				return nil
			}
		}
		value = Encode(value[:0], &r)
	}
	return value
}

// send hands one record to the async writer; a sem token is held.
func (k *Kafka) send(rec *Record, value []byte) {
	k.pendMu.Lock()
	k.seq++
	seq := k.seq
	k.pend[seq] = pending{value: value, start: time.Now()}
	k.pendMu.Unlock()
	msg := message(recordMeta{ID: rec.ID, Time: rec.Time, Kind: rec.Kind, Route: rec.Route, Candidate: rec.Candidate, Schema: rec.Schema}, value)
	msg.WriterData = seq
	if err := k.async.WriteMessages(context.Background(), msg); err != nil {
		k.completion([]kafka.Message{msg}, err)
	}
}

// recordMeta is what the headers need from a record; the replay decodes it from the spooled value.
type recordMeta struct {
	Schema    string    `json:"schema"`
	ID        string    `json:"id"`
	Time      time.Time `json:"time"`
	Kind      string    `json:"kind"`
	Route     string    `json:"route"`
	Candidate string    `json:"candidate"`
}

// message builds the Kafka message of one record: key = request id; headers schema, route,
// candidate, kind, content-type and the CloudEvents 1.0 binary-mode attributes.
func message(m recordMeta, value []byte) kafka.Message {
	schema := m.Schema
	if schema == "" {
		schema = Schema
	}
	h := func(k, v string) kafka.Header { return kafka.Header{Key: k, Value: []byte(v)} }
	return kafka.Message{
		Key:   []byte(m.ID),
		Value: value,
		Headers: []kafka.Header{
			h("schema", schema),
			h("route", m.Route),
			h("candidate", m.Candidate),
			h("kind", m.Kind),
			h("content-type", "application/json"),
			h("ce_specversion", "1.0"),
			h("ce_id", m.ID+"/"+m.Candidate+"/"+m.Kind),
			h("ce_source", "shadowproxy/"+m.Route),
			h("ce_type", "dev.shadowproxy.record."+m.Kind),
			h("ce_time", m.Time.UTC().Format(time.RFC3339Nano)),
			h("ce_subject", m.Candidate),
		},
	}
}

// completion is the async writer's callback: count what Kafka took, spool what it failed.
func (k *Kafka) completion(msgs []kafka.Message, err error) {
	var perMsg kafka.WriteErrors
	if errors.As(err, &perMsg) && len(perMsg) != len(msgs) {
		perMsg = nil
	}
	var failed [][]byte
	var firstErr error
	written := 0
	var oldest time.Time
	k.pendMu.Lock()
	for i, m := range msgs {
		seq, _ := m.WriterData.(uint64)
		p, ok := k.pend[seq]
		if !ok {
			continue // already spooled by a Close that ran out of time
		}
		delete(k.pend, seq)
		k.pendBytes -= int64(len(p.value))
		<-k.sem
		if oldest.IsZero() || p.start.Before(oldest) {
			oldest = p.start
		}
		e := err
		if perMsg != nil {
			e = perMsg[i]
		}
		if e == nil {
			written++
			continue
		}
		if firstErr == nil {
			firstErr = e
		}
		failed = append(failed, p.value)
	}
	k.pendCond.Broadcast()
	k.pendMu.Unlock()
	if !oldest.IsZero() {
		k.metrics.KafkaWriteDuration.Observe(time.Since(oldest).Seconds())
	}
	k.metrics.add(k.name, OutcomeWritten, written)
	if written > 0 {
		k.setDown(false, nil)
	}
	if len(failed) == 0 {
		return
	}
	k.kafkaError(firstErr, len(failed))
	for _, v := range failed {
		k.toSpool(v)
	}
}

// kafkaError counts a failed write of n records (retried) and its kind.
func (k *Kafka) kafkaError(err error, n int) {
	k.metrics.KafkaErrors.WithLabelValues(errorKind(err)).Inc()
	if errors.Is(firstError(err), kafka.UnknownTopicOrPartition) && k.noTopic.CompareAndSwap(false, true) {
		k.log.Error("kafka sink: the topic does not exist and the broker does not create topics on demand "+
			"(auto.create.topics.enable=false); records wait in the spool until it exists: create it, or set create_topic: true",
			zap.String("topic", k.opts.Topic), zap.Strings("brokers", k.opts.Brokers))
	}
	if k.spool != nil {
		k.metrics.add(k.name, OutcomeRetried, n)
	}
	k.setDown(true, err)
}

func (k *Kafka) setDown(down bool, err error) {
	k.failing.Lock()
	changed := k.down != down
	k.down = down
	k.failing.Unlock()
	if !changed {
		return
	}
	if down {
		k.log.Warn("kafka sink: writes failing; spooling", zap.String("topic", k.opts.Topic), zap.Error(err))
	} else {
		k.log.Info("kafka sink: writes succeeding again", zap.String("topic", k.opts.Topic))
	}
}

// firstError returns the first failure of a batch's per-message errors, or err itself.
func firstError(err error) error {
	var we kafka.WriteErrors
	if errors.As(err, &we) {
		for _, e := range we {
			if e != nil {
				return e
			}
		}
	}
	return err
}

// errorKind maps a kafka-go error to the kind label of kafka_errors_total.
func errorKind(err error) string {
	err = firstError(err)
	var ne net.Error
	var ke kafka.Error
	var tooLarge kafka.MessageTooLargeError
	switch {
	case errors.As(err, &tooLarge) || errors.Is(err, kafka.MessageSizeTooLarge):
		return "too_large"
	case errors.As(err, &ke): // before net.Error, which kafka.Error also implements
		if ke.Timeout() {
			return "timeout"
		}
		return "broker"
	case errors.Is(err, context.DeadlineExceeded) || errors.As(err, &ne) && ne.Timeout():
		return "timeout"
	case errors.Is(err, syscall.ECONNREFUSED) || errors.Is(err, syscall.ECONNRESET) ||
		errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) || errors.As(err, &ne):
		return "unreachable"
	}
	return "other"
}

func (k *Kafka) statsLoop() {
	t := time.NewTicker(5 * time.Second)
	defer t.Stop()
	for {
		select {
		case <-k.stopStats:
			k.collectStats()
			return
		case <-t.C:
			k.collectStats()
		}
	}
}

func (k *Kafka) collectStats() {
	k.metrics.addWriterStats(k.async.Stats())
	k.metrics.addWriterStats(k.sync.Stats())
}

// Close stops taking records, sends what is buffered (to Kafka or the spool), waits for the Kafka
// writer, replays the spool while Kafka takes it and ctx lasts (it stops at the first failed
// attempt), then closes the spool. Records still in the spool stay on disk for the next sink on the
// same directory. If ctx ends first, what the writer still holds and what is still buffered are
// spooled (and may be sent twice) or, without a spool, counted as dropped (reason close_timeout),
// and the connections to the brokers are cut so that the writes in flight end. Close returns once
// every goroutine of the sink has ended.
func (k *Kafka) Close(ctx context.Context) error {
	if !k.in.close() {
		return nil
	}

	flushed := await(ctx, k.flushed)
	close(k.drain)
	replayed := await(ctx, k.replayed)
	var errs []error
	if !flushed || !replayed {
		errs = append(errs, fmt.Errorf("close kafka sink: %w", ctx.Err()))
		k.abandon.Store(true)
		k.conns.cut()
		k.spoolPending()
	}
	k.cancel()
	close(k.stopStats)
	k.wg.Wait()
	if k.spool != nil {
		if err := k.spool.close(); err != nil {
			errs = append(errs, err)
		}
	}
	_ = k.sync.Close()
	k.transport.CloseIdleConnections()
	return errors.Join(errs...)
}

// await reports whether done is closed before ctx ends.
func await(ctx context.Context, done <-chan struct{}) bool {
	select {
	case <-done:
		return true
	default:
	}
	select {
	case <-done:
		return true
	case <-ctx.Done():
		return false
	}
}

var _ Sink = (*Kafka)(nil)
