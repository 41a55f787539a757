package keeper

import (
	"context"
	"errors"

	"cosmossdk.io/collections"

	sdk "github.com/cosmos/cosmos-sdk/types"

	"github.com/datdot/datdot/x/storage/types"
)

// EndBlocker does the module's per-block work, each part bounded by a param
// whatever the number of orders, hosters or assignments: expire at most
// expiries_per_block orders whose end height has come, retry at most
// pending_retries_per_block pending orders holding together at most
// max_slots_per_order slots (with exponential back-off per order), pay out
// at most unbondings_per_block matured unbondings. Entries left over wait for the
// next block (the queues are ordered by height, so the oldest go first).
func (k Keeper) EndBlocker(ctx context.Context) error {
	p, err := k.Params.Get(ctx)
	if err != nil {
		return err
	}
	now := blockHeight(ctx)
	if err := k.processExpiries(ctx, p, now); err != nil {
		return err
	}
	if err := k.processPending(ctx, p, now); err != nil {
		return err
	}
	return k.processUnbondings(ctx, p, now)
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

func (k Keeper) processPending(ctx context.Context, p types.Params, now int64) error {
	if p.PendingRetriesPerBlock == 0 {
		return nil
	}
	keys, err := dueKeys(ctx, k.PendingQueue, now, p.PendingRetriesPerBlock)
	if err != nil {
		return err
	}
	slots := 0
	for _, key := range keys {
		o, err := k.Orders.Get(ctx, key.K2())
		if errors.Is(err, collections.ErrNotFound) {
			k.logStale("pending", key.K2())
			if err := k.PendingQueue.Remove(ctx, key); err != nil {
				return err
			}
			continue
		}
		if err != nil {
			return err
		}
		// Selection costs up to sample_attempts draws per slot and no gas
		// is charged in EndBlock, so the retries of one block together
		// cover at most max_slots_per_order slots (the first due order is
		// always retried); the rest stay queued, oldest first.
		if slots > 0 && slots+o.Slots() > int(p.MaxSlotsPerOrder) {
			break
		}
		slots += o.Slots()
		if err := k.PendingQueue.Remove(ctx, key); err != nil {
			return err
		}
		// Assign in a cached context: an error (it cannot happen with
		// consistent state) must neither halt the chain nor leave some
		// slots assigned; the order then stays pending.
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
			if err := k.PendingQueue.Set(ctx, collections.Join(o.RetryHeight, o.Id)); err != nil {
				return err
			}
		}
		if err := k.Orders.Set(ctx, o.Id, o); err != nil {
			return err
		}
	}
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
