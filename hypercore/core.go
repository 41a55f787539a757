package hypercore

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/subtle"
	"errors"
	"fmt"
	"io"
	"os"
	"sync"

	"github.com/datdot/datdot/hypercore/flattree"
)

// ErrReadOnly is returned when a core opened without its writer key is
// asked to append.
var ErrReadOnly = errors.New("hypercore: core is not writable")

// Core is one Hypercore: its identity, its tree and its blocks, kept in a
// Storage. A Core opened with the writer's private key can append; every
// Append is signed and committed atomically. All methods are safe for
// concurrent use; appends are serialised.
type Core struct {
	st     Storage
	header Header
	priv   ed25519.PrivateKey

	wmu sync.Mutex // serialises Append

	mu    sync.RWMutex // guards head and roots
	head  Head
	roots []Node
}

// Info summarises a core at its head.
type Info struct {
	Key          [32]byte
	Manifest     []byte // encoded manifest (JS keeps the default one for compat cores too)
	Compat       bool
	DiscoveryKey [32]byte
	Length       uint64
	ByteLength   uint64
	Fork         uint64
	TreeHash     [32]byte
	Signature    []byte
}

// Create makes a new, empty core in st for the writer priv: a default v11
// core (key = manifest hash), or with compat a compat core (key = public
// key). It returns ErrExists if st already holds a core.
func Create(ctx context.Context, st Storage, priv ed25519.PrivateKey, compat bool) (*Core, error) {
	if len(priv) != ed25519.PrivateKeySize {
		return nil, fmt.Errorf("%w: private key is %d bytes", ErrBadKey, len(priv))
	}
	pub := priv.Public().(ed25519.PublicKey)
	h := Header{Manifest: DefaultManifest(pub), Compat: compat}
	if compat {
		copy(h.Key[:], pub)
	} else {
		h.Key = ManifestKey(h.Manifest)
	}
	if err := st.Init(ctx, h); err != nil {
		return nil, fmt.Errorf("create core: %w", err)
	}
	return Open(ctx, st, priv)
}

// CreateReplica makes an empty, read-only copy of someone else's core in
// st, to be filled with AppendSigned. manifest is the core's encoded
// manifest, or nil for a compat core (key = the writer's public key).
func CreateReplica(ctx context.Context, st Storage, key [32]byte, manifest []byte) (*Core, error) {
	h := Header{Key: key}
	if len(manifest) == 0 {
		h.Manifest, h.Compat = DefaultManifest(key[:]), true
	} else {
		if ManifestKey(manifest) != key {
			return nil, fmt.Errorf("create replica: %w", ErrKeyMismatch)
		}
		if _, err := DecodeManifest(manifest); err != nil {
			return nil, fmt.Errorf("create replica: %w", err)
		}
		h.Manifest = bytes.Clone(manifest)
	}
	if err := st.Init(ctx, h); err != nil {
		return nil, fmt.Errorf("create replica: %w", err)
	}
	return Open(ctx, st, nil)
}

// Open opens the core in st. priv is the writer's key, or nil to open
// read-only; a key that is not the core's signer is an error.
func Open(ctx context.Context, st Storage, priv ed25519.PrivateKey) (*Core, error) {
	h, head, err := st.Load(ctx)
	if err != nil {
		return nil, fmt.Errorf("open core: %w", err)
	}
	c := &Core{st: st, header: h, head: head}
	if priv != nil {
		if len(priv) != ed25519.PrivateKeySize {
			return nil, fmt.Errorf("open core: %w: private key is %d bytes", ErrBadKey, len(priv))
		}
		m, err := DecodeManifest(h.Manifest)
		if err != nil {
			return nil, fmt.Errorf("open core: %w", err)
		}
		pub := priv.Public().(ed25519.PublicKey)
		if !isCompatManifest(pub, m) {
			return nil, fmt.Errorf("open core: %w: key %x is not the core's signer", ErrBadKey, []byte(pub))
		}
		c.priv = priv
	}
	for _, idx := range flattree.FullRoots(nil, 2*head.Length) {
		n, err := st.Node(ctx, idx)
		if err != nil {
			return nil, fmt.Errorf("open core: root %d: %w", idx, err)
		}
		c.roots = append(c.roots, n)
	}
	if head.Length > 0 {
		if err := VerifyTreeSignature(h.Key[:], c.signingManifest(), hashSlice(TreeHash(c.roots)), head.Length, head.Fork, head.Signature); err != nil {
			return nil, fmt.Errorf("open core: %w: stored head does not verify: %w", ErrCorrupt, err)
		}
	}
	return c, nil
}

