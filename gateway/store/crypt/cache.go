package crypt

import "github.com/datdot/datdot/gateway/store/lru"

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
	max int64
	c   *lru.Cache[segKey, segEntry]
}

type segKey struct {
	id  string
	seg int64
}

type segEntry struct {
	wrapped string // the blob's wrapped key: which encryption this is the plaintext of
	plain   []byte
}

// NewCache returns a cache of at most max bytes of plaintext; nil (no
// cache) if max is less than one segment.
func NewCache(max int64) *Cache {
	if max < Segment {
		return nil
	}
	return &Cache{max: max, c: lru.New[segKey](max, func(e segEntry) int64 { return int64(len(e.plain)) })}
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
	e, ok := c.c.Get(segKey{id, seg})
	if !ok || e.wrapped != wrapped {
		return nil
	}
	return e.plain
}

// put stores segment seg of blob id; plain must not be modified
// afterwards.
func (c *Cache) put(id, wrapped string, seg int64, plain []byte) {
	if c != nil {
		c.c.Put(segKey{id, seg}, segEntry{wrapped: wrapped, plain: plain})
	}
}

// drop removes the segments [0, segs) of blob id.
func (c *Cache) drop(id string, segs int64) {
	if c == nil {
		return
	}
	if int64(c.c.Len()) < segs {
		// Fewer entries than segments: walk the entries instead.
		c.c.RemoveIf(func(k segKey) bool { return k.id == id })
		return
	}
	for s := range segs {
		c.c.Remove(segKey{id, s})
	}
}

// Size returns the bytes of plaintext held.
func (c *Cache) Size() int64 {
	if c == nil {
		return 0
	}
	return c.c.Size()
}
