package network

import (
	"errors"
	"fmt"
	"github.com/datdot/datdot/volume"
	"io"
	"os"
	"sync"
)

// Default bounds of the blob bytes writers keep in memory until Commit
// (Config.BlobMemBytes, Config.MemBudgetBytes).
const (
	DefaultBlobMemBytes   = 32 << 20
	DefaultMemBudgetBytes = 256 << 20
)

// chunkSize is the unit in which a writer holds a blob in memory and in
// which the memory budget is charged.
const chunkSize = 256 << 10

// chunkPool recycles the chunks of committed and aborted blobs: a
// recycled chunk is neither zeroed nor grown.
var chunkPool = sync.Pool{New: func() any {
	b := make([]byte, chunkSize)
	return &b
}}

// memBudget bounds the bytes all writers of a Blobs hold in memory at
// once. take never waits: a writer that does not get memory spools.
type memBudget struct {
	mu   sync.Mutex
	max  int64
	used int64
}

func (m *memBudget) take(n int64) bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.used+n > m.max {
		return false
	}
	m.used += n
	return true
}

func (m *memBudget) give(n int64) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.used -= n
	if m.used < 0 {
		panic("network: memory budget given back twice")
	}
}

func (m *memBudget) inUse() int64 {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.used
}

// MemInUse is the number of bytes open blob writers hold in memory
// (charged to Config.MemBudgetBytes).
func (b *Blobs) MemInUse() int64 { return b.mem.inUse() }

// blobBuf holds a blob being written: in pooled chunks while the blob is
// at most the per-blob bound and the budget has room, in an unlinked
// temporary file beyond (the chunks written so far move to the file).
type blobBuf struct {
	b      *Blobs
	chunks []*[]byte
	last   int   // bytes used in the last chunk
	held   int64 // budget charged for chunks
	f      *os.File
	n      int64
}

func (bb *blobBuf) Write(p []byte) (int, error) {
	if bb.f != nil {
		k, err := bb.f.Write(p)
		bb.n += int64(k)
		if err != nil {
			return k, fmt.Errorf("network: spool: %w", err)
		}
		return k, nil
	}
	done := 0
	for len(p) > 0 {
		if len(bb.chunks) == 0 || bb.last == chunkSize {
			if bb.held+chunkSize > bb.b.cfg.BlobMemBytes || !bb.b.mem.take(chunkSize) {
				if err := bb.spill(); err != nil {
					return done, err
				}
				k, err := bb.Write(p)
				return done + k, err
			}
			bb.held += chunkSize
			bb.chunks = append(bb.chunks, chunkPool.Get().(*[]byte))
			bb.last = 0
		}
		k := copy((*bb.chunks[len(bb.chunks)-1])[bb.last:], p)
		bb.last += k
		bb.n += int64(k)
		p = p[k:]
		done += k
	}
	return done, nil
}

// reserve returns the next n bytes of the blob's memory, counted as
// written, for the caller to fill before its next call; nil when the blob
// is not in memory or n bytes do not fit one chunk (then use Write).
func (bb *blobBuf) reserve(n int) []byte {
	if bb.f != nil || n <= 0 || n > chunkSize {
		return nil
	}
	if len(bb.chunks) == 0 || chunkSize-bb.last < n {
		if len(bb.chunks) > 0 && bb.last != chunkSize {
			return nil // the chunk would keep a gap: the stream must stay contiguous
		}
		if bb.held+chunkSize > bb.b.cfg.BlobMemBytes || !bb.b.mem.take(chunkSize) {
			return nil
		}
		bb.held += chunkSize
		bb.chunks = append(bb.chunks, chunkPool.Get().(*[]byte))
		bb.last = 0
	}
	p := (*bb.chunks[len(bb.chunks)-1])[bb.last : bb.last+n : bb.last+n]
	bb.last += n
	bb.n += int64(n)
	return p
}

// spill moves the blob to an unlinked temporary file.
func (bb *blobBuf) spill() error {
	f, err := os.CreateTemp(bb.b.cfg.Dir, "spool-*")
	if err != nil {
		return fmt.Errorf("network: spool: %w", err)
	}
	os.Remove(f.Name()) // unnamed: a crash leaves nothing
	if _, err := bb.writeChunks(f); err != nil {
		f.Close()
		return fmt.Errorf("network: spool: %w", err)
	}
	bb.releaseChunks()
	bb.f = f
	return nil
}

func (bb *blobBuf) writeChunks(dst io.Writer) (int64, error) {
	var n int64
	for i, c := range bb.chunks {
		b := *c
		if i == len(bb.chunks)-1 {
			b = b[:bb.last]
		}
		k, err := dst.Write(b)
		n += int64(k)
		if err != nil {
			return n, err
		}
	}
	return n, nil
}

// WriteTo writes the blob to dst (from its start; once).
func (bb *blobBuf) WriteTo(dst io.Writer) (int64, error) {
	if bb.f == nil {
		return bb.writeChunks(dst)
	}
	if _, err := bb.f.Seek(0, io.SeekStart); err != nil {
		return 0, fmt.Errorf("network: spool: %w", err)
	}
	// Hide the file's own WriteTo: it would allocate a buffer per call.
	return readerTo{struct{ io.Reader }{bb.f}}.WriteTo(dst)
}

func (bb *blobBuf) releaseChunks() {
	for _, c := range bb.chunks {
		chunkPool.Put(c)
	}
	bb.chunks, bb.last = nil, 0
	if bb.held > 0 {
		bb.b.mem.give(bb.held)
		bb.held = 0
	}
}

// release gives back the blob's memory and closes its spool; the blob's
// bytes are gone afterwards.
func (bb *blobBuf) release() {
	bb.releaseChunks()
	if bb.f != nil {
		bb.f.Close()
		bb.f = nil
	}
}

// spooled reports whether the blob went to a temporary file.
func (bb *blobBuf) spooled() bool { return bb.f != nil }

var errFinished = errors.New("network: write to a finished blob")

// readerTo copies a reader with a pooled buffer.
type readerTo struct{ r io.Reader }

func (r readerTo) WriteTo(dst io.Writer) (int64, error) {
	buf := chunkPool.Get().(*[]byte)
	defer chunkPool.Put(buf)
	return io.CopyBuffer(dst, r.r, *buf)
}

// freeBlocks is how many recycled stripe blocks a Blobs keeps at most
// (16 MiB); more are left to the garbage collector.
const freeBlocks = 1024

// getBlock returns a block for the stream encoder: a recycled one (old
// content, which the encoder overwrites) or new memory.
func (b *Blobs) getBlock() []byte {
	select {
	case blk := <-b.freeBlocks:
		return blk
	default:
		return make([]byte, volume.BlockSize)
	}
}

// putBlock recycles a block nothing references any more.
func (b *Blobs) putBlock(blk []byte) {
	if cap(blk) < volume.BlockSize {
		return
	}
	select {
	case b.freeBlocks <- blk[:volume.BlockSize]:
	default:
	}
}
