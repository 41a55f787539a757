// Package volume is the on-network layout of a DatDot volume: a data stream
// cut into stripes of k·B bytes, Reed-Solomon coded into n = k+m shards of B
// bytes, shard j of stripe s stored as block s of core j. A stripe flushed
// before it is full may be short (format v2): its n blocks are all b < B
// bytes and it holds only the first k·b bytes of its stripe's address range.
// The format is specified in docs/volume-format.md; the gateway writes
// volumes with it and a hoster repairs a lost core with it.
//
// The package is pure: no I/O, no goroutines. Layout maps byte ranges of the
// stream to blocks, Coder encodes and reconstructs stripes, StreamEncoder
// cuts a stream into coded stripes, and CoreKey derives the cores' writer
// keys from a master secret and the volume id.
package volume

import (
	"errors"
	"fmt"

	"github.com/klauspost/reedsolomon"
)

// BlockSize is B, the size of every block of a full stripe, and the
// largest block of any stripe.
const BlockSize = 65536

// ShortAlign is what the block size of a short stripe is a multiple of
// (ShortBlockSize).
const ShortAlign = 64

// MaxShards bounds n = k+m (the Reed-Solomon code works over GF(2^8), so
// at most 256 shards with the default options).
const MaxShards = 256

// ErrLayout reports an invalid (k, m) pair.
var ErrLayout = errors.New("volume: invalid layout")

// ErrTooFewShards reports a stripe with fewer than k shards present.
var ErrTooFewShards = errors.New("volume: fewer than k shards present")

// Layout is a volume's erasure code: K data shards and M parity shards per
// stripe.
type Layout struct {
	K int `json:"k"`
	M int `json:"m"`
}

// Validate checks 1 <= K, 0 <= M and K+M <= MaxShards.
func (l Layout) Validate() error {
	if l.K < 1 || l.M < 0 || l.K+l.M > MaxShards {
		return fmt.Errorf("%w: k=%d m=%d (want k >= 1, m >= 0, k+m <= %d)", ErrLayout, l.K, l.M, MaxShards)
	}
	return nil
}

// N is the number of cores, k+m.
func (l Layout) N() int { return l.K + l.M }

// StripeSize is the number of stream bytes one stripe holds, k·B.
func (l Layout) StripeSize() int64 { return int64(l.K) * BlockSize }

// Stripes is the number of stripes (= the length of every core) that a
// stream of streamLen bytes occupies: ceil(streamLen / (k·B)).
func (l Layout) Stripes(streamLen int64) uint64 {
	if streamLen <= 0 {
		return 0
	}
	ss := l.StripeSize()
	return uint64((streamLen + ss - 1) / ss)
}

// ShortBlockSize is b, the block size of a stripe flushed holding used
// bytes (1 <= used <= k·B): ceil(used/k) rounded up to a multiple of
// ShortAlign, at most BlockSize. BlockSize means the stripe is full size.
func (l Layout) ShortBlockSize(used int64) int {
	if used <= 0 {
		return ShortAlign
	}
	b := (used + int64(l.K) - 1) / int64(l.K)
	b = (b + ShortAlign - 1) / ShortAlign * ShortAlign
	return int(min(b, BlockSize))
}

// ValidBlockSize reports whether b is the block size of some stripe:
// BlockSize, or a multiple of ShortAlign below it.
func ValidBlockSize(b int) bool {
	return b == BlockSize || (b > 0 && b < BlockSize && b%ShortAlign == 0)
}

// Pos is where one byte of the stream lives: block Stripe of core Shard, at
// byte Offset within that block. Shard is always a data shard (< k).
type Pos struct {
	Stripe uint64
	Shard  int
	Offset int
}

// Locate maps byte off (>= 0) of the stream to its block.
func (l Layout) Locate(off int64) Pos {
	ss := l.StripeSize()
	in := off % ss
	return Pos{Stripe: uint64(off / ss), Shard: int(in / BlockSize), Offset: int(in % BlockSize)}
}

// LocateIn maps byte off (>= 0) of the stream to its block when off's
// stripe has blocks of blockLen bytes (BlockSize for a full stripe, b for
// a short one). It fails when off lies in the unstored tail of a short
// stripe (at or beyond k·blockLen into the stripe) or blockLen is not a
// block size.
func (l Layout) LocateIn(off int64, blockLen int) (Pos, error) {
	if !ValidBlockSize(blockLen) {
		return Pos{}, fmt.Errorf("volume: block size %d (want %d, or a multiple of %d below it)", blockLen, BlockSize, ShortAlign)
	}
	ss := l.StripeSize()
	in := off % ss
	if in >= int64(l.K)*int64(blockLen) {
		return Pos{}, fmt.Errorf("volume: stream offset %d is past the %d bytes of its short stripe %d", off, l.K*blockLen, off/ss)
	}
	return Pos{Stripe: uint64(off / ss), Shard: int(in / int64(blockLen)), Offset: int(in % int64(blockLen))}, nil
}

