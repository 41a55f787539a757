package keeper

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	stdmath "math"

	"cosmossdk.io/collections"
	errorsmod "cosmossdk.io/errors"
	"cosmossdk.io/math"

	sdk "github.com/cosmos/cosmos-sdk/types"

	"github.com/datdot/datdot/hypercore"
	"github.com/datdot/datdot/x/storage/types"
)

// getOrder loads an order or returns ErrOrderNotFound.
func (k Keeper) getOrder(ctx context.Context, id uint64) (types.Order, error) {
	o, err := k.Orders.Get(ctx, id)
	if errors.Is(err, collections.ErrNotFound) {
		return o, errorsmod.Wrapf(types.ErrOrderNotFound, "order %d", id)
	}
	return o, err
}

// GetOrder returns an order (for x/attest and queries).
func (k Keeper) GetOrder(ctx context.Context, id uint64) (types.Order, error) {
	return k.getOrder(ctx, id)
}

// endHeight is the height at which an order expires: the first block of its
// end epoch.
func endHeight(p types.Params, o types.Order) int64 { return int64(o.EndEpoch * p.EpochBlocks) }

// CoreVerifyGas is charged for each core signature the chain checks: up to
// three ed25519 verifications (a signature holds at most 256 bytes) plus
// hashing the manifest and signable, priced like the ante handler's
// signature checks (590 gas per ed25519 verification).
const CoreVerifyGas = 2000

// verifyCore checks a core's fields, derives its byte length from its merkle
// roots (which must hash to the signed tree hash; a declared byte length
// that differs is refused) and checks its writer's signature over the tree
// hash (Hypercore v11 rules), charging CoreVerifyGas first so that a
// message failing on its last core still pays for the ones before. It
// returns the core with byte_length filled in.
func verifyCore(ctx context.Context, p types.Params, c types.Core, i int) (types.Core, error) {
	sdk.UnwrapSDKContext(ctx).GasMeter().ConsumeGas(CoreVerifyGas, "x/storage core signature")
	c, err := c.WithDerivedByteLength()
	if err != nil {
		return c, errorsmod.Wrapf(err, "core %d", i)
	}
	if err := c.ValidateBasic(p.MaxCoreBytes); err != nil {
		return c, errorsmod.Wrapf(err, "core %d", i)
	}
	if err := hypercore.VerifyTreeSignature(c.Key, c.Manifest, c.TreeHash, c.Length, c.Fork, c.Signature); err != nil {
		return c, errorsmod.Wrapf(types.ErrBadSignature, "core %d (key %X, length %d): %v", i, c.Key, c.Length, err)
	}
	return c, nil
}

// requiredEscrow is what must be in escrow for the epochs from `from` to the
// order's end at the order's max price: sum over slots of
// SlotPrice(max price, bytes) x epochs.
func requiredEscrow(o types.Order, from uint64) math.Int {
	if from < o.StartEpoch {
		from = o.StartEpoch
	}
	if o.EndEpoch <= from {
		return math.ZeroInt()
	}
	epochs := math.NewIntFromUint64(o.EndEpoch - from)
	total := math.ZeroInt()
	for _, c := range o.Cores {
		per := types.SlotPrice(o.MaxPrice, c.ByteLength).MulRaw(int64(o.Replicas))
		total = total.Add(per.Mul(epochs))
	}
	return total
}