func hashSlice(h [32]byte) []byte { return h[:] }

// signingManifest is the manifest argument of SignTree/VerifyTreeSignature.
func (c *Core) signingManifest() []byte {
	if c.header.Compat {
		return nil
	}
	return c.header.Manifest
}

// Key returns the core's key.
func (c *Core) Key() [32]byte { return c.header.Key }

// DiscoveryKey returns the core's discovery key.
func (c *Core) DiscoveryKey() [32]byte { return DiscoveryKey(c.header.Key[:]) }

// Writable reports whether the core was opened with its writer key.
func (c *Core) Writable() bool { return c.priv != nil }

// Length returns the number of blocks.
func (c *Core) Length() uint64 {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return c.head.Length
}

// Info returns the core's identity and head.
func (c *Core) Info() Info {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return Info{
		Key:          c.header.Key,
		Manifest:     bytes.Clone(c.header.Manifest),
		Compat:       c.header.Compat,
		DiscoveryKey: DiscoveryKey(c.header.Key[:]),
		Length:       c.head.Length,
		ByteLength:   c.head.ByteLength,
		Fork:         c.head.Fork,
		TreeHash:     TreeHash(c.roots),
		Signature:    bytes.Clone(c.head.Signature),
	}
}

// Roots returns the roots of the tree at the head.
func (c *Core) Roots() []Node {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return append([]Node(nil), c.roots...)
}

// Append adds blocks, signs the new tree and commits it; it returns the
// new length. Either all blocks are appended or none.
func (c *Core) Append(ctx context.Context, blocks ...[]byte) (uint64, error) {
	if c.priv == nil {
		return 0, ErrReadOnly
	}
	return c.appendBlocks(ctx, blocks, func(th [32]byte, length, fork uint64) ([]byte, error) {
		return SignTree(c.priv, c.signingManifest(), th[:], length, fork)
	})
}

// AppendSigned adds blocks that someone else wrote, with the writer's
// signature over the resulting tree (at length Length()+len(blocks) and
// fork). It is how a replica (a hoster syncing from the gateway, or a
// repair) stores a core: the signature is checked before anything is
// committed, so a replica only ever holds what the writer signed.
func (c *Core) AppendSigned(ctx context.Context, fork uint64, signature []byte, blocks ...[]byte) (uint64, error) {
	return c.appendBlocks(ctx, blocks, func(th [32]byte, length, f uint64) ([]byte, error) {
		if f != fork {
			return nil, fmt.Errorf("%w: fork %d, core is at fork %d", ErrBadSignature, fork, f)
		}
		if err := VerifyTreeSignature(c.header.Key[:], c.signingManifest(), th[:], length, fork, signature); err != nil {
			return nil, err
		}
		return bytes.Clone(signature), nil
	})
}

