package keeper_test

import (
	"bytes"
	"context"
	"testing"

	"github.com/stretchr/testify/require"

	"cosmossdk.io/math"

	sdk "github.com/cosmos/cosmos-sdk/types"

	"github.com/datdot/datdot/hypercore"
	"github.com/datdot/datdot/x/attest/keeper"
	"github.com/datdot/datdot/x/attest/types"
	storagetypes "github.com/datdot/datdot/x/storage/types"
)

// oneChallenge sets up one order held by hoster and runs EndBlock until a
// challenge for it is open; it returns the core and the challenge.
func oneChallenge(t *testing.T, f *fixture, hoster sdk.AccAddress) (*hypercore.Core, types.Challenge) {
	t.Helper()
	core, c := f.newCore("core", 40, 512)
	f.addOrder(1, addr("owner"), c, hoster)
	f.setParams(func(p *types.Params) { p.ChallengesPerBlock = 1; p.ResponseBlocks = 10 })
	f.endBlocksTo(f.ctx.BlockHeight())
	open := f.openChallenges()
	require.Len(t, open, 1)
	return core, open[0]
}

func TestChallengesSampledBounded(t *testing.T) {
	f := newFixture(t)
	_, c := f.newCore("core", 100, 64)
	var hosters []sdk.AccAddress
	for i := range 50 {
		hosters = append(hosters, addr(string(rune('a'+i%26))+string(rune('0'+i/26))))
	}
	for o := uint64(1); o <= 10; o++ {
		f.addOrder(o, addr("owner"), c, hosters[(o-1)*5:o*5]...)
	}
	f.setParams(func(p *types.Params) { p.ChallengesPerBlock = 8; p.IndicesPerChallenge = 3 })
	f.endBlocksTo(1)
	open := f.openChallenges()
	require.NotEmpty(t, open)
	require.LessOrEqual(t, len(open), 8, "at most challenges_per_block per block")
	seen := map[[2]uint64]bool{}
	for _, ch := range open {
		require.Len(t, ch.Indices, 3)
		for _, i := range ch.Indices {
			require.Less(t, i, c.Length)
		}
		require.Equal(t, c.Length, ch.Length)
		require.Equal(t, c.TreeHash, ch.TreeHash)
		require.Equal(t, int64(1)+100, ch.DeadlineHeight)
		k := [2]uint64{ch.OrderId, uint64(ch.Replica)}
		require.False(t, seen[k], "two challenges for one slot")
		seen[k] = true
	}
	require.Len(t, f.events("datdot.attest.v1.EventChallengeIssued"), len(open))

	// The same state, seed and height draw the same challenges on another
	// node; another previous block hash draws others.
	g := newFixture(t)
	g.st = f.st // same storage state
	_ = g
	s1 := keeper.Seed(types.ChallengeSeedTag, blockHash(0), "c", 5)
	s2 := keeper.Seed(types.ChallengeSeedTag, blockHash(0), "c", 5)
	s3 := keeper.Seed(types.ChallengeSeedTag, blockHash(1), "c", 5)
	s4 := keeper.Seed(types.CheckSeedTag, blockHash(0), "c", 5)
	require.Equal(t, s1, s2)
	require.NotEqual(t, s1, s3)
	require.NotEqual(t, s1, s4, "domain separation")
}

func TestNoChallengeWhenProposingOrUncommitted(t *testing.T) {
	f := newFixture(t)
	h := addr("hoster")
	_, c := f.newCore("core", 10, 64)
	f.addOrder(1, addr("owner"), c, h)
	f.setParams(func(p *types.Params) { p.ChallengesPerBlock = 16 })
	f.prop = h
	f.endBlocksTo(5)
	require.Empty(t, f.openChallenges(), "a hoster is not challenged in a block it proposes")

	f.prop = addr("someone else")
	f.st.slots[0].CommittedLength = 0
	f.endBlocksTo(10)
	require.Empty(t, f.openChallenges(), "an uncommitted slot is not challenged")

	f.st.slots[0].CommittedLength = c.Length - 1 // an older length whose tree hash is not known
	f.endBlocksTo(15)
	require.Empty(t, f.openChallenges())

	f.st.slots[0].CommittedLength = c.Length
	f.endBlocksTo(16)
	require.Len(t, f.openChallenges(), 1)
	f.endBlocksTo(30)
	require.Len(t, f.openChallenges(), 1, "one open challenge per slot")
}

