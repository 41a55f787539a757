package crypt

import (
	"container/list"
	"sync"
)

// Cache keeps decrypted segments of recently written or read blobs in
// memory, least recently used dropped first, so that a GET of a hot
// object is a memory copy: no read from the inner store, no decryption.
//
// It holds plaintext, in this process's memory only: never on disk, never
// sent anywhere (the gateway sees the plaintext of every object it serves
// anyway). A segment is cached only after it passed authentication (read)
// or as it was sealed (write), and only once its blob is committed. Blobs
// are immutable and their ids unique, and an entry is also bound to the
// blob's wrapped key, so an entry can never answer for other bytes;
// Blobs.Delete drops a deleted blob's segments at once.
//
// Blobs larger than a quarter of the cache are not cached (one big upload
// or download would push out everything else). A nil *Cache caches
// nothing.
type Cache struct {
	mu    sync.Mutex
	max   int64
	used  int64
	ll    *list.List
	items map[segKey]*list.Element
}

type segKey struct {
	id  string
	seg int64
}

type segEntry struct {
	key     segKey
	wrapped string // the blob's wrapped key: which encryption this is the plaintext of
	plain   []byte
}

// NewCache returns a cache of at most max bytes of plaintext; nil (no
// cache) if max is less than one segment.
func NewCache(max int64) *Cache {
	if max < Segment {
		return nil
	}
	return &Cache{max: max, ll: list.New(), items: map[segKey]*list.Element{}}
}

// wants reports whether segments of a blob of size plaintext bytes are
// cached.
func (c *Cache) wants(size int64) bool {
	return c != nil && size <= c.max/4
}

// get returns segment seg of blob id sealed under wrapped, or nil. The
// slice must not be modified.
func (c *Cache) get(id, wrapped string, seg int64) []byte {
	if c == nil {
		return nil
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	e := c.items[segKey{id, seg}]
	if e == nil {
		return nil
	}
	se := e.Value.(*segEntry)
	if se.wrapped != wrapped {
		return nil
	}
	c.ll.MoveToFront(e)
	return se.plain
}

// put stores segment seg of blob id; plain must not be modified
// afterwards.
func (c *Cache) put(id, wrapped string, seg int64, plain []byte) {
	if c == nil {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	k := segKey{id, seg}
	if e := c.items[k]; e != nil {
		se := e.Value.(*segEntry)
		c.used += int64(len(plain)) - int64(len(se.plain))
		se.wrapped, se.plain = wrapped, plain
		c.ll.MoveToFront(e)
	} else {
		c.items[k] = c.ll.PushFront(&segEntry{key: k, wrapped: wrapped, plain: plain})
		c.used += int64(len(plain))
	}
	for c.used > c.max {
		c.removeLocked(c.ll.Back())
	}
}

func (c *Cache) removeLocked(e *list.Element) {
	se := e.Value.(*segEntry)
	c.ll.Remove(e)
	delete(c.items, se.key)
	c.used -= int64(len(se.plain))
}

// drop removes the segments [0, segs) of blob id.
func (c *Cache) drop(id string, segs int64) {
	if c == nil {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if int64(len(c.items)) < segs {
		// Fewer entries than segments: walk the entries instead.
		for k, e := range c.items {
			if k.id == id {
				c.removeLocked(e)
			}
		}
		return
	}
	for s := range segs {
		if e := c.items[segKey{id, s}]; e != nil {
			c.removeLocked(e)
		}
	}
}

// Size returns the bytes of plaintext held.
func (c *Cache) Size() int64 {
	if c == nil {
		return 0
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.used
}
