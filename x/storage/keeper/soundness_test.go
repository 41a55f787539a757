package keeper_test

import (
	"fmt"
	"testing"

	"github.com/stretchr/testify/require"

	"cosmossdk.io/collections"
	"cosmossdk.io/math"

	sdk "github.com/cosmos/cosmos-sdk/types"

	"github.com/datdot/datdot/x/storage/keeper"
	"github.com/datdot/datdot/x/storage/types"
)

// The tests in this file each reproduce one finding of the x/storage review
// (issue 8); each failed against the code before the fix.

func addrOf(t *testing.T, s string) sdk.AccAddress {
	a, err := sdk.AccAddressFromBech32(s)
	require.NoError(t, err)
	return a
}

// A slot nobody commits to no longer locks its hoster: when the commit
// window passes, the hoster gets a fault and the slot moves to another
// hoster, whose own window starts. Before, there was no deadline.
func TestCommitWindowExpiryFaultsAndReplaces(t *testing.T) {
	f := newFixture(t)
	threeHosters(f)
	f.setParams(func(p *types.Params) { p.CommitWindow = 10 })
	res, err := f.msg.PlaceOrder(f.ctx, f.placeMsg("alice", newWriter("w").core(t, 10, 1<<30), 3, 100, 10))
	require.NoError(t, err)
	spare := f.register("h4", "sa-east", 10<<30, 100)
	as := f.assignments(res.OrderId)
	var idle types.Assignment
	for _, a := range as {
		require.Equal(t, f.height()+10, a.CommitDeadline)
	}
	// two of three commit; the third stays idle
	idle = as[2]
	for _, a := range as[:2] {
		_, err := f.msg.Commit(f.ctx, &types.MsgCommit{Hoster: a.Hoster, OrderId: res.OrderId, CoreIndex: 0, Length: 10})
		require.NoError(t, err)
	}
	f.endBlocksTo(f.height() + 9)
	require.Equal(t, idle.Hoster, f.assignments(res.OrderId)[2].Hoster, "the window is still open")
	f.endBlocksTo(f.height() + 1)

	after := f.assignments(res.OrderId)
	require.Equal(t, spare.String(), after[2].Hoster, "the idle slot moved to the only other hoster")
	require.Equal(t, f.height()+10, after[2].CommitDeadline, "the new hoster has its own window")
	require.Equal(t, as[0].Hoster, after[0].Hoster)
	require.Equal(t, as[1].Hoster, after[1].Hoster)
	require.Zero(t, after[0].CommitDeadline, "committed slots have no open window")
	old := f.hoster(addrOf(t, idle.Hoster))
	require.Equal(t, uint64(1), old.Faults)
	require.Zero(t, old.Used, "the idle hoster's capacity is free again")
	require.Zero(t, old.Assignments)
	require.True(t, f.hasEvent("datdot.storage.v1.EventCommitWindowExpired"))
	checkInvariants(t, f)
}

// With nobody to take the slot, the hoster keeps it with a new window and
// one more fault per window missed.
func TestCommitWindowWithoutReplacementOpensAnother(t *testing.T) {
	f := newFixture(t)
	threeHosters(f)
	f.setParams(func(p *types.Params) { p.CommitWindow = 5 })
	res, err := f.msg.PlaceOrder(f.ctx, f.placeMsg("alice", newWriter("w").core(t, 1, 1000), 3, 100, 10))
	require.NoError(t, err)
	before := f.assignments(res.OrderId)
	f.endBlocksTo(f.height() + 5)
	after := f.assignments(res.OrderId)
	for i := range after {
		require.Equal(t, before[i].Hoster, after[i].Hoster)
		require.Equal(t, f.height()+5, after[i].CommitDeadline)
		require.Equal(t, uint64(1), f.hoster(addrOf(t, after[i].Hoster)).Faults)
	}
	checkInvariants(t, f)
}

