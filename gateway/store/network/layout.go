package network

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/datdot/datdot/durable"
	"github.com/datdot/datdot/hypercore"
	"github.com/datdot/datdot/volume"
)

// A volume is read with the layout it was written with, not the one new
// volumes get (Config.Layout, the gateway's --erasure-k/--erasure-m, may
// change between two starts): the layout decides how stream offsets map
// to stripes, how many cores there are and how they decode. It is kept
// in the volume's directory (WriteLayout, at its creation) and on chain
// (the order's erasure_k and its n cores: LayoutFinder), for a gateway
// that has no local copy (recovered on a new machine).

// layoutName is the file in a volume's directory that records its layout.
const layoutName = "layout"

// WriteLayout records, durably, that the volume in dir was written with l.
func WriteLayout(dir string, l volume.Layout) error {
	if err := l.Validate(); err != nil {
		return err
	}
	return durable.WriteFile(filepath.Join(dir, layoutName), fmt.Appendf(nil, "%d %d\n", l.K, l.M))
}

// ReadLayout returns the layout WriteLayout recorded in dir; ok is false
// when there is none (a volume written by an older version, or not on
// this machine).
func ReadLayout(dir string) (l volume.Layout, ok bool, err error) {
	data, err := os.ReadFile(filepath.Join(dir, layoutName))
	if errors.Is(err, os.ErrNotExist) {
		return l, false, nil
	}
	if err != nil {
		return l, false, fmt.Errorf("network: %w", err)
	}
	if _, err := fmt.Sscanf(strings.TrimSpace(string(data)), "%d %d", &l.K, &l.M); err != nil {
		return l, false, fmt.Errorf("network: %s: %q is not a layout (k m)", filepath.Join(dir, layoutName), data)
	}
	if err := l.Validate(); err != nil {
		return l, false, fmt.Errorf("network: %s: %w", filepath.Join(dir, layoutName), err)
	}
	return l, true, nil
}

// AdoptLayout returns the layout the volume in dir was written with when
// the directory tells it: its record (ReadLayout), else, for a volume
// written before records existed (when every volume had the flags'
// layout), l, if dir holds exactly l's n cores (core-000 up, each with
// a header) and the first stripe they all hold checks out as a stripe
// of l (its m parity blocks are those of its k data blocks: a layout of
// the same n and another k does not pass). The record is then written,
// durably (WriteLayout), so that the volume is never looked up again. ok
// is false when dir does not tell (no record, another number of cores
// or none, a stripe that does not check out, cores that do not open):
// the caller asks the volume's order.
func AdoptLayout(ctx context.Context, dir string, l volume.Layout) (_ volume.Layout, ok bool, err error) {
	if got, ok, err := ReadLayout(dir); err != nil || ok {
		return got, ok, err
	}
	if err := l.Validate(); err != nil {
		return volume.Layout{}, false, err
	}
	if !hasCores(dir, l.N()) || !firstStripeFits(ctx, dir, l) {
		return volume.Layout{}, false, nil
	}
	if err := WriteLayout(dir, l); err != nil {
		return volume.Layout{}, false, err
	}
	return l, true, nil
}

// hasCores reports whether dir holds cores core-000 to core-(n-1), each
// with a header, and no other.
func hasCores(dir string, n int) bool {
	ents, err := os.ReadDir(dir)
	if err != nil {
		return false
	}
	found := 0
	for _, e := range ents {
		var j int
		if _, err := fmt.Sscanf(e.Name(), "core-%03d", &j); err != nil || !e.IsDir() {
			continue
		}
		if _, err := os.Stat(filepath.Join(dir, e.Name(), "header")); err != nil {
			continue
		}
		if j < 0 || j >= n || e.Name() != fmt.Sprintf("core-%03d", j) {
			return false
		}
		found++
	}
	return found == n
}

// firstStripeFits reports whether block 0 of the n cores in dir is a
// stripe of layout l (true when no core holds a block: nothing written
// can be misread; false when only some do).
func firstStripeFits(ctx context.Context, dir string, l volume.Layout) bool {
	shards := make([][]byte, l.N())
	empty := 0
	for j := range shards {
		st, err := hypercore.OpenFileStorage(filepath.Join(dir, fmt.Sprintf("core-%03d", j)))
		if err != nil {
			return false
		}
		c, err := hypercore.Open(ctx, st, nil)
		if err != nil {
			st.Close()
			return false
		}
		if c.Length() == 0 {
			empty++
		} else {
			shards[j], err = c.Get(ctx, 0)
		}
		c.Close()
		if err != nil {
			return false
		}
	}
	if empty > 0 {
		return empty == len(shards)
	}
	coder, err := volume.NewCoder(l)
	if err != nil {
		return false
	}
	ok, err := coder.Verify(shards)
	return err == nil && ok
}

