package keeper

import (
	"context"
	"errors"

	"cosmossdk.io/collections"
	errorsmod "cosmossdk.io/errors"
	"cosmossdk.io/math"

	sdk "github.com/cosmos/cosmos-sdk/types"

	"github.com/datdot/datdot/x/storage/types"
)

// Commit windows
//
// A hoster given a slot has params.commit_window blocks to commit to it; a
// hoster whose core grew (MsgExtendOrder) has as long to commit to the new
// length. Each open window is an entry (deadline, (order, slot)) of
// CommitQueue; a commit at the due length or later closes it. EndBlock
// handles at most commit_expiries_per_block expired windows: each is a
// fault for the hoster (as if it failed a challenge) and the slot moves to
// another hoster chosen like at placement. When no other hoster can take it,
// the hoster keeps the slot with a new window (and a new fault when that one
// passes too); it earns nothing until it commits.

// commitSlotKey is the (order id, slot) part of a commit queue entry.
func commitSlotKey(a types.Assignment) collections.Pair[uint64, uint64] {
	return collections.Join(a.OrderId, types.SlotKey(a.CoreIndex, a.Replica))
}

// armCommit opens a commit window for a slot (due at length) unless one is
// open already; it updates a in memory and the queue in the store (the
// caller saves a).
func (k Keeper) armCommit(ctx context.Context, p types.Params, a *types.Assignment, length uint64) error {
	if a.CommitDeadline != 0 {
		return nil
	}
	a.CommitDeadline = blockHeight(ctx) + int64(p.CommitWindow)
	a.CommitDueLength = length
	return k.CommitQueue.Set(ctx, collections.Join(a.CommitDeadline, commitSlotKey(*a)))
}

// disarmCommit closes a slot's open commit window, if any (the caller saves
// a).
func (k Keeper) disarmCommit(ctx context.Context, a *types.Assignment) error {
	if a.CommitDeadline == 0 {
		return nil
	}
	if err := k.CommitQueue.Remove(ctx, collections.Join(a.CommitDeadline, commitSlotKey(*a))); err != nil {
		return err
	}
	a.CommitDeadline, a.CommitDueLength = 0, 0
	return nil
}

// processCommitDeadlines handles expired commit windows, oldest first.
func (k Keeper) processCommitDeadlines(ctx context.Context, p types.Params, now int64) error {
	keys, err := dueKeys(ctx, k.CommitQueue, now, p.CommitExpiriesPerBlock)
	if err != nil {
		return err
	}
	for _, key := range keys {
		slot := key.K2()
		a, err := k.Assignments.Get(ctx, slot)
		if errors.Is(err, collections.ErrNotFound) || (err == nil && a.CommitDeadline != key.K1()) {
			k.logStale("commit", slot)
			if err := k.CommitQueue.Remove(ctx, key); err != nil {
				return err
			}
			continue
		}
		if err != nil {
			return err
		}
		cacheCtx, write := sdk.UnwrapSDKContext(ctx).CacheContext()
		if err := k.expireCommit(cacheCtx, p, a); err != nil {
			// Cannot happen with consistent state: drop the window rather
			// than halt the chain.
			k.logger.Error("expiring commit window failed", "slot", slot, "err", err)
			if err := k.CommitQueue.Remove(ctx, key); err != nil {
				return err
			}
			a.CommitDeadline, a.CommitDueLength = 0, 0
			if err := k.Assignments.Set(ctx, slot, a); err != nil {
				return err
			}
			continue
		}
		write()
	}
	return nil
}

// expireCommit is one expired window: a fault, then a replacement (or a new
// window when nobody else can take the slot).
func (k Keeper) expireCommit(ctx context.Context, p types.Params, a types.Assignment) error {
	due := a.CommitDueLength
	if err := k.ReportFault(ctx, a.OrderId, a.CoreIndex, a.Replica, "commit window expired"); err != nil {
		return err
	}
	newHoster := ""
	addr, err := k.ReplaceAssignment(ctx, a.OrderId, a.CoreIndex, a.Replica)
	switch {
	case err == nil:
		newHoster = k.addrString(addr)
	case errors.Is(err, types.ErrNoHosters):
		a, err = k.GetAssignment(ctx, a.OrderId, a.CoreIndex, a.Replica)
		if err != nil {
			return err
		}
		if err := k.disarmCommit(ctx, &a); err != nil {
			return err
		}
		if err := k.armCommit(ctx, p, &a, due); err != nil {
			return err
		}
		if err := k.Assignments.Set(ctx, commitSlotKey(a), a); err != nil {
			return err
		}
	default:
		return err
	}
	return k.emit(ctx, &types.EventCommitWindowExpired{
		OrderId: a.OrderId, CoreIndex: a.CoreIndex, Replica: a.Replica, Hoster: a.Hoster, DueLength: due, NewHoster: newHoster,
	})
}

