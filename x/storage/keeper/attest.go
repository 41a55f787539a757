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

// This file is the keeper API that x/attest uses to act on challenge
// outcomes. Each method touches one slot or one hoster (bounded work) and
// emits a typed event.

// GetAssignment returns the assignment of slot (core, replica) of an order.
func (k Keeper) GetAssignment(ctx context.Context, orderID uint64, core, replica uint32) (types.Assignment, error) {
	a, err := k.Assignments.Get(ctx, collections.Join(orderID, types.SlotKey(core, replica)))
	if errors.Is(err, collections.ErrNotFound) {
		return a, errorsmod.Wrapf(types.ErrAssignmentNotFound, "%s", types.SlotString(orderID, core, replica))
	}
	return a, err
}

// NumAssignments returns the number of live assignments; with
// AssignmentAt it lets x/attest sample a uniformly random assignment (index =
// random mod count) with two store reads, whatever the number of orders.
func (k Keeper) NumAssignments(ctx context.Context) (uint64, error) { return k.assignmentCount(ctx) }

// AssignmentAt returns the assignment at position i (0 <= i < count) of the
// dense assignment index. Positions change as assignments end; sample and use
// them within one block.
func (k Keeper) AssignmentAt(ctx context.Context, i uint64) (types.Assignment, error) {
	key, err := k.AssignmentIndex.Get(ctx, i)
	if errors.Is(err, collections.ErrNotFound) {
		return types.Assignment{}, errorsmod.Wrapf(types.ErrAssignmentNotFound, "no assignment at index %d", i)
	}
	if err != nil {
		return types.Assignment{}, err
	}
	return k.Assignments.Get(ctx, key)
}

// ReportPass records that the holder of a slot passed a challenge: the
// slot's and the hoster's pass counters go up. A slot whose pay was withheld
// after a fault earns again from the current epoch on; the epochs it was
// withheld are forfeited (they stay in the order's escrow).
func (k Keeper) ReportPass(ctx context.Context, orderID uint64, core, replica uint32) error {
	p, err := k.Params.Get(ctx)
	if err != nil {
		return err
	}
	cur := currentEpoch(ctx, p)
	a, err := k.updateOutcome(ctx, orderID, core, replica, func(a *types.Assignment, h *types.Hoster) {
		a.Passes++
		h.Passes++
		if a.Withheld {
			a.Withheld = false
			if a.PaidFromEpoch < cur {
				a.PaidFromEpoch = cur
			}
		}
	})
	if err != nil {
		return err
	}
	return k.emit(ctx, &types.EventPassReported{OrderId: orderID, CoreIndex: core, Replica: replica, Hoster: a.Hoster})
}

// ReportFault records that the holder of a slot failed a challenge (missed
// or wrong answer): the slot's and the hoster's fault counters go up and the
// slot's pay is withheld: what it has not been paid yet, and what it would
// earn until it passes a challenge again (ReportPass), is never paid. What
// else a fault costs (slash, replacement) is x/attest's decision, applied
// with SlashHosterToModule and ReplaceAssignment.
func (k Keeper) ReportFault(ctx context.Context, orderID uint64, core, replica uint32, reason string) error {
	a, err := k.updateOutcome(ctx, orderID, core, replica, func(a *types.Assignment, h *types.Hoster) {
		a.Faults++
		h.Faults++
		a.Withheld = true
	})
	if err != nil {
		return err
	}
	return k.emit(ctx, &types.EventFaultReported{OrderId: orderID, CoreIndex: core, Replica: replica, Hoster: a.Hoster, Reason: reason})
}

// updateOutcome loads a slot and its hoster, applies count to both and
// saves them; it returns the updated assignment.
func (k Keeper) updateOutcome(ctx context.Context, orderID uint64, core, replica uint32, count func(*types.Assignment, *types.Hoster)) (types.Assignment, error) {
	a, err := k.GetAssignment(ctx, orderID, core, replica)
	if err != nil {
		return a, err
	}
	addr, err := k.parseAddr(a.Hoster, "hoster")
	if err != nil {
		return a, err
	}
	h, err := k.getHoster(ctx, addr)
	if err != nil {
		return a, err
	}
	count(&a, &h)
	if err := k.Assignments.Set(ctx, collections.Join(orderID, types.SlotKey(core, replica)), a); err != nil {
		return a, err
	}
	return a, k.Hosters.Set(ctx, addr, h)
}

