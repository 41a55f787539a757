package app_test

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"testing"

	abci "github.com/cometbft/cometbft/abci/types"
	cryptoenc "github.com/cometbft/cometbft/crypto/encoding"
	dbm "github.com/cosmos/cosmos-db"
	"github.com/stretchr/testify/require"

	"cosmossdk.io/log/v2"
	sdkmath "cosmossdk.io/math"

	"github.com/cosmos/cosmos-sdk/baseapp"
	"github.com/cosmos/cosmos-sdk/codec"
	sdk "github.com/cosmos/cosmos-sdk/types"
	authtypes "github.com/cosmos/cosmos-sdk/x/auth/types"
	banktypes "github.com/cosmos/cosmos-sdk/x/bank/types"

	"github.com/datdot/datdot/app"
	"github.com/datdot/datdot/hypercore"
	storagekeeper "github.com/datdot/datdot/x/storage/keeper"
	storagetypes "github.com/datdot/datdot/x/storage/types"
)

const (
	epochBlocks = 5
	gib         = 1 << 30
)

// newCore writes a real Hypercore v11 core in memory (blocks of data) and
// returns it as the chain sees it: key, manifest, signed tree hash.
func newCore(t testing.TB, seed string, blocks ...[]byte) storagetypes.Core {
	t.Helper()
	ctx := context.Background()
	s := sha256.Sum256([]byte(seed))
	priv := ed25519.NewKeyFromSeed(s[:])
	core, err := hypercore.Create(ctx, hypercore.NewMemStorage(), priv, false)
	require.NoError(t, err)
	defer core.Close()
	_, err = core.Append(ctx, blocks...)
	require.NoError(t, err)
	info := core.Info()
	return storagetypes.Core{
		Key:        info.Key[:],
		Manifest:   info.Manifest,
		Length:     info.Length,
		Fork:       info.Fork,
		ByteLength: info.ByteLength,
		TreeHash:   info.TreeHash[:],
		Signature:  info.Signature,
		Roots:      storagetypes.RootsFromNodes(core.Roots()),
	}
}

func udot(n int64) sdk.Coin { return sdk.NewCoin(app.BondDenom, sdkmath.NewInt(n)) }

// newStorageChain is a chain with four hosters' accounts and storage epochs
// of epochBlocks blocks.
func newStorageChain(t testing.TB) *chain {
	names := []string{"validator", "alice", "bob", "hoster1", "hoster2", "hoster3", "hoster4"}
	return newChain(t, names, patchEpochs)
}

// patchEpochs shortens storage epochs and unbonding so that a test sees them.
func patchEpochs(cdc codec.Codec, gs app.GenesisState) {
	var sg storagetypes.GenesisState
	cdc.MustUnmarshalJSON(gs[storagetypes.ModuleName], &sg)
	if sg.Params.Denom != app.BondDenom {
		panic("default storage genesis must use the chain denom, not " + sg.Params.Denom)
	}
	sg.Params.EpochBlocks = epochBlocks
	sg.Params.UnbondingBlocks = 10
	gs[storagetypes.ModuleName] = cdc.MustMarshalJSON(&sg)
}

func (c *chain) storageQuery() storagetypes.QueryServer {
	return storagekeeper.NewQueryServerImpl(c.app.StorageKeeper)
}

func (c *chain) order(id uint64) *storagetypes.QueryOrderResponse {
	c.t.Helper()
	res, err := c.storageQuery().Order(c.ctx(), &storagetypes.QueryOrderRequest{Id: id})
	require.NoError(c.t, err)
	return res
}

func (c *chain) moduleBalance() sdkmath.Int {
	return c.balance(authtypes.NewModuleAddress(storagetypes.ModuleName))
}