func (c *Core) appendBlocks(ctx context.Context, blocks [][]byte, sign func(th [32]byte, length, fork uint64) ([]byte, error)) (uint64, error) {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	c.mu.RLock()
	head := c.head
	roots := append(make([]Node, 0, len(c.roots)+1), c.roots...)
	c.mu.RUnlock()
	if len(blocks) == 0 {
		return head.Length, nil
	}
	if err := ctx.Err(); err != nil {
		return 0, err
	}
	nodes := make([]Node, 0, 2*len(blocks)+8)
	length, byteLength := head.Length, head.ByteLength
	for _, b := range blocks {
		if length+1 >= MaxLength {
			return 0, fmt.Errorf("append: core is full")
		}
		leaf := LeafNode(length, b)
		nodes = append(nodes, leaf)
		roots = growTree(roots, leaf, func(p Node) { nodes = append(nodes, p) })
		length++
		byteLength += leaf.Size
	}
	th := TreeHash(roots)
	sig, err := sign(th, length, head.Fork)
	if err != nil {
		return 0, fmt.Errorf("append: %w", err)
	}
	newHead := Head{Length: length, ByteLength: byteLength, Fork: head.Fork, Signature: sig}
	if err := c.st.Commit(ctx, &Commit{Blocks: blocks, Nodes: nodes, Head: newHead}); err != nil {
		return 0, fmt.Errorf("append: %w", err)
	}
	c.mu.Lock()
	c.head, c.roots = newHead, roots
	c.mu.Unlock()
	return length, nil
}

// growTree adds leaf to the tree whose full roots are roots and returns
// the new roots; every parent node made on the way is passed to parent.
func growTree(roots []Node, leaf Node, parent func(Node)) []Node {
	roots = append(roots, leaf)
	it := flattree.NewIterator(leaf.Index)
	for len(roots) > 1 {
		a, l := roots[len(roots)-1], roots[len(roots)-2]
		if it.Sibling() != l.Index {
			break
		}
		p := ParentNode(it.Parent(), a, l)
		parent(p)
		roots = append(roots[:len(roots)-2], p)
	}
	return roots
}

// AppendFrom reads r to its end and appends it in blocks of blockSize
// bytes (the last one may be shorter), committing about every 4 MiB. It
// returns the number of blocks and bytes appended; on error, what was
// committed before stays. ctx is checked before every commit. One buffer
// of about 4 MiB is read into and reused for every commit (Storage.Commit
// does not keep the blocks it is given).
func (c *Core) AppendFrom(ctx context.Context, r io.Reader, blockSize int) (blocks uint64, n int64, err error) {
	if blockSize <= 0 || blockSize > MaxAppendFromBlock {
		return 0, 0, fmt.Errorf("append: block size %d, want 1..%d", blockSize, MaxAppendFromBlock)
	}
	perCommit := max(1, (4<<20)/blockSize)
	buf := make([]byte, perCommit*blockSize)
	batch := make([][]byte, 0, perCommit)
	for {
		batch = batch[:0]
		var eof bool
		for len(batch) < perCommit {
			blk := buf[len(batch)*blockSize : (len(batch)+1)*blockSize]
			k, rerr := io.ReadFull(r, blk)
			if k > 0 {
				batch = append(batch, blk[:k])
			}
			if rerr == io.EOF || rerr == io.ErrUnexpectedEOF {
				eof = true
				break
			}
			if rerr != nil {
				return blocks, n, fmt.Errorf("append: read: %w", rerr)
			}
		}
		if len(batch) > 0 {
			if _, err := c.Append(ctx, batch...); err != nil {
				return blocks, n, err
			}
			blocks += uint64(len(batch))
			for _, b := range batch {
				n += int64(len(b))
			}
		}
		if eof {
			return blocks, n, nil
		}
	}
}

// MaxAppendFromBlock is the largest block size AppendFrom takes (its
// buffer is at least one block).
const MaxAppendFromBlock = 64 << 20

