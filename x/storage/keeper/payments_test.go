package keeper_test

import (
	"testing"

	"github.com/stretchr/testify/require"

	"cosmossdk.io/math"

	sdk "github.com/cosmos/cosmos-sdk/types"

	"github.com/datdot/datdot/x/storage/types"
)

// pricedHosters registers hosters at prices 100, 60 and 30 per GiB per epoch.
func pricedHosters(f *fixture) map[string]int64 {
	prices := map[string]int64{}
	for i, p := range []int64{100, 60, 30} {
		a := f.register("p"+string(rune('0'+i)), "r"+string(rune('0'+i)), 10<<30, p)
		prices[a.String()] = p
	}
	return prices
}

func commitAll(t *testing.T, f *fixture, id uint64) {
	t.Helper()
	o := f.order(id)
	for _, a := range f.assignments(id) {
		_, err := f.msg.Commit(f.ctx, &types.MsgCommit{Hoster: a.Hoster, OrderId: id, CoreIndex: a.CoreIndex, Length: o.Cores[a.CoreIndex].Length})
		require.NoError(t, err)
	}
}

func TestPaymentsAccrueLazilyAndCancelRefunds(t *testing.T) {
	f := newFixture(t)
	prices := pricedHosters(f)
	alice := f.user("alice")
	aliceStart := f.led.of(alice)
	eb := int64(f.params().EpochBlocks)

	res, err := f.msg.PlaceOrder(f.ctx, f.placeMsg("alice", newWriter("w").core(t, 10, 1<<30), 3, 100, 10))
	require.NoError(t, err)
	id := res.OrderId
	commitAll(t, f, id) // epoch 0: pay starts with epoch 1
	hosterStart := map[string]math.Int{}
	for h := range prices {
		addr, _ := sdk.AccAddressFromBech32(h)
		hosterStart[h] = f.led.of(addr)
	}

	// epoch 1 not complete yet: nothing accrued
	f.endBlocksTo(2*eb - 1)
	q, err := f.q.Order(f.ctx, &types.QueryOrderRequest{Id: id})
	require.NoError(t, err)
	eqInt(t, math.NewInt(0), q.Accrued)

	// at epoch 3, epochs 1 and 2 are complete: 2 x (100+60+30)
	f.endBlocksTo(3 * eb)
	q, err = f.q.Order(f.ctx, &types.QueryOrderRequest{Id: id})
	require.NoError(t, err)
	require.Equal(t, uint64(3), q.CurrentEpoch)
	eqInt(t, math.NewInt(380), q.Accrued)
	eqInt(t, math.NewInt(3000), q.Order.Escrow, "accrual is lazy: escrow untouched until settled")
	for _, v := range q.Assignments {
		eqInt(t, math.NewInt(2*prices[v.Assignment.Hoster]), v.Accrued)
	}

	// the 100-priced hoster claims
	var top sdk.AccAddress
	for h, p := range prices {
		if p == 100 {
			top, _ = sdk.AccAddressFromBech32(h)
		}
	}
	hq, err := f.q.Hoster(f.ctx, &types.QueryHosterRequest{Address: top.String()})
	require.NoError(t, err)
	eqInt(t, math.NewInt(200), hq.Accrued)
	claim, err := f.msg.ClaimPayment(f.ctx, &types.MsgClaimPayment{Hoster: top.String()})
	require.NoError(t, err)
	eqInt(t, math.NewInt(200), claim.Amount.Amount)
	eqInt(t, hosterStart[top.String()].AddRaw(200), f.led.of(top))
	eqInt(t, math.NewInt(2800), f.order(id).Escrow)
	// claiming again in the same epoch pays nothing
	claim, err = f.msg.ClaimPayment(f.ctx, &types.MsgClaimPayment{Hoster: top.String(), OrderId: id})
	require.NoError(t, err)
	eqInt(t, math.ZeroInt(), claim.Amount.Amount)

	// cancel in epoch 5: everyone is paid through epoch 4, the rest returns
	f.endBlocksTo(5*eb + 3)
	out, err := f.msg.CancelOrder(f.ctx, &types.MsgCancelOrder{Owner: alice.String(), OrderId: id})
	require.NoError(t, err)
	paid := int64(4 * (100 + 60 + 30))
	eqInt(t, math.NewInt(3000-paid), out.Refund.Amount)
	eqInt(t, aliceStart.SubRaw(paid), f.led.of(alice), "alice paid exactly the accrued epochs")
	for h, p := range prices {
		addr, _ := sdk.AccAddressFromBech32(h)
		eqInt(t, hosterStart[h].AddRaw(4*p), f.led.of(addr), "hoster %s", h)
		hh := f.hoster(addr)
		require.Equal(t, uint64(0), hh.Used, "capacity released")
		require.Equal(t, uint64(0), hh.Assignments)
	}
	o := f.order(id)
	eqInt(t, math.ZeroInt(), o.Escrow)
	eqInt(t, math.NewInt(paid), o.Paid)
	require.Empty(t, f.assignments(id))
	eqInt(t, math.NewInt(3_000_000), f.led.get(moduleAcct), "only the stakes remain in the module")
}

