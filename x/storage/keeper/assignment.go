package keeper

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"math/bits"

	"cosmossdk.io/collections"
	errorsmod "cosmossdk.io/errors"
	"cosmossdk.io/math"

	sdk "github.com/cosmos/cosmos-sdk/types"

	"github.com/datdot/datdot/x/storage/types"
)

// Hoster selection
//
// The chain picks a distinct hoster for every (core, replica) slot of an
// order. A hoster is eligible for a slot when it is active, its free capacity
// holds the core's bytes, its price is within the order's max price and it
// holds no other slot of the order. Among eligible hosters the choice is
// weighted by stake and free capacity and spread over regions where possible.
//
// Cost does not grow with the number of hosters. Active hosters sit in a
// dense index (ActiveIndex: position -> address, positions 0..n-1; leaving
// or jailed hosters are swapped out in O(1)), so a uniformly random active
// hoster costs two store reads. Then:
//
//   - with n <= params.scan_threshold active hosters the selection reads all
//     of them (a constant bound) and is exact: a slot fails only when no
//     eligible hoster exists, and among eligible ones it prefers regions not
//     yet used by the order and draws proportionally to the weight;
//   - above the threshold it uses bounded sampling: per slot at most
//     params.sample_attempts uniform draws from the dense index, skipping
//     ineligible hosters, until it holds 4 eligible candidates in regions the
//     order does not use yet; it then draws among those (or, when no
//     fresh-region candidate turned up, among all eligible candidates seen)
//     proportionally to weight. Work per order is thus at most slots x
//     sample_attempts draws whatever the number of hosters; each draw is two
//     O(log n) store reads. The price of the bound: a slot can fail when
//     eligible hosters are a tiny fraction of all active hosters (then the
//     order waits in the pending queue and is retried with a new seed), and
//     the weighting is proportional within the sample rather than over the
//     whole population.
//
// Weight, in fixed point (no floats in consensus): stake part
// min(stake, stake_weight_cap)/stake_weight_cap, capacity part
// min(free, size x capacity_headroom)/(size x capacity_headroom), each scaled
// to 1e6, multiplied (max 1e12). A hoster with at least the stake cap and
// plenty of room gets the full weight; a hoster at the minimum stake (with
// the default cap of 4x the minimum) a quarter of it; near-full hosters less.
//
// Randomness: seed = SHA-256(domain tag ‖ chain id ‖ previous block's hash ‖
// order id ‖ attempt) (see Keeper.seed), expanded by SHA-256 in counter
// mode. The previous block's hash is recorded by EndBlock, so the seed is
// fixed before the block that uses it: simulation and the block draw the
// same hosters, and the block's proposer cannot grind it. The same seed and
// state always give the same hosters. What can still be biased, and why it
// does not pay, is in the module README.

const (
	weightUnit = 1_000_000
	// sampleCandidates is how many fresh-region candidates the sampling
	// collects for one slot before it picks among them by weight.
	sampleCandidates = 4
)

var (
	assignTag  = []byte("datdot/storage/assign/v1")
	replaceTag = []byte("datdot/storage/replace/v1")
	extendTag  = []byte("datdot/storage/extend/v1")
)

// drbg is a deterministic random stream: SHA-256(seed ‖ counter).
type drbg struct {
	seed    [32]byte
	counter uint64
	buf     [32]byte
	off     int
}

func newDRBG(seed [32]byte) *drbg { return &drbg{seed: seed, off: 32} }

func (d *drbg) uint64() uint64 {
	if d.off+8 > len(d.buf) {
		var in [40]byte
		copy(in[:], d.seed[:])
		binary.BigEndian.PutUint64(in[32:], d.counter)
		d.counter++
		d.buf = sha256.Sum256(in[:])
		d.off = 0
	}
	v := binary.BigEndian.Uint64(d.buf[d.off:])
	d.off += 8
	return v
}

// uint64n returns a uniform value in [0, n), n > 0, without modulo bias.
func (d *drbg) uint64n(n uint64) uint64 {
	limit := ^uint64(0) - (^uint64(0) % n)
	for {
		v := d.uint64()
		if v < limit {
			return v % n
		}
	}
}

