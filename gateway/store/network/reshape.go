package network

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	bolt "go.etcd.io/bbolt"

	"github.com/datdot/datdot/hoster/client"
	"github.com/datdot/datdot/hypercore"
	"github.com/datdot/datdot/volume"
)

// Volumes recovered without their data (gateway recover without
// --fetch-data) have no local cores to read their shape from
// (shapeRebuilt): with a Remote, they stay listed in bucketReshape and
// each compaction pass, before it picks volumes, asks the hosters of
// their cores for it (shapeFromHosters). A core's length and byte length
// come from a proof of its first block, checked against the core's key
// (the writer's signature over the tree the proof upgrades to): a
// hoster cannot make them up. Every block of a stripe has one size, so
// any one core's length and bytes give the volume's stream and holes
// (shapeOf); the longest core any hoster holds gives the most of them
// (a hoster still catching up holds fewer). Until a hoster answers, the
// volume keeps the stream its blobs cover and its holes count as dead
// (compaction may move its blobs early, never lose them).

// shapeFromHosters records the shape of the volumes still to be shaped
// that have no local cores, from their hosters; those no hoster
// answers for stay listed for the next pass.
func (b *Blobs) shapeFromHosters(ctx context.Context) error {
	if b.cfg.Remote == nil || !b.fresh {
		return nil
	}
	var vols []string
	err := b.usage.view(func(tx *bolt.Tx) error {
		return b.usage.bucket(tx, bucketReshape).ForEach(func(k, _ []byte) error {
			if !bytes.Equal(k, rebuildCursor) {
				vols = append(vols, string(k))
			}
			return nil
		})
	})
	if err != nil {
		return err
	}
	for _, vol := range vols {
		if ctx.Err() != nil {
			return nil
		}
		if _, err := os.Stat(filepath.Join(filepath.Dir(b.coreDir(vol, 0)), "core-000", "header")); err == nil {
			continue // local cores: shaped from them at the next open
		}
		length, byteLength, l, err := b.remoteShape(ctx, vol)
		if err != nil {
			b.cfg.Log.Info("usage rebuild: no hoster gave the shape of a volume recovered without its data; tried again next pass", "volume", vol, "err", err)
			continue
		}
		stream, holes := shapeOf(l, length, byteLength)
		if err := b.usage.reshaped(vol, true, stream, max(holes, 0)); err != nil {
			return err
		}
		b.cfg.Log.Info("usage rebuild: volume shaped from its hosters", "volume", vol, "stream", stream, "holes", holes)
	}
	return nil
}

// remoteShape returns the length and byte length of the longest core of
// vol any of its hosters proves, and the layout vol was written with.
func (b *Blobs) remoteShape(ctx context.Context, vol string) (length, byteLength uint64, lay volume.Layout, err error) {
	r := b.cfg.Remote
	ref, err := b.ref(ctx, vol)
	if err != nil {
		return 0, 0, lay, err
	}
	lay = ref.Layout
	eps, err := r.cfg.Locator.Locate(ctx, ref, false)
	if err != nil {
		return 0, 0, lay, err
	}
	var errs []error
	found := false
	for j, list := range eps {
		if j >= len(ref.Keys) {
			break
		}
		for _, ep := range list {
			l, bl, err := coreShape(ctx, r, ep, ref.Keys[j])
			if err != nil {
				errs = append(errs, fmt.Errorf("core %d at %s: %w", j, ep, err))
				continue
			}
			stream, holes := shapeOf(lay, l, bl)
			if holes < 0 || holes > stream {
				errs = append(errs, fmt.Errorf("core %d at %s: %d blocks of %d bytes do not fit the layout", j, ep, l, bl))
				continue
			}
			if !found || l > length {
				length, byteLength, found = l, bl, true
			}
		}
	}
	if !found {
		if len(errs) == 0 {
			errs = append(errs, errors.New("no hoster is assigned"))
		}
		return 0, 0, lay, errors.Join(errs...)
	}
	return length, byteLength, lay, nil
}

// coreShape asks the hoster at ep for a proof of core key's first block
// upgraded to the length it holds and returns that length and byte
// length, checked against the key.
func coreShape(ctx context.Context, r *Remote, ep string, key [32]byte) (length, byteLength uint64, err error) {
	c, err := client.New(ep, r.cfg.HTTP)
	if err != nil {
		return 0, 0, err
	}
	ctx, cancel := context.WithTimeout(ctx, r.cfg.FetchTimeout)
	defer cancel()
	p, _, err := c.Proof(ctx, key, 0, 0)
	if err != nil {
		return 0, 0, err
	}
	vf, err := hypercore.VerifyProof(key[:], nil, p)
	if err != nil {
		return 0, 0, err
	}
	return vf.Length, vf.ByteLength, nil
}