func TestLateCommitEarnsLess(t *testing.T) {
	f := newFixture(t)
	threeHosters(f)
	eb := int64(f.params().EpochBlocks)
	res, err := f.msg.PlaceOrder(f.ctx, f.placeMsg("alice", newWriter("w").core(t, 10, 1<<30), 3, 100, 10))
	require.NoError(t, err)
	as := f.assignments(res.OrderId)
	_, err = f.msg.Commit(f.ctx, &types.MsgCommit{Hoster: as[0].Hoster, OrderId: res.OrderId, CoreIndex: 0, Length: 10})
	require.NoError(t, err)
	f.endBlocksTo(2*eb + 1) // epoch 2
	_, err = f.msg.Commit(f.ctx, &types.MsgCommit{Hoster: as[1].Hoster, OrderId: res.OrderId, CoreIndex: 0, Length: 10})
	require.NoError(t, err)
	f.endBlocksTo(6 * eb) // epoch 6
	q, err := f.q.Order(f.ctx, &types.QueryOrderRequest{Id: res.OrderId})
	require.NoError(t, err)
	got := map[string]math.Int{}
	for _, v := range q.Assignments {
		got[v.Assignment.Hoster] = v.Accrued
	}
	eqInt(t, math.NewInt(500), got[as[0].Hoster], "epochs 1..5")
	eqInt(t, math.NewInt(300), got[as[1].Hoster], "epochs 3..5")
	eqInt(t, math.ZeroInt(), got[as[2].Hoster], "never committed")
}

func TestOrderExpiry(t *testing.T) {
	f := newFixture(t)
	prices := pricedHosters(f)
	alice := f.user("alice")
	aliceStart := f.led.of(alice)
	eb := int64(f.params().EpochBlocks)
	res, err := f.msg.PlaceOrder(f.ctx, f.placeMsg("alice", newWriter("w").core(t, 10, 1<<30), 3, 100, 3))
	require.NoError(t, err)
	commitAll(t, f, res.OrderId)
	o := f.order(res.OrderId)
	require.Equal(t, uint64(4), o.EndEpoch)

	f.endBlocksTo(4*eb - 1)
	require.Equal(t, types.ORDER_STATUS_ACTIVE, f.order(res.OrderId).Status)
	f.resetEvents()
	f.endBlocksTo(4 * eb)
	o = f.order(res.OrderId)
	require.Equal(t, types.ORDER_STATUS_EXPIRED, o.Status)
	require.True(t, f.hasEvent("datdot.storage.v1.EventOrderExpired"))
	paid := int64(3 * (100 + 60 + 30))
	eqInt(t, math.NewInt(paid), o.Paid)
	eqInt(t, aliceStart.SubRaw(paid), f.led.of(alice))
	for h := range prices {
		addr, _ := sdk.AccAddressFromBech32(h)
		require.Equal(t, uint64(0), f.hoster(addr).Assignments)
	}
	// commits to an expired order are refused
	f.refused(types.ErrOrderEnded, func() error {
		for h := range prices {
			_, err := f.msg.Commit(f.ctx, &types.MsgCommit{Hoster: h, OrderId: res.OrderId, Length: 10})
			return err
		}
		return nil
	})
}

