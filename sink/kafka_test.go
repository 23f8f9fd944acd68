package sink

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"fmt"
	"io"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/segmentio/kafka-go"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

const testTopic = "shadowproxy.records"

// startCluster starts an in-process kfake broker on a loopback port (0 picks one).
func startCluster(t testing.TB, port int, opts ...kfake.Opt) (*kfake.Cluster, string) {
	t.Helper()
	opts = append([]kfake.Opt{kfake.NumBrokers(1), kfake.Ports(port), kfake.SeedTopics(3, testTopic)}, opts...)
	var c *kfake.Cluster
	var err error
	for range 50 { // a port just closed may take a moment to be free again
		if c, err = kfake.NewCluster(opts...); err == nil {
			return c, c.ListenAddrs()[0]
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatalf("start kfake: %v", err)
	return nil, ""
}

// freeAddr returns a loopback address nothing listens on.
func freeAddr(t testing.TB) (string, int) {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	return addr, l.Addr().(*net.TCPAddr).Port
}

// consume reads testTopic from the start until want distinct keys arrived or 30 s passed.
func consume(t testing.TB, addr string, want int, extra ...kgo.Opt) []*kgo.Record {
	t.Helper()
	return consumeTopic(t, addr, testTopic, want, extra...)
}

func consumeTopic(t testing.TB, addr, topic string, want int, extra ...kgo.Opt) []*kgo.Record {
	t.Helper()
	opts := append([]kgo.Opt{
		kgo.SeedBrokers(addr),
		kgo.ConsumeTopics(topic),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
	}, extra...)
	cl, err := kgo.NewClient(opts...)
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	var out []*kgo.Record
	keys := map[string]bool{}
	deadline := time.Now().Add(30 * time.Second)
	for len(keys) < want && time.Now().Before(deadline) {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		fs := cl.PollFetches(ctx)
		cancel()
		fs.EachRecord(func(r *kgo.Record) {
			out = append(out, r)
			keys[string(r.Key)] = true
		})
	}
	return out
}

func distinctKeys(rs []*kgo.Record) map[string]bool {
	m := map[string]bool{}
	for _, r := range rs {
		m[string(r.Key)] = true
	}
	return m
}

func headers(r *kgo.Record) map[string]string {
	m := map[string]string{}
	for _, h := range r.Headers {
		m[h.Key] = string(h.Value)
	}
	return m
}

func TestKafkaRecordsArriveAsEncoded(t *testing.T) {
	tlsServer, tlsClient := testTLS(t)
	mtlsServer, mtlsClient := testMTLS(t)
	tests := []struct {
		name     string
		cluster  []kfake.Opt
		opts     KafkaOptions
		consumer []kgo.Opt
	}{
		{name: "plain", opts: KafkaOptions{}},
		{name: "gzip acks leader", opts: KafkaOptions{Compression: "gzip", Acks: "leader"}},
		{name: "snappy", opts: KafkaOptions{Compression: "snappy"}},
		{name: "lz4 acks none", opts: KafkaOptions{Compression: "lz4", Acks: "none"}},
		{name: "zstd", opts: KafkaOptions{Compression: "zstd", BatchSize: 7}},
		{name: "tls",
			cluster:  []kfake.Opt{kfake.TLS(tlsServer)},
			opts:     KafkaOptions{TLS: tlsClient},
			consumer: []kgo.Opt{kgo.DialTLSConfig(tlsClient)}},
		{name: "sasl plain",
			cluster: []kfake.Opt{kfake.EnableSASL(), kfake.Superuser("PLAIN", "proxy", "s3cret")},
			opts:    KafkaOptions{SASL: SASLOptions{Mechanism: "PLAIN", Username: "proxy", Password: "s3cret"}}},
		{name: "mtls",
			cluster:  []kfake.Opt{kfake.TLS(mtlsServer)},
			opts:     KafkaOptions{TLS: mtlsClient},
			consumer: []kgo.Opt{kgo.DialTLSConfig(mtlsClient)}},
		{name: "sasl scram-sha-256 over tls",
			cluster:  []kfake.Opt{kfake.TLS(tlsServer), kfake.EnableSASL(), kfake.Superuser("SCRAM-SHA-256", "proxy", "s3cret")},
			opts:     KafkaOptions{TLS: tlsClient, SASL: SASLOptions{Mechanism: "SCRAM-SHA-256", Username: "proxy", Password: "s3cret"}},
			consumer: []kgo.Opt{kgo.DialTLSConfig(tlsClient)}},
		{name: "sasl scram-sha-512",
			cluster: []kfake.Opt{kfake.EnableSASL(), kfake.Superuser("SCRAM-SHA-512", "proxy", "s3cret")},
			opts:    KafkaOptions{SASL: SASLOptions{Mechanism: "SCRAM-SHA-512", Username: "proxy", Password: "s3cret"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, addr := startCluster(t, 0, tt.cluster...)
			defer c.Close()
			m := NewMetrics(prometheus.NewRegistry())
			opts := tt.opts
			opts.Brokers, opts.Topic, opts.Metrics = []string{addr}, testTopic, m
			opts.Spool.Dir = t.TempDir()
			k, err := NewKafka(opts)
			if err != nil {
				t.Fatal(err)
			}
			const n = 40
			want := map[string]*Record{}
			for i := range n {
				r := testRecord(fmt.Sprintf("req-%03d", i))
				r.Kind = []string{KindDisagreement, KindAgreement, KindCandidateError}[i%3]
				want[r.ID] = r
				k.Write(r)
			}
			closeCtx(t, k)
			if got := records(m, "kafka", OutcomeWritten); got != n {
				t.Errorf("written = %d, want %d", got, n)
			}
			// kafka-go's Stats are deltas: accumulated, the writers' message count is every record.
			if got := testutil.ToFloat64(m.KafkaWriterMessages); got != n {
				t.Errorf("kafka_writer_messages_total = %v, want %d", got, n)
			}
			consumer := tt.consumer
			if opts.SASL.Mechanism != "" {
				consumer = append(consumer, kgo.SASL(kgoSASL(opts.SASL)))
			}
			got := consume(t, addr, n, consumer...)
			if len(got) != n {
				t.Fatalf("%d messages, want %d", len(got), n)
			}
			for _, msg := range got {
				r := want[string(msg.Key)]
				if r == nil {
					t.Fatalf("unexpected key %q", msg.Key)
				}
				if !bytes.Equal(msg.Value, Encode(nil, r)) {
					t.Fatalf("value of %s:\n got %s\nwant %s", r.ID, msg.Value, Encode(nil, r))
				}
				h := headers(msg)
				wantH := map[string]string{
					"schema": Schema, "route": "iris", "candidate": "iris-v2", "kind": r.Kind,
					"content-type": "application/json", "ce_specversion": "1.0",
					"ce_id": r.ID + "/iris-v2/" + r.Kind, "ce_source": "shadowproxy/iris",
					"ce_type": "dev.shadowproxy.record." + r.Kind, "ce_time": "2026-11-22T10:00:00.123Z",
					"ce_subject": "iris-v2",
				}
				for key, v := range wantH {
					if h[key] != v {
						t.Errorf("header %s = %q, want %q", key, h[key], v)
					}
				}
				if len(h) != len(wantH) {
					t.Errorf("headers %v", h)
				}
			}
		})
	}
}

// TestKafkaBrokerRestart stops the broker for several seconds under a bounded stream of writes and
// restarts it on the same port and DataDir: every record arrives.
func TestKafkaBrokerRestart(t *testing.T) {
	dataDir := t.TempDir()
	c, addr := startCluster(t, 0, kfake.DataDir(dataDir))
	port, _ := strconv.Atoi(addr[strings.LastIndexByte(addr, ':')+1:])
	m := NewMetrics(nil)
	k, err := NewKafka(KafkaOptions{
		Brokers: []string{addr}, Topic: testTopic, Metrics: m, RetryBackoff: 500 * time.Millisecond,
		Spool: SpoolOptions{Dir: t.TempDir()},
	})
	if err != nil {
		t.Fatal(err)
	}
	const n = 300
	for i := range n {
		switch i {
		case 60:
			c.Close() // down for the next 150 records, about 3 s
		case 210:
			c, _ = startCluster(t, port, kfake.DataDir(dataDir))
		}
		k.Write(testRecord(fmt.Sprintf("req-%04d", i)))
		time.Sleep(20 * time.Millisecond)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	if err := k.Close(ctx); err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	got := distinctKeys(consume(t, addr, n))
	if len(got) != n {
		t.Fatalf("%d distinct keys arrived, want %d", len(got), n)
	}
	if records(m, "kafka", OutcomeSpooled) == 0 || records(m, "kafka", OutcomeRetried) == 0 {
		t.Errorf("spooled %d, retried %d: the outage went unnoticed",
			records(m, "kafka", OutcomeSpooled), records(m, "kafka", OutcomeRetried))
	}
	if d := records(m, "kafka", OutcomeDropped); d != 0 {
		t.Errorf("dropped = %d", d)
	}
	if w := records(m, "kafka", OutcomeWritten); w < n {
		t.Errorf("written = %d, want at least %d", w, n)
	}
	if testutil.ToFloat64(m.SpoolRecords) != 0 {
		t.Errorf("spool_records = %v after delivery", testutil.ToFloat64(m.SpoolRecords))
	}
	if testutil.CollectAndCount(m.KafkaErrors) == 0 {
		t.Error("no kafka_errors_total series")
	}
}

// TestKafkaSpoolSurvivesRestart closes the sink while its records sit in the spool and the broker is
// down; a new sink on the same spool directory delivers them once the broker is up, and skips a
// corrupt tail with a count.
func TestKafkaSpoolSurvivesRestart(t *testing.T) {
	addr, port := freeAddr(t)
	spoolDir := t.TempDir()
	m := NewMetrics(nil)
	opts := KafkaOptions{Brokers: []string{addr}, Topic: testTopic, Metrics: m, Spool: SpoolOptions{Dir: spoolDir}}
	k, err := NewKafka(opts)
	if err != nil {
		t.Fatal(err)
	}
	const n = 50
	for i := range n {
		k.Write(testRecord(fmt.Sprintf("req-%03d", i)))
	}
	waitFor(t, func() bool { return records(m, "kafka", OutcomeSpooled) == n })
	closeCtx(t, k)
	if got := testutil.ToFloat64(m.SpoolRecords); got != n {
		t.Fatalf("spool_records = %v after close, want %d", got, n)
	}
	// A crash mid-append left a torn frame at the end of the newest segment.
	segs := segFiles(t, spoolDir)
	f, err := os.OpenFile(segs[len(segs)-1], os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		t.Fatal(err)
	}
	f.Write([]byte{0xff, 0, 0, 0, 1, 2})
	f.Close()

	c, _ := startCluster(t, port)
	defer c.Close()
	m2 := NewMetrics(nil)
	opts.Metrics = m2
	k, err = NewKafka(opts)
	if err != nil {
		t.Fatal(err)
	}
	if got := testutil.ToFloat64(m2.SpoolCorrupt); got != 1 {
		t.Errorf("spool_corrupt_total = %v, want 1", got)
	}
	waitFor(t, func() bool { return records(m2, "kafka", OutcomeWritten) == n })
	closeCtx(t, k)
	got := consume(t, addr, n)
	if keys := distinctKeys(got); len(keys) != n {
		t.Fatalf("%d distinct keys arrived, want %d", len(keys), n)
	}
	// Replayed in order: within each partition, keys increase. Values are the records' bytes.
	last := map[int32]string{}
	for _, r := range got {
		if want := Encode(nil, testRecord(string(r.Key))); !bytes.Equal(r.Value, want) {
			t.Fatalf("value of %s after the spool:\n got %s\nwant %s", r.Key, r.Value, want)
		}
		if h := headers(r); h["ce_id"] != string(r.Key)+"/iris-v2/disagreement" || h["ce_time"] != "2026-11-22T10:00:00.123Z" {
			t.Fatalf("headers after the spool: %v", h)
		}
		if string(r.Key) <= last[r.Partition] {
			t.Fatalf("partition %d: %s after %s", r.Partition, r.Key, last[r.Partition])
		}
		last[r.Partition] = string(r.Key)
	}
	if files := segFiles(t, spoolDir); len(files) != 1 {
		t.Errorf("segments left after delivery: %v", files)
	} else if st, _ := os.Stat(files[0]); st.Size() != 0 {
		t.Errorf("%s holds %d bytes after delivery", files[0], st.Size())
	}
}

// TestKafkaSpoolFull fills a small spool while the broker is down: Write never blocks, and every
// record is spooled or dropped and counted.
func TestKafkaSpoolFull(t *testing.T) {
	addr, _ := freeAddr(t)
	m := NewMetrics(nil)
	k, err := NewKafka(KafkaOptions{
		Brokers: []string{addr}, Topic: testTopic, Metrics: m, MaxInFlight: 10, Buffer: 100,
		Spool: SpoolOptions{Dir: t.TempDir(), MaxBytes: 20000},
	})
	if err != nil {
		t.Fatal(err)
	}
	const n = 3000
	done := make(chan struct{})
	go func() {
		defer close(done)
		r := testRecord("same-id")
		for range n {
			k.Write(r)
		}
	}()
	select {
	case <-done:
	case <-time.After(20 * time.Second):
		t.Fatal("Write blocked")
	}
	closeCtx(t, k)
	spooled, dropped := records(m, "kafka", OutcomeSpooled), records(m, "kafka", OutcomeDropped)
	if spooled+dropped != n || records(m, "kafka", OutcomeWritten) != 0 {
		t.Fatalf("spooled %d + dropped %d != %d", spooled, dropped, n)
	}
	if got := testutil.ToFloat64(m.Dropped.WithLabelValues("kafka", ReasonSpoolFull)); got == 0 {
		t.Error("no spool_full drops")
	}
	if b := testutil.ToFloat64(m.SpoolBytes); b > 20000 || b == 0 {
		t.Errorf("spool_bytes = %v", b)
	}
}

func TestKafkaMessageSizeLimit(t *testing.T) {
	c, addr := startCluster(t, 0)
	defer c.Close()
	m := NewMetrics(nil)
	k, err := NewKafka(KafkaOptions{Brokers: []string{addr}, Topic: testTopic, Metrics: m, MaxMessageBytes: 3000})
	if err != nil {
		t.Fatal(err)
	}
	big := testRecord("big")
	big.CandidateResponse.Body = ResponseBody(bytes.Repeat([]byte("a"), 5000))
	big.Request.Body = RequestBody(bytes.Repeat([]byte("b"), 1000))
	huge := testRecord("huge")
	huge.Request.Headers = map[string]string{"X": strings.Repeat("h", 4000)}
	k.Write(big)
	k.Write(huge)
	k.Write(testRecord("small"))
	closeCtx(t, k)
	if got := dropped(m, "kafka", ReasonTooLarge); got != 1 {
		t.Errorf("too_large drops = %d", got)
	}
	got := consume(t, addr, 2)
	if len(got) != 2 {
		t.Fatalf("%d messages", len(got))
	}
	for _, msg := range got {
		if len(msg.Value) > 3000 {
			t.Errorf("%s: %d bytes", msg.Key, len(msg.Value))
		}
		r := decode(t, msg.Value)
		if r.ID == "big" {
			if string(r.CandidateResponse.Body) != "null" || !r.CandidateResponse.Truncated {
				t.Errorf("candidate body kept: %s", msg.Value)
			}
			if string(r.Request.Body) == "null" || r.Request.Truncated {
				t.Errorf("request body dropped though it fit: %s", msg.Value)
			}
		}
	}
	if big.CandidateResponse.Body == nil {
		t.Error("the caller's record was changed")
	}
}

func TestMultiFileAndKafka(t *testing.T) {
	c, addr := startCluster(t, 0)
	defer c.Close()
	m := NewMetrics(nil)
	path := filepath.Join(t.TempDir(), "r.jsonl")
	f, err := NewFile(FileOptions{Path: path, Metrics: m})
	if err != nil {
		t.Fatal(err)
	}
	k, err := NewKafka(KafkaOptions{Brokers: []string{addr}, Topic: testTopic, Metrics: m})
	if err != nil {
		t.Fatal(err)
	}
	s := NewMulti(f, nil, k)
	for i := range 10 {
		s.Write(testRecord(fmt.Sprintf("req-%d", i)))
	}
	closeCtx(t, s)
	if records(m, "file", OutcomeWritten) != 10 || records(m, "kafka", OutcomeWritten) != 10 {
		t.Fatalf("file %d kafka %d", records(m, "file", OutcomeWritten), records(m, "kafka", OutcomeWritten))
	}
	if n := len(readLines(t, path)); n != 10 {
		t.Errorf("%d lines", n)
	}
	if got := consume(t, addr, 10); len(got) != 10 {
		t.Errorf("%d messages", len(got))
	}
	if one := NewMulti(f); one != Sink(f) {
		t.Error("NewMulti of one sink is not that sink")
	}
}

func TestNewKafkaOptionErrors(t *testing.T) {
	tests := []struct {
		name string
		opts KafkaOptions
	}{
		{"no brokers", KafkaOptions{Topic: "t"}},
		{"no topic", KafkaOptions{Brokers: []string{"127.0.0.1:1"}}},
		{"bad acks", KafkaOptions{Brokers: []string{"127.0.0.1:1"}, Topic: "t", Acks: "2"}},
		{"bad compression", KafkaOptions{Brokers: []string{"127.0.0.1:1"}, Topic: "t", Compression: "brotli"}},
		{"bad sasl", KafkaOptions{Brokers: []string{"127.0.0.1:1"}, Topic: "t", SASL: SASLOptions{Mechanism: "GSSAPI"}}},
		{"bad fsync", KafkaOptions{Brokers: []string{"127.0.0.1:1"}, Topic: "t", Spool: SpoolOptions{Dir: t.TempDir(), Fsync: "sometimes"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if k, err := NewKafka(tt.opts); err == nil {
				closeCtx(t, k)
				t.Fatal("accepted")
			}
		})
	}
}

// TestKafkaSlowerThanRecordRate lets only one record at a time be in flight: the rest overflow into
// the spool, and every record still arrives.
func TestKafkaSlowerThanRecordRate(t *testing.T) {
	c, addr := startCluster(t, 0)
	defer c.Close()
	m := NewMetrics(nil)
	k, err := NewKafka(KafkaOptions{
		Brokers: []string{addr}, Topic: testTopic, Metrics: m, MaxInFlight: 1,
		Spool: SpoolOptions{Dir: t.TempDir()},
	})
	if err != nil {
		t.Fatal(err)
	}
	const n = 500
	for i := range n {
		k.Write(testRecord(fmt.Sprintf("req-%04d", i)))
	}
	closeCtx(t, k)
	if records(m, "kafka", OutcomeSpooled) == 0 {
		t.Error("nothing spooled")
	}
	if d := records(m, "kafka", OutcomeDropped); d != 0 {
		t.Errorf("dropped %d", d)
	}
	if got := distinctKeys(consume(t, addr, n)); len(got) != n {
		t.Fatalf("%d distinct keys, want %d", len(got), n)
	}
}

func TestKafkaCreateTopic(t *testing.T) {
	c, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.Ports(0))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	addr := c.ListenAddrs()[0]
	k, err := NewKafka(KafkaOptions{Brokers: []string{addr}, Topic: "created.records", CreateTopic: true})
	if err != nil {
		t.Fatal(err)
	}
	for i := range 5 {
		k.Write(testRecord(fmt.Sprintf("req-%d", i)))
	}
	closeCtx(t, k)
	if got := consumeTopic(t, addr, "created.records", 5); len(got) != 5 {
		t.Fatalf("%d messages", len(got))
	}
}

// testTLS returns a server and a client config trusting a fresh CA whose certificate the server
// presents, for 127.0.0.1.
func testTLS(t testing.TB) (server, client *tls.Config) {
	t.Helper()
	pool, leaf := testCA(t)
	server = &tls.Config{Certificates: []tls.Certificate{leaf(x509.ExtKeyUsageServerAuth)}, MinVersion: tls.VersionTLS12}
	client = &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}
	return server, client
}

// testMTLS returns a server config that requires a client certificate signed by a fresh CA, and a
// client config presenting one (both trust the CA).
func testMTLS(t testing.TB) (server, client *tls.Config) {
	t.Helper()
	pool, leaf := testCA(t)
	server = &tls.Config{Certificates: []tls.Certificate{leaf(x509.ExtKeyUsageServerAuth)}, ClientCAs: pool, ClientAuth: tls.RequireAndVerifyClientCert, MinVersion: tls.VersionTLS12}
	client = &tls.Config{Certificates: []tls.Certificate{leaf(x509.ExtKeyUsageClientAuth)}, RootCAs: pool, MinVersion: tls.VersionTLS12}
	return server, client
}

// testCA makes a fresh certificate authority: a pool trusting it, and leaf issuing certificates for
// 127.0.0.1 with the given use.
func testCA(t testing.TB) (*x509.CertPool, func(x509.ExtKeyUsage) tls.Certificate) {
	t.Helper()
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	caTmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "test CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		KeyUsage: x509.KeyUsageCertSign, IsCA: true, BasicConstraintsValid: true,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	ca, err := x509.ParseCertificate(caDER)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(ca)
	serial := int64(1)
	leaf := func(usage x509.ExtKeyUsage) tls.Certificate {
		key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		serial++
		tmpl := &x509.Certificate{
			SerialNumber: big.NewInt(serial), Subject: pkix.Name{CommonName: "leaf"},
			IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)},
			NotBefore:   time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
			KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{usage},
		}
		der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, &key.PublicKey, caKey)
		if err != nil {
			t.Fatal(err)
		}
		return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}
	}
	return pool, leaf
}

