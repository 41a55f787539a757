package follower

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"slices"
	"time"

	"github.com/datdot/datdot/hoster/client"
	"github.com/datdot/datdot/hoster/store"
	"github.com/datdot/datdot/hoster/wire"
	"github.com/datdot/datdot/hypercore"
	"github.com/datdot/datdot/hypercore/replicate"
	"github.com/datdot/datdot/volume"
	storagetypes "github.com/datdot/datdot/x/storage/types"
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
	var errs []error
	for _, p := range peers {
		n, err := f.fetchFrom(ctx, a, held, p)
		if err == nil {
			return n, nil
		}
		errs = append(errs, fmt.Errorf("%s: %w", p.Endpoint(), err))
	}
	// Then over the Hypercore replication protocol: from the peers the
	// order names (a replicated-core order) and from the other hosters'
	// replication addresses.
	addrs, err := f.WirePeers(ctx, a)
	if err != nil {
		errs = append(errs, err)
	}
	for _, addr := range addrs {
		n, err := f.FetchWire(ctx, a, addr)
		if err == nil && n >= a.Length {
			return n, nil
		}
		if err == nil {
			err = fmt.Errorf("peer has only %d of %d blocks", n, a.Length)
		}
		errs = append(errs, fmt.Errorf("dat://%s: %w", addr, err))
	}
	if len(errs) == 0 {
		return 0, errors.New("no other holder has committed the core and no replication peer is known")
	}
	return 0, errors.Join(errs...)
}

// wireDialTimeout bounds the TCP dial to a replication peer.
const wireDialTimeout = 10 * time.Second

// WirePeers returns the replication addresses to fetch a's core from: the
// order's peers first, then those of the other hosters assigned the core.
func (f *Follower) WirePeers(ctx context.Context, a store.Assignment) ([]string, error) {
	out := slices.Clone(a.Peers)
	seen := map[string]bool{f.cfg.SelfReplication: true}
	for _, p := range out {
		seen[p] = true
	}
	q := f.cfg.Chain.Storage()
	or, err := q.Order(ctx, &storagetypes.QueryOrderRequest{Id: a.OrderID})
	if err != nil {
		return out, err
	}
	for _, v := range or.Assignments {
		if v.Assignment.CoreIndex != a.CoreIndex || v.Assignment.Hoster == f.me {
			continue
		}
		h, err := q.Hoster(ctx, &storagetypes.QueryHosterRequest{Address: v.Assignment.Hoster})
		if err != nil || h.Hoster.ReplicationAddress == "" || seen[h.Hoster.ReplicationAddress] {
			continue
		}
		seen[h.Hoster.ReplicationAddress] = true
		out = append(out, h.Hoster.ReplicationAddress)
	}
	return out, nil
}

