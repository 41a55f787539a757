package keeper_test

import (
	"testing"

	"github.com/stretchr/testify/require"

	"cosmossdk.io/math"

	sdk "github.com/cosmos/cosmos-sdk/types"

	"github.com/datdot/datdot/x/storage/types"
)

func TestRegisterHoster(t *testing.T) {
	f := newFixture(t)
	a := f.register("h1", "eu-west", 10<<30, 100)
	h := f.hoster(a)
	require.Equal(t, types.HOSTER_STATUS_ACTIVE, h.Status)
	eqInt(t, math.NewInt(1_000_000), h.Stake)
	require.Equal(t, uint64(10<<30), h.Capacity)
	eqInt(t, math.NewInt(1_000_000), f.led.get(moduleAcct), "stake escrowed in the module account")
	eqInt(t, math.NewInt(1_000_000_000_000-1_000_000), f.led.of(a))
	require.True(t, f.hasEvent("datdot.storage.v1.EventHosterRegistered"))
	n, err := f.k.ActiveCount.Get(f.ctx)
	require.NoError(t, err)
	require.Equal(t, uint64(1), n)

	res, err := f.q.Hoster(f.ctx, &types.QueryHosterRequest{Address: a.String()})
	require.NoError(t, err)
	require.Equal(t, uint64(10<<30), res.Free)
}

func TestRegisterHosterRefusesBadInput(t *testing.T) {
	f := newFixture(t)
	f.register("taken", "eu", 1<<30, 1)
	good := func() *types.MsgRegisterHoster {
		return &types.MsgRegisterHoster{
			Hoster: f.user("new").String(), Stake: sdk.NewInt64Coin(denom, 1_000_000), Capacity: 1 << 30,
			Endpoint: "https://x.example", Region: "eu", PricePerGibEpoch: math.NewInt(5),
		}
	}
	cases := []struct {
		name string
		mut  func(*types.MsgRegisterHoster)
		want error
	}{
		{"already registered", func(m *types.MsgRegisterHoster) { m.Hoster = f.user("taken").String() }, types.ErrHosterExists},
		{"stake below minimum", func(m *types.MsgRegisterHoster) { m.Stake = sdk.NewInt64Coin(denom, 999_999) }, types.ErrInvalidStake},
		{"zero stake", func(m *types.MsgRegisterHoster) { m.Stake = sdk.NewInt64Coin(denom, 0) }, types.ErrInvalidStake},
		{"wrong denom", func(m *types.MsgRegisterHoster) { m.Stake = sdk.NewInt64Coin("atom", 5_000_000) }, types.ErrInvalidDenom},
		{"zero capacity", func(m *types.MsgRegisterHoster) { m.Capacity = 0 }, types.ErrInvalidCapacity},
		{"endpoint not a URL", func(m *types.MsgRegisterHoster) { m.Endpoint = "hoster.example" }, types.ErrInvalidEndpoint},
		{"endpoint ftp", func(m *types.MsgRegisterHoster) { m.Endpoint = "ftp://hoster.example" }, types.ErrInvalidEndpoint},
		{"empty region", func(m *types.MsgRegisterHoster) { m.Region = "" }, types.ErrInvalidRegion},
		{"region with spaces", func(m *types.MsgRegisterHoster) { m.Region = "EU West" }, types.ErrInvalidRegion},
		{"negative price", func(m *types.MsgRegisterHoster) { m.PricePerGibEpoch = math.NewInt(-1) }, types.ErrInvalidPrice},
		{"bad address", func(m *types.MsgRegisterHoster) { m.Hoster = "cosmos1nothing" }, types.ErrInvalidAddress},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(st *testing.T) {
			f.useT(st)
			defer f.useT(t)
			m := good()
			tc.mut(m)
			f.refused(tc.want, func() error { _, err := f.msg.RegisterHoster(f.ctx, m); return err })
		})
	}
	// a hoster without the funds: the bank refuses, nothing is written
	poor := sdk.AccAddress(make([]byte, 20))
	m := good()
	m.Hoster = poor.String()
	before := f.snapshot()
	_, err := f.msg.RegisterHoster(f.ctx, m)
	require.ErrorContains(t, err, "insufficient funds")
	require.Equal(t, before, f.snapshot())
}

