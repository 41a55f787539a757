package keeper_test

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/sha256"
	"fmt"
	"testing"

	"github.com/stretchr/testify/require"

	"cosmossdk.io/math"

	storetypes "github.com/cosmos/cosmos-sdk/store/v2/types"
	sdk "github.com/cosmos/cosmos-sdk/types"

	"github.com/datdot/datdot/hypercore"
	"github.com/datdot/datdot/x/storage/keeper"
	"github.com/datdot/datdot/x/storage/types"
)

// threeHosters registers three hosters in three regions.
func threeHosters(f *fixture) []sdk.AccAddress {
	return []sdk.AccAddress{
		f.register("h1", "eu-west", 10<<30, 100),
		f.register("h2", "us-east", 10<<30, 100),
		f.register("h3", "ap-south", 10<<30, 100),
	}
}

func TestPlaceOrderAssignsDistinctHosters(t *testing.T) {
	f := newFixture(t)
	hs := threeHosters(f)
	w := newWriter("writer")
	msg := f.placeMsg("alice", w.core(t, 10, 1<<30), 3, 100, 50)
	eqInt(t, math.NewInt(15000), msg.Deposit.Amount, "3 slots x 100/GiB/epoch x 1 GiB x 50 epochs")
	res, err := f.msg.PlaceOrder(f.ctx, msg)
	require.NoError(t, err)
	require.Equal(t, uint64(1), res.OrderId)
	require.Equal(t, types.ORDER_STATUS_ASSIGNED, res.Status)
	require.True(t, f.hasEvent("datdot.storage.v1.EventOrderPlaced"))
	require.True(t, f.hasEvent("datdot.storage.v1.EventOrderAssigned"))

	o := f.order(1)
	require.Equal(t, f.user("alice").String(), o.Owner)
	eqInt(t, math.NewInt(15000), o.Escrow)
	require.Equal(t, uint64(1), o.StartEpoch) // placed in epoch 0
	require.Equal(t, uint64(51), o.EndEpoch)
	eqInt(t, math.NewInt(15000+3_000_000), f.led.get(moduleAcct), "deposit escrowed")

	as := f.assignments(1)
	require.Len(t, as, 3)
	seen := map[string]bool{}
	for i, a := range as {
		require.Equal(t, uint32(0), a.CoreIndex)
		require.Equal(t, uint32(i), a.Replica)
		require.False(t, seen[a.Hoster], "hoster %s twice", a.Hoster)
		seen[a.Hoster] = true
	}
	for _, h := range hs {
		require.True(t, seen[h.String()])
		hh := f.hoster(h)
		require.Equal(t, uint64(1), hh.Assignments)
		require.Equal(t, uint64(1<<30), hh.Used)
		byHoster, err := f.q.AssignmentsByHoster(f.ctx, &types.QueryAssignmentsByHosterRequest{Hoster: h.String()})
		require.NoError(t, err)
		require.Len(t, byHoster.Assignments, 1)
	}
	byOwner, err := f.q.OrdersByOwner(f.ctx, &types.QueryOrdersByOwnerRequest{Owner: f.user("alice").String()})
	require.NoError(t, err)
	require.Len(t, byOwner.Orders, 1)
}

