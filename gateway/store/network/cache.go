package network

import (
	"github.com/datdot/datdot/gateway/store/lru"
	"github.com/datdot/datdot/volume"
)

// blockCache keeps recently read or written data blocks in memory, least
// recently used dropped first, up to max bytes. It serves hot objects; it
// is never the source of truth (a miss reads from the hosters).
type blockCache struct {
	c *lru.Cache[blockKey, []byte]
}

type blockKey struct {
	vol    string
	stripe uint64
	shard  int
}

// newBlockCache returns a cache of max bytes; nil (no cache) if max < one
// block.
func newBlockCache(max int64) *blockCache {
	if max < volume.BlockSize {
		return nil
	}
	return &blockCache{c: lru.New[blockKey](max, func(b []byte) int64 { return int64(len(b)) })}
}

func (c *blockCache) get(k blockKey) []byte {
	if c == nil {
		return nil
	}
	b, _ := c.c.Get(k)
	return b
}

// put stores a block; data must not be modified afterwards.
func (c *blockCache) put(k blockKey, data []byte) {
	if c != nil {
		c.c.Put(k, data)
	}
}

// size returns the bytes held.
func (c *blockCache) size() int64 {
	if c == nil {
		return 0
	}
	return c.c.Size()
}
