package keeper

import (
	"context"
	stdmath "math"

	"cosmossdk.io/collections"
	errorsmod "cosmossdk.io/errors"
	"cosmossdk.io/math"

	sdk "github.com/cosmos/cosmos-sdk/types"

	"github.com/datdot/datdot/x/storage/types"
)

// Payments
//
// Escrow accrues to hosters lazily. A slot earns its price per epoch
// (SlotPrice(hoster's price per GiB when assigned, committed bytes)) times
// the hoster's pay factor in that epoch (1 unless x/attest lowered it for a
// poor reputation, see SetPayFactor) for every
// complete epoch after the one in which its hoster first committed, up to the
// order's end epoch. Each assignment stores paid_from_epoch, the first epoch
// not yet paid; settling moves (min(current, end) - paid_from) x price from
// the order's escrow to the hoster's account and advances paid_from. Nothing
// runs per block: settlement happens on commit, extend, cancel, expiry,
// claim and replacement, each touching only the slots of one order or one
// hoster. Queries compute the accrued amount the same way without writing.
//
// Escrow always covers what can accrue: an order is accepted only with a
// deposit of at least sum over slots of SlotPrice(max price, bytes) x
// duration, hosters' prices are at most the max price, and an extension must
// top up to the same bound for the remaining epochs at the new sizes.

// accrued returns the unpaid amount of a slot at epoch cur, the epoch it
// would be paid through and the number of epochs it covers. Each epoch pays
// the slot's price times the hoster's pay factor in that epoch (1 unless
// x/attest lowered it, see SetPayFactor): price x (payIndex(to) -
// payIndex(from)), truncated.
func (k Keeper) accrued(ctx context.Context, o types.Order, a types.Assignment, cur uint64) (math.Int, uint64, uint64, error) {
	if a.CommittedLength == 0 || a.Suspended {
		return math.ZeroInt(), a.PaidFromEpoch, 0, nil
	}
	to := cur
	if to > o.EndEpoch {
		to = o.EndEpoch
	}
	if a.PaidFromEpoch >= to {
		return math.ZeroInt(), a.PaidFromEpoch, 0, nil
	}
	epochs := to - a.PaidFromEpoch
	price := types.SlotPrice(a.PricePerGibEpoch, paidBytes(o, a))
	hoster, err := k.parseAddr(a.Hoster, "hoster")
	if err != nil {
		return math.ZeroInt(), 0, 0, err
	}
	last, found, err := k.payStep(ctx, hoster, to)
	if err != nil {
		return math.ZeroInt(), 0, 0, err
	}
	if !found {
		// No factor ever set up to `to`: full price for every epoch.
		return price.Mul(math.NewIntFromUint64(epochs)), to, epochs, nil
	}
	first := last
	if last.Epoch > a.PaidFromEpoch {
		if first, found, err = k.payStep(ctx, hoster, a.PaidFromEpoch); err != nil {
			return math.ZeroInt(), 0, 0, err
		}
	}
	units := payIndex(last, true, to).Sub(payIndex(first, found, a.PaidFromEpoch))
	return units.MulInt(price).TruncateInt(), to, epochs, nil
}

// payStep returns the hoster's pay-factor step in force at epoch e: the
// entry with the greatest epoch <= e (found false when there is none). One
// store seek, whatever the length of the history.
func (k Keeper) payStep(ctx context.Context, hoster sdk.AccAddress, e uint64) (types.PayFactor, bool, error) {
	iter, err := k.PayFactors.Iterate(ctx,
		collections.NewPrefixedPairRange[sdk.AccAddress, uint64](hoster).EndInclusive(e).Descending())
	if err != nil {
		return types.PayFactor{}, false, err
	}
	defer iter.Close()
	if !iter.Valid() {
		return types.PayFactor{}, false, nil
	}
	v, err := iter.Value()
	return v, err == nil, err
}

// payIndex is the pay index at the start of epoch e given the step in force
// at e: the sum of the factors of all epochs before e (e itself without a
// step, every epoch counting 1).
func payIndex(step types.PayFactor, found bool, e uint64) math.LegacyDec {
	if !found {
		return math.LegacyNewDecFromInt(math.NewIntFromUint64(e))
	}
	return step.Cumulative.Add(step.Factor.MulInt(math.NewIntFromUint64(e - step.Epoch)))
}

