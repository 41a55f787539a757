package app_test

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/sha256"
	"fmt"
	"strconv"
	"testing"

	"github.com/stretchr/testify/require"

	sdkmath "cosmossdk.io/math"

	"github.com/cosmos/cosmos-sdk/codec"
	sdk "github.com/cosmos/cosmos-sdk/types"

	"github.com/datdot/datdot/app"
	"github.com/datdot/datdot/hypercore"
	attesttypes "github.com/datdot/datdot/x/attest/types"
	storagetypes "github.com/datdot/datdot/x/storage/types"
)

// patchChecks turns storage challenges off and performance checks on, so
// that reputation alone separates two hosters.
func patchChecks(cdc codec.Codec, gs app.GenesisState) {
	patchEpochs(cdc, gs)
	var ag attesttypes.GenesisState
	cdc.MustUnmarshalJSON(gs[attesttypes.ModuleName], &ag)
	ag.Params.ChallengesPerBlock = 0
	ag.Params.CheckIntervalBlocks = 2
	ag.Params.ChecksPerInterval = 2
	ag.Params.AttestorsPerCheck = 3
	ag.Params.Quorum = 2
	ag.Params.CheckResponseBlocks = 4
	gs[attesttypes.ModuleName] = cdc.MustMarshalJSON(&ag)
}

