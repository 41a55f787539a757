// Package wire holds the binary bodies of the hoster HTTP API v1 (see
// hoster/README.md): the push request a writer POSTs to append blocks, and
// the framed block list of a range read. Both are small, bounded,
// deterministic encodings; the decoders never allocate more than the input
// they are given and refuse anything malformed, truncated or over a limit.
//
// Push request (POST /v1/cores/{key}/blocks, Content-Type
// application/x-datdot-push):
//
//	magic   "DDPUSH01"
//	start   uvarint   index of the first block
//	fork    uvarint   fork id of the signed tree
//	sig     uvarint n ‖ n bytes   writer's signature over the tree at start+count
//	mfst    uvarint n ‖ n bytes   encoded manifest (may be empty)
//	count   uvarint   number of blocks
//	blocks  count × (uvarint n ‖ n bytes)
//
// Block list (GET /v1/cores/{key}/blocks?start=A&end=B, Content-Type
// application/x-datdot-blocks):
//
//	magic   "DDBLKS01"
//	start   uvarint   index of the first block
//	count   uvarint
//	blocks  count × (uvarint n ‖ n bytes)
//
// Block run (the same answer asked with &form=run, Content-Type
// application/x-datdot-block-run): the blocks' sizes first, then their
// bytes back to back, as a hoster's data file holds them, so that it
// sends them straight from the file:
//
//	magic   "DDBRUN01"
//	start   uvarint   index of the first block
//	count   uvarint
//	sizes   count × uvarint
//	data    the blocks' bytes, back to back (the sum of sizes)
//
// A hoster that does not know the form answers with a block list; a
// client asking for a run reads either by its Content-Type.
package wire

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"slices"
)

// Limits of the encodings. A push or a block list larger than these is
// refused by the decoders (and by the server before it reads the body).
const (
	MaxBlockSize    = 4 << 20  // bytes in one block
	MaxPushBlocks   = 4096     // blocks in one push
	MaxPushBytes    = 32 << 20 // encoded push body
	MaxSignature    = 1 << 12  // signature bytes (a multisig manifest's signature is larger than 64)
	MaxManifest     = 1 << 16  // manifest bytes
	MaxListBlocks   = 1024     // blocks in one range response
	MaxListBytes    = 16 << 20 // block bytes in one range response
	PushContentType = "application/x-datdot-push"
	ListContentType = "application/x-datdot-blocks"
	RunContentType  = "application/x-datdot-block-run"
)

const (
	pushMagic = "DDPUSH01"
	listMagic = "DDBLKS01"
	runMagic  = "DDBRUN01"
)

// ErrMalformed wraps every decoding error.
var ErrMalformed = errors.New("wire: malformed body")

// Push is one append request: Blocks are blocks Start..Start+len(Blocks)-1
// of the core, Signature the writer's signature over the tree at
// Start+len(Blocks) at Fork, Manifest the core's encoded manifest (needed
// only when the hoster does not know the core yet; empty otherwise).
type Push struct {
	Start     uint64
	Fork      uint64
	Signature []byte
	Manifest  []byte
	Blocks    [][]byte
}

// EncodePush encodes p; it refuses a push over the limits.
func EncodePush(p *Push) ([]byte, error) {
	body, err := NewPushBody(p)
	if err != nil {
		return nil, err
	}
	out := make([]byte, body.Len())
	if _, err := io.ReadFull(body, out); err != nil {
		return nil, err
	}
	return out, nil
}

// PushBody is the encoding of a push as a reader that sends the blocks
// from where they are: the blocks are not copied into one body first. The
// push's blocks must not change until the body is read (or dropped).
type PushBody struct {
	parts [][]byte // encoded pieces in order: header, then per block its length and its bytes
	size  int64
}

