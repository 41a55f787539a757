package keeper_test

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"testing"

	"github.com/golang/mock/gomock"
	"github.com/stretchr/testify/require"

	"cosmossdk.io/core/header"
	"cosmossdk.io/log/v2"
	"cosmossdk.io/math"

	addresscodec "github.com/cosmos/cosmos-sdk/codec/address"
	"github.com/cosmos/cosmos-sdk/runtime"
	storetypes "github.com/cosmos/cosmos-sdk/store/v2/types"
	sdktestutil "github.com/cosmos/cosmos-sdk/testutil"
	sdk "github.com/cosmos/cosmos-sdk/types"
	moduletestutil "github.com/cosmos/cosmos-sdk/types/module/testutil"
	authtypes "github.com/cosmos/cosmos-sdk/x/auth/types"
	govtypes "github.com/cosmos/cosmos-sdk/x/gov/types"

	"github.com/datdot/datdot/hypercore"
	"github.com/datdot/datdot/hypercore/flattree"
	"github.com/datdot/datdot/x/storage"
	"github.com/datdot/datdot/x/storage/keeper"
	storagetestutil "github.com/datdot/datdot/x/storage/testutil"
	"github.com/datdot/datdot/x/storage/types"
)

const denom = "stake"

var moduleAcct = "module:" + types.ModuleName

// ledger is the bank behind the gomock BankKeeper: balances per account and
// for the module account, so tests can check where every coin went.
type ledger struct {
	bal    map[string]math.Int
	burned math.Int
}

func newLedger() *ledger { return &ledger{bal: map[string]math.Int{}, burned: math.ZeroInt()} }

func (l *ledger) get(k string) math.Int {
	if v, ok := l.bal[k]; ok {
		return v
	}
	return math.ZeroInt()
}

func (l *ledger) move(from, to string, amt sdk.Coins) error {
	for _, c := range amt {
		if c.Denom != denom {
			return fmt.Errorf("ledger: unexpected denom %s", c.Denom)
		}
		if l.get(from).LT(c.Amount) {
			return fmt.Errorf("insufficient funds: %s has %s, needs %s", from, l.get(from), c.Amount)
		}
		l.bal[from] = l.get(from).Sub(c.Amount)
		if to != "" {
			l.bal[to] = l.get(to).Add(c.Amount)
		} else {
			l.burned = l.burned.Add(c.Amount)
		}
	}
	return nil
}

func (l *ledger) of(a sdk.AccAddress) math.Int { return l.get(string(a)) }

type fixture struct {
	t     testing.TB
	ctx   sdk.Context
	key   *storetypes.KVStoreKey
	cms   storetypes.CommitMultiStore // the committed store under ctx
	k     keeper.Keeper
	msg   types.MsgServer
	q     types.QueryServer
	bank  *storagetestutil.MockBankKeeper
	acct  *storagetestutil.MockAccountKeeper
	led   *ledger
	gov   string
	users map[string]sdk.AccAddress
	rep   *reporter
}

// reporter forwards gomock's reports to the current test; a fuzz target
// points it at each iteration's *testing.T (gomock must not call the
// *testing.F inside the fuzz function).
type reporter struct{ tb testing.TB }

func (r *reporter) Errorf(format string, args ...any) { r.tb.Errorf(format, args...) }
func (r *reporter) Fatalf(format string, args ...any) { r.tb.Fatalf(format, args...) }

// useT makes t the test that fixture assertions and mocks report to.
func (f *fixture) useT(t testing.TB) { f.t, f.rep.tb = t, t }

func newFixture(t testing.TB) *fixture {
	t.Helper()
	f := newBareFixture(t)
	gs := types.DefaultGenesis()
	// The older tests count coins exactly and run long between commits:
	// no placement fee and a long commit window unless a test sets them.
	gs.Params.PlacementFeePerSlot = math.ZeroInt()
	gs.Params.CommitWindow = 1 << 30
	require.NoError(t, f.k.InitGenesis(f.ctx, gs))
	return f
}