// TestStorageFlow drives the whole x/storage life cycle through signed
// transactions on the real app: hosters register, an order with 3 replicas
// is placed and assigned to three distinct hosters, each commits, the order
// turns active, escrow accrues per epoch and is claimed, bad input is
// refused without a state change, the order is cancelled with the rest going
// back to the owner; then the state is exported and imported into a new app.
func TestStorageFlow(t *testing.T) {
	c := newStorageChain(t)
	alice := c.accounts["alice"]
	hosterNames := []string{"hoster1", "hoster2", "hoster3", "hoster4"}
	regions := []string{"eu-west", "us-east", "ap-south", "eu-west"}
	prices := []int64{500_000_000, 600_000_000, 700_000_000, 650_000_000}
	stake := udot(5_000_000)
	priceOf := map[string]sdkmath.Int{}

	// 1. Four hosters register, in three regions.
	for i, name := range hosterNames {
		h := c.accounts[name]
		res := c.mustDeliver(h, &storagetypes.MsgRegisterHoster{
			Hoster: h.String(), Stake: stake, Capacity: 10 * gib,
			Endpoint: fmt.Sprintf("http://127.0.0.1:%d", 9001+i), Region: regions[i],
			PricePerGibEpoch: sdkmath.NewInt(prices[i]),
		})
		_, ok := event(res, "datdot.storage.v1.EventHosterRegistered")
		require.True(t, ok, "no registration event")
		priceOf[h.String()] = sdkmath.NewInt(prices[i])
	}
	hosters, err := c.storageQuery().Hosters(c.ctx(), &storagetypes.QueryHostersRequest{})
	require.NoError(t, err)
	require.Len(t, hosters.Hosters, 4)
	stakes := stake.Amount.MulRaw(4)
	require.Equal(t, stakes, c.moduleBalance(), "stake is escrowed in the module account")

	// A second registration of the same hoster is refused.
	res := c.deliver(c.accounts["hoster1"], &storagetypes.MsgRegisterHoster{
		Hoster: c.accounts["hoster1"].String(), Stake: stake, Capacity: gib,
		Endpoint: "http://127.0.0.1:9001", Region: "eu-west", PricePerGibEpoch: sdkmath.NewInt(1),
	})
	require.Equal(t, storagetypes.ErrHosterExists.ABCICode(), res.Code, res.Log)

	// 2. A real core, and the order for it: 3 replicas.
	core := newCore(t, "flow core", bytes.Repeat([]byte("a"), 1500), bytes.Repeat([]byte("b"), 1500), []byte("tail"))
	require.EqualValues(t, 3, core.Length)
	maxPrice := sdkmath.NewInt(1_000_000_000)
	const duration = 40
	perSlotMax := maxPrice.MulRaw(int64(core.ByteLength)).AddRaw(gib - 1).QuoRaw(gib)
	deposit := udot(perSlotMax.MulRaw(3 * duration).Int64())
	place := func(cores ...storagetypes.Core) *storagetypes.MsgPlaceOrder {
		return &storagetypes.MsgPlaceOrder{
			Owner: alice.String(), Cores: cores, Replicas: 3, MaxPrice: maxPrice,
			DurationEpochs: duration, Deposit: deposit,
		}
	}

	// Bad input first: each is refused with its own error and changes nothing
	// but the fee.
	badSig := core
	badSig.Signature = bytes.Clone(core.Signature)
	badSig.Signature[len(badSig.Signature)/2] ^= 0x01 // inside the ed25519 signature
	otherHash := core
	otherHash.TreeHash = bytes.Clone(core.TreeHash)
	otherHash.TreeHash[0] ^= 0x01
	unsigned := core
	unsigned.Signature = nil
	zero := core
	zero.ByteLength = core.ByteLength - 1 // declared below what the roots prove
	huge := core
	huge.ByteLength = 1 << 50
	lowDeposit := place(core)
	lowDeposit.Deposit = udot(deposit.Amount.Int64() - 1)
	for _, tc := range []struct {
		name string
		msg  *storagetypes.MsgPlaceOrder
		code uint32
	}{
		{"badly signed core", place(badSig), storagetypes.ErrBadSignature.ABCICode()},
		{"tree hash its roots do not give", place(otherHash), storagetypes.ErrInvalidCore.ABCICode()},
		{"unsigned core", place(unsigned), storagetypes.ErrBadSignature.ABCICode()},
		{"under-declared size", place(zero), storagetypes.ErrInvalidCore.ABCICode()},
		{"huge size", place(huge), storagetypes.ErrInvalidCore.ABCICode()},
		{"deposit below price", lowDeposit, storagetypes.ErrDepositTooLow.ABCICode()},
	} {
		before := c.balance(alice.addr)
		module := c.moduleBalance()
		res := c.deliver(alice, tc.msg)
		require.NotZerof(t, res.Code, "%s accepted", tc.name)
		t.Logf("%s refused: code %d: %s", tc.name, res.Code, res.Log)
		require.Equalf(t, tc.code, res.Code, "%s: %s", tc.name, res.Log)
		require.Equalf(t, before.Sub(fee.AmountOf(app.BondDenom)), c.balance(alice.addr), "%s moved coins", tc.name)
		require.Equal(t, module, c.moduleBalance())
		orders, err := c.storageQuery().OrdersByOwner(c.ctx(), &storagetypes.QueryOrdersByOwnerRequest{Owner: alice.String()})
		require.NoError(t, err)
		require.Emptyf(t, orders.Orders, "%s created an order", tc.name)
	}

	aliceBefore := c.balance(alice.addr)
	res = c.mustDeliver(alice, place(core))
	var placed storagetypes.MsgPlaceOrderResponse
	requireMsgResponse(t, c, res, &placed)
	orderID := placed.OrderId
	sp, err := c.app.StorageKeeper.GetParams(c.ctx())
	require.NoError(t, err)
	placementFee := sp.PlacementFeePerSlot.MulRaw(3) // burned, never refunded
	require.True(t, placementFee.IsPositive(), "the default params charge a placement fee")
	require.Equal(t, aliceBefore.Sub(deposit.Amount).Sub(placementFee).Sub(fee.AmountOf(app.BondDenom)), c.balance(alice.addr))
	require.Equal(t, stakes.Add(deposit.Amount), c.moduleBalance())
	_, ok := event(res, "datdot.storage.v1.EventOrderAssigned")
	require.True(t, ok, "order not assigned in the block it was placed")

	// 3. Three distinct hosters hold the three replicas.
	o := c.order(orderID)
	require.Equal(t, storagetypes.ORDER_STATUS_ASSIGNED, o.Order.Status)
	require.Len(t, o.Assignments, 3)
	assigned := map[string]bool{}
	for _, a := range o.Assignments {
		assigned[a.Assignment.Hoster] = true
		require.Equal(t, priceOf[a.Assignment.Hoster], a.Assignment.PricePerGibEpoch)
	}
	require.Len(t, assigned, 3, "replicas must be on distinct hosters")
	var outsider *account
	for _, name := range hosterNames {
		if !assigned[c.accounts[name].String()] {
			outsider = c.accounts[name]
		}
	}
	require.NotNil(t, outsider)
	// Regions are spread: with three regions available the three replicas
	// never all sit in one region.
	regionOf := map[string]string{}
	for i, name := range hosterNames {
		regionOf[c.accounts[name].String()] = regions[i]
	}
	usedRegions := map[string]bool{}
	for h := range assigned {
		usedRegions[regionOf[h]] = true
	}
	require.GreaterOrEqual(t, len(usedRegions), 2)

	// 4. A hoster committing to a slot that is not its own is refused.
	res = c.deliver(outsider, &storagetypes.MsgCommit{Hoster: outsider.String(), OrderId: orderID, CoreIndex: 0, Length: core.Length})
	require.Equal(t, storagetypes.ErrNotAssigned.ABCICode(), res.Code, res.Log)
	// Committing a length other than the order's is refused too.
	first := c.accounts[hosterNameOf(c, o.Assignments[0].Assignment.Hoster)]
	res = c.deliver(first, &storagetypes.MsgCommit{Hoster: first.String(), OrderId: orderID, CoreIndex: 0, Length: core.Length + 1})
	require.Equal(t, storagetypes.ErrLengthMismatch.ABCICode(), res.Code, res.Log)

	// 5. Every assigned hoster commits; the last commit activates the order.
	var activeSeen bool
	for i, a := range o.Assignments {
		h := c.accounts[hosterNameOf(c, a.Assignment.Hoster)]
		res := c.mustDeliver(h, &storagetypes.MsgCommit{Hoster: h.String(), OrderId: orderID, CoreIndex: 0, Length: core.Length})
		_, ok := event(res, "datdot.storage.v1.EventCommitted")
		require.True(t, ok)
		_, activeSeen = event(res, "datdot.storage.v1.EventOrderActive")
		require.Equal(t, i == len(o.Assignments)-1, activeSeen, "order must turn active exactly on the last commit")
	}
	require.Equal(t, storagetypes.ORDER_STATUS_ACTIVE, c.order(orderID).Order.Status)

	// 6. Escrow accrues to each hoster at its own price, every epoch.
	rate := func(hoster string) sdkmath.Int {
		return priceOf[hoster].MulRaw(int64(core.ByteLength)).AddRaw(gib - 1).QuoRaw(gib)
	}
	c.blocks(2 * epochBlocks) // past the commit epoch
	before := c.order(orderID)
	c.blocks(3 * epochBlocks)
	after := c.order(orderID)
	require.Equal(t, before.CurrentEpoch+3, after.CurrentEpoch)
	total := sdkmath.ZeroInt()
	for i, a := range after.Assignments {
		grown := a.Accrued.Sub(before.Assignments[i].Accrued)
		require.Equalf(t, rate(a.Assignment.Hoster).MulRaw(3), grown, "slot %d accrued %s over 3 epochs", i, grown)
		total = total.Add(a.Accrued)
	}
	require.True(t, total.IsPositive())
	require.Equal(t, total, after.Accrued)

	// A hoster claims what it earned: the accrued amount moves to it.
	claimer := c.accounts[hosterNameOf(c, after.Assignments[0].Assignment.Hoster)]
	claimerBefore := c.balance(claimer.addr)
	c.blocks(epochBlocks - 1) // stay inside one epoch between query and claim
	due := c.order(orderID).Assignments[0].Accrued
	res = c.mustDeliver(claimer, &storagetypes.MsgClaimPayment{Hoster: claimer.String(), OrderId: orderID})
	paid := c.balance(claimer.addr).Sub(claimerBefore).Add(fee.AmountOf(app.BondDenom))
	require.True(t, paid.GTE(due) && paid.LTE(due.Add(rate(claimer.String()))), "claimed %s, accrued was %s", paid, due)

	// 7. Leaving while holding assignments is refused.
	res = c.deliver(claimer, &storagetypes.MsgLeave{Hoster: claimer.String()})
	require.Equal(t, storagetypes.ErrHosterHasAssignments.ABCICode(), res.Code, res.Log)
	h, err := c.storageQuery().Hoster(c.ctx(), &storagetypes.QueryHosterRequest{Address: claimer.String()})
	require.NoError(t, err)
	require.Equal(t, storagetypes.HOSTER_STATUS_ACTIVE, h.Hoster.Status)

	// Only the owner may cancel.
	res = c.deliver(c.accounts["bob"], &storagetypes.MsgCancelOrder{Owner: c.accounts["bob"].String(), OrderId: orderID})
	require.Equal(t, storagetypes.ErrNotOrderOwner.ABCICode(), res.Code, res.Log)

	// 8. Cancel: hosters keep what accrued, the rest returns to the owner,
	// and nothing of the order stays in the module account.
	hosterBalances := map[string]sdkmath.Int{}
	for hAddr := range assigned {
		hosterBalances[hAddr] = c.balance(sdk.MustAccAddressFromBech32(hAddr))
	}
	aliceBefore = c.balance(alice.addr)
	c.mustDeliver(alice, &storagetypes.MsgCancelOrder{Owner: alice.String(), OrderId: orderID})
	refund := c.balance(alice.addr).Sub(aliceBefore).Add(fee.AmountOf(app.BondDenom))
	require.True(t, refund.IsPositive())
	toHosters := paid
	for hAddr, b := range hosterBalances {
		toHosters = toHosters.Add(c.balance(sdk.MustAccAddressFromBech32(hAddr)).Sub(b))
	}
	require.Equal(t, deposit.Amount, refund.Add(toHosters), "refund %s + hosters %s must equal the deposit", refund, toHosters)
	require.Equal(t, stakes, c.moduleBalance(), "only stake remains in the module account")
	require.Equal(t, storagetypes.ORDER_STATUS_CANCELLED, c.order(orderID).Order.Status)

	// With its assignments gone the hoster may now leave.
	c.mustDeliver(claimer, &storagetypes.MsgLeave{Hoster: claimer.String()})

	// A second order stays live so that the export carries assignments.
	c.mustDeliver(alice, place(newCore(t, "second core", []byte("hello"), []byte("world"))))

	// 9. Genesis export and import into a fresh app reproduce the state.
	requireExportImportRoundTrip(t, c)
}

