package bufpool

import "testing"

func TestGetPut(t *testing.T) {
	var p Pool
	for _, n := range []int{0, 1, 4096, 4097, 65536, 1<<20 + 3} {
		b := p.Get(n)
		if len(*b) != n {
			t.Fatalf("Get(%d): len %d", n, len(*b))
		}
		c := cap(*b)
		if c < n || c&(c-1) != 0 || c < 4096 {
			t.Fatalf("Get(%d): cap %d, want a power of two ≥ max(n, 4096)", n, c)
		}
		p.Put(b)
	}
	big := p.Get(64<<20 + 1)
	if len(*big) != 64<<20+1 {
		t.Fatalf("large Get: len %d", len(*big))
	}
	p.Put(big) // dropped, not kept
	odd := make([]byte, 5000)
	p.Put(&odd) // not from Get: dropped
	p.Put(nil)
	// A kept buffer comes back with the asked length.
	b := p.Get(3000)
	(*b)[0] = 7
	p.Put(b)
	if b2 := p.Get(100); len(*b2) != 100 {
		t.Fatalf("reused buffer: len %d", len(*b2))
	}
}