// ErrNoOrder is a LayoutFinder's answer for a volume no order holds.
var ErrNoOrder = errors.New("network: no order holds the volume")

// LayoutFinder is a Locator or Shipper that can tell the layout a volume
// was written with: its order's (onchain.Shipper). v's layout is not
// known yet; its first core key is (core keys do not depend on it).
type LayoutFinder interface {
	VolumeLayout(ctx context.Context, v VolumeRef) (volume.Layout, error)
}

// volumeLayout returns the layout volume hexID was written with: the
// volume's if this process has it open, else its directory's record
// (or, for a volume of an older version, the gateway's when its local
// cores show it: adoptLayout), else its order's on chain (recorded then
// in the directory, if there is one). A volume with none of these
// (never shipped, written by an older version) has Config.Layout, as
// every volume had before.
func (b *Blobs) volumeLayout(ctx context.Context, hexID string) (volume.Layout, error) {
	b.mu.Lock()
	if r, ok := b.refs[hexID]; ok {
		b.mu.Unlock()
		return r.Layout, nil
	}
	if v := b.vols[hexID]; v != nil {
		b.mu.Unlock()
		return v.Layout, nil
	}
	b.mu.Unlock()
	dir := filepath.Dir(b.coreDir(hexID, 0))
	if l, ok, err := b.adoptLayout(ctx, hexID); err != nil || ok {
		return l, err
	}
	var f LayoutFinder
	if b.cfg.Remote != nil {
		f, _ = b.cfg.Remote.cfg.Locator.(LayoutFinder)
	}
	if f == nil {
		f, _ = b.cfg.Shipper.(LayoutFinder)
	}
	if f == nil {
		return b.cfg.Layout, nil
	}
	id, err := hex.DecodeString(hexID)
	if err != nil || len(id) == 0 || len(id) > volume.MaxVolumeIDSize {
		return volume.Layout{}, fmt.Errorf("network: bad volume id %q", hexID)
	}
	ref, err := NewVolumeRef(b.cfg.Master, id, volume.Layout{K: 1})
	if err != nil {
		return volume.Layout{}, err
	}
	ref.Dir = dir
	l, err := f.VolumeLayout(ctx, ref)
	if errors.Is(err, ErrNoOrder) {
		return b.cfg.Layout, nil
	}
	if err != nil {
		return volume.Layout{}, fmt.Errorf("network: layout of volume %s: %w", hexID, err)
	}
	if _, serr := os.Stat(dir); serr == nil {
		if err := WriteLayout(dir, l); err != nil {
			b.cfg.Log.Warn("record a volume's layout", "volume", hexID, "err", err)
		}
	}
	return l, nil
}

// adoptLayout is AdoptLayout of volume hexID's directory with
// Config.Layout, tried once per volume and process, one volume at a
// time: it opens the cores, which nobody else may have open then (the
// first look-up of a volume's layout comes before anything opens its
// cores; a later one would find them in use).
func (b *Blobs) adoptLayout(ctx context.Context, hexID string) (volume.Layout, bool, error) {
	b.adoptMu.Lock()
	defer b.adoptMu.Unlock()
	dir := filepath.Dir(b.coreDir(hexID, 0))
	if l, ok, err := ReadLayout(dir); err != nil || ok || b.adoptTried[hexID] {
		return l, ok, err
	}
	l, ok, err := AdoptLayout(ctx, dir, b.cfg.Layout)
	if err == nil && ctx.Err() == nil {
		b.adoptTried[hexID] = true
	}
	if ok {
		b.cfg.Log.Info("a volume of an older version has the gateway's layout (its cores and first stripe say so): recorded", "volume", hexID, "layout", l)
	}
	return l, ok, err
}

// localLayout is the layout of volume hexID as its directory tells it
// (adoptLayout), or Config.Layout (without asking the chain).
func (b *Blobs) localLayout(hexID string) volume.Layout {
	l, ok, err := b.adoptLayout(context.Background(), hexID)
	if err != nil || !ok {
		return b.cfg.Layout
	}
	return l
}

// coderFor returns the erasure coder of layout l, built once per layout
// and shared (a volume.Coder is safe for concurrent use: the
// reedsolomon encoder keeps no state between calls but its inversion
// cache, which locks).
func (b *Blobs) coderFor(l volume.Layout) (*volume.Coder, error) {
	if l == b.cfg.Layout {
		return b.coder, nil
	}
	b.cmu.Lock()
	defer b.cmu.Unlock()
	if c := b.coders[l]; c != nil {
		return c, nil
	}
	c, err := volume.NewCoder(l)
	if err != nil {
		return nil, err
	}
	b.coders[l] = c
	return c, nil
}