// NewPushBody encodes p (refusing a push over the limits, as EncodePush).
func NewPushBody(p *Push) (*PushBody, error) {
	if len(p.Blocks) > MaxPushBlocks {
		return nil, fmt.Errorf("wire: %d blocks in one push, at most %d", len(p.Blocks), MaxPushBlocks)
	}
	if len(p.Signature) > MaxSignature || len(p.Manifest) > MaxManifest {
		return nil, fmt.Errorf("wire: signature or manifest too large")
	}
	head := make([]byte, 0, len(pushMagic)+5*binary.MaxVarintLen64+len(p.Signature)+len(p.Manifest))
	head = append(head, pushMagic...)
	head = binary.AppendUvarint(head, p.Start)
	head = binary.AppendUvarint(head, p.Fork)
	head = appendBytes(head, p.Signature)
	head = appendBytes(head, p.Manifest)
	head = binary.AppendUvarint(head, uint64(len(p.Blocks)))
	// Every block's length prefix lives in one buffer, each sent right
	// before its block.
	prefixes := make([]byte, 0, len(p.Blocks)*binary.MaxVarintLen64)
	b := &PushBody{parts: make([][]byte, 0, 1+2*len(p.Blocks)), size: int64(len(head))}
	b.parts = append(b.parts, head)
	for _, blk := range p.Blocks {
		if len(blk) > MaxBlockSize {
			return nil, fmt.Errorf("wire: block of %d bytes, at most %d", len(blk), MaxBlockSize)
		}
		at := len(prefixes)
		prefixes = binary.AppendUvarint(prefixes, uint64(len(blk)))
		b.parts = append(b.parts, prefixes[at:len(prefixes):len(prefixes)], blk)
		b.size += int64(len(prefixes)-at) + int64(len(blk))
	}
	if b.size > MaxPushBytes {
		return nil, fmt.Errorf("wire: push of %d bytes, at most %d", b.size, MaxPushBytes)
	}
	return b, nil
}

// Len is the size of the whole encoded push.
func (b *PushBody) Len() int64 { return b.size }

// Remaining is how many bytes of the push are not read yet.
func (b *PushBody) Remaining() int64 {
	var n int64
	for _, p := range b.parts {
		n += int64(len(p))
	}
	return n
}

// Read implements io.Reader.
func (b *PushBody) Read(out []byte) (int, error) {
	n := 0
	for n < len(out) && len(b.parts) > 0 {
		c := copy(out[n:], b.parts[0])
		n += c
		if b.parts[0] = b.parts[0][c:]; len(b.parts[0]) == 0 {
			b.parts = b.parts[1:]
		}
	}
	if n == 0 && len(b.parts) == 0 {
		return 0, io.EOF
	}
	return n, nil
}

// WriteTo implements io.WriterTo: the pieces go to w as they are, in one
// writev when w is a network connection that has it (a TCP connection),
// else one Write each.
func (b *PushBody) WriteTo(w io.Writer) (int64, error) {
	bufs := net.Buffers(b.parts)
	n, err := bufs.WriteTo(w)
	b.parts = bufs
	if err == nil && len(b.parts) > 0 {
		err = io.ErrShortWrite
	}
	return n, err
}

// DecodePush decodes a push body. The returned slices alias b.
func DecodePush(b []byte) (*Push, error) {
	if len(b) > MaxPushBytes {
		return nil, fmt.Errorf("%w: push of %d bytes, at most %d", ErrMalformed, len(b), MaxPushBytes)
	}
	d := decoder{b: b}
	d.magic(pushMagic)
	p := &Push{}
	p.Start = d.uvarint()
	p.Fork = d.uvarint()
	p.Signature = d.bytes(MaxSignature)
	p.Manifest = d.bytes(MaxManifest)
	n := d.count(MaxPushBlocks)
	if d.err == nil && n > 0 {
		p.Blocks = make([][]byte, 0, n)
	}
	for i := 0; i < n && d.err == nil; i++ {
		p.Blocks = append(p.Blocks, d.bytes(MaxBlockSize))
	}
	if err := d.end(); err != nil {
		return nil, err
	}
	if len(p.Signature) == 0 {
		return nil, fmt.Errorf("%w: no signature", ErrMalformed)
	}
	if p.Start+uint64(len(p.Blocks)) < p.Start {
		return nil, fmt.Errorf("%w: start %d overflows", ErrMalformed, p.Start)
	}
	return p, nil
}

// BlockList is a run of consecutive blocks starting at Start.
type BlockList struct {
	Start  uint64
	Blocks [][]byte
}

