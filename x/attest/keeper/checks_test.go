package keeper_test

import (
	"testing"

	"github.com/stretchr/testify/require"

	"cosmossdk.io/math"

	sdk "github.com/cosmos/cosmos-sdk/types"

	"github.com/datdot/datdot/x/attest/keeper"
	"github.com/datdot/datdot/x/attest/types"
)

func TestCheckOutcomeMedians(t *testing.T) {
	p := types.DefaultParams()
	p.Quorum = 3
	good := types.Attestation{Ok: true, LatencyMs: 100, ThroughputBps: 10 << 20}
	liar := types.Attestation{Ok: false, LatencyMs: 60_000, ThroughputBps: 1}
	flatterer := types.Attestation{Ok: true, LatencyMs: 1, ThroughputBps: 1 << 40}
	bad := types.Attestation{Ok: false, LatencyMs: 9_000, ThroughputBps: 10}

	out, lat, thr := keeper.CheckOutcome(p, []types.Attestation{good, good, liar})
	require.Equal(t, "passed", out, "one lying attestor cannot fail an honest hoster")
	require.EqualValues(t, 100, lat)
	require.EqualValues(t, 10<<20, thr)

	out, _, _ = keeper.CheckOutcome(p, []types.Attestation{bad, bad, flatterer})
	require.Equal(t, "failed", out, "one flattering attestor cannot pass a bad hoster")

	out, _, _ = keeper.CheckOutcome(p, []types.Attestation{good, good})
	require.Equal(t, "inconclusive", out, "below quorum")

	slow := good
	slow.LatencyMs = p.MaxLatencyMs + 1
	out, _, _ = keeper.CheckOutcome(p, []types.Attestation{slow, slow, good})
	require.Equal(t, "failed", out, "median latency above the limit")
}