func TestPlaceOrderRefusesBadInput(t *testing.T) {
	f := newFixture(t)
	threeHosters(f)
	w := newWriter("writer")
	other := newWriter("someone else")
	p := f.params()
	f.user("alice")

	cases := []struct {
		name string
		mut  func(*types.MsgPlaceOrder)
		want error
	}{
		{"unsigned core", func(m *types.MsgPlaceOrder) { m.Cores[0].Signature = nil }, types.ErrBadSignature},
		{"signed by another key", func(m *types.MsgPlaceOrder) {
			c := other.core(t, 10, 1000)
			m.Cores[0].Signature = c.Signature
		}, types.ErrBadSignature},
		{"roots and tree hash changed after signing", func(m *types.MsgPlaceOrder) {
			m.Cores[0].Roots[0].Hash[0] ^= 1
			m.Cores[0].TreeHash = treeHashOf(m.Cores[0].Roots)
		}, types.ErrBadSignature},
		{"length changed after signing", func(m *types.MsgPlaceOrder) {
			m.Cores[0].Length = 11
			m.Cores[0].Roots = types.RootsFromNodes(testRoots(w.key, 11, 1000))
			m.Cores[0].TreeHash = treeHashOf(m.Cores[0].Roots)
		}, types.ErrBadSignature},
		{"tree hash changed, roots kept", func(m *types.MsgPlaceOrder) { m.Cores[0].TreeHash[0] ^= 1 }, types.ErrInvalidCore},
		{"length changed, roots kept", func(m *types.MsgPlaceOrder) { m.Cores[0].Length = 11 }, types.ErrInvalidCore},
		{"roots missing", func(m *types.MsgPlaceOrder) { m.Cores[0].Roots = nil }, types.ErrInvalidCore},
		{"root size changed", func(m *types.MsgPlaceOrder) { m.Cores[0].Roots[0].SizeBytes++ }, types.ErrInvalidCore},
		{"root index changed", func(m *types.MsgPlaceOrder) { m.Cores[0].Roots[1].Index++ }, types.ErrInvalidCore},
		{"short root hash", func(m *types.MsgPlaceOrder) { m.Cores[0].Roots[1].Hash = m.Cores[0].Roots[1].Hash[:31] }, types.ErrInvalidCore},
		{"extra root", func(m *types.MsgPlaceOrder) { m.Cores[0].Roots = append(m.Cores[0].Roots, m.Cores[0].Roots[0]) }, types.ErrInvalidCore},
		{"signature bit flipped", func(m *types.MsgPlaceOrder) { m.Cores[0].Signature[10] ^= 0x80 }, types.ErrBadSignature},
		{"key of another core", func(m *types.MsgPlaceOrder) { m.Cores[0].Key = other.key }, types.ErrBadSignature},
		{"short key", func(m *types.MsgPlaceOrder) { m.Cores[0].Key = m.Cores[0].Key[:31] }, types.ErrInvalidCore},
		{"zero length", func(m *types.MsgPlaceOrder) { m.Cores[0].Length = 0 }, types.ErrInvalidCore},
		{"byte length under-declared", func(m *types.MsgPlaceOrder) { m.Cores[0].ByteLength = 999 }, types.ErrInvalidCore},
		{"huge bytes", func(m *types.MsgPlaceOrder) { m.Cores[0].ByteLength = p.MaxCoreBytes + 1 }, types.ErrInvalidCore},
		{"more blocks than bytes", func(m *types.MsgPlaceOrder) { m.Cores[0].ByteLength = 5 }, types.ErrInvalidCore},
		{"deposit below price", func(m *types.MsgPlaceOrder) { m.Deposit.Amount = m.Deposit.Amount.SubRaw(1) }, types.ErrDepositTooLow},
		{"zero deposit", func(m *types.MsgPlaceOrder) { m.Deposit.Amount = math.ZeroInt() }, types.ErrDepositTooLow},
		{"deposit in another denom", func(m *types.MsgPlaceOrder) { m.Deposit.Denom = "atom" }, types.ErrInvalidDenom},
		{"no cores", func(m *types.MsgPlaceOrder) { m.Cores = nil }, types.ErrInvalidShape},
		{"no shape", func(m *types.MsgPlaceOrder) { m.Replicas = 0 }, types.ErrInvalidShape},
		{"both shapes", func(m *types.MsgPlaceOrder) { m.ErasureK, m.ErasureN = 1, 1 }, types.ErrInvalidShape},
		{"too many replicas", func(m *types.MsgPlaceOrder) { m.Replicas = p.MaxReplicas + 1 }, types.ErrInvalidShape},
		{"erasure n differs from cores", func(m *types.MsgPlaceOrder) { m.Replicas, m.ErasureK, m.ErasureN = 0, 2, 3 }, types.ErrInvalidShape},
		{"erasure k > n", func(m *types.MsgPlaceOrder) { m.Replicas, m.ErasureK, m.ErasureN = 0, 2, 1 }, types.ErrInvalidShape},
		{"same core twice", func(m *types.MsgPlaceOrder) { m.Cores = append(m.Cores, m.Cores[0]) }, types.ErrInvalidCore},
		{"zero duration", func(m *types.MsgPlaceOrder) { m.DurationEpochs = 0 }, types.ErrInvalidDuration},
		{"huge duration", func(m *types.MsgPlaceOrder) { m.DurationEpochs = p.MaxDurationEpochs + 1 }, types.ErrInvalidDuration},
		{"negative max price", func(m *types.MsgPlaceOrder) { m.MaxPrice = math.NewInt(-1) }, types.ErrInvalidPrice},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(st *testing.T) {
			f.useT(st)
			defer f.useT(t)
			m := f.placeMsg("alice", w.core(t, 10, 1000), 3, 100, 10)
			tc.mut(m)
			f.refused(tc.want, func() error { _, err := f.msg.PlaceOrder(f.ctx, m); return err })
		})
	}
	// and a correct one still goes through, as order 1
	res, err := f.msg.PlaceOrder(f.ctx, f.placeMsg("alice", w.core(t, 10, 1000), 3, 100, 10))
	require.NoError(t, err)
	require.Equal(t, uint64(1), res.OrderId)
}