// TestKafkaBrokerRefusesLargeMessage sets the broker's limit below the sink's: the record the broker
// refuses is dropped and counted (reason too_large) and does not hold up the others.
func TestKafkaBrokerRefusesLargeMessage(t *testing.T) {
	c, addr := startCluster(t, 0, kfake.BrokerConfigs(map[string]string{"message.max.bytes": "3000"}))
	defer c.Close()
	m := NewMetrics(nil)
	k, err := NewKafka(KafkaOptions{
		Brokers: []string{addr}, Topic: testTopic, Metrics: m, BatchSize: 1,
		Spool: SpoolOptions{Dir: t.TempDir()},
	})
	if err != nil {
		t.Fatal(err)
	}
	big := testRecord("big")
	big.CandidateResponse.Body = ResponseBody(bytes.Repeat([]byte("a"), 5000))
	k.Write(testRecord("a"))
	k.Write(big)
	k.Write(testRecord("b"))
	waitFor(t, func() bool { return dropped(m, "kafka", ReasonTooLarge) == 1 })
	k.Write(testRecord("c"))
	closeCtx(t, k)
	got := distinctKeys(consume(t, addr, 3))
	if len(got) != 3 || got["big"] {
		t.Fatalf("keys %v", got)
	}
	if w := records(m, "kafka", OutcomeWritten); w != 3 {
		t.Errorf("written = %d", w)
	}
}