func TestExpiriesAreBoundedPerBlock(t *testing.T) {
	f := newFixture(t)
	f.setParams(func(p *types.Params) { p.ExpiriesPerBlock = 2 })
	eb := int64(f.params().EpochBlocks)
	threeHosters(f)
	for i := 0; i < 5; i++ {
		_, err := f.msg.PlaceOrder(f.ctx, f.placeMsg("alice", newWriter("w"+string(rune('0'+i))).core(t, 1, 10), 1, 100, 1))
		require.NoError(t, err)
	}
	count := func() int {
		n := 0
		for id := uint64(1); id <= 5; id++ {
			if f.order(id).Status == types.ORDER_STATUS_EXPIRED {
				n++
			}
		}
		return n
	}
	f.endBlocksTo(2 * eb)
	require.Equal(t, 2, count())
	f.endBlocksTo(2*eb + 1)
	require.Equal(t, 4, count())
	f.endBlocksTo(2*eb + 2)
	require.Equal(t, 5, count())
}

func TestExtendOrder(t *testing.T) {
	f := newFixture(t)
	hs := threeHosters(f)
	alice := f.user("alice")
	eb := int64(f.params().EpochBlocks)
	w := newWriter("w")
	res, err := f.msg.PlaceOrder(f.ctx, f.placeMsg("alice", w.core(t, 10, 1<<30), 3, 100, 10))
	require.NoError(t, err)
	id := res.OrderId
	commitAll(t, f, id)
	f.endBlocksTo(2 * eb) // epoch 2: epoch 1 accrued (300)

	grown := w.core(t, 20, 2<<30)
	ext := func(topUp int64, mut func(*types.MsgExtendOrder)) *types.MsgExtendOrder {
		m := &types.MsgExtendOrder{Owner: alice.String(), OrderId: id, Cores: []types.Core{grown}, ExtraEpochs: 1,
			TopUp: sdk.NewInt64Coin(denom, topUp)}
		if mut != nil {
			mut(m)
		}
		return m
	}
	// needed: 3 slots x 200 (2 GiB at 100) x 10 epochs (2..11, one added) =
	// 6000; escrow after settling epoch 1 is 2700
	f.refused(types.ErrDepositTooLow, func() error { _, err := f.msg.ExtendOrder(f.ctx, ext(3299, nil)); return err })
	f.refused(types.ErrNotOrderOwner, func() error {
		_, err := f.msg.ExtendOrder(f.ctx, ext(3300, func(m *types.MsgExtendOrder) { m.Owner = hs[0].String() }))
		return err
	})
	f.refused(types.ErrBadSignature, func() error {
		_, err := f.msg.ExtendOrder(f.ctx, ext(3300, func(m *types.MsgExtendOrder) {
			c := grown
			c.Length = 21
			c.Roots = types.RootsFromNodes(testRoots(w.key, 21, c.ByteLength))
			c.TreeHash = treeHashOf(c.Roots)
			m.Cores = []types.Core{c}
		}))
		return err
	})
	f.refused(types.ErrInvalidCore, func() error {
		_, err := f.msg.ExtendOrder(f.ctx, ext(3300, func(m *types.MsgExtendOrder) { m.Cores = []types.Core{w.core(t, 5, 1<<30)} }))
		return err
	})
	f.refused(types.ErrInvalidCore, func() error {
		_, err := f.msg.ExtendOrder(f.ctx, ext(3300, func(m *types.MsgExtendOrder) { m.Cores = []types.Core{newWriter("x").core(t, 20, 2<<30)} }))
		return err
	})

	_, err = f.msg.ExtendOrder(f.ctx, ext(3300, nil))
	require.NoError(t, err)
	o := f.order(id)
	require.Equal(t, uint64(20), o.Cores[0].Length)
	require.Equal(t, uint64(12), o.EndEpoch)
	eqInt(t, math.NewInt(6000), o.Escrow)
	eqInt(t, math.NewInt(300), o.Paid)
	require.Equal(t, types.ORDER_STATUS_ASSIGNED, o.Status, "hosters must re-commit the new length")
	// the old length is remembered with its signed tree hash: x/attest
	// challenges the slots still committed to it on that tree
	require.Equal(t, []types.KnownLength{{CoreIndex: 0, Length: 10, ByteLength: 1 << 30, TreeHash: w.core(t, 10, 1<<30).TreeHash}}, o.KnownLengths)
	for _, h := range hs {
		require.Equal(t, uint64(2<<30), f.hoster(h).Used)
	}
	as := f.assignments(id)
	f.refused(types.ErrLengthMismatch, func() error {
		_, err := f.msg.Commit(f.ctx, &types.MsgCommit{Hoster: as[0].Hoster, OrderId: id, CoreIndex: 0, Length: 10})
		return err
	})
	commitAll(t, f, id)
	require.Equal(t, types.ORDER_STATUS_ACTIVE, f.order(id).Status)

	// run to the end: the escrow exactly pays epochs 2..11 at the new size
	f.endBlocksTo(12 * eb)
	o = f.order(id)
	require.Equal(t, types.ORDER_STATUS_EXPIRED, o.Status)
	eqInt(t, math.NewInt(300+3*200*10), o.Paid)
	eqInt(t, math.ZeroInt(), o.Escrow)
}

