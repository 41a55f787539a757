package keeper_test

import (
	"testing"

	"github.com/stretchr/testify/require"

	"cosmossdk.io/math"

	"github.com/datdot/datdot/x/storage/types"
)

// TestPayFactorScalesPay: two hosters at the same price hold the two
// replicas of one order for the same epochs; one keeps factor 1, the
// other's factor is lowered (as x/attest does after failed performance
// checks). Each epoch pays the factor in force in it, whenever the slot is
// settled; what the lower factor does not pay goes back to the owner.
func TestPayFactorScalesPay(t *testing.T) {
	f := newFixture(t)
	good := f.register("good", "r1", 10<<30, 100)
	poor := f.register("poor", "r2", 10<<30, 100)
	alice := f.user("alice")
	aliceStart := f.led.of(alice)
	eb := int64(f.params().EpochBlocks)
	dec := math.LegacyMustNewDecFromStr

	res, err := f.msg.PlaceOrder(f.ctx, f.placeMsg("alice", newWriter("w").core(t, 10, 1<<30), 2, 100, 8))
	require.NoError(t, err)
	id := res.OrderId
	commitAll(t, f, id) // epoch 0: pay starts with epoch 1
	goodStart, poorStart := f.led.of(good), f.led.of(poor)

	// epoch 2: poor drops to 0.5
	f.endBlocksTo(2 * eb)
	require.NoError(t, f.k.SetPayFactor(f.ctx, poor, dec("0.5")))
	// epoch 3: poor claims epochs 1 (factor 1) and 2 (0.5)
	f.endBlocksTo(3 * eb)
	claim, err := f.msg.ClaimPayment(f.ctx, &types.MsgClaimPayment{Hoster: poor.String()})
	require.NoError(t, err)
	eqInt(t, math.NewInt(150), claim.Amount.Amount)
	// epoch 4: set twice in one epoch, the last one applies to the epoch
	f.endBlocksTo(4 * eb)
	require.NoError(t, f.k.SetPayFactor(f.ctx, poor, dec("0.6")))
	require.NoError(t, f.k.SetPayFactor(f.ctx, poor, dec("0.75")))
	got, err := f.k.PayFactor(f.ctx, poor)
	require.NoError(t, err)
	require.Equal(t, dec("0.75"), got)
	got, err = f.k.PayFactor(f.ctx, good)
	require.NoError(t, err)
	require.Equal(t, math.LegacyOneDec(), got, "no factor set: full pay")
	// setting the factor in force again writes nothing
	before := f.snapshot()
	require.NoError(t, f.k.SetPayFactor(f.ctx, poor, dec("0.75")))
	require.NoError(t, f.k.SetPayFactor(f.ctx, good, math.LegacyOneDec()))
	require.Equal(t, before, f.snapshot())
	// out of range: refused, nothing written
	for _, bad := range []math.LegacyDec{dec("1.000000000000000001"), dec("-0.5"), {}} {
		f.refused(types.ErrInvalidPayFactor, func() error { return f.k.SetPayFactor(f.ctx, poor, bad) })
	}

	// epoch 6: the query shows what a claim pays: epochs 3 (0.5), 4 and 5 (0.75)
	f.endBlocksTo(6 * eb)
	hq, err := f.q.Hoster(f.ctx, &types.QueryHosterRequest{Address: poor.String()})
	require.NoError(t, err)
	eqInt(t, math.NewInt(50+75+75), hq.Accrued)
	claim, err = f.msg.ClaimPayment(f.ctx, &types.MsgClaimPayment{Hoster: poor.String()})
	require.NoError(t, err)
	eqInt(t, math.NewInt(200), claim.Amount.Amount)
	claim, err = f.msg.ClaimPayment(f.ctx, &types.MsgClaimPayment{Hoster: good.String()})
	require.NoError(t, err)
	eqInt(t, math.NewInt(500), claim.Amount.Amount, "factor 1: the full price for epochs 1..5")

	// The order runs to its end (epoch 8); the owner gets back what the
	// lower factor did not pay.
	f.endBlocksTo(9*eb + 1)
	o := f.order(id)
	require.True(t, o.IsEnded(), "order expired")
	goodPaid, poorPaid := f.led.of(good).Sub(goodStart), f.led.of(poor).Sub(poorStart)
	eqInt(t, math.NewInt(800), goodPaid, "epochs 1..8 at full price")
	eqInt(t, math.NewInt(100+50+50+5*75), poorPaid, "epochs 1..8 at 1, 0.5, 0.5 and 0.75 from 4 on")
	require.True(t, goodPaid.GT(poorPaid), "the well-reputed hoster earns more for the same slot-time")
	deposit := math.NewInt(2 * 8 * 100)
	eqInt(t, aliceStart.Sub(goodPaid).Sub(poorPaid), f.led.of(alice), "owner refunded the rest of %s", deposit)
	eqInt(t, o.Paid, goodPaid.Add(poorPaid))
}