// A hoster can give a slot up: it pays the documented exit fee from its
// stake to the order's owner and the slot moves to another hoster. Before,
// there was no way out but the order's expiry.
func TestReleaseSlotPaysTheOwnerAndMovesTheSlot(t *testing.T) {
	f := newFixture(t)
	threeHosters(f)
	f.setParams(func(p *types.Params) { p.ReleaseFeeEpochs = 3 })
	alice := f.user("alice")
	res, err := f.msg.PlaceOrder(f.ctx, f.placeMsg("alice", newWriter("w").core(t, 10, 2<<30), 3, 100, 10))
	require.NoError(t, err)
	a := f.assignments(res.OrderId)[0]
	leaver := addrOf(t, a.Hoster)

	// nobody else can take it: refused, nothing changes
	f.refused(types.ErrNoHosters, func() error {
		_, err := f.msg.ReleaseSlot(f.ctx, &types.MsgReleaseSlot{Hoster: a.Hoster, OrderId: res.OrderId, CoreIndex: 0})
		return err
	})
	stranger := f.user("stranger")
	f.refused(types.ErrNotAssigned, func() error {
		_, err := f.msg.ReleaseSlot(f.ctx, &types.MsgReleaseSlot{Hoster: stranger.String(), OrderId: res.OrderId, CoreIndex: 0})
		return err
	})

	spare := f.register("h4", "sa-east", 10<<30, 100)
	stake := f.hoster(leaver).Stake
	aliceBefore := f.led.of(alice)
	out, err := f.msg.ReleaseSlot(f.ctx, &types.MsgReleaseSlot{Hoster: a.Hoster, OrderId: res.OrderId, CoreIndex: 0})
	require.NoError(t, err)
	// fee: 3 epochs x 100 per GiB x 2 GiB
	eqInt(t, math.NewInt(600), out.Fee.Amount)
	require.Equal(t, spare.String(), out.NewHoster)
	eqInt(t, aliceBefore.AddRaw(600), f.led.of(alice), "the owner got the fee")
	h := f.hoster(leaver)
	eqInt(t, stake.SubRaw(600), h.Stake, "paid from the stake")
	require.Zero(t, h.Used)
	require.Zero(t, h.Assignments)
	// the leaver holds nothing and may leave now
	_, err = f.msg.Leave(f.ctx, &types.MsgLeave{Hoster: a.Hoster})
	require.NoError(t, err)
	require.True(t, f.hasEvent("datdot.storage.v1.EventSlotReleased"))
	checkInvariants(t, f)
}

// An extension that would take a hoster past its capacity moves that slot
// to a hoster with room. Before, the hoster's used bytes simply grew past
// its capacity.
func TestExtendPastCapacityMovesTheSlot(t *testing.T) {
	f := newFixture(t)
	small := f.register("small", "eu-west", 1<<30, 100) // exactly the core's size
	f.register("h2", "us-east", 10<<30, 100)
	f.register("h3", "ap-south", 10<<30, 100)
	w := newWriter("w")
	res, err := f.msg.PlaceOrder(f.ctx, f.placeMsg("alice", w.core(t, 10, 1<<30), 3, 100, 10))
	require.NoError(t, err)
	big := f.register("big", "af-south", 100<<30, 100)
	commitAll(t, f, res.OrderId)

	_, err = f.msg.ExtendOrder(f.ctx, &types.MsgExtendOrder{Owner: f.user("alice").String(), OrderId: res.OrderId,
		Cores: []types.Core{w.core(t, 20, 2<<30)}, TopUp: sdk.NewInt64Coin(denom, 10_000)})
	require.NoError(t, err)
	require.Zero(t, f.hoster(small).Used, "the full hoster's slot moved")
	require.Equal(t, uint64(2<<30), f.hoster(big).Used, "to the hoster with room, at the new size")
	for _, h := range f.holders(res.OrderId) {
		require.LessOrEqual(t, h.Used, h.Capacity, "%s over capacity", h.Address)
		require.NotEqual(t, small.String(), h.Address)
	}
	checkInvariants(t, f)
}

