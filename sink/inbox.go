package sink

import "sync"

// inbox is the bounded buffer between a sink's Write and its writer goroutine: a Write never
// blocks on it, a full or closed inbox drops the record.
type inbox struct {
	mu     sync.RWMutex // guards closed against the close of ch
	closed bool
	ch     chan *Record // bounded by the sink's Buffer
}

func newInbox(size int) inbox { return inbox{ch: make(chan *Record, size)} }

// put hands rec to the writer goroutine; it returns the reason rec was dropped, "" when it was not.
func (b *inbox) put(rec *Record) string {
	b.mu.RLock()
	reason := ""
	switch {
	case b.closed:
		reason = ReasonClosed
	default:
		select {
		case b.ch <- rec:
		default:
			reason = ReasonBufferFull
		}
	}
	b.mu.RUnlock()
	return reason
}

// close closes ch, once: it returns false when it was closed already.
func (b *inbox) close() bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed {
		return false
	}
	b.closed = true
	close(b.ch)
	return true
}