// Piece is a contiguous run of stream bytes inside one block.
type Piece struct {
	Pos
	Len int
	// StreamOffset is the stream offset of the piece's first byte.
	StreamOffset int64
}

// Pieces splits the byte range [off, off+n) of the stream into the runs
// that lie in one block each, in stream order.
func (l Layout) Pieces(off, n int64) []Piece {
	var out []Piece
	for n > 0 {
		p := l.Locate(off)
		take := min(int64(BlockSize-p.Offset), n)
		out = append(out, Piece{Pos: p, Len: int(take), StreamOffset: off})
		off += take
		n -= take
	}
	return out
}

// StripeRange returns the first and one-past-last stripe that the byte
// range [off, off+n) touches (first == end when n == 0).
func (l Layout) StripeRange(off, n int64) (first, end uint64) {
	if n <= 0 {
		s := uint64(off / l.StripeSize())
		return s, s
	}
	ss := l.StripeSize()
	return uint64(off / ss), uint64((off+n-1)/ss) + 1
}

// Coder encodes and reconstructs the stripes of one layout. It is safe for
// concurrent use.
type Coder struct {
	l   Layout
	enc reedsolomon.Encoder
}

// NewCoder returns the coder of l: reedsolomon.New(k, m) with default
// options. With m = 0 there is no parity and nothing to reconstruct.
func NewCoder(l Layout) (*Coder, error) {
	if err := l.Validate(); err != nil {
		return nil, err
	}
	c := &Coder{l: l}
	if l.M > 0 {
		enc, err := reedsolomon.New(l.K, l.M)
		if err != nil {
			return nil, fmt.Errorf("volume: %w", err)
		}
		c.enc = enc
	}
	return c, nil
}

// Layout returns the coder's layout.
func (c *Coder) Layout() Layout { return c.l }

// EncodeStripe codes one stripe: data holds at most k·B stream bytes (fewer
// only at the end of the stream; the rest is zero). It returns n shards of
// exactly B bytes; shards[j] is the block of core j. The shards are new
// memory, data is not kept.
func (c *Coder) EncodeStripe(data []byte) ([][]byte, error) {
	if int64(len(data)) > c.l.StripeSize() {
		return nil, fmt.Errorf("volume: stripe of %d bytes, at most %d", len(data), c.l.StripeSize())
	}
	return c.encode(data, BlockSize)
}

// EncodeShort codes one stripe as short as its data allows: n shards of
// b = ShortBlockSize(len(data)) bytes each (BlockSize when data is nearly
// a full stripe), data shard i holding data[i·b, (i+1)·b), zero past the
// end of data. Empty data is an error (nothing to flush).
func (c *Coder) EncodeShort(data []byte) ([][]byte, error) {
	if len(data) == 0 || int64(len(data)) > c.l.StripeSize() {
		return nil, fmt.Errorf("volume: short stripe of %d bytes, want 1 to %d", len(data), c.l.StripeSize())
	}
	return c.encode(data, c.l.ShortBlockSize(int64(len(data))))
}

// encode codes data (at most k·b bytes) as n new shards of b bytes each,
// data shard i holding data[i·b, (i+1)·b), zero past the end of data.
func (c *Coder) encode(data []byte, b int) ([][]byte, error) {
	buf := make([]byte, c.l.N()*b)
	copy(buf, data)
	shards := make([][]byte, c.l.N())
	for j := range shards {
		shards[j] = buf[j*b : (j+1)*b : (j+1)*b]
	}
	if c.enc != nil {
		if err := c.enc.Encode(shards); err != nil {
			return nil, fmt.Errorf("volume: encode: %w", err)
		}
	}
	return shards, nil
}

// ErrShardSize reports shards of one stripe that differ in length, or a
// length that is no block size.
var ErrShardSize = errors.New("volume: bad shard size")

