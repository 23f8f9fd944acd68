package sink

import (
	"context"
	"encoding/json"
	"errors"
	"math/rand/v2"
	"time"

	"github.com/segmentio/kafka-go"
)

// The Kafka sink's side of the spool: records the broker did not take go to disk, and come back
// from it, in order, once the broker is reachable again.

// toSpool appends one value to the spool and wakes the replay, or drops it.
func (k *Kafka) toSpool(value []byte) {
	if k.spool == nil {
		k.metrics.drop(k.name, ReasonKafkaError, 1)
		return
	}
	if err := k.spool.append(value); err != nil {
		switch {
		case errors.Is(err, ErrSpoolFull):
			k.metrics.drop(k.name, ReasonSpoolFull, 1)
		case errors.Is(err, errSpoolClosed):
			k.metrics.drop(k.name, ReasonCloseTimeout, 1)
		default:
			k.metrics.drop(k.name, ReasonSpoolError, 1)
		}
		return
	}
	k.metrics.add(k.name, OutcomeSpooled, 1)
	select {
	case k.wake <- struct{}{}:
	default:
	}
}

// replay delivers the spool to Kafka in order, with exponential backoff between failed attempts,
// until ctx ends or, once drain is closed, the spool is empty.
func (k *Kafka) replay(ctx context.Context) {
	defer close(k.replayed)
	if k.spool == nil {
		return
	}
	bo := backoff{min: min(100*time.Millisecond, k.opts.retryBackoff()), max: k.opts.retryBackoff()}
	draining := false
	for ctx.Err() == nil {
		frames, end := k.spool.read(10*k.opts.batchSize(), 4<<20)
		if len(frames) == 0 {
			if draining && k.spool.pendingRecords() == 0 {
				return
			}
			select {
			case <-ctx.Done():
				return
			case <-k.wake:
			case <-k.drain:
				draining = true
			case <-time.After(time.Second):
			}
			continue
		}
		msgs := make([]kafka.Message, 0, len(frames))
		for _, f := range frames {
			var m recordMeta
			_ = json.Unmarshal(f, &m) // spooled values were encoded by Encode; headers are best effort
			msgs = append(msgs, message(m, f))
		}
		for {
			start := time.Now()
			tooLarge := 0
			err := k.sync.WriteMessages(ctx, msgs...)
			k.metrics.KafkaWriteDuration.Observe(time.Since(start).Seconds())
			if err != nil && errorKind(err) == "too_large" {
				// A message the broker will never take must not block the spool: send the batch
				// one by one and drop what is too large.
				k.metrics.KafkaErrors.WithLabelValues("too_large").Inc()
				tooLarge, err = k.writeEach(ctx, msgs)
			}
			if err == nil {
				k.spool.ack(end, len(frames))
				k.metrics.add(k.name, OutcomeWritten, len(frames)-tooLarge)
				k.setDown(false, nil)
				bo.reset()
				break
			}
			if ctx.Err() != nil {
				return // not acknowledged: the next sink on this spool sends them
			}
			k.kafkaError(err, len(frames))
			select {
			case <-k.drain:
				return // closing while Kafka fails: the records stay in the spool
			default:
			}
			select {
			case <-ctx.Done():
				return
			case <-time.After(bo.next()):
			}
		}
	}
}

// writeEach writes msgs one at a time, dropping (reason too_large) each the broker refuses as too
// large, and returns how many it dropped. On any other error the batch is retried whole.
func (k *Kafka) writeEach(ctx context.Context, msgs []kafka.Message) (int, error) {
	tooLarge := 0
	for _, m := range msgs {
		if err := k.sync.WriteMessages(ctx, m); err != nil {
			if errorKind(err) != "too_large" {
				return 0, err
			}
			tooLarge++
		}
	}
	k.metrics.drop(k.name, ReasonTooLarge, tooLarge)
	return tooLarge, nil
}

// spoolPending spools (or drops) the records still in the async writer when Close ran out of time.
func (k *Kafka) spoolPending() {
	k.pendMu.Lock()
	left := make([][]byte, 0, len(k.pend))
	for seq, p := range k.pend {
		delete(k.pend, seq)
		<-k.sem // the token its send took; a completion for it finds no entry and takes none
		left = append(left, p.value)
	}
	k.pendBytes = 0
	k.pendCond.Broadcast()
	k.pendMu.Unlock()
	for _, v := range left {
		if k.spool == nil {
			k.metrics.drop(k.name, ReasonCloseTimeout, 1)
			continue
		}
		k.toSpool(v)
	}
}

// backoff is exponential backoff with full jitter between min and max.
type backoff struct {
	min, max time.Duration
	n        int
}

func (b *backoff) next() time.Duration {
	d := b.min << min(b.n, 20)
	if d > b.max || d <= 0 {
		d = b.max
	} else {
		b.n++
	}
	return d/2 + time.Duration(rand.Int64N(int64(d/2)+1))
}

func (b *backoff) reset() { b.n = 0 }
