package keeper_test

import (
	"bytes"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/datdot/datdot/x/attest/types"
)

// FuzzSubmitProofs feeds arbitrary proof bytes to MsgSubmitProofs for an
// open challenge: the handler must never panic; it either refuses the
// message (malformed: then nothing changed) or records exactly one outcome
// (a pass only for bytes that verify).
func FuzzSubmitProofs(f *testing.F) {
	fx := newFixture(f)
	h := addr("hoster")
	core, c := fx.newCore("core", 40, 512)
	fx.addOrder(1, addr("owner"), c, h)
	fx.setParams(func(p *types.Params) { p.ChallengesPerBlock = 1; p.IndicesPerChallenge = 1; p.ResponseBlocks = 1 << 20 })
	fx.endBlocksTo(1)
	open := fx.openChallenges()
	require.Len(f, open, 1)
	ch := open[0]
	good := prove(f, core, ch)[0]
	f.Add(good)
	f.Add(good[:len(good)-1])
	f.Add(append(bytes.Clone(good), 0))
	flipped := bytes.Clone(good)
	flipped[len(flipped)/2] ^= 0x40
	f.Add(flipped)
	f.Add([]byte{})
	f.Add([]byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01})

	f.Fuzz(func(t *testing.T, proof []byte) {
		fx.useT(t)
		ctx, _ := fx.ctx.CacheContext() // every input starts from the same state
		before, err := fx.k.ExportGenesis(ctx)
		require.NoError(t, err)
		passes, faults := fx.st.passes[slotID(1, 0, 0)], fx.st.faults[slotID(1, 0, 0)]
		defer func() { fx.st.passes[slotID(1, 0, 0)], fx.st.faults[slotID(1, 0, 0)] = passes, faults }()
		stake := fx.st.stake[h.String()]
		defer func() { fx.st.stake[h.String()] = stake }()
		modBal := fx.get(fx.modAddr)
		defer func() { fx.bal[string(fx.modAddr)] = modBal }()
		owner := fx.get(addr("owner"))
		defer func() { fx.bal[string(addr("owner"))] = owner }()

		res, err := fx.msg.SubmitProofs(ctx, &types.MsgSubmitProofs{
			Hoster: h.String(), Answers: []types.ChallengeAnswer{{ChallengeId: ch.Id, Proofs: [][]byte{proof}}},
		})
		if err != nil {
			after, err2 := fx.k.ExportGenesis(ctx)
			require.NoError(t, err2)
			require.Equal(t, before, after, "a refused message changed state")
			require.Equal(t, passes, fx.st.passes[slotID(1, 0, 0)])
			require.Equal(t, faults, fx.st.faults[slotID(1, 0, 0)])
			return
		}
		require.Len(t, res.Results, 1)
		if res.Results[0].Passed {
			require.Equal(t, passes+1, fx.st.passes[slotID(1, 0, 0)])
			ok, _, err := fx.k.VerifyAnswer(ch, [][]byte{proof})
			require.NoError(t, err)
			require.True(t, ok)
		} else {
			require.Equal(t, faults+1, fx.st.faults[slotID(1, 0, 0)])
		}
	})
}