// A hoster re-committing after an extension is not refused because the
// owner extended again meanwhile: any signed length the order knows counts,
// and a new window opens for the latest. Before, only the latest length
// was accepted.
func TestCommitToAnEarlierSignedLength(t *testing.T) {
	f := newFixture(t)
	threeHosters(f)
	f.setParams(func(p *types.Params) { p.CommitWindow = 50 })
	w := newWriter("w")
	res, err := f.msg.PlaceOrder(f.ctx, f.placeMsg("alice", w.core(t, 10, 1000), 3, 100, 10))
	require.NoError(t, err)
	commitAll(t, f, res.OrderId)
	alice := f.user("alice").String()
	for _, l := range []uint64{20, 30} {
		_, err = f.msg.ExtendOrder(f.ctx, &types.MsgExtendOrder{Owner: alice, OrderId: res.OrderId,
			Cores: []types.Core{w.core(t, l, 100*l)}, TopUp: sdk.NewInt64Coin(denom, 100)})
		require.NoError(t, err)
		f.endBlocksTo(f.height() + 1)
	}
	a := f.assignments(res.OrderId)[0]
	require.Equal(t, uint64(20), a.CommitDueLength, "the window opened by the first extension stays")
	_, err = f.msg.Commit(f.ctx, &types.MsgCommit{Hoster: a.Hoster, OrderId: res.OrderId, CoreIndex: 0, Length: 20})
	require.NoError(t, err)
	a = f.assignments(res.OrderId)[0]
	require.Equal(t, uint64(2000), a.CommittedBytes, "paid for the bytes at the length committed")
	require.Equal(t, uint64(30), a.CommitDueLength, "a new window for the latest length")
	require.Equal(t, f.height()+50, a.CommitDeadline)
	f.refused(types.ErrLengthMismatch, func() error {
		_, err := f.msg.Commit(f.ctx, &types.MsgCommit{Hoster: a.Hoster, OrderId: res.OrderId, CoreIndex: 0, Length: 25})
		return err
	})
	_, err = f.msg.Commit(f.ctx, &types.MsgCommit{Hoster: a.Hoster, OrderId: res.OrderId, CoreIndex: 0, Length: 30})
	require.NoError(t, err)
	require.Zero(t, f.assignments(res.OrderId)[0].CommitDeadline)
	checkInvariants(t, f)
}

// Big unassignable orders cannot starve a small one: the retry queue is
// split by size class and each class gets a retry every block. Before, 150
// spam orders of 128 slots made a one-slot order wait 151 blocks.
func TestBigOrdersDoNotStarveSmallOnes(t *testing.T) {
	f := newFixture(t)
	f.register("h1", "eu-west", 1<<40, 1)
	alice := f.user("alice").String()
	for i := 0; i < 150; i++ {
		cores := make([]types.Core, 8)
		for j := range cores {
			cores[j] = newWriter(fmt.Sprintf("spam %d %d", i, j)).core(t, 1, 1<<30)
		}
		// max price 0: no hoster ever qualifies
		_, err := f.msg.PlaceOrder(f.ctx, &types.MsgPlaceOrder{Owner: alice, Cores: cores, Replicas: 16,
			MaxPrice: math.ZeroInt(), DurationEpochs: 10, Deposit: sdk.NewInt64Coin(denom, 1)})
		require.NoError(t, err)
	}
	// a genuine order that waits for a second hoster
	res, err := f.msg.PlaceOrder(f.ctx, f.placeMsg("bob", newWriter("genuine").core(t, 1, 1000), 2, 100, 10))
	require.NoError(t, err)
	require.Equal(t, types.ORDER_STATUS_PENDING, res.Status)
	f.register("h2", "us-east", 1<<40, 1)
	f.endBlocksTo(f.height() + 1)
	require.Equal(t, types.ORDER_STATUS_ASSIGNED, f.order(res.OrderId).Status, "assigned in the first block it could be")
}