// placeOrder implements MsgPlaceOrder.
func (k Keeper) placeOrder(ctx context.Context, msg *types.MsgPlaceOrder) (types.Order, error) {
	owner, err := k.parseAddr(msg.Owner, "owner")
	if err != nil {
		return types.Order{}, err
	}
	p, err := k.Params.Get(ctx)
	if err != nil {
		return types.Order{}, err
	}
	replicas, err := types.ValidateShape(p, len(msg.Cores), msg.Replicas, msg.ErasureK, msg.ErasureN)
	if err != nil {
		return types.Order{}, err
	}
	if err := types.CheckDistinctKeys(msg.Cores); err != nil {
		return types.Order{}, err
	}
	if err := types.ValidatePrice(msg.MaxPrice); err != nil {
		return types.Order{}, err
	}
	if msg.DurationEpochs == 0 || msg.DurationEpochs > p.MaxDurationEpochs {
		return types.Order{}, errorsmod.Wrapf(types.ErrInvalidDuration, "duration must be 1..%d epochs, got %d", p.MaxDurationEpochs, msg.DurationEpochs)
	}
	if err := checkCoin(msg.Deposit, p, "deposit", types.ErrDepositTooLow); err != nil {
		return types.Order{}, err
	}
	cores := make([]types.Core, len(msg.Cores))
	for i, c := range msg.Cores {
		if cores[i], err = verifyCore(ctx, p, c, i); err != nil {
			return types.Order{}, err
		}
	}
	cur := currentEpoch(ctx, p)
	o := types.Order{
		Owner:          msg.Owner,
		Cores:          cores,
		Replicas:       replicas,
		ErasureK:       msg.ErasureK,
		ErasureN:       msg.ErasureN,
		MaxPrice:       msg.MaxPrice,
		DurationEpochs: msg.DurationEpochs,
		StartEpoch:     cur + 1,
		EndEpoch:       cur + 1 + msg.DurationEpochs,
		Escrow:         msg.Deposit.Amount,
		Paid:           math.ZeroInt(),
		Status:         types.ORDER_STATUS_PENDING,
		CreatedHeight:  blockHeight(ctx),
	}
	if need := requiredEscrow(o, cur); msg.Deposit.Amount.LT(need) {
		return types.Order{}, errorsmod.Wrapf(types.ErrDepositTooLow,
			"deposit %s is below %s%s (max price %s per GiB per epoch x %d slots x %d epochs, each slot rounded up)",
			msg.Deposit, need, p.Denom, msg.MaxPrice, o.Slots(), msg.DurationEpochs)
	}
	if err := k.bankKeeper.SendCoinsFromAccountToModule(ctx, owner, types.ModuleName, sdk.NewCoins(msg.Deposit)); err != nil {
		return types.Order{}, errorsmod.Wrap(err, "escrowing deposit")
	}
	id, err := k.NextOrderID.Next(ctx)
	if err != nil {
		return types.Order{}, err
	}
	o.Id = id
	if err := k.emit(ctx, &types.EventOrderPlaced{
		OrderId: id, Owner: msg.Owner, Cores: uint32(len(o.Cores)), Slots: uint32(o.Slots()),
		Deposit: msg.Deposit.Amount.String(), EndEpoch: o.EndEpoch,
	}); err != nil {
		return types.Order{}, err
	}
	if err := k.OrdersByOwner.Set(ctx, collections.Join(owner, id)); err != nil {
		return types.Order{}, err
	}
	if err := k.ExpiryQueue.Set(ctx, collections.Join(endHeight(p, o), id)); err != nil {
		return types.Order{}, err
	}
	ok, err := k.tryAssign(ctx, p, &o)
	if err != nil {
		return types.Order{}, err
	}
	if !ok {
		if err := k.queuePending(ctx, &o, "not enough eligible hosters"); err != nil {
			return types.Order{}, err
		}
	}
	return o, k.Orders.Set(ctx, id, o)
}

// queuePending puts an order in the pending queue for the next block.
func (k Keeper) queuePending(ctx context.Context, o *types.Order, reason string) error {
	o.Status = types.ORDER_STATUS_PENDING
	o.RetryHeight = blockHeight(ctx) + 1
	if err := k.PendingQueue.Set(ctx, collections.Join(o.RetryHeight, o.Id)); err != nil {
		return err
	}
	return k.emit(ctx, &types.EventOrderPending{OrderId: o.Id, Reason: reason, RetryHeight: o.RetryHeight})
}

// ownedOrder loads a live order and checks its owner.
func (k Keeper) ownedOrder(ctx context.Context, ownerStr string, id uint64) (types.Order, error) {
	if _, err := k.parseAddr(ownerStr, "owner"); err != nil {
		return types.Order{}, err
	}
	o, err := k.getOrder(ctx, id)
	if err != nil {
		return o, err
	}
	if o.Owner != ownerStr {
		return o, errorsmod.Wrapf(types.ErrNotOrderOwner, "order %d belongs to %s", id, o.Owner)
	}
	if o.IsEnded() {
		return o, errorsmod.Wrapf(types.ErrOrderEnded, "order %d is %s", id, o.Status)
	}
	return o, nil
}

