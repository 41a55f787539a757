package keeper

import (
	"context"
	"errors"
	"math/bits"

	"cosmossdk.io/collections"

	sdk "github.com/cosmos/cosmos-sdk/types"

	"github.com/datdot/datdot/x/storage/types"
)

// EndBlocker does the module's per-block work, each part bounded by a param
// whatever the number of orders, hosters or assignments: expire at most
// expiries_per_block orders whose end height has come, handle at most
// commit_expiries_per_block expired commit windows, retry pending orders
// within pending_retries_per_block and pending_read_budget (fair across
// order sizes, see processPending), pay out at most unbondings_per_block
// matured unbondings and delete at most prunes_per_block ended orders.
// Entries left over wait for the next block (the queues are ordered by
// height, so the oldest go first). Last it records the block's hash, the
// seed of the next block's assignments.
func (k Keeper) EndBlocker(ctx context.Context) error {
	p, err := k.Params.Get(ctx)
	if err != nil {
		return err
	}
	now := blockHeight(ctx)
	if err := k.processExpiries(ctx, p, now); err != nil {
		return err
	}
	if err := k.processCommitDeadlines(ctx, p, now); err != nil {
		return err
	}
	if err := k.processPending(ctx, p, now); err != nil {
		return err
	}
	if err := k.processUnbondings(ctx, p, now); err != nil {
		return err
	}
	if err := k.processPrunes(ctx, p, now); err != nil {
		return err
	}
	// The next block's assignments draw from this block's hash, which is
	// known to everyone (and to gas simulation) before that block.
	if h := blockHash(ctx); len(h) > 0 {
		return k.SeedHash.Set(ctx, h)
	}
	return nil
}

// blockHash is the hash of the block being executed (empty in InitChain and
// plain test contexts).
func blockHash(ctx context.Context) []byte {
	sdkCtx := sdk.UnwrapSDKContext(ctx)
	if h := sdkCtx.HeaderInfo().Hash; len(h) > 0 {
		return h
	}
	return sdkCtx.HeaderHash()
}

// dueKeys returns up to limit keys of a height-ordered queue at or before now.
func dueKeys[K2 any](ctx context.Context, q collections.KeySet[collections.Pair[int64, K2]], now int64, limit uint32) ([]collections.Pair[int64, K2], error) {
	// keys (h, _) with h <= now are exactly those before the prefix now+1
	rng := new(collections.Range[collections.Pair[int64, K2]]).
		EndExclusive(collections.PairPrefix[int64, K2](now + 1))
	iter, err := q.Iterate(ctx, rng)
	if err != nil {
		return nil, err
	}
	defer iter.Close()
	var out []collections.Pair[int64, K2]
	for ; iter.Valid() && uint32(len(out)) < limit; iter.Next() {
		key, err := iter.Key()
		if err != nil {
			return nil, err
		}
		out = append(out, key)
	}
	return out, nil
}

func (k Keeper) processExpiries(ctx context.Context, p types.Params, now int64) error {
	keys, err := dueKeys(ctx, k.ExpiryQueue, now, p.ExpiriesPerBlock)
	if err != nil {
		return err
	}
	for _, key := range keys {
		o, err := k.Orders.Get(ctx, key.K2())
		if errors.Is(err, collections.ErrNotFound) {
			k.logStale("expiry", key.K2())
			if err := k.ExpiryQueue.Remove(ctx, key); err != nil {
				return err
			}
			continue
		}
		if err != nil {
			return err
		}
		// Settle in a cached context: a failed payout or refund (it cannot
		// happen with consistent state) must neither halt the chain nor
		// leave the order half settled.
		cacheCtx, write := sdk.UnwrapSDKContext(ctx).CacheContext()
		ended := o
		refund, err := k.finishOrder(cacheCtx, p, &ended, types.ORDER_STATUS_EXPIRED)
		if err == nil {
			err = k.emit(cacheCtx, &types.EventOrderExpired{OrderId: o.Id, Refund: refund.Amount.String(), Owner: o.Owner})
		}
		if err == nil {
			write()
			continue
		}
		// Try again one epoch later: the order is extended by an epoch
		// (payments stay capped by its escrow) and re-queued.
		k.logger.Error("order expiry failed, retrying next epoch", "order", o.Id, "err", err)
		if err := k.ExpiryQueue.Remove(ctx, key); err != nil {
			return err
		}
		o.EndEpoch++
		o.DurationEpochs++
		if err := k.ExpiryQueue.Set(ctx, collections.Join(endHeight(p, o), o.Id)); err != nil {
			return err
		}
		if err := k.Orders.Set(ctx, o.Id, o); err != nil {
			return err
		}
		if err := k.emit(ctx, &types.EventOrderExtended{OrderId: o.Id, EndEpoch: o.EndEpoch, TopUp: "0", Owner: o.Owner}); err != nil {
			return err
		}
	}
	return nil
}

