// Package bufpool keeps byte buffers for reuse, by size class, so that a
// server or client handling many answers of similar size does not allocate
// (and zero, and collect) a fresh buffer for each.
//
// Classes are 4 KiB and, above it, four per doubling: 2^e·1, ·1.25, ·1.5,
// ·1.75. A buffer is at most a quarter larger than asked (powers of two
// alone would double an answer of 1 MiB and a few bytes, and zero twice
// the memory on every miss).
package bufpool

import (
	"math/bits"
	"sync"
)

const (
	minShift = 12 // 4 KiB: the smallest class
	maxShift = 26 // 64 MiB: larger buffers are not kept
	steps    = 4  // classes per doubling above 4 KiB
	nclass   = (maxShift-minShift)*steps + 1
)

// Pool keeps buffers of 4 KiB to 64 MiB. The zero value is ready for
// use; a Pool must not be copied after first use.
type Pool struct {
	classes [nclass]sync.Pool
}

// Get returns a buffer of n bytes (its capacity that of n's class, unless
// n is over 64 MiB). Its contents are not zeroed.
func (p *Pool) Get(n int) *[]byte {
	if n > 1<<maxShift {
		b := make([]byte, n)
		return &b
	}
	c := class(n)
	if b, ok := p.classes[c].Get().(*[]byte); ok {
		*b = (*b)[:n]
		return b
	}
	b := make([]byte, n, classSize(c))
	return &b
}

// Put keeps b for a later Get. b must not be used afterwards. Buffers not
// from Get (a capacity that is no class's size) are dropped.
func (p *Pool) Put(b *[]byte) {
	if b == nil {
		return
	}
	n := cap(*b)
	if n > 1<<maxShift {
		return
	}
	c := class(n)
	if classSize(c) != n {
		return
	}
	p.classes[c].Put(b)
}

// class is the smallest class that holds n bytes (n ≤ 64 MiB).
func class(n int) int {
	if n <= 1<<minShift {
		return 0
	}
	e := bits.Len(uint(n-1)) - 1 // 2^e < n ≤ 2^(e+1)
	step := 1 << (e - 2)
	i := (n - 1<<e + step - 1) / step // 1..steps
	return (e-minShift)*steps + i
}

// classSize is the capacity of class c's buffers.
func classSize(c int) int {
	if c == 0 {
		return 1 << minShift
	}
	e := minShift + (c-1)/steps
	i := (c-1)%steps + 1
	return 1<<e + i<<(e-2)
}