func hosterNameOf(c *chain, addr string) string {
	for name, a := range c.accounts {
		if a.String() == addr {
			return name
		}
	}
	c.t.Fatalf("unknown hoster %s", addr)
	return ""
}

// requireMsgResponse decodes the first Msg response of a tx result.
func requireMsgResponse(t testing.TB, c *chain, res *abci.ExecTxResult, out interface {
	Unmarshal([]byte) error
}) {
	t.Helper()
	var data sdk.TxMsgData
	require.NoError(t, c.app.AppCodec().Unmarshal(res.Data, &data))
	require.Len(t, data.MsgResponses, 1)
	require.NoError(t, out.Unmarshal(data.MsgResponses[0].Value))
}

// requireExportImportRoundTrip exports the chain, starts a new app from that
// genesis (InitChain, as CometBFT would), and checks that the new app's
// stores hold the same data and that exporting it again gives the same
// genesis byte for byte.
func requireExportImportRoundTrip(t *testing.T, c *chain) {
	t.Helper()
	_, err := c.app.ExportAppStateAndValidators(true, nil, nil)
	require.ErrorIs(t, err, app.ErrZeroHeightExport)
	exported, err := c.app.ExportAppStateAndValidators(false, nil, nil)
	require.NoError(t, err)
	require.NotEmpty(t, exported.Validators)

	b, err := app.New(log.NewNopLogger(), dbm.NewMemDB(), true, appOptions{}, baseapp.SetChainID(testChainID))
	require.NoError(t, err)
	var vals []abci.ValidatorUpdate
	for _, v := range exported.Validators {
		pk, err := cryptoenc.PubKeyToProto(v.PubKey)
		require.NoError(t, err)
		vals = append(vals, abci.ValidatorUpdate{PubKey: pk, Power: v.Power})
	}
	cp := exported.ConsensusParams
	_, err = b.InitChain(&abci.RequestInitChain{
		ChainId:         testChainID,
		Time:            c.time,
		InitialHeight:   exported.Height,
		ConsensusParams: &cp,
		Validators:      vals,
		AppStateBytes:   exported.AppState,
	})
	require.NoError(t, err)
	ctxB := b.NewContext(false) // the state InitChain wrote, not yet committed

	// Re-export from the imported state: identical genesis, module by module.
	reexported, err := b.ModuleManager.ExportGenesisForModules(ctxB, b.AppCodec(), nil)
	require.NoError(t, err)
	var first map[string]json.RawMessage
	require.NoError(t, json.Unmarshal(exported.AppState, &first))
	require.Equal(t, len(first), len(reexported))
	for name, raw := range first {
		require.JSONEqf(t, string(raw), string(reexported[name]), "module %s changed through export/import", name)
	}

	// And the raw stores of the modules whose state is fully carried by
	// genesis are identical key for key.
	ctxA := c.ctx()
	for _, name := range []string{storagetypes.StoreKey, banktypes.StoreKey, authtypes.StoreKey} {
		storeA := ctxA.KVStore(c.app.GetKey(name))
		storeB := ctxB.KVStore(b.GetKey(name))
		itA, itB := storeA.Iterator(nil, nil), storeB.Iterator(nil, nil)
		n := 0
		for ; itA.Valid(); itA.Next() {
			require.Truef(t, itB.Valid(), "store %s: imported store ends early at key %x", name, itA.Key())
			require.Equalf(t, itA.Key(), itB.Key(), "store %s: key %d differs", name, n)
			require.Equalf(t, itA.Value(), itB.Value(), "store %s: value of key %x differs", name, itA.Key())
			itB.Next()
			n++
		}
		if itB.Valid() {
			t.Fatalf("store %s: imported store has extra key %x", name, itB.Key())
		}
		require.NoError(t, itA.Close())
		require.NoError(t, itB.Close())
		require.Positivef(t, n, "store %s is empty", name)
	}
}