func TestHonestHosterPasses(t *testing.T) {
	f := newFixture(t)
	h := addr("hoster")
	core, ch := oneChallenge(t, f, h)
	f.setHeight(f.ctx.BlockHeight() + 1)
	res, err := f.msg.SubmitProofs(f.ctx, &types.MsgSubmitProofs{
		Hoster: h.String(), Answers: []types.ChallengeAnswer{{ChallengeId: ch.Id, Proofs: prove(t, core, ch)}},
	})
	require.NoError(t, err)
	require.Len(t, res.Results, 1)
	require.True(t, res.Results[0].Passed, res.Results[0].Reason)
	require.Equal(t, 1, f.st.passes[slotID(1, 0, 0)])
	require.Zero(t, f.st.faults[slotID(1, 0, 0)])
	require.False(t, f.st.slots[0].Suspended)
	require.Empty(t, f.openChallenges())
	require.Len(t, f.events("datdot.attest.v1.EventChallengePassed"), 1)
	rec, err := f.q.HosterRecord(f.ctx, &types.QueryHosterRecordRequest{Hoster: h.String()})
	require.NoError(t, err)
	require.EqualValues(t, 1, rec.Record.Passes)
	require.Equal(t, math.NewInt(1_000_000), f.st.stake[h.String()], "no slash")
	// Its deadline passes without a second outcome.
	f.setParams(func(p *types.Params) { p.ChallengesPerBlock = 0 })
	f.endBlocksTo(ch.DeadlineHeight + 1)
	require.Equal(t, 1, f.st.passes[slotID(1, 0, 0)])
	require.Zero(t, f.st.faults[slotID(1, 0, 0)])
}

// wrongAnswers are well-formed answers that must fail: a forged block, a
// proof of another index, a proof of another core.
func TestWrongProofsAreFaults(t *testing.T) {
	for _, tc := range []struct {
		name  string
		forge func(t *testing.T, f *fixture, core *hypercore.Core, ch types.Challenge) [][]byte
	}{
		{"forged block", func(t *testing.T, f *fixture, core *hypercore.Core, ch types.Challenge) [][]byte {
			proofs := prove(t, core, ch)
			p, err := hypercore.DecodeProof(proofs[0])
			require.NoError(t, err)
			v := bytes.Clone(p.Block.Value)
			v[0] ^= 1
			p.Block.Value = v
			proofs[0] = p.Encode()
			return proofs
		}},
		{"another index", func(t *testing.T, f *fixture, core *hypercore.Core, ch types.Challenge) [][]byte {
			other := ch
			other.Indices = []uint64{(ch.Indices[0] + 1) % ch.Length, ch.Indices[1]}
			return prove(t, core, other)
		}},
		{"another core", func(t *testing.T, f *fixture, _ *hypercore.Core, ch types.Challenge) [][]byte {
			other, _ := f.newCore("other core", 40, 510) // other data
			return prove(t, other, ch)
		}},
		{"another length", func(t *testing.T, f *fixture, core *hypercore.Core, ch types.Challenge) [][]byte {
			other := ch
			other.Length = ch.Length - 1
			other.Indices = []uint64{0, 0}
			return prove(t, core, other)
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t)
			h, owner := addr("hoster"), addr("owner")
			core, ch := oneChallenge(t, f, h)
			f.setHeight(f.ctx.BlockHeight() + 1)
			res, err := f.msg.SubmitProofs(f.ctx, &types.MsgSubmitProofs{
				Hoster: h.String(), Answers: []types.ChallengeAnswer{{ChallengeId: ch.Id, Proofs: tc.forge(t, f, core, ch)}},
			})
			require.NoError(t, err)
			require.False(t, res.Results[0].Passed)
			require.Contains(t, res.Results[0].Reason, "invalid proof")
			require.Equal(t, 1, f.st.faults[slotID(1, 0, 0)])
			require.Zero(t, f.st.passes[slotID(1, 0, 0)])
			require.True(t, f.st.slots[0].Suspended, "pay stops at a fault")
			// 1 % of 1,000,000 slashed: half to the owner, half to the pool.
			require.Equal(t, math.NewInt(990_000), f.st.stake[h.String()])
			require.Equal(t, math.NewInt(5_000), f.get(owner))
			pool, err := f.q.Pool(f.ctx, &types.QueryPoolRequest{})
			require.NoError(t, err)
			require.Equal(t, math.NewInt(5_000), pool.Pool)
			require.Equal(t, pool.Pool, f.get(f.modAddr), "module account holds exactly the pool")
			require.Len(t, f.events("datdot.attest.v1.EventChallengeFailed"), 1)
			require.Len(t, f.events("datdot.attest.v1.EventHosterPenalized"), 1)
			rec, err := f.q.HosterRecord(f.ctx, &types.QueryHosterRecordRequest{Hoster: h.String()})
			require.NoError(t, err)
			require.EqualValues(t, 1, rec.Record.Faults)
			require.Equal(t, math.NewInt(10_000), rec.Record.Slashed)
		})
	}
}

