package sink

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// SpoolOptions configure the durable disk spool in front of Kafka.
type SpoolOptions struct {
	// Dir holds the segment files. Empty disables the spool: records Kafka cannot take are dropped.
	// One sink at a time may use a directory (it is locked); close the old sink before opening a
	// new one on the same directory.
	Dir string
	// MaxBytes bounds the segment files on disk; a record that does not fit is dropped and counted
	// (reason spool_full). The default is 1 GiB.
	MaxBytes int64
	// SegmentBytes is the size at which a new segment file is started. The default is 64 MiB, or
	// MaxBytes/4 when that is smaller (but at least 1 MiB).
	SegmentBytes int64
	// Fsync is when appended frames are fsynced: "always" (after every append), "interval" (every
	// FsyncInterval) or "never" (left to the OS; segments are still fsynced on close). The default
	// is "interval".
	Fsync string
	// FsyncInterval is the period of the "interval" policy. The default is 1 s.
	FsyncInterval time.Duration
}

// Fsync policies.
const (
	FsyncAlways   = "always"
	FsyncInterval = "interval"
	FsyncNever    = "never"
)

func (o *SpoolOptions) fsync() string {
	if o.Fsync != "" {
		return o.Fsync
	}
	return FsyncInterval
}

// WithDefaults returns o with the default of each zero setting filled in (Dir has none: empty turns
// the spool off).
func (o SpoolOptions) WithDefaults() SpoolOptions {
	o.MaxBytes, o.SegmentBytes = o.maxBytes(), o.segmentBytes()
	o.Fsync, o.FsyncInterval = o.fsync(), o.fsyncInterval()
	return o
}

func (o *SpoolOptions) maxBytes() int64 {
	if o.MaxBytes > 0 {
		return o.MaxBytes
	}
	return 1 << 30
}

func (o *SpoolOptions) segmentBytes() int64 {
	if o.SegmentBytes > 0 {
		return o.SegmentBytes
	}
	return min(64<<20, max(o.maxBytes()/4, 1<<20))
}

func (o *SpoolOptions) fsyncInterval() time.Duration {
	if o.FsyncInterval > 0 {
		return o.FsyncInterval
	}
	return time.Second
}

// Sentinel errors of the spool.
var (
	// ErrSpoolFull is returned when a record does not fit under SpoolOptions.MaxBytes.
	ErrSpoolFull = errors.New("spool full")
	// ErrSpoolLocked is returned when another sink holds the spool directory.
	ErrSpoolLocked = errors.New("spool directory in use by another sink")
	errSpoolClosed = errors.New("spool closed")
)