// TestDepositRefusalNamesAmount: a deposit one udot short is refused with
// the exact amount needed in the error (docs/chain.md), and the order is
// not placed.
func TestDepositRefusalNamesAmount(t *testing.T) {
	f := newFixture(t)
	threeHosters(f)
	w := newWriter("amount")
	m := f.placeMsg("alice", w.core(t, 10, 1000), 3, 100, 10)
	need := m.Deposit
	m.Deposit.Amount = need.Amount.SubRaw(1)
	_, err := f.msg.PlaceOrder(f.ctx, m)
	require.ErrorIs(t, err, types.ErrDepositTooLow)
	require.Contains(t, err.Error(), "is below "+need.Amount.String()+need.Denom)
	_, err = f.k.Orders.Get(f.ctx, 1)
	require.Error(t, err, "a refused order was stored")
}

func TestCompatCoreSignature(t *testing.T) {
	f := newFixture(t)
	threeHosters(f)
	w := newWriter("compat")
	pub := w.priv.Public()
	c := w.core(t, 3, 300)
	// a compat core: key = ed25519 public key, empty manifest, raw signature
	c.Manifest = nil
	c.Key = []byte(pub.(ed25519.PublicKey))
	_, err := f.msg.PlaceOrder(f.ctx, f.placeMsg("alice", c, 1, 1, 1))
	require.ErrorIs(t, err, types.ErrBadSignature, "a v11 multisig signature is not a compat signature")
	sig := compatSign(t, w, c)
	c.Signature = sig
	_, err = f.msg.PlaceOrder(f.ctx, f.placeMsg("alice", c, 1, 1, 1))
	require.NoError(t, err)
}

func TestErasureOrder(t *testing.T) {
	f := newFixture(t)
	for i, r := range []string{"r1", "r2", "r3", "r4", "r5", "r6"} {
		f.register("h"+string(rune('a'+i)), r, 1<<30, 10)
	}
	var cores []types.Core
	for i := 0; i < 6; i++ {
		cores = append(cores, newWriter("shard"+string(rune('0'+i))).core(t, 4, 4096))
	}
	m := &types.MsgPlaceOrder{
		Owner: f.user("gw").String(), Cores: cores, ErasureK: 4, ErasureN: 6,
		MaxPrice: math.NewInt(10), DurationEpochs: 5, Deposit: sdk.NewInt64Coin(denom, 6*5),
	}
	res, err := f.msg.PlaceOrder(f.ctx, m)
	require.NoError(t, err)
	o := f.order(res.OrderId)
	require.Equal(t, uint32(1), o.Replicas)
	as := f.assignments(res.OrderId)
	require.Len(t, as, 6)
	regions := map[string]bool{}
	for _, a := range as {
		addr, _ := sdk.AccAddressFromBech32(a.Hoster)
		regions[f.hoster(addr).Region] = true
	}
	require.Len(t, regions, 6, "six hosters in six regions: every shard in its own region")
}