// Get returns block index, checked against its tree node: a block that
// storage corrupted is never returned (ErrCorrupt instead).
func (c *Core) Get(ctx context.Context, index uint64) ([]byte, error) {
	if index >= c.Length() {
		return nil, fmt.Errorf("get block %d: %w", index, ErrNotFound)
	}
	n, err := c.st.Node(ctx, 2*index)
	if err != nil {
		return nil, fmt.Errorf("get block %d: %w", index, err)
	}
	b, err := c.st.Block(ctx, index)
	if err != nil {
		return nil, fmt.Errorf("get block %d: %w", index, err)
	}
	if uint64(len(b)) != n.Size || LeafHash(b) != n.Hash {
		return nil, fmt.Errorf("get block %d: %w: block does not match its tree node", index, ErrCorrupt)
	}
	return b, nil
}

// GetUnchecked returns block index as storage holds it, without checking
// it against its tree node (one hash less than Get). For a writer sending
// its own blocks to replicas, which check every block against the
// writer's signature anyway.
func (c *Core) GetUnchecked(ctx context.Context, index uint64) ([]byte, error) {
	if index >= c.Length() {
		return nil, fmt.Errorf("get block %d: %w", index, ErrNotFound)
	}
	b, err := c.st.Block(ctx, index)
	if err != nil {
		return nil, fmt.Errorf("get block %d: %w", index, err)
	}
	return b, nil
}

// RangeReader is a Storage that reads a run of blocks at once into
// buffers of the caller's (FileStorage.ReadBlocks says how).
type RangeReader interface {
	ReadBlocks(ctx context.Context, start, end uint64, maxBytes int, into func(sizes []int) ([][]byte, error)) (int, error)
}

// GetRangeUnchecked reads blocks [start, end) as storage holds them,
// unchecked (as GetUnchecked), stopping before a block that would take
// the total over maxBytes (at least one is read). into gets the sizes of
// the blocks that will be read and returns where to read each
// (len(dst[i]) == sizes[i]); it must not call the core. It returns how
// many blocks were read. A storage that is a RangeReader reads them in a
// few system calls straight into place; others block by block.
func (c *Core) GetRangeUnchecked(ctx context.Context, start, end uint64, maxBytes int, into func(sizes []int) ([][]byte, error)) (int, error) {
	if start >= end || end > c.Length() {
		return 0, fmt.Errorf("get blocks [%d,%d): %w", start, end, ErrNotFound)
	}
	if rr, ok := c.st.(RangeReader); ok {
		n, err := rr.ReadBlocks(ctx, start, end, maxBytes, into)
		if err != nil {
			return 0, fmt.Errorf("get blocks [%d,%d): %w", start, end, err)
		}
		return n, nil
	}
	var blocks [][]byte
	var sizes []int
	total := 0
	for i := start; i < end; i++ {
		b, err := c.st.Block(ctx, i)
		if err != nil {
			return 0, fmt.Errorf("get block %d: %w", i, err)
		}
		if len(blocks) > 0 && total+len(b) > maxBytes {
			break
		}
		blocks, sizes = append(blocks, b), append(sizes, len(b))
		total += len(b)
	}
	dst, err := into(sizes)
	if err != nil {
		return 0, err
	}
	if len(dst) != len(blocks) {
		return 0, fmt.Errorf("hypercore: get blocks: %d destinations for %d blocks", len(dst), len(blocks))
	}
	for i, b := range blocks {
		if len(dst[i]) != len(b) {
			return 0, fmt.Errorf("hypercore: get blocks: destination of %d bytes for a block of %d", len(dst[i]), len(b))
		}
		copy(dst[i], b)
	}
	return len(blocks), nil
}

// BlockFiler is a Storage that can hand out the stored bytes of a run of
// blocks as a file, for sending them without copying them through memory.
type BlockFiler interface {
	// OpenBlocks returns a descriptor of the file that holds blocks
	// [start, end) back to back, positioned at the first one's bytes
	// (its position is the caller's alone), and the sizes of the blocks
	// from start that fit in maxBytes (at least one), which the file
	// holds and keeps unchanged while it is open. The caller closes it.
	OpenBlocks(ctx context.Context, start, end uint64, maxBytes int) (*BlockFile, []int, error)
}

