package hypercore

import (
	"bytes"
	"errors"
	"fmt"

	"github.com/datdot/datdot/hypercore/flattree"
)

// ErrBadRequest is wrapped when a proof cannot be made for a request.
var ErrBadRequest = errors.New("hypercore: bad proof request")

// MaxLength is the largest core length the verifiers accept; it keeps all
// index arithmetic far from overflow (2^56 blocks is more than any disk).
const MaxLength = 1 << 56

// Verified is what a proof established.
type Verified struct {
	// Length, Fork, Roots, TreeHash and ByteLength describe the tree the
	// proof was checked against (after its upgrade, if any).
	Length     uint64
	Fork       uint64
	Roots      []Node
	TreeHash   [32]byte
	ByteLength uint64
	// Signature is the upgrade's signature (nil without an upgrade).
	Signature []byte
	// Manifest is the encoded manifest the signature was checked with
	// (key-only verifiers; nil for a compat core or when not checked).
	Manifest []byte
	// Block is the proven block (nil if the proof has none); its Value is
	// authentic.
	Block *BlockProof
	// Nodes are all tree nodes the proof proved (leaf, parents, siblings),
	// for callers that keep a tree.
	Nodes []Node
}

// nodeQueue is JS NodeQueue: proof nodes consumed in order, plus one extra
// node (the root computed from the block/hash/seek part) that can stand in
// for the node at its index.
type nodeQueue struct {
	nodes    []Node
	i        int
	extra    *Node
	hasExtra bool
}

func (q *nodeQueue) len() int {
	n := len(q.nodes) - q.i
	if q.hasExtra {
		n++
	}
	return n
}

func (q *nodeQueue) shift(index uint64) (Node, error) {
	if q.hasExtra && q.extra.Index == index {
		q.hasExtra = false
		return *q.extra, nil
	}
	if q.i >= len(q.nodes) {
		return Node{}, fmt.Errorf("%w: expected node %d, got none", ErrBadProof, index)
	}
	n := q.nodes[q.i]
	q.i++
	if n.Index != index {
		return Node{}, fmt.Errorf("%w: expected node %d, got node %d", ErrBadProof, index, n.Index)
	}
	return n, nil
}

func checkNodes(nodes []Node) error {
	if len(nodes) > MaxProofNodes {
		return fmt.Errorf("%w: %d nodes is more than %d", ErrBadProof, len(nodes), MaxProofNodes)
	}
	for _, n := range nodes {
		if n.Index >= 2*MaxLength {
			return fmt.Errorf("%w: node index %d too large", ErrBadProof, n.Index)
		}
	}
	return nil
}

func (p *Proof) check() error {
	if p == nil {
		return fmt.Errorf("%w: nil proof", ErrBadProof)
	}
	if p.Block != nil {
		if p.Block.Index >= MaxLength {
			return fmt.Errorf("%w: block index %d too large", ErrBadProof, p.Block.Index)
		}
		if err := checkNodes(p.Block.Nodes); err != nil {
			return err
		}
	}
	if p.Hash != nil {
		if p.Hash.Index >= 2*MaxLength {
			return fmt.Errorf("%w: hash index %d too large", ErrBadProof, p.Hash.Index)
		}
		if err := checkNodes(p.Hash.Nodes); err != nil {
			return err
		}
	}
	if p.Seek != nil {
		if err := checkNodes(p.Seek.Nodes); err != nil {
			return err
		}
	}
	if u := p.Upgrade; u != nil {
		if u.Start >= MaxLength || u.Length >= MaxLength || u.Start+u.Length >= MaxLength {
			return fmt.Errorf("%w: upgrade %d+%d too large", ErrBadProof, u.Start, u.Length)
		}
		if err := checkNodes(u.Nodes); err != nil {
			return err
		}
		if err := checkNodes(u.AdditionalNodes); err != nil {
			return err
		}
	}
	return nil
}

