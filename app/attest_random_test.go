package app_test

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/sha256"
	"fmt"
	"math/rand"
	"strconv"
	"strings"
	"testing"

	abci "github.com/cometbft/cometbft/abci/types"
	"github.com/stretchr/testify/require"

	sdkmath "cosmossdk.io/math"

	"github.com/cosmos/cosmos-sdk/codec"
	sdk "github.com/cosmos/cosmos-sdk/types"
	authtypes "github.com/cosmos/cosmos-sdk/x/auth/types"

	"github.com/datdot/datdot/app"
	"github.com/datdot/datdot/hypercore"
	attesttypes "github.com/datdot/datdot/x/attest/types"
	storagetypes "github.com/datdot/datdot/x/storage/types"
)

// patchAttestRandom is patchAttest with short deadlines, so that missed
// challenges, faults and replacements all happen in a short run.
func patchAttestRandom(cdc codec.Codec, gs app.GenesisState) {
	patchAttest(cdc, gs)
	var ag attesttypes.GenesisState
	cdc.MustUnmarshalJSON(gs[attesttypes.ModuleName], &ag)
	ag.Params.ResponseBlocks = 3
	ag.Params.MaxFaults = 2
	// performance checks often, decided fast, so that reputations (and with
	// them pay factors) move in a short run
	ag.Params.CheckIntervalBlocks = 3
	ag.Params.ChecksPerInterval = 2
	ag.Params.AttestorsPerCheck = 3
	ag.Params.Quorum = 2
	ag.Params.CheckResponseBlocks = 2
	gs[attesttypes.ModuleName] = cdc.MustMarshalJSON(&ag)
}

// attestLedger follows every challenge from the events of the blocks.
type attestLedger struct {
	issued    map[uint64]int64 // id -> deadline height
	outcomes  map[uint64]int   // id -> outcome events (passed, failed, voided)
	failed    map[uint64]bool
	penalized map[uint64]int
	kinds     map[string]int // what happened, for the coverage check
	toPool    sdkmath.Int
	toOwner   sdkmath.Int
	slashed   map[string]sdkmath.Int // hoster -> penalties taken
	fees      sdkmath.Int            // attestor fees paid from the pool
	// pay bounds every settlement: slotPrice is the full price of one
	// epoch of a slot of each order, minFactor the lowest pay factor.
	slotPrice map[uint64]sdkmath.Int
	minFactor sdkmath.LegacyDec
}

