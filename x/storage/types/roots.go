package types

import (
	"bytes"

	errorsmod "cosmossdk.io/errors"

	"github.com/datdot/datdot/hypercore"
	"github.com/datdot/datdot/hypercore/flattree"
)

// RootsFromNodes converts a Hypercore tree's roots (hypercore.Core.Roots or
// TreeHashAt) to the form a Core carries.
func RootsFromNodes(nodes []hypercore.Node) []MerkleRoot {
	out := make([]MerkleRoot, len(nodes))
	for i, n := range nodes {
		out[i] = MerkleRoot{Index: n.Index, SizeBytes: n.Size, Hash: bytes.Clone(n.Hash[:])}
	}
	return out
}

// DeriveByteLength checks a core's roots against its length and signed tree
// hash and returns the byte length they prove: the sum of the roots' sizes.
// The roots must be exactly the full roots of a tree of c.Length blocks, in
// order, each with a 32-byte hash, and TreeHash(roots) must equal
// c.TreeHash. Since the writer's signature covers the tree hash, the sizes
// (and so the byte length) are bound to that signature. It does not look at
// c.ByteLength or verify the signature.
func (c Core) DeriveByteLength() (uint64, error) {
	if len(c.Roots) == 0 {
		return 0, errorsmod.Wrap(ErrInvalidCore, "roots are missing: the chain derives byte_length from the merkle roots at length")
	}
	if want := flattree.RootCount(c.Length); len(c.Roots) != want {
		return 0, errorsmod.Wrapf(ErrInvalidCore, "a core of length %d has %d roots, got %d", c.Length, want, len(c.Roots))
	}
	idx := flattree.FullRoots(make([]uint64, 0, len(c.Roots)), 2*c.Length)
	nodes := make([]hypercore.Node, len(c.Roots))
	var total uint64
	for i, r := range c.Roots {
		if r.Index != idx[i] {
			return 0, errorsmod.Wrapf(ErrInvalidCore, "root %d has index %d, a core of length %d has %d there", i, r.Index, c.Length, idx[i])
		}
		if len(r.Hash) != KeySize {
			return 0, errorsmod.Wrapf(ErrInvalidCore, "root %d hash must be %d bytes, got %d", i, KeySize, len(r.Hash))
		}
		if total+r.SizeBytes < total {
			return 0, errorsmod.Wrap(ErrInvalidCore, "root sizes overflow")
		}
		total += r.SizeBytes
		nodes[i] = hypercore.Node{Index: r.Index, Size: r.SizeBytes}
		copy(nodes[i].Hash[:], r.Hash)
	}
	if th := hypercore.TreeHash(nodes); !bytes.Equal(th[:], c.TreeHash) {
		return 0, errorsmod.Wrapf(ErrInvalidCore, "roots hash to %X, not to the signed tree hash %X", th[:], c.TreeHash)
	}
	return total, nil
}

// WithDerivedByteLength returns c with byte_length derived from its roots:
// a zero byte_length is filled in, a declared one must match.
func (c Core) WithDerivedByteLength() (Core, error) {
	n, err := c.DeriveByteLength()
	if err != nil {
		return c, err
	}
	if c.ByteLength != 0 && c.ByteLength != n {
		return c, errorsmod.Wrapf(ErrInvalidCore, "declared byte_length %d differs from %d proven by the roots", c.ByteLength, n)
	}
	c.ByteLength = n
	return c, nil
}