func TestCommit(t *testing.T) {
	f := newFixture(t)
	hs := threeHosters(f)
	outsider := f.register("h4", "eu-west", 10<<30, 100)
	_ = hs
	w := newWriter("writer")
	res, err := f.msg.PlaceOrder(f.ctx, f.placeMsg("alice", w.core(t, 10, 1<<20), 3, 100, 50))
	require.NoError(t, err)
	id := res.OrderId
	as := f.assignments(id)
	holders := []string{as[0].Hoster, as[1].Hoster, as[2].Hoster}
	notHolder := outsider.String()
	for _, h := range append(hs, outsider) {
		found := false
		for _, x := range holders {
			found = found || x == h.String()
		}
		if !found {
			notHolder = h.String()
		}
	}

	f.refused(types.ErrNotAssigned, func() error {
		_, err := f.msg.Commit(f.ctx, &types.MsgCommit{Hoster: notHolder, OrderId: id, CoreIndex: 0, Length: 10})
		return err
	})
	f.refused(types.ErrLengthMismatch, func() error {
		_, err := f.msg.Commit(f.ctx, &types.MsgCommit{Hoster: holders[0], OrderId: id, CoreIndex: 0, Length: 9})
		return err
	})
	f.refused(types.ErrInvalidCore, func() error {
		_, err := f.msg.Commit(f.ctx, &types.MsgCommit{Hoster: holders[0], OrderId: id, CoreIndex: 1, Length: 10})
		return err
	})
	f.refused(types.ErrOrderNotFound, func() error {
		_, err := f.msg.Commit(f.ctx, &types.MsgCommit{Hoster: holders[0], OrderId: 99, CoreIndex: 0, Length: 10})
		return err
	})

	for i, h := range holders {
		f.resetEvents()
		r, err := f.msg.Commit(f.ctx, &types.MsgCommit{Hoster: h, OrderId: id, CoreIndex: 0, Length: 10})
		require.NoError(t, err)
		require.True(t, f.hasEvent("datdot.storage.v1.EventCommitted"))
		last := i == len(holders)-1
		require.Equal(t, last, r.OrderActive)
		require.Equal(t, last, f.hasEvent("datdot.storage.v1.EventOrderActive"))
	}
	require.Equal(t, types.ORDER_STATUS_ACTIVE, f.order(id).Status)
	for _, a := range f.assignments(id) {
		require.Equal(t, uint64(10), a.CommittedLength)
		require.Equal(t, uint64(1), a.PaidFromEpoch, "pay starts with the epoch after the commit")
	}
}

func TestCancelPendingOrderRefundsEverything(t *testing.T) {
	f := newFixture(t)
	f.register("only", "eu", 1<<30, 1)
	alice := f.user("alice")
	start := f.led.of(alice)
	res, err := f.msg.PlaceOrder(f.ctx, f.placeMsg("alice", newWriter("w").core(t, 2, 2000), 3, 1, 7))
	require.NoError(t, err)
	require.Equal(t, types.ORDER_STATUS_PENDING, res.Status)
	require.True(t, start.GT(f.led.of(alice)))

	bob := f.user("bob")
	f.refused(types.ErrNotOrderOwner, func() error {
		_, err := f.msg.CancelOrder(f.ctx, &types.MsgCancelOrder{Owner: bob.String(), OrderId: res.OrderId})
		return err
	})
	out, err := f.msg.CancelOrder(f.ctx, &types.MsgCancelOrder{Owner: alice.String(), OrderId: res.OrderId})
	require.NoError(t, err)
	eqInt(t, math.NewInt(21), out.Refund.Amount)
	eqInt(t, start, f.led.of(alice))
	require.Equal(t, types.ORDER_STATUS_CANCELLED, f.order(res.OrderId).Status)
	gs, err := f.k.ExportGenesis(f.ctx)
	require.NoError(t, err)
	require.Empty(t, gs.PendingQueue)
	require.Empty(t, gs.ExpiryQueue)
	f.refused(types.ErrOrderEnded, func() error {
		_, err := f.msg.CancelOrder(f.ctx, &types.MsgCancelOrder{Owner: alice.String(), OrderId: res.OrderId})
		return err
	})
}

func TestPendingOrderRetriedWhenHostersJoin(t *testing.T) {
	f := newFixture(t)
	f.register("h1", "r1", 1<<30, 1)
	f.register("h2", "r2", 1<<30, 1)
	res, err := f.msg.PlaceOrder(f.ctx, f.placeMsg("alice", newWriter("w").core(t, 2, 2000), 3, 1, 100))
	require.NoError(t, err)
	require.Equal(t, types.ORDER_STATUS_PENDING, res.Status)
	require.True(t, f.hasEvent("datdot.storage.v1.EventOrderPending"))
	require.Empty(t, f.assignments(res.OrderId), "all or nothing: no partial assignment")
	require.Equal(t, uint64(0), f.hoster(f.user("h1")).Used)

	placed := f.height()
	f.endBlocksTo(placed + 3)
	o := f.order(res.OrderId)
	require.Equal(t, types.ORDER_STATUS_PENDING, o.Status)
	require.Equal(t, uint32(3), o.AssignAttempts, "attempts at placement, +1 and +3 (back-off 1, 2, 4...)")
	require.Equal(t, placed+7, o.RetryHeight)

	f.register("h3", "r3", 1<<30, 1)
	f.endBlocksTo(placed + 6)
	require.Equal(t, types.ORDER_STATUS_PENDING, f.order(res.OrderId).Status, "not due before its retry height")
	f.endBlocksTo(placed + 7)
	o = f.order(res.OrderId)
	require.Equal(t, types.ORDER_STATUS_ASSIGNED, o.Status)
	require.Equal(t, int64(0), o.RetryHeight)
	require.Len(t, f.assignments(res.OrderId), 3)
	gs, err := f.k.ExportGenesis(f.ctx)
	require.NoError(t, err)
	require.Empty(t, gs.PendingQueue)
}