func (l *attestLedger) record(t *testing.T, evs []abci.Event) {
	t.Helper()
	id := func(a map[string]string) uint64 {
		v, err := strconv.ParseUint(a["challenge_id"], 10, 64)
		require.NoError(t, err)
		return v
	}
	amount := func(s string) sdkmath.Int {
		v, ok := sdkmath.NewIntFromString(s)
		require.True(t, ok, "amount %q", s)
		return v
	}
	for _, ev := range evs {
		a := attrsOf(ev)
		name := strings.TrimPrefix(ev.Type, "datdot.attest.v1.")
		switch name {
		case "EventChallengeIssued":
			cid := id(a)
			_, dup := l.issued[cid]
			require.False(t, dup, "challenge %d issued twice", cid)
			d, err := strconv.ParseInt(a["deadline_height"], 10, 64)
			require.NoError(t, err)
			l.issued[cid] = d
			l.kinds["issued"]++
		case "EventChallengePassed", "EventChallengeFailed", "EventChallengeVoided":
			cid := id(a)
			_, ok := l.issued[cid]
			require.True(t, ok, "outcome %s for challenge %d never issued", name, cid)
			l.outcomes[cid]++
			require.Equal(t, 1, l.outcomes[cid], "challenge %d has %d outcomes", cid, l.outcomes[cid])
			switch {
			case name == "EventChallengePassed":
				l.kinds["passed"]++
			case name == "EventChallengeVoided":
				l.kinds["voided"]++
			case a["reason"] == "missed":
				l.failed[cid] = true
				l.kinds["missed"]++
			default:
				require.Contains(t, a["reason"], "invalid proof")
				l.failed[cid] = true
				l.kinds["wrong"]++
			}
		case "EventHosterPenalized":
			cid := id(a)
			l.penalized[cid]++
			require.Equal(t, 1, l.penalized[cid], "challenge %d penalized twice", cid)
			amt, own, pool := amount(a["amount"]), amount(a["to_owner"]), amount(a["to_pool"])
			require.True(t, own.Add(pool).Equal(amt), "penalty %s split into %s + %s", amt, own, pool)
			l.toOwner = l.toOwner.Add(own)
			l.toPool = l.toPool.Add(pool)
			prev, ok := l.slashed[a["hoster"]]
			if !ok {
				prev = sdkmath.ZeroInt()
			}
			l.slashed[a["hoster"]] = prev.Add(amt)
			l.kinds["penalized"]++
		case "EventSlotRemoved":
			l.kinds["removed"]++
		case "EventAttestorPaid":
			l.fees = l.fees.Add(amount(a["amount"]))
			l.kinds["attestor paid"]++
		case "EventCheckDecided":
			l.kinds["check "+a["outcome"]]++
		}
		if ev.Type == "datdot.storage.v1.EventPaymentSettled" && l.slotPrice != nil {
			// pay is scaled by the hoster's factor, never above the full
			// price nor below min_pay_factor of it
			oid, err := strconv.ParseUint(a["order_id"], 10, 64)
			require.NoError(t, err)
			epochs, err := strconv.ParseInt(a["epochs"], 10, 64)
			require.NoError(t, err)
			full := l.slotPrice[oid].MulRaw(epochs)
			got := amount(a["amount"])
			require.Truef(t, got.LTE(full), "settled %s for %d epochs of full price %s", got, epochs, full)
			require.Truef(t, got.GTE(l.minFactor.MulInt(full).TruncateInt()), "settled %s below min_pay_factor of %s", got, full)
			if got.LT(full) {
				l.kinds["scaled pay"]++
			} else {
				l.kinds["full pay"]++
			}
		}
	}
}

