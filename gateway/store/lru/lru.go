// Package lru is a map that keeps its most recently used entries within a
// bound on the bytes their values hold: the gateway's in-memory caches
// (the network store's data blocks, crypt's decrypted segments).
package lru

import (
	"container/list"
	"sync"
)

// Cache maps keys to values, dropping the least recently used entries
// while the values' sizes add up to more than its bound. It is safe for
// concurrent use.
type Cache[K comparable, V any] struct {
	mu    sync.Mutex
	max   int64
	used  int64
	size  func(V) int64
	ll    *list.List
	items map[K]*list.Element
}

type entry[K comparable, V any] struct {
	key K
	val V
}

// New returns a cache of values whose sizes (size) add up to at most max.
func New[K comparable, V any](max int64, size func(V) int64) *Cache[K, V] {
	return &Cache[K, V]{max: max, size: size, ll: list.New(), items: map[K]*list.Element{}}
}

// Get returns the value of k and marks it used.
func (c *Cache[K, V]) Get(k K) (V, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if e := c.items[k]; e != nil {
		c.ll.MoveToFront(e)
		return e.Value.(*entry[K, V]).val, true
	}
	var zero V
	return zero, false
}

// Put sets the value of k, marks it used, and drops the least recently
// used entries beyond the bound.
func (c *Cache[K, V]) Put(k K, v V) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if e := c.items[k]; e != nil {
		en := e.Value.(*entry[K, V])
		c.used += c.size(v) - c.size(en.val)
		en.val = v
		c.ll.MoveToFront(e)
	} else {
		c.items[k] = c.ll.PushFront(&entry[K, V]{key: k, val: v})
		c.used += c.size(v)
	}
	for c.used > c.max {
		c.removeLocked(c.ll.Back())
	}
}

// Remove drops k.
func (c *Cache[K, V]) Remove(k K) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if e := c.items[k]; e != nil {
		c.removeLocked(e)
	}
}

// RemoveIf drops every entry whose key matches.
func (c *Cache[K, V]) RemoveIf(match func(K) bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for k, e := range c.items {
		if match(k) {
			c.removeLocked(e)
		}
	}
}

func (c *Cache[K, V]) removeLocked(e *list.Element) {
	en := e.Value.(*entry[K, V])
	c.ll.Remove(e)
	delete(c.items, en.key)
	c.used -= c.size(en.val)
}

// Len is the number of entries.
func (c *Cache[K, V]) Len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.items)
}

// Size is the sum of the values' sizes.
func (c *Cache[K, V]) Size() int64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.used
}
