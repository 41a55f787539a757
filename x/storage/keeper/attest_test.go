package keeper_test

import (
	"fmt"
	"testing"

	"github.com/stretchr/testify/require"

	"cosmossdk.io/collections"
	"cosmossdk.io/math"

	sdk "github.com/cosmos/cosmos-sdk/types"
	authtypes "github.com/cosmos/cosmos-sdk/x/auth/types"

	"github.com/datdot/datdot/x/storage/types"
)

func TestReportPassAndFault(t *testing.T) {
	f := newFixture(t)
	threeHosters(f)
	res, err := f.msg.PlaceOrder(f.ctx, f.placeMsg("alice", newWriter("w").core(t, 1, 100), 3, 100, 5))
	require.NoError(t, err)
	a := f.assignments(res.OrderId)[1]
	addr, _ := sdk.AccAddressFromBech32(a.Hoster)

	require.NoError(t, f.k.ReportPass(f.ctx, res.OrderId, 0, 1))
	require.NoError(t, f.k.ReportPass(f.ctx, res.OrderId, 0, 1))
	require.NoError(t, f.k.ReportFault(f.ctx, res.OrderId, 0, 1, "wrong block"))
	require.True(t, f.hasEvent("datdot.storage.v1.EventPassReported"))
	require.True(t, f.hasEvent("datdot.storage.v1.EventFaultReported"))
	got, err := f.k.GetAssignment(f.ctx, res.OrderId, 0, 1)
	require.NoError(t, err)
	require.Equal(t, uint64(2), got.Passes)
	require.Equal(t, uint64(1), got.Faults)
	h := f.hoster(addr)
	require.Equal(t, uint64(2), h.Passes)
	require.Equal(t, uint64(1), h.Faults)

	f.refused(types.ErrAssignmentNotFound, func() error { return f.k.ReportPass(f.ctx, res.OrderId, 0, 3) })
	f.refused(types.ErrAssignmentNotFound, func() error { return f.k.ReportFault(f.ctx, 42, 0, 0, "x") })
}

func TestSlashHoster(t *testing.T) {
	f := newFixture(t)
	a := f.register("h", "eu", 1<<30, 1)
	moduleBefore := f.led.get(moduleAcct)

	amt, err := f.k.SlashHoster(f.ctx, a, math.LegacyNewDecWithPrec(1, 1)) // 10%
	require.NoError(t, err)
	eqInt(t, math.NewInt(100_000), amt)
	eqInt(t, math.NewInt(900_000), f.hoster(a).Stake)
	eqInt(t, math.NewInt(100_000), f.led.burned, "burned by default")
	eqInt(t, moduleBefore.SubRaw(100_000), f.led.get(moduleAcct))
	require.Equal(t, types.HOSTER_STATUS_JAILED, f.hoster(a).Status, "below min stake: jailed")
	require.True(t, f.hasEvent("datdot.storage.v1.EventHosterSlashed"))
	n, _ := f.k.ActiveCount.Get(f.ctx)
	require.Equal(t, uint64(0), n)

	for _, bad := range []math.LegacyDec{math.LegacyZeroDec(), math.LegacyNewDec(2), math.LegacyNewDec(-1)} {
		f.refused(types.ErrInvalidFraction, func() error { _, err := f.k.SlashHoster(f.ctx, a, bad); return err })
	}
	nobody := f.user("nobody")
	f.refused(types.ErrHosterNotFound, func() error { _, err := f.k.SlashHoster(f.ctx, nobody, math.LegacyOneDec()); return err })

	// with a slash recipient the coins go there instead
	recipient := f.user("community")
	f.setParams(func(p *types.Params) { p.SlashRecipient = recipient.String() })
	before := f.led.of(recipient)
	amt, err = f.k.SlashHoster(f.ctx, a, math.LegacyNewDecWithPrec(5, 1))
	require.NoError(t, err)
	eqInt(t, math.NewInt(450_000), amt)
	eqInt(t, before.AddRaw(450_000), f.led.of(recipient))
	eqInt(t, math.NewInt(100_000), f.led.burned, "nothing more burned")
}

