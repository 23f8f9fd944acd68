package sink

import (
	"context"
	"errors"
	"sync"
)

// Multi is a Sink writing every record to each of its sinks (the file and Kafka sinks together).
type Multi []Sink

// NewMulti returns a Sink writing to every non-nil sink of sinks: the sink itself when there is one.
func NewMulti(sinks ...Sink) Sink {
	var m Multi
	for _, s := range sinks {
		if s != nil {
			m = append(m, s)
		}
	}
	if len(m) == 1 {
		return m[0]
	}
	return m
}

// Write hands rec to each sink; none of them blocks.
func (m Multi) Write(rec *Record) {
	for _, s := range m {
		s.Write(rec)
	}
}

// Close closes the sinks concurrently, under the same ctx, and joins their errors.
func (m Multi) Close(ctx context.Context) error {
	errs := make([]error, len(m))
	var wg sync.WaitGroup
	for i, s := range m {
		wg.Go(func() { errs[i] = s.Close(ctx) })
	}
	wg.Wait()
	return errors.Join(errs...)
}

var _ Sink = Multi(nil)