// extendOrder implements MsgExtendOrder.
func (k Keeper) extendOrder(ctx context.Context, msg *types.MsgExtendOrder) error {
	o, err := k.ownedOrder(ctx, msg.Owner, msg.OrderId)
	if err != nil {
		return err
	}
	owner, _ := k.parseAddr(msg.Owner, "owner")
	p, err := k.Params.Get(ctx)
	if err != nil {
		return err
	}
	if len(msg.Cores) == 0 && msg.ExtraEpochs == 0 && (msg.TopUp.Amount.IsNil() || msg.TopUp.Amount.IsZero()) {
		return errorsmod.Wrap(types.ErrInvalidCore, "nothing to extend: give cores, extra epochs or a top-up")
	}
	// An order whose end epoch has begun is over even if EndBlock has not
	// expired it yet (at most expiries_per_block per block). Extending it
	// would let its slots accrue for past epochs that requiredEscrow, which
	// counts from the current epoch, does not fund.
	if cur := currentEpoch(ctx, p); cur >= o.EndEpoch {
		return errorsmod.Wrapf(types.ErrOrderEnded, "order %d ended at epoch %d (now %d) and awaits expiry", o.Id, o.EndEpoch, cur)
	}
	if len(msg.Cores) > len(o.Cores) {
		return errorsmod.Wrapf(types.ErrInvalidCore, "%d cores given, the order has %d", len(msg.Cores), len(o.Cores))
	}
	if err := types.CheckDistinctKeys(msg.Cores); err != nil {
		return err
	}
	// Check everything before writing anything.
	updated := o
	updated.Cores = append([]types.Core(nil), o.Cores...)
	changed := make(map[int]uint64) // core index -> added bytes
	for i, c := range msg.Cores {
		idx := -1
		for j, oc := range o.Cores {
			if bytes.Equal(oc.Key, c.Key) {
				idx = j
				break
			}
		}
		if idx < 0 {
			return errorsmod.Wrapf(types.ErrInvalidCore, "core %d (key %X) is not part of order %d", i, c.Key, o.Id)
		}
		old := o.Cores[idx]
		if len(c.Manifest) > 0 && !bytes.Equal(c.Manifest, old.Manifest) {
			return errorsmod.Wrapf(types.ErrInvalidCore, "core %d: manifest differs from the one in the order", i)
		}
		c.Manifest = old.Manifest
		if c.Length <= old.Length {
			return errorsmod.Wrapf(types.ErrInvalidCore, "core %d: new length %d must exceed the current %d", i, c.Length, old.Length)
		}
		c, err := verifyCore(ctx, p, c, i)
		if err != nil {
			return err
		}
		if c.ByteLength < old.ByteLength {
			return errorsmod.Wrapf(types.ErrInvalidCore, "core %d: byte_length cannot shrink (%d < %d)", i, c.ByteLength, old.ByteLength)
		}
		updated.Cores[idx] = c
		changed[idx] = c.ByteLength - old.ByteLength
	}
	if msg.ExtraEpochs > 0 {
		if msg.ExtraEpochs > p.MaxDurationEpochs || updated.DurationEpochs+msg.ExtraEpochs > p.MaxDurationEpochs {
			return errorsmod.Wrapf(types.ErrInvalidDuration, "total duration would exceed %d epochs", p.MaxDurationEpochs)
		}
		updated.DurationEpochs += msg.ExtraEpochs
		updated.EndEpoch += msg.ExtraEpochs
	}
	topUp := math.ZeroInt()
	if !msg.TopUp.Amount.IsNil() && !msg.TopUp.Amount.IsZero() {
		if err := checkCoin(msg.TopUp, p, "top_up", types.ErrDepositTooLow); err != nil {
			return err
		}
		topUp = msg.TopUp.Amount
	}
	cur := currentEpoch(ctx, p)
	as, err := k.orderAssignments(ctx, o.Id)
	if err != nil {
		return err
	}
	owed := math.ZeroInt()
	for _, a := range as {
		amt, _, _ := accrued(o, a, cur)
		owed = owed.Add(amt)
	}
	avail := o.Escrow.Sub(owed).Add(topUp)
	if need := requiredEscrow(updated, cur); avail.LT(need) {
		return errorsmod.Wrapf(types.ErrDepositTooLow,
			"escrow after settlement plus top-up is %s%s, the extended order needs %s%s for its remaining epochs", avail, p.Denom, need, p.Denom)
	}
	// Assigned hosters keep their slots as the cores grow; their used bytes
	// grow too (possibly beyond capacity: they then get no new slots), and
	// must not wrap around (that would hand them free capacity).
	var grown []candidate
	for _, a := range as {
		delta, ok := changed[int(a.CoreIndex)]
		if !ok || delta == 0 {
			continue
		}
		addr, err := k.parseAddr(a.Hoster, "hoster")
		if err != nil {
			return err
		}
		h, err := k.Hosters.Get(ctx, addr)
		if err != nil {
			return err
		}
		if h.Used > stdmath.MaxUint64-delta {
			return errorsmod.Wrapf(types.ErrInvalidCore, "core %d: %s cannot account %d more bytes", a.CoreIndex, a.Hoster, delta)
		}
		h.Used += delta
		grown = append(grown, candidate{addr: addr, h: h})
	}

	// Settle at the old sizes, then apply.
	for i := range as {
		if _, err := k.settle(ctx, p, &o, &as[i], cur); err != nil {
			return err
		}
	}
	if topUp.IsPositive() {
		if err := k.bankKeeper.SendCoinsFromAccountToModule(ctx, owner, types.ModuleName, sdk.NewCoins(msg.TopUp)); err != nil {
			return errorsmod.Wrap(err, "escrowing top-up")
		}
	}
	for _, g := range grown {
		if err := k.Hosters.Set(ctx, g.addr, g.h); err != nil {
			return err
		}
	}
	if updated.EndEpoch != o.EndEpoch {
		if err := k.ExpiryQueue.Remove(ctx, collections.Join(endHeight(p, o), o.Id)); err != nil {
			return err
		}
		if err := k.ExpiryQueue.Set(ctx, collections.Join(endHeight(p, updated), o.Id)); err != nil {
			return err
		}
	}
	o.Cores = updated.Cores
	o.DurationEpochs = updated.DurationEpochs
	o.EndEpoch = updated.EndEpoch
	o.Escrow = o.Escrow.Add(topUp)
	if len(changed) > 0 && o.Status == types.ORDER_STATUS_ACTIVE {
		o.Status = types.ORDER_STATUS_ASSIGNED // waiting for hosters to re-commit
	}
	if err := k.Orders.Set(ctx, o.Id, o); err != nil {
		return err
	}
	return k.emit(ctx, &types.EventOrderExtended{
		OrderId: o.Id, CoresUpdated: uint32(len(changed)), EndEpoch: o.EndEpoch, TopUp: topUp.String(), Owner: o.Owner,
	})
}

