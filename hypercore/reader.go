package hypercore

import (
	"context"
	"fmt"
	"io"

	"github.com/datdot/datdot/hypercore/flattree"
)

// ByteOffset returns the byte offset at which block index starts (index
// may equal the length, giving the byte length).
func (c *Core) ByteOffset(ctx context.Context, index uint64) (uint64, error) {
	v, err := c.view(ctx, 0, true)
	if err != nil {
		return 0, err
	}
	if index > v.length {
		return 0, fmt.Errorf("byte offset of block %d: %w", index, ErrNotFound)
	}
	return v.byteOffset(2 * index)
}

// Seek finds the block holding byte offset off: it returns the block
// index and the offset of off inside that block. off at or past the byte
// length is io.EOF.
func (c *Core) Seek(ctx context.Context, off uint64) (index, rel uint64, err error) {
	v, err := c.view(ctx, 0, true)
	if err != nil {
		return 0, 0, err
	}
	return v.seekBlock(off)
}

func (t *treeView) seekBlock(off uint64) (uint64, uint64, error) {
	if off >= t.byteLength {
		return 0, 0, io.EOF
	}
	for _, r := range t.roots {
		if off >= r.Size {
			off -= r.Size
			continue
		}
		it := flattree.NewIterator(r.Index)
		for cnt := 0; it.Index&1 == 1; cnt++ {
			if cnt >= maxWalk {
				return 0, 0, fmt.Errorf("%w: seek walked too far", ErrCorrupt)
			}
			l, err := t.node(it.LeftChild())
			if err != nil {
				return 0, 0, err
			}
			if off >= l.Size {
				off -= l.Size
				it.Sibling()
			}
		}
		return it.Index / 2, off, nil
	}
	return 0, 0, fmt.Errorf("%w: byte offset not under any root", ErrCorrupt)
}

// ReaderAt returns an io.ReaderAt over the core's bytes (all blocks back
// to back) as of each call; reads use ctx and return verified data only.
func (c *Core) ReaderAt(ctx context.Context) io.ReaderAt { return coreReaderAt{ctx, c} }

type coreReaderAt struct {
	ctx context.Context
	c   *Core
}

// ReadAt implements io.ReaderAt over the core at the moment of the call.
func (r coreReaderAt) ReadAt(p []byte, off int64) (int, error) {
	if off < 0 {
		return 0, fmt.Errorf("hypercore: negative offset %d", off)
	}
	n := 0
	for n < len(p) {
		index, rel, err := r.c.Seek(r.ctx, uint64(off)+uint64(n))
		if err != nil {
			return n, err
		}
		b, err := r.c.Get(r.ctx, index)
		if err != nil {
			return n, err
		}
		n += copy(p[n:], b[rel:])
	}
	return n, nil
}