// FetchWire downloads a's core from a Hypercore replication peer at addr
// into the store (every block verified against the writer's signature
// over the peer's head; nothing beyond the capacity is downloaded) and
// checks that what it holds at the chain's length has the chain's tree
// hash. It returns the length held afterwards.
func (f *Follower) FetchWire(ctx context.Context, a store.Assignment, addr string) (uint64, error) {
	tmp, err := f.cfg.Store.TmpDir()
	if err != nil {
		return 0, err
	}
	wlog := f.cfg.WireLog
	if wlog == nil {
		wlog = f.log
	}
	var res *replicate.FetchResult
	var core *hypercore.Core
	n, err := f.cfg.Store.Replicate(ctx, a.Key, a.Manifest, f.cfg.Limits, func(c *hypercore.Core, accept func(uint64) error) error {
		core = c
		// A peer that does not answer the dial must not hold up the
		// follower's pass for long.
		d := net.Dialer{Timeout: wireDialTimeout}
		conn, err := d.DialContext(ctx, "tcp", addr)
		if err != nil {
			return fmt.Errorf("dial: %w", err)
		}
		r, err := replicate.FetchInto(ctx, conn, c, replicate.FetchOptions{SpoolDir: tmp, Log: wlog,
			Accept: func(_, byteLength uint64) error { return accept(byteLength) }})
		res = r
		return err
	})
	if err != nil {
		return n, err
	}
	if res.Blocks > 0 {
		f.log.Info("fetched over the replication protocol", "slot", a.Slot.String(), "peer", addr, "blocks", res.Blocks, "bytes", res.Bytes, "length", res.Length)
	}
	if n >= a.Length && a.Length > 0 && core != nil {
		th, _, err := core.TreeHashAt(ctx, a.Length)
		if err != nil {
			return n, err
		}
		if !bytes.Equal(th[:], a.TreeHash) {
			// The writer signed two histories (the peer's and the chain's):
			// never commit what the chain did not sign.
			return n, fmt.Errorf("the core at length %d has tree hash %x, the chain holds %x: not committing", a.Length, th, a.TreeHash)
		}
	}
	return n, nil
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

// FetchErasure rebuilds a's core (core j of an erasure-coded volume) from
// held to a.Length: block s is shard j of stripe s, Reed-Solomon
// reconstructed (package volume) from block s of any k other cores of the
// volume, each fetched with its proof and verified against that core's
// committed tree hash first (all of one length: B, or b for a short
// stripe). The rebuilt blocks are spooled and appended
// in one commit checked against the writer's signature of core j.
func (f *Follower) FetchErasure(ctx context.Context, a store.Assignment, held uint64) (uint64, error) {
	plan, err := f.erasurePlan(ctx, a)
	if err != nil {
		return 0, err
	}
	sp, err := f.cfg.Store.NewSpool()
	if err != nil {
		return 0, err
	}
	defer sp.Close()
	for s := held; s < a.Length; s++ {
		b, err := plan.block(ctx, s)
		if err != nil {
			return 0, err
		}
		if err := sp.Add(b); err != nil {
			return 0, err
		}
	}
	blocks, err := sp.Blocks()
	if err != nil {
		return 0, err
	}
	return f.cfg.Store.AppendVerified(ctx, a.Key, &wire.Push{Start: held, Fork: a.Fork, Signature: a.Signature, Manifest: a.Manifest, Blocks: blocks}, f.cfg.Limits)
}

// volumeCore is one other core of a volume and where to read it.
type volumeCore struct {
	index    int
	key      [32]byte
	length   uint64
	treeHash [32]byte
	peers    []*client.Client
}

// erasurePlan knows the other cores of a's volume and their holders.
type erasurePlan struct {
	coder  *volume.Coder
	j      int
	others []volumeCore
	log    func(msg string, args ...any)
}

func (f *Follower) erasurePlan(ctx context.Context, a store.Assignment) (*erasurePlan, error) {
	if a.ErasureN <= a.ErasureK || a.ErasureK == 0 {
		return nil, fmt.Errorf("order %d is not erasure coded (k=%d, n=%d)", a.OrderID, a.ErasureK, a.ErasureN)
	}
	coder, err := volume.NewCoder(volume.Layout{K: int(a.ErasureK), M: int(a.ErasureN - a.ErasureK)})
	if err != nil {
		return nil, err
	}
	or, err := f.cfg.Chain.Storage().Order(ctx, &storagetypes.QueryOrderRequest{Id: a.OrderID})
	if err != nil {
		return nil, err
	}
	plan := &erasurePlan{coder: coder, j: int(a.CoreIndex), log: f.log.Debug}
	for i, c := range or.Order.Cores {
		if i == int(a.CoreIndex) || len(c.Key) != 32 || len(c.TreeHash) != 32 {
			continue
		}
		vc := volumeCore{index: i, length: c.Length}
		copy(vc.key[:], c.Key)
		copy(vc.treeHash[:], c.TreeHash)
		if vc.peers, err = f.Peers(ctx, a.OrderID, uint32(i), c.Length); err != nil {
			return nil, err
		}
		if len(vc.peers) > 0 {
			plan.others = append(plan.others, vc)
		}
	}
	if len(plan.others) < int(a.ErasureK) {
		return nil, fmt.Errorf("only %d other cores of the volume are held and committed, %d needed", len(plan.others), a.ErasureK)
	}
	return plan, nil
}

// block rebuilds block s of core j from verified blocks s of k other cores.
func (p *erasurePlan) block(ctx context.Context, s uint64) ([]byte, error) {
	shards := make([][]byte, p.coder.Layout().N())
	have := 0
	for _, vc := range p.others {
		if have == p.coder.Layout().K {
			break
		}
		if s >= vc.length {
			continue
		}
		for _, peer := range vc.peers {
			proof, _, err := peer.Proof(ctx, vc.key, s, vc.length)
			if err != nil {
				p.log("erasure repair: fetch", "core", vc.index, "block", s, "peer", peer.Endpoint(), "err", err)
				continue
			}
			b, err := hypercore.VerifyBlockAt(proof, s, vc.length, vc.treeHash)
			if err != nil {
				p.log("erasure repair: block does not verify", "core", vc.index, "block", s, "peer", peer.Endpoint(), "err", err)
				continue
			}
			shards[vc.index] = b
			have++
			break
		}
	}
	if have < p.coder.Layout().K {
		return nil, fmt.Errorf("stripe %d: %d verified shards, %d needed", s, have, p.coder.Layout().K)
	}
	// The blocks of a stripe have one length: B, or the b of a short
	// stripe (format v2); the rebuilt block has it too. Blocks of unequal
	// lengths (each verified against its own core) are no stripe.
	b, err := p.coder.ReconstructShard(shards, p.j)
	if err != nil {
		return nil, fmt.Errorf("stripe %d: %w", s, err)
	}
	return b, nil
}

// RepairDamaged rebuilds core key, whose blocks failed their checks, with
// the damaged blocks taken from the core's other holders (each checked
// against the hoster's own tree before use, and the whole copy against the
// writer's signature before it replaces the damaged one).
func (f *Follower) RepairDamaged(ctx context.Context, key [32]byte) error {
	f.fetchMu.Lock()
	if f.repairing[key] {
		f.fetchMu.Unlock()
		return nil // a repair of this core is running; it sees the same damage
	}
	f.repairing[key] = true
	f.fetchMu.Unlock()
	defer func() {
		f.fetchMu.Lock()
		delete(f.repairing, key)
		f.fetchMu.Unlock()
	}()
	as, err := f.cfg.Store.AssignmentsOf(key)
	if err != nil {
		return err
	}
	if len(as) == 0 {
		return store.ErrNotAssigned
	}
	a := as[0]
	fetch := func(context.Context, uint64) ([]byte, error) { return nil, errors.New("no source") }
	if a.ErasureK > 0 {
		plan, err := f.erasurePlan(ctx, a)
		if err != nil {
			return err
		}
		fetch = plan.block
	}
	peers, err := f.Peers(ctx, a.OrderID, a.CoreIndex, 1)
	if err != nil {
		return err
	}
	if a.ErasureK > 0 {
		peers = nil // one hoster per core: the block comes from the stripe
	}
	fetched, err := f.cfg.Store.Rebuild(ctx, key, func(ctx context.Context, index uint64) ([]byte, error) {
		if len(peers) == 0 {
			return fetch(ctx, index)
		}
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
