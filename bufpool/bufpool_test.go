package bufpool

import "testing"

func TestGetPut(t *testing.T) {
	var p Pool
	for _, n := range []int{0, 1, 4096, 4097, 65536, 65573, 1<<20 + 3, 1<<20 + 112} {
		b := p.Get(n)
		if len(*b) != n {
			t.Fatalf("Get(%d): len %d", n, len(*b))
		}
		c := cap(*b)
		if c < n || c < 4096 || (n > 4096 && 4*c > 5*n+3*4096) {
			t.Fatalf("Get(%d): cap %d, want at least n and 4 KiB, at most a quarter more than n", n, c)
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

// TestClasses: classes grow strictly, each size is its own class, every
// size falls in the smallest class that holds it, and a 1 MiB answer with
// a header needs 1.25 MiB, not 2.
func TestClasses(t *testing.T) {
	prev := 0
	for c := range nclass {
		s := classSize(c)
		if s <= prev {
			t.Fatalf("class %d: size %d after %d", c, s, prev)
		}
		if class(s) != c {
			t.Fatalf("class(%d) = %d, want %d", s, class(s), c)
		}
		if c > 0 && class(s-1) != c && s-1 > prev {
			t.Fatalf("class(%d) = %d, want %d", s-1, class(s-1), c)
		}
		if c > 0 && class(prev+1) != c {
			t.Fatalf("class(%d) = %d, want %d", prev+1, class(prev+1), c)
		}
		prev = s
	}
	if prev != 1<<maxShift {
		t.Fatalf("largest class %d, want 64 MiB", prev)
	}
	if got := classSize(class(1<<20 + 112)); got != 5<<18 {
		t.Fatalf("1 MiB + 112: class of %d bytes, want 1.25 MiB", got)
	}
	// A buffer of another class's size is not taken for this one.
	var p Pool
	b := p.Get(10000) // 10 KiB class
	if cap(*b) != 10240 {
		t.Fatalf("Get(10000): cap %d", cap(*b))
	}
	p.Put(b)
	if c := p.Get(8192); cap(*c) != 8192 {
		t.Fatalf("Get(8192) after a 10 KiB buffer was put: cap %d", cap(*c))
	}
}