func TestSlotPriceRoundsUp(t *testing.T) {
	eqInt(t, math.NewInt(1), types.SlotPrice(math.NewInt(1), 1))
	eqInt(t, math.NewInt(100), types.SlotPrice(math.NewInt(100), 1<<30))
	eqInt(t, math.NewInt(101), types.SlotPrice(math.NewInt(100), 1<<30+1))
	eqInt(t, math.NewInt(50), types.SlotPrice(math.NewInt(100), 1<<29))
	eqInt(t, math.ZeroInt(), types.SlotPrice(math.ZeroInt(), 1<<40))
}

func TestExpiryThatCannotPayIsRetriedAnEpochLater(t *testing.T) {
	f := newFixture(t)
	threeHosters(f)
	eb := int64(f.params().EpochBlocks)
	res, err := f.msg.PlaceOrder(f.ctx, f.placeMsg("alice", newWriter("w").core(t, 10, 1<<30), 3, 100, 2))
	require.NoError(t, err)
	commitAll(t, f, res.OrderId)
	f.endBlocksTo(3*eb - 1)

	held := f.led.get(moduleAcct)
	f.led.bal[moduleAcct] = math.ZeroInt() // the bank refuses every payout
	f.resetEvents()
	f.endBlocksTo(3 * eb)
	o := f.order(res.OrderId)
	ext := typedEvents[*types.EventOrderExtended](t, f)
	require.Len(t, ext, 1, "the forced extension is visible")
	require.Equal(t, uint64(4), ext[0].EndEpoch)
	require.Empty(t, typedEvents[*types.EventOrderExpired](t, f), "no expiry event for the rolled-back expiry")
	require.Equal(t, types.ORDER_STATUS_ACTIVE, o.Status, "the chain kept going and the order is intact")
	require.Equal(t, uint64(4), o.EndEpoch)
	eqInt(t, math.NewInt(600), o.Escrow)

	f.led.bal[moduleAcct] = held
	f.endBlocksTo(4 * eb)
	o = f.order(res.OrderId)
	require.Equal(t, types.ORDER_STATUS_EXPIRED, o.Status)
	eqInt(t, math.NewInt(600), o.Paid, "escrow (2 epochs x 300) caps the pay of the extra epoch")
}

