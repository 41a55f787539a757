package keeper

import (
	"bytes"
	"context"
	"errors"
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
		// Ids are handed out in sequence: a lower id than the next one that
		// has no record ended and was deleted after retention_blocks.
		if next, perr := k.NextOrderID.Peek(ctx); perr == nil && id != 0 && id < next {
			return o, errorsmod.Wrapf(types.ErrOrderPruned, "order %d ended and was deleted after the retention period; its history is in the chain's events", id)
		}
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
	if err := types.ValidateOrderPeers(msg.Peers); err != nil {
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
		Peers:          msg.Peers,
	}
	if need := requiredEscrow(o, cur); msg.Deposit.Amount.LT(need) {
		return types.Order{}, errorsmod.Wrapf(types.ErrDepositTooLow,
			"deposit %s is below %s%s (max price %s per GiB per epoch x %d slots x %d epochs, each slot rounded up)",
			msg.Deposit, need, p.Denom, msg.MaxPrice, o.Slots(), msg.DurationEpochs)
	}
	// The placement fee (per slot, on top of the deposit) is burned: it is
	// never refunded, so spam orders and re-rolling an assignment by
	// cancelling and placing again cost money.
	placementFee := p.PlacementFeePerSlot.MulRaw(int64(o.Slots()))
	take := sdk.NewCoins(msg.Deposit.AddAmount(placementFee)) // same denom, checked above
	if err := k.bankKeeper.SendCoinsFromAccountToModule(ctx, owner, types.ModuleName, take); err != nil {
		return types.Order{}, errorsmod.Wrapf(err, "escrowing deposit %s and placement fee %s%s", msg.Deposit, placementFee, p.Denom)
	}
	if placementFee.IsPositive() {
		if err := k.bankKeeper.BurnCoins(ctx, types.ModuleName, sdk.NewCoins(sdk.NewCoin(p.Denom, placementFee))); err != nil {
			return types.Order{}, errorsmod.Wrap(err, "burning placement fee")
		}
	}
	id, err := k.NextOrderID.Next(ctx)
	if err != nil {
		return types.Order{}, err
	}
	o.Id = id
	if err := k.emit(ctx, &types.EventOrderPlaced{
		OrderId: id, Owner: msg.Owner, Cores: uint32(len(o.Cores)), Slots: uint32(o.Slots()),
		Deposit: msg.Deposit.Amount.String(), EndEpoch: o.EndEpoch, PlacementFee: placementFee.String(),
	}); err != nil {
		return types.Order{}, err
	}
	if err := k.OrdersByOwner.Set(ctx, collections.Join(owner, id)); err != nil {
		return types.Order{}, err
	}
	if err := k.indexCores(ctx, o); err != nil {
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
	if err := k.PendingQueue.Set(ctx, pendingKey(*o)); err != nil {
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
		return errorsmod.Wrap(types.ErrNothingToExtend, "give cores, extra epochs or a top-up")
	}
	// An order whose end epoch has begun is over even if EndBlock has not
	// expired it yet (at most expiries_per_block per block). Extending it
	// would let its slots accrue for past epochs that requiredEscrow, which
	// counts from the current epoch, does not fund.
	cur := currentEpoch(ctx, p)
	if cur >= o.EndEpoch {
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
		// max_duration_epochs bounds what is paid ahead: the epochs after
		// the current one up to the new end, as at placement. An order
		// renewed before it runs out may so live on indefinitely.
		if msg.ExtraEpochs > p.MaxDurationEpochs || o.EndEpoch+msg.ExtraEpochs-(cur+1) > p.MaxDurationEpochs {
			return errorsmod.Wrapf(types.ErrInvalidDuration, "the order would end %d epochs after the next, more than %d",
				o.EndEpoch+msg.ExtraEpochs-(cur+1), p.MaxDurationEpochs)
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
	as, err := k.orderAssignments(ctx, o.Id)
	if err != nil {
		return err
	}
	owed := math.ZeroInt()
	for _, a := range as {
		amt, _, _, err := k.accrued(ctx, o, a, cur)
		if err != nil {
			return err
		}
		owed = owed.Add(amt)
	}
	avail := o.Escrow.Sub(owed).Add(topUp)
	if need := requiredEscrow(updated, cur); avail.LT(need) {
		return errorsmod.Wrapf(types.ErrDepositTooLow,
			"escrow after settlement plus top-up is %s%s, the extended order needs %s%s for its remaining epochs", avail, p.Denom, need, p.Denom)
	}
	// Assigned hosters keep their slots as the cores grow and their used
	// bytes grow too, as long as that fits their capacity. A slot whose
	// hoster has no room for the growth moves to another hoster (chosen now,
	// before anything is written; the extension is refused when nobody can
	// take it), so no hoster is filled beyond its capacity without consent.
	var grown []candidate
	var moved []int // indices into as of slots that move
	exclude := make(map[string]bool, len(as))
	regions := make(map[string]bool, len(as))
	for _, a := range as {
		addr, err := k.parseAddr(a.Hoster, "hoster")
		if err != nil {
			return err
		}
		exclude[string(addr)] = true
	}
	for i, a := range as {
		delta, ok := changed[int(a.CoreIndex)]
		if !ok || delta == 0 {
			continue
		}
		addr, _ := k.parseAddr(a.Hoster, "hoster")
		h, err := k.Hosters.Get(ctx, addr)
		if err != nil {
			return err
		}
		if h.Used > stdmath.MaxUint64-delta || h.Used+delta > h.Capacity {
			moved = append(moved, i)
			continue
		}
		h.Used += delta
		grown = append(grown, candidate{addr: addr, h: h})
		regions[h.Region] = true
	}
	replacements := make([]candidate, len(moved))
	if len(moved) > 0 {
		sizes := make([]uint64, len(moved))
		for j, i := range moved {
			sizes[j] = updated.Cores[as[i].CoreIndex].ByteLength
		}
		seed, err := k.seed(ctx, extendTag, o.Id, uint64(blockHeight(ctx)))
		if err != nil {
			return err
		}
		chosen, err := k.selectHosters(ctx, p, seed, sizes, o.MaxPrice, exclude, regions)
		if err != nil {
			return errorsmod.Wrapf(err, "%d hosters have no room for the grown cores and no other hoster can take their slots", len(moved))
		}
		copy(replacements, chosen)
	}

	// Everything is checked: now write. The top-up goes first, so that a
	// failing transfer leaves no trace even outside a cached context.
	if topUp.IsPositive() {
		if err := k.bankKeeper.SendCoinsFromAccountToModule(ctx, owner, types.ModuleName, sdk.NewCoins(msg.TopUp)); err != nil {
			return errorsmod.Wrap(err, "escrowing top-up")
		}
	}
	// Settle at the old sizes, then apply.
	for i := range as {
		if _, err := k.settle(ctx, p, &o, &as[i], cur); err != nil {
			return err
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
	// Slots that move are released at the old size and given at the new.
	for j, i := range moved {
		a := as[i]
		if err := k.releaseSlot(ctx, o, a); err != nil {
			return err
		}
		next := updated
		next.Escrow, next.Paid = o.Escrow, o.Paid
		if err := k.assignSlot(ctx, p, next, a.CoreIndex, a.Replica, replacements[j]); err != nil {
			return err
		}
		if err := k.emit(ctx, &types.EventAssignmentReplaced{
			OrderId: o.Id, CoreIndex: a.CoreIndex, Replica: a.Replica, OldHoster: a.Hoster, NewHoster: replacements[j].h.Address,
		}); err != nil {
			return err
		}
	}
	// Hosters that keep a grown slot have commit_window blocks to commit to
	// the new length.
	isMoved := make(map[int]bool, len(moved))
	for _, i := range moved {
		isMoved[i] = true
	}
	for i := range as {
		a := &as[i]
		if _, ok := changed[int(a.CoreIndex)]; !ok || isMoved[i] {
			continue
		}
		if err := k.armCommit(ctx, p, a, updated.Cores[a.CoreIndex].Length); err != nil {
			return err
		}
		if err := k.Assignments.Set(ctx, commitSlotKey(*a), *a); err != nil {
			return err
		}
	}
	// In core order, never in map order: every node must write the same
	// known_lengths (a map's iteration order differs from node to node and
	// forked a 4-validator chain at the first multi-core extension).
	for idx := range o.Cores {
		if _, ok := changed[idx]; !ok {
			continue
		}
		old := o.Cores[idx]
		o.KnownLengths = rememberLength(o.KnownLengths, types.KnownLength{CoreIndex: uint32(idx), Length: old.Length, ByteLength: old.ByteLength, TreeHash: old.TreeHash})
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

// MaxKnownLengths is how many earlier signed lengths an order keeps per core
// for commits (older ones are forgotten).
const MaxKnownLengths = 8

// rememberLength appends an earlier signed length of a core, keeping at most
// MaxKnownLengths per core (the oldest go first).
func rememberLength(known []types.KnownLength, kl types.KnownLength) []types.KnownLength {
	out := append(known, kl)
	n := 0
	for _, x := range out {
		if x.CoreIndex == kl.CoreIndex {
			n++
		}
	}
	if n <= MaxKnownLengths {
		return out
	}
	for i, x := range out {
		if x.CoreIndex == kl.CoreIndex {
			return append(out[:i:i], out[i+1:]...)
		}
	}
	return out
}

// signedLength returns the byte length of core idx of o at length, when
// length is its current length or one the order still knows.
func signedLength(o types.Order, idx uint32, length uint64) (uint64, bool) {
	if c := o.Cores[idx]; c.Length == length {
		return c.ByteLength, true
	}
	for _, kl := range o.KnownLengths {
		if kl.CoreIndex == idx && kl.Length == length {
			return kl.ByteLength, true
		}
	}
	return 0, false
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
	if o.Status == types.ORDER_STATUS_PENDING && o.RetryHeight != 0 {
		if err := k.PendingQueue.Remove(ctx, pendingKey(*o)); err != nil {
			return sdk.Coin{}, err
		}
	}
	o.RetryHeight = 0
	o.Escrow = math.ZeroInt()
	o.Status = status
	o.EndedHeight = blockHeight(ctx)
	if err := k.PruneQueue.Set(ctx, collections.Join(o.EndedHeight, o.Id)); err != nil {
		return sdk.Coin{}, err
	}
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
	found, err := k.hosterSlot(ctx, o, msg.CoreIndex, msg.Hoster)
	if err != nil {
		return false, err
	}
	slot := &found
	bytesAt, ok := signedLength(o, msg.CoreIndex, msg.Length)
	if !ok {
		return false, errorsmod.Wrapf(types.ErrLengthMismatch, "committed %d, core %d of order %d is at length %d and %d is no earlier signed length the order knows",
			msg.Length, msg.CoreIndex, o.Id, o.Cores[msg.CoreIndex].Length, msg.Length)
	}
	// An earlier length is accepted only when it moves the slot forward (a
	// commit at the current length is idempotent).
	if msg.Length < slot.CommittedLength || (msg.Length == slot.CommittedLength && msg.Length != o.Cores[msg.CoreIndex].Length) {
		return false, errorsmod.Wrapf(types.ErrLengthMismatch, "committed %d, the slot is already committed at %d and core %d of order %d is at length %d",
			msg.Length, slot.CommittedLength, msg.CoreIndex, o.Id, o.Cores[msg.CoreIndex].Length)
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
	slot.CommittedBytes = bytesAt
	// A commit at the due length (or later) closes the commit window; if the
	// owner extended the core again meanwhile, a new window opens for the
	// current length.
	if slot.CommitDeadline != 0 && msg.Length >= slot.CommitDueLength {
		if err := k.disarmCommit(ctx, slot); err != nil {
			return false, err
		}
	}
	if latest := o.Cores[msg.CoreIndex].Length; msg.Length < latest {
		if err := k.armCommit(ctx, p, slot, latest); err != nil {
			return false, err
		}
	}
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

// indexCores adds o to OrdersByCore under each of its core keys.
func (k Keeper) indexCores(ctx context.Context, o types.Order) error {
	for _, c := range o.Cores {
		if err := k.OrdersByCore.Set(ctx, collections.Join(c.Key, o.Id)); err != nil {
			return err
		}
	}
	return nil
}