// TestAttestRandomInvariants drives x/attest and x/storage together on the
// real app with signed transactions: challenges come from EndBlock and are
// answered right, answered wrong (a proof of another block) or left to be
// missed at random; slots that move are committed by their new hoster;
// hosters claim pay; now and then a hoster answers another's challenge
// (refused); attestors report on performance checks at random, so
// reputations and pay factors move both ways. After every block it checks:
// x/storage's module account holds exactly the stakes plus the live orders'
// escrow; x/attest's module account holds exactly its pool, which is exactly
// the pool share of the penalties minus the attestor fees paid; every
// hoster's pay factor in x/storage is the one its reputation gives; every
// settlement pays between min_pay_factor and 1 times the full price of its
// epochs; the owner got exactly the owner share; stakes fell by exactly
// the penalties; every challenge has at most one outcome and one penalty,
// only failed ones are penalized; and no challenge is lost: every issued
// challenge is either open with a deadline after this block or closed with
// exactly one outcome.
func TestAttestRandomInvariants(t *testing.T) {
	names := []string{"validator", "alice"}
	for i := range 6 {
		names = append(names, fmt.Sprintf("hoster%d", i))
	}
	c := newChain(t, names, patchAttestRandom)
	rng := rand.New(rand.NewSource(11))
	alice := c.accounts["alice"]
	stake := udot(5_000_000)
	var hosters []*account
	for i := range 6 {
		h := c.accounts[fmt.Sprintf("hoster%d", i)]
		hosters = append(hosters, h)
		c.mustDeliver(h, &storagetypes.MsgRegisterHoster{
			Hoster: h.String(), Stake: stake, Capacity: 10 * gib,
			Endpoint: "http://127.0.0.1:" + strconv.Itoa(9101+i), Region: "eu-west",
			PricePerGibEpoch: sdkmath.NewInt(500_000_000),
		})
	}
	byAddr := map[string]*account{}
	for _, h := range hosters {
		byAddr[h.String()] = h
	}

	// Two real cores; every hoster can read them (whether it answers
	// right is drawn per challenge).
	ctx := context.Background()
	cores := map[uint64]*hypercore.Core{}
	slotPrices := map[uint64]sdkmath.Int{}
	for o := range 2 {
		seed := sha256.Sum256([]byte(fmt.Sprintf("attest random core %d", o)))
		hc, err := hypercore.Create(ctx, hypercore.NewMemStorage(), ed25519.NewKeyFromSeed(seed[:]), false)
		require.NoError(t, err)
		defer hc.Close()
		var blocks [][]byte
		for i := range 16 {
			blocks = append(blocks, bytes.Repeat([]byte{byte(i), byte(o)}, 512))
		}
		_, err = hc.Append(ctx, blocks...)
		require.NoError(t, err)
		info := hc.Info()
		core := storagetypes.Core{Key: info.Key[:], Manifest: info.Manifest, Length: info.Length, Fork: info.Fork,
			ByteLength: info.ByteLength, TreeHash: info.TreeHash[:], Signature: info.Signature,
			Roots: storagetypes.RootsFromNodes(hc.Roots())}
		res := c.mustDeliver(alice, &storagetypes.MsgPlaceOrder{
			Owner: alice.String(), Cores: []storagetypes.Core{core}, Replicas: 2, MaxPrice: sdkmath.NewInt(1_000_000_000),
			DurationEpochs: 1000, Deposit: udot(50_000_000),
		})
		var placed storagetypes.MsgPlaceOrderResponse
		requireMsgResponse(t, c, res, &placed)
		cores[placed.OrderId] = hc
		slotPrices[placed.OrderId] = storagetypes.SlotPrice(sdkmath.NewInt(500_000_000), core.ByteLength)
	}
	prove := func(ch attesttypes.Challenge, shift uint64) [][]byte {
		var out [][]byte
		for _, idx := range ch.Indices {
			p, err := cores[ch.OrderId].BlockProofAt(ctx, (idx+shift)%ch.Length, ch.Length)
			require.NoError(t, err)
			out = append(out, p.Encode())
		}
		return out
	}

	led := &attestLedger{issued: map[uint64]int64{}, outcomes: map[uint64]int{}, failed: map[uint64]bool{},
		penalized: map[uint64]int{}, kinds: map[string]int{}, toPool: sdkmath.ZeroInt(), toOwner: sdkmath.ZeroInt(),
		slashed: map[string]sdkmath.Int{}, fees: sdkmath.ZeroInt(), slotPrice: slotPrices}
	ap, err := c.app.AttestKeeper.Params.Get(c.ctx())
	require.NoError(t, err)
	led.minFactor = ap.MinPayFactor
	aliceStart := c.balance(alice.addr)
	attestAddr := authtypes.NewModuleAddress(attesttypes.ModuleName)

	openChallenges := func() map[uint64]attesttypes.Challenge {
		out := map[uint64]attesttypes.Challenge{}
		require.NoError(t, c.app.AttestKeeper.Challenges.Walk(c.ctx(), nil, func(id uint64, ch attesttypes.Challenge) (bool, error) {
			out[id] = ch
			return false, nil
		}))
		return out
	}
	check := func() {
		t.Helper()
		sctx := c.ctx()
		// x/storage: module account = stakes + live escrow
		held := sdkmath.ZeroInt()
		stakes := map[string]sdkmath.Int{}
		require.NoError(t, c.app.StorageKeeper.Hosters.Walk(sctx, nil, func(_ sdk.AccAddress, h storagetypes.Hoster) (bool, error) {
			held = held.Add(h.Stake)
			stakes[h.Address] = h.Stake
			return false, nil
		}))
		require.NoError(t, c.app.StorageKeeper.Orders.Walk(sctx, nil, func(_ uint64, o storagetypes.Order) (bool, error) {
			if !o.IsEnded() {
				held = held.Add(o.Escrow)
			}
			return false, nil
		}))
		require.Truef(t, held.Equal(c.moduleBalance()), "storage module holds %s, stakes + escrow %s", c.moduleBalance(), held)
		// x/attest: module account = pool = the pool shares of penalties
		// minus the attestor fees paid
		pool, err := c.app.AttestKeeper.Pool.Get(sctx)
		require.NoError(t, err)
		require.Truef(t, pool.Equal(c.balance(attestAddr)), "pool %s, module account %s", pool, c.balance(attestAddr))
		require.Truef(t, pool.Equal(led.toPool.Sub(led.fees)), "pool %s, pool shares of penalties %s - fees %s", pool, led.toPool, led.fees)
		// every hoster's pay factor in x/storage is the one its reputation
		// gives (1 for a hoster never checked)
		for _, h := range hosters {
			rep := uint32(attesttypes.MaxReputation / 2)
			if rec, err := c.app.AttestKeeper.Records.Get(sctx, h.addr); err == nil {
				rep = rec.Reputation
			}
			got, err := c.app.StorageKeeper.PayFactor(sctx, h.addr)
			require.NoError(t, err)
			require.Truef(t, ap.PayFactor(rep).Equal(got), "%s: reputation %d, pay factor %s", h.name, rep, got)
		}
		// each penalty paid once: the owner got exactly the owner shares,
		// stakes fell by exactly the penalties
		require.Truef(t, c.balance(alice.addr).Equal(aliceStart.Add(led.toOwner)), "owner has %s, expected %s + %s",
			c.balance(alice.addr), aliceStart, led.toOwner)
		for _, h := range hosters {
			taken, ok := led.slashed[h.String()]
			if !ok {
				taken = sdkmath.ZeroInt()
			}
			require.Truef(t, stakes[h.String()].Add(taken).Equal(stake.Amount), "%s: stake %s + penalties %s", h.name, stakes[h.String()], taken)
		}
		for id := range led.penalized {
			require.True(t, led.failed[id], "challenge %d penalized without failing", id)
		}
		// no challenge lost
		open := openChallenges()
		for id, deadline := range led.issued {
			ch, isOpen := open[id]
			if led.outcomes[id] == 0 {
				require.True(t, isOpen, "challenge %d neither open nor closed", id)
				require.Equal(t, deadline, ch.DeadlineHeight)
				require.Greater(t, ch.DeadlineHeight, c.height, "challenge %d open past its deadline", id)
			} else {
				require.False(t, isOpen, "challenge %d closed but still open", id)
			}
		}
		for id := range open {
			_, ok := led.issued[id]
			require.True(t, ok, "open challenge %d was never issued", id)
		}
	}

	blockEvents := func(res *abci.ResponseFinalizeBlock) []abci.Event {
		evs := append([]abci.Event(nil), res.Events...)
		for _, r := range res.TxResults {
			evs = append(evs, r.Events...)
		}
		return evs
	}
	commitAll := func() {
		for id := range cores {
			for _, a := range c.order(id).Assignments {
				as := a.Assignment
				if as.CommittedLength < cores[id].Info().Length {
					h := byAddr[as.Hoster]
					res := c.finalize(c.signTx(h, &storagetypes.MsgCommit{Hoster: h.String(), OrderId: id, CoreIndex: as.CoreIndex, Length: cores[id].Info().Length}))
					h.seq = c.app.AccountKeeper.GetAccount(c.ctx(), h.addr).GetSequence()
					require.Equal(t, uint32(0), res.TxResults[0].Code, res.TxResults[0].Log)
					led.record(t, blockEvents(res))
				}
			}
		}
	}
	// attest reports on every open performance check, in one block: each
	// attestor that has not reported says ok or not at random (or stays
	// silent), so reputations and pay factors move both ways.
	reported := map[string]bool{}
	attest := func() {
		msgs := map[string][]sdk.Msg{}
		require.NoError(t, c.app.AttestKeeper.Checks.Walk(c.ctx(), nil, func(id uint64, ch attesttypes.Check) (bool, error) {
			for _, a := range ch.Attestors {
				key := fmt.Sprintf("%d/%s", id, a)
				if reported[key] || rng.Intn(6) == 0 {
					continue
				}
				reported[key] = true
				ok := rng.Intn(2) == 0
				msgs[a] = append(msgs[a], &attesttypes.MsgSubmitAttestation{Attestor: a, CheckId: id, Ok: ok, LatencyMs: 40, ThroughputBps: 4 << 20})
			}
			return false, nil
		}))
		if len(msgs) == 0 {
			return
		}
		var txs [][]byte
		var signers []*account
		for _, h := range hosters {
			if m, ok := msgs[h.String()]; ok {
				txs = append(txs, c.signTx(h, m...))
				signers = append(signers, h)
			}
		}
		res := c.finalize(txs...)
		for i, r := range res.TxResults {
			require.Equal(t, uint32(0), r.Code, "attestation of %s: %s", signers[i].name, r.Log)
			signers[i].seq = c.app.AccountKeeper.GetAccount(c.ctx(), signers[i].addr).GetSequence()
		}
		led.record(t, blockEvents(res))
	}
	commitAll()
	check()

	refused := 0
	for step := 0; step < 250; step++ {
		open := openChallenges()
		ids := make([]uint64, 0, len(open))
		for id := range open {
			ids = append(ids, id)
		}
		// map order is random: sort for a reproducible run
		for i := range ids {
			for j := i + 1; j < len(ids); j++ {
				if ids[j] < ids[i] {
					ids[i], ids[j] = ids[j], ids[i]
				}
			}
		}
		if len(ids) >= 2 && rng.Intn(12) == 0 {
			// a hoster answers someone else's challenge: refused, the
			// challenge stays open
			ch := open[ids[0]]
			var other *account
			for _, h := range hosters {
				if h.String() != ch.Hoster {
					other = h
					break
				}
			}
			res := c.finalize(c.signTx(other, &attesttypes.MsgSubmitProofs{Hoster: other.String(),
				Answers: []attesttypes.ChallengeAnswer{{ChallengeId: ch.Id, Proofs: prove(ch, 0)}}}))
			other.seq = c.app.AccountKeeper.GetAccount(c.ctx(), other.addr).GetSequence()
			require.Equal(t, attesttypes.ErrNotYourChallenge.ABCICode(), res.TxResults[0].Code, res.TxResults[0].Log)
			refused++
			led.record(t, blockEvents(res))
			check()
			continue
		}
		answers := map[string][]attesttypes.ChallengeAnswer{}
		for _, id := range ids {
			ch := open[id]
			switch r := rng.Intn(10); {
			case r < 4:
				answers[ch.Hoster] = append(answers[ch.Hoster], attesttypes.ChallengeAnswer{ChallengeId: id, Proofs: prove(ch, 0)})
			case r < 5:
				// well-formed proofs of other blocks: a fault
				answers[ch.Hoster] = append(answers[ch.Hoster], attesttypes.ChallengeAnswer{ChallengeId: id, Proofs: prove(ch, 1)})
			}
			// otherwise not answered now; maybe later, maybe missed
		}
		var txs [][]byte
		var signers []*account
		for _, h := range hosters {
			if as, ok := answers[h.String()]; ok {
				txs = append(txs, c.signTx(h, &attesttypes.MsgSubmitProofs{Hoster: h.String(), Answers: as}))
				signers = append(signers, h)
			} else if rng.Intn(20) == 0 {
				txs = append(txs, c.signTx(h, &storagetypes.MsgClaimPayment{Hoster: h.String()}))
				signers = append(signers, h)
			}
		}
		res := c.finalize(txs...)
		for i, r := range res.TxResults {
			if _, isClaim := event(r, "datdot.storage.v1.EventPaymentClaimed"); !isClaim && r.Code != 0 {
				// only a claim with nothing to claim may fail
				require.Contains(t, r.Log, "nothing to claim", "tx of %s: %s", signers[i].name, r.Log)
			}
		}
		for _, h := range signers {
			h.seq = c.app.AccountKeeper.GetAccount(c.ctx(), h.addr).GetSequence()
		}
		led.record(t, blockEvents(res))
		check()
		commitAll() // slots that moved are committed by their new hoster
		check()
		attest()
		check()
	}
	t.Logf("height %d, refused %d, challenges: %v", c.height, refused, led.kinds)
	for _, k := range []string{"issued", "passed", "wrong", "missed", "penalized", "removed",
		"check passed", "check failed", "attestor paid", "scaled pay", "full pay"} {
		require.Positive(t, led.kinds[k], "the random run never produced %q", k)
	}
	require.Positive(t, refused)
}
