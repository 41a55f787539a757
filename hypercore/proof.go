package hypercore

import (
	"errors"
	"fmt"
)

// ErrBadProof is wrapped by every proof decoding or verification failure.
var ErrBadProof = errors.New("hypercore: bad proof")

// MaxProofNodes bounds every node array of a decoded proof. A tree of 2^64
// blocks has depth 64, so honest proofs stay far below it.
const MaxProofNodes = 256

// Proof is one wire.data message: a block, hash or seek proof, optionally
// with an upgrade (the roots and signature of a newer length) and the
// core's manifest. Parts are nil when absent.
type Proof struct {
	Request  uint64
	Fork     uint64
	Block    *BlockProof
	Hash     *HashProof
	Seek     *SeekProof
	Upgrade  *UpgradeProof
	Manifest *Manifest
}

// BlockProof carries block Index with its Value and the sibling nodes from
// the block up to a node the verifier trusts (or a root of the upgrade).
type BlockProof struct {
	Index uint64
	Value []byte
	Nodes []Node
}

// HashProof is a BlockProof without the value: Nodes[0] is the node at
// Index itself, then its siblings upward.
type HashProof struct {
	Index uint64
	Nodes []Node
}

// SeekProof proves which block holds byte offset Bytes: Nodes[0] is the node
// found by the seek, then its siblings upward.
type SeekProof struct {
	Bytes uint64
	Nodes []Node
}

// UpgradeProof moves a verifier from length Start to Start+Length: Nodes are
// the roots (or the nodes needed to build them) that the block/hash/seek
// part does not provide, AdditionalNodes extend to a longer signed length,
// Signature is the writer's signature over the resulting tree hash.
type UpgradeProof struct {
	Start           uint64
	Length          uint64
	Nodes           []Node
	AdditionalNodes []Node
	Signature       []byte
}

func appendNode(b []byte, n Node) []byte {
	b = appendUint(b, n.Index)
	b = appendUint(b, n.Size)
	return append(b, n.Hash[:]...)
}

func appendNodes(b []byte, nodes []Node) []byte {
	b = appendUint(b, uint64(len(nodes)))
	for _, n := range nodes {
		b = appendNode(b, n)
	}
	return b
}

func decodeNodes(d *decoder) []Node {
	n := d.count(34)
	if n > MaxProofNodes {
		d.fail("%d nodes is more than %d", n, MaxProofNodes)
		return nil
	}
	nodes := make([]Node, 0, n)
	for i := 0; i < n && d.err == nil; i++ {
		nodes = append(nodes, Node{Index: d.uint(), Size: d.uint(), Hash: d.fixed32()})
	}
	return nodes
}

// Encode returns the wire.data compact encoding of p.
func (p *Proof) Encode() []byte { return p.AppendTo(nil) }

// AppendTo appends the wire.data encoding of p to b.
func (p *Proof) AppendTo(b []byte) []byte {
	var flags uint64
	if p.Block != nil {
		flags |= 1
	}
	if p.Hash != nil {
		flags |= 2
	}
	if p.Seek != nil {
		flags |= 4
	}
	if p.Upgrade != nil {
		flags |= 8
	}
	if p.Manifest != nil {
		flags |= 16
	}
	b = appendUint(b, flags)
	b = appendUint(b, p.Request)
	b = appendUint(b, p.Fork)
	if x := p.Block; x != nil {
		b = appendUint(b, x.Index)
		b = appendBuffer(b, x.Value)
		b = appendNodes(b, x.Nodes)
	}
	if x := p.Hash; x != nil {
		b = appendUint(b, x.Index)
		b = appendNodes(b, x.Nodes)
	}
	if x := p.Seek; x != nil {
		b = appendUint(b, x.Bytes)
		b = appendNodes(b, x.Nodes)
	}
	if x := p.Upgrade; x != nil {
		b = appendUint(b, x.Start)
		b = appendUint(b, x.Length)
		b = appendNodes(b, x.Nodes)
		b = appendNodes(b, x.AdditionalNodes)
		b = appendBuffer(b, x.Signature)
	}
	if p.Manifest != nil {
		b = p.Manifest.appendTo(b)
	}
	return b
}

// DecodeProof decodes a wire.data message. The block value and signature
// alias b. Trailing bytes, unknown flags and node arrays longer than
// MaxProofNodes are errors.
func DecodeProof(b []byte) (*Proof, error) {
	d := &decoder{b: b}
	p := decodeProof(d)
	if err := d.end(); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrBadProof, err)
	}
	if p.Manifest != nil {
		if err := p.Manifest.validate(); err != nil {
			return nil, fmt.Errorf("%w: %w", ErrBadProof, err)
		}
	}
	return p, nil
}

func decodeProof(d *decoder) *Proof {
	flags := d.uint()
	p := &Proof{Request: d.uint(), Fork: d.uint()}
	if flags&^31 != 0 {
		d.fail("unknown flags %#x", flags)
	}
	if flags&1 != 0 {
		p.Block = &BlockProof{Index: d.uint(), Value: d.buffer(), Nodes: decodeNodes(d)}
		if p.Block.Value == nil {
			p.Block.Value = []byte{}
		}
	}
	if flags&2 != 0 {
		p.Hash = &HashProof{Index: d.uint(), Nodes: decodeNodes(d)}
	}
	if flags&4 != 0 {
		p.Seek = &SeekProof{Bytes: d.uint(), Nodes: decodeNodes(d)}
	}
	if flags&8 != 0 {
		u := &UpgradeProof{Start: d.uint(), Length: d.uint()}
		u.Nodes = decodeNodes(d)
		u.AdditionalNodes = decodeNodes(d)
		if s := d.buffer(); len(s) > 0 {
			u.Signature = s
		}
		p.Upgrade = u
	}
	if flags&16 != 0 && d.err == nil {
		p.Manifest = decodeManifest(d)
	}
	return p
}
