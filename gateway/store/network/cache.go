package network

import (
	"container/list"
	"sync"

	"github.com/datdot/datdot/volume"
)

// blockCache keeps recently read or written data blocks in memory, least
// recently used dropped first, up to max bytes. It serves hot media; it is
// never the source of truth (a miss reads from the hosters).
type blockCache struct {
	mu    sync.Mutex
	max   int64
	used  int64
	ll    *list.List
	items map[blockKey]*list.Element
}

type blockKey struct {
	vol    string
	stripe uint64
	shard  int
}

type cacheEntry struct {
	key  blockKey
	data []byte
}

// newBlockCache returns a cache of max bytes; nil (no cache) if max < one
// block.
func newBlockCache(max int64) *blockCache {
	if max < volume.BlockSize {
		return nil
	}
	return &blockCache{max: max, ll: list.New(), items: map[blockKey]*list.Element{}}
}

func (c *blockCache) get(k blockKey) []byte {
	if c == nil {
		return nil
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if e := c.items[k]; e != nil {
		c.ll.MoveToFront(e)
		return e.Value.(*cacheEntry).data
	}
	return nil
}

// put stores a block; data must not be modified afterwards.
func (c *blockCache) put(k blockKey, data []byte) {
	if c == nil {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if e := c.items[k]; e != nil {
		c.used += int64(len(data)) - int64(len(e.Value.(*cacheEntry).data))
		e.Value.(*cacheEntry).data = data
		c.ll.MoveToFront(e)
	} else {
		c.items[k] = c.ll.PushFront(&cacheEntry{key: k, data: data})
		c.used += int64(len(data))
	}
	for c.used > c.max {
		e := c.ll.Back()
		ce := e.Value.(*cacheEntry)
		c.ll.Remove(e)
		delete(c.items, ce.key)
		c.used -= int64(len(ce.data))
	}
}

// size returns the bytes held.
func (c *blockCache) size() int64 {
	if c == nil {
		return 0
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.used
}