// Frame layout: a little-endian uint32 payload length, a little-endian uint32 CRC-32C of the
// payload, then the payload (one encoded record).
const (
	frameHeader   = 8
	maxFramePay   = 16 << 20
	segmentSuffix = ".seg"
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

type segment struct {
	id      uint64
	f       *os.File
	size    int64 // end of the last valid frame
	records int64 // valid frames in the file at or after the read position
}

// spool is an append-only log of segment files. Records are read back from the oldest segment in
// order and acknowledged once delivered; a fully acknowledged segment is deleted. The read position
// is kept in the file "cursor" so a restart does not resend what was delivered (it may resend the
// last unacknowledged batch: delivery is at-least-once).
type spool struct {
	opts    SpoolOptions
	name    string // the sink label of drops
	metrics *Metrics
	lock    *os.File

	mu      sync.Mutex
	closed  bool
	segs    []*segment // oldest first; the last one takes appends
	roff    int64      // read position in segs[0]
	pending int64      // records not yet acknowledged
	bytes   int64      // bytes of all segment files
	dirty   bool
	wbuf    []byte
	cursor  *os.File
	corrupt int64 // tails skipped since open

	quit chan struct{}
	done chan struct{}
}

func openSpool(opts SpoolOptions, name string, m *Metrics) (*spool, error) {
	opts.Fsync = opts.fsync()
	switch opts.Fsync {
	case FsyncAlways, FsyncInterval, FsyncNever:
	default:
		return nil, fmt.Errorf("spool: fsync %q is not one of always, interval, never", opts.Fsync)
	}
	if err := os.MkdirAll(opts.Dir, 0o755); err != nil {
		return nil, fmt.Errorf("open spool: %w", err)
	}
	lock, err := os.OpenFile(filepath.Join(opts.Dir, "LOCK"), os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return nil, fmt.Errorf("open spool: %w", err)
	}
	if err := syscall.Flock(int(lock.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		lock.Close()
		if errors.Is(err, syscall.EWOULDBLOCK) {
			return nil, fmt.Errorf("open spool %s: %w", opts.Dir, ErrSpoolLocked)
		}
		return nil, fmt.Errorf("open spool: %w", err)
	}
	s := &spool{opts: opts, name: name, metrics: m, lock: lock, quit: make(chan struct{}), done: make(chan struct{})}
	if err := s.load(); err != nil {
		s.closeFiles()
		return nil, err
	}
	s.publish()
	if opts.Fsync == FsyncInterval {
		go s.syncLoop()
	} else {
		close(s.done)
	}
	return s, nil
}

// load opens the existing segments from the cursor on, validates every frame, truncates torn or
// corrupt tails (counting them) and opens a fresh segment for appends.
func (s *spool) load() error {
	var err error
	s.cursor, err = os.OpenFile(filepath.Join(s.opts.Dir, "cursor"), os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return fmt.Errorf("open spool: %w", err)
	}
	curID, curOff := s.readCursor()
	entries, err := os.ReadDir(s.opts.Dir)
	if err != nil {
		return fmt.Errorf("open spool: %w", err)
	}
	var ids []uint64
	for _, e := range entries {
		name := e.Name()
		if !strings.HasSuffix(name, segmentSuffix) {
			continue
		}
		id, err := strconv.ParseUint(strings.TrimSuffix(name, segmentSuffix), 10, 64)
		if err != nil {
			continue
		}
		ids = append(ids, id)
	}
	sort.Slice(ids, func(i, j int) bool { return ids[i] < ids[j] })
	var next uint64 = 1
	for _, id := range ids {
		next = id + 1
		path := s.segPath(id)
		if id < curID {
			_ = os.Remove(path) // delivered before the restart
			continue
		}
		f, err := os.OpenFile(path, os.O_RDWR|os.O_APPEND, 0o644)
		if err != nil {
			return fmt.Errorf("open spool: %w", err)
		}
		seg := &segment{id: id, f: f}
		start := int64(0)
		if id == curID && len(s.segs) == 0 {
			start = curOff
		}
		st, err := f.Stat()
		if err != nil {
			f.Close()
			return fmt.Errorf("open spool: %w", err)
		}
		if start > st.Size() {
			start = 0
		}
		end, n := scanFrames(f, start, st.Size())
		if end < st.Size() {
			s.corrupt++
			s.metrics.SpoolCorrupt.Inc()
			if err := f.Truncate(end); err != nil {
				f.Close()
				return fmt.Errorf("open spool: truncate corrupt tail: %w", err)
			}
		}
		if n == 0 {
			f.Close()
			_ = os.Remove(path)
			continue
		}
		seg.size, seg.records = end, n
		if len(s.segs) == 0 {
			s.roff = start
		}
		s.segs = append(s.segs, seg)
		s.pending += n
		s.bytes += end
	}
	if err := s.newSegment(next); err != nil {
		return err
	}
	s.writeCursor()
	return nil
}

// scanFrames returns the end of the last valid frame from start on and the number of valid frames.
func scanFrames(f *os.File, start, size int64) (int64, int64) {
	var hdr [frameHeader]byte
	var buf []byte
	off, n := start, int64(0)
	for off+frameHeader <= size {
		if _, err := f.ReadAt(hdr[:], off); err != nil {
			break
		}
		l := int64(binary.LittleEndian.Uint32(hdr[0:4]))
		if l == 0 || l > maxFramePay || off+frameHeader+l > size {
			break
		}
		if int64(cap(buf)) < l {
			buf = make([]byte, l)
		}
		buf = buf[:l]
		if _, err := f.ReadAt(buf, off+frameHeader); err != nil {
			break
		}
		if crc32.Checksum(buf, castagnoli) != binary.LittleEndian.Uint32(hdr[4:8]) {
			break
		}
		off += frameHeader + l
		n++
	}
	return off, n
}

func (s *spool) segPath(id uint64) string {
	return filepath.Join(s.opts.Dir, fmt.Sprintf("%020d%s", id, segmentSuffix))
}

func (s *spool) newSegment(id uint64) error {
	f, err := os.OpenFile(s.segPath(id), os.O_RDWR|os.O_APPEND|os.O_CREATE|os.O_TRUNC, 0o644)
	if err != nil {
		return fmt.Errorf("spool: new segment: %w", err)
	}
	s.segs = append(s.segs, &segment{id: id, f: f})
	if len(s.segs) == 1 {
		s.roff = 0
		s.writeCursor()
	}
	return nil
}

func (s *spool) readCursor() (uint64, int64) {
	var b [20]byte
	if _, err := s.cursor.ReadAt(b[:], 0); err != nil {
		return 0, 0
	}
	if crc32.Checksum(b[:16], castagnoli) != binary.LittleEndian.Uint32(b[16:]) {
		return 0, 0
	}
	return binary.LittleEndian.Uint64(b[0:8]), int64(binary.LittleEndian.Uint64(b[8:16]))
}

func (s *spool) writeCursor() {
	var b [20]byte
	binary.LittleEndian.PutUint64(b[0:8], s.segs[0].id)
	binary.LittleEndian.PutUint64(b[8:16], uint64(s.roff))
	binary.LittleEndian.PutUint32(b[16:], crc32.Checksum(b[:16], castagnoli))
	_, _ = s.cursor.WriteAt(b[:], 0) // a stale cursor only means records sent again
}

// append adds one record to the log. It returns ErrSpoolFull when the record does not fit.
func (s *spool) append(payload []byte) error {
	if len(payload) == 0 || len(payload) > maxFramePay {
		return fmt.Errorf("spool: record of %d bytes", len(payload))
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return errSpoolClosed
	}
	frame := int64(frameHeader + len(payload))
	if s.bytes+frame > s.opts.maxBytes() {
		return ErrSpoolFull
	}
	w := s.segs[len(s.segs)-1]
	if w.size > 0 && w.size+frame > s.opts.segmentBytes() {
		if err := s.newSegment(w.id + 1); err != nil {
			return err
		}
		if s.opts.Fsync != FsyncNever {
			_ = w.f.Sync()
		}
		w = s.segs[len(s.segs)-1]
	}
	s.wbuf = binary.LittleEndian.AppendUint32(s.wbuf[:0], uint32(len(payload)))
	s.wbuf = binary.LittleEndian.AppendUint32(s.wbuf, crc32.Checksum(payload, castagnoli))
	s.wbuf = append(s.wbuf, payload...)
	if _, err := w.f.Write(s.wbuf); err != nil {
		_ = w.f.Truncate(w.size) // cut a partial frame; a torn tail would be skipped on restart anyway
		return fmt.Errorf("spool append: %w", err)
	}
	if cap(s.wbuf) > 4<<20 {
		s.wbuf = nil
	}
	w.size += frame
	w.records++
	s.bytes += frame
	s.pending++
	s.dirty = true
	if s.opts.Fsync == FsyncAlways {
		if err := w.f.Sync(); err != nil {
			return fmt.Errorf("spool fsync: %w", err)
		}
		s.dirty = false
	}
	s.publish()
	return nil
}

// read returns up to max records (and about maxBytes) from the read position of the oldest segment,
// as fresh slices, and the offset just after them, to be passed to ack.
func (s *spool) read(max int, maxBytes int) ([][]byte, int64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed || s.pending == 0 {
		return nil, s.roff
	}
	seg := s.segs[0]
	if s.roff >= seg.size && len(s.segs) > 1 {
		s.dropSegment()
		seg = s.segs[0]
	}
	var out [][]byte
	var hdr [frameHeader]byte
	off, total := s.roff, 0
	for len(out) < max && total < maxBytes && off+frameHeader <= seg.size {
		bad := true
		if _, err := seg.f.ReadAt(hdr[:], off); err == nil {
			l := int64(binary.LittleEndian.Uint32(hdr[0:4]))
			if l > 0 && l <= maxFramePay && off+frameHeader+l <= seg.size {
				p := make([]byte, l)
				if _, err := seg.f.ReadAt(p, off+frameHeader); err == nil || errors.Is(err, io.EOF) {
					if crc32.Checksum(p, castagnoli) == binary.LittleEndian.Uint32(hdr[4:8]) {
						out = append(out, p)
						off += frameHeader + l
						total += int(l)
						bad = false
					}
				}
			}
		}
		if bad {
			// Corrupted after it was written: skip the rest of this segment.
			lost := seg.records - int64(len(out))
			s.corrupt++
			s.metrics.SpoolCorrupt.Inc()
			s.metrics.drop(s.name, ReasonCorrupt, int(lost))
			s.pending -= lost
			seg.records = int64(len(out))
			seg.size = off
			break
		}
	}
	s.publish()
	return out, off
}

// ack marks the n records before offset end of the oldest segment delivered.
func (s *spool) ack(end int64, n int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return
	}
	seg := s.segs[0]
	s.roff = end
	seg.records -= int64(n)
	s.pending -= int64(n)
	if s.roff >= seg.size {
		if len(s.segs) > 1 {
			s.dropSegment()
		} else if s.pending == 0 && seg.size > 0 {
			// Everything delivered: start the only segment over.
			if err := seg.f.Truncate(0); err == nil {
				s.bytes -= seg.size
				seg.size, seg.records, s.roff = 0, 0, 0
			}
		}
	}
	s.writeCursor()
	s.publish()
}

// dropSegment deletes the fully read oldest segment. s.mu is held and len(s.segs) > 1.
func (s *spool) dropSegment() {
	seg := s.segs[0]
	seg.f.Close()
	_ = os.Remove(s.segPath(seg.id))
	s.bytes -= seg.size
	s.segs = s.segs[1:]
	s.roff = 0
}

func (s *spool) pendingRecords() int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.pending
}

