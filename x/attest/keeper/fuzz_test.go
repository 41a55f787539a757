package keeper_test

import (
	"bytes"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/datdot/datdot/x/attest/types"
)

// fuzzSetup builds a fresh fixture with one order held by one hoster and
// one open challenge of one block on it.
func fuzzSetup(t testing.TB) (*fixture, types.Challenge, []byte) {
	fx := newFixture(t)
	h := addr("hoster")
	core, c := fx.newCore("core", 40, 512)
	fx.addOrder(1, addr("owner"), c, h)
	fx.setParams(func(p *types.Params) { p.ChallengesPerBlock = 1; p.IndicesPerChallenge = 1; p.ResponseBlocks = 100_000 })
	fx.endBlocksTo(1)
	open := fx.openChallenges()
	require.Len(t, open, 1)
	ch := open[0]
	return fx, ch, prove(t, core, ch)[0]
}

// FuzzSubmitProofs feeds arbitrary proof bytes to MsgSubmitProofs for an
// open challenge: the handler must never panic; it either refuses the
// message (malformed: then nothing changed) or records exactly one outcome
// (a pass only for bytes that verify). Every input starts from a fresh
// fixture, so no input sees what an earlier one did to the expected
// keepers' state.
func FuzzSubmitProofs(f *testing.F) {
	_, _, good := fuzzSetup(f)
	f.Add(good)
	f.Add(good[:len(good)-1])
	f.Add(append(bytes.Clone(good), 0))
	flipped := bytes.Clone(good)
	flipped[len(flipped)/2] ^= 0x40
	f.Add(flipped)
	f.Add([]byte{})
	f.Add([]byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01})

	f.Fuzz(func(t *testing.T, proof []byte) {
		fx, ch, _ := fuzzSetup(t)
		h := addr("hoster")
		slot := slotID(1, 0, 0)
		before, err := fx.k.ExportGenesis(fx.ctx)
		require.NoError(t, err)
		passes, faults := fx.st.passes[slot], fx.st.faults[slot]

		res, err := fx.msg.SubmitProofs(fx.ctx, &types.MsgSubmitProofs{
			Hoster: h.String(), Answers: []types.ChallengeAnswer{{ChallengeId: ch.Id, Proofs: [][]byte{proof}}},
		})
		if err != nil {
			after, err2 := fx.k.ExportGenesis(fx.ctx)
			require.NoError(t, err2)
			require.Equal(t, before, after, "a refused message changed state")
			require.Equal(t, passes, fx.st.passes[slot])
			require.Equal(t, faults, fx.st.faults[slot])
			return
		}
		require.Len(t, res.Results, 1)
		if res.Results[0].Passed {
			require.Equal(t, passes+1, fx.st.passes[slot])
			ok, _, err := fx.k.VerifyAnswer(ch, [][]byte{proof})
			require.NoError(t, err)
			require.True(t, ok)
		} else {
			require.Equal(t, faults+1, fx.st.faults[slot])
		}
	})
}
