package tee

import (
	"bytes"
	"errors"
	"io"
	"runtime"
	"slices"
	"sync"

	"github.com/klauspost/compress/flate"
	"github.com/klauspost/compress/gzip"
	"github.com/klauspost/compress/zlib"
	"github.com/klauspost/compress/zstd"
	brotli "github.com/molecule-man/go-brrr"
)

// Answers are compared decoded. A compressed answer is decoded as a stream and cut at the limit
// (limit+1 bytes are read at most, so that a larger one is told from one that fits): a few KB of
// gzip or zstd that expand to gigabytes (a decompression bomb, or a model server's bug) cost the
// proxy at most the limit, a decoder's window and a few CPU-microseconds, never the expansion.

var (
	errUnknownEncoding = errors.New("unknown content encoding")
	// errDecodedTooLarge: the answer expands past the limit; it is not compared.
	errDecodedTooLarge = errors.New("decoded answer larger than the limit")
)

// zstdMaxWindow caps the window a zstd stream may ask for. 8 MiB is what zstd's levels up to 19
// use (the format recommends decoders support it); a stream asking for more is not decoded.
const zstdMaxWindow = 8 << 20

// decodeSlots bounds the decodes that run at once, and so the decoders' windows in memory (a zstd
// decoder allocates the window its stream declares, up to zstdMaxWindow; a brotli one up to 16 MiB):
// decoding is CPU work, so more decodes at once than CPUs would not end sooner. Only workers wait.
var decodeSlots = make(chan struct{}, max(runtime.GOMAXPROCS(0), 1))

var (
	gzipReaders  sync.Pool // *gzip.Reader
	zlibReaders  sync.Pool // io.ReadCloser implementing zlib.Resetter
	flateReaders sync.Pool // io.ReadCloser implementing flate.Resetter
	brReaders    sync.Pool // *brotli.Reader
	zstdReaders  sync.Pool // *zstd.Decoder
)

// appendDecoded appends src, decoded according to its Content-Encoding, to dst: at most limit
// bytes, or errDecodedTooLarge when it holds more. An empty encoding or identity appends src as it
// is (within the same limit).
func appendDecoded(dst, encoding, src []byte, limit int) ([]byte, error) {
	encoding = bytes.TrimSpace(encoding)
	switch {
	case len(encoding) == 0 || bytes.EqualFold(encoding, []byte("identity")):
		if len(src) > limit {
			return dst, errDecodedTooLarge
		}
		return append(dst, src...), nil
	}
	decodeSlots <- struct{}{}
	defer func() { <-decodeSlots }()
	switch {
	case bytes.EqualFold(encoding, []byte("gzip")), bytes.EqualFold(encoding, []byte("x-gzip")):
		return appendGunzip(dst, src, limit)
	case bytes.EqualFold(encoding, []byte("deflate")):
		return appendInflate(dst, src, limit)
	case bytes.EqualFold(encoding, []byte("br")):
		return appendUnbrotli(dst, src, limit)
	case bytes.EqualFold(encoding, []byte("zstd")):
		return appendUnzstd(dst, src, limit)
	}
	return dst, errUnknownEncoding
}

func appendGunzip(dst, src []byte, limit int) ([]byte, error) {
	zr, _ := gzipReaders.Get().(*gzip.Reader)
	var err error
	if zr == nil {
		zr, err = gzip.NewReader(bytes.NewReader(src))
	} else {
		err = zr.Reset(bytes.NewReader(src))
	}
	if err != nil {
		return dst, err
	}
	defer gzipReaders.Put(zr)
	return readAtMost(dst, zr, limit)
}

// appendInflate decodes HTTP's deflate, which is zlib (RFC 9110), or raw deflate as some servers
// send it.
func appendInflate(dst, src []byte, limit int) ([]byte, error) {
	zr, _ := zlibReaders.Get().(io.ReadCloser)
	var err error
	if zr == nil {
		zr, err = zlib.NewReader(bytes.NewReader(src))
	} else {
		err = zr.(zlib.Resetter).Reset(bytes.NewReader(src), nil)
	}
	if err == nil {
		defer zlibReaders.Put(zr)
		return readAtMost(dst, zr, limit)
	}
	if zr != nil {
		zlibReaders.Put(zr)
	}
	if !errors.Is(err, zlib.ErrHeader) {
		return dst, err
	}
	fr, _ := flateReaders.Get().(io.ReadCloser)
	if fr == nil {
		fr = flate.NewReader(bytes.NewReader(src))
	} else if err := fr.(flate.Resetter).Reset(bytes.NewReader(src), nil); err != nil {
		return dst, err
	}
	defer flateReaders.Put(fr)
	return readAtMost(dst, fr, limit)
}

func appendUnbrotli(dst, src []byte, limit int) ([]byte, error) {
	br, _ := brReaders.Get().(*brotli.Reader)
	if br == nil {
		br = brotli.NewReader(bytes.NewReader(src))
	} else {
		br.Reset(bytes.NewReader(src))
	}
	defer brReaders.Put(br)
	return readAtMost(dst, br, limit)
}

func appendUnzstd(dst, src []byte, limit int) ([]byte, error) {
	zd, _ := zstdReaders.Get().(*zstd.Decoder)
	var err error
	if zd == nil {
		// One block at a time, in this goroutine (concurrency 1 starts none), with buffers that
		// grow only as the output does.
		zd, err = zstd.NewReader(bytes.NewReader(src), zstd.WithDecoderConcurrency(1),
			zstd.WithDecoderLowmem(true), zstd.WithDecoderMaxWindow(zstdMaxWindow))
	} else {
		err = zd.Reset(bytes.NewReader(src))
	}
	if err != nil {
		return dst, err
	}
	dst, err = readAtMost(dst, zd, limit)
	_ = zd.Reset(nil) // let go of src
	zstdReaders.Put(zd)
	return dst, err
}

// readAtMost appends what r yields to dst, up to limit bytes: it reads at most limit+1, and
// reports errDecodedTooLarge when it got them.
func readAtMost(dst []byte, r io.Reader, limit int) ([]byte, error) {
	start := len(dst)
	for {
		if len(dst) == cap(dst) {
			// Grow by doubling, never past the limit's one byte more.
			room := min(max(cap(dst)-start, 512), limit+1-(len(dst)-start))
			dst = slices.Grow(dst, room)
		}
		n, err := r.Read(dst[len(dst):min(cap(dst), start+limit+1)])
		dst = dst[:len(dst)+n]
		switch {
		case len(dst)-start > limit:
			return dst[:start+limit], errDecodedTooLarge
		case errors.Is(err, io.EOF):
			return dst, nil
		case err != nil:
			return dst, err
		}
	}
}