// EncodeBlockList encodes l; it refuses a list over the limits.
func EncodeBlockList(l *BlockList) ([]byte, error) {
	if len(l.Blocks) > MaxListBlocks {
		return nil, fmt.Errorf("wire: %d blocks in one list, at most %d", len(l.Blocks), MaxListBlocks)
	}
	size, total := len(listMagic)+2*binary.MaxVarintLen64, 0
	for _, b := range l.Blocks {
		if len(b) > MaxBlockSize {
			return nil, fmt.Errorf("wire: block of %d bytes, at most %d", len(b), MaxBlockSize)
		}
		total += len(b)
		size += binary.MaxVarintLen64 + len(b)
	}
	if total > MaxListBytes {
		return nil, fmt.Errorf("wire: %d block bytes in one list, at most %d", total, MaxListBytes)
	}
	out := make([]byte, 0, size)
	out = append(out, listMagic...)
	out = binary.AppendUvarint(out, l.Start)
	out = binary.AppendUvarint(out, uint64(len(l.Blocks)))
	for _, b := range l.Blocks {
		out = appendBytes(out, b)
	}
	return out, nil
}

// BlockListSize is the encoded size of a block list of blocks of sizes
// starting at start.
func BlockListSize(start uint64, sizes []int) int {
	n := len(listMagic) + uvarintLen(start) + uvarintLen(uint64(len(sizes)))
	for _, sz := range sizes {
		n += uvarintLen(uint64(sz)) + sz
	}
	return n
}

// LayBlockList writes the framing of a block list of blocks of sizes
// starting at start into buf (at least BlockListSize bytes) and returns the
// encoded list and, for each block, the part of it that holds the block's
// bytes, for the caller to fill: a server reads blocks straight into their
// place in the answer. It applies EncodeBlockList's limits.
func LayBlockList(buf []byte, start uint64, sizes []int) ([]byte, [][]byte, error) {
	if len(sizes) > MaxListBlocks {
		return nil, nil, fmt.Errorf("wire: %d blocks in one list, at most %d", len(sizes), MaxListBlocks)
	}
	total := 0
	for _, sz := range sizes {
		if sz < 0 || sz > MaxBlockSize {
			return nil, nil, fmt.Errorf("wire: block of %d bytes, at most %d", sz, MaxBlockSize)
		}
		total += sz
	}
	if total > MaxListBytes {
		return nil, nil, fmt.Errorf("wire: %d block bytes in one list, at most %d", total, MaxListBytes)
	}
	size := BlockListSize(start, sizes)
	if len(buf) < size {
		return nil, nil, fmt.Errorf("wire: block list of %d bytes in a buffer of %d", size, len(buf))
	}
	out := AppendBlockListHead(buf[:0], start, len(sizes))
	blocks := make([][]byte, len(sizes))
	for i, sz := range sizes {
		out = binary.AppendUvarint(out, uint64(sz))
		blocks[i] = out[len(out) : len(out)+sz : len(out)+sz]
		out = out[:len(out)+sz]
	}
	return out, blocks, nil
}

// AppendBlockListHead appends the start of a block list of count blocks
// from start (what comes before the first block's length prefix; each
// block is then its uvarint length and its bytes).
func AppendBlockListHead(dst []byte, start uint64, count int) []byte {
	dst = append(dst, listMagic...)
	dst = binary.AppendUvarint(dst, start)
	return binary.AppendUvarint(dst, uint64(count))
}

func uvarintLen(v uint64) int {
	n := 1
	for ; v >= 0x80; v >>= 7 {
		n++
	}
	return n
}

// DecodeBlockList decodes a block list. The returned slices alias b.
func DecodeBlockList(b []byte) (*BlockList, error) {
	if len(b) > MaxListBytes+len(listMagic)+(MaxListBlocks+2)*binary.MaxVarintLen64 {
		return nil, fmt.Errorf("%w: block list of %d bytes is too large", ErrMalformed, len(b))
	}
	d := decoder{b: b}
	d.magic(listMagic)
	l := &BlockList{Start: d.uvarint()}
	n := d.count(MaxListBlocks)
	total := 0
	for i := 0; i < n && d.err == nil; i++ {
		blk := d.bytes(MaxBlockSize)
		total += len(blk)
		l.Blocks = append(l.Blocks, blk)
	}
	if d.err == nil && total > MaxListBytes {
		return nil, fmt.Errorf("%w: %d block bytes, at most %d", ErrMalformed, total, MaxListBytes)
	}
	if err := d.end(); err != nil {
		return nil, err
	}
	if l.Start+uint64(len(l.Blocks)) < l.Start {
		return nil, fmt.Errorf("%w: start %d overflows", ErrMalformed, l.Start)
	}
	return l, nil
}

