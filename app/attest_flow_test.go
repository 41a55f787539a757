package app_test

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/sha256"
	"strconv"
	"strings"
	"testing"
	"time"

	abci "github.com/cometbft/cometbft/abci/types"
	"github.com/stretchr/testify/require"

	sdkmath "cosmossdk.io/math"

	"github.com/cosmos/cosmos-sdk/codec"
	sdk "github.com/cosmos/cosmos-sdk/types"
	authtypes "github.com/cosmos/cosmos-sdk/x/auth/types"

	"github.com/datdot/datdot/app"
	"github.com/datdot/datdot/hypercore"
	attestkeeper "github.com/datdot/datdot/x/attest/keeper"
	attesttypes "github.com/datdot/datdot/x/attest/types"
	storagetypes "github.com/datdot/datdot/x/storage/types"
)

// finalize is chain.block that also returns the block's own events (the
// EndBlock events carry the challenges).
func (c *chain) finalize(txs ...[]byte) *abci.ResponseFinalizeBlock {
	c.t.Helper()
	c.height++
	c.time = c.time.Add(time.Second)
	res, err := c.app.FinalizeBlock(&abci.RequestFinalizeBlock{
		Txs: txs, Height: c.height, Time: c.time, Hash: blockHash(c.height), ProposerAddress: c.valAddr,
	})
	require.NoError(c.t, err)
	_, err = c.app.Commit()
	require.NoError(c.t, err)
	return res
}

// send signs msgs as signer, commits them in their own block and returns
// the tx result and the block's events.
func (c *chain) send(signer *account, msgs ...sdk.Msg) (*abci.ExecTxResult, []abci.Event) {
	c.t.Helper()
	res := c.finalize(c.signTx(signer, msgs...))
	acc := c.app.AccountKeeper.GetAccount(c.ctx(), signer.addr)
	signer.seq = acc.GetSequence()
	return res.TxResults[0], res.Events
}

func attrsOf(ev abci.Event) map[string]string {
	m := map[string]string{}
	for _, a := range ev.Attributes {
		m[a.Key] = strings.Trim(a.Value, `"`)
	}
	return m
}

// patchAttest makes challenges frequent and consequences quick.
func patchAttest(cdc codec.Codec, gs app.GenesisState) {
	patchEpochs(cdc, gs)
	var ag attesttypes.GenesisState
	cdc.MustUnmarshalJSON(gs[attesttypes.ModuleName], &ag)
	ag.Params.ChallengesPerBlock = 4
	ag.Params.IndicesPerChallenge = 2
	ag.Params.ResponseBlocks = 10
	ag.Params.MaxFaults = 2
	ag.Params.SlashFraction = sdkmath.LegacyNewDecWithPrec(10, 2)
	ag.Params.CheckIntervalBlocks = 0
	gs[attesttypes.ModuleName] = cdc.MustMarshalJSON(&ag)
}

func (c *chain) attestQuery() attesttypes.QueryServer {
	return attestkeeper.NewQueryServerImpl(c.app.AttestKeeper)
}