func TestPerformanceCheckRound(t *testing.T) {
	f := newFixture(t)
	checked := addr("checked")
	_, c := f.newCore("core", 20, 128)
	f.addOrder(1, addr("owner"), c, checked)
	attestors := []sdk.AccAddress{addr("a1"), addr("a2"), addr("a3"), addr("a4")}
	f.st.active = append([]sdk.AccAddress{checked}, attestors...)
	f.setParams(func(p *types.Params) {
		p.ChallengesPerBlock = 0
		p.CheckIntervalBlocks = 5
		p.ChecksPerInterval = 1
		p.AttestorsPerCheck = 4
		p.Quorum = 3
		p.CheckResponseBlocks = 3
		p.AttestorFee = math.NewInt(100)
	})
	// fund the pool as slashes would
	require.NoError(t, f.k.Pool.Set(f.ctx, math.NewInt(1_000)))
	f.bal[string(f.modAddr)] = math.NewInt(1_000)

	f.endBlocksTo(5)
	var check types.Check
	for id := uint64(1); ; id++ {
		ch, err := f.k.Checks.Get(f.ctx, id)
		require.NoError(t, err, "no check issued")
		check = ch
		break
	}
	require.Len(t, f.events("datdot.attest.v1.EventCheckIssued"), 1)
	require.NotContains(t, check.Attestors, checked.String(), "the checked hoster never attests itself")
	require.GreaterOrEqual(t, len(check.Attestors), 3)
	byName := map[string]sdk.AccAddress{}
	for _, a := range attestors {
		byName[a.String()] = a
	}
	// ChecksByAttestor lists it for each attestor.
	for _, s := range check.Attestors {
		res, err := f.q.ChecksByAttestor(f.ctx, &types.QueryChecksByAttestorRequest{Attestor: s})
		require.NoError(t, err)
		require.Len(t, res.Checks, 1)
	}
	// Honest majority reports ok, one liar reports a failure, one is silent.
	f.setHeight(6)
	honest, liar, silent := check.Attestors[:len(check.Attestors)-2], check.Attestors[len(check.Attestors)-2], check.Attestors[len(check.Attestors)-1]
	for _, s := range honest {
		_, err := f.msg.SubmitAttestation(f.ctx, &types.MsgSubmitAttestation{Attestor: s, CheckId: check.Id, Ok: true, LatencyMs: 80, ThroughputBps: 5 << 20})
		require.NoError(t, err)
	}
	_, err := f.msg.SubmitAttestation(f.ctx, &types.MsgSubmitAttestation{Attestor: liar, CheckId: check.Id, Ok: false, LatencyMs: 99_999, ThroughputBps: 0})
	require.NoError(t, err)
	// refused: twice, outsider, the checked hoster, unknown check
	_, err = f.msg.SubmitAttestation(f.ctx, &types.MsgSubmitAttestation{Attestor: liar, CheckId: check.Id, Ok: true, LatencyMs: 1, ThroughputBps: 1})
	require.ErrorIs(t, err, types.ErrAlreadyReported)
	_, err = f.msg.SubmitAttestation(f.ctx, &types.MsgSubmitAttestation{Attestor: checked.String(), CheckId: check.Id, Ok: true, LatencyMs: 1, ThroughputBps: 1})
	require.ErrorIs(t, err, types.ErrNotAttestor)
	_, err = f.msg.SubmitAttestation(f.ctx, &types.MsgSubmitAttestation{Attestor: honest[0], CheckId: 99, Ok: true, LatencyMs: 1, ThroughputBps: 1})
	require.ErrorIs(t, err, types.ErrCheckNotFound)

	f.endBlocksTo(check.DeadlineHeight)
	decided := f.events("datdot.attest.v1.EventCheckDecided")
	require.Len(t, decided, 1)
	rec, err := f.q.HosterRecord(f.ctx, &types.QueryHosterRecordRequest{Hoster: checked.String()})
	require.NoError(t, err)
	require.EqualValues(t, 1, rec.Record.ChecksPassed, "the lying attestor did not change the outcome")
	require.EqualValues(t, 550, rec.Record.Reputation)
	require.Equal(t, []math.LegacyDec{math.LegacyOneDec()}, f.st.payFactors[checked.String()],
		"reputation above full_pay_reputation: full pay")
	require.Equal(t, `"1.000000000000000000"`, eventAttr(decided[0], "pay_factor"), "EventCheckDecided.pay_factor")
	for _, s := range append(honest, liar) {
		require.Equal(t, math.NewInt(100), f.get(byName[s]), "reporting attestor paid")
		r, err := f.q.HosterRecord(f.ctx, &types.QueryHosterRecordRequest{Hoster: s})
		require.NoError(t, err)
		require.EqualValues(t, 1, r.Record.Attestations)
	}
	require.True(t, f.get(byName[silent]).IsZero(), "silent attestor unpaid")
	r, err := f.q.HosterRecord(f.ctx, &types.QueryHosterRecordRequest{Hoster: silent})
	require.NoError(t, err)
	require.EqualValues(t, 1, r.Record.AttestationsMissed)
	pool, err := f.q.Pool(f.ctx, &types.QueryPoolRequest{})
	require.NoError(t, err)
	require.Equal(t, math.NewInt(1_000-100*int64(len(honest)+1)), pool.Pool)
	require.Equal(t, pool.Pool, f.get(f.modAddr))
	_, err = f.k.Checks.Get(f.ctx, check.Id)
	require.Error(t, err, "decided checks are deleted")
	// a report after the decision is refused
	_, err = f.msg.SubmitAttestation(f.ctx, &types.MsgSubmitAttestation{Attestor: silent, CheckId: check.Id, Ok: true, LatencyMs: 1, ThroughputBps: 1})
	require.ErrorIs(t, err, types.ErrCheckNotFound)
}

func eventAttr(e sdk.Event, key string) string {
	for _, a := range e.Attributes {
		if a.Key == key {
			return a.Value
		}
	}
	return ""
}