// An order that stays unassignable is cancelled after pending_timeout_blocks
// and refunded, minus the placement fee (burned). Before, it was retried
// forever.
func TestPendingOrdersTimeOut(t *testing.T) {
	f := newFixture(t)
	f.setParams(func(p *types.Params) {
		p.PendingTimeoutBlocks = 20
		p.PlacementFeePerSlot = math.NewInt(5)
	})
	alice := f.user("alice")
	start := f.led.of(alice)
	m := f.placeMsg("alice", newWriter("w").core(t, 1, 1000), 3, 100, 10)
	res, err := f.msg.PlaceOrder(f.ctx, m)
	require.NoError(t, err)
	eqInt(t, start.Sub(m.Deposit.Amount).SubRaw(15), f.led.of(alice))
	f.endBlocksTo(f.height() + 19)
	require.Equal(t, types.ORDER_STATUS_PENDING, f.order(res.OrderId).Status)
	f.endBlocksTo(f.height() + 1)
	o := f.order(res.OrderId)
	require.Equal(t, types.ORDER_STATUS_CANCELLED, o.Status)
	eqInt(t, start.SubRaw(15), f.led.of(alice), "deposit back, fee gone")
	require.True(t, f.hasEvent("datdot.storage.v1.EventOrderTimedOut"))
	has, err := f.k.PendingQueue.Has(f.ctx, collections.Join3(uint32(2), o.RetryHeight, o.Id))
	require.NoError(t, err)
	require.False(t, has)
	checkInvariants(t, f)
}

// Ended orders are deleted retention_blocks after they ended; queries say
// so clearly. Before, they stayed forever.
func TestEndedOrdersArePruned(t *testing.T) {
	f := newFixture(t)
	threeHosters(f)
	f.setParams(func(p *types.Params) { p.RetentionBlocks = 5 })
	alice := f.user("alice")
	res, err := f.msg.PlaceOrder(f.ctx, f.placeMsg("alice", newWriter("w").core(t, 1, 1000), 3, 100, 10))
	require.NoError(t, err)
	_, err = f.msg.CancelOrder(f.ctx, &types.MsgCancelOrder{Owner: alice.String(), OrderId: res.OrderId})
	require.NoError(t, err)
	ended := f.height()
	f.endBlocksTo(ended + 4)
	require.Equal(t, types.ORDER_STATUS_CANCELLED, f.order(res.OrderId).Status, "kept during retention")
	f.endBlocksTo(ended + 5)
	_, err = f.k.Orders.Get(f.ctx, res.OrderId)
	require.ErrorIs(t, err, collections.ErrNotFound)
	_, err = f.q.Order(f.ctx, &types.QueryOrderRequest{Id: res.OrderId})
	require.ErrorContains(t, err, "deleted after the retention period")
	_, err = f.q.Order(f.ctx, &types.QueryOrderRequest{Id: 99})
	require.ErrorContains(t, err, "order not found")
	_, err = f.k.GetOrder(f.ctx, res.OrderId)
	require.ErrorIs(t, err, types.ErrOrderPruned)
	byOwner, err := f.q.OrdersByOwner(f.ctx, &types.QueryOrdersByOwnerRequest{Owner: alice.String()})
	require.NoError(t, err)
	require.Empty(t, byOwner.Orders)
	require.True(t, f.hasEvent("datdot.storage.v1.EventOrderPruned"))
	checkInvariants(t, f)
}

// A refused ExtendOrder (the top-up cannot be paid) leaves no trace even
// when the handler runs without a cached context. Before, it had already
// settled and paid the slots when the top-up failed.
func TestRefusedExtendLeavesNoTrace(t *testing.T) {
	f := newFixture(t)
	threeHosters(f)
	alice := f.user("alice")
	w := newWriter("w")
	res, err := f.msg.PlaceOrder(f.ctx, f.placeMsg("alice", w.core(t, 10, 1<<30), 3, 100, 10))
	require.NoError(t, err)
	commitAll(t, f, res.OrderId)
	f.endBlocksTo(f.height() + 5*int64(f.params().EpochBlocks)) // pay accrues
	require.NoError(t, f.led.move(string(alice), "elsewhere", sdk.NewCoins(sdk.NewCoin(denom, f.led.of(alice).SubRaw(10)))))
	// f.ctx is not a cached context: the handler writes to the store directly
	before, bal := f.snapshot(), f.balances()
	_, err = f.msg.ExtendOrder(f.ctx, &types.MsgExtendOrder{Owner: alice.String(), OrderId: res.OrderId,
		ExtraEpochs: 1, TopUp: sdk.NewInt64Coin(denom, 1_000_000)})
	require.ErrorContains(t, err, "insufficient funds")
	require.Equal(t, before, f.snapshot(), "store changed by a refused extension")
	require.Equal(t, bal, f.balances(), "coins moved by a refused extension")
}