// sizeClass groups pending orders by slot count for the fair retry queue:
// class c holds orders of 2^(c-1) < slots <= 2^c (class 0: one slot).
func sizeClass(slots int) uint32 {
	if slots <= 1 {
		return 0
	}
	return uint32(bits.Len32(uint32(slots - 1)))
}

// retryReads estimates the store reads one assignment attempt of an order
// of the given slots does with n active hosters: the scan reads every
// active hoster and its index entry, sampling two reads per draw; each
// assigned slot then does a handful more.
func retryReads(p types.Params, n uint64, slots int) uint64 {
	per := uint64(4 * slots)
	if n <= uint64(p.ScanThreshold) {
		return 2*n + per + 1
	}
	return 2*uint64(slots)*uint64(p.SampleAttempts) + per + 1
}

// processPending retries due pending orders, fairly across sizes. The queue
// is split by size class (sizeClass); each block goes round-robin over the
// classes, taking the oldest due order of each in turn. In the first round
// every class with a due order gets one retry whatever its cost, so a big
// order never delays a small one by more than that round; later rounds run
// while their estimated reads (retryReads) fit pending_read_budget. At most
// pending_retries_per_block orders are looked at. An order still pending
// pending_timeout_blocks after placement is cancelled and refunded instead.
func (k Keeper) processPending(ctx context.Context, p types.Params, now int64) error {
	if p.PendingRetriesPerBlock == 0 {
		return nil
	}
	n, err := k.activeCount(ctx)
	if err != nil {
		return err
	}
	maxClass := sizeClass(int(p.MaxSlotsPerOrder))
	budget := p.PendingReadBudget
	looked := uint32(0)
	done := make([]bool, maxClass+1) // no due order left in the class
	for round := 0; looked < p.PendingRetriesPerBlock; round++ {
		progressed := false
		for c := uint32(0); c <= maxClass && looked < p.PendingRetriesPerBlock; c++ {
			if done[c] {
				continue
			}
			key, ok, err := k.duePending(ctx, c, now)
			if err != nil {
				return err
			}
			if !ok {
				done[c] = true
				continue
			}
			looked++
			budget -= k.budgetCharge(budget, 1) // the queue read
			o, err := k.Orders.Get(ctx, key.K3())
			if errors.Is(err, collections.ErrNotFound) {
				k.logStale("pending", key.K3())
				if err := k.PendingQueue.Remove(ctx, key); err != nil {
					return err
				}
				continue
			}
			if err != nil {
				return err
			}
			cost := retryReads(p, n, o.Slots())
			if round > 0 && cost > budget {
				done[c] = true // over budget: the class waits for the next block
				continue
			}
			budget -= k.budgetCharge(budget, cost)
			progressed = true
			if err := k.retryPending(ctx, p, now, key, o); err != nil {
				return err
			}
		}
		if !progressed {
			break
		}
	}
	return nil
}

// budgetCharge is what a cost takes from the budget (never more than left).
func (k Keeper) budgetCharge(budget, cost uint64) uint64 {
	if cost > budget {
		return budget
	}
	return cost
}

// duePending returns the oldest due entry of size class c.
func (k Keeper) duePending(ctx context.Context, c uint32, now int64) (collections.Triple[uint32, int64, uint64], bool, error) {
	rng := collections.NewPrefixedTripleRange[uint32, int64, uint64](c)
	iter, err := k.PendingQueue.Iterate(ctx, rng)
	if err != nil {
		return collections.Triple[uint32, int64, uint64]{}, false, err
	}
	defer iter.Close()
	if !iter.Valid() {
		return collections.Triple[uint32, int64, uint64]{}, false, nil
	}
	key, err := iter.Key()
	if err != nil {
		return key, false, err
	}
	return key, key.K2() <= now, nil
}

// pendingKey is an order's pending queue key.
func pendingKey(o types.Order) collections.Triple[uint32, int64, uint64] {
	return collections.Join3(sizeClass(o.Slots()), o.RetryHeight, o.Id)
}