// BlockFile is a descriptor of a storage's block file (BlockFiler). Close
// hands it back to the storage for the next range (or closes it).
type BlockFile struct {
	*os.File
	done func(*os.File)
}

// NewBlockFile returns f as a BlockFile that Close gives to done (nil:
// closes it).
func NewBlockFile(f *os.File, done func(*os.File)) *BlockFile {
	return &BlockFile{File: f, done: done}
}

// Close ends the use of the descriptor.
func (b *BlockFile) Close() error {
	f := b.File
	if f == nil {
		return nil
	}
	b.File = nil
	if b.done == nil {
		return f.Close()
	}
	b.done(f)
	return nil
}

// ErrNoBlockFile is OpenRangeUnchecked's answer for a storage that keeps
// no block file (read the blocks with GetRangeUnchecked).
var ErrNoBlockFile = errors.New("hypercore: storage has no block file")

// OpenRangeUnchecked is GetRangeUnchecked leaving the bytes in storage:
// a descriptor of the file that holds blocks [start, end) back to
// back, positioned at block start, and the sizes of the blocks from start
// that fit in maxBytes (at least one). The blocks are not checked against
// the tree. ErrNoBlockFile if the storage is not a BlockFiler.
func (c *Core) OpenRangeUnchecked(ctx context.Context, start, end uint64, maxBytes int) (*BlockFile, []int, error) {
	if start >= end || end > c.Length() {
		return nil, nil, fmt.Errorf("get blocks [%d,%d): %w", start, end, ErrNotFound)
	}
	bf, ok := c.st.(BlockFiler)
	if !ok {
		return nil, nil, ErrNoBlockFile
	}
	f, sizes, err := bf.OpenBlocks(ctx, start, end, maxBytes)
	if err != nil {
		return nil, nil, fmt.Errorf("get blocks [%d,%d): %w", start, end, err)
	}
	return f, sizes, nil
}

// Node returns tree node index, which must exist at the head.
func (c *Core) Node(ctx context.Context, index uint64) (Node, error) {
	if index >= 1<<62 || flattree.RightSpan(index) >= 2*c.Length() {
		return Node{}, fmt.Errorf("node %d: %w", index, ErrNotFound)
	}
	return c.st.Node(ctx, index)
}

// TreeHashAt returns the tree hash and roots of the core at length, which
// must not exceed the head.
func (c *Core) TreeHashAt(ctx context.Context, length uint64) ([32]byte, []Node, error) {
	v, err := c.view(ctx, length, false)
	if err != nil {
		return [32]byte{}, nil, err
	}
	return TreeHash(v.roots), v.roots, nil
}

// SignAt returns a signature by priv over the tree at length (at most the
// head) and the fork it is made at, for sending blocks up to length to a
// replica. When length is the head and priv is the core's own writer key,
// it is the head's signature that Append made (no new signature, no read
// of the tree); otherwise the tree hash at length is signed anew.
func (c *Core) SignAt(ctx context.Context, priv ed25519.PrivateKey, length uint64) ([]byte, uint64, error) {
	c.mu.RLock()
	head := c.head
	c.mu.RUnlock()
	if length == head.Length && length > 0 && c.priv != nil && subtle.ConstantTimeCompare(priv, c.priv) == 1 {
		return bytes.Clone(head.Signature), head.Fork, nil
	}
	v, err := c.view(ctx, length, false)
	if err != nil {
		return nil, 0, err
	}
	th := TreeHash(v.roots)
	sig, err := SignTree(priv, c.signingManifest(), th[:], length, v.fork)
	if err != nil {
		return nil, 0, err
	}
	return sig, v.fork, nil
}