// TestPayFactorsGenesis: the history survives export and import (a restart
// pays the same) and a history that does not add up is refused.
func TestPayFactorsGenesis(t *testing.T) {
	f := newFixture(t)
	h := f.register("h", "r1", 10<<30, 100)
	eb := int64(f.params().EpochBlocks)
	dec := math.LegacyMustNewDecFromStr
	f.endBlocksTo(3 * eb)
	require.NoError(t, f.k.SetPayFactor(f.ctx, h, dec("0.5")))
	f.endBlocksTo(7 * eb)
	require.NoError(t, f.k.SetPayFactor(f.ctx, h, dec("0.9")))

	gs, err := f.k.ExportGenesis(f.ctx)
	require.NoError(t, err)
	require.Len(t, gs.PayFactors, 2)
	require.Equal(t, types.PayFactor{Hoster: h.String(), Epoch: 3, Factor: dec("0.5"), Cumulative: dec("3")}, gs.PayFactors[0])
	require.Equal(t, types.PayFactor{Hoster: h.String(), Epoch: 7, Factor: dec("0.9"), Cumulative: dec("5")}, gs.PayFactors[1])
	require.NoError(t, gs.Validate())

	g := newBareFixture(t)
	g.led.bal[moduleAcct] = f.led.get(moduleAcct)
	g.setHeight(f.height())
	require.NoError(t, g.k.InitGenesis(g.ctx, gs))
	again, err := g.k.ExportGenesis(g.ctx)
	require.NoError(t, err)
	require.Equal(t, gs.PayFactors, again.PayFactors)
	got, err := g.k.PayFactor(g.ctx, h)
	require.NoError(t, err)
	require.Equal(t, dec("0.9"), got)

	for name, mut := range map[string]func(*types.GenesisState){
		"factor above 1":      func(gs *types.GenesisState) { gs.PayFactors[0].Factor = dec("1.5") },
		"negative factor":     func(gs *types.GenesisState) { gs.PayFactors[1].Factor = dec("-1") },
		"missing factor":      func(gs *types.GenesisState) { gs.PayFactors[1].Factor = math.LegacyDec{} },
		"cumulative too high": func(gs *types.GenesisState) { gs.PayFactors[1].Cumulative = dec("6") },
		"first not its epoch": func(gs *types.GenesisState) { gs.PayFactors[0].Cumulative = dec("2") },
		"epochs out of order": func(gs *types.GenesisState) { gs.PayFactors[0], gs.PayFactors[1] = gs.PayFactors[1], gs.PayFactors[0] },
		"bad address":         func(gs *types.GenesisState) { gs.PayFactors[0].Hoster = "nope" },
	} {
		bad, err := f.k.ExportGenesis(f.ctx)
		require.NoError(t, err)
		mut(bad)
		require.Error(t, bad.Validate(), name)
	}
}