// retryPending makes one assignment attempt for a due pending order, or
// cancels it when it has waited pending_timeout_blocks.
func (k Keeper) retryPending(ctx context.Context, p types.Params, now int64, key collections.Triple[uint32, int64, uint64], o types.Order) error {
	if err := k.PendingQueue.Remove(ctx, key); err != nil {
		return err
	}
	deadline := o.CreatedHeight + int64(p.PendingTimeoutBlocks)
	if now >= deadline {
		return k.timeOut(ctx, p, o)
	}
	// Assign in a cached context: an error (it cannot happen with
	// consistent state) must neither halt the chain nor leave some slots
	// assigned; the order then stays pending.
	cacheCtx, write := sdk.UnwrapSDKContext(ctx).CacheContext()
	attempt := o
	ok, err := k.tryAssign(cacheCtx, p, &attempt)
	if err != nil {
		k.logger.Error("assigning pending order failed, retrying next block", "order", o.Id, "err", err)
		ok = false
		o.AssignAttempts++
	} else {
		write()
		o = attempt
	}
	if ok {
		o.RetryHeight = 0
	} else {
		o.RetryHeight = now + retryDelay(o.AssignAttempts)
		if o.RetryHeight > deadline {
			o.RetryHeight = deadline
		}
		if err := k.PendingQueue.Set(ctx, pendingKey(o)); err != nil {
			return err
		}
	}
	return k.Orders.Set(ctx, o.Id, o)
}

// timeOut cancels an order that stayed pending too long and refunds its
// escrow (the placement fee was burned at placement).
func (k Keeper) timeOut(ctx context.Context, p types.Params, o types.Order) error {
	o.RetryHeight = 0 // its queue entry is already gone
	cacheCtx, write := sdk.UnwrapSDKContext(ctx).CacheContext()
	ended := o
	refund, err := k.finishOrder(cacheCtx, p, &ended, types.ORDER_STATUS_CANCELLED)
	if err == nil {
		err = k.emit(cacheCtx, &types.EventOrderTimedOut{OrderId: o.Id, Owner: o.Owner, Refund: refund.Amount.String()})
	}
	if err != nil {
		// Cannot happen with consistent state; try again later.
		k.logger.Error("timing out pending order failed", "order", o.Id, "err", err)
		o.Status = types.ORDER_STATUS_PENDING
		o.RetryHeight = blockHeight(ctx) + maxRetryDelay
		if err := k.PendingQueue.Set(ctx, pendingKey(o)); err != nil {
			return err
		}
		return k.Orders.Set(ctx, o.Id, o)
	}
	write()
	return nil
}

// maxRetryDelay caps the back-off between assignment attempts of a
// pending order, in blocks.
const maxRetryDelay = 64

// retryDelay is the wait before the next assignment attempt of an order
// that has failed attempts times: 1, 2, 4, ... blocks, at most
// maxRetryDelay. An order that cannot be assigned (too many slots, a max
// price below every hoster's) thus costs little EndBlock work over its
// life, and one that waits for new hosters is retried within
// maxRetryDelay blocks of their arrival.
func retryDelay(attempts uint32) int64 {
	if attempts == 0 {
		return 1
	}
	d := int64(1)
	for i := uint32(1); i < attempts && d < maxRetryDelay; i++ {
		d <<= 1
	}
	return d
}

// logStale reports a queue entry whose order or hoster record is missing.
// That cannot happen with consistent state; since an EndBlock error would
// halt the chain, the caller drops the entry instead.
func (k Keeper) logStale(queue string, entry any) {
	k.logger.Error("dropping queue entry without a record", "queue", queue, "entry", entry)
}

func (k Keeper) processUnbondings(ctx context.Context, p types.Params, now int64) error {
	keys, err := dueKeys(ctx, k.UnbondingQueue, now, p.UnbondingsPerBlock)
	if err != nil {
		return err
	}
	for _, key := range keys {
		h, err := k.Hosters.Get(ctx, key.K2())
		if errors.Is(err, collections.ErrNotFound) {
			k.logStale("unbonding", key.K2().String())
			if err := k.UnbondingQueue.Remove(ctx, key); err != nil {
				return err
			}
			continue
		}
		if err != nil {
			return err
		}
		// Pay out in a cached context so that a failed payout leaves
		// nothing half done.
		cacheCtx, write := sdk.UnwrapSDKContext(ctx).CacheContext()
		if _, err := k.completeUnbonding(cacheCtx, key.K2(), h); err == nil {
			write()
			continue
		} else {
			// Cannot happen with consistent state; keep the chain going and
			// try again after another unbonding period.
			k.logger.Error("unbonding payout failed, retrying later", "hoster", h.Address, "err", err)
		}
		if err := k.UnbondingQueue.Remove(ctx, key); err != nil {
			return err
		}
		h.UnbondingHeight = now + int64(p.UnbondingBlocks) + 1
		if err := k.Hosters.Set(ctx, key.K2(), h); err != nil {
			return err
		}
		if err := k.UnbondingQueue.Set(ctx, collections.Join(h.UnbondingHeight, key.K2())); err != nil {
			return err
		}
		if err := k.emit(ctx, &types.EventHosterLeaving{Hoster: h.Address, UnbondingHeight: h.UnbondingHeight}); err != nil {
			return err
		}
	}
	return nil
}
