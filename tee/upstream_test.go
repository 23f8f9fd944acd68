package tee

import (
	"bytes"
	"fmt"
	"net"
	"runtime"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/klauspost/compress/gzip"
	"github.com/klauspost/compress/zlib"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/valyala/fasthttp"

	"github.com/shadowproxy/shadowproxy/proxy/proxytest"
)

// allocated returns the bytes f allocates (all goroutines' allocations while it runs).
func allocated(f func()) uint64 {
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	f()
	runtime.ReadMemStats(&after)
	return after.TotalAlloc - before.TotalAlloc
}

// zstdRLEBomb is a zstd frame of RLE blocks: 4 bytes for each 128 KiB of output, so 32 KiB expand
// to 1 GiB.
func zstdRLEBomb(size int) []byte {
	// Magic number; a frame header with no content size and no checksum; an 8 MiB window.
	b := []byte{0x28, 0xb5, 0x2f, 0xfd, 0x00, 13 << 3}
	for size > 0 {
		n := min(size, 128<<10)
		size -= n
		h := uint32(n)<<3 | 1<<1 // block size, block type RLE
		if size == 0 {
			h |= 1 // last block
		}
		b = append(b, byte(h), byte(h>>8), byte(h>>16), 'a')
	}
	return b
}

// compressZeros compresses size zero bytes with w (a gzip, zlib or brotli writer over out).
func compressZeros(t testing.TB, w interface {
	Write([]byte) (int, error)
	Close() error
}, size int) {
	t.Helper()
	zeros := make([]byte, 1<<20)
	for ; size > 0; size -= len(zeros) {
		if _, err := w.Write(zeros[:min(size, len(zeros))]); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
}

// gzipBomb is size MiB of zeros as a multi-member gzip stream, one member per MiB (as fast to make
// for any size, and decoded whole by gzip readers).
func gzipBomb(t testing.TB, mib int) []byte {
	var out bytes.Buffer
	w, _ := gzip.NewWriterLevel(&out, gzip.BestCompression)
	compressZeros(t, w, 1<<20)
	return bytes.Repeat(out.Bytes(), mib)
}

func zlibBomb(t testing.TB, size int) []byte {
	var out bytes.Buffer
	w, _ := zlib.NewWriterLevel(&out, zlib.BestCompression)
	compressZeros(t, w, size)
	return out.Bytes()
}

func brotliBomb(t testing.TB, size int) []byte {
	return fasthttp.AppendBrotliBytesLevel(nil, make([]byte, size), fasthttp.CompressBrotliBestSpeed)
}

func TestAppendDecodedRoundTrips(t *testing.T) {
	const text = `{"predictions":[{"label":2,"scores":[0.1,0.9]}]}`
	in := []byte(text)
	for _, tt := range []struct {
		enc  string
		body []byte
	}{
		{"", in},
		{"identity", in},
		{"gzip", fasthttp.AppendGzipBytes(nil, in)},
		{"GZIP", fasthttp.AppendGzipBytes(nil, in)},
		{"deflate", fasthttp.AppendDeflateBytes(nil, in)}, // zlib, as HTTP's deflate is
		{"deflate", rawDeflate(in)},                       // raw deflate, as some servers send it
		{"br", fasthttp.AppendBrotliBytes(nil, in)},
		{"zstd", fasthttp.AppendZstdBytes(nil, in)},
	} {
		for range 2 { // twice: the second time with a pooled decoder
			got, err := appendDecoded([]byte("x"), []byte(tt.enc), tt.body, len(text))
			if err != nil || string(got) != "x"+text {
				t.Errorf("%q: %q, %v", tt.enc, got, err)
			}
			if _, err := appendDecoded(nil, []byte(tt.enc), tt.body, len(text)-1); err != errDecodedTooLarge {
				t.Errorf("%q with a limit one byte short: %v, want errDecodedTooLarge", tt.enc, err)
			}
		}
	}
	if _, err := appendDecoded(nil, []byte("compress"), in, 1<<20); err != errUnknownEncoding {
		t.Errorf("unknown encoding: %v", err)
	}
	if _, err := appendDecoded(nil, []byte("gzip"), in, 1<<20); err == nil {
		t.Error("plain bytes decoded as gzip")
	}
}

func rawDeflate(in []byte) []byte {
	z := fasthttp.AppendDeflateBytes(nil, in)
	return z[2 : len(z)-4] // less zlib's header and checksum
}

// TestDecompressionBombsAreBounded: answers that expand to 1 GiB (zstd, gzip) or 16 MiB (deflate,
// brotli: slower to make) cost the decoder its window at most, not the expansion.
func TestDecompressionBombsAreBounded(t *testing.T) {
	const limit = 64 << 10
	slow := 16 << 20 // what deflate and brotli bombs expand to
	if raceEnabled {
		slow = 4 << 20 // still a bomb; the bound below then tells less
	}
	bombs := []struct {
		enc  string
		body []byte
	}{
		{"zstd", zstdRLEBomb(1 << 30)},
		{"gzip", gzipBomb(t, 1024)},
		{"deflate", zlibBomb(t, slow)},
		{"br", brotliBomb(t, slow)},
	}
	for _, b := range bombs {
		var err error
		var out []byte
		n := allocated(func() { out, err = appendDecoded(nil, []byte(b.enc), b.body, limit) })
		if err != errDecodedTooLarge || len(out) > limit {
			t.Errorf("%s bomb (%d bytes): %d bytes, %v; want errDecodedTooLarge", b.enc, len(b.body), len(out), err)
		}
		if n > 12<<20 {
			t.Errorf("%s bomb (%d bytes) allocated %d MiB decoding with a %d KiB limit", b.enc, len(b.body), n>>20, limit>>10)
		}
	}
}

// TestTeeCompressedBombIsNotMirrored: a primary answer that expands past max_body is not sent to the
// candidate nor compared, it is counted (body_too_large), and memory stays bounded.
func TestTeeCompressedBombIsNotMirrored(t *testing.T) {
	var hits atomic.Int64
	url := proxytest.Serve(t, func(ctx *fasthttp.RequestCtx) { hits.Add(1); ctx.SetBodyString(`{}`) })
	tee := newTestTee(t, prometheus.NewRegistry(), Options{
		Candidates: []CandidateOptions{{UpstreamOptions: UpstreamOptions{Name: "c", URL: url}, Sample: 1}},
		MaxBody:    64 << 10,
	})
	bombs := map[string][]byte{"zstd": zstdRLEBomb(1 << 30), "gzip": gzipBomb(t, 48)}
	n := allocated(func() {
		for range 4 {
			for enc, body := range bombs {
				req, resp := exchange("bomb", `{}`, "")
				resp.SetBody(body)
				resp.Header.SetContentEncoding(enc)
				if !tee.Offer(offered(req, resp, 0)) {
					t.Fatalf("%s bomb of %d bytes not taken", enc, len(body))
				}
			}
		}
		closeTee(t, tee)
	})
	if got := testutil.ToFloat64(tee.metrics.drops.WithLabelValues("iris", "c", dropBodyTooLarge)); got != 8 {
		t.Errorf("body_too_large drops = %v, want 8", got)
	}
	if hits.Load() != 0 {
		t.Errorf("the candidate got %d requests for answers that cannot be compared", hits.Load())
	}
	if n > 64<<20 {
		t.Errorf("8 bombs allocated %d MiB", n>>20)
	}
}

// TestTeeStrayCandidateAnswersKeepTheirRequest: a candidate that writes an extra response after each
// answer must not make records pair a request with another request's answer.
func TestTeeStrayCandidateAnswersKeepTheirRequest(t *testing.T) {
	cand := proxytest.StrayServer(t, nil)
	ms := &memorySink{}
	tee := newTestTee(t, prometheus.NewRegistry(), Options{
		Candidates: []CandidateOptions{{UpstreamOptions: UpstreamOptions{Name: "c", URL: cand.URL, Concurrency: 1, IdleTimeout: time.Minute}, Sample: 1}},
		Record:     RecordOptions{Agreements: 1, Disagreements: 1},
		Sink:       ms,
	})
	for i := range 4 {
		id := fmt.Sprintf("req-%d", i)
		req, resp := exchange(id, `{}`, id)
		resp.Header.SetContentType("text/plain")
		tee.Offer(offered(req, resp, 0))
		// Once the candidate has answered, its stray answer arrives while the connection is idle (one
		// arriving after the next shadow went out is the known limit).
		for end := time.Now().Add(10 * time.Second); testutil.ToFloat64(tee.metrics.shadows.WithLabelValues("iris", "c", "ok")) < float64(i+1); {
			if time.Now().After(end) {
				t.Fatalf("shadow %d not answered in 10s", i)
			}
			time.Sleep(5 * time.Millisecond)
		}
		cand.Send(t)
	}
	closeTee(t, tee)
	recs := ms.records()
	if len(recs) != 4 {
		t.Fatalf("%d records, want 4", len(recs))
	}
	for _, r := range recs {
		if got := strings.Trim(string(r.CandidateResponse.Body), `"`); got != r.ID || r.Kind != "agreement" {
			t.Errorf("record %s (%s): the candidate's answer is %s", r.ID, r.Kind, r.CandidateResponse.Body)
		}
	}
	if got := cand.Conns.Load(); got != 4 {
		t.Errorf("%d connections to the candidate, want 4: one per stray answer", got)
	}
}

// TestTeeIdleClosingCandidateNoFailedShadows: a candidate that closes idle connections after 150ms,
// bursts of shadows 300ms apart: none fails.
func TestTeeIdleClosingCandidateNoFailedShadows(t *testing.T) {
	url := proxytest.IdleClosingServer(t, 150*time.Millisecond, func(ctx *fasthttp.RequestCtx) {
		ctx.SetContentType("application/json")
		ctx.SetBodyString(`{"predictions":[1]}`)
	})
	tee := newTestTee(t, prometheus.NewRegistry(), Options{
		Candidates: []CandidateOptions{{UpstreamOptions: UpstreamOptions{Name: "c", URL: url, Concurrency: 16, IdleTimeout: time.Minute}, Sample: 1}},
	})
	const bursts, per = 4, 16
	for range bursts {
		for i := range per {
			req, resp := exchange(fmt.Sprint(i), `{"x":1}`, `{"predictions":[1]}`)
			tee.Offer(offered(req, resp, 0))
		}
		waitShadows(t, tee)
		time.Sleep(300 * time.Millisecond)
	}
	closeTee(t, tee)
	ok := testutil.ToFloat64(tee.metrics.shadows.WithLabelValues("iris", "c", "ok"))
	failed := testutil.ToFloat64(tee.metrics.shadows.WithLabelValues("iris", "c", "error"))
	if ok != bursts*per || failed != 0 {
		t.Errorf("shadows ok %v, error %v; want %d ok", ok, failed, bursts*per)
	}
}

// waitShadows waits until no shadow is queued or in flight.
func waitShadows(t *testing.T, tee *Tee) {
	t.Helper()
	for end := time.Now().Add(10 * time.Second); time.Now().Before(end); time.Sleep(5 * time.Millisecond) {
		c := tee.cands[0]
		if len(c.queue) == 0 && c.client.PendingRequests() == 0 {
			return
		}
	}
	t.Fatal("shadows still in flight after 10s")
}

// endlessServer answers every request with a chunked body that never ends (until the client goes).
func endlessServer(t *testing.T, sent *atomic.Int64) string {
	chunk := []byte(fmt.Sprintf("%x\r\n%s\r\n", 32<<10, strings.Repeat("a", 32<<10)))
	return proxytest.ServeConns(t, func(c net.Conn) {
		_ = c.SetDeadline(time.Now().Add(10 * time.Second))
		buf := make([]byte, 4096)
		if _, err := c.Read(buf); err != nil {
			return
		}
		if _, err := c.Write([]byte("HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n")); err != nil {
			return
		}
		for range (256 << 20) / len(chunk) { // bounded: 256 MiB at most
			if _, err := c.Write(chunk); err != nil {
				return
			}
			sent.Add(int64(len(chunk)))
		}
	})
}

// TestTeeEndlessCandidateBodyIsCut: a candidate streaming a body that never ends is read up to
// MaxResponseBody (the default: MaxBody), counted as its error, and the buffers do not stay large.
func TestTeeEndlessCandidateBodyIsCut(t *testing.T) {
	var sent atomic.Int64
	url := endlessServer(t, &sent)
	ms := &memorySink{}
	tee := newTestTee(t, prometheus.NewRegistry(), Options{
		Candidates: []CandidateOptions{{UpstreamOptions: UpstreamOptions{Name: "c", URL: url, Concurrency: 8}, Sample: 1}},
		MaxBody:    64 << 10,
		Record:     RecordOptions{Disagreements: 1},
		Sink:       ms,
	})
	const shadows = 32
	n := allocated(func() {
		for i := range shadows {
			req, resp := exchange(fmt.Sprint(i), `{"x":1}`, `{"predictions":[1]}`)
			tee.Offer(offered(req, resp, 0))
		}
		closeTee(t, tee)
	})
	if got := testutil.ToFloat64(tee.metrics.shadows.WithLabelValues("iris", "c", "error")); got != shadows {
		t.Errorf("outcome error = %v, want %d", got, shadows)
	}
	if n > shadows*(1<<20) {
		t.Errorf("%d shadows to an endless body allocated %d MiB", shadows, n>>20)
	}
	for _, r := range ms.records() {
		if !strings.Contains(r.CandidateResponse.Error, "cut off and not compared") {
			t.Errorf("record error %q", r.CandidateResponse.Error)
		}
	}
	for _, c := range tee.cands {
		if c.client.MaxResponseBodySize != 64<<10 {
			t.Errorf("candidate answers read up to %d bytes, want MaxBody", c.client.MaxResponseBodySize)
		}
	}
}

// FuzzAppendDecoded: the bounded decoder never returns more than its limit, never panics, and
// agrees with fasthttp's decoders on what both decode.
func FuzzAppendDecoded(f *testing.F) {
	in := []byte(`{"predictions":[{"label":2,"scores":[0.1,0.9]}]}`)
	f.Add(uint8(0), fasthttp.AppendGzipBytes(nil, in), uint16(64))
	f.Add(uint8(1), fasthttp.AppendDeflateBytes(nil, in), uint16(64))
	f.Add(uint8(1), rawDeflate(in), uint16(64))
	f.Add(uint8(2), fasthttp.AppendBrotliBytes(nil, in), uint16(64))
	f.Add(uint8(3), fasthttp.AppendZstdBytes(nil, in), uint16(64))
	f.Add(uint8(3), zstdRLEBomb(1<<20), uint16(1000))
	f.Add(uint8(0), gzipBomb(f, 1), uint16(1000))
	encodings := []string{"gzip", "deflate", "br", "zstd"}
	f.Fuzz(func(t *testing.T, which uint8, body []byte, limit uint16) {
		enc := encodings[int(which)%len(encodings)]
		got, err := appendDecoded(nil, []byte(enc), body, int(limit))
		if len(got) > int(limit) {
			t.Fatalf("%s: %d bytes, over the limit %d", enc, len(got), limit)
		}
		if err != nil {
			return
		}
		var resp fasthttp.Response
		resp.SetBodyRaw(body)
		resp.Header.SetContentEncoding(enc)
		want, werr := resp.BodyUncompressedWithLimit(1 << 20)
		if werr == nil && !bytes.Equal(got, want) {
			t.Fatalf("%s: decoded %q, fasthttp %q", enc, got, want)
		}
	})
}