// SlashHoster takes fraction (0 < fraction <= 1) of a hoster's stake,
// truncated to an integer amount. The slashed coins are burned, or sent to
// params.slash_recipient when that is set. A hoster whose stake falls below
// params.min_stake is jailed: it keeps its current slots but gets no new ones
// until it adds stake. It returns the slashed amount.
func (k Keeper) SlashHoster(ctx context.Context, hoster sdk.AccAddress, fraction math.LegacyDec) (math.Int, error) {
	return k.slashHoster(ctx, hoster, fraction, "")
}

// SlashHosterToModule is SlashHoster with the slashed coins sent to module
// account toModule (x/attest, which pays part to the order's owner and
// keeps the rest for attestor fees) instead of params.slash_recipient; the
// event names that module account as recipient.
func (k Keeper) SlashHosterToModule(ctx context.Context, hoster sdk.AccAddress, fraction math.LegacyDec, toModule string) (math.Int, error) {
	if toModule == "" || k.accountKeeper.GetModuleAddress(toModule) == nil {
		return math.ZeroInt(), errorsmod.Wrapf(types.ErrInvalidAddress, "no module account %q", toModule)
	}
	return k.slashHoster(ctx, hoster, fraction, toModule)
}

func (k Keeper) slashHoster(ctx context.Context, hoster sdk.AccAddress, fraction math.LegacyDec, toModule string) (math.Int, error) {
	if fraction.IsNil() || !fraction.IsPositive() || fraction.GT(math.LegacyOneDec()) {
		return math.ZeroInt(), errorsmod.Wrapf(types.ErrInvalidFraction, "fraction must be in (0, 1], got %s", fraction)
	}
	p, err := k.Params.Get(ctx)
	if err != nil {
		return math.ZeroInt(), err
	}
	h, err := k.getHoster(ctx, hoster)
	if err != nil {
		return math.ZeroInt(), err
	}
	recipient := p.SlashRecipient
	amount := fraction.MulInt(h.Stake).TruncateInt()
	if toModule != "" {
		recipient = k.addrString(k.accountKeeper.GetModuleAddress(toModule))
	}
	if amount.IsPositive() {
		coins := sdk.NewCoins(sdk.NewCoin(p.Denom, amount))
		if toModule != "" {
			if err := k.bankKeeper.SendCoinsFromModuleToModule(ctx, types.ModuleName, toModule, coins); err != nil {
				return math.ZeroInt(), errorsmod.Wrap(err, "sending slashed stake")
			}
		} else if p.SlashRecipient == "" {
			if err := k.bankKeeper.BurnCoins(ctx, types.ModuleName, coins); err != nil {
				return math.ZeroInt(), errorsmod.Wrap(err, "burning slashed stake")
			}
		} else {
			to, err := k.parseAddr(p.SlashRecipient, "slash_recipient")
			if err != nil {
				return math.ZeroInt(), err
			}
			if err := k.bankKeeper.SendCoinsFromModuleToAccount(ctx, types.ModuleName, to, coins); err != nil {
				return math.ZeroInt(), errorsmod.Wrap(err, "sending slashed stake")
			}
		}
	}
	h.Stake = h.Stake.Sub(amount)
	if err := k.emit(ctx, &types.EventHosterSlashed{
		Hoster: h.Address, Fraction: fraction.String(), Amount: amount.String(),
		Remaining: h.Stake.String(), Recipient: recipient,
	}); err != nil {
		return math.ZeroInt(), err
	}
	if h.Status == types.HOSTER_STATUS_ACTIVE && h.Stake.LT(p.MinStake) {
		return amount, k.setStatus(ctx, hoster, &h, types.HOSTER_STATUS_JAILED, "stake below the minimum after a slash")
	}
	return amount, k.Hosters.Set(ctx, hoster, h)
}

