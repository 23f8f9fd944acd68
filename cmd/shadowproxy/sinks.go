package main

import (
	"context"
	"fmt"
	"os"
	"reflect"

	"go.uber.org/zap"

	"github.com/shadowproxy/shadowproxy/configs"
	"github.com/shadowproxy/shadowproxy/sink"
)

// buildSinks opens the configured sinks; with both set, records go to each.
func buildSinks(c configs.Sinks, m *sink.Metrics, log *zap.Logger) (sink.Sink, error) {
	var out []sink.Sink
	if f := c.File; f != nil {
		s, err := sink.NewFile(fileOptions(f, m, log))
		if err != nil {
			return nil, fmt.Errorf("file sink: %w", err)
		}
		out = append(out, s)
	}
	if k := c.Kafka; k != nil {
		opts, err := kafkaOptions(k, m, log)
		var s *sink.Kafka
		if err == nil {
			s, err = sink.NewKafka(opts)
		}
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

// fileOptions maps the file sink's config onto sink.FileOptions.
func fileOptions(f *configs.FileSink, m *sink.Metrics, log *zap.Logger) sink.FileOptions {
	return sink.FileOptions{
		Path:     f.Path,
		MaxBytes: int64(f.MaxBytes),
		Keep:     f.Keep,
		Buffer:   f.Buffer,
		Metrics:  m,
		Logger:   log,
	}
}

// kafkaOptions maps the Kafka sink's config onto sink.KafkaOptions, reading the TLS files and the
// SASL secrets' environment variables.
func kafkaOptions(k *configs.KafkaSink, m *sink.Metrics, log *zap.Logger) (sink.KafkaOptions, error) {
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
			return opts, err
		}
		opts.TLS = t
	}
	if s := k.SASL; s != nil {
		opts.SASL = sink.SASLOptions{Mechanism: s.Mechanism, Username: os.Getenv(s.UsernameEnv), Password: os.Getenv(s.PasswordEnv)}
		if opts.SASL.Username == "" || opts.SASL.Password == "" {
			return opts, fmt.Errorf("sasl: environment variables %s and %s must be set", s.UsernameEnv, s.PasswordEnv)
		}
	}
	return opts, nil
}

// reconfigureSinks replaces the sinks behind a.sinks when c differs from the running sinks config.
// If the new sinks cannot be opened, the old config's are opened again and the error returned.
func (a *app) reconfigureSinks(ctx context.Context, c configs.Sinks) error {
	if reflect.DeepEqual(c, a.sinksCfg) {
		return nil
	}
	closeErr, err := a.sinks.Replace(ctx, func() (sink.Sink, error) { return buildSinks(c, a.metrics.sink, a.log) })
	if closeErr != nil {
		a.log.Warn("close sinks for reload", zap.Error(closeErr))
	}
	if err != nil {
		if _, oldErr := a.sinks.Replace(ctx, func() (sink.Sink, error) { return buildSinks(a.sinksCfg, a.metrics.sink, a.log) }); oldErr != nil {
			a.log.Error("reopen the previous sinks: records are dropped until the next good reload", zap.Error(oldErr))
		}
		return err
	}
	a.sinksCfg = c
	a.log.Info("sinks reconfigured")
	return nil
}

// closeNow closes a sink without waiting for a drain.
func closeNow(s interface{ Close(context.Context) error }) error {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	return s.Close(ctx)
}
