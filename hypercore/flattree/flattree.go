// Package flattree implements the flat in-order tree index math used by
// Hypercore (the same numbering as the JS flat-tree module): leaves sit at
// even indexes (block i is node 2i), parents at odd indexes, and the depth of
// a node is the number of trailing one bits of its index.
//
// All functions are pure and allocation free (except FullRoots, which appends
// to a caller slice) and work on uint64 indexes.
package flattree

import "math/bits"

// Depth returns the depth of node index (0 for leaves).
func Depth(index uint64) uint64 {
	return uint64(bits.TrailingZeros64(^index))
}

// Offset returns the position of index among the nodes of its depth.
func Offset(index uint64) uint64 {
	if index&1 == 0 {
		return index / 2
	}
	d := Depth(index)
	return ((index + 1) >> d) >> 1
}

// Index returns the node index at depth and offset.
func Index(depth, offset uint64) uint64 {
	return (1+2*offset)<<depth - 1
}

// Parent returns the parent of index.
func Parent(index uint64) uint64 {
	d := Depth(index)
	return Index(d+1, Offset(index)>>1)
}

// Sibling returns the other child of index's parent.
func Sibling(index uint64) uint64 {
	d := Depth(index)
	return Index(d, Offset(index)^1)
}

// LeftChild returns the left child of index, and false for a leaf.
func LeftChild(index uint64) (uint64, bool) {
	if index&1 == 0 {
		return 0, false
	}
	d := Depth(index)
	return Index(d-1, Offset(index)*2), true
}

// RightChild returns the right child of index, and false for a leaf.
func RightChild(index uint64) (uint64, bool) {
	if index&1 == 0 {
		return 0, false
	}
	d := Depth(index)
	return Index(d-1, Offset(index)*2+1), true
}

// LeftSpan returns the leftmost leaf under index.
func LeftSpan(index uint64) uint64 {
	if index&1 == 0 {
		return index
	}
	d := Depth(index)
	return Offset(index) << (d + 1)
}

// RightSpan returns the rightmost leaf under index.
func RightSpan(index uint64) uint64 {
	if index&1 == 0 {
		return index
	}
	d := Depth(index)
	return (Offset(index)+1)<<(d+1) - 2
}

// CountLeaves returns the number of leaves (blocks) under index.
func CountLeaves(index uint64) uint64 {
	return uint64(1) << Depth(index)
}

// Contains reports whether node is index itself or lies under it.
func Contains(index, node uint64) bool {
	return LeftSpan(index) <= node && node <= RightSpan(index)
}

// FullRoots appends to dst the roots of the tree whose leaves are the
// nodes below head (head must be even: a core of length L has head 2L),
// left to right, and returns the extended slice.
func FullRoots(dst []uint64, head uint64) []uint64 {
	n := head / 2
	var offset uint64
	for n > 0 {
		factor := uint64(1) << (63 - bits.LeadingZeros64(n))
		dst = append(dst, offset+factor-1)
		offset += 2 * factor
		n -= factor
	}
	return dst
}

// RootCount returns how many full roots a core of length blocks has.
func RootCount(length uint64) int {
	return bits.OnesCount64(length)
}

// Iterator walks the tree the way the JS flat-tree iterator does. Its zero
// value points at node 0.
type Iterator struct {
	Index  uint64
	Offset uint64
	Factor uint64 // 2 << depth
}

// NewIterator returns an iterator at index.
func NewIterator(index uint64) *Iterator {
	it := &Iterator{}
	it.Seek(index)
	return it
}

// Seek moves the iterator to index.
func (it *Iterator) Seek(index uint64) {
	it.Index = index
	if index&1 == 1 {
		it.Offset = Offset(index)
		it.Factor = 2 << Depth(index)
	} else {
		it.Offset = index / 2
		it.Factor = 2
	}
}

// IsLeft reports whether the current node is a left child.
func (it *Iterator) IsLeft() bool { return it.Offset&1 == 0 }

// Contains reports whether index is the current node or below it.
func (it *Iterator) Contains(index uint64) bool {
	half := it.Factor / 2
	switch {
	case index > it.Index:
		return index < it.Index+half
	case index < it.Index:
		return index+half > it.Index
	default:
		return true
	}
}

// Sibling moves to the sibling and returns its index.
func (it *Iterator) Sibling() uint64 {
	if it.IsLeft() {
		it.Offset++
		it.Index += it.Factor
	} else {
		if it.Offset == 0 {
			return it.Index
		}
		it.Offset--
		it.Index -= it.Factor
	}
	return it.Index
}

// Parent moves to the parent and returns its index.
func (it *Iterator) Parent() uint64 {
	if it.Offset&1 == 1 {
		it.Index -= it.Factor / 2
		it.Offset = (it.Offset - 1) / 2
	} else {
		it.Index += it.Factor / 2
		it.Offset /= 2
	}
	it.Factor *= 2
	return it.Index
}

// LeftChild moves to the left child (a leaf stays put) and returns its index.
func (it *Iterator) LeftChild() uint64 {
	if it.Factor == 2 {
		return it.Index
	}
	it.Factor /= 2
	it.Index -= it.Factor / 2
	it.Offset *= 2
	return it.Index
}

// RightSpan returns the rightmost leaf under the current node without moving.
func (it *Iterator) RightSpan() uint64 { return it.Index + it.Factor/2 - 1 }

// NextTree moves to the leaf right after the current subtree.
func (it *Iterator) NextTree() uint64 {
	it.Index = it.Index + it.Factor/2 + 1
	it.Offset = it.Index / 2
	it.Factor = 2
	return it.Index
}

// FullRoot grows the current leaf into the largest full tree that fits
// below head, and reports false when there is none (the iterator must be on
// a leaf below head).
func (it *Iterator) FullRoot(head uint64) bool {
	if head <= it.Index || it.Index&1 == 1 {
		return false
	}
	for head > it.Index+it.Factor+it.Factor/2 {
		it.Index += it.Factor / 2
		it.Factor *= 2
		it.Offset /= 2
	}
	return true
}
