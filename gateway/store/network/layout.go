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

// ErrNoOrder is a LayoutFinder's answer for a volume no order holds.
var ErrNoOrder = errors.New("network: no order holds the volume")

// LayoutFinder is a Locator or Shipper that can tell the layout a volume
// was written with: its order's (onchain.Shipper). v's layout is not
// known yet; its first core key is (core keys do not depend on it).
type LayoutFinder interface {
	VolumeLayout(ctx context.Context, v VolumeRef) (volume.Layout, error)
}

// volumeLayout returns the layout volume hexID was written with: the
// volume's if this process has it open, else its directory's record,
// else its order's on chain (recorded then in the directory, if there
// is one). A volume with none of these (never shipped, written by an
// older version) has Config.Layout, as every volume had before.
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
	if l, ok, err := ReadLayout(dir); err != nil || ok {
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

// localLayout is the layout recorded in volume hexID's directory, or
// Config.Layout (without asking the chain).
func (b *Blobs) localLayout(hexID string) volume.Layout {
	l, ok, err := ReadLayout(filepath.Dir(b.coreDir(hexID, 0)))
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