// releaseFee is what giving up slot a of order o costs its hoster:
// release_fee_epochs epochs of the slot's price at the core's current size,
// at most the hoster's stake.
func releaseFee(p types.Params, o types.Order, a types.Assignment, stake math.Int) math.Int {
	fee := types.SlotPrice(a.PricePerGibEpoch, o.Cores[a.CoreIndex].ByteLength).Mul(math.NewIntFromUint64(p.ReleaseFeeEpochs))
	if fee.GT(stake) {
		return stake
	}
	return fee
}

// releaseSlot implements MsgReleaseSlot: the slot moves to another hoster
// (chosen like a replacement; refused with ErrNoHosters, changing nothing,
// when nobody can take it), the hoster is paid what accrued, then pays the
// exit fee from its stake to the order's owner (and is jailed if its stake
// falls below the minimum).
func (k Keeper) releaseSlotMsg(ctx context.Context, msg *types.MsgReleaseSlot) (sdk.Coin, string, error) {
	addr, err := k.parseAddr(msg.Hoster, "hoster")
	if err != nil {
		return sdk.Coin{}, "", err
	}
	p, err := k.Params.Get(ctx)
	if err != nil {
		return sdk.Coin{}, "", err
	}
	o, err := k.getOrder(ctx, msg.OrderId)
	if err != nil {
		return sdk.Coin{}, "", err
	}
	if o.IsEnded() {
		return sdk.Coin{}, "", errorsmod.Wrapf(types.ErrOrderEnded, "order %d is %s", o.Id, o.Status)
	}
	if o.Status == types.ORDER_STATUS_PENDING || int(msg.CoreIndex) >= len(o.Cores) {
		return sdk.Coin{}, "", errorsmod.Wrapf(types.ErrNotAssigned, "%s holds no slot of core %d of order %d", msg.Hoster, msg.CoreIndex, o.Id)
	}
	a, err := k.hosterSlot(ctx, o, msg.CoreIndex, msg.Hoster)
	if err != nil {
		return sdk.Coin{}, "", err
	}
	newAddr, err := k.ReplaceAssignment(ctx, o.Id, a.CoreIndex, a.Replica)
	if err != nil {
		return sdk.Coin{}, "", err
	}
	h, err := k.getHoster(ctx, addr)
	if err != nil {
		return sdk.Coin{}, "", err
	}
	fee := releaseFee(p, o, a, h.Stake)
	if fee.IsPositive() {
		owner, err := k.parseAddr(o.Owner, "owner")
		if err != nil {
			return sdk.Coin{}, "", err
		}
		if err := k.bankKeeper.SendCoinsFromModuleToAccount(ctx, types.ModuleName, owner, sdk.NewCoins(sdk.NewCoin(p.Denom, fee))); err != nil {
			return sdk.Coin{}, "", errorsmod.Wrap(err, "paying the release fee")
		}
		h.Stake = h.Stake.Sub(fee)
	}
	if h.Status == types.HOSTER_STATUS_ACTIVE && h.Stake.LT(p.MinStake) {
		if err := k.setStatus(ctx, addr, &h, types.HOSTER_STATUS_JAILED, "stake below the minimum after a release fee"); err != nil {
			return sdk.Coin{}, "", err
		}
	} else if err := k.Hosters.Set(ctx, addr, h); err != nil {
		return sdk.Coin{}, "", err
	}
	newHoster := k.addrString(newAddr)
	return sdk.NewCoin(p.Denom, fee), newHoster, k.emit(ctx, &types.EventSlotReleased{
		OrderId: o.Id, CoreIndex: a.CoreIndex, Replica: a.Replica, Hoster: msg.Hoster, Fee: fee.String(), NewHoster: newHoster,
	})
}