func TestPendingRetriesAreBoundedPerBlock(t *testing.T) {
	f := newFixture(t)
	f.setParams(func(p *types.Params) { p.PendingRetriesPerBlock = 2 })
	for i := 0; i < 5; i++ {
		_, err := f.msg.PlaceOrder(f.ctx, f.placeMsg("alice", newWriter("w"+string(rune('0'+i))).core(t, 1, 10), 1, 1, 100))
		require.NoError(t, err)
	}
	f.endBlocksTo(f.height() + 1)
	attempts := 0
	for id := uint64(1); id <= 5; id++ {
		attempts += int(f.order(id).AssignAttempts) - 1
	}
	require.Equal(t, 2, attempts, "only two pending orders retried in one block")
	f.endBlocksTo(f.height() + 2)
	for id := uint64(1); id <= 5; id++ {
		require.GreaterOrEqual(t, f.order(id).AssignAttempts, uint32(2), "round robin reaches order %d", id)
	}
}

// A pending order that can never be assigned is retried with exponential
// back-off capped at 64 blocks, so it costs little EndBlock work.
func TestPendingRetriesBackOff(t *testing.T) {
	f := newFixture(t)
	res, err := f.msg.PlaceOrder(f.ctx, f.placeMsg("alice", newWriter("w").core(t, 1, 10), 1, 1, 1000))
	require.NoError(t, err)
	placed := f.height()
	// retries at +1, +3, +7, +15, +31, +63, +127, then every 64 blocks
	f.endBlocksTo(placed + 127 + 64*3)
	o := f.order(res.OrderId)
	require.Equal(t, uint32(1+7+3), o.AssignAttempts)
	require.Equal(t, f.height()+64, o.RetryHeight)
}

// The retries of one block stay within pending_read_budget store reads
// (EndBlock work is not paid by gas); the oldest due order of a size class
// always goes, the others wait their turn.
func TestPendingRetriesBoundedByReads(t *testing.T) {
	f := newFixture(t)
	for i := 0; i < 3; i++ {
		_, err := f.msg.PlaceOrder(f.ctx, f.placeMsg("alice", newWriter(fmt.Sprint("w", i)).core(t, 1, 10), 3, 1, 100))
		require.NoError(t, err)
	}
	// no hosters: a 3-slot retry is estimated at 4 x 3 + 1 = 13 reads, plus
	// one for the queue entry
	f.setParams(func(p *types.Params) { p.PendingReadBudget = 20 })
	f.endBlocksTo(f.height() + 1)
	require.Equal(t, []uint32{2, 1, 1}, []uint32{f.order(1).AssignAttempts, f.order(2).AssignAttempts, f.order(3).AssignAttempts},
		"14 + 14 reads exceed 20: only the first order was retried")
	f.endBlocksTo(f.height() + 1)
	require.Equal(t, uint32(2), f.order(2).AssignAttempts, "the next block serves the next order")
}

// Core signature checks are CPU work the store gas does not see: each
// verified core is charged CoreVerifyGas, also when a later core fails.
func TestCoreSignaturesCostGas(t *testing.T) {
	f := newFixture(t)
	const n = 8
	m := f.placeMsg("alice", newWriter("w0").core(t, 1, 10), 1, 1, 10)
	for i := 1; i < n; i++ {
		m.Cores = append(m.Cores, newWriter(fmt.Sprint("w", i)).core(t, 1, 10))
	}
	m.Deposit = sdk.NewInt64Coin(denom, 1000)
	m.Cores[n-1].Signature[0] ^= 1 // the last core is badly signed
	ctx := f.ctx.WithGasMeter(storetypes.NewInfiniteGasMeter())
	_, err := f.msg.PlaceOrder(ctx, m)
	require.ErrorIs(t, err, types.ErrBadSignature)
	require.GreaterOrEqual(t, ctx.GasMeter().GasConsumed(), uint64(n*keeper.CoreVerifyGas))
}