// SetPayFactor sets the factor (in [0, 1]) by which the hoster's pay is
// multiplied from the current epoch on; x/attest calls it when a
// performance check changes the hoster's reputation. Epochs before the
// current one keep the factor they had, however late their slots are
// settled: the history keeps one entry per epoch in which the factor
// changed, and settling reads at most two of them (no work proportional to
// the hoster's slots). What a lower factor does not pay stays in the
// order's escrow and goes back to the owner when the order ends.
func (k Keeper) SetPayFactor(ctx context.Context, hoster sdk.AccAddress, factor math.LegacyDec) error {
	if factor.IsNil() || factor.IsNegative() || factor.GT(math.LegacyOneDec()) {
		return errorsmod.Wrapf(types.ErrInvalidPayFactor, "%v is not in [0, 1]", factor)
	}
	p, err := k.Params.Get(ctx)
	if err != nil {
		return err
	}
	cur := currentEpoch(ctx, p)
	step, found, err := k.payStep(ctx, hoster, cur)
	if err != nil {
		return err
	}
	switch {
	case found && step.Factor.Equal(factor), !found && factor.Equal(math.LegacyOneDec()):
		return nil // unchanged
	case found && step.Epoch == cur:
		// Changed again within the epoch: the latest factor applies to it.
		step.Factor = factor
	default:
		step = types.PayFactor{Hoster: k.addrString(hoster), Epoch: cur, Factor: factor, Cumulative: payIndex(step, found, cur)}
	}
	return k.PayFactors.Set(ctx, collections.Join(hoster, cur), step)
}

// PayFactor returns the hoster's pay factor at the current epoch (1 when
// none was set).
func (k Keeper) PayFactor(ctx context.Context, hoster sdk.AccAddress) (math.LegacyDec, error) {
	p, err := k.Params.Get(ctx)
	if err != nil {
		return math.LegacyDec{}, err
	}
	step, found, err := k.payStep(ctx, hoster, currentEpoch(ctx, p))
	if err != nil || !found {
		return math.LegacyOneDec(), err
	}
	return step.Factor, nil
}

// paidBytes is the size a committed slot is paid for: the bytes its hoster
// committed to, which lag the core's size after an extension until the
// hoster re-commits. (A state without committed_bytes pays the core's size.)
func paidBytes(o types.Order, a types.Assignment) uint64 {
	size := o.Cores[a.CoreIndex].ByteLength
	if a.CommittedBytes != 0 && a.CommittedBytes < size {
		return a.CommittedBytes
	}
	return size
}

// settle pays a slot what accrued up to epoch cur, from the order's escrow to
// the hoster. It updates o and a in memory and saves a; the caller saves o.
func (k Keeper) settle(ctx context.Context, p types.Params, o *types.Order, a *types.Assignment, cur uint64) (math.Int, error) {
	amount, to, epochs, err := k.accrued(ctx, *o, *a, cur)
	if err != nil {
		return math.ZeroInt(), err
	}
	if epochs == 0 {
		return math.ZeroInt(), nil
	}
	if amount.GT(o.Escrow) {
		// Cannot happen with the deposit rules above; never pay out more
		// than the order holds.
		amount = o.Escrow
	}
	if amount.IsPositive() {
		addr, err := k.parseAddr(a.Hoster, "hoster")
		if err != nil {
			return math.ZeroInt(), err
		}
		if err := k.bankKeeper.SendCoinsFromModuleToAccount(ctx, types.ModuleName, addr, sdk.NewCoins(sdk.NewCoin(p.Denom, amount))); err != nil {
			return math.ZeroInt(), errorsmod.Wrap(err, "paying hoster")
		}
	}
	o.Escrow = o.Escrow.Sub(amount)
	o.Paid = o.Paid.Add(amount)
	a.Paid = a.Paid.Add(amount)
	a.PaidFromEpoch = to
	if err := k.Assignments.Set(ctx, collections.Join(a.OrderId, types.SlotKey(a.CoreIndex, a.Replica)), *a); err != nil {
		return math.ZeroInt(), err
	}
	return amount, k.emit(ctx, &types.EventPaymentSettled{
		OrderId: a.OrderId, CoreIndex: a.CoreIndex, Replica: a.Replica, Hoster: a.Hoster,
		Amount: amount.String(), Epochs: epochs, PaidThroughEpoch: to,
	})
}