func TestMissedChallengesSlashAndReplace(t *testing.T) {
	f := newFixture(t)
	h := addr("hoster")
	_, c := f.newCore("core", 40, 512)
	f.addOrder(1, addr("owner"), c, h)
	f.setParams(func(p *types.Params) { p.ChallengesPerBlock = 1; p.ResponseBlocks = 3; p.MaxFaults = 3 })
	// Nobody answers: every challenge is missed at its deadline; the third
	// fault moves the slot.
	for height := int64(1); len(f.st.replaced) == 0; height++ {
		require.Less(t, height, int64(100), "slot never replaced")
		f.endBlocksTo(height)
		if len(f.st.replaced) == 0 {
			// the fault count never exceeds max_faults before replacement
			require.LessOrEqual(t, f.st.faults[slotID(1, 0, 0)], 3)
		}
	}
	require.Equal(t, 3, f.st.faults[slotID(1, 0, 0)])
	require.Equal(t, []string{slotID(1, 0, 0)}, f.st.replaced)
	removed := f.events("datdot.attest.v1.EventSlotRemoved")
	require.Len(t, removed, 1)
	rec, err := f.q.HosterRecord(f.ctx, &types.QueryHosterRecordRequest{Hoster: h.String()})
	require.NoError(t, err)
	require.EqualValues(t, 3, rec.Record.Faults)
	require.EqualValues(t, 1, rec.Record.Removals)
	// three slashes of 1 % each, compounding
	require.Equal(t, math.NewInt(1_000_000-10_000-9_900-9_801), f.st.stake[h.String()])
	require.Equal(t, rec.Record.Slashed, math.NewInt(10_000+9_900+9_801))
	failed := 0
	for _, e := range f.ctx.EventManager().Events() {
		if e.Type == "datdot.attest.v1.EventChallengeFailed" {
			failed++
		}
	}
	require.Equal(t, 1, failed, "the event manager is per block; the last block had one failure")
}

func TestReplacementWithoutHostersKeepsSlot(t *testing.T) {
	f := newFixture(t)
	h := addr("hoster")
	_, c := f.newCore("core", 40, 512)
	f.addOrder(1, addr("owner"), c, h)
	f.st.noHoster = true
	f.setParams(func(p *types.Params) { p.ChallengesPerBlock = 1; p.ResponseBlocks = 2; p.MaxFaults = 1 })
	f.endBlocksTo(1)
	f.endBlocksTo(3) // the deadline
	require.Equal(t, 1, f.st.faults[slotID(1, 0, 0)])
	ev := f.events("datdot.attest.v1.EventSlotRemoved")
	require.Len(t, ev, 1)
	found := false
	for _, a := range ev[0].Attributes {
		if a.Key == "error" && a.Value != `""` {
			found = true
		}
	}
	require.True(t, found, "the event says why no replacement was made")
	require.Empty(t, f.st.replaced)
	require.Equal(t, h.String(), f.st.slots[0].Hoster)
}

func TestLateAnswerRefused(t *testing.T) {
	f := newFixture(t)
	h := addr("hoster")
	core, ch := oneChallenge(t, f, h)
	f.endBlocksTo(ch.DeadlineHeight) // missed at its deadline
	require.Equal(t, 1, f.st.faults[slotID(1, 0, 0)])
	f.setHeight(ch.DeadlineHeight + 1)
	before := f.snapshot()
	_, err := f.msg.SubmitProofs(f.ctx, &types.MsgSubmitProofs{
		Hoster: h.String(), Answers: []types.ChallengeAnswer{{ChallengeId: ch.Id, Proofs: prove(t, core, ch)}},
	})
	require.ErrorIs(t, err, types.ErrChallengeNotFound)
	require.Equal(t, before, f.snapshot())
	require.Zero(t, f.st.passes[slotID(1, 0, 0)])
}

