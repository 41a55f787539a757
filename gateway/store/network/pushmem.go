package network

import "context"

// The blocks a volume pushes are kept in memory from their append until
// their core's hosters hold them (Volume.mem), so that a push sends them
// from there: no read of the local core, no new buffer per block. Once a
// core's hosters hold a block, it goes back to the stripe block pool
// (Blobs.freeBlocks) for the next stripes. Past Config.PushMemBytes the
// oldest blocks are dropped from memory; a push of a dropped block (a
// core far behind, a replacement hoster, a hoster that lost data) reads
// the local core instead, as does every push of a volume reopened or
// settled after a restart.

// cachedShards is how many of a stripe's blocks (the data blocks, first)
// the block cache holds: those are never recycled.
func (v *Volume) cachedShards() int {
	if v.b.cache != nil {
		return v.Layout.K
	}
	return 0
}

// keepMemLocked keeps the blocks of stripes [first, first+len(stripes))
// for the pushes (called with fmu held, once they are appended to every
// local core), then drops the oldest kept blocks beyond PushMemBytes.
// Blocks of a core that failed, or of any core once the volume failed,
// are not kept.
func (v *Volume) keepMemLocked(first uint64, stripes [][][]byte) {
	limit := v.b.cfg.PushMemBytes
	for j := range v.mem {
		if limit < 0 || v.failed != nil || v.coreErr[j] != nil {
			for _, shards := range stripes {
				v.recycle(j, shards[j])
			}
			v.memBase[j] = first + uint64(len(stripes))
			continue
		}
		if len(v.mem[j]) == 0 {
			v.memBase[j] = first
		}
		for _, shards := range stripes {
			v.mem[j] = append(v.mem[j], shards[j])
			v.memBytes += int64(len(shards[j]))
		}
	}
	for v.memBytes > max(limit, 0) {
		// The core whose oldest kept block is the oldest gives it up.
		o := -1
		for j := range v.mem {
			if len(v.mem[j]) > 0 && (o < 0 || v.memBase[j] < v.memBase[o]) {
				o = j
			}
		}
		if o < 0 {
			break
		}
		v.dropMemLocked(o, v.memBase[o]+1)
	}
}

// dropMemLocked drops the kept blocks of core j below index upto (called
// with fmu held). A block goes back to the pool only while core j is not
// pushing (its push may be sending it); else it is left to the garbage
// collector.
func (v *Volume) dropMemLocked(j int, upto uint64) {
	if j >= len(v.mem) {
		return
	}
	n := min(uint64(len(v.mem[j])), upto-min(upto, v.memBase[j]))
	for _, blk := range v.mem[j][:n] {
		v.memBytes -= int64(len(blk))
		if !v.pushing[j] {
			v.recycle(j, blk)
		}
	}
	clear(v.mem[j][:n])
	v.mem[j] = v.mem[j][n:]
	v.memBase[j] += n
	if len(v.mem[j]) == 0 {
		v.mem[j] = nil // the backing array's kept pointers are cleared: let it go
	}
}

// recycle gives block blk of core j back to the pool unless the block
// cache holds it.
func (v *Volume) recycle(j int, blk []byte) {
	if j >= v.cachedShards() {
		v.b.putBlock(blk)
	}
}

// PushSource returns where the pushes of core j take its blocks from: the
// volume's memory while it keeps them, else the local core (unchecked:
// the hosters check every block against the signature). It is for
// CoreShipper.PushCore of core j, and a block it returns may be reused
// once that call returns.
func (v *Volume) PushSource(j int) func(ctx context.Context, index uint64) ([]byte, error) {
	return func(ctx context.Context, index uint64) ([]byte, error) {
		v.fmu.Lock()
		if j < len(v.mem) && index >= v.memBase[j] && index-v.memBase[j] < uint64(len(v.mem[j])) {
			blk := v.mem[j][index-v.memBase[j]]
			v.fmu.Unlock()
			return blk, nil
		}
		v.fmu.Unlock()
		return v.Cores[j].GetUnchecked(ctx, index)
	}
}