// seed derives a selection seed: SHA-256 over a domain tag, the chain id,
// the hash of the previous block (SeedHash, recorded by the previous
// EndBlock) and the given parts (order id, attempt, ...), each
// length-prefixed or fixed-size. Everything in it is known before the block
// that uses it, so gas simulation draws exactly what the block will draw,
// and the proposer of the block cannot grind it.
func (k Keeper) seed(ctx context.Context, tag []byte, parts ...uint64) ([32]byte, error) {
	prev, err := k.SeedHash.Get(ctx)
	if err != nil && !errors.Is(err, collections.ErrNotFound) {
		return [32]byte{}, err
	}
	chainID := sdk.UnwrapSDKContext(ctx).ChainID()
	h := sha256.New()
	var l [8]byte
	for _, b := range [][]byte{tag, []byte(chainID), prev} {
		binary.BigEndian.PutUint64(l[:], uint64(len(b)))
		h.Write(l[:])
		h.Write(b)
	}
	for _, p := range parts {
		binary.BigEndian.PutUint64(l[:], p)
		h.Write(l[:])
	}
	var out [32]byte
	h.Sum(out[:0])
	return out, nil
}

// candidate is a hoster considered by the selection.
type candidate struct {
	addr sdk.AccAddress
	h    types.Hoster
}

// eligible reports whether h can take a slot of size bytes at maxPrice.
func eligible(h types.Hoster, size uint64, maxPrice math.Int) bool {
	return h.Status == types.HOSTER_STATUS_ACTIVE && freeBytes(h) >= size && h.PricePerGibEpoch.LTE(maxPrice)
}

// weight is the selection weight of h for a slot of size bytes, in
// [1, 1e12] for an eligible hoster.
func weight(p types.Params, h types.Hoster, size uint64) uint64 {
	stake := h.Stake
	if stake.GT(p.StakeWeightCap) {
		stake = p.StakeWeightCap
	}
	ws := stake.MulRaw(weightUnit).Quo(p.StakeWeightCap).Uint64()
	target := size * p.CapacityHeadroom
	if p.CapacityHeadroom != 0 && target/p.CapacityHeadroom != size {
		target = ^uint64(0) // overflow: saturate
	}
	free := freeBytes(h)
	var wc uint64 = weightUnit
	if target > 0 && free < target {
		hi, lo := bits.Mul64(free, weightUnit)
		wc, _ = bits.Div64(hi, lo, target)
	}
	w := ws * wc
	if w == 0 {
		w = 1
	}
	return w
}

// selectHosters picks one distinct hoster per slot (sizes[i] is the size of
// slot i). exclude lists hosters that must not be picked (for example the
// current holders of an order's slots) and usedRegions the regions the
// order already occupies (both may be nil). It returns ErrNoHosters when a
// slot cannot be filled; it never writes state.
func (k Keeper) selectHosters(ctx context.Context, p types.Params, seed [32]byte, sizes []uint64, maxPrice math.Int, exclude, usedRegions map[string]bool) ([]candidate, error) {
	n, err := k.activeCount(ctx)
	if err != nil {
		return nil, err
	}
	rng := newDRBG(seed)
	taken := make(map[string]bool, len(sizes)+len(exclude))
	for a := range exclude {
		taken[a] = true
	}
	regions := make(map[string]bool, len(sizes)+len(usedRegions))
	for r := range usedRegions {
		regions[r] = true
	}
	out := make([]candidate, 0, len(sizes))

	if n <= uint64(p.ScanThreshold) {
		all := make([]candidate, 0, n)
		for i := uint64(0); i < n; i++ {
			c, err := k.activeAt(ctx, i)
			if err != nil {
				return nil, err
			}
			all = append(all, c)
		}
		for slot, size := range sizes {
			var fresh, all2 []candidate
			for _, c := range all {
				if taken[string(c.addr)] || !eligible(c.h, size, maxPrice) {
					continue
				}
				all2 = append(all2, c)
				if !regions[c.h.Region] {
					fresh = append(fresh, c)
				}
			}
			pick, ok := choose(rng, p, fresh, all2, size, taken, regions)
			if !ok {
				return nil, errorsmod.Wrapf(types.ErrNoHosters, "no eligible hoster for slot %d (%d bytes, max price %s) among %d active hosters", slot, size, maxPrice, n)
			}
			out = append(out, pick)
		}
		return out, nil
	}

	attempts := p.SampleAttempts
	for slot, size := range sizes {
		// Draw uniformly from the dense index until sampleCandidates
		// eligible hosters in regions the order does not use yet are
		// found, or the attempts run out; then pick among the fresh-region
		// candidates (or, if none, among all candidates) by weight.
		var fresh, seen []candidate
		inSample := make(map[string]bool, sampleCandidates)
		for a := uint32(0); a < attempts && len(fresh) < sampleCandidates; a++ {
			c, err := k.activeAt(ctx, rng.uint64n(n))
			if err != nil {
				return nil, err
			}
			key := string(c.addr)
			if taken[key] || inSample[key] || !eligible(c.h, size, maxPrice) {
				continue
			}
			inSample[key] = true
			seen = append(seen, c)
			if !regions[c.h.Region] {
				fresh = append(fresh, c)
			}
		}
		pick, ok := choose(rng, p, fresh, seen, size, taken, regions)
		if !ok {
			return nil, errorsmod.Wrapf(types.ErrNoHosters, "no eligible hoster found for slot %d (%d bytes, max price %s) in %d draws among %d active hosters", slot, size, maxPrice, attempts, n)
		}
		out = append(out, pick)
	}
	return out, nil
}