// TestCoreSizeIsProvenByRoots: the byte length of a core is what its signed
// roots prove, not what the order declares. Before, the same signed core was
// accepted at 10 bytes (escrow for 10 bytes) and at 8 GiB.
func TestCoreSizeIsProvenByRoots(t *testing.T) {
	f := newFixture(t)
	threeHosters(f)
	w := newWriter("big writer")
	c := w.core(t, 10, 8<<30) // signed roots hold 8 GiB
	require.Equal(t, uint64(8<<30), c.ByteLength)

	small := c
	small.ByteLength = 10
	m := f.placeMsg("alice", small, 1, 100, 10) // deposit for 10 bytes
	f.refused(types.ErrInvalidCore, func() error { _, err := f.msg.PlaceOrder(f.ctx, m); return err })

	// Leaving byte_length out lets the chain derive it: then the deposit for
	// 10 bytes is too low for the 8 GiB the roots prove.
	undeclared := c
	undeclared.ByteLength = 0
	m = f.placeMsg("alice", small, 1, 100, 10)
	m.Cores = []types.Core{undeclared}
	f.refused(types.ErrDepositTooLow, func() error { _, err := f.msg.PlaceOrder(f.ctx, m); return err })

	m = f.placeMsg("alice", c, 1, 100, 10)
	m.Cores[0].ByteLength = 0
	res, err := f.msg.PlaceOrder(f.ctx, m)
	require.NoError(t, err)
	require.Equal(t, uint64(8<<30), f.order(res.OrderId).Cores[0].ByteLength)
}

// TestCoreRootsFromARealCore: roots taken from a real Hypercore core verify
// and give its byte length.
func TestCoreRootsFromARealCore(t *testing.T) {
	ctx := context.Background()
	s := sha256.Sum256([]byte("real core"))
	core, err := hypercore.Create(ctx, hypercore.NewMemStorage(), ed25519.NewKeyFromSeed(s[:]), false)
	require.NoError(t, err)
	defer core.Close()
	for i := 0; i < 7; i++ {
		_, err = core.Append(ctx, bytes.Repeat([]byte{byte(i)}, 100+i))
		require.NoError(t, err)
	}
	info := core.Info()
	c := types.Core{Key: info.Key[:], Manifest: info.Manifest, Length: info.Length, TreeHash: info.TreeHash[:],
		Signature: info.Signature, Roots: types.RootsFromNodes(core.Roots())}
	n, err := c.DeriveByteLength()
	require.NoError(t, err)
	require.Equal(t, info.ByteLength, n)
	c.ByteLength = n
	require.NoError(t, c.ValidateBasic(1<<40))
	require.NoError(t, hypercore.VerifyTreeSignature(c.Key, c.Manifest, c.TreeHash, c.Length, c.Fork, c.Signature))
}

// An extension of several cores records their earlier lengths in core
// order, whatever the order of the cores in the message: state written from
// a map's iteration order differs between nodes and forks the chain (it did
// on a 4-validator network at the gateway's first erasure-order extension).
func TestExtendRemembersLengthsInCoreOrder(t *testing.T) {
	for run := 0; run < 20; run++ {
		f := newFixture(t)
		for i, r := range []string{"r1", "r2", "r3", "r4", "r5", "r6"} {
			f.register("h"+string(rune('a'+i)), r, 1<<30, 10)
		}
		var ws []writer
		var cores []types.Core
		for i := 0; i < 6; i++ {
			ws = append(ws, newWriter("shard"+string(rune('0'+i))))
			cores = append(cores, ws[i].core(t, 4, 4096))
		}
		res, err := f.msg.PlaceOrder(f.ctx, &types.MsgPlaceOrder{
			Owner: f.user("gw").String(), Cores: cores, ErasureK: 4, ErasureN: 6,
			MaxPrice: math.NewInt(10), DurationEpochs: 5, Deposit: sdk.NewInt64Coin(denom, 1000),
		})
		require.NoError(t, err)
		// the message lists the cores in reverse
		var grown []types.Core
		for i := 5; i >= 0; i-- {
			grown = append(grown, ws[i].core(t, 8, 8192))
		}
		_, err = f.msg.ExtendOrder(f.ctx, &types.MsgExtendOrder{Owner: f.user("gw").String(), OrderId: res.OrderId, Cores: grown})
		require.NoError(t, err)
		kl := f.order(res.OrderId).KnownLengths
		require.Len(t, kl, 6)
		for i, k := range kl {
			require.Equal(t, uint32(i), k.CoreIndex, "run %d: known_lengths %v", run, kl)
			require.Equal(t, uint64(4), k.Length)
		}
	}
}
