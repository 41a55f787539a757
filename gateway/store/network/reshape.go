package network

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"time"

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
// (shapeOf). The first proof whose stream covers the blobs the volume
// is known to hold wins and no other hoster is asked (one that does not
// cover them is of a hoster still catching up: the next is asked, and
// if none covers them the longest proven is taken). Until a hoster
// answers, the volume keeps the stream its blobs cover and its holes
// count as dead (compaction may move its blobs early, never lose them).
//
// A pass's time is bounded: each request has shapeTimeout, a hoster
// that gave no answer (timed out, refused the connection) or a proof
// that does not verify is not asked again in the same pass (one that
// answered with an error status, such as not holding that core, is), and a pass asks about shapeMax volumes at
// most, the next pass continuing after the last one asked about.

const (
	// defaultShapeTimeout bounds one proof request of shapeFromHosters
	// (a proof of one block: a hoster that is up answers in far less).
	defaultShapeTimeout = 5 * time.Second
	// defaultShapeMax is how many volumes one compaction pass asks the
	// hosters about.
	defaultShapeMax = 64
)

// shapeFromHosters records the shape of the volumes still to be shaped
// that have no local cores, from their hosters, up to shapeMax of them
// starting after the last one the previous pass asked about; those no
// hoster answers for stay listed for a later pass.
func (b *Blobs) shapeFromHosters(ctx context.Context) error {
	if b.cfg.Remote == nil || !b.fresh {
		return nil
	}
	var vols []string
	covered := map[string]int64{}
	err := b.usage.view(func(tx *bolt.Tx) error {
		ub := b.usage.bucket(tx, bucketUsage)
		return b.usage.bucket(tx, bucketReshape).ForEach(func(k, _ []byte) error {
			if !bytes.Equal(k, rebuildCursor) {
				vols = append(vols, string(k))
				covered[string(k)], _ = getUsage(ub, string(k))
			}
			return nil
		})
	})
	if err != nil || len(vols) == 0 {
		return err
	}
	// In key order from after the last volume asked about, wrapping
	// around: volumes no hoster answers for do not keep the others
	// waiting.
	b.mu.Lock()
	after := b.shapeAfter
	b.mu.Unlock()
	first, _ := slices.BinarySearch(vols, after)
	if first < len(vols) && vols[first] == after {
		first++
	}
	vols = slices.Concat(vols[first:], vols[:first])
	dead := map[string]bool{} // hosters that gave no answer this pass
	asked := 0
	for _, vol := range vols {
		if ctx.Err() != nil || asked >= b.shapeMax {
			return nil
		}
		if _, err := os.Stat(filepath.Join(filepath.Dir(b.coreDir(vol, 0)), "core-000", "header")); err == nil {
			continue // local cores: shaped from them at the next open
		}
		asked++
		b.mu.Lock()
		b.shapeAfter = vol
		b.mu.Unlock()
		length, byteLength, l, err := b.remoteShape(ctx, vol, covered[vol], dead)
		if err != nil {
			b.cfg.Log.Info("usage rebuild: no hoster gave the shape of a volume recovered without its data; tried again at a later pass", "volume", vol, "err", err)
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

// remoteShape returns the length and byte length of a core of vol one
// of its hosters proves, and the layout vol was written with: the first
// proof whose stream reaches covered (the stream vol's blobs are known
// to cover), else the longest proven. Hosters in dead are skipped; one
// that gives no answer, or a proof that does not verify, is added to
// it.
func (b *Blobs) remoteShape(ctx context.Context, vol string, covered int64, dead map[string]bool) (length, byteLength uint64, lay volume.Layout, err error) {
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
			if ctx.Err() != nil {
				return 0, 0, lay, ctx.Err()
			}
			if dead[ep] {
				errs = append(errs, fmt.Errorf("core %d at %s: no answer earlier in this pass", j, ep))
				continue
			}
			l, bl, err := b.coreShape(ctx, ep, ref.Keys[j])
			if err != nil {
				var answer *client.Error
				if !errors.As(err, &answer) && ctx.Err() == nil {
					dead[ep] = true
				}
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
			if stream >= covered {
				return length, byteLength, lay, nil
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
func (b *Blobs) coreShape(ctx context.Context, ep string, key [32]byte) (length, byteLength uint64, err error) {
	c, err := client.New(ep, b.cfg.Remote.cfg.HTTP)
	if err != nil {
		return 0, 0, err
	}
	ctx, cancel := context.WithTimeout(ctx, b.shapeTimeout)
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