// choose draws a slot's hoster by weight among the eligible candidates in
// regions the order does not use yet, or among all eligible candidates when
// there is none, and marks it taken and its region used. It reports false
// when there is no eligible candidate at all.
func choose(rng *drbg, p types.Params, fresh, all []candidate, size uint64, taken, regions map[string]bool) (candidate, bool) {
	pool := fresh
	if len(pool) == 0 {
		pool = all
	}
	if len(pool) == 0 {
		return candidate{}, false
	}
	pick := weightedPick(rng, p, pool, size)
	taken[string(pick.addr)] = true
	regions[pick.h.Region] = true
	return pick, true
}

// weightedPick draws one candidate with probability proportional to its
// weight for a slot of size bytes.
func weightedPick(rng *drbg, p types.Params, pool []candidate, size uint64) candidate {
	var total uint64
	for _, c := range pool {
		total += weight(p, c.h, size)
	}
	r := rng.uint64n(total)
	for _, c := range pool {
		w := weight(p, c.h, size)
		if r < w {
			return c
		}
		r -= w
	}
	return pool[len(pool)-1]
}

// activeAt loads the active hoster at position i of the dense index.
func (k Keeper) activeAt(ctx context.Context, i uint64) (candidate, error) {
	addr, err := k.ActiveIndex.Get(ctx, i)
	if err != nil {
		return candidate{}, err
	}
	h, err := k.Hosters.Get(ctx, addr)
	if err != nil {
		return candidate{}, err
	}
	return candidate{addr: addr, h: h}, nil
}

// slotSizes lists the size of every slot of an order, slot order
// (core 0 replica 0, core 0 replica 1, ...).
func slotSizes(o types.Order) []uint64 {
	sizes := make([]uint64, 0, o.Slots())
	for _, c := range o.Cores {
		for r := uint32(0); r < o.Replicas; r++ {
			sizes = append(sizes, c.ByteLength)
		}
	}
	return sizes
}

// tryAssign tries to give every slot of a pending order a hoster, all or
// nothing. It returns false (and writes nothing but the attempt counter)
// when there are not enough eligible hosters.
func (k Keeper) tryAssign(ctx context.Context, p types.Params, o *types.Order) (bool, error) {
	seed, err := k.seed(ctx, assignTag, o.Id, uint64(o.AssignAttempts))
	if err != nil {
		return false, err
	}
	o.AssignAttempts++
	chosen, err := k.selectHosters(ctx, p, seed, slotSizes(*o), o.MaxPrice, nil, nil)
	if errors.Is(err, types.ErrNoHosters) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	hosters := make([]string, 0, len(chosen))
	i := 0
	for ci := range o.Cores {
		for r := uint32(0); r < o.Replicas; r++ {
			c := chosen[i]
			i++
			if err := k.assignSlot(ctx, p, *o, uint32(ci), r, c); err != nil {
				return false, err
			}
			hosters = append(hosters, c.h.Address)
		}
	}
	o.Status = types.ORDER_STATUS_ASSIGNED
	return true, k.emit(ctx, &types.EventOrderAssigned{OrderId: o.Id, Hosters: hosters})
}