// newBareFixture is a keeper on an empty store, before InitGenesis.
func newBareFixture(t testing.TB) *fixture {
	t.Helper()
	key := storetypes.NewKVStoreKey(types.StoreKey)
	tctx := sdktestutil.DefaultContextWithDB(t, key, storetypes.NewTransientStoreKey("transient_test"))
	enc := moduletestutil.MakeTestEncodingConfig(storage.AppModule{})
	rep := &reporter{tb: t}
	ctrl := gomock.NewController(rep)
	ak := storagetestutil.NewMockAccountKeeper(ctrl)
	bk := storagetestutil.NewMockBankKeeper(ctrl)
	ak.EXPECT().AddressCodec().Return(addresscodec.NewBech32Codec("cosmos")).AnyTimes()
	led := newLedger()
	bk.EXPECT().SendCoinsFromAccountToModule(gomock.Any(), gomock.Any(), types.ModuleName, gomock.Any()).
		DoAndReturn(func(_ context.Context, from sdk.AccAddress, _ string, amt sdk.Coins) error {
			return led.move(string(from), moduleAcct, amt)
		}).AnyTimes()
	bk.EXPECT().SendCoinsFromModuleToAccount(gomock.Any(), types.ModuleName, gomock.Any(), gomock.Any()).
		DoAndReturn(func(_ context.Context, _ string, to sdk.AccAddress, amt sdk.Coins) error {
			return led.move(moduleAcct, string(to), amt)
		}).AnyTimes()
	bk.EXPECT().BurnCoins(gomock.Any(), types.ModuleName, gomock.Any()).
		DoAndReturn(func(_ context.Context, _ string, amt sdk.Coins) error {
			return led.move(moduleAcct, "", amt)
		}).AnyTimes()

	modAddr := authtypes.NewModuleAddress(types.ModuleName)
	ak.EXPECT().GetModuleAddress(types.ModuleName).Return(modAddr).AnyTimes()
	bk.EXPECT().GetBalance(gomock.Any(), gomock.Any(), gomock.Any()).
		DoAndReturn(func(_ context.Context, a sdk.AccAddress, d string) sdk.Coin {
			if d != denom {
				return sdk.NewInt64Coin(d, 0)
			}
			if a.Equals(modAddr) {
				return sdk.NewCoin(d, led.get(moduleAcct))
			}
			return sdk.NewCoin(d, led.of(a))
		}).AnyTimes()
	gov := authtypes.NewModuleAddress(govtypes.ModuleName).String()
	bk.EXPECT().BlockedAddr(gomock.Any()).DoAndReturn(func(a sdk.AccAddress) bool {
		return a.Equals(modAddr) || a.Equals(authtypes.NewModuleAddress(govtypes.ModuleName))
	}).AnyTimes()
	k := keeper.NewKeeper(enc.Codec, runtime.NewKVStoreService(key), log.NewNopLogger(), gov, ak, bk)
	f := &fixture{
		t: t, key: key, k: k, msg: keeper.NewMsgServerImpl(k), q: keeper.NewQueryServerImpl(k),
		bank: bk, acct: ak, led: led, gov: gov, users: map[string]sdk.AccAddress{},
	}
	f.ctx = tctx.Ctx
	f.cms = tctx.CMS
	f.rep = rep
	f.setHeight(1)
	return f
}

// setHeight moves the context to a block height with a header hash derived
// from it (as FinalizeBlock would provide).
func (f *fixture) setHeight(h int64) {
	hash := sha256.Sum256([]byte(fmt.Sprintf("block-%d", h)))
	f.ctx = f.ctx.WithBlockHeight(h).WithHeaderInfo(header.Info{Height: h, Hash: hash[:]})
}

func (f *fixture) height() int64 { return f.ctx.BlockHeight() }

// endBlocksTo runs EndBlock for every height up to h (inclusive).
func (f *fixture) endBlocksTo(h int64) {
	for f.height() < h {
		f.setHeight(f.height() + 1)
		require.NoError(f.t, f.k.EndBlocker(f.ctx))
	}
}

// user returns a funded account for a name.
func (f *fixture) user(name string) sdk.AccAddress {
	if a, ok := f.users[name]; ok {
		return a
	}
	sum := sha256.Sum256([]byte(name))
	a := sdk.AccAddress(sum[:20])
	f.users[name] = a
	f.led.bal[string(a)] = math.NewInt(1_000_000_000_000)
	return a
}

func (f *fixture) params() types.Params {
	p, err := f.k.Params.Get(f.ctx)
	require.NoError(f.t, err)
	return p
}

func (f *fixture) setParams(mut func(*types.Params)) {
	p := f.params()
	mut(&p)
	require.NoError(f.t, f.k.Params.Set(f.ctx, p))
}

// register registers a hoster with the given region, capacity and price.
func (f *fixture) register(name, region string, capacity uint64, price int64) sdk.AccAddress {
	f.t.Helper()
	a := f.user(name)
	_, err := f.msg.RegisterHoster(f.ctx, &types.MsgRegisterHoster{
		Hoster: a.String(), Stake: sdk.NewInt64Coin(denom, 1_000_000), Capacity: capacity,
		Endpoint: "https://" + name + ".example:8443", Region: region, PricePerGibEpoch: math.NewInt(price),
	})
	require.NoError(f.t, err)
	return a
}

// writer is a Hypercore v11 writer (default single-signer manifest).
type writer struct {
	priv     ed25519.PrivateKey
	manifest []byte
	key      []byte
}

func newWriter(seed string) writer {
	s := sha256.Sum256([]byte(seed))
	priv := ed25519.NewKeyFromSeed(s[:])
	m := hypercore.DefaultManifest(priv.Public().(ed25519.PublicKey))
	k := hypercore.ManifestKey(m)
	return writer{priv: priv, manifest: m, key: k[:]}
}

// core returns a signed core at length with byteLength bytes (byteLength >=
// length): merkle roots at the flat-tree positions of length blocks whose
// sizes sum to byteLength, with hashes derived from the key and length (the
// chain checks only that they hash to the signed tree hash).
func (w writer) core(t testing.TB, length, byteLength uint64) types.Core {
	return w.coreRoots(t, length, testRoots(w.key, length, byteLength))
}

