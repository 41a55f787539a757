package flattree

import (
	"slices"
	"testing"
)

func TestBasics(t *testing.T) {
	cases := []struct{ index, depth, offset, parent, sibling uint64 }{
		{0, 0, 0, 1, 2}, {2, 0, 1, 1, 0}, {1, 1, 0, 3, 5}, {5, 1, 1, 3, 1},
		{3, 2, 0, 7, 11}, {11, 2, 1, 7, 3}, {7, 3, 0, 15, 23}, {12, 0, 6, 13, 14},
	}
	for _, c := range cases {
		if got := Depth(c.index); got != c.depth {
			t.Errorf("Depth(%d) = %d, want %d", c.index, got, c.depth)
		}
		if got := Offset(c.index); got != c.offset {
			t.Errorf("Offset(%d) = %d, want %d", c.index, got, c.offset)
		}
		if got := Parent(c.index); got != c.parent {
			t.Errorf("Parent(%d) = %d, want %d", c.index, got, c.parent)
		}
		if got := Sibling(c.index); got != c.sibling {
			t.Errorf("Sibling(%d) = %d, want %d", c.index, got, c.sibling)
		}
		if got := Index(c.depth, c.offset); got != c.index {
			t.Errorf("Index(%d,%d) = %d, want %d", c.depth, c.offset, got, c.index)
		}
	}
	if LeftSpan(7) != 0 || RightSpan(7) != 14 || LeftSpan(11) != 8 || RightSpan(11) != 14 {
		t.Error("spans of 7/11 wrong")
	}
	if l, ok := LeftChild(3); !ok || l != 1 {
		t.Error("LeftChild(3)")
	}
	if r, ok := RightChild(3); !ok || r != 5 {
		t.Error("RightChild(3)")
	}
	if _, ok := LeftChild(4); ok {
		t.Error("leaf has a child")
	}
}

func TestFullRoots(t *testing.T) {
	cases := map[uint64][]uint64{
		0: nil, 2: {0}, 4: {1}, 6: {1, 4}, 14: {3, 9, 12}, 16: {7}, 400: {127, 319, 391},
	}
	for head, want := range cases {
		got := FullRoots(nil, head)
		if !slices.Equal(got, want) {
			t.Errorf("FullRoots(%d) = %v, want %v", head, got, want)
		}
		if RootCount(head/2) != len(want) {
			t.Errorf("RootCount(%d) = %d", head/2, RootCount(head/2))
		}
	}
}

func TestIteratorMatchesFunctions(t *testing.T) {
	for i := uint64(0); i < 300; i++ {
		it := NewIterator(i)
		if it.Offset != Offset(i) || it.Factor != 2<<Depth(i) {
			t.Fatalf("seek %d: %+v", i, *it)
		}
		p := Parent(i)
		if got := NewIterator(i).Parent(); got != p {
			t.Fatalf("iterator parent %d = %d, want %d", i, got, p)
		}
		if got := NewIterator(i).Sibling(); got != Sibling(i) {
			t.Fatalf("iterator sibling %d = %d, want %d", i, got, Sibling(i))
		}
		for j := uint64(0); j < 300; j++ {
			if NewIterator(i).Contains(j) != Contains(i, j) {
				t.Fatalf("contains(%d,%d) disagree", i, j)
			}
		}
	}
	// FullRoot/NextTree enumerate the same roots as FullRoots.
	for head := uint64(2); head < 600; head += 2 {
		var got []uint64
		for it := NewIterator(0); it.FullRoot(head); it.NextTree() {
			got = append(got, it.Index)
		}
		if want := FullRoots(nil, head); !slices.Equal(got, want) {
			t.Fatalf("iterator roots(%d) = %v, want %v", head, got, want)
		}
	}
}
