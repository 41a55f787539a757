package follower

import (
	"context"
	"errors"
	"fmt"

	"github.com/datdot/datdot/hoster/client"
	"github.com/datdot/datdot/hoster/store"
	"github.com/datdot/datdot/hoster/wire"
)

// Fetch fills a's core from held to a.Length from another replica of the
// core: the blocks are spooled to disk and appended in one commit checked
// against the writer's signature the chain holds for a.Length, so nothing
// unverified is ever stored. It returns the new length.
func (f *Follower) Fetch(ctx context.Context, a store.Assignment, held uint64) (uint64, error) {
	if a.ErasureK > 0 {
		return f.FetchErasure(ctx, a, held)
	}
	peers, err := f.Peers(ctx, a.OrderID, a.CoreIndex, a.Length)
	if err != nil {
		return 0, err
	}
	if len(peers) == 0 {
		return 0, errors.New("no other holder has committed the core")
	}
	var errs []error
	for _, p := range peers {
		n, err := f.fetchFrom(ctx, a, held, p)
		if err == nil {
			return n, nil
		}
		errs = append(errs, fmt.Errorf("%s: %w", p.Endpoint(), err))
	}
	return 0, errors.Join(errs...)
}

func (f *Follower) fetchFrom(ctx context.Context, a store.Assignment, held uint64, p *client.Client) (uint64, error) {
	sp, err := f.cfg.Store.NewSpool()
	if err != nil {
		return 0, err
	}
	defer sp.Close()
	for i := held; i < a.Length; {
		blocks, err := p.Blocks(ctx, a.Key, i, a.Length)
		if err != nil {
			return 0, err
		}
		for _, b := range blocks {
			if err := sp.Add(b); err != nil {
				return 0, err
			}
		}
		i += uint64(len(blocks))
	}
	blocks, err := sp.Blocks()
	if err != nil {
		return 0, err
	}
	return f.cfg.Store.AppendVerified(ctx, a.Key, &wire.Push{Start: held, Fork: a.Fork, Signature: a.Signature, Manifest: a.Manifest, Blocks: blocks}, f.cfg.Limits)
}

// FetchErasure rebuilds a's core of an erasure-coded volume from any k
// other cores of the volume.
func (f *Follower) FetchErasure(ctx context.Context, a store.Assignment, held uint64) (uint64, error) {
	return 0, errors.New("erasure-coded repair is not available yet")
}

// RepairDamaged rebuilds core key, whose blocks failed their checks, with
// the damaged blocks taken from the core's other holders (each checked
// against the hoster's own tree before use, and the whole copy against the
// writer's signature before it replaces the damaged one).
func (f *Follower) RepairDamaged(ctx context.Context, key [32]byte) error {
	as, err := f.cfg.Store.AssignmentsOf(key)
	if err != nil {
		return err
	}
	if len(as) == 0 {
		return store.ErrNotAssigned
	}
	a := as[0]
	if a.ErasureK > 0 {
		return errors.New("erasure-coded block repair is not available yet")
	}
	peers, err := f.Peers(ctx, a.OrderID, a.CoreIndex, 1)
	if err != nil {
		return err
	}
	fetched, err := f.cfg.Store.Rebuild(ctx, key, func(ctx context.Context, index uint64) ([]byte, error) {
		var errs []error
		for _, p := range peers {
			b, err := p.Block(ctx, key, index)
			if err == nil {
				return b, nil
			}
			errs = append(errs, err)
		}
		return nil, fmt.Errorf("no holder served block %d: %w", index, errors.Join(errs...))
	})
	if err != nil {
		return err
	}
	f.log.Info("repaired damaged blocks", "blocks", fetched)
	if f.cfg.Metrics != nil {
		f.cfg.Metrics.RepairedCores.Inc()
	}
	return nil
}