func TestReplaceAssignment(t *testing.T) {
	f := newFixture(t)
	hs := threeHosters(f)
	eb := int64(f.params().EpochBlocks)
	res, err := f.msg.PlaceOrder(f.ctx, f.placeMsg("alice", newWriter("w").core(t, 10, 1<<30), 3, 100, 10))
	require.NoError(t, err)
	id := res.OrderId
	commitAll(t, f, id)
	require.Equal(t, types.ORDER_STATUS_ACTIVE, f.order(id).Status)

	// no spare hoster: refused, nothing changes
	f.refused(types.ErrNoHosters, func() error { _, err := f.k.ReplaceAssignment(f.ctx, id, 0, 2); return err })

	spare := f.register("spare", "sa-east", 10<<30, 50)
	expensive := f.register("pricey", "af-south", 10<<30, 101)
	_ = expensive
	f.endBlocksTo(3 * eb) // epochs 1, 2 accrued
	old, err := f.k.GetAssignment(f.ctx, id, 0, 2)
	require.NoError(t, err)
	oldAddr, _ := sdk.AccAddressFromBech32(old.Hoster)
	oldBal := f.led.of(oldAddr)

	got, err := f.k.ReplaceAssignment(f.ctx, id, 0, 2)
	require.NoError(t, err)
	require.Equal(t, spare, got, "the only eligible hoster outside the order (the other is above max price)")
	require.True(t, f.hasEvent("datdot.storage.v1.EventAssignmentReplaced"))

	eqInt(t, oldBal.AddRaw(200), f.led.of(oldAddr), "old hoster paid for epochs 1-2")
	oh := f.hoster(oldAddr)
	require.Equal(t, uint64(0), oh.Assignments)
	require.Equal(t, uint64(0), oh.Used)
	nh := f.hoster(spare)
	require.Equal(t, uint64(1), nh.Assignments)
	require.Equal(t, uint64(1<<30), nh.Used)
	na, err := f.k.GetAssignment(f.ctx, id, 0, 2)
	require.NoError(t, err)
	require.Equal(t, spare.String(), na.Hoster)
	require.Equal(t, uint64(0), na.CommittedLength)
	eqInt(t, math.NewInt(50), na.PricePerGibEpoch)
	require.Equal(t, types.ORDER_STATUS_ASSIGNED, f.order(id).Status, "waits for the new hoster's commit")

	// the replaced hoster can no longer commit, and may now leave
	f.refused(types.ErrNotAssigned, func() error {
		_, err := f.msg.Commit(f.ctx, &types.MsgCommit{Hoster: old.Hoster, OrderId: id, CoreIndex: 0, Length: 10})
		return err
	})
	_, err = f.msg.Leave(f.ctx, &types.MsgLeave{Hoster: old.Hoster})
	require.NoError(t, err)
	_, err = f.msg.Commit(f.ctx, &types.MsgCommit{Hoster: spare.String(), OrderId: id, CoreIndex: 0, Length: 10})
	require.NoError(t, err)
	require.Equal(t, types.ORDER_STATUS_ACTIVE, f.order(id).Status)
	_ = hs
}

func TestUpdateParams(t *testing.T) {
	f := newFixture(t)
	p := f.params()
	p.MinStake = math.NewInt(5)
	p.StakeWeightCap = math.NewInt(20)
	alice := f.user("alice")
	f.refused(types.ErrInvalidAuthority, func() error {
		_, err := f.msg.UpdateParams(f.ctx, &types.MsgUpdateParams{Authority: alice.String(), Params: p})
		return err
	})
	bad := p
	bad.EpochBlocks = 7
	f.refused(types.ErrInvalidParams, func() error {
		_, err := f.msg.UpdateParams(f.ctx, &types.MsgUpdateParams{Authority: f.gov, Params: bad})
		return err
	})
	bad = p
	bad.Denom = "atom"
	f.refused(types.ErrInvalidParams, func() error {
		_, err := f.msg.UpdateParams(f.ctx, &types.MsgUpdateParams{Authority: f.gov, Params: bad})
		return err
	})
	bad = p
	bad.SampleAttempts = 0
	f.refused(types.ErrInvalidParams, func() error {
		_, err := f.msg.UpdateParams(f.ctx, &types.MsgUpdateParams{Authority: f.gov, Params: bad})
		return err
	})
	bad = p
	bad.MaxSlotsPerOrder, bad.SampleAttempts = 4096, 4096 // each fine alone, 2^24 draws together
	f.refused(types.ErrInvalidParams, func() error {
		_, err := f.msg.UpdateParams(f.ctx, &types.MsgUpdateParams{Authority: f.gov, Params: bad})
		return err
	})
	bad = p
	bad.MaxSlotsPerOrder, bad.ExpiriesPerBlock = 4096, 1000 // 4M slot releases in one EndBlock
	bad.SampleAttempts = 1
	f.refused(types.ErrInvalidParams, func() error {
		_, err := f.msg.UpdateParams(f.ctx, &types.MsgUpdateParams{Authority: f.gov, Params: bad})
		return err
	})
	for _, r := range []string{"not-an-address", f.gov, authtypes.NewModuleAddress(types.ModuleName).String()} {
		bad = p
		bad.SlashRecipient = r // malformed, or a module account x/bank refuses to pay
		f.refused(types.ErrInvalidParams, func() error {
			_, err := f.msg.UpdateParams(f.ctx, &types.MsgUpdateParams{Authority: f.gov, Params: bad})
			return err
		})
	}
	_, err := f.msg.UpdateParams(f.ctx, &types.MsgUpdateParams{Authority: f.gov, Params: p})
	require.NoError(t, err)
	eqInt(t, math.NewInt(5), f.params().MinStake)
	q, err := f.q.Params(f.ctx, &types.QueryParamsRequest{})
	require.NoError(t, err)
	eqInt(t, math.NewInt(20), q.Params.StakeWeightCap)
}