func TestLateAnswerRefusedWhileDeadlineWaits(t *testing.T) {
	f := newFixture(t)
	h := addr("hoster")
	core, ch := oneChallenge(t, f, h)
	// The deadline entry has not been processed (a backlog), but the
	// deadline has passed: the answer is refused as late.
	f.setHeight(ch.DeadlineHeight + 1)
	_, err := f.msg.SubmitProofs(f.ctx, &types.MsgSubmitProofs{
		Hoster: h.String(), Answers: []types.ChallengeAnswer{{ChallengeId: ch.Id, Proofs: prove(t, core, ch)}},
	})
	require.ErrorIs(t, err, types.ErrChallengeNotFound)
	require.ErrorContains(t, err, "deadline")
}

func TestBadInputRefusedWithoutStateChange(t *testing.T) {
	f := newFixture(t)
	h, other := addr("hoster"), addr("other")
	core, ch := oneChallenge(t, f, h)
	_, c2 := f.newCore("core2", 8, 64)
	f.addOrder(2, addr("owner"), c2, other)
	good := prove(t, core, ch)
	f.setHeight(f.ctx.BlockHeight() + 1)
	p, err := f.k.Params.Get(f.ctx)
	require.NoError(t, err)
	huge := make([]byte, p.MaxProofBytes+1)
	many := make([]types.ChallengeAnswer, p.MaxAnswersPerMsg+1)
	for i := range many {
		many[i] = types.ChallengeAnswer{ChallengeId: ch.Id, Proofs: good}
	}
	truncated := [][]byte{good[0][:len(good[0])/2], good[1]}
	trailing := [][]byte{append(bytes.Clone(good[0]), 0), good[1]}
	for _, tc := range []struct {
		name string
		msg  *types.MsgSubmitProofs
		want error
	}{
		{"someone else's challenge", &types.MsgSubmitProofs{Hoster: other.String(),
			Answers: []types.ChallengeAnswer{{ChallengeId: ch.Id, Proofs: good}}}, types.ErrNotYourChallenge},
		{"unknown challenge", &types.MsgSubmitProofs{Hoster: h.String(),
			Answers: []types.ChallengeAnswer{{ChallengeId: 999, Proofs: good}}}, types.ErrChallengeNotFound},
		{"no answers", &types.MsgSubmitProofs{Hoster: h.String()}, types.ErrNoAnswers},
		{"too many answers", &types.MsgSubmitProofs{Hoster: h.String(), Answers: many}, types.ErrTooManyAnswers},
		{"answered twice", &types.MsgSubmitProofs{Hoster: h.String(), Answers: []types.ChallengeAnswer{
			{ChallengeId: ch.Id, Proofs: good}, {ChallengeId: ch.Id, Proofs: good}}}, types.ErrDuplicateAnswer},
		{"missing proof", &types.MsgSubmitProofs{Hoster: h.String(),
			Answers: []types.ChallengeAnswer{{ChallengeId: ch.Id, Proofs: good[:1]}}}, types.ErrMalformedAnswer},
		{"oversized proof", &types.MsgSubmitProofs{Hoster: h.String(),
			Answers: []types.ChallengeAnswer{{ChallengeId: ch.Id, Proofs: [][]byte{huge, good[1]}}}}, types.ErrProofTooLarge},
		{"truncated proof", &types.MsgSubmitProofs{Hoster: h.String(),
			Answers: []types.ChallengeAnswer{{ChallengeId: ch.Id, Proofs: truncated}}}, types.ErrMalformedAnswer},
		{"trailing bytes", &types.MsgSubmitProofs{Hoster: h.String(),
			Answers: []types.ChallengeAnswer{{ChallengeId: ch.Id, Proofs: trailing}}}, types.ErrMalformedAnswer},
		{"empty proof", &types.MsgSubmitProofs{Hoster: h.String(),
			Answers: []types.ChallengeAnswer{{ChallengeId: ch.Id, Proofs: [][]byte{{}, good[1]}}}}, types.ErrMalformedAnswer},
		{"bad address", &types.MsgSubmitProofs{Hoster: "cosmos1xyz",
			Answers: []types.ChallengeAnswer{{ChallengeId: ch.Id, Proofs: good}}}, types.ErrInvalidAddress},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f.useT(t)
			before := f.snapshot()
			stake := f.st.stake[h.String()]
			_, err := f.msg.SubmitProofs(f.ctx, tc.msg)
			require.ErrorIs(t, err, tc.want)
			t.Logf("refused: %v", err)
			require.Equal(t, before, f.snapshot(), "state changed")
			require.Equal(t, stake, f.st.stake[h.String()])
			require.Zero(t, f.st.faults[slotID(1, 0, 0)])
			require.Zero(t, f.st.passes[slotID(1, 0, 0)])
		})
	}
	// A message mixing a valid answer with a malformed one changes nothing
	// either: the valid one is not counted.
	f.useT(t)
	_, err = f.msg.SubmitProofs(f.ctx, &types.MsgSubmitProofs{Hoster: h.String(), Answers: []types.ChallengeAnswer{
		{ChallengeId: ch.Id, Proofs: good}, {ChallengeId: 999, Proofs: good}}})
	require.ErrorIs(t, err, types.ErrChallengeNotFound)
	require.Zero(t, f.st.passes[slotID(1, 0, 0)])
	require.Len(t, f.openChallenges(), 1)
	// The good answer alone still passes afterwards.
	res, err := f.msg.SubmitProofs(f.ctx, &types.MsgSubmitProofs{Hoster: h.String(), Answers: []types.ChallengeAnswer{{ChallengeId: ch.Id, Proofs: good}}})
	require.NoError(t, err)
	require.True(t, res.Results[0].Passed)
	// ... and a second answer to the now closed challenge is refused.
	_, err = f.msg.SubmitProofs(f.ctx, &types.MsgSubmitProofs{Hoster: h.String(), Answers: []types.ChallengeAnswer{{ChallengeId: ch.Id, Proofs: good}}})
	require.ErrorIs(t, err, types.ErrChallengeNotFound)
	require.Equal(t, 1, f.st.passes[slotID(1, 0, 0)])
}