// verifyTree folds the block, hash and seek parts into the node they prove
// (JS verifyTree); ok is false when the proof has none of them.
func verifyTree(p *Proof, out *[]Node) (root Node, ok bool, err error) {
	var (
		index uint64
		value []byte
		nodes []Node
		has   bool
	)
	switch {
	case p.Block != nil:
		index, value, nodes, has = 2*p.Block.Index, p.Block.Value, p.Block.Nodes, true
		if value == nil {
			value = []byte{}
		}
	case p.Hash != nil:
		index, nodes, has = p.Hash.Index, p.Hash.Nodes, true
	}
	haveSeek := p.Seek != nil && len(p.Seek.Nodes) > 0
	if !has && !haveSeek {
		return Node{}, false, nil
	}
	var seekRoot *Node
	if haveSeek {
		it := flattree.NewIterator(p.Seek.Nodes[0].Index)
		q := &nodeQueue{nodes: p.Seek.Nodes}
		r, err := q.shift(it.Index)
		if err != nil {
			return Node{}, false, err
		}
		if r, err = foldUp(r, it, q, out); err != nil {
			return Node{}, false, err
		}
		if !has {
			return r, true, nil
		}
		seekRoot = &r
	}
	it := flattree.NewIterator(index)
	q := &nodeQueue{nodes: nodes, extra: seekRoot, hasExtra: seekRoot != nil}
	var r Node
	if value != nil {
		r = LeafNode(index/2, value)
	} else {
		if r, err = q.shift(it.Index); err != nil {
			return Node{}, false, err
		}
	}
	if r, err = foldUp(r, it, q, out); err != nil {
		return Node{}, false, err
	}
	return r, true, nil
}

// foldUp hashes r, the node at it, with each sibling from q in turn up to
// the node the last one reaches, appending every node seen to out.
func foldUp(r Node, it *flattree.Iterator, q *nodeQueue, out *[]Node) (Node, error) {
	*out = append(*out, r)
	for q.len() > 0 {
		n, err := q.shift(it.Sibling())
		if err != nil {
			return Node{}, err
		}
		r = ParentNode(it.Parent(), r, n)
		*out = append(*out, n, r)
	}
	return r, nil
}

// growing is the tree being built by verifyUpgrade (JS MerkleTreeBatch).
type growing struct {
	length     uint64
	byteLength uint64
	roots      []Node
	out        *[]Node
}

func (g *growing) appendRoot(n Node, it *flattree.Iterator) {
	g.length += it.Factor / 2
	g.byteLength += n.Size
	g.roots = append(g.roots, n)
	*g.out = append(*g.out, n)
	for len(g.roots) > 1 {
		a, b := g.roots[len(g.roots)-1], g.roots[len(g.roots)-2]
		if it.Sibling() != b.Index {
			it.Sibling()
			break
		}
		parent := ParentNode(it.Parent(), a, b)
		*g.out = append(*g.out, parent)
		g.roots = append(g.roots[:len(g.roots)-2], parent)
	}
}

// verifyUpgrade applies the upgrade part on top of g (JS verifyUpgrade).
// It reports whether the root from verifyTree was used as part of the new
// tree.
func verifyUpgrade(u *UpgradeProof, blockRoot Node, hasBlockRoot bool, g *growing, prologue *Prologue) (bool, error) {
	if prologue != nil && u.Start < prologue.Length && (u.Start != 0 || u.Length < prologue.Length) {
		return false, fmt.Errorf("%w: upgrade does not satisfy the prologue", ErrBadProof)
	}
	q := &nodeQueue{nodes: u.Nodes, extra: &blockRoot, hasExtra: hasBlockRoot}
	grow := len(g.roots) > 0
	i := 0
	to := 2 * (u.Start + u.Length)
	it := flattree.NewIterator(0)
	for ; it.FullRoot(to); it.NextTree() {
		if i < len(g.roots) && g.roots[i].Index == it.Index {
			i++
			continue
		}
		if grow {
			grow = false
			root := it.Index
			if i < len(g.roots) {
				it.Seek(g.roots[len(g.roots)-1].Index)
				for cnt := 0; it.Index != root; cnt++ {
					if cnt >= maxWalk {
						return false, fmt.Errorf("%w: cannot grow tree", ErrBadProof)
					}
					n, err := q.shift(it.Sibling())
					if err != nil {
						return false, err
					}
					g.appendRoot(n, it)
				}
				continue
			}
		}
		n, err := q.shift(it.Index)
		if err != nil {
			return false, err
		}
		g.appendRoot(n, it)
	}
	if len(g.roots) == 0 {
		return false, fmt.Errorf("%w: upgrade to an empty tree", ErrBadProof)
	}
	if prologue != nil && g.length == prologue.Length && TreeHash(g.roots) != prologue.Hash {
		return false, fmt.Errorf("%w: tree does not match the prologue", ErrBadProof)
	}
	extra := u.AdditionalNodes
	it.Seek(g.roots[len(g.roots)-1].Index)
	i = 0
	for i < len(extra) && extra[i].Index == it.Sibling() {
		g.appendRoot(extra[i], it)
		i++
	}
	for i < len(extra) {
		n := extra[i]
		i++
		for cnt := 0; n.Index != it.Index; cnt++ {
			if it.Factor == 2 || cnt >= maxWalk {
				return false, fmt.Errorf("%w: unexpected additional node %d", ErrBadProof, n.Index)
			}
			it.LeftChild()
		}
		g.appendRoot(n, it)
		it.Sibling()
	}
	if q.i != len(q.nodes) {
		return false, fmt.Errorf("%w: %d unused upgrade nodes", ErrBadProof, len(q.nodes)-q.i)
	}
	if g.length >= MaxLength {
		return false, fmt.Errorf("%w: length %d too large", ErrBadProof, g.length)
	}
	// The roots must be exactly the full roots of the resulting length.
	want := flattree.FullRoots(make([]uint64, 0, 64), 2*g.length)
	if len(want) != len(g.roots) {
		return false, fmt.Errorf("%w: %d roots for length %d", ErrBadProof, len(g.roots), g.length)
	}
	for i, r := range g.roots {
		if r.Index != want[i] {
			return false, fmt.Errorf("%w: root %d at length %d", ErrBadProof, r.Index, g.length)
		}
	}
	return !q.hasExtra, nil
}