// checkShards validates a stripe's shard slice: n entries, each nil/empty
// (missing) or of the stripe's block size (BlockSize, or the b of a short
// stripe: every present shard the same length); it returns how many are
// present and their length.
func (c *Coder) checkShards(shards [][]byte) (present, size int, _ error) {
	if len(shards) != c.l.N() {
		return 0, 0, fmt.Errorf("volume: %d shards, want %d", len(shards), c.l.N())
	}
	for j, s := range shards {
		if len(s) == 0 {
			continue
		}
		if size == 0 {
			if !ValidBlockSize(len(s)) {
				return 0, 0, fmt.Errorf("%w: shard %d is %d bytes (want %d, or a multiple of %d below it)", ErrShardSize, j, len(s), BlockSize, ShortAlign)
			}
			size = len(s)
		} else if len(s) != size {
			return 0, 0, fmt.Errorf("%w: shard %d is %d bytes, an earlier shard of the stripe %d (all blocks of a stripe have one length)", ErrShardSize, j, len(s), size)
		}
		present++
	}
	if present < c.l.K {
		return present, size, fmt.Errorf("%w: %d of %d", ErrTooFewShards, present, c.l.K)
	}
	return present, size, nil
}

// Reconstruct fills every missing (nil or empty) shard of a stripe from
// any k present ones. The result is not verified: a caller that has the
// cores' tree hashes checks the rebuilt blocks against them.
func (c *Coder) Reconstruct(shards [][]byte) error {
	present, _, err := c.checkShards(shards)
	if err != nil || present == c.l.N() {
		return err
	}
	if err := c.enc.Reconstruct(shards); err != nil {
		return fmt.Errorf("volume: reconstruct: %w", err)
	}
	return nil
}

// ReconstructData fills only the missing data shards (j < k), which is all
// a reader needs; missing parity shards stay missing.
func (c *Coder) ReconstructData(shards [][]byte) error {
	if _, _, err := c.checkShards(shards); err != nil {
		return err
	}
	missing := false
	for _, s := range shards[:c.l.K] {
		missing = missing || len(s) == 0
	}
	if !missing {
		return nil
	}
	if err := c.enc.ReconstructData(shards); err != nil {
		return fmt.Errorf("volume: reconstruct: %w", err)
	}
	return nil
}

// ReconstructShard rebuilds shard j of a stripe (the block of core j a
// repair needs) from any k present shards, all of one length (the
// stripe's block size: BlockSize, or b for a short stripe), and returns
// it; shards is left with shard j filled in.
func (c *Coder) ReconstructShard(shards [][]byte, j int) ([]byte, error) {
	if j < 0 || j >= c.l.N() {
		return nil, fmt.Errorf("volume: shard %d outside 0..%d", j, c.l.N()-1)
	}
	_, size, err := c.checkShards(shards)
	if err != nil {
		return nil, err
	}
	if len(shards[j]) == size {
		return shards[j], nil
	}
	req := make([]bool, c.l.N())
	req[j] = true
	if err := c.enc.ReconstructSome(shards, req); err != nil {
		return nil, fmt.Errorf("volume: reconstruct shard %d: %w", j, err)
	}
	return shards[j], nil
}

// Verify reports whether a complete stripe's parity matches its data.
func (c *Coder) Verify(shards [][]byte) (bool, error) {
	present, _, err := c.checkShards(shards)
	if err != nil {
		return false, err
	}
	if present != c.l.N() {
		return false, fmt.Errorf("volume: verify needs all %d shards, have %d", c.l.N(), present)
	}
	if c.enc == nil {
		return true, nil
	}
	return c.enc.Verify(shards)
}

// StreamEncoder cuts a stream written to it into stripes and hands each
// coded stripe to emit, in order, starting at stripe Next(). Flush pads a
// partial stripe with zeros and emits it: the zeros then belong to the
// stream, and the next byte written starts a new stripe. FlushShort emits
// it as a short stripe instead (format v2): blocks of
// ShortBlockSize(buffered) bytes, the rest of the stripe's address range a
// hole that nothing is written to; the next byte also starts a new stripe.
//
// The stream is copied once, straight into the blocks of the stripe being
// filled; emit owns the shards it is given. The blocks come from the
// encoder's Alloc (new memory unless SetAlloc was called).
type StreamEncoder struct {
	c      *Coder
	shards [][]byte // the stripe being filled (nil until its first byte)
	fill   int      // stream bytes in shards
	next   uint64
	emit   func(stripe uint64, shards [][]byte) error
	alloc  func() []byte
	free   func([]byte)
}

