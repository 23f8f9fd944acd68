package main

import (
	"context"
	"fmt"
	"os"
	"reflect"
	"sync/atomic"

	"go.uber.org/zap"

	"github.com/shadowproxy/shadowproxy/configs"
	"github.com/shadowproxy/shadowproxy/sink"
)

// buildSinks opens the configured sinks; with both set, records go to each.
func buildSinks(c configs.Sinks, m *sink.Metrics, log *zap.Logger) (sink.Sink, error) {
	var out []sink.Sink
	if f := c.File; f != nil {
		s, err := sink.NewFile(sink.FileOptions{
			Path:     f.Path,
			MaxBytes: int64(f.MaxBytes),
			Keep:     f.Keep,
			Buffer:   f.Buffer,
			Metrics:  m,
			Logger:   log,
		})
		if err != nil {
			return nil, fmt.Errorf("file sink: %w", err)
		}
		out = append(out, s)
	}
	if k := c.Kafka; k != nil {
		opts := sink.KafkaOptions{
			Brokers:      k.Brokers,
			Topic:        k.Topic,
			Acks:         k.Acks,
			Compression:  k.Compression,
			BatchSize:    k.BatchSize,
			BatchTimeout: k.BatchTimeout.D(),
			ClientID:     k.ClientID,
			CreateTopic:  k.CreateTopic,
			Buffer:       k.Buffer,
			Spool: sink.SpoolOptions{
				Dir:           k.Spool.Dir,
				MaxBytes:      int64(k.Spool.MaxBytes),
				Fsync:         k.Spool.Fsync,
				FsyncInterval: k.Spool.FsyncInterval.D(),
			},
			Metrics: m,
			Logger:  log,
		}
		if k.TLS != nil {
			t, err := tlsConfig(*k.TLS)
			if err != nil {
				return nil, fmt.Errorf("kafka sink: %w", err)
			}
			opts.TLS = t
		}
		if s := k.SASL; s != nil {
			opts.SASL = sink.SASLOptions{Mechanism: s.Mechanism, Username: os.Getenv(s.UsernameEnv), Password: os.Getenv(s.PasswordEnv)}
			if opts.SASL.Username == "" || opts.SASL.Password == "" {
				return nil, fmt.Errorf("kafka sink: sasl: environment variables %s and %s must be set", s.UsernameEnv, s.PasswordEnv)
			}
		}
		s, err := sink.NewKafka(opts)
		if err != nil {
			for _, o := range out {
				_ = closeNow(o)
			}
			return nil, fmt.Errorf("kafka sink: %w", err)
		}
		out = append(out, s)
	}
	switch len(out) {
	case 0:
		return nil, nil
	case 1:
		return out[0], nil
	}
	return sink.NewMulti(out...), nil
}

// switchSink is the sink every pipeline writes to. A reload that changes the sinks config swaps what
// is behind it: the old sinks are closed first (a Kafka spool directory can be open only once), then
// the new ones opened.
type switchSink struct {
	cur atomic.Pointer[sinkBox]
	cfg configs.Sinks
}

type sinkBox struct{ s sink.Sink }

var _ sink.Sink = (*switchSink)(nil)

func newSwitchSink(c configs.Sinks, m *sink.Metrics, log *zap.Logger) (*switchSink, error) {
	s, err := buildSinks(c, m, log)
	if err != nil {
		return nil, err
	}
	sw := &switchSink{cfg: c}
	sw.cur.Store(&sinkBox{s})
	return sw, nil
}

// Write implements sink.Sink.
func (sw *switchSink) Write(r *sink.Record) {
	if b := sw.cur.Load(); b != nil && b.s != nil {
		b.s.Write(r)
	}
}

// Close implements sink.Sink.
func (sw *switchSink) Close(ctx context.Context) error {
	if b := sw.cur.Swap(nil); b != nil && b.s != nil {
		return b.s.Close(ctx)
	}
	return nil
}

// reconfigure replaces the sinks when c differs from the current config. If the new sinks cannot be
// opened, the old config's are opened again and the error returned.
func (sw *switchSink) reconfigure(ctx context.Context, c configs.Sinks, m *sink.Metrics, log *zap.Logger) error {
	if reflect.DeepEqual(c, sw.cfg) {
		return nil
	}
	// The old sinks stay in place while they close, so records written meanwhile are counted as
	// dropped (reason closed) by them rather than vanishing.
	if b := sw.cur.Load(); b != nil && b.s != nil {
		if err := b.s.Close(ctx); err != nil {
			log.Warn("close sinks for reload", zap.Error(err))
		}
	}
	s, err := buildSinks(c, m, log)
	if err != nil {
		old, oldErr := buildSinks(sw.cfg, m, log)
		if oldErr != nil {
			log.Error("reopen the previous sinks: records are dropped until the next good reload", zap.Error(oldErr))
		}
		sw.cur.Store(&sinkBox{old})
		return err
	}
	sw.cfg = c
	sw.cur.Store(&sinkBox{s})
	log.Info("sinks reconfigured")
	return nil
}
