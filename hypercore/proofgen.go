package hypercore

import (
	"fmt"

	"github.com/datdot/datdot/hypercore/flattree"
)

// ProofRequest says what a proof must contain; it mirrors the request
// part of hypercore's wire.request. Nil parts are not requested.
type ProofRequest struct {
	Block    *BlockRequest
	Hash     *HashRequest
	Seek     *SeekRequest
	Upgrade  *UpgradeRequest
	Manifest bool // carry the core's manifest (for key-only verifiers)
}

// BlockRequest asks for block Index. Nodes is how many levels of its
// merkle path the requester is missing (0 with an upgrade from 0 gives the
// full path to a root, which is what a verifier without state needs).
type BlockRequest struct {
	Index uint64
	Nodes uint64
}

// HashRequest asks for tree node Index (2i for block i) without the data.
type HashRequest struct {
	Index uint64
	Nodes uint64
}

// SeekRequest asks which block holds byte offset Bytes; Padding is the
// per-block overhead to discount (0 for plain cores).
type SeekRequest struct {
	Bytes   uint64
	Padding uint64
}

// UpgradeRequest asks for the tree from length Start to Start+Length.
type UpgradeRequest struct {
	Start  uint64
	Length uint64
}

// treeView is a core's tree as proof generation sees it: all nodes below
// 2*length exist and can be read.
type treeView struct {
	length     uint64
	byteLength uint64
	fork       uint64
	roots      []Node
	signature  []byte
	node       func(index uint64) (Node, error)
}

// pendingProof collects nodes while a proof is built (JS TreeProof.pending).
type pendingProof struct {
	node, seek, upgrade, additional []Node
	hasNode, hasSeek, hasUpgrade    bool
	hasAdditional                   bool
}

// maxWalk bounds every tree walk (a tree has at most 64 levels).
const maxWalk = 1024

// generateProof builds the proof hypercore's MerkleTree.proof builds for the
// same request, node for node. Block values are filled in by the caller.
func (t *treeView) generateProof(req ProofRequest) (*Proof, error) {
	head := 2 * t.length
	var from, to uint64 = 0, head
	if u := req.Upgrade; u != nil {
		if u.Start > t.length || u.Length > t.length {
			return nil, fmt.Errorf("%w: upgrade %d+%d beyond length %d", ErrBadRequest, u.Start, u.Length, t.length)
		}
		from = 2 * u.Start
		to = from + 2*u.Length
	}
	type indexed struct {
		value     bool
		index     uint64
		nodes     uint64
		lastIndex uint64
	}
	var node *indexed
	if b := req.Block; b != nil {
		if b.Index >= t.length {
			return nil, fmt.Errorf("%w: block %d beyond length %d", ErrBadRequest, b.Index, t.length)
		}
		node = &indexed{value: true, index: 2 * b.Index, nodes: b.Nodes, lastIndex: b.Index}
	} else if h := req.Hash; h != nil {
		if flattree.RightSpan(h.Index) >= head || h.Index >= 1<<62 {
			return nil, fmt.Errorf("%w: node %d beyond length %d", ErrBadRequest, h.Index, t.length)
		}
		node = &indexed{index: h.Index, nodes: h.Nodes, lastIndex: flattree.RightSpan(h.Index) / 2}
	}
	p := &Proof{Fork: t.fork}
	if head == 0 {
		return p, nil
	}
	if from >= to || to > head {
		return nil, fmt.Errorf("%w: invalid upgrade", ErrBadRequest)
	}
	if req.Seek != nil && req.Upgrade != nil && node != nil && node.index >= from {
		return nil, fmt.Errorf("%w: cannot both seek and get a block when upgrading", ErrBadRequest)
	}
	pp := &pendingProof{}
	subTree := head
	var err error
	switch {
	case node != nil && (req.Upgrade == nil || node.lastIndex < req.Upgrade.Start):
		if subTree, err = nodesToRoot(node.index, node.nodes, to); err != nil {
			return nil, err
		}
		seekRoot := head
		if req.Seek != nil {
			if seekRoot, err = t.seekUntrustedTree(subTree, req.Seek.Bytes, req.Seek.Padding); err != nil {
				return nil, err
			}
		}
		if err := t.blockAndSeekProof(node != nil, node.value, node.index, req.Seek != nil, seekRoot, subTree, pp); err != nil {
			return nil, err
		}
	case (node != nil || req.Seek != nil) && req.Upgrade != nil:
		if req.Seek != nil {
			if subTree, err = t.seekFromHead(to, req.Seek.Bytes, req.Seek.Padding); err != nil {
				return nil, err
			}
		} else {
			subTree = node.index
		}
	}
	if req.Upgrade != nil {
		hasNode := node != nil
		var value bool
		var index uint64
		if hasNode {
			value, index = node.value, node.index
		}
		if err := t.upgradeProof(hasNode, value, index, req.Seek != nil, from, to, subTree, pp); err != nil {
			return nil, err
		}
		if head > to {
			if err := t.additionalUpgradeProof(to, head, pp); err != nil {
				return nil, err
			}
		}
	}

	if b := req.Block; b != nil {
		if !pp.hasNode {
			return nil, fmt.Errorf("%w: block %d is not covered by the upgrade", ErrBadRequest, b.Index)
		}
		p.Block = &BlockProof{Index: b.Index, Nodes: pp.node}
	} else if h := req.Hash; h != nil {
		if !pp.hasNode {
			return nil, fmt.Errorf("%w: node %d is not covered by the upgrade", ErrBadRequest, h.Index)
		}
		p.Hash = &HashProof{Index: h.Index, Nodes: pp.node}
	}
	if req.Seek != nil && pp.hasSeek {
		p.Seek = &SeekProof{Bytes: req.Seek.Bytes, Nodes: pp.seek}
	}
	if u := req.Upgrade; u != nil {
		p.Upgrade = &UpgradeProof{Start: u.Start, Length: u.Length, Nodes: pp.upgrade, AdditionalNodes: pp.additional, Signature: t.signature}
	}
	return p, nil
}