// assignSlot gives a slot to a hoster: reserves its capacity (the core's
// size in o), writes the assignment and its index entry and opens its
// commit window.
func (k Keeper) assignSlot(ctx context.Context, p types.Params, o types.Order, core, replica uint32, c candidate) error {
	orderID, size := o.Id, o.Cores[core].ByteLength
	h, err := k.Hosters.Get(ctx, c.addr) // reload: the record may have moved in the index
	if err != nil {
		return err
	}
	h.Used += size
	h.Assignments++
	if err := k.Hosters.Set(ctx, c.addr, h); err != nil {
		return err
	}
	slot := types.SlotKey(core, replica)
	key := collections.Join(orderID, slot)
	n, err := k.assignmentCount(ctx)
	if err != nil {
		return err
	}
	if err := k.AssignmentIndex.Set(ctx, n, key); err != nil {
		return err
	}
	if err := k.AssignmentCount.Set(ctx, n+1); err != nil {
		return err
	}
	a := types.Assignment{
		Index:            n,
		OrderId:          orderID,
		CoreIndex:        core,
		Replica:          replica,
		Hoster:           h.Address,
		PricePerGibEpoch: h.PricePerGibEpoch,
		Paid:             math.ZeroInt(),
		AssignedHeight:   blockHeight(ctx),
	}
	if err := k.armCommit(ctx, p, &a, o.Cores[core].Length); err != nil {
		return err
	}
	if err := k.Assignments.Set(ctx, key, a); err != nil {
		return err
	}
	return k.AssignmentsByHoster.Set(ctx, collections.Join(c.addr, key))
}

// assignmentCount returns the number of live assignments.
func (k Keeper) assignmentCount(ctx context.Context) (uint64, error) {
	n, err := k.AssignmentCount.Get(ctx)
	if errors.Is(err, collections.ErrNotFound) {
		return 0, nil
	}
	return n, err
}

// unindexAssignment takes an assignment out of the dense index in O(1): the
// last entry moves into its position and that assignment records it.
func (k Keeper) unindexAssignment(ctx context.Context, a types.Assignment) error {
	n, err := k.assignmentCount(ctx)
	if err != nil {
		return err
	}
	if n == 0 || a.Index >= n {
		return fmt.Errorf("x/storage: assignment index of %s out of range (%d of %d)", types.SlotString(a.OrderId, a.CoreIndex, a.Replica), a.Index, n)
	}
	last := n - 1
	if a.Index != last {
		movedKey, err := k.AssignmentIndex.Get(ctx, last)
		if err != nil {
			return err
		}
		moved, err := k.Assignments.Get(ctx, movedKey)
		if err != nil {
			return err
		}
		moved.Index = a.Index
		if err := k.Assignments.Set(ctx, movedKey, moved); err != nil {
			return err
		}
		if err := k.AssignmentIndex.Set(ctx, a.Index, movedKey); err != nil {
			return err
		}
	}
	if err := k.AssignmentIndex.Remove(ctx, last); err != nil {
		return err
	}
	return k.AssignmentCount.Set(ctx, last)
}

// releaseSlot removes an assignment and frees the hoster's capacity. The
// caller settles payment first.
func (k Keeper) releaseSlot(ctx context.Context, o types.Order, a types.Assignment) error {
	addr, err := k.parseAddr(a.Hoster, "hoster")
	if err != nil {
		return err
	}
	h, err := k.Hosters.Get(ctx, addr)
	if err != nil {
		return err
	}
	size := o.Cores[a.CoreIndex].ByteLength
	if h.Used >= size {
		h.Used -= size
	} else {
		h.Used = 0
	}
	if h.Assignments > 0 {
		h.Assignments--
	}
	if err := k.Hosters.Set(ctx, addr, h); err != nil {
		return err
	}
	slot := types.SlotKey(a.CoreIndex, a.Replica)
	// Reload: a's index position may have moved since the caller read it
	// (releasing another slot swaps the last entry into its hole).
	stored, err := k.Assignments.Get(ctx, collections.Join(a.OrderId, slot))
	if err != nil {
		return err
	}
	if err := k.unindexAssignment(ctx, stored); err != nil {
		return err
	}
	if err := k.disarmCommit(ctx, &stored); err != nil {
		return err
	}
	if err := k.Assignments.Remove(ctx, collections.Join(a.OrderId, slot)); err != nil {
		return err
	}
	return k.AssignmentsByHoster.Remove(ctx, collections.Join(addr, collections.Join(a.OrderId, slot)))
}