func TestChallengeVoidedWhenSlotMoves(t *testing.T) {
	f := newFixture(t)
	h := addr("hoster")
	core, ch := oneChallenge(t, f, h)
	f.st.slots[0].Hoster = addr("new hoster").String() // moved by x/storage
	f.setHeight(f.ctx.BlockHeight() + 1)
	res, err := f.msg.SubmitProofs(f.ctx, &types.MsgSubmitProofs{
		Hoster: h.String(), Answers: []types.ChallengeAnswer{{ChallengeId: ch.Id, Proofs: prove(t, core, ch)}},
	})
	require.NoError(t, err)
	require.Len(t, res.Results, 1)
	require.Len(t, f.events("datdot.attest.v1.EventChallengeVoided"), 1)
	require.Zero(t, f.st.passes[slotID(1, 0, 0)])
	require.Zero(t, f.st.faults[slotID(1, 0, 0)])
	require.Empty(t, f.openChallenges())
}

func TestBatchedAnswers(t *testing.T) {
	f := newFixture(t)
	h := addr("hoster")
	core, c := f.newCore("core", 64, 256)
	for o := uint64(1); o <= 20; o++ {
		f.addOrder(o, addr("owner"), c, h)
	}
	f.setParams(func(p *types.Params) { p.ChallengesPerBlock = 32 })
	f.endBlocksTo(1)
	open := f.openChallenges()
	require.Greater(t, len(open), 1)
	answers := make([]types.ChallengeAnswer, len(open))
	for i, ch := range open {
		answers[i] = types.ChallengeAnswer{ChallengeId: ch.Id, Proofs: prove(t, core, ch)}
	}
	// one forged among them: only that one fails
	p, err := hypercore.DecodeProof(answers[0].Proofs[0])
	require.NoError(t, err)
	p.Block.Value = append(bytes.Clone(p.Block.Value[:len(p.Block.Value)-1]), p.Block.Value[len(p.Block.Value)-1]^1)
	answers[0].Proofs[0] = p.Encode()
	f.setHeight(2)
	gasBefore := f.ctx.GasMeter().GasConsumed()
	res, err := f.msg.SubmitProofs(f.ctx, &types.MsgSubmitProofs{Hoster: h.String(), Answers: answers})
	require.NoError(t, err)
	var bytesTotal uint64
	for _, a := range answers {
		for _, pr := range a.Proofs {
			bytesTotal += uint64(len(pr))
		}
	}
	require.GreaterOrEqual(t, f.ctx.GasMeter().GasConsumed()-gasBefore, bytesTotal*2, "gas per proof byte charged")
	passed := 0
	for i, r := range res.Results {
		require.Equal(t, open[i].Id, r.ChallengeId)
		if r.Passed {
			passed++
		}
	}
	require.Equal(t, len(open)-1, passed)
	require.False(t, res.Results[0].Passed)
	require.Empty(t, f.openChallenges())
}