// verifyFromScratch checks the tree part of a proof whose upgrade starts
// at 0, so that the proof alone determines every root.
func verifyFromScratch(p *Proof, prologue *Prologue) (*Verified, error) {
	if err := p.check(); err != nil {
		return nil, err
	}
	u := p.Upgrade
	if u == nil {
		return nil, fmt.Errorf("%w: no upgrade, the proof does not reach a root", ErrBadProof)
	}
	if u.Start != 0 {
		return nil, fmt.Errorf("%w: upgrade starts at %d, a verifier without a tree needs 0", ErrBadProof, u.Start)
	}
	v := &Verified{Fork: p.Fork, Signature: u.Signature, Block: p.Block}
	root, ok, err := verifyTree(p, &v.Nodes)
	if err != nil {
		return nil, err
	}
	g := &growing{out: &v.Nodes}
	used, err := verifyUpgrade(u, root, ok, g, prologue)
	if err != nil {
		return nil, err
	}
	if ok && !used {
		return nil, fmt.Errorf("%w: proven node %d is not part of the tree", ErrBadProof, root.Index)
	}
	v.Length, v.ByteLength, v.Roots = g.length, g.byteLength, g.roots
	v.TreeHash = TreeHash(g.roots)
	return v, nil
}

// VerifyProofAt checks p against a tree the caller already trusts: the
// tree of the core at length with treeHash (what the chain stores). p must
// carry an upgrade from 0 to exactly length (no additional nodes); its
// signature is not needed and not checked. On success the block in p (if
// any) is authentic, but which block it is is p's choice: compare
// Block.Index, or use VerifyBlockAt. Fork and Signature of the result are
// copied from p unchecked (the tree hash does not cover them).
//
// The function is pure, deterministic and bounded: at most MaxProofNodes
// nodes per array, 64 tree levels, one leaf hash over the block value, no
// goroutines and no allocation beyond the result.
func VerifyProofAt(p *Proof, length uint64, treeHash [32]byte) (*Verified, error) {
	if p != nil && p.Upgrade != nil {
		if p.Upgrade.Length != length || len(p.Upgrade.AdditionalNodes) != 0 {
			return nil, fmt.Errorf("%w: upgrade to %d+%d with %d additional nodes, trusted length is %d",
				ErrBadProof, p.Upgrade.Start, p.Upgrade.Length, len(p.Upgrade.AdditionalNodes), length)
		}
	}
	v, err := verifyFromScratch(p, nil)
	if err != nil {
		return nil, err
	}
	if v.Length != length || v.TreeHash != treeHash {
		return nil, fmt.Errorf("%w: tree hash %x at length %d, trusted %x at %d", ErrBadProof, v.TreeHash, v.Length, treeHash, length)
	}
	return v, nil
}