// TestAttestFlow drives x/attest through signed transactions on the real
// app: a real core is ordered with two replicas and committed; challenges
// come in EndBlock events; the honest hoster answers each with proofs made
// from its copy and passes; the other hoster has lost the data and never
// answers: it is faulted, slashed (half to the owner), removed after
// max_faults and replaced; a forged proof fails; bad input is refused with
// no state change; the honest hoster is paid, the faulty slot earns
// nothing; then genesis export/import round-trips.
func TestAttestFlow(t *testing.T) {
	c := newChain(t, []string{"validator", "alice", "hoster1", "hoster2", "hoster3", "hoster4"}, patchAttest)
	alice := c.accounts["alice"]
	stake := udot(5_000_000)
	for i, name := range []string{"hoster1", "hoster2", "hoster3", "hoster4"} {
		h := c.accounts[name]
		c.mustDeliver(h, &storagetypes.MsgRegisterHoster{
			Hoster: h.String(), Stake: stake, Capacity: 10 * gib,
			Endpoint: "http://127.0.0.1:" + strconv.Itoa(9001+i), Region: "eu-west",
			PricePerGibEpoch: sdkmath.NewInt(500_000_000),
		})
	}

	// A real core, kept open to make proofs.
	ctx := context.Background()
	seed := sha256.Sum256([]byte("attest flow core"))
	hc, err := hypercore.Create(ctx, hypercore.NewMemStorage(), ed25519.NewKeyFromSeed(seed[:]), false)
	require.NoError(t, err)
	defer hc.Close()
	var blocks [][]byte
	for i := range 32 {
		blocks = append(blocks, bytes.Repeat([]byte{byte(i)}, 1024))
	}
	_, err = hc.Append(ctx, blocks...)
	require.NoError(t, err)
	info := hc.Info()
	core := storagetypes.Core{Key: info.Key[:], Manifest: info.Manifest, Length: info.Length, Fork: info.Fork,
		ByteLength: info.ByteLength, TreeHash: info.TreeHash[:], Signature: info.Signature}

	maxPrice := sdkmath.NewInt(1_000_000_000)
	res := c.mustDeliver(alice, &storagetypes.MsgPlaceOrder{
		Owner: alice.String(), Cores: []storagetypes.Core{core}, Replicas: 2, MaxPrice: maxPrice,
		DurationEpochs: 100, Deposit: udot(10_000_000),
	})
	var placed storagetypes.MsgPlaceOrderResponse
	requireMsgResponse(t, c, res, &placed)
	orderID := placed.OrderId
	o := c.order(orderID)
	require.Len(t, o.Assignments, 2)
	honest := c.accounts[hosterNameOf(c, o.Assignments[0].Assignment.Hoster)]
	lost := c.accounts[hosterNameOf(c, o.Assignments[1].Assignment.Hoster)]
	for _, h := range []*account{honest, lost} {
		c.mustDeliver(h, &storagetypes.MsgCommit{Hoster: h.String(), OrderId: orderID, CoreIndex: 0, Length: core.Length})
	}
	aliceStart := c.balance(alice.addr)
	lostStake := stake.Amount

	prove := func(ch attesttypes.Challenge) [][]byte {
		var out [][]byte
		for _, idx := range ch.Indices {
			p, err := hc.BlockProofAt(ctx, idx, ch.Length)
			require.NoError(t, err)
			out = append(out, p.Encode())
		}
		return out
	}
	challenge := func(id uint64) attesttypes.Challenge {
		r, err := c.attestQuery().Challenge(c.ctx(), &attesttypes.QueryChallengeRequest{Id: id})
		require.NoError(t, err)
		return r.Challenge
	}

	var (
		honestPasses, lostFaults int
		replacedBy               string
		forgedDone, badDone      bool
		penalties                int
	)
	var pending []abci.Event // EndBlock events of the last block
	// Challenges issued while the hosters committed (their block events
	// were not looked at) are picked up from the query.
	open, err := c.attestQuery().Challenges(c.ctx(), &attesttypes.QueryChallengesRequest{})
	require.NoError(t, err)
	for _, ch := range open.Challenges {
		pending = append(pending, abci.Event{Type: "datdot.attest.v1.EventChallengeIssued", Attributes: []abci.EventAttribute{
			{Key: "challenge_id", Value: `"` + strconv.FormatUint(ch.Id, 10) + `"`}, {Key: "hoster", Value: `"` + ch.Hoster + `"`},
		}})
	}
	// Drive blocks until the lost hoster has been replaced and the honest
	// one has passed a few challenges. Conditions, not block counts, end the
	// loop; the bound only stops a broken run.
	for step := 0; replacedBy == "" || honestPasses < 3; step++ {
		require.Less(t, step, 2000, "flow did not converge: passes %d faults %d", honestPasses, lostFaults)
		var evs []abci.Event
		if len(pending) == 0 {
			evs = c.finalize().Events
		} else {
			evs = pending
			pending = nil
		}
		for _, ev := range evs {
			a := attrsOf(ev)
			switch ev.Type {
			case "datdot.attest.v1.EventChallengeIssued":
				id, err := strconv.ParseUint(a["challenge_id"], 10, 64)
				require.NoError(t, err)
				if a["hoster"] != honest.String() {
					continue // the lost hoster cannot answer
				}
				ch := challenge(id)
				require.Equal(t, core.Length, ch.Length)
				if !badDone {
					badDone = true
					// someone else's challenge: refused, nothing changes
					before := c.balance(lost.addr)
					r, bev := c.send(lost, &attesttypes.MsgSubmitProofs{Hoster: lost.String(),
						Answers: []attesttypes.ChallengeAnswer{{ChallengeId: id, Proofs: prove(ch)}}})
					pending = append(pending, bev...)
					require.Equal(t, attesttypes.ErrNotYourChallenge.ABCICode(), r.Code, r.Log)
					require.Equal(t, before.Sub(fee.AmountOf(app.BondDenom)), c.balance(lost.addr))
					// malformed proof: refused, challenge still open
					r, bev = c.send(honest, &attesttypes.MsgSubmitProofs{Hoster: honest.String(),
						Answers: []attesttypes.ChallengeAnswer{{ChallengeId: id, Proofs: [][]byte{{1, 2, 3}, {4}}}}})
					pending = append(pending, bev...)
					require.Equal(t, attesttypes.ErrMalformedAnswer.ABCICode(), r.Code, r.Log)
					_ = challenge(id)
					// unknown challenge
					r, bev = c.send(honest, &attesttypes.MsgSubmitProofs{Hoster: honest.String(),
						Answers: []attesttypes.ChallengeAnswer{{ChallengeId: 1 << 40, Proofs: prove(ch)}}})
					pending = append(pending, bev...)
					require.Equal(t, attesttypes.ErrChallengeNotFound.ABCICode(), r.Code, r.Log)
				}
				proofs := prove(ch)
				if !forgedDone && honestPasses >= 1 {
					// A forged block: a fault for the honest hoster too.
					forgedDone = true
					p, err := hypercore.DecodeProof(proofs[0])
					require.NoError(t, err)
					v := bytes.Clone(p.Block.Value)
					v[len(v)-1] ^= 1
					p.Block.Value = v
					proofs[0] = p.Encode()
					r, bev := c.send(honest, &attesttypes.MsgSubmitProofs{Hoster: honest.String(),
						Answers: []attesttypes.ChallengeAnswer{{ChallengeId: id, Proofs: proofs}}})
					require.Equal(t, uint32(0), r.Code, r.Log)
					var out attesttypes.MsgSubmitProofsResponse
					requireMsgResponse(t, c, r, &out)
					require.False(t, out.Results[0].Passed)
					_, failed := event(r, "datdot.attest.v1.EventChallengeFailed")
					require.True(t, failed)
					pending = append(pending, bev...)
					continue
				}
				r, bev := c.send(honest, &attesttypes.MsgSubmitProofs{Hoster: honest.String(),
					Answers: []attesttypes.ChallengeAnswer{{ChallengeId: id, Proofs: proofs}}})
				require.Equal(t, uint32(0), r.Code, r.Log)
				_, passed := event(r, "datdot.attest.v1.EventChallengePassed")
				require.True(t, passed, "honest answer did not pass: %s", r.Log)
				honestPasses++
				pending = append(pending, bev...)
			case "datdot.attest.v1.EventChallengeFailed":
				require.Equal(t, "missed", a["reason"])
				require.Equal(t, lost.String(), a["hoster"], "only the lost hoster misses")
				lostFaults++
			case "datdot.attest.v1.EventHosterPenalized":
				if a["hoster"] == lost.String() {
					penalties++
					amt, ok := sdkmath.NewIntFromString(a["amount"])
					require.True(t, ok)
					require.Equal(t, lostStake.QuoRaw(10), amt, "10 %% of the remaining stake")
					lostStake = lostStake.Sub(amt)
					require.Equal(t, alice.String(), a["owner"])
				}
			case "datdot.attest.v1.EventSlotRemoved":
				require.Equal(t, lost.String(), a["hoster"])
				require.Empty(t, a["error"])
				replacedBy = a["new_hoster"]
			}
		}
	}
	require.Equal(t, 2, lostFaults, "removed after max_faults")
	require.Equal(t, 2, penalties)
	require.NotEqual(t, lost.String(), replacedBy)
	require.NotEqual(t, honest.String(), replacedBy)

	// x/storage shows the move and the slash.
	o = c.order(orderID)
	holders := map[string]bool{}
	for _, v := range o.Assignments {
		holders[v.Assignment.Hoster] = true
	}
	require.True(t, holders[replacedBy])
	require.False(t, holders[lost.String()])
	h, err := c.storageQuery().Hoster(c.ctx(), &storagetypes.QueryHosterRequest{Address: lost.String()})
	require.NoError(t, err)
	require.Equal(t, lostStake, h.Hoster.Stake)
	// The owner got half of each slash.
	slashed := stake.Amount.Sub(lostStake)
	require.True(t, c.balance(alice.addr).GT(aliceStart), "owner compensated")
	rec, err := c.attestQuery().HosterRecord(c.ctx(), &attesttypes.QueryHosterRecordRequest{Hoster: lost.String()})
	require.NoError(t, err)
	require.Equal(t, slashed, rec.Record.Slashed)
	require.EqualValues(t, 2, rec.Record.Faults)
	require.EqualValues(t, 1, rec.Record.Removals)
	// The attest module account holds exactly the pool.
	pool, err := c.attestQuery().Pool(c.ctx(), &attesttypes.QueryPoolRequest{})
	require.NoError(t, err)
	require.True(t, pool.Pool.IsPositive())
	require.Equal(t, pool.Pool, c.balance(authtypes.NewModuleAddress(attesttypes.ModuleName)))

	// Pay follows proof: the honest hoster, passing again after its forged
	// answer, is paid; claim what accrued.
	// Keep answering while epochs pass (a missed challenge would be its
	// second fault).
	answer := func(evs []abci.Event) {
		for i := 0; i < len(evs); i++ {
			ev := evs[i]
			a := attrsOf(ev)
			if ev.Type != "datdot.attest.v1.EventChallengeIssued" || a["hoster"] != honest.String() {
				continue
			}
			id, err := strconv.ParseUint(a["challenge_id"], 10, 64)
			require.NoError(t, err)
			r, bev := c.send(honest, &attesttypes.MsgSubmitProofs{Hoster: honest.String(),
				Answers: []attesttypes.ChallengeAnswer{{ChallengeId: id, Proofs: prove(challenge(id))}}})
			require.Equal(t, uint32(0), r.Code, r.Log)
			_, passed := event(r, "datdot.attest.v1.EventChallengePassed")
			require.True(t, passed)
			evs = append(evs, bev...)
		}
	}
	answer(pending)
	for target := c.height + 3*epochBlocks; c.height < target; {
		answer(c.finalize().Events)
	}
	before := c.balance(honest.addr)
	c.mustDeliver(honest, &storagetypes.MsgClaimPayment{Hoster: honest.String(), OrderId: orderID})
	require.True(t, c.balance(honest.addr).Add(fee.AmountOf(app.BondDenom)).GT(before), "honest hoster paid")

	// Genesis export/import carries x/attest's state.
	requireExportImportRoundTrip(t, c)
}
