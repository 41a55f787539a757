package keeper_test

import (
	"testing"

	"github.com/stretchr/testify/require"

	"cosmossdk.io/math"

	"github.com/datdot/datdot/x/storage/types"
)

// busyChain builds a state with every kind of record: active, jailed and
// leaving hosters; pending, assigned, active, cancelled orders; committed and
// uncommitted assignments; entries in all three queues.
func busyChain(t *testing.T) *fixture {
	f := newFixture(t)
	hs := threeHosters(f)
	extra := f.register("h4", "sa-east", 10<<30, 100)
	jailed := f.register("h5", "af-south", 10<<30, 100)
	_, err := f.k.SlashHoster(f.ctx, jailed, math.LegacyNewDecWithPrec(5, 1))
	require.NoError(t, err)
	_ = extra

	w := newWriter("w")
	active, err := f.msg.PlaceOrder(f.ctx, f.placeMsg("alice", w.core(t, 10, 1<<30), 3, 100, 20))
	require.NoError(t, err)
	commitAll(t, f, active.OrderId)
	assigned, err := f.msg.PlaceOrder(f.ctx, f.placeMsg("bob", newWriter("w2").core(t, 5, 500), 2, 100, 20))
	require.NoError(t, err)
	a := f.assignments(assigned.OrderId)[0]
	_, err = f.msg.Commit(f.ctx, &types.MsgCommit{Hoster: a.Hoster, OrderId: assigned.OrderId, Length: 5})
	require.NoError(t, err)
	pending, err := f.msg.PlaceOrder(f.ctx, f.placeMsg("alice", newWriter("w3").core(t, 5, 500), 9, 100, 20))
	require.NoError(t, err)
	require.Equal(t, types.ORDER_STATUS_PENDING, pending.Status)
	cancelled, err := f.msg.PlaceOrder(f.ctx, f.placeMsg("bob", newWriter("w4").core(t, 5, 500), 1, 100, 20))
	require.NoError(t, err)
	_, err = f.msg.CancelOrder(f.ctx, &types.MsgCancelOrder{Owner: f.user("bob").String(), OrderId: cancelled.OrderId})
	require.NoError(t, err)
	leaver := f.register("h6", "eu-north", 1<<30, 1)
	_, err = f.msg.Leave(f.ctx, &types.MsgLeave{Hoster: leaver.String()})
	require.NoError(t, err)
	f.endBlocksTo(45)
	_, err = f.msg.ClaimPayment(f.ctx, &types.MsgClaimPayment{Hoster: hs[0].String()})
	require.NoError(t, err)
	return f
}

func TestGenesisRoundTrip(t *testing.T) {
	f := busyChain(t)
	gs, err := f.k.ExportGenesis(f.ctx)
	require.NoError(t, err)
	require.NoError(t, gs.Validate())
	require.Len(t, gs.Orders, 4)
	require.Len(t, gs.Hosters, 6)
	require.Len(t, gs.PendingQueue, 1)
	require.Len(t, gs.ExpiryQueue, 3)
	require.Len(t, gs.UnbondingQueue, 1)
	require.Equal(t, uint64(5), gs.NextOrderId)

	checkAssignmentIndex(t, f)
	g := newBareFixture(t)
	g.setHeight(f.height())
	// x/bank's genesis (not part of this module's) funds the module account
	// before x/storage's InitGenesis, which checks it against stake + escrow
	for _, off := range []int64{-1, 1} {
		g.led.bal[moduleAcct] = f.led.get(moduleAcct).AddRaw(off)
		require.ErrorIs(t, g.k.InitGenesis(g.ctx, gs), types.ErrInvalidGenesis, "module balance off by %d", off)
	}
	g = newBareFixture(t)
	g.setHeight(f.height())
	g.led.bal[moduleAcct] = f.led.get(moduleAcct)
	require.NoError(t, g.k.InitGenesis(g.ctx, gs))
	require.Equal(t, f.snapshot(), g.snapshot(), "import reproduces the exact store, derived indexes included")

	gs2, err := g.k.ExportGenesis(g.ctx)
	require.NoError(t, err)
	enc := func(x *types.GenesisState) []byte { b, err := x.Marshal(); require.NoError(t, err); return b }
	require.Equal(t, enc(gs), enc(gs2))

	// both chains keep behaving identically: run past the unbonding and
	// expiry heights
	for _, x := range []*fixture{f, g} {
		x.endBlocksTo(500)
	}
	eqInt(t, f.led.get(moduleAcct), g.led.get(moduleAcct), "same payouts on both chains")
	require.Equal(t, f.snapshot(), g.snapshot())
}