// max_duration_epochs bounds the epochs paid ahead, not an order's whole
// life: an order extended before it runs out may be renewed again and
// again (the gateway's renewal), while one extension reaching further
// ahead than the bound is refused and changes nothing.
func TestExtendBoundsRemainingDurationNotTotal(t *testing.T) {
	f := newFixture(t)
	threeHosters(f)
	f.setParams(func(p *types.Params) { p.MaxDurationEpochs = 10 })
	eb := int64(f.params().EpochBlocks)
	alice := f.user("alice")
	res, err := f.msg.PlaceOrder(f.ctx, f.placeMsg("alice", newWriter("w").core(t, 10, 1<<30), 3, 100, 10))
	require.NoError(t, err)
	id := res.OrderId
	commitAll(t, f, id)
	end := f.order(id).EndEpoch // placement epoch + 1 + 10
	for round := range 3 {
		f.endBlocksTo(int64(end-5) * eb) // 5 epochs left
		ext := func(extra uint64) *types.MsgExtendOrder {
			return &types.MsgExtendOrder{Owner: alice.String(), OrderId: id, ExtraEpochs: extra, TopUp: sdk.NewInt64Coin(denom, 3*100*int64(extra))}
		}
		// now end-5: the epochs after this one up to end+extra are 4+extra
		f.refused(types.ErrInvalidDuration, func() error { _, err := f.msg.ExtendOrder(f.ctx, ext(7)); return err })
		_, err := f.msg.ExtendOrder(f.ctx, ext(6))
		require.NoError(t, err, "renewal %d", round)
		o := f.order(id)
		require.Equal(t, end+6, o.EndEpoch)
		require.Greater(t, o.DurationEpochs, uint64(10), "the whole life exceeds the bound")
		require.False(t, o.IsEnded())
		end = o.EndEpoch
	}
}

// An order past its end epoch whose expiry EndBlock has not processed yet
// cannot be extended: the extra epochs would start in the past, where the
// escrow check (which counts from the current epoch) does not look, so the
// hosters would accrue pay the escrow does not hold.
func TestExtendRefusedAfterEndEpoch(t *testing.T) {
	f := newFixture(t)
	threeHosters(f)
	eb := int64(f.params().EpochBlocks)
	w := newWriter("w")
	res, err := f.msg.PlaceOrder(f.ctx, f.placeMsg("alice", w.core(t, 10, 1<<30), 3, 100, 1))
	require.NoError(t, err)
	commitAll(t, f, res.OrderId)
	o := f.order(res.OrderId)
	// jump past the end without running EndBlock (a backlog of expiries)
	f.setHeight(int64(o.EndEpoch+2) * eb)
	f.refused(types.ErrOrderEnded, func() error {
		_, err := f.msg.ExtendOrder(f.ctx, &types.MsgExtendOrder{
			Owner: o.Owner, OrderId: o.Id, ExtraEpochs: 2, TopUp: sdk.NewInt64Coin(denom, 1),
		})
		return err
	})
	// the escrow pays exactly the one funded epoch
	_, err = f.msg.ClaimPayment(f.ctx, &types.MsgClaimPayment{Hoster: f.assignments(o.Id)[0].Hoster})
	require.NoError(t, err)
	eqInt(t, math.NewInt(100), f.assignments(o.Id)[0].Paid)
}

