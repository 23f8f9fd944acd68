package sink

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strconv"
	"sync/atomic"

	"go.uber.org/zap"
)

// FileOptions configure a File sink.
type FileOptions struct {
	// Path is the JSON-lines file records are appended to. Required.
	Path string
	// MaxBytes is the size at which the file is rotated to Path.1. The default is 256 MiB; a
	// negative value never rotates.
	MaxBytes int64
	// Keep is how many rotated files (Path.1 ... Path.Keep) are kept. The default is 4.
	Keep int
	// Buffer is how many records wait for the writer goroutine; beyond it records are dropped and
	// counted (reason buffer_full). The default is 4096.
	Buffer int
	// Name is the sink label in metrics. The default is "file".
	Name string
	// Metrics receives the sink's metrics. The default is a set registered nowhere.
	Metrics *Metrics
	// Logger logs errors and recoveries, never one line per record. The default logs nothing.
	Logger *zap.Logger
}

func (o *FileOptions) name() string {
	if o.Name != "" {
		return o.Name
	}
	return "file"
}

// WithDefaults returns o with the default of each zero setting filled in: the values a File built
// from o uses.
func (o FileOptions) WithDefaults() FileOptions {
	o.MaxBytes, o.Keep, o.Buffer, o.Name = o.maxBytes(), o.keep(), o.buffer(), o.name()
	return o
}

func (o *FileOptions) maxBytes() int64 {
	if o.MaxBytes != 0 {
		return o.MaxBytes
	}
	return 256 << 20
}

func (o *FileOptions) keep() int {
	if o.Keep > 0 {
		return o.Keep
	}
	return 4
}

func (o *FileOptions) buffer() int {
	if o.Buffer > 0 {
		return o.Buffer
	}
	return 4096
}

// File is a Sink appending records as JSON lines to a file, through a bounded buffer and one writer
// goroutine. A failed write (disk full) drops the records of that write, counts them (reason
// write_error), cuts the file back to its last complete line and reopens it for the next write, so
// the sink recovers by itself once space returns.
type File struct {
	opts    FileOptions
	name    string
	metrics *Metrics
	log     *zap.Logger

	in      inbox       // bounded by Buffer
	abandon atomic.Bool // set by Close once its ctx has ended: the writer drops what is left
	done    chan struct{}
	err     error // set by the writer goroutine before done closes

	// Owned by the writer goroutine.
	f      *os.File
	size   int64
	failed bool
	buf    []byte
}

// NewFile opens (creates) the file and starts the writer goroutine.
func NewFile(opts FileOptions) (*File, error) {
	if opts.Path == "" {
		return nil, errors.New("file sink: path is empty")
	}
	s := &File{
		opts:    opts,
		name:    opts.name(),
		metrics: opts.Metrics,
		log:     opts.Logger,
		in:      newInbox(opts.buffer()),
		done:    make(chan struct{}),
	}
	if s.metrics == nil {
		s.metrics = NewMetrics(nil)
	}
	if s.log == nil {
		s.log = zap.NewNop()
	}
	s.metrics.init(s.name)
	if err := s.open(); err != nil {
		return nil, err
	}
	go s.run()
	return s, nil
}

// Write hands rec to the writer goroutine, or drops and counts it when the buffer is full.
func (s *File) Write(rec *Record) {
	if reason := s.in.put(rec); reason != "" {
		s.metrics.drop(s.name, reason, 1)
	}
}

// Close stops taking records and writes what is buffered until ctx ends; what is still buffered
// then is dropped and counted (reason close_timeout). It fsyncs and closes the file, and returns once
// the writer goroutine has ended: after ctx ends, at most the write in progress.
func (s *File) Close(ctx context.Context) error {
	s.in.close()
	select {
	case <-s.done:
		return s.err
	case <-ctx.Done():
	}
	s.abandon.Store(true)
	<-s.done
	return errors.Join(fmt.Errorf("close file sink: %w", ctx.Err()), s.err)
}

const fileBatchBytes = 1 << 20

func (s *File) run() {
	defer close(s.done)
	for rec := range s.in.ch {
		if s.abandon.Load() {
			s.metrics.drop(s.name, ReasonCloseTimeout, 1)
			continue
		}
		n := 1
		s.buf = append(Encode(s.buf[:0], rec), '\n')
	batch:
		for len(s.buf) < fileBatchBytes {
			select {
			case rec, ok := <-s.in.ch:
				if !ok {
					break batch
				}
				s.buf = append(Encode(s.buf, rec), '\n')
				n++
			default:
				break batch
			}
		}
		s.write(n)
		if cap(s.buf) > 4*fileBatchBytes {
			s.buf = nil // do not keep a huge buffer after one large batch
		}
	}
	if s.f != nil {
		if err := s.f.Sync(); err != nil {
			s.metrics.FileErrors.WithLabelValues("sync").Inc()
			s.err = fmt.Errorf("sync %s: %w", s.opts.Path, err)
		}
		if err := s.f.Close(); err != nil && s.err == nil {
			s.err = fmt.Errorf("close %s: %w", s.opts.Path, err)
		}
		s.f = nil
	}
}

// write writes the n records in s.buf.
func (s *File) write(n int) {
	if s.f == nil {
		if err := s.open(); err != nil {
			s.fail("open", err, n)
			return
		}
	}
	if max := s.opts.maxBytes(); max > 0 && s.size > 0 && s.size+int64(len(s.buf)) > max {
		if err := s.rotate(); err != nil {
			s.fail("rotate", err, n)
			return
		}
	}
	if _, err := s.f.Write(s.buf); err != nil {
		// Cut a partial write back to the last complete line, then reopen on the next write.
		_ = s.f.Truncate(s.size)
		_ = s.f.Close()
		s.f = nil
		s.fail("write", err, n)
		return
	}
	s.size += int64(len(s.buf))
	s.metrics.add(s.name, OutcomeWritten, n)
	if s.failed {
		s.failed = false
		s.log.Info("file sink recovered", zap.String("path", s.opts.Path))
	}
}

func (s *File) fail(op string, err error, n int) {
	s.metrics.FileErrors.WithLabelValues(op).Inc()
	s.metrics.drop(s.name, ReasonWriteError, n)
	if !s.failed {
		s.failed = true
		s.log.Error("file sink write failed; dropping records until it recovers",
			zap.String("path", s.opts.Path), zap.String("op", op), zap.Error(err))
	}
}

func (s *File) open() error {
	f, err := os.OpenFile(s.opts.Path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o644)
	if err != nil {
		return fmt.Errorf("open file sink: %w", err)
	}
	st, err := f.Stat()
	if err != nil {
		f.Close()
		return fmt.Errorf("open file sink: %w", err)
	}
	s.f, s.size = f, st.Size()
	return nil
}

// rotate renames Path.(k-1) to Path.k down to Path to Path.1, dropping the oldest, and opens a new
// file.
func (s *File) rotate() error {
	_ = s.f.Sync()
	if err := s.f.Close(); err != nil {
		s.f = nil
		return fmt.Errorf("rotate: %w", err)
	}
	s.f = nil
	p := s.opts.Path
	keep := s.opts.keep()
	_ = os.Remove(p + "." + strconv.Itoa(keep))
	for k := keep - 1; k >= 1; k-- {
		if err := os.Rename(p+"."+strconv.Itoa(k), p+"."+strconv.Itoa(k+1)); err != nil && !errors.Is(err, os.ErrNotExist) {
			return fmt.Errorf("rotate: %w", err)
		}
	}
	if err := os.Rename(p, p+".1"); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("rotate: %w", err)
	}
	return s.open()
}

var _ Sink = (*File)(nil)