func TestPayFactorFromReputation(t *testing.T) {
	p := types.DefaultParams() // min 0.5, full pay from 500
	dec := math.LegacyMustNewDecFromStr
	for _, c := range []struct {
		rep  uint32
		want string
	}{
		{0, "0.5"}, {100, "0.6"}, {250, "0.75"}, {405, "0.905"}, {499, "0.999"},
		{500, "1"}, {501, "1"}, {1000, "1"},
	} {
		require.Equal(t, dec(c.want), p.PayFactor(c.rep), "reputation %d", c.rep)
	}
	p.MinPayFactor = math.LegacyZeroDec()
	p.FullPayReputation = 1000
	require.Equal(t, math.LegacyZeroDec(), p.PayFactor(0))
	require.Equal(t, dec("0.9"), p.PayFactor(900))
	require.Equal(t, math.LegacyOneDec(), p.PayFactor(1000))
	// the bounds are validated
	p.MinPayFactor = dec("1.01")
	require.Error(t, p.Validate())
	p.MinPayFactor = dec("-0.1")
	require.Error(t, p.Validate())
	p = types.DefaultParams()
	p.FullPayReputation = 0
	require.Error(t, p.Validate())
	p.FullPayReputation = types.MaxReputation + 1
	require.Error(t, p.Validate())
}

// TestCheckOutcomesScalePay: every decided check hands x/storage the pay
// factor of the hoster's new reputation; an inconclusive one changes
// nothing.
func TestCheckOutcomesScalePay(t *testing.T) {
	f := newFixture(t)
	checked := addr("checked")
	_, c := f.newCore("core", 20, 128)
	f.addOrder(1, addr("owner"), c, checked)
	f.st.active = []sdk.AccAddress{checked, addr("a1"), addr("a2"), addr("a3"), addr("a4"), addr("a5")}
	f.setParams(func(p *types.Params) {
		p.ChallengesPerBlock = 0
		p.CheckIntervalBlocks = 5
		p.ChecksPerInterval = 1
		p.AttestorsPerCheck = 3
		p.Quorum = 2
		p.CheckResponseBlocks = 2
		p.AttestorFee = math.ZeroInt()
	})
	// round runs one check: n attestors report ok (or not); it returns the
	// decided event.
	round := func(at int64, n int, ok bool) sdk.Event {
		t.Helper()
		f.endBlocksTo(at)
		var check types.Check
		require.NoError(t, f.k.Checks.Walk(f.ctx, nil, func(_ uint64, c types.Check) (bool, error) {
			check = c
			return true, nil
		}))
		require.NotZero(t, check.Id, "a check was issued at %d", at)
		require.GreaterOrEqual(t, len(check.Attestors), n)
		f.setHeight(at + 1)
		for _, s := range check.Attestors[:n] {
			_, err := f.msg.SubmitAttestation(f.ctx, &types.MsgSubmitAttestation{Attestor: s, CheckId: check.Id, Ok: ok, LatencyMs: 50, ThroughputBps: 8 << 20})
			require.NoError(t, err)
		}
		f.endBlocksTo(check.DeadlineHeight)
		ev := f.events("datdot.attest.v1.EventCheckDecided")
		require.Len(t, ev, 1)
		return ev[0]
	}
	dec := math.LegacyMustNewDecFromStr
	ev := round(5, 3, false) // 500 -> 450
	require.Equal(t, `"failed"`, eventAttr(ev, "outcome"))
	require.Equal(t, `"0.950000000000000000"`, eventAttr(ev, "pay_factor"))
	round(10, 3, false)     // 450 -> 405
	ev = round(15, 1, true) // below quorum: nothing changes
	require.Equal(t, `"inconclusive"`, eventAttr(ev, "outcome"))
	require.Equal(t, `""`, eventAttr(ev, "pay_factor"))
	round(20, 3, true) // 405 -> 464
	rec, err := f.q.HosterRecord(f.ctx, &types.QueryHosterRecordRequest{Hoster: checked.String()})
	require.NoError(t, err)
	require.EqualValues(t, 464, rec.Record.Reputation)
	require.Equal(t, []math.LegacyDec{dec("0.95"), dec("0.905"), dec("0.964")}, f.st.payFactors[checked.String()])
}