func TestUpdateHosterAndAddStake(t *testing.T) {
	f := newFixture(t)
	a := f.register("h1", "eu", 2<<30, 100)
	_, err := f.msg.UpdateHoster(f.ctx, &types.MsgUpdateHoster{Hoster: a.String(), Capacity: 4 << 30, Region: "us-east", PricePerGibEpoch: math.NewInt(50)})
	require.NoError(t, err)
	h := f.hoster(a)
	require.Equal(t, uint64(4<<30), h.Capacity)
	require.Equal(t, "us-east", h.Region)
	eqInt(t, math.NewInt(50), h.PricePerGibEpoch)
	require.Equal(t, "https://h1.example:8443", h.Endpoint, "unset fields stay unchanged")

	f.refused(types.ErrInvalidPrice, func() error {
		_, err := f.msg.UpdateHoster(f.ctx, &types.MsgUpdateHoster{Hoster: a.String(), PricePerGibEpoch: math.NewInt(-1)})
		return err
	})
	nobody := f.user("nobody")
	f.refused(types.ErrHosterNotFound, func() error {
		_, err := f.msg.UpdateHoster(f.ctx, &types.MsgUpdateHoster{Hoster: nobody.String(), Capacity: 5})
		return err
	})
	f.refused(types.ErrNothingToUpdate, func() error {
		_, err := f.msg.UpdateHoster(f.ctx, &types.MsgUpdateHoster{Hoster: a.String()})
		return err
	})

	_, err = f.msg.AddStake(f.ctx, &types.MsgAddStake{Hoster: a.String(), Amount: sdk.NewInt64Coin(denom, 500)})
	require.NoError(t, err)
	eqInt(t, math.NewInt(1_000_500), f.hoster(a).Stake)
	eqInt(t, math.NewInt(1_000_500), f.led.get(moduleAcct))
	f.refused(types.ErrInvalidDenom, func() error {
		_, err := f.msg.AddStake(f.ctx, &types.MsgAddStake{Hoster: a.String(), Amount: sdk.NewInt64Coin("atom", 5)})
		return err
	})
}

func TestCapacityCannotDropBelowUsed(t *testing.T) {
	f := newFixture(t)
	hs := []sdk.AccAddress{f.register("a", "r1", 10<<20, 1), f.register("b", "r2", 10<<20, 1), f.register("c", "r3", 10<<20, 1)}
	_, err := f.msg.PlaceOrder(f.ctx, f.placeMsg("alice", newWriter("w").core(t, 10, 4<<20), 3, 1, 10))
	require.NoError(t, err)
	for _, h := range hs {
		require.Equal(t, uint64(4<<20), f.hoster(h).Used)
	}
	f.refused(types.ErrInvalidCapacity, func() error {
		_, err := f.msg.UpdateHoster(f.ctx, &types.MsgUpdateHoster{Hoster: hs[0].String(), Capacity: 3 << 20})
		return err
	})
}