func TestGenesisValidateRejectsInconsistentState(t *testing.T) {
	f := busyChain(t)
	base, err := f.k.ExportGenesis(f.ctx)
	require.NoError(t, err)
	clone := func() *types.GenesisState {
		b, err := base.Marshal()
		require.NoError(t, err)
		var out types.GenesisState
		require.NoError(t, out.Unmarshal(b))
		return &out
	}
	cases := map[string]func(*types.GenesisState){
		"bad params":              func(g *types.GenesisState) { g.Params.EpochBlocks = 0 },
		"next order id too small": func(g *types.GenesisState) { g.NextOrderId = 2 },
		"duplicate hoster":        func(g *types.GenesisState) { g.Hosters = append(g.Hosters, g.Hosters[0]) },
		"active index gap": func(g *types.GenesisState) {
			for i := range g.Hosters {
				if g.Hosters[i].Status == types.HOSTER_STATUS_ACTIVE && g.Hosters[i].ActiveIndex == 0 {
					g.Hosters[i].ActiveIndex = 99
				}
			}
		},
		"assignment of unknown order": func(g *types.GenesisState) { g.Assignments[0].OrderId = 77 },
		"assignment count mismatch":   func(g *types.GenesisState) { g.Hosters[0].Assignments += 1 },
		"assignment index repeated":   func(g *types.GenesisState) { g.Assignments[1].Index = g.Assignments[0].Index },
		"missing assignment": func(g *types.GenesisState) {
			g.Assignments = g.Assignments[1:]
		},
		"pending order not queued":          func(g *types.GenesisState) { g.PendingQueue = nil },
		"pending entry at the wrong height": func(g *types.GenesisState) { g.PendingQueue[0].Height++ },
		"expiry entry at the wrong height":  func(g *types.GenesisState) { g.ExpiryQueue[0].Height-- },
		"ended order in expiry queue": func(g *types.GenesisState) {
			for _, o := range g.Orders {
				if o.IsEnded() {
					g.ExpiryQueue = append(g.ExpiryQueue, types.QueueEntry{Height: 5, OrderId: o.Id})
				}
			}
		},
		"leaving hoster not queued": func(g *types.GenesisState) { g.UnbondingQueue = nil },
		"bad owner":                 func(g *types.GenesisState) { g.Orders[0].Owner = "nobody" },
		"negative escrow":           func(g *types.GenesisState) { g.Orders[0].Escrow = math.NewInt(-1) },
		"committed beyond length":   func(g *types.GenesisState) { g.Assignments[0].CommittedLength = 1 << 40 },
		"used bytes mismatch":       func(g *types.GenesisState) { g.Hosters[0].Used++ },
		"ended order keeps escrow": func(g *types.GenesisState) {
			for i := range g.Orders {
				if g.Orders[i].IsEnded() {
					g.Orders[i].Escrow = math.NewInt(1)
				}
			}
		},
	}
	for name, mut := range cases {
		t.Run(name, func(t *testing.T) {
			g := clone()
			mut(g)
			require.Error(t, g.Validate())
			fresh := newBareFixture(t)
			require.ErrorIs(t, fresh.k.InitGenesis(fresh.ctx, g), types.ErrInvalidGenesis)
		})
	}
	require.NoError(t, clone().Validate(), "the unmodified state is valid")
	require.NoError(t, types.DefaultGenesis().Validate())
}