// NewStreamEncoder returns an encoder whose first stripe has index first
// (the current length of the volume's cores).
func (c *Coder) NewStreamEncoder(first uint64, emit func(stripe uint64, shards [][]byte) error) *StreamEncoder {
	return &StreamEncoder{c: c, next: first, emit: emit, alloc: func() []byte { return make([]byte, BlockSize) }}
}

// SetAlloc makes the encoder take the blocks of every later stripe from
// alloc, which returns a slice of BlockSize bytes of any content (a
// recycled block): the encoder overwrites all of it. Whoever recycles the
// shards given to emit must not do so while they are still in use.
func (e *StreamEncoder) SetAlloc(alloc func() []byte) { e.alloc = alloc }

// SetFree gives FlushShort somewhere to return the full-size blocks it
// copied a short stripe out of (the blocks alloc gave); without it they
// are left to the garbage collector.
func (e *StreamEncoder) SetFree(free func([]byte)) { e.free = free }

// Next is the index of the stripe the next byte goes to.
func (e *StreamEncoder) Next() uint64 { return e.next }

// Buffered is the number of bytes waiting for their stripe to fill.
func (e *StreamEncoder) Buffered() int { return e.fill }

// Write copies p into the stripe being filled and emits every stripe it
// fills.
func (e *StreamEncoder) Write(p []byte) (int, error) {
	n := 0
	ss := e.c.l.K * BlockSize
	for len(p) > 0 {
		if e.shards == nil {
			shards := make([][]byte, e.c.l.N())
			for j := range shards {
				b := e.alloc()
				if len(b) != BlockSize {
					return n, fmt.Errorf("volume: allocated block of %d bytes, want %d", len(b), BlockSize)
				}
				shards[j] = b[:BlockSize:BlockSize]
			}
			e.shards = shards
		}
		k := copy(e.shards[e.fill/BlockSize][e.fill%BlockSize:], p)
		p = p[k:]
		n += k
		e.fill += k
		if e.fill == ss {
			if err := e.flush(); err != nil {
				return n, err
			}
		}
	}
	return n, nil
}

// Flush emits the buffered partial stripe, zero padded (nothing if empty).
func (e *StreamEncoder) Flush() error {
	if e.fill == 0 {
		return nil
	}
	return e.flush()
}

// FlushShort emits the buffered partial stripe as a short stripe: all n
// blocks ShortBlockSize(Buffered()) bytes long (new memory, never from
// alloc), or, when that is BlockSize, padded as Flush does. Nothing is
// emitted if nothing is buffered. It returns the block size of the stripe
// emitted (0 if none).
func (e *StreamEncoder) FlushShort() (int, error) {
	if e.fill == 0 {
		return 0, nil
	}
	b := e.c.l.ShortBlockSize(int64(e.fill))
	if b == BlockSize {
		return BlockSize, e.flush()
	}
	n := e.c.l.N()
	buf := make([]byte, n*b)
	shards := make([][]byte, n)
	for j := range shards {
		shards[j] = buf[j*b : (j+1)*b : (j+1)*b]
	}
	// The stream bytes, re-cut into k pieces of b bytes (the tail of the
	// last one is zero: buf is new memory).
	for at := 0; at < e.fill; {
		src := e.shards[at/BlockSize][at%BlockSize:]
		dst := shards[at/b][at%b:]
		c := copy(dst, src[:min(len(src), e.fill-at)])
		at += c
	}
	// The full-size blocks are copied out: give them back, and forget them
	// before anything can fail, so that none is both free and referenced.
	old := e.shards
	e.shards, e.fill = nil, 0
	if e.free != nil {
		for _, blk := range old {
			e.free(blk)
		}
	}
	if e.c.enc != nil {
		if err := e.c.enc.Encode(shards); err != nil {
			return 0, fmt.Errorf("volume: encode: %w", err)
		}
	}
	if err := e.emit(e.next, shards); err != nil {
		return 0, err
	}
	e.next++
	return b, nil
}

func (e *StreamEncoder) flush() error {
	shards := e.shards
	// Zero the padding: recycled blocks hold old bytes.
	for f := e.fill; f < e.c.l.K*BlockSize; f = (f/BlockSize + 1) * BlockSize {
		clear(shards[f/BlockSize][f%BlockSize:])
	}
	if e.c.enc != nil {
		if err := e.c.enc.Encode(shards); err != nil {
			return fmt.Errorf("volume: encode: %w", err)
		}
	}
	if err := e.emit(e.next, shards); err != nil {
		return err
	}
	e.next++
	e.shards, e.fill = nil, 0
	return nil
}