// checkAssignmentIndex asserts the dense assignment index matches the
// assignments exactly.
func checkAssignmentIndex(t *testing.T, f *fixture) uint64 {
	t.Helper()
	n, err := f.k.NumAssignments(f.ctx)
	require.NoError(t, err)
	total := 0
	require.NoError(t, f.k.Assignments.Walk(f.ctx, nil, func(_ collections.Pair[uint64, uint64], _ types.Assignment) (bool, error) {
		total++
		return false, nil
	}))
	require.Equal(t, uint64(total), n)
	for i := uint64(0); i < n; i++ {
		a, err := f.k.AssignmentAt(f.ctx, i)
		require.NoError(t, err)
		require.Equal(t, i, a.Index)
	}
	_, err = f.k.AssignmentAt(f.ctx, n)
	require.ErrorIs(t, err, types.ErrAssignmentNotFound)
	return n
}

func TestAssignmentIndexStaysDense(t *testing.T) {
	f := newFixture(t)
	threeHosters(f)
	f.register("h4", "sa", 10<<30, 1)
	var ids []uint64
	for i := 0; i < 5; i++ {
		res, err := f.msg.PlaceOrder(f.ctx, f.placeMsg("alice", newWriter(fmt.Sprint("w", i)).core(t, 1, 10), 3, 100, 5))
		require.NoError(t, err)
		ids = append(ids, res.OrderId)
	}
	require.Equal(t, uint64(15), checkAssignmentIndex(t, f))
	for _, id := range []uint64{ids[1], ids[4]} {
		_, err := f.msg.CancelOrder(f.ctx, &types.MsgCancelOrder{Owner: f.user("alice").String(), OrderId: id})
		require.NoError(t, err)
	}
	require.Equal(t, uint64(9), checkAssignmentIndex(t, f))
	_, err := f.k.ReplaceAssignment(f.ctx, ids[0], 0, 1)
	require.NoError(t, err)
	require.Equal(t, uint64(9), checkAssignmentIndex(t, f))
	f.endBlocksTo(200) // everything expires
	require.Equal(t, uint64(0), checkAssignmentIndex(t, f))
}

// A replacement avoids the regions the order's other slots already use,
// as placement does: with a spare hoster in a used region and one in a new
// region, every replacement goes to the new region.
func TestReplaceAssignmentSpreadsRegions(t *testing.T) {
	f := newFixture(t)
	f.register("a", "r1", 10<<30, 1)
	b := f.register("b", "r2", 10<<30, 1)
	var ids []uint64
	for i := 0; i < 8; i++ {
		res, err := f.msg.PlaceOrder(f.ctx, f.placeMsg("alice", newWriter(fmt.Sprint("w", i)).core(t, 1, 1000), 2, 1, 10))
		require.NoError(t, err)
		ids = append(ids, res.OrderId)
	}
	f.register("c", "r1", 10<<30, 1) // same region as a
	d := f.register("d", "r3", 10<<30, 1)
	for _, id := range ids {
		for _, a := range f.assignments(id) {
			if a.Hoster != b.String() {
				continue
			}
			got, err := f.k.ReplaceAssignment(f.ctx, id, a.CoreIndex, a.Replica)
			require.NoError(t, err)
			require.Equal(t, d, got, "order %d: the replacement of b (r2) must go to r3, not to r1 where a holds the other replica", id)
		}
	}
}
