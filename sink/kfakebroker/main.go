// Command kfakebroker runs an in-process Kafka-protocol broker (github.com/twmb/franz-go/pkg/kfake)
// on a loopback port, for tests and demos that need a broker in a separate process (kcat reads from
// it in CI). It prints the broker's address on the first line of stdout, then serves until SIGINT,
// SIGTERM or the end of stdin.
//
//	kfakebroker -addr 127.0.0.1:0 -topic shadowproxy.records -data-dir /tmp/kfake
package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"os/signal"
	"strconv"
	"syscall"

	"github.com/twmb/franz-go/pkg/kfake"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "kfakebroker:", err)
		os.Exit(1)
	}
}

func run() error {
	addr := flag.String("addr", "127.0.0.1:0", "loopback address to listen on (port 0 picks one)")
	dataDir := flag.String("data-dir", "", "directory persisting the broker's log across restarts (default: memory only)")
	partitions := flag.Int("partitions", 1, "partitions of each -topic")
	autoCreate := flag.Bool("auto-create", true, "create topics on first produce")
	var topics []string
	flag.Func("topic", "topic to create at start (repeatable)", func(s string) error {
		topics = append(topics, s)
		return nil
	})
	watchStdin := flag.Bool("stdin", true, "exit when stdin reaches its end")
	flag.Parse()

	host, portStr, err := net.SplitHostPort(*addr)
	if err != nil {
		return fmt.Errorf("addr: %w", err)
	}
	port, err := strconv.Atoi(portStr)
	if err != nil {
		return fmt.Errorf("addr: %w", err)
	}
	if host == "localhost" {
		host = "127.0.0.1"
	}
	if ip := net.ParseIP(host); ip == nil || !ip.IsLoopback() {
		return errors.New("addr: the broker listens on a loopback address only")
	}
	opts := []kfake.Opt{
		kfake.NumBrokers(1),
		kfake.Ports(port),
		kfake.ListenFn(func(network, _ string) (net.Listener, error) {
			return net.Listen(network, net.JoinHostPort(host, strconv.Itoa(port)))
		}),
	}
	if *autoCreate {
		opts = append(opts, kfake.AllowAutoTopicCreation())
	}
	if len(topics) > 0 {
		opts = append(opts, kfake.SeedTopics(int32(*partitions), topics...))
	}
	if *dataDir != "" {
		opts = append(opts, kfake.DataDir(*dataDir))
	}
	c, err := kfake.NewCluster(opts...)
	if err != nil {
		return fmt.Errorf("start broker: %w", err)
	}
	defer c.Close()
	fmt.Println(c.ListenAddrs()[0])

	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGINT, syscall.SIGTERM)
	eof := make(chan struct{})
	if *watchStdin {
		go func() {
			_, _ = io.Copy(io.Discard, os.Stdin)
			close(eof)
		}()
	}
	select {
	case <-sig:
	case <-eof:
	}
	return nil
}