// hosterSlot finds the slot of core of order o that hoster holds.
func (k Keeper) hosterSlot(ctx context.Context, o types.Order, core uint32, hoster string) (types.Assignment, error) {
	for r := uint32(0); r < o.Replicas; r++ {
		a, err := k.Assignments.Get(ctx, collections.Join(o.Id, types.SlotKey(core, r)))
		if err != nil {
			return a, errorsmod.Wrapf(err, "slot %s", types.SlotString(o.Id, core, r))
		}
		if a.Hoster == hoster {
			return a, nil
		}
	}
	return types.Assignment{}, errorsmod.Wrapf(types.ErrNotAssigned, "%s holds no slot of core %d of order %d", hoster, core, o.Id)
}

// SetAccruing starts or stops a slot's pay (for x/attest: pay follows
// proof). Stopping settles what accrued so far and then nothing accrues;
// starting again pays from the next complete epoch on, so epochs spent
// stopped are never paid. Setting the current state again is a no-op.
func (k Keeper) SetAccruing(ctx context.Context, orderID uint64, core, replica uint32, accruing bool) error {
	a, err := k.GetAssignment(ctx, orderID, core, replica)
	if err != nil {
		return err
	}
	if a.Suspended == !accruing {
		return nil
	}
	p, err := k.Params.Get(ctx)
	if err != nil {
		return err
	}
	o, err := k.getOrder(ctx, orderID)
	if err != nil {
		return err
	}
	cur := currentEpoch(ctx, p)
	if !accruing {
		if _, err := k.settle(ctx, p, &o, &a, cur); err != nil {
			return err
		}
		if err := k.Orders.Set(ctx, o.Id, o); err != nil {
			return err
		}
	} else if a.PaidFromEpoch < cur+1 {
		a.PaidFromEpoch = cur + 1
	}
	a.Suspended = !accruing
	if err := k.Assignments.Set(ctx, commitSlotKey(a), a); err != nil {
		return err
	}
	return k.emit(ctx, &types.EventSlotAccrual{OrderId: orderID, CoreIndex: core, Replica: replica, Hoster: a.Hoster, Accruing: accruing})
}

// IsAccruing reports whether a slot earns pay (not suspended).
func (k Keeper) IsAccruing(ctx context.Context, orderID uint64, core, replica uint32) (bool, error) {
	a, err := k.GetAssignment(ctx, orderID, core, replica)
	return !a.Suspended, err
}

// processPrunes deletes ended orders retention_blocks after they ended,
// oldest first, at most prunes_per_block per block. An ended order holds
// no assignment (they are released when it ends), so each deletion is a
// constant number of writes.
func (k Keeper) processPrunes(ctx context.Context, p types.Params, now int64) error {
	cutoff := now - int64(p.RetentionBlocks)
	if cutoff < 0 {
		return nil
	}
	keys, err := dueKeys(ctx, k.PruneQueue, cutoff, p.PrunesPerBlock)
	if err != nil {
		return err
	}
	for _, key := range keys {
		if err := k.PruneQueue.Remove(ctx, key); err != nil {
			return err
		}
		o, err := k.Orders.Get(ctx, key.K2())
		if errors.Is(err, collections.ErrNotFound) {
			k.logStale("prune", key.K2())
			continue
		}
		if err != nil {
			return err
		}
		if !o.IsEnded() {
			k.logStale("prune of a live order", key.K2())
			continue
		}
		owner, err := k.parseAddr(o.Owner, "owner")
		if err != nil {
			return err
		}
		if err := k.OrdersByOwner.Remove(ctx, collections.Join(owner, o.Id)); err != nil {
			return err
		}
		for _, c := range o.Cores {
			if err := k.OrdersByCore.Remove(ctx, collections.Join(c.Key, o.Id)); err != nil {
				return err
			}
		}
		if err := k.Orders.Remove(ctx, o.Id); err != nil {
			return err
		}
		if err := k.emit(ctx, &types.EventOrderPruned{OrderId: o.Id, Owner: o.Owner, EndedHeight: o.EndedHeight}); err != nil {
			return err
		}
	}
	return nil
}