// finishOrder ends an order (cancelled or expired): settles every slot at the
// current epoch, releases the hosters, refunds the remaining escrow to the
// owner and drops the order from the queues. Work is O(slots).
func (k Keeper) finishOrder(ctx context.Context, p types.Params, o *types.Order, status types.OrderStatus) (sdk.Coin, error) {
	cur := currentEpoch(ctx, p)
	as, err := k.settleOrder(ctx, p, o, cur)
	if err != nil {
		return sdk.Coin{}, err
	}
	for _, a := range as {
		if err := k.releaseSlot(ctx, *o, a); err != nil {
			return sdk.Coin{}, err
		}
	}
	refund := sdk.NewCoin(p.Denom, o.Escrow)
	if o.Escrow.IsPositive() {
		owner, err := k.parseAddr(o.Owner, "owner")
		if err != nil {
			return sdk.Coin{}, err
		}
		if err := k.bankKeeper.SendCoinsFromModuleToAccount(ctx, types.ModuleName, owner, sdk.NewCoins(refund)); err != nil {
			return sdk.Coin{}, errorsmod.Wrap(err, "refunding escrow")
		}
	}
	if err := k.ExpiryQueue.Remove(ctx, collections.Join(endHeight(p, *o), o.Id)); err != nil {
		return sdk.Coin{}, err
	}
	if o.Status == types.ORDER_STATUS_PENDING {
		if err := k.PendingQueue.Remove(ctx, collections.Join(o.RetryHeight, o.Id)); err != nil {
			return sdk.Coin{}, err
		}
		o.RetryHeight = 0
	}
	o.Escrow = math.ZeroInt()
	o.Status = status
	return refund, k.Orders.Set(ctx, o.Id, *o)
}