func TestErrorKind(t *testing.T) {
	tests := []struct {
		err  error
		want string
	}{
		{kafka.MessageSizeTooLarge, "too_large"},
		{kafka.MessageTooLargeError{}, "too_large"},
		{kafka.NotLeaderForPartition, "broker"},
		{kafka.RequestTimedOut, "timeout"},
		{kafka.WriteErrors{nil, kafka.LeaderNotAvailable}, "broker"},
		{&net.OpError{Op: "dial", Net: "tcp", Err: syscall.ECONNREFUSED}, "unreachable"},
		{fmt.Errorf("write: %w", io.EOF), "unreachable"},
		{context.DeadlineExceeded, "timeout"},
		{errors.New("something else"), "other"},
	}
	for _, tt := range tests {
		if got := errorKind(tt.err); got != tt.want {
			t.Errorf("errorKind(%v) = %s, want %s", tt.err, got, tt.want)
		}
	}
}

// BenchmarkKafkaSink measures records through the Kafka sink to an in-process broker, Close
// included.
func BenchmarkKafkaSink(b *testing.B) {
	c, addr := startCluster(b, 0)
	defer c.Close()
	m := NewMetrics(nil)
	k, err := NewKafka(KafkaOptions{Brokers: []string{addr}, Topic: testTopic, Metrics: m, Buffer: 4096,
		Spool: SpoolOptions{Dir: b.TempDir()}})
	if err != nil {
		b.Fatal(err)
	}
	r := testRecord("0123456789abcdef")
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		k.Write(r)
		// Bursts of 4000, then wait for the sink: this measures throughput, not the cost of a drop.
		if i++; i%4000 == 0 {
			poll(b, func() bool {
				return records(m, "kafka", OutcomeWritten)+records(m, "kafka", OutcomeSpooled)+records(m, "kafka", OutcomeDropped) >= i
			})
		}
	}
	closeCtx(b, k)
	b.ReportMetric(float64(records(m, "kafka", OutcomeDropped)), "dropped")
	b.ReportMetric(float64(records(m, "kafka", OutcomeSpooled)), "spooled")
}