// view returns a proof-generation view of the tree at length.
// atHead instead of length means the head, whatever it is at the moment.
func (c *Core) view(ctx context.Context, length uint64, atHead bool) (*treeView, error) {
	c.mu.RLock()
	head, roots := c.head, c.roots
	c.mu.RUnlock()
	if atHead {
		length = head.Length
	}
	if length > head.Length {
		return nil, fmt.Errorf("%w: length %d beyond head %d", ErrBadRequest, length, head.Length)
	}
	node := func(index uint64) (Node, error) {
		if flattree.RightSpan(index) >= 2*length {
			return Node{}, fmt.Errorf("%w: node %d at length %d", ErrNotFound, index, length)
		}
		return c.st.Node(ctx, index)
	}
	v := &treeView{length: length, fork: head.Fork, node: node}
	if length == head.Length {
		v.byteLength, v.roots, v.signature = head.ByteLength, roots, head.Signature
		return v, nil
	}
	for _, idx := range flattree.FullRoots(nil, 2*length) {
		n, err := node(idx)
		if err != nil {
			return nil, err
		}
		v.roots = append(v.roots, n)
		v.byteLength += n.Size
	}
	return v, nil
}

// Proof makes the proof JS hypercore makes for req at the current head
// (an upgrade shorter than the head gets additional nodes up to the head,
// and the head's signature). Block values are read with Get.
func (c *Core) Proof(ctx context.Context, req ProofRequest) (*Proof, error) {
	v, err := c.view(ctx, 0, true)
	if err != nil {
		return nil, fmt.Errorf("proof: %w", err)
	}
	return c.proofFromView(ctx, v, req)
}

// ProofAt makes a proof against the tree at length (at most the head), as
// if the core had that length: no additional nodes, and no signature
// unless length is the head. This is what a hoster sends the chain, which
// trusts the tree hash at a committed length (VerifyProofAt).
func (c *Core) ProofAt(ctx context.Context, length uint64, req ProofRequest) (*Proof, error) {
	v, err := c.view(ctx, length, false)
	if err != nil {
		return nil, fmt.Errorf("proof: %w", err)
	}
	return c.proofFromView(ctx, v, req)
}

// BlockProof is the usual proof for serving block index to a reader that
// knows only the key: the block, its path, the roots of the head, the
// head's signature and the manifest.
func (c *Core) BlockProof(ctx context.Context, index uint64) (*Proof, error) {
	v, err := c.view(ctx, 0, true)
	if err != nil {
		return nil, fmt.Errorf("proof: %w", err)
	}
	return c.proofFromView(ctx, v, ProofRequest{
		Block:    &BlockRequest{Index: index},
		Upgrade:  &UpgradeRequest{Start: 0, Length: v.length},
		Manifest: true,
	})
}

// BlockProofAt is the proof a hoster answers a storage challenge with:
// block index in the tree at length (a length the chain committed, at most
// the head) with the upgrade from 0 to length, and no signature or
// manifest, which a verifier that trusts the tree hash does not need
// (they would only cost gas). VerifyBlockAt checks it.
func (c *Core) BlockProofAt(ctx context.Context, index, length uint64) (*Proof, error) {
	p, err := c.ProofAt(ctx, length, ProofRequest{Block: &BlockRequest{Index: index}, Upgrade: &UpgradeRequest{Length: length}})
	if err != nil {
		return nil, err
	}
	p.Upgrade.Signature = nil
	return p, nil
}

func (c *Core) proofFromView(ctx context.Context, v *treeView, req ProofRequest) (*Proof, error) {
	p, err := v.generateProof(req)
	if err != nil {
		return nil, fmt.Errorf("proof: %w", err)
	}
	if p.Block != nil {
		if p.Block.Value, err = c.Get(ctx, p.Block.Index); err != nil {
			return nil, fmt.Errorf("proof: %w", err)
		}
	}
	if req.Manifest {
		m, err := DecodeManifest(c.header.Manifest)
		if err != nil {
			return nil, fmt.Errorf("proof: %w", err)
		}
		p.Manifest = m
	}
	return p, nil
}

// Close closes the storage.
func (c *Core) Close() error { return c.st.Close() }