// After an extension grows a core, a hoster that has not re-committed is
// paid for the bytes it committed to, not for the new size; once it
// re-commits it earns at the new size.
func TestStaleCommitPaidForCommittedBytes(t *testing.T) {
	f := newFixture(t)
	threeHosters(f) // price 100 per GiB per epoch
	eb := int64(f.params().EpochBlocks)
	alice := f.user("alice").String()
	w := newWriter("w")
	res, err := f.msg.PlaceOrder(f.ctx, f.placeMsg("alice", w.core(t, 10, 1<<30), 3, 100, 20))
	require.NoError(t, err)
	id := res.OrderId
	commitAll(t, f, id)
	f.endBlocksTo(2 * eb) // epoch 1 earned: 100 per slot

	_, err = f.msg.ExtendOrder(f.ctx, &types.MsgExtendOrder{Owner: alice, OrderId: id,
		Cores: []types.Core{w.core(t, 20, 2<<30)}, TopUp: sdk.NewInt64Coin(denom, 3*100*19)})
	require.NoError(t, err)
	as := f.assignments(id)
	lagging, fresh := as[0], as[1]
	_, err = f.msg.Commit(f.ctx, &types.MsgCommit{Hoster: fresh.Hoster, OrderId: id, Length: 20})
	require.NoError(t, err)

	f.endBlocksTo(5 * eb) // epochs 2, 3, 4
	for _, a := range []types.Assignment{lagging, fresh} {
		_, err = f.msg.ClaimPayment(f.ctx, &types.MsgClaimPayment{Hoster: a.Hoster, OrderId: id})
		require.NoError(t, err)
	}
	byHoster := map[string]types.Assignment{}
	for _, a := range f.assignments(id) {
		byHoster[a.Hoster] = a
	}
	eqInt(t, math.NewInt(100+3*100), byHoster[lagging.Hoster].Paid, "lagging hoster: 1 GiB rate")
	eqInt(t, math.NewInt(100+3*200), byHoster[fresh.Hoster].Paid, "re-committed hoster: 2 GiB rate")

	// the lagging hoster catches up: its pay up to now stays at the old
	// size, later epochs at the new one
	_, err = f.msg.Commit(f.ctx, &types.MsgCommit{Hoster: lagging.Hoster, OrderId: id, Length: 20})
	require.NoError(t, err)
	f.endBlocksTo(6 * eb)
	_, err = f.msg.ClaimPayment(f.ctx, &types.MsgClaimPayment{Hoster: lagging.Hoster, OrderId: id})
	require.NoError(t, err)
	for _, a := range f.assignments(id) {
		if a.Hoster == lagging.Hoster {
			eqInt(t, math.NewInt(100+3*100+200), a.Paid)
			require.Equal(t, uint64(2<<30), a.CommittedBytes)
		}
	}
}

// A hoster's used-bytes counter cannot wrap around when an extension grows
// its cores (a wrapped counter would show it nearly empty): the extension
// is refused and nothing changes.
func TestExtendRefusesUsedBytesOverflow(t *testing.T) {
	f := newFixture(t)
	hs := threeHosters(f)
	w := newWriter("w")
	res, err := f.msg.PlaceOrder(f.ctx, f.placeMsg("alice", w.core(t, 1, 1<<20), 3, 100, 5))
	require.NoError(t, err)
	h := f.hoster(hs[0])
	h.Capacity = ^uint64(0)
	h.Used = ^uint64(0) - 10 // as if it held a vast amount already
	require.NoError(t, f.k.Hosters.Set(f.ctx, hs[0], h))
	// the hoster cannot account the growth, so its slot would move; no
	// other hoster exists, so the extension is refused
	f.refused(types.ErrNoHosters, func() error {
		_, err := f.msg.ExtendOrder(f.ctx, &types.MsgExtendOrder{Owner: f.user("alice").String(), OrderId: res.OrderId,
			Cores: []types.Core{w.core(t, 2, 2<<20)}, TopUp: sdk.NewInt64Coin(denom, 1000)})
		return err
	})
}