// cancelOrder implements MsgCancelOrder.
func (k Keeper) cancelOrder(ctx context.Context, msg *types.MsgCancelOrder) (sdk.Coin, error) {
	o, err := k.ownedOrder(ctx, msg.Owner, msg.OrderId)
	if err != nil {
		return sdk.Coin{}, err
	}
	p, err := k.Params.Get(ctx)
	if err != nil {
		return sdk.Coin{}, err
	}
	refund, err := k.finishOrder(ctx, p, &o, types.ORDER_STATUS_CANCELLED)
	if err != nil {
		return sdk.Coin{}, err
	}
	return refund, k.emit(ctx, &types.EventOrderCancelled{OrderId: o.Id, Refund: refund.Amount.String(), Owner: o.Owner})
}

// commit implements MsgCommit.
func (k Keeper) commit(ctx context.Context, msg *types.MsgCommit) (bool, error) {
	if _, err := k.parseAddr(msg.Hoster, "hoster"); err != nil {
		return false, err
	}
	o, err := k.getOrder(ctx, msg.OrderId)
	if err != nil {
		return false, err
	}
	if o.IsEnded() {
		return false, errorsmod.Wrapf(types.ErrOrderEnded, "order %d is %s", o.Id, o.Status)
	}
	if o.Status == types.ORDER_STATUS_PENDING {
		return false, errorsmod.Wrapf(types.ErrOrderNotAssigned, "order %d is still waiting for hosters", o.Id)
	}
	if int(msg.CoreIndex) >= len(o.Cores) {
		return false, errorsmod.Wrapf(types.ErrInvalidCore, "order %d has %d cores, no core %d", o.Id, len(o.Cores), msg.CoreIndex)
	}
	p, err := k.Params.Get(ctx)
	if err != nil {
		return false, err
	}
	var slot *types.Assignment
	for r := uint32(0); r < o.Replicas; r++ {
		a, err := k.Assignments.Get(ctx, collections.Join(o.Id, types.SlotKey(msg.CoreIndex, r)))
		if err != nil {
			return false, fmt.Errorf("x/storage: slot %s: %w", types.SlotString(o.Id, msg.CoreIndex, r), err)
		}
		if a.Hoster == msg.Hoster {
			slot = &a
			break
		}
	}
	if slot == nil {
		return false, errorsmod.Wrapf(types.ErrNotAssigned, "%s holds no slot of core %d of order %d", msg.Hoster, msg.CoreIndex, o.Id)
	}
	if want := o.Cores[msg.CoreIndex].Length; msg.Length != want {
		return false, errorsmod.Wrapf(types.ErrLengthMismatch, "committed %d, core %d of order %d is at length %d", msg.Length, msg.CoreIndex, o.Id, want)
	}
	cur := currentEpoch(ctx, p)
	if slot.CommittedLength == 0 {
		// Pay starts with the first complete epoch after the commit.
		slot.PaidFromEpoch = cur + 1
		if slot.PaidFromEpoch < o.StartEpoch {
			slot.PaidFromEpoch = o.StartEpoch
		}
	} else if _, err := k.settle(ctx, p, &o, slot, cur); err != nil {
		return false, err
	}
	slot.CommittedLength = msg.Length
	slot.CommittedBytes = o.Cores[msg.CoreIndex].ByteLength
	if err := k.Assignments.Set(ctx, collections.Join(o.Id, types.SlotKey(slot.CoreIndex, slot.Replica)), *slot); err != nil {
		return false, err
	}
	if err := k.emit(ctx, &types.EventCommitted{
		OrderId: o.Id, CoreIndex: slot.CoreIndex, Replica: slot.Replica, Hoster: msg.Hoster, Length: msg.Length,
	}); err != nil {
		return false, err
	}
	if o.Status == types.ORDER_STATUS_ASSIGNED {
		as, err := k.orderAssignments(ctx, o.Id)
		if err != nil {
			return false, err
		}
		all := len(as) == o.Slots()
		for _, a := range as {
			if a.CommittedLength != o.Cores[a.CoreIndex].Length {
				all = false
				break
			}
		}
		if all {
			o.Status = types.ORDER_STATUS_ACTIVE
			if err := k.emit(ctx, &types.EventOrderActive{OrderId: o.Id}); err != nil {
				return false, err
			}
		}
	}
	return o.Status == types.ORDER_STATUS_ACTIVE, k.Orders.Set(ctx, o.Id, o)
}
