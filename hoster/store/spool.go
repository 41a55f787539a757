package store

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"syscall"

	"github.com/datdot/datdot/hypercore"
)

// Spool collects blocks in a temporary file so that a whole core can be
// appended in one verified commit (a replica can only be checked against
// the one signature the chain holds, at the core's full length) without
// holding it in memory: Blocks maps the file and returns slices into it.
type Spool struct {
	f     *os.File
	sizes []int64
	total int64
	mem   []byte
}

// NewSpool makes an empty spool in the store's tmp directory.
func (s *Store) NewSpool() (*Spool, error) {
	dir := filepath.Join(s.dir, "tmp")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	f, err := os.CreateTemp(dir, "spool-*")
	if err != nil {
		return nil, err
	}
	_ = os.Remove(f.Name()) // unlinked: nothing to clean up after a crash
	return &Spool{f: f}, nil
}

// Add appends a block.
func (sp *Spool) Add(b []byte) error {
	if sp.mem != nil {
		return errors.New("spool: already mapped")
	}
	if _, err := sp.f.Write(b); err != nil {
		return fmt.Errorf("spool: %w", err)
	}
	sp.sizes = append(sp.sizes, int64(len(b)))
	sp.total += int64(len(b))
	return nil
}

// Len returns the number of blocks.
func (sp *Spool) Len() int { return len(sp.sizes) }

// Blocks maps the spool and returns its blocks (valid until Close).
func (sp *Spool) Blocks() ([][]byte, error) {
	if sp.mem == nil && sp.total > 0 {
		m, err := syscall.Mmap(int(sp.f.Fd()), 0, int(sp.total), syscall.PROT_READ, syscall.MAP_SHARED)
		if err != nil {
			return nil, fmt.Errorf("spool: mmap: %w", err)
		}
		sp.mem = m
	}
	out := make([][]byte, len(sp.sizes))
	var off int64
	for i, n := range sp.sizes {
		out[i] = sp.mem[off : off+n : off+n]
		off += n
	}
	return out, nil
}

// Close releases the spool.
func (sp *Spool) Close() error {
	if sp.mem != nil {
		_ = syscall.Munmap(sp.mem)
		sp.mem = nil
	}
	return sp.f.Close()
}

// Rebuild replaces the held core key by a fresh copy of it: every block is
// read from the held core and, where that read fails its check against
// the tree, from fetch (which must return the block's bytes; they are
// checked against the held tree node when it is readable). The copy is
// verified against the held head's signature in one commit before it
// replaces the original, so a failed rebuild changes nothing. It returns
// the indices taken from fetch.
func (s *Store) Rebuild(ctx context.Context, key [32]byte, fetch func(ctx context.Context, index uint64) ([]byte, error)) ([]uint64, error) {
	h, err := s.heldCore(ctx, key, nil, false)
	if err != nil {
		return nil, err
	}
	h.amu.Lock()
	defer h.amu.Unlock()
	c := h.core
	info := c.Info()
	sp, err := s.NewSpool()
	if err != nil {
		return nil, err
	}
	defer sp.Close()
	var fetched []uint64
	for i := uint64(0); i < info.Length; i++ {
		b, err := c.Get(ctx, i)
		if errors.Is(err, hypercore.ErrCorrupt) {
			if b, err = fetch(ctx, i); err != nil {
				return fetched, fmt.Errorf("rebuild block %d: %w", i, err)
			}
			if n, nerr := c.Node(ctx, 2*i); nerr == nil && (n.Size != uint64(len(b)) || hypercore.LeafHash(b) != n.Hash) {
				return fetched, fmt.Errorf("rebuild block %d: fetched block does not match the tree", i)
			}
			fetched = append(fetched, i)
		}
		if err != nil {
			return fetched, fmt.Errorf("rebuild block %d: %w", i, err)
		}
		if err := sp.Add(b); err != nil {
			return fetched, err
		}
	}
	blocks, err := sp.Blocks()
	if err != nil {
		return fetched, err
	}
	dir := s.coreDir(key)
	tmp := dir + ".rebuild"
	if err := os.RemoveAll(tmp); err != nil {
		return fetched, err
	}
	st, err := hypercore.OpenFileStorage(tmp)
	if err != nil {
		return fetched, err
	}
	var manifest []byte
	if !info.Compat {
		manifest = info.Manifest
	}
	nc, err := hypercore.CreateReplica(ctx, st, key, manifest)
	if err != nil {
		st.Close()
		return fetched, err
	}
	if _, err := nc.AppendSigned(ctx, info.Fork, info.Signature, blocks...); err != nil {
		nc.Close()
		os.RemoveAll(tmp)
		return fetched, fmt.Errorf("rebuild: copy does not verify: %w", err)
	}
	nc.Close()
	// Swap: the held core is closed and replaced under the store lock, so
	// readers reopen the new copy.
	s.mu.Lock()
	defer s.mu.Unlock()
	c.Close()
	delete(s.cores, key)
	old := dir + ".old"
	_ = os.RemoveAll(old)
	if err := os.Rename(dir, old); err != nil {
		return fetched, err
	}
	if err := os.Rename(tmp, dir); err != nil {
		_ = os.Rename(old, dir)
		return fetched, err
	}
	if err := fsyncDir(filepath.Dir(dir)); err != nil {
		return fetched, err
	}
	_ = os.RemoveAll(old)
	return fetched, s.clearDamaged(key)
}

func fsyncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}
