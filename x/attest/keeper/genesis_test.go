package keeper_test

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/datdot/datdot/x/attest/types"
)

func TestGenesisRoundTrip(t *testing.T) {
	f := newFixture(t)
	h := addr("hoster")
	_, c := f.newCore("core", 30, 64)
	f.addOrder(1, addr("owner"), c, h, addr("h2"), addr("h3"))
	f.setParams(func(p *types.Params) { p.ChallengesPerBlock = 3; p.ResponseBlocks = 4 })
	f.endBlocksTo(6) // some challenges open, some missed
	gs := f.snapshot()
	require.NotEmpty(t, gs.Challenges)
	require.NotEmpty(t, gs.Records)
	require.NoError(t, gs.Validate())

	g := newFixture(t)
	g.bal[string(g.modAddr)] = gs.Pool
	require.NoError(t, g.k.InitGenesis(g.ctx, gs))
	require.Equal(t, gs, g.snapshot())
	// the indexes are rebuilt: the by-hoster query finds the challenges
	res, err := g.q.ChallengesByOrder(g.ctx, &types.QueryChallengesByOrderRequest{OrderId: 1})
	require.NoError(t, err)
	require.Len(t, res.Challenges, len(gs.Challenges))

	// a module account that does not hold the pool is refused
	h2 := newFixture(t)
	if gs.Pool.IsPositive() {
		require.ErrorIs(t, h2.k.InitGenesis(h2.ctx, gs), types.ErrInvalidGenesis)
	}
}

func TestGenesisValidate(t *testing.T) {
	ok := types.DefaultGenesis()
	require.NoError(t, ok.Validate())
	ch := types.Challenge{Id: 1, OrderId: 1, Hoster: "cosmos1x", Indices: []uint64{0}, Length: 1, TreeHash: make([]byte, 32), DeadlineHeight: 5}
	for name, mut := range map[string]func(*types.GenesisState){
		"next id 0":          func(g *types.GenesisState) { g.NextChallengeId = 0 },
		"id not below next":  func(g *types.GenesisState) { g.Challenges = []types.Challenge{ch} },
		"two per slot":       func(g *types.GenesisState) { g.NextChallengeId = 3; c2 := ch; c2.Id = 2; g.Challenges = []types.Challenge{ch, c2} },
		"index beyond":       func(g *types.GenesisState) { g.NextChallengeId = 3; c := ch; c.Indices = []uint64{1}; g.Challenges = []types.Challenge{c} },
		"short tree hash":    func(g *types.GenesisState) { g.NextChallengeId = 3; c := ch; c.TreeHash = []byte{1}; g.Challenges = []types.Challenge{c} },
		"bad params":         func(g *types.GenesisState) { g.Params.IndicesPerChallenge = 0 },
		"reputation":         func(g *types.GenesisState) { r := types.NewHosterRecord("a"); r.Reputation = 1001; g.Records = append(g.Records, r) },
		"duplicate record":   func(g *types.GenesisState) { g.Records = append(g.Records, types.NewHosterRecord("a"), types.NewHosterRecord("a")) },
		"last hash 3 bytes":  func(g *types.GenesisState) { g.LastBlockHash = []byte{1, 2, 3} },
	} {
		g := types.DefaultGenesis()
		mut(g)
		require.ErrorIs(t, g.Validate(), types.ErrInvalidGenesis, name)
	}
}