// orderAssignments loads every assignment of an order, in slot order (at
// most params.max_slots_per_order).
func (k Keeper) orderAssignments(ctx context.Context, orderID uint64) ([]types.Assignment, error) {
	iter, err := k.Assignments.Iterate(ctx, collections.NewPrefixedPairRange[uint64, uint64](orderID))
	if err != nil {
		return nil, err
	}
	return iter.Values()
}

// settleOrder settles every slot of an order at epoch cur and saves it.
func (k Keeper) settleOrder(ctx context.Context, p types.Params, o *types.Order, cur uint64) ([]types.Assignment, error) {
	as, err := k.orderAssignments(ctx, o.Id)
	if err != nil {
		return nil, err
	}
	for i := range as {
		if _, err := k.settle(ctx, p, o, &as[i], cur); err != nil {
			return nil, err
		}
	}
	return as, k.Orders.Set(ctx, o.Id, *o)
}

// MaxClaimSlots bounds the slots one MsgClaimPayment without an order id
// settles.
const MaxClaimSlots = 200

// claimPayment implements MsgClaimPayment. It returns the amount paid and
// the order id a further claim continues from (0: done).
func (k Keeper) claimPayment(ctx context.Context, msg *types.MsgClaimPayment) (sdk.Coin, uint64, error) {
	var next uint64
	addr, err := k.parseAddr(msg.Hoster, "hoster")
	if err != nil {
		return sdk.Coin{}, 0, err
	}
	p, err := k.Params.Get(ctx)
	if err != nil {
		return sdk.Coin{}, 0, err
	}
	if _, err := k.getHoster(ctx, addr); err != nil {
		return sdk.Coin{}, 0, err
	}
	// With an order id, look at that order's slots (bounded by
	// max_slots_per_order); without, at every slot the hoster holds.
	var keys []collections.Pair[uint64, uint64]
	if msg.OrderId != 0 {
		if _, err := k.getOrder(ctx, msg.OrderId); err != nil {
			return sdk.Coin{}, 0, err
		}
		as, err := k.orderAssignments(ctx, msg.OrderId)
		if err != nil {
			return sdk.Coin{}, 0, err
		}
		for _, a := range as {
			if a.Hoster == msg.Hoster {
				keys = append(keys, collections.Join(a.OrderId, types.SlotKey(a.CoreIndex, a.Replica)))
			}
		}
		if len(keys) == 0 {
			return sdk.Coin{}, 0, errorsmod.Wrapf(types.ErrNotAssigned, "%s holds no slot of order %d", msg.Hoster, msg.OrderId)
		}
	} else {
		// At most MaxClaimSlots slots per message, from start_order_id on
		// (a hoster holds at most one slot per order); next says where the
		// next claim goes on.
		rng := new(collections.Range[collections.Pair[sdk.AccAddress, collections.Pair[uint64, uint64]]]).
			StartInclusive(collections.Join(addr, collections.Join(msg.StartOrderId, uint64(0)))).
			EndExclusive(collections.Join(addr, collections.Join(uint64(stdmath.MaxUint64), uint64(stdmath.MaxUint64))))
		iter, err := k.AssignmentsByHoster.Iterate(ctx, rng)
		if err != nil {
			return sdk.Coin{}, 0, err
		}
		defer iter.Close()
		for ; iter.Valid(); iter.Next() {
			key, err := iter.Key()
			if err != nil {
				return sdk.Coin{}, 0, err
			}
			if len(keys) == MaxClaimSlots {
				next = key.K2().K1()
				break
			}
			keys = append(keys, key.K2())
		}
	}
	cur := currentEpoch(ctx, p)
	total := math.ZeroInt()
	orders := make(map[uint64]*types.Order)
	for _, key := range keys {
		o := orders[key.K1()]
		if o == nil {
			ord, err := k.getOrder(ctx, key.K1())
			if err != nil {
				return sdk.Coin{}, 0, err
			}
			o = &ord
			orders[key.K1()] = o
		}
		a, err := k.Assignments.Get(ctx, key)
		if err != nil {
			return sdk.Coin{}, 0, err
		}
		amt, err := k.settle(ctx, p, o, &a, cur)
		if err != nil {
			return sdk.Coin{}, 0, err
		}
		total = total.Add(amt)
	}
	for _, key := range keys {
		if o := orders[key.K1()]; o != nil {
			if err := k.Orders.Set(ctx, o.Id, *o); err != nil {
				return sdk.Coin{}, 0, err
			}
			delete(orders, key.K1())
		}
	}
	return sdk.NewCoin(p.Denom, total), next, nil
}