// TestKafkaSlowBrokerCloseTimeout holds every produce request: Close runs out of time with records
// still in the Kafka writer; they are spooled, and a later sink on the spool delivers them.
func TestKafkaSlowBrokerCloseTimeout(t *testing.T) {
	c, addr := startCluster(t, 0)
	defer c.Close()
	release := make(chan struct{})
	var once sync.Once
	unblock := func() { once.Do(func() { close(release) }) }
	defer unblock()
	c.ControlKey(int16(kmsg.Produce), func(kmsg.Request) (kmsg.Response, error, bool) {
		c.KeepControl()
		c.SleepControl(func() { <-release })
		return nil, nil, false
	})
	spoolDir := t.TempDir()
	m := NewMetrics(nil)
	opts := KafkaOptions{Brokers: []string{addr}, Topic: testTopic, Metrics: m, Spool: SpoolOptions{Dir: spoolDir}}
	k, err := NewKafka(opts)
	if err != nil {
		t.Fatal(err)
	}
	const n = 30
	for i := range n {
		k.Write(testRecord(fmt.Sprintf("req-%03d", i)))
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	if err := k.Close(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Close = %v, want a deadline error", err)
	}
	// The broker still holds the produce requests: Close must have cut them and waited for the
	// sink's goroutines and its Kafka writers', not left them to end on their own timers.
	if g := kafkaGoroutines(); g != "" {
		t.Fatalf("goroutines left after Close:\n%s", g)
	}
	if got := records(m, "kafka", OutcomeSpooled); got != n {
		t.Fatalf("spooled %d, want %d", got, n)
	}
	if got := records(m, "kafka", OutcomeDropped); got != 0 {
		t.Fatalf("dropped %d", got)
	}
	unblock() // the broker is fast again
	k, err = NewKafka(opts)
	if err != nil {
		t.Fatal(err)
	}
	closeCtx(t, k)
	if got := distinctKeys(consume(t, addr, n)); len(got) != n {
		t.Fatalf("%d distinct keys, want %d", len(got), n)
	}
}

// kafkaGoroutines returns the stacks of the goroutines that run the Kafka sink's code or kafka-go's
// writers.
func kafkaGoroutines() string {
	buf := make([]byte, 1<<20)
	buf = buf[:runtime.Stack(buf, true)]
	var out []string
	for g := range strings.SplitSeq(string(buf), "\n\n") {
		if strings.Contains(g, "shadowproxy/sink.(*Kafka)") || strings.Contains(g, "kafka-go.(*partitionWriter)") ||
			strings.Contains(g, "kafka-go.(*Writer)") {
			out = append(out, g)
		}
	}
	return strings.Join(out, "\n\n")
}