// TestAttestReputationScalesPay: two hosters at the same price hold the two
// replicas of one core, committed in the same block. Attestors (other
// hosters, through signed MsgSubmitAttestation) report one of them serving
// well and the other not; the performance checks move their reputations
// apart, x/attest sets the pay factors, and for the same slot-time the
// well-reputed hoster is paid its full price while the other is paid less
// (but at least min_pay_factor of it). Both claim in one block.
func TestAttestReputationScalesPay(t *testing.T) {
	names := []string{"validator", "alice"}
	for i := range 6 {
		names = append(names, fmt.Sprintf("hoster%d", i))
	}
	c := newChain(t, names, patchChecks)
	alice := c.accounts["alice"]
	price := sdkmath.NewInt(500_000_000)
	var hosters []*account
	byAddr := map[string]*account{}
	for i := range 6 {
		h := c.accounts[fmt.Sprintf("hoster%d", i)]
		hosters = append(hosters, h)
		byAddr[h.String()] = h
		c.mustDeliver(h, &storagetypes.MsgRegisterHoster{
			Hoster: h.String(), Stake: udot(5_000_000), Capacity: 10 * gib,
			Endpoint: "http://127.0.0.1:" + strconv.Itoa(9201+i), Region: "eu-west", PricePerGibEpoch: price,
		})
	}
	ctx := context.Background()
	seed := sha256.Sum256([]byte("reputation pay core"))
	hc, err := hypercore.Create(ctx, hypercore.NewMemStorage(), ed25519.NewKeyFromSeed(seed[:]), false)
	require.NoError(t, err)
	defer hc.Close()
	var blocks [][]byte
	for i := range 16 {
		blocks = append(blocks, bytes.Repeat([]byte{byte(i)}, 4096))
	}
	_, err = hc.Append(ctx, blocks...)
	require.NoError(t, err)
	info := hc.Info()
	core := storagetypes.Core{Key: info.Key[:], Manifest: info.Manifest, Length: info.Length, Fork: info.Fork,
		ByteLength: info.ByteLength, TreeHash: info.TreeHash[:], Signature: info.Signature,
		Roots: storagetypes.RootsFromNodes(hc.Roots())}
	res := c.mustDeliver(alice, &storagetypes.MsgPlaceOrder{
		Owner: alice.String(), Cores: []storagetypes.Core{core}, Replicas: 2, MaxPrice: price,
		DurationEpochs: 400, Deposit: udot(50_000_000),
	})
	var placed storagetypes.MsgPlaceOrderResponse
	requireMsgResponse(t, c, res, &placed)
	o := c.order(placed.OrderId)
	require.Len(t, o.Assignments, 2)
	good := byAddr[o.Assignments[0].Assignment.Hoster]
	poor := byAddr[o.Assignments[1].Assignment.Hoster]
	// both commit in the same block: the same paid-from epoch
	var txs [][]byte
	for _, h := range []*account{good, poor} {
		txs = append(txs, c.signTx(h, &storagetypes.MsgCommit{Hoster: h.String(), OrderId: placed.OrderId, CoreIndex: 0, Length: core.Length}))
	}
	fb := c.finalize(txs...)
	for i, h := range []*account{good, poor} {
		require.Equal(t, uint32(0), fb.TxResults[i].Code, fb.TxResults[i].Log)
		h.seq = c.app.AccountKeeper.GetAccount(c.ctx(), h.addr).GetSequence()
	}

	reputation := func(h *account) uint32 {
		r, err := c.attestQuery().HosterRecord(c.ctx(), &attesttypes.QueryHosterRecordRequest{Hoster: h.String()})
		require.NoError(t, err)
		return r.Record.Reputation
	}
	factorEvents := map[string]string{} // hoster -> last EventCheckDecided.pay_factor
	// Drive blocks: every open check gets its reports (ok for good, not
	// for poor). Stop once poor's reputation is below full pay and good's
	// above, and two more epochs have passed so both slots earned under
	// the new factors. Conditions end the loop; the bound only stops a
	// broken run.
	reported := map[string]bool{}
	var settledAt int64
	for step := 0; ; step++ {
		require.Less(t, step, 3000, "reputations did not separate: good %d poor %d", reputation(good), reputation(poor))
		if settledAt == 0 && reputation(poor) < 450 && reputation(good) > 500 {
			settledAt = c.height
		}
		if settledAt != 0 && c.height >= settledAt+2*epochBlocks {
			break
		}
		msgs := map[string][]sdk.Msg{}
		require.NoError(t, c.app.AttestKeeper.Checks.Walk(c.ctx(), nil, func(id uint64, ch attesttypes.Check) (bool, error) {
			for _, a := range ch.Attestors {
				key := fmt.Sprintf("%d/%s", id, a)
				if reported[key] {
					continue
				}
				reported[key] = true
				ok := ch.Hoster == good.String()
				m := &attesttypes.MsgSubmitAttestation{Attestor: a, CheckId: id, Ok: ok, LatencyMs: 30, ThroughputBps: 8 << 20}
				if !ok {
					m.LatencyMs, m.ThroughputBps = 9_000, 1_000
				}
				msgs[a] = append(msgs[a], m)
			}
			return false, nil
		}))
		var txs [][]byte
		var signers []*account
		for _, h := range hosters {
			if m, ok := msgs[h.String()]; ok {
				txs = append(txs, c.signTx(h, m...))
				signers = append(signers, h)
			}
		}
		fb := c.finalize(txs...)
		for i, r := range fb.TxResults {
			require.Equal(t, uint32(0), r.Code, r.Log)
			signers[i].seq = c.app.AccountKeeper.GetAccount(c.ctx(), signers[i].addr).GetSequence()
		}
		for _, ev := range fb.Events {
			if ev.Type == "datdot.attest.v1.EventCheckDecided" {
				a := attrsOf(ev)
				factorEvents[a["hoster"]] = a["pay_factor"]
			}
		}
	}
	ap, err := c.app.AttestKeeper.Params.Get(c.ctx())
	require.NoError(t, err)
	poorFactor, err := c.app.StorageKeeper.PayFactor(c.ctx(), poor.addr)
	require.NoError(t, err)
	require.Equal(t, ap.PayFactor(reputation(poor)), poorFactor)
	require.Equal(t, poorFactor.String(), factorEvents[poor.String()], "EventCheckDecided.pay_factor")
	require.True(t, poorFactor.LT(sdkmath.LegacyOneDec()))
	goodFactor, err := c.app.StorageKeeper.PayFactor(c.ctx(), good.addr)
	require.NoError(t, err)
	require.Equal(t, sdkmath.LegacyOneDec(), goodFactor)

	// The query shows what each has accrued; both claim in one block.
	accrued := map[string]sdkmath.Int{}
	for _, v := range c.order(placed.OrderId).Assignments {
		accrued[v.Assignment.Hoster] = v.Accrued
	}
	before := map[string]sdkmath.Int{good.String(): c.balance(good.addr), poor.String(): c.balance(poor.addr)}
	fb = c.finalize(
		c.signTx(good, &storagetypes.MsgClaimPayment{Hoster: good.String(), OrderId: placed.OrderId}),
		c.signTx(poor, &storagetypes.MsgClaimPayment{Hoster: poor.String(), OrderId: placed.OrderId}))
	paid := map[string]sdkmath.Int{}
	var epochs []uint64
	for i, h := range []*account{good, poor} {
		r := fb.TxResults[i]
		require.Equal(t, uint32(0), r.Code, r.Log)
		h.seq = c.app.AccountKeeper.GetAccount(c.ctx(), h.addr).GetSequence()
		paid[h.String()] = c.balance(h.addr).Sub(before[h.String()]).Add(fee.AmountOf(app.BondDenom))
		require.Equal(t, accrued[h.String()], paid[h.String()], "%s paid what the query showed", h.name)
		settled, ok := event(r, "datdot.storage.v1.EventPaymentSettled")
		require.True(t, ok)
		n, err := strconv.ParseUint(settled["epochs"][1:len(settled["epochs"])-1], 10, 64)
		require.NoError(t, err)
		epochs = append(epochs, n)
	}
	require.Equal(t, epochs[0], epochs[1], "the same slot-time")
	require.Positive(t, epochs[0])
	full := storagetypes.SlotPrice(price, core.ByteLength).MulRaw(int64(epochs[0]))
	require.Equal(t, full, paid[good.String()], "well-reputed: full price")
	require.True(t, paid[poor.String()].LT(paid[good.String()]), "poorly reputed %s < well reputed %s", paid[poor.String()], paid[good.String()])
	require.True(t, paid[poor.String()].GTE(ap.MinPayFactor.MulInt(full).TruncateInt()), "never below min_pay_factor")
	t.Logf("after %d epochs: good (reputation %d) paid %s, poor (reputation %d, factor %s) paid %s",
		epochs[0], reputation(good), paid[good.String()], reputation(poor), poorFactor, paid[poor.String()])
}
