package network

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/datdot/datdot/durable"
	"github.com/datdot/datdot/hypercore"
	"github.com/datdot/datdot/volume"
)

// settledFile marks a volume that takes no more blobs and whose hosters
// and order were found to hold all of its cores (settle).
func settledFile(dir string) string { return filepath.Join(dir, "settled") }

// settleRetry is how long settle waits before it tries the volumes that
// failed again.
const settleRetry = 10 * time.Second

// pendingSettle lists the volumes in Dir that take no more blobs (every
// one but the open volume) and are not settled yet.
func (b *Blobs) pendingSettle() ([]string, error) {
	ents, err := os.ReadDir(filepath.Join(b.cfg.Dir, "volumes"))
	if err != nil {
		return nil, fmt.Errorf("network: %w", err)
	}
	open := ""
	if b.open != nil {
		open = b.open.Hex
	}
	var out []string
	for _, e := range ents {
		if !e.IsDir() || e.Name() == open {
			continue
		}
		if _, err := os.Stat(settledFile(filepath.Join(b.cfg.Dir, "volumes", e.Name()))); err == nil {
			continue
		}
		out = append(out, e.Name())
	}
	return out, nil
}

// settleAll settles, in the background, every volume that takes no more
// blobs and is not settled yet. A volume's order is extended in batches
// while it is written, so one written until a crash (sealed at the
// restart) or until it filled up may hold acknowledged blobs in stripes
// beyond the length its order has on the chain: hosters that replace a
// lost one rebuild a core only up to the ordered length, and those blobs
// would be lost with the next hosters. Settling pushes what the hosters
// lack and extends the order to the cores' full length, once per volume
// (then marked settled). Volumes that fail are tried again until Close.
// The list (pendingSettle) is taken by Open, before a new volume can
// appear.
func (b *Blobs) settleAll(ctx context.Context, ids []string) {
	for len(ids) > 0 {
		var again []string
		for _, id := range ids {
			if ctx.Err() != nil {
				return
			}
			retry, err := b.settle(ctx, id)
			if err == nil {
				continue
			}
			if ctx.Err() != nil {
				return
			}
			b.cfg.Log.Warn("settle volume", "volume", id, "err", err, "retry", retry)
			if retry {
				again = append(again, id)
			}
		}
		if len(again) == 0 {
			return
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(settleRetry):
		}
		ids = again
	}
}

// settle settles one volume (settleAll); retry reports whether a failure
// may pass (the chain or a hoster unreachable), not a volume whose local
// cores are gone or do not open.
func (b *Blobs) settle(ctx context.Context, hexID string) (retry bool, err error) {
	v, err := b.openToSettle(ctx, hexID)
	if err != nil {
		return false, err
	}
	defer v.close()
	// Every core holds the stripes below the shortest one (a crash
	// between the cores' appends leaves them uneven); acknowledged blobs
	// are below it, as they were appended to every local core first.
	length := uint64(0)
	for j, c := range v.Cores {
		if j == 0 || c.Length() < length {
			length = c.Length()
		}
	}
	// Blobs a crash left unreferenced after the last recorded one are
	// dead space the usage records must see (fresh blobs are recorded
	// only when referenced).
	if b.fresh {
		if err := b.recordShape(v); err != nil {
			return true, err
		}
	}
	if length > 0 {
		if s, ok := b.cfg.Shipper.(Settler); ok {
			err = s.Settle(ctx, v, length)
		} else {
			err = b.cfg.Shipper.Ship(ctx, v, length)
		}
		if err != nil {
			if _, serr := os.Stat(v.Dir); errors.Is(serr, os.ErrNotExist) {
				return false, err // removed meanwhile (compaction)
			}
			return true, err
		}
	}
	if err := durable.WriteFile(settledFile(v.Dir), []byte("settled\n")); err != nil {
		return true, fmt.Errorf("network: %w", err)
	}
	b.cfg.Log.Info("settled a volume: its order covers all of its cores", "volume", hexID, "stripes", length)
	return false, nil
}

// openToSettle opens every core of a volume with its writer key (the
// order's extension is signed); it is never the open volume.
func (b *Blobs) openToSettle(ctx context.Context, hexID string) (*Volume, error) {
	id, err := hex.DecodeString(hexID)
	if err != nil || len(id) == 0 || len(id) > volume.MaxVolumeIDSize {
		return nil, fmt.Errorf("network: bad volume id %q", hexID)
	}
	l, err := b.volumeLayout(ctx, hexID)
	if err != nil {
		return nil, err
	}
	v := &Volume{ID: id, Hex: hexID, b: b, Cores: make([]*hypercore.Core, l.N()), Layout: l}
	v.Dir = filepath.Dir(b.coreDir(hexID, 0))
	if v.Keys, err = volume.CoreKeys(b.cfg.Master, id, l); err != nil {
		return nil, err
	}
	for j := range v.Cores {
		dir := b.coreDir(hexID, j)
		if _, err := os.Stat(filepath.Join(dir, "header")); err != nil {
			v.close()
			return nil, fmt.Errorf("network: volume %s core %d: %w", hexID, j, err)
		}
		st, err := hypercore.OpenFileStorage(dir)
		if err != nil {
			v.close()
			return nil, fmt.Errorf("network: volume %s core %d: %w", hexID, j, err)
		}
		c, err := hypercore.Open(ctx, st, v.Keys[j])
		if err != nil {
			st.Close()
			v.close()
			return nil, fmt.Errorf("network: volume %s core %d: %w", hexID, j, err)
		}
		v.Cores[j] = c
	}
	return v, nil
}