// AppendBlockRunHead appends the head of a block run of blocks of sizes
// starting at start (everything before the blocks' bytes); it applies
// EncodeBlockList's limits.
func AppendBlockRunHead(dst []byte, start uint64, sizes []int) ([]byte, error) {
	if len(sizes) > MaxListBlocks {
		return nil, fmt.Errorf("wire: %d blocks in one run, at most %d", len(sizes), MaxListBlocks)
	}
	total := 0
	for _, sz := range sizes {
		if sz < 0 || sz > MaxBlockSize {
			return nil, fmt.Errorf("wire: block of %d bytes, at most %d", sz, MaxBlockSize)
		}
		total += sz
	}
	if total > MaxListBytes {
		return nil, fmt.Errorf("wire: %d block bytes in one run, at most %d", total, MaxListBytes)
	}
	dst = append(dst, runMagic...)
	dst = binary.AppendUvarint(dst, start)
	dst = binary.AppendUvarint(dst, uint64(len(sizes)))
	for _, sz := range sizes {
		dst = binary.AppendUvarint(dst, uint64(sz))
	}
	return dst, nil
}

// EncodeBlockRun encodes l as a block run; it refuses a run over the
// limits.
func EncodeBlockRun(l *BlockList) ([]byte, error) {
	sizes := make([]int, len(l.Blocks))
	total := 0
	for i, b := range l.Blocks {
		sizes[i] = len(b)
		total += len(b)
	}
	out, err := AppendBlockRunHead(nil, l.Start, sizes)
	if err != nil {
		return nil, err
	}
	out = slices.Grow(out, total)
	for _, b := range l.Blocks {
		out = append(out, b...)
	}
	return out, nil
}

// DecodeBlockRun decodes a block run. The returned slices alias b.
func DecodeBlockRun(b []byte) (*BlockList, error) {
	if len(b) > MaxListBytes+len(runMagic)+(MaxListBlocks+2)*binary.MaxVarintLen64 {
		return nil, fmt.Errorf("%w: block run of %d bytes is too large", ErrMalformed, len(b))
	}
	d := decoder{b: b}
	d.magic(runMagic)
	l := &BlockList{Start: d.uvarint()}
	n := d.count(MaxListBlocks)
	sizes := make([]int, 0, n)
	total := 0
	for i := 0; i < n && d.err == nil; i++ {
		sz := d.uvarint()
		if sz > MaxBlockSize {
			d.fail("block of %d bytes, at most %d", sz, MaxBlockSize)
			break
		}
		sizes = append(sizes, int(sz))
		total += int(sz)
	}
	if d.err != nil {
		return nil, d.err
	}
	if total > MaxListBytes {
		return nil, fmt.Errorf("%w: %d block bytes, at most %d", ErrMalformed, total, MaxListBytes)
	}
	if rest := len(b) - d.off; rest != total {
		return nil, fmt.Errorf("%w: block run of %d bytes holds %d", ErrMalformed, total, rest)
	}
	l.Blocks = make([][]byte, len(sizes))
	for i, sz := range sizes {
		l.Blocks[i] = b[d.off : d.off+sz : d.off+sz]
		d.off += sz
	}
	if l.Start+uint64(len(l.Blocks)) < l.Start {
		return nil, fmt.Errorf("%w: start %d overflows", ErrMalformed, l.Start)
	}
	return l, nil
}

func appendBytes(out, b []byte) []byte {
	out = binary.AppendUvarint(out, uint64(len(b)))
	return append(out, b...)
}

type decoder struct {
	b   []byte
	off int
	err error
}

func (d *decoder) fail(format string, args ...any) {
	if d.err == nil {
		d.err = fmt.Errorf("%w: "+format, append([]any{ErrMalformed}, args...)...)
	}
}

func (d *decoder) magic(m string) {
	if len(d.b) < len(m) || string(d.b[:len(m)]) != m {
		d.fail("bad magic, want %q", m)
		return
	}
	d.off = len(m)
}

func (d *decoder) uvarint() uint64 {
	if d.err != nil {
		return 0
	}
	v, n := binary.Uvarint(d.b[d.off:])
	if n <= 0 {
		d.fail("bad varint at byte %d", d.off)
		return 0
	}
	if n > 1 && d.b[d.off+n-1] == 0 {
		d.fail("non-minimal varint at byte %d", d.off) // one encoding per value
		return 0
	}
	d.off += n
	return v
}