func TestLeaveAndUnbonding(t *testing.T) {
	f := newFixture(t)
	hs := []sdk.AccAddress{f.register("a", "r1", 1<<30, 1), f.register("b", "r2", 1<<30, 1), f.register("c", "r3", 1<<30, 1)}
	f.register("d", "r4", 1<<30, 1)
	_, err := f.msg.PlaceOrder(f.ctx, f.placeMsg("alice", newWriter("w").core(t, 1, 100), 3, 10, 5))
	require.NoError(t, err)

	// every assigned hoster is refused; which three got the slots depends
	// on the seed, so find them
	var assigned, free []sdk.AccAddress
	for _, h := range append(hs, f.user("d")) {
		if f.hoster(h).Assignments > 0 {
			assigned = append(assigned, h)
		} else {
			free = append(free, h)
		}
	}
	require.Len(t, assigned, 3)
	require.Len(t, free, 1)
	for _, h := range assigned {
		f.refused(types.ErrHosterHasAssignments, func() error {
			_, err := f.msg.Leave(f.ctx, &types.MsgLeave{Hoster: h.String()})
			return err
		})
	}

	leaver := free[0]
	before := f.led.of(leaver)
	res, err := f.msg.Leave(f.ctx, &types.MsgLeave{Hoster: leaver.String()})
	require.NoError(t, err)
	due := f.height() + int64(f.params().UnbondingBlocks)
	require.Equal(t, due, res.UnbondingHeight)
	h := f.hoster(leaver)
	require.Equal(t, types.HOSTER_STATUS_LEAVING, h.Status)
	n, _ := f.k.ActiveCount.Get(f.ctx)
	require.Equal(t, uint64(3), n, "leaving hoster left the active index")

	f.refused(types.ErrUnbondingNotOver, func() error {
		_, err := f.msg.WithdrawStake(f.ctx, &types.MsgWithdrawStake{Hoster: leaver.String()})
		return err
	})
	f.refused(types.ErrHosterNotLeaving, func() error {
		_, err := f.msg.WithdrawStake(f.ctx, &types.MsgWithdrawStake{Hoster: assigned[0].String()})
		return err
	})
	f.refused(types.ErrHosterNotActive, func() error {
		_, err := f.msg.Leave(f.ctx, &types.MsgLeave{Hoster: leaver.String()})
		return err
	})

	f.endBlocksTo(due - 1)
	eqInt(t, before, f.led.of(leaver), "no payout before the due height")
	f.endBlocksTo(due)
	eqInt(t, before.AddRaw(1_000_000), f.led.of(leaver), "EndBlock returned the stake")
	has, err := f.k.Hosters.Has(f.ctx, leaver)
	require.NoError(t, err)
	require.False(t, has)
	gs, err := f.k.ExportGenesis(f.ctx)
	require.NoError(t, err)
	require.Empty(t, gs.UnbondingQueue)
}

func TestWithdrawStakeExplicitly(t *testing.T) {
	f := newFixture(t)
	a := f.register("a", "r1", 1<<30, 1)
	res, err := f.msg.Leave(f.ctx, &types.MsgLeave{Hoster: a.String()})
	require.NoError(t, err)
	f.setHeight(res.UnbondingHeight) // no EndBlock ran
	out, err := f.msg.WithdrawStake(f.ctx, &types.MsgWithdrawStake{Hoster: a.String()})
	require.NoError(t, err)
	require.Equal(t, sdk.NewInt64Coin(denom, 1_000_000), out.Amount)
	eqInt(t, math.ZeroInt(), f.led.get(moduleAcct))
	// the queue entry went with it: EndBlock has nothing to pay twice
	require.NoError(t, f.k.EndBlocker(f.ctx))
	eqInt(t, math.ZeroInt(), f.led.get(moduleAcct))
}

// An unbonding payout that fails (the bank refuses) does not halt the
// chain: the stake stays, the hoster is re-queued one unbonding period
// later and an event says so; the next attempt pays.
func TestUnbondingPayoutFailureIsRetried(t *testing.T) {
	f := newFixture(t)
	h := f.register("a", "r1", 1<<30, 1)
	res, err := f.msg.Leave(f.ctx, &types.MsgLeave{Hoster: h.String()})
	require.NoError(t, err)
	f.endBlocksTo(res.UnbondingHeight - 1)
	held := f.led.get(moduleAcct)
	f.led.bal[moduleAcct] = math.ZeroInt()
	f.resetEvents()
	f.endBlocksTo(res.UnbondingHeight)
	again := res.UnbondingHeight + int64(f.params().UnbondingBlocks) + 1
	require.Equal(t, again, f.hoster(h).UnbondingHeight)
	ev := typedEvents[*types.EventHosterLeaving](t, f)
	require.Len(t, ev, 1)
	require.Equal(t, again, ev[0].UnbondingHeight)
	require.Empty(t, typedEvents[*types.EventStakeWithdrawn](t, f))

	f.led.bal[moduleAcct] = held
	before := f.led.of(h)
	f.endBlocksTo(again)
	eqInt(t, before.AddRaw(1_000_000), f.led.of(h))
}