func nodesToRoot(index, nodes, head uint64) (uint64, error) {
	it := flattree.NewIterator(index)
	for i := uint64(0); i < nodes; i++ {
		it.Parent()
		if it.Contains(head) || i > 64 {
			return 0, fmt.Errorf("%w: nodes out of bounds", ErrBadRequest)
		}
	}
	return it.Index, nil
}

func (t *treeView) push(dst *[]Node, index uint64) error {
	n, err := t.node(index)
	if err != nil {
		return err
	}
	*dst = append(*dst, n)
	return nil
}

func (t *treeView) seekProof(seekRoot, root uint64, pp *pendingProof) error {
	it := flattree.NewIterator(seekRoot)
	pp.hasSeek = true
	pp.seek = []Node{}
	if err := t.push(&pp.seek, it.Index); err != nil {
		return err
	}
	for cnt := 0; it.Index != root; cnt++ {
		if cnt >= maxWalk {
			return fmt.Errorf("%w: bad seek proof %d to %d", ErrBadRequest, seekRoot, root)
		}
		it.Sibling()
		if err := t.push(&pp.seek, it.Index); err != nil {
			return err
		}
		it.Parent()
	}
	return nil
}

func (t *treeView) blockAndSeekProof(hasNode, value bool, index uint64, seek bool, seekRoot, root uint64, pp *pendingProof) error {
	if !hasNode {
		return t.seekProof(seekRoot, root, pp)
	}
	it := flattree.NewIterator(index)
	pp.hasNode = true
	pp.node = []Node{}
	if !value {
		if err := t.push(&pp.node, it.Index); err != nil {
			return err
		}
	}
	for cnt := 0; it.Index != root; cnt++ {
		if cnt >= maxWalk {
			return fmt.Errorf("%w: bad block proof %d to %d", ErrBadRequest, index, root)
		}
		it.Sibling()
		if seek && it.Contains(seekRoot) && it.Index != seekRoot {
			if err := t.seekProof(seekRoot, it.Index, pp); err != nil {
				return err
			}
		} else if err := t.push(&pp.node, it.Index); err != nil {
			return err
		}
		it.Parent()
	}
	return nil
}

func (t *treeView) upgradeProof(hasNode, value bool, index uint64, seek bool, from, to, subTree uint64, pp *pendingProof) error {
	if from == 0 {
		pp.hasUpgrade = true
		pp.upgrade = []Node{}
	}
	for it := flattree.NewIterator(0); it.FullRoot(to); it.NextTree() {
		if it.Index+it.Factor/2 < from {
			continue
		}
		if !pp.hasUpgrade && from >= 2 && it.Contains(from-2) {
			pp.hasUpgrade = true
			pp.upgrade = []Node{}
			root, target := it.Index, from-2
			it.Seek(target)
			for cnt := 0; it.Index != root; cnt++ {
				if cnt >= maxWalk {
					return fmt.Errorf("%w: bad upgrade proof", ErrBadRequest)
				}
				it.Sibling()
				if it.Index > target {
					if !pp.hasNode && !pp.hasSeek && it.Contains(subTree) {
						if err := t.blockAndSeekProof(hasNode, value, index, seek, subTree, it.Index, pp); err != nil {
							return err
						}
					} else if err := t.push(&pp.upgrade, it.Index); err != nil {
						return err
					}
				}
				it.Parent()
			}
			continue
		}
		if !pp.hasUpgrade {
			pp.hasUpgrade = true
			pp.upgrade = []Node{}
		}
		if !pp.hasNode && !pp.hasSeek && it.Contains(subTree) {
			if err := t.blockAndSeekProof(hasNode, value, index, seek, subTree, it.Index, pp); err != nil {
				return err
			}
			continue
		}
		if err := t.push(&pp.upgrade, it.Index); err != nil {
			return err
		}
	}
	return nil
}