// coreRoots returns a core at length with the given roots, signed by w.
func (w writer) coreRoots(t testing.TB, length uint64, roots []hypercore.Node) types.Core {
	th := hypercore.TreeHash(roots)
	sig, err := hypercore.SignTree(w.priv, w.manifest, th[:], length, 0)
	require.NoError(t, err)
	return types.Core{Key: w.key, Manifest: w.manifest, Length: length, ByteLength: sumSizes(roots), TreeHash: th[:],
		Signature: sig, Roots: types.RootsFromNodes(roots)}
}

// testRoots are roots of a tree of length blocks holding byteLength bytes:
// each root covers at least one byte per block, the first takes the rest.
func testRoots(key []byte, length, byteLength uint64) []hypercore.Node {
	idx := flattree.FullRoots(nil, 2*length)
	roots := make([]hypercore.Node, len(idx))
	var used uint64
	for i, x := range idx {
		roots[i] = hypercore.Node{Index: x, Size: flattree.CountLeaves(x)}
		used += roots[i].Size
		roots[i].Hash = sha256.Sum256(binary.BigEndian.AppendUint64(append([]byte("root"), key...), x))
	}
	if len(roots) > 0 && byteLength > used {
		roots[0].Size += byteLength - used
	}
	return roots
}

// treeHashOf is the tree hash of a core's roots.
func treeHashOf(roots []types.MerkleRoot) []byte {
	nodes := make([]hypercore.Node, len(roots))
	for i, r := range roots {
		nodes[i] = hypercore.Node{Index: r.Index, Size: r.SizeBytes}
		copy(nodes[i].Hash[:], r.Hash)
	}
	th := hypercore.TreeHash(nodes)
	return th[:]
}

func sumSizes(roots []hypercore.Node) uint64 {
	var n uint64
	for _, r := range roots {
		n += r.Size
	}
	return n
}

// placeMsg is a replicated order for one core; the deposit is exactly the
// required amount.
func (f *fixture) placeMsg(owner string, c types.Core, replicas uint32, maxPrice int64, duration uint64) *types.MsgPlaceOrder {
	need := types.SlotPrice(math.NewInt(maxPrice), c.ByteLength).MulRaw(int64(replicas) * int64(duration))
	return &types.MsgPlaceOrder{
		Owner: f.user(owner).String(), Cores: []types.Core{c}, Replicas: replicas,
		MaxPrice: math.NewInt(maxPrice), DurationEpochs: duration, Deposit: sdk.NewCoin(denom, need),
	}
}

// snapshot returns every key/value of the module store, to check that a
// refused message changed nothing.
func (f *fixture) snapshot() []byte {
	var buf bytes.Buffer
	it := f.ctx.KVStore(f.key).Iterator(nil, nil)
	defer it.Close()
	for ; it.Valid(); it.Next() {
		buf.Write(it.Key())
		buf.WriteByte(0xff)
		buf.Write(it.Value())
		buf.WriteByte(0xfe)
	}
	return buf.Bytes()
}

func (f *fixture) balances() map[string]string {
	out := map[string]string{"burned": f.led.burned.String()}
	for k, v := range f.led.bal {
		out[k] = v.String()
	}
	return out
}

// refused runs fn, requires it to fail with want, and requires that neither
// the store nor any balance changed.
func (f *fixture) refused(want error, fn func() error) {
	f.t.Helper()
	before, bal := f.snapshot(), f.balances()
	err := fn()
	require.Error(f.t, err)
	require.ErrorIs(f.t, err, want, "got %v", err)
	require.Equal(f.t, before, f.snapshot(), "store changed by a refused message (%v)", err)
	require.Equal(f.t, bal, f.balances(), "balances changed by a refused message (%v)", err)
}

func (f *fixture) order(id uint64) types.Order {
	o, err := f.k.Orders.Get(f.ctx, id)
	require.NoError(f.t, err)
	return o
}

func (f *fixture) hoster(a sdk.AccAddress) types.Hoster {
	h, err := f.k.Hosters.Get(f.ctx, a)
	require.NoError(f.t, err)
	return h
}

func (f *fixture) assignments(id uint64) []types.Assignment {
	res, err := f.q.AssignmentsByOrder(f.ctx, &types.QueryAssignmentsByOrderRequest{OrderId: id})
	require.NoError(f.t, err)
	out := make([]types.Assignment, len(res.Assignments))
	for i, v := range res.Assignments {
		out[i] = v.Assignment
	}
	return out
}

// hasEvent reports whether an event of the proto type name was emitted.
func (f *fixture) hasEvent(typ string) bool {
	for _, e := range f.ctx.EventManager().Events() {
		if e.Type == typ {
			return true
		}
	}
	return false
}

func (f *fixture) resetEvents() { f.ctx = f.ctx.WithEventManager(sdk.NewEventManager()) }

// eqInt compares amounts by value.
func eqInt(t testing.TB, want, got math.Int, msgAndArgs ...any) {
	t.Helper()
	require.Truef(t, want.Equal(got), "want %s, got %s %v", want, got, msgAndArgs)
}