// SetAccruing is the hook for "pay follows proof": a stopped slot accrues
// nothing, epochs spent stopped are never paid, and pay resumes with the
// next complete epoch.
func TestSetAccruing(t *testing.T) {
	f := newFixture(t)
	threeHosters(f)
	res, err := f.msg.PlaceOrder(f.ctx, f.placeMsg("alice", newWriter("w").core(t, 10, 1<<30), 3, 100, 20))
	require.NoError(t, err)
	commitAll(t, f, res.OrderId)
	eb := int64(f.params().EpochBlocks)
	f.endBlocksTo(3 * eb) // epochs 1, 2 paid-for territory
	a := f.assignments(res.OrderId)[0]
	require.NoError(t, f.k.SetAccruing(f.ctx, res.OrderId, a.CoreIndex, a.Replica, false))
	paidAtStop := f.assignments(res.OrderId)[0].Paid
	ok, err := f.k.IsAccruing(f.ctx, res.OrderId, a.CoreIndex, a.Replica)
	require.NoError(t, err)
	require.False(t, ok)
	f.endBlocksTo(6 * eb)
	q, err := f.q.Order(f.ctx, &types.QueryOrderRequest{Id: res.OrderId})
	require.NoError(t, err)
	eqInt(t, math.ZeroInt(), q.Assignments[0].Accrued, "nothing accrues while stopped")
	require.NoError(t, f.k.SetAccruing(f.ctx, res.OrderId, a.CoreIndex, a.Replica, true))
	f.endBlocksTo(9 * eb)
	q, err = f.q.Order(f.ctx, &types.QueryOrderRequest{Id: res.OrderId})
	require.NoError(t, err)
	eqInt(t, math.NewInt(2*100), q.Assignments[0].Accrued, "epochs 7 and 8 after resuming in epoch 6")
	eqInt(t, paidAtStop, q.Assignments[0].Assignment.Paid)
	checkInvariants(t, f)
}

// claim-payment without an order id settles at most MaxClaimSlots slots and
// says where to continue.
func TestClaimPaymentIsBounded(t *testing.T) {
	f := newFixture(t)
	h := f.register("h1", "eu-west", 1<<40, 1)
	n := keeper.MaxClaimSlots + 3
	for i := 0; i < n; i++ {
		res, err := f.msg.PlaceOrder(f.ctx, f.placeMsg("alice", newWriter(fmt.Sprint("w", i)).core(t, 1, 1000), 1, 1, 10))
		require.NoError(t, err)
		commitAll(t, f, res.OrderId)
	}
	f.endBlocksTo(4 * int64(f.params().EpochBlocks))
	out, err := f.msg.ClaimPayment(f.ctx, &types.MsgClaimPayment{Hoster: h.String()})
	require.NoError(t, err)
	require.Equal(t, uint64(keeper.MaxClaimSlots+1), out.NextOrderId)
	require.True(t, out.Amount.Amount.IsPositive())
	out, err = f.msg.ClaimPayment(f.ctx, &types.MsgClaimPayment{Hoster: h.String(), StartOrderId: out.NextOrderId})
	require.NoError(t, err)
	require.Zero(t, out.NextOrderId)
	for id := uint64(1); id <= uint64(n); id++ {
		require.True(t, f.assignments(id)[0].Paid.IsPositive(), "order %d settled", id)
	}
}
