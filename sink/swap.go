package sink

import (
	"context"
	"sync"
	"sync/atomic"
)

// Swap is a Sink whose destination can be replaced while records are written to it: the sink a
// process's pipelines write to across config reloads. Write never blocks on a replacement. Without
// a destination (after Close, or after a Replace whose open failed) records go nowhere.
type Swap struct {
	cur atomic.Pointer[box] // nil: no destination
	mu  sync.Mutex          // one Replace or Close at a time
}

// box holds a destination: atomic.Pointer needs a concrete type, and Sink is an interface.
type box struct{ s Sink }

// NewSwap returns a Swap writing to s.
func NewSwap(s Sink) *Swap {
	w := &Swap{}
	if s != nil {
		w.cur.Store(&box{s})
	}
	return w
}

// Write hands rec to the current destination.
func (w *Swap) Write(rec *Record) {
	if b := w.cur.Load(); b != nil {
		b.s.Write(rec)
	}
}

// Close closes the current destination; records written afterwards go nowhere.
func (w *Swap) Close(ctx context.Context) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if b := w.cur.Swap(nil); b != nil {
		return b.s.Close(ctx)
	}
	return nil
}

// Replace closes the current destination, then opens its successor with open and writes to it. The
// old destination closes first because it may hold what its successor needs (a Kafka spool
// directory can be open only once), and it stays in place while it closes, so that records written
// meanwhile are counted by it (dropped, reason closed) instead of vanishing. closeErr is the old
// destination's Close error, which does not stop the replacement; err is open's, after which the
// Swap has no destination until the next Replace.
func (w *Swap) Replace(ctx context.Context, open func() (Sink, error)) (closeErr, err error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if b := w.cur.Load(); b != nil {
		closeErr = b.s.Close(ctx)
	}
	next, err := open()
	if err != nil || next == nil {
		w.cur.Store(nil)
		return closeErr, err
	}
	w.cur.Store(&box{next})
	return closeErr, nil
}

var _ Sink = (*Swap)(nil)
