// Package bufpool keeps byte buffers for reuse, by size class (powers of
// two), so that a server or client handling many answers of similar size
// does not allocate (and zero, and collect) a fresh buffer for each.
package bufpool

import (
	"math/bits"
	"sync"
)

const (
	minClass = 12 // 4 KiB
	maxClass = 26 // 64 MiB: larger buffers are not kept
)

// Pool keeps buffers of 4 KiB to 64 MiB. The zero value is ready for
// use; a Pool must not be copied after first use.
type Pool struct {
	classes [maxClass + 1]sync.Pool
}

// Get returns a buffer of n bytes (cap a power of two, unless n is over
// 64 MiB). Its contents are not zeroed.
func (p *Pool) Get(n int) *[]byte {
	c := class(n)
	if c > maxClass {
		b := make([]byte, n)
		return &b
	}
	if b, ok := p.classes[c].Get().(*[]byte); ok {
		*b = (*b)[:n]
		return b
	}
	b := make([]byte, n, 1<<c)
	return &b
}

// Put keeps b for a later Get. b must not be used afterwards. Buffers not
// from Get (cap not a power of two in range) are dropped.
func (p *Pool) Put(b *[]byte) {
	if b == nil {
		return
	}
	c := class(cap(*b))
	if c > maxClass || cap(*b) != 1<<c {
		return
	}
	p.classes[c].Put(b)
}

func class(n int) int {
	if n <= 1<<minClass {
		return minClass
	}
	return bits.Len(uint(n - 1))
}