// VerifyBlockAt is VerifyProofAt for a storage challenge of block index:
// p must be a block proof of exactly that block (no hash or seek part),
// with an upgrade from 0 to length, folding up to the trusted treeHash.
// A valid proof of any other block is refused, so the caller cannot
// forget to compare the index. It returns the authentic block value
// (aliasing p). Pure and bounded like VerifyProofAt: decoding and
// verifying cost one BLAKE2b pass over the value and a few small hashes
// per encoded node, so the work is linear in the proof's encoded size
// and gas per byte bounds it.
func VerifyBlockAt(p *Proof, index, length uint64, treeHash [32]byte) ([]byte, error) {
	switch {
	case p == nil || p.Block == nil:
		return nil, fmt.Errorf("%w: no block in the proof, want block %d", ErrBadProof, index)
	case p.Block.Index != index:
		return nil, fmt.Errorf("%w: proof of block %d, want block %d", ErrBadProof, p.Block.Index, index)
	case index >= length:
		return nil, fmt.Errorf("%w: block %d is beyond length %d", ErrBadProof, index, length)
	case p.Hash != nil || p.Seek != nil:
		return nil, fmt.Errorf("%w: a block challenge proof has no hash or seek part", ErrBadProof)
	}
	v, err := VerifyProofAt(p, length, treeHash)
	if err != nil {
		return nil, err
	}
	return v.Block.Value, nil
}

// VerifyProof checks p with nothing but the core's key: the tree comes
// from the proof (its upgrade must start at 0) and the writer's signature
// over it is checked. The manifest is taken from manifest if non-empty,
// else from the proof; without either the core must be a compat core
// (key = ed25519 public key).
func VerifyProof(key []byte, manifest []byte, p *Proof) (*Verified, error) {
	if p == nil {
		return nil, fmt.Errorf("%w: nil proof", ErrBadProof)
	}
	m, compat, err := proofManifest(key, manifest, p)
	if err != nil {
		return nil, err
	}
	var prologue *Prologue
	if m != nil && !compat && m.Version >= 1 {
		prologue = m.Prologue
	}
	v, err := verifyFromScratch(p, prologue)
	if err != nil {
		return nil, err
	}
	if err := verifySigned(key, m, compat, v); err != nil {
		return nil, err
	}
	if !compat {
		v.Manifest = m.Encode()
	}
	return v, nil
}

func isCompatManifest(key []byte, m *Manifest) bool {
	return len(m.Signers) == 1 && bytes.Equal(m.Signers[0].PublicKey[:], key)
}

// VerifyProofKnown checks a proof without an upgrade (or whose upgrade the
// caller ignores) against nodes the caller already trusts: the node the
// block/hash/seek part folds up to must be returned, with the same size
// and hash, by known (for example a lookup in the roots of a verified
// tree, or in a local tree). It is pure and bounded like VerifyProofAt.
// The result's tree fields (Length, Roots, TreeHash, ByteLength,
// Signature) are zero: the caller holds the tree.
func VerifyProofKnown(p *Proof, known func(index uint64) (Node, bool)) (*Verified, error) {
	if err := p.check(); err != nil {
		return nil, err
	}
	v := &Verified{Fork: p.Fork, Block: p.Block}
	root, ok, err := verifyTree(p, &v.Nodes)
	if err != nil {
		return nil, err
	}
	if !ok {
		return nil, fmt.Errorf("%w: nothing to verify", ErrBadProof)
	}
	want, found := known(root.Index)
	if !found {
		return nil, fmt.Errorf("%w: proof ends at node %d, which is not trusted", ErrBadProof, root.Index)
	}
	if want != root {
		return nil, fmt.Errorf("%w: node %d does not match the trusted one", ErrBadProof, root.Index)
	}
	return v, nil
}

// RootsLookup returns a lookup for VerifyProofKnown over trusted roots.
func RootsLookup(roots []Node) func(uint64) (Node, bool) {
	return func(index uint64) (Node, bool) {
		for _, r := range roots {
			if r.Index == index {
				return r, true
			}
		}
		return Node{}, false
	}
}