func (s *spool) publish() {
	s.metrics.SpoolBytes.Set(float64(s.bytes))
	s.metrics.SpoolRecords.Set(float64(s.pending))
}

func (s *spool) syncLoop() {
	defer close(s.done)
	t := time.NewTicker(s.opts.fsyncInterval())
	defer t.Stop()
	for {
		select {
		case <-s.quit:
			return
		case <-t.C:
			s.mu.Lock()
			if s.dirty && !s.closed {
				_ = s.segs[len(s.segs)-1].f.Sync()
				s.dirty = false
			}
			s.mu.Unlock()
		}
	}
}

// close fsyncs and closes the files and releases the directory lock.
func (s *spool) close() error {
	close(s.quit)
	<-s.done
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil
	}
	s.closed = true
	var err error
	if len(s.segs) > 0 {
		err = s.segs[len(s.segs)-1].f.Sync()
		s.writeCursor()
	}
	s.closeFiles()
	if err != nil {
		return fmt.Errorf("close spool: %w", err)
	}
	return nil
}

func (s *spool) closeFiles() {
	for _, seg := range s.segs {
		seg.f.Close()
	}
	s.segs = nil
	if s.cursor != nil {
		_ = s.cursor.Sync()
		s.cursor.Close()
	}
	s.lock.Close() // releases the flock
}