// TestSlotAtEarlierLengthChallengedOnIt: after the core was extended, a
// hoster that has not re-committed yet is challenged on the tree it
// committed to (the length and the signed tree hash x/storage remembers in
// the order's known lengths): a proof at that length passes, a proof of
// the same blocks at the core's current length does not.
func TestSlotAtEarlierLengthChallengedOnIt(t *testing.T) {
	f := newFixture(t)
	h := addr("hoster")
	hc, c12 := f.newCore("core", 12, 256)
	more := make([][]byte, 8)
	for i := range more {
		more[i] = bytes.Repeat([]byte{0xee, byte(i)}, 128)
	}
	_, err := hc.Append(context.Background(), more...)
	require.NoError(t, err)
	info := hc.Info()
	c20 := storagetypes.Core{Key: info.Key[:], Manifest: info.Manifest, Length: info.Length, ByteLength: info.ByteLength,
		TreeHash: info.TreeHash[:], Signature: info.Signature}
	require.EqualValues(t, 20, c20.Length)
	f.addOrder(1, addr("owner"), c20, h)
	o := f.st.orders[1]
	o.KnownLengths = []storagetypes.KnownLength{{CoreIndex: 0, Length: 12, ByteLength: c12.ByteLength, TreeHash: c12.TreeHash}}
	f.st.orders[1] = o
	f.st.slots[0].CommittedLength = 12
	f.setParams(func(p *types.Params) { p.ChallengesPerBlock = 1; p.IndicesPerChallenge = 4; p.ResponseBlocks = 10 })

	f.endBlocksTo(f.ctx.BlockHeight())
	open := f.openChallenges()
	require.Len(t, open, 1)
	ch := open[0]
	require.EqualValues(t, 12, ch.Length, "challenged at the committed length")
	require.Equal(t, c12.TreeHash, ch.TreeHash, "against the tree hash signed for it")
	for _, idx := range ch.Indices {
		require.Less(t, idx, uint64(12))
	}
	issued := f.events("datdot.attest.v1.EventChallengeIssued")
	require.Len(t, issued, 1)
	require.Equal(t, `"12"`, eventAttr(issued[0], "length"))

	// proofs of the same blocks at the current length: a wrong answer
	atCurrent := types.Challenge{Indices: ch.Indices, Length: 20}
	f.setHeight(f.ctx.BlockHeight() + 1)
	res, err := f.msg.SubmitProofs(f.ctx, &types.MsgSubmitProofs{Hoster: h.String(),
		Answers: []types.ChallengeAnswer{{ChallengeId: ch.Id, Proofs: prove(t, hc, atCurrent)}}})
	require.NoError(t, err)
	require.False(t, res.Results[0].Passed, "a proof against another tree is not the committed data")
	require.Equal(t, 1, f.st.faults[slotID(1, 0, 0)])

	// the next challenge, answered at the committed length, passes
	f.endBlocksTo(f.ctx.BlockHeight() + 1)
	open = f.openChallenges()
	require.Len(t, open, 1)
	require.EqualValues(t, 12, open[0].Length)
	f.setHeight(f.ctx.BlockHeight() + 1)
	res, err = f.msg.SubmitProofs(f.ctx, &types.MsgSubmitProofs{Hoster: h.String(),
		Answers: []types.ChallengeAnswer{{ChallengeId: open[0].Id, Proofs: prove(t, hc, open[0])}}})
	require.NoError(t, err)
	require.True(t, res.Results[0].Passed, res.Results[0].Reason)
	require.Equal(t, 1, f.st.passes[slotID(1, 0, 0)])
}