// VerifyProofFrom checks p for a reader that already holds trusted, a
// tree it verified before (from VerifyProof or an earlier
// VerifyProofFrom), and knows the core's key (and manifest, or nil to use
// the one in p, or none for a compat core). Without an upgrade, p must
// fold up to one of trusted's roots. With one, the upgrade must start at
// trusted.Length; the new roots are grown from the trusted ones and the
// writer's signature over the new tree is checked. The result describes
// the tree after the proof. Pure and bounded like VerifyProof.
func VerifyProofFrom(key, manifest []byte, trusted *Verified, p *Proof) (*Verified, error) {
	if trusted == nil {
		return VerifyProof(key, manifest, p)
	}
	if len(manifest) == 0 && (p == nil || p.Manifest == nil) {
		manifest = trusted.Manifest
	}
	if err := p.check(); err != nil {
		return nil, err
	}
	if p.Upgrade == nil {
		v, err := VerifyProofKnown(p, RootsLookup(trusted.Roots))
		if err != nil {
			return nil, err
		}
		v.Length, v.Roots, v.TreeHash, v.ByteLength = trusted.Length, trusted.Roots, trusted.TreeHash, trusted.ByteLength
		v.Fork, v.Signature, v.Manifest = trusted.Fork, trusted.Signature, trusted.Manifest
		return v, nil
	}
	if p.Upgrade.Start != trusted.Length {
		return nil, fmt.Errorf("%w: upgrade starts at %d, trusted tree has length %d", ErrBadProof, p.Upgrade.Start, trusted.Length)
	}
	if trusted.Length == 0 {
		return VerifyProof(key, manifest, p)
	}
	m, compat, err := proofManifest(key, manifest, p)
	if err != nil {
		return nil, err
	}
	v := &Verified{Fork: p.Fork, Signature: p.Upgrade.Signature, Block: p.Block}
	root, ok, err := verifyTree(p, &v.Nodes)
	if err != nil {
		return nil, err
	}
	g := &growing{length: trusted.Length, byteLength: trusted.ByteLength, roots: append([]Node(nil), trusted.Roots...), out: &v.Nodes}
	var prologue *Prologue
	if m != nil && !compat && m.Version >= 1 {
		prologue = m.Prologue
	}
	used, err := verifyUpgrade(p.Upgrade, root, ok, g, prologue)
	if err != nil {
		return nil, err
	}
	if ok && !used {
		// The proven node lies in the part of the tree that was already
		// trusted: it must be one of the old roots.
		if r, found := RootsLookup(trusted.Roots)(root.Index); !found || r != root {
			return nil, fmt.Errorf("%w: proven node %d is not part of the trusted tree", ErrBadProof, root.Index)
		}
	}
	// verifyUpgrade checked that the roots are exactly the full roots of
	// the new length, so no trusted root was dropped without being hashed
	// into a new one; the signature below covers all of them.
	v.Length, v.ByteLength, v.Roots = g.length, g.byteLength, g.roots
	v.TreeHash = TreeHash(g.roots)
	if err := verifySigned(key, m, compat, v); err != nil {
		return nil, err
	}
	if !compat {
		v.Manifest = m.Encode()
	}
	return v, nil
}

// proofManifest resolves the manifest a key-only verifier uses (see
// VerifyProof); compat reports a compat core.
func proofManifest(key, manifest []byte, p *Proof) (*Manifest, bool, error) {
	if len(key) != 32 {
		return nil, false, fmt.Errorf("%w: key is %d bytes, want 32", ErrBadKey, len(key))
	}
	switch {
	case len(manifest) > 0:
		m, err := DecodeManifest(manifest)
		if err != nil {
			return nil, false, err
		}
		if mk := ManifestKey(manifest); !bytes.Equal(mk[:], key) {
			if !isCompatManifest(key, m) {
				return nil, false, fmt.Errorf("%w: key %x, manifest hashes to %x", ErrKeyMismatch, key, mk)
			}
			return m, true, nil
		}
		return m, false, nil
	case p != nil && p.Manifest != nil:
		m := p.Manifest
		if mk := m.Key(); !bytes.Equal(mk[:], key) {
			if !isCompatManifest(key, m) {
				return nil, false, fmt.Errorf("%w: key %x, proof's manifest hashes to %x", ErrKeyMismatch, key, mk)
			}
			return m, true, nil
		}
		return m, false, nil
	default:
		return nil, true, nil
	}
}

func verifySigned(key []byte, m *Manifest, compat bool, v *Verified) error {
	var err error
	if compat {
		err = verifyEd25519(key, CompatSignable(v.TreeHash[:], v.Length, v.Fork), v.Signature)
	} else {
		err = m.VerifyTree([32]byte(key), v.TreeHash, v.Length, v.Fork, v.Signature)
	}
	if err != nil {
		return fmt.Errorf("%w: %w", ErrBadProof, err)
	}
	return nil
}