func (t *treeView) additionalUpgradeProof(from, to uint64, pp *pendingProof) error {
	if from == 0 {
		pp.hasAdditional = true
		pp.additional = []Node{}
	}
	for it := flattree.NewIterator(0); it.FullRoot(to); it.NextTree() {
		if it.Index+it.Factor/2 < from {
			continue
		}
		if !pp.hasAdditional && from >= 2 && it.Contains(from-2) {
			pp.hasAdditional = true
			pp.additional = []Node{}
			root, target := it.Index, from-2
			it.Seek(target)
			for cnt := 0; it.Index != root; cnt++ {
				if cnt >= maxWalk {
					return fmt.Errorf("%w: bad additional upgrade proof", ErrBadRequest)
				}
				it.Sibling()
				if it.Index > target {
					if err := t.push(&pp.additional, it.Index); err != nil {
						return err
					}
				}
				it.Parent()
			}
			continue
		}
		if !pp.hasAdditional {
			pp.hasAdditional = true
			pp.additional = []Node{}
		}
		if err := t.push(&pp.additional, it.Index); err != nil {
			return err
		}
	}
	return nil
}

func unpaddedSize(n Node, padding uint64) uint64 {
	if padding == 0 {
		return n.Size
	}
	return n.Size - padding*flattree.CountLeaves(n.Index)
}

// seekFromHead finds the node holding byte offset bytes in the tree of
// length head/2 (JS seekFromHead).
func (t *treeView) seekFromHead(head, bytes, padding uint64) (uint64, error) {
	for _, root := range flattree.FullRoots(nil, head) {
		n, err := t.node(root)
		if err != nil {
			return 0, err
		}
		size := unpaddedSize(n, padding)
		if bytes == size {
			return root, nil
		}
		if bytes > size {
			bytes -= size
			continue
		}
		return t.seekTrustedTree(root, bytes, padding)
	}
	return head, nil
}

func (t *treeView) seekTrustedTree(root, bytes, padding uint64) (uint64, error) {
	if bytes == 0 {
		return root, nil
	}
	it := flattree.NewIterator(root)
	for cnt := 0; it.Index&1 != 0; cnt++ {
		if cnt >= maxWalk {
			return 0, fmt.Errorf("%w: bad seek", ErrBadRequest)
		}
		l, err := t.node(it.LeftChild())
		if err != nil {
			return 0, err
		}
		size := unpaddedSize(l, padding)
		if size == bytes {
			return it.Index, nil
		}
		if size > bytes {
			continue
		}
		bytes -= size
		it.Sibling()
	}
	return it.Index, nil
}

func (t *treeView) seekUntrustedTree(root, bytes, padding uint64) (uint64, error) {
	offset, err := t.byteOffset(root)
	if err != nil {
		return 0, err
	}
	if padding != 0 {
		offset -= padding * flattree.LeftSpan(root) / 2
	}
	if offset > bytes {
		return 0, fmt.Errorf("%w: invalid seek", ErrBadRequest)
	}
	if offset == bytes {
		return root, nil
	}
	bytes -= offset
	n, err := t.node(root)
	if err != nil {
		return 0, err
	}
	if unpaddedSize(n, padding) <= bytes {
		return 0, fmt.Errorf("%w: invalid seek", ErrBadRequest)
	}
	return t.seekTrustedTree(root, bytes, padding)
}

// byteOffset returns the byte offset where the blocks under index start.
func (t *treeView) byteOffset(index uint64) (uint64, error) {
	if index == 2*t.length {
		return t.byteLength, nil
	}
	if index&1 == 1 {
		index = flattree.LeftSpan(index)
	}
	var head, offset uint64
	for _, r := range t.roots {
		head += 2 * (r.Index - head + 1)
		if index >= head {
			offset += r.Size
			continue
		}
		it := flattree.NewIterator(r.Index)
		for cnt := 0; it.Index != index; cnt++ {
			if cnt >= maxWalk {
				return 0, fmt.Errorf("%w: bad byte offset for %d", ErrBadRequest, index)
			}
			if index < it.Index {
				it.LeftChild()
			} else {
				l, err := t.node(it.LeftChild())
				if err != nil {
					return 0, err
				}
				offset += l.Size
				it.Sibling()
			}
		}
		return offset, nil
	}
	return 0, fmt.Errorf("%w: no byte offset for node %d", ErrBadRequest, index)
}
