package keeper

import (
	"context"

	"cosmossdk.io/collections"
	errorsmod "cosmossdk.io/errors"
	"cosmossdk.io/math"

	sdk "github.com/cosmos/cosmos-sdk/types"

	"github.com/datdot/datdot/x/storage/types"
)

// Payments
//
// Escrow accrues to hosters lazily. A slot earns its price per epoch
// (SlotPrice(hoster's price per GiB when assigned, committed bytes)) for every
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

// accrued returns the unpaid amount of a slot at epoch cur and the epoch it
// would be paid through.
func accrued(o types.Order, a types.Assignment, cur uint64) (math.Int, uint64, uint64) {
	if a.CommittedLength == 0 || a.Withheld {
		return math.ZeroInt(), a.PaidFromEpoch, 0
	}
	to := cur
	if to > o.EndEpoch {
		to = o.EndEpoch
	}
	if a.PaidFromEpoch >= to {
		return math.ZeroInt(), a.PaidFromEpoch, 0
	}
	epochs := to - a.PaidFromEpoch
	price := types.SlotPrice(a.PricePerGibEpoch, paidBytes(o, a))
	return price.Mul(math.NewIntFromUint64(epochs)), to, epochs
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
	amount, to, epochs := accrued(*o, *a, cur)
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

// claimPayment implements MsgClaimPayment.
func (k Keeper) claimPayment(ctx context.Context, msg *types.MsgClaimPayment) (sdk.Coin, error) {
	addr, err := k.parseAddr(msg.Hoster, "hoster")
	if err != nil {
		return sdk.Coin{}, err
	}
	p, err := k.Params.Get(ctx)
	if err != nil {
		return sdk.Coin{}, err
	}
	if _, err := k.getHoster(ctx, addr); err != nil {
		return sdk.Coin{}, err
	}
	// With an order id, look at that order's slots (bounded by
	// max_slots_per_order); without, at every slot the hoster holds.
	var keys []collections.Pair[uint64, uint64]
	if msg.OrderId != 0 {
		if _, err := k.getOrder(ctx, msg.OrderId); err != nil {
			return sdk.Coin{}, err
		}
		as, err := k.orderAssignments(ctx, msg.OrderId)
		if err != nil {
			return sdk.Coin{}, err
		}
		for _, a := range as {
			if a.Hoster == msg.Hoster {
				keys = append(keys, collections.Join(a.OrderId, types.SlotKey(a.CoreIndex, a.Replica)))
			}
		}
		if len(keys) == 0 {
			return sdk.Coin{}, errorsmod.Wrapf(types.ErrNotAssigned, "%s holds no slot of order %d", msg.Hoster, msg.OrderId)
		}
	} else {
		iter, err := k.AssignmentsByHoster.Iterate(ctx, collections.NewPrefixedPairRange[sdk.AccAddress, collections.Pair[uint64, uint64]](addr))
		if err != nil {
			return sdk.Coin{}, err
		}
		all, err := iter.Keys()
		if err != nil {
			return sdk.Coin{}, err
		}
		for _, key := range all {
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
				return sdk.Coin{}, err
			}
			o = &ord
			orders[key.K1()] = o
		}
		a, err := k.Assignments.Get(ctx, key)
		if err != nil {
			return sdk.Coin{}, err
		}
		amt, err := k.settle(ctx, p, o, &a, cur)
		if err != nil {
			return sdk.Coin{}, err
		}
		total = total.Add(amt)
	}
	for _, key := range keys {
		if o := orders[key.K1()]; o != nil {
			if err := k.Orders.Set(ctx, o.Id, *o); err != nil {
				return sdk.Coin{}, err
			}
			delete(orders, key.K1())
		}
	}
	return sdk.NewCoin(p.Denom, total), nil
}
