package sink

import (
	"context"
	"errors"
	"net"
	"sync"
)

// errConnsCut is the dial error once Close has cut the connections.
var errConnsCut = errors.New("kafka sink closed")

// brokerConns dials the Kafka sink's connections to the brokers and can cut them all: kafka-go's
// writer has no other way to stop a produce request in flight (its batches retry on their own
// timers), so Close, once its ctx has ended, cuts them and the writer's goroutines end at once.
type brokerConns struct {
	dialer net.Dialer

	mu   sync.Mutex
	done bool
	open map[*brokerConn]struct{}
}

func newBrokerConns() *brokerConns {
	return &brokerConns{open: make(map[*brokerConn]struct{})}
}

// dial is kafka.Transport's Dial.
func (b *brokerConns) dial(ctx context.Context, network, addr string) (net.Conn, error) {
	b.mu.Lock()
	done := b.done
	b.mu.Unlock()
	if done {
		return nil, errConnsCut
	}
	c, err := b.dialer.DialContext(ctx, network, addr)
	if err != nil {
		return nil, err
	}
	bc := &brokerConn{Conn: c, owner: b}
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.done {
		_ = c.Close()
		return nil, errConnsCut
	}
	b.open[bc] = struct{}{}
	return bc, nil
}

// cut closes every open connection and refuses new ones.
func (b *brokerConns) cut() {
	b.mu.Lock()
	b.done = true
	open := b.open
	b.open = make(map[*brokerConn]struct{})
	b.mu.Unlock()
	for c := range open {
		_ = c.Conn.Close()
	}
}

// brokerConn is a connection that leaves its owner's set when closed.
type brokerConn struct {
	net.Conn
	owner *brokerConns
}

func (c *brokerConn) Close() error {
	c.owner.mu.Lock()
	delete(c.owner.open, c)
	c.owner.mu.Unlock()
	return c.Conn.Close()
}