// NumActiveHosters returns the number of active hosters; with
// ActiveHosterAt it lets x/attest sample attestors uniformly with bounded
// work.
func (k Keeper) NumActiveHosters(ctx context.Context) (uint64, error) {
	n, err := k.ActiveCount.Get(ctx)
	if errors.Is(err, collections.ErrNotFound) {
		return 0, nil
	}
	return n, err
}

// ActiveHosterAt returns the address of the active hoster at position i
// (0 <= i < NumActiveHosters) of the dense active index.
func (k Keeper) ActiveHosterAt(ctx context.Context, i uint64) (sdk.AccAddress, error) {
	bz, err := k.ActiveIndex.Get(ctx, i)
	if errors.Is(err, collections.ErrNotFound) {
		return nil, errorsmod.Wrapf(types.ErrHosterNotFound, "no active hoster at index %d", i)
	}
	return bz, err
}

// ReplaceAssignment moves slot (core, replica) of an order to another hoster
// chosen by the same rules as at placement (active, enough free capacity,
// price within the order's max, weighted, preferring regions the order's
// other slots do not use), excluding every hoster that currently holds a
// slot of the order. The old hoster is paid what accrued up to now and its
// capacity is released; the new one must commit before it earns. When no hoster qualifies it returns ErrNoHosters
// and changes nothing.
func (k Keeper) ReplaceAssignment(ctx context.Context, orderID uint64, core, replica uint32) (sdk.AccAddress, error) {
	p, err := k.Params.Get(ctx)
	if err != nil {
		return nil, err
	}
	o, err := k.getOrder(ctx, orderID)
	if err != nil {
		return nil, err
	}
	if o.IsEnded() {
		return nil, errorsmod.Wrapf(types.ErrOrderEnded, "order %d is %s", orderID, o.Status)
	}
	old, err := k.GetAssignment(ctx, orderID, core, replica)
	if err != nil {
		return nil, err
	}
	as, err := k.orderAssignments(ctx, orderID)
	if err != nil {
		return nil, err
	}
	// Exclude every current holder; keep the regions of the other slots'
	// holders so that the replacement spreads the order like placement does.
	exclude := make(map[string]bool, len(as))
	regions := make(map[string]bool, len(as))
	for _, a := range as {
		addr, err := k.parseAddr(a.Hoster, "hoster")
		if err != nil {
			return nil, err
		}
		exclude[string(addr)] = true
		if a.CoreIndex == core && a.Replica == replica {
			continue
		}
		h, err := k.getHoster(ctx, addr)
		if err != nil {
			return nil, err
		}
		regions[h.Region] = true
	}
	seed := blockSeed(ctx, replaceTag, orderID, types.SlotKey(core, replica), uint64(old.AssignedHeight))
	size := o.Cores[core].ByteLength
	chosen, err := k.selectHosters(ctx, p, seed, []uint64{size}, o.MaxPrice, exclude, regions)
	if err != nil {
		return nil, err
	}
	if _, err := k.settle(ctx, p, &o, &old, currentEpoch(ctx, p)); err != nil {
		return nil, err
	}
	if err := k.releaseSlot(ctx, o, old); err != nil {
		return nil, err
	}
	if err := k.assignSlot(ctx, orderID, core, replica, size, chosen[0]); err != nil {
		return nil, err
	}
	if o.Status == types.ORDER_STATUS_ACTIVE {
		o.Status = types.ORDER_STATUS_ASSIGNED // the new hoster has to commit
	}
	if err := k.Orders.Set(ctx, orderID, o); err != nil {
		return nil, err
	}
	return chosen[0].addr, k.emit(ctx, &types.EventAssignmentReplaced{
		OrderId: orderID, CoreIndex: core, Replica: replica, OldHoster: old.Hoster, NewHoster: chosen[0].h.Address,
	})
}