// count reads a count of items of at least one byte each, at most limit.
func (d *decoder) count(limit int) int {
	v := d.uvarint()
	if d.err != nil {
		return 0
	}
	if v > uint64(limit) || v > uint64(len(d.b)-d.off) {
		d.fail("count %d at byte %d exceeds limit %d or remaining bytes", v, d.off, limit)
		return 0
	}
	return int(v)
}

func (d *decoder) bytes(limit int) []byte {
	n := d.uvarint()
	if d.err != nil {
		return nil
	}
	if n > uint64(limit) {
		d.fail("field of %d bytes at byte %d, at most %d", n, d.off, limit)
		return nil
	}
	if n > uint64(len(d.b)-d.off) {
		d.fail("truncated: field of %d bytes at byte %d, %d left", n, d.off, len(d.b)-d.off)
		return nil
	}
	out := d.b[d.off : d.off+int(n) : d.off+int(n)]
	d.off += int(n)
	return out
}

func (d *decoder) end() error {
	if d.err != nil {
		return d.err
	}
	if d.off != len(d.b) {
		return fmt.Errorf("%w: %d trailing bytes", ErrMalformed, len(d.b)-d.off)
	}
	return nil
}

// ReadBlocks reads a block list or a block run (by contentType) from r,
// reading each block's bytes straight into the place that place returns
// for it (len(dst) == size; place may refuse the block with an error).
// It applies the decoders' limits and fails on a body that ends early or
// goes on past its last block. It returns the first block's index and the
// number of blocks read.
func ReadBlocks(r io.Reader, contentType string, place func(i int, size int) ([]byte, error)) (start uint64, n int, err error) {
	br := bufio.NewReaderSize(r, 512)
	magic := make([]byte, len(listMagic))
	if _, err := io.ReadFull(br, magic); err != nil {
		return 0, 0, fmt.Errorf("%w: %w", ErrMalformed, err)
	}
	run := contentType == RunContentType
	if want := map[bool]string{true: runMagic, false: listMagic}[run]; string(magic) != want {
		return 0, 0, fmt.Errorf("%w: bad magic, want %q", ErrMalformed, want)
	}
	uv := func() (uint64, error) {
		v, err := binary.ReadUvarint(br)
		if err != nil {
			return 0, fmt.Errorf("%w: %w", ErrMalformed, err)
		}
		return v, nil
	}
	if start, err = uv(); err != nil {
		return 0, 0, err
	}
	count, err := uv()
	if err != nil {
		return 0, 0, err
	}
	if count > MaxListBlocks {
		return 0, 0, fmt.Errorf("%w: %d blocks, at most %d", ErrMalformed, count, MaxListBlocks)
	}
	size := func() (int, error) {
		v, err := uv()
		if err != nil {
			return 0, err
		}
		if v > MaxBlockSize {
			return 0, fmt.Errorf("%w: block of %d bytes, at most %d", ErrMalformed, v, MaxBlockSize)
		}
		return int(v), nil
	}
	var sizes []int
	total := 0
	if run {
		sizes = make([]int, count)
		for i := range sizes {
			if sizes[i], err = size(); err != nil {
				return 0, 0, err
			}
			if total += sizes[i]; total > MaxListBytes {
				return 0, 0, fmt.Errorf("%w: over %d block bytes", ErrMalformed, MaxListBytes)
			}
		}
	}
	for i := range int(count) {
		var sz int
		if run {
			sz = sizes[i]
		} else {
			if sz, err = size(); err != nil {
				return 0, 0, err
			}
			if total += sz; total > MaxListBytes {
				return 0, 0, fmt.Errorf("%w: over %d block bytes", ErrMalformed, MaxListBytes)
			}
		}
		dst, err := place(i, sz)
		if err != nil {
			return 0, 0, err
		}
		if len(dst) != sz {
			return 0, 0, fmt.Errorf("wire: read blocks: place of %d bytes for a block of %d", len(dst), sz)
		}
		if _, err := io.ReadFull(br, dst); err != nil {
			return 0, 0, fmt.Errorf("%w: block %d: %w", ErrMalformed, i, err)
		}
	}
	if _, err := br.ReadByte(); err != io.EOF {
		if err == nil {
			return 0, 0, fmt.Errorf("%w: bytes after the last block", ErrMalformed)
		}
		return 0, 0, err
	}
	if start+count < start {
		return 0, 0, fmt.Errorf("%w: start %d overflows", ErrMalformed, start)
	}
	return start, int(count), nil
}
