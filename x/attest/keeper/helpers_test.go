package keeper_test

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/sha256"
	"errors"
	"fmt"
	"testing"

	"github.com/golang/mock/gomock"
	"github.com/stretchr/testify/require"

	"cosmossdk.io/core/header"
	"cosmossdk.io/log/v2"
	"cosmossdk.io/math"

	cmtproto "github.com/cometbft/cometbft/proto/tendermint/types"

	addresscodec "github.com/cosmos/cosmos-sdk/codec/address"
	"github.com/cosmos/cosmos-sdk/runtime"
	storetypes "github.com/cosmos/cosmos-sdk/store/v2/types"
	sdktestutil "github.com/cosmos/cosmos-sdk/testutil"
	sdk "github.com/cosmos/cosmos-sdk/types"
	moduletestutil "github.com/cosmos/cosmos-sdk/types/module/testutil"
	authtypes "github.com/cosmos/cosmos-sdk/x/auth/types"
	govtypes "github.com/cosmos/cosmos-sdk/x/gov/types"

	"github.com/datdot/datdot/hypercore"
	"github.com/datdot/datdot/x/attest"
	"github.com/datdot/datdot/x/attest/keeper"
	"github.com/datdot/datdot/x/attest/testutil"
	"github.com/datdot/datdot/x/attest/types"
	storagetypes "github.com/datdot/datdot/x/storage/types"
)

const denom = "stake"

// fakeStorage is the x/storage state behind the gomock StorageKeeper: slots,
// orders and hosters' stake, and what x/attest reported, so that tests can
// check every call's effect.
type fakeStorage struct {
	orders   map[uint64]storagetypes.Order
	slots    []storagetypes.Assignment // the dense assignment index
	active   []sdk.AccAddress
	stake    map[string]math.Int
	passes   map[string]int // by slot
	faults   map[string]int
	replaced []string
	noHoster bool // ReplaceAssignment finds nobody
	next     sdk.AccAddress
	index    map[[3]uint64]int // optional slot index (benchmarks)
	// payFactors holds the factors x/attest set, by hoster, in call order.
	payFactors map[string][]math.LegacyDec
}

func slotID(o uint64, c, r uint32) string { return fmt.Sprintf("%d/%d/%d", o, c, r) }

func (s *fakeStorage) find(o uint64, c, r uint32) (int, bool) {
	if s.index != nil { // benchmarks: O(1) like the real keeper
		i, ok := s.index[[3]uint64{o, uint64(c), uint64(r)}]
		return i, ok
	}
	for i, a := range s.slots {
		if a.OrderId == o && a.CoreIndex == c && a.Replica == r {
			return i, true
		}
	}
	return 0, false
}

type fixture struct {
	t       testing.TB
	ctx     sdk.Context
	k       keeper.Keeper
	msg     types.MsgServer
	q       types.QueryServer
	st      *fakeStorage
	bal     map[string]math.Int // bank balances by address bytes, module account included
	modAddr sdk.AccAddress
	gov     string
	prop    sdk.AccAddress // the block proposer's account (nil: none)
	cores   map[string]*hypercore.Core
	rep     *reporter
}

type reporter struct{ tb testing.TB }

func (r *reporter) Errorf(format string, args ...any) { r.tb.Errorf(format, args...) }
func (r *reporter) Fatalf(format string, args ...any) { r.tb.Fatalf(format, args...) }

func (f *fixture) useT(t testing.TB) { f.t, f.rep.tb = t, t }

func addr(name string) sdk.AccAddress {
	h := sha256.Sum256([]byte(name))
	return sdk.AccAddress(h[:20])
}

func (f *fixture) get(a sdk.AccAddress) math.Int {
	if v, ok := f.bal[string(a)]; ok {
		return v
	}
	return math.ZeroInt()
}

func newFixture(t testing.TB) *fixture {
	t.Helper()
	key := storetypes.NewKVStoreKey(types.StoreKey)
	tctx := sdktestutil.DefaultContextWithDB(t, key, storetypes.NewTransientStoreKey("transient_test"))
	enc := moduletestutil.MakeTestEncodingConfig(attest.AppModule{})
	rep := &reporter{tb: t}
	ctrl := gomock.NewController(rep)
	ak := testutil.NewMockAccountKeeper(ctrl)
	bk := testutil.NewMockBankKeeper(ctrl)
	sk := testutil.NewMockStorageKeeper(ctrl)
	stk := testutil.NewMockStakingKeeper(ctrl)
	f := &fixture{
		t: t, rep: rep, bal: map[string]math.Int{}, cores: map[string]*hypercore.Core{},
		modAddr: authtypes.NewModuleAddress(types.ModuleName),
		st: &fakeStorage{
			orders: map[uint64]storagetypes.Order{}, stake: map[string]math.Int{},
			passes: map[string]int{}, faults: map[string]int{}, next: addr("replacement"),
			payFactors: map[string][]math.LegacyDec{},
		},
	}
	codec := addresscodec.NewBech32Codec("cosmos")
	ak.EXPECT().AddressCodec().Return(codec).AnyTimes()
	ak.EXPECT().GetModuleAddress(types.ModuleName).Return(f.modAddr).AnyTimes()
	bk.EXPECT().BlockedAddr(gomock.Any()).DoAndReturn(func(a sdk.AccAddress) bool { return a.Equals(f.modAddr) }).AnyTimes()
	bk.EXPECT().GetBalance(gomock.Any(), gomock.Any(), gomock.Any()).DoAndReturn(
		func(_ context.Context, a sdk.AccAddress, d string) sdk.Coin { return sdk.NewCoin(d, f.get(a)) }).AnyTimes()
	bk.EXPECT().SendCoinsFromModuleToAccount(gomock.Any(), types.ModuleName, gomock.Any(), gomock.Any()).DoAndReturn(
		func(_ context.Context, _ string, to sdk.AccAddress, amt sdk.Coins) error {
			a := amt.AmountOf(denom)
			if f.get(f.modAddr).LT(a) {
				return errors.New("insufficient funds in the attest module account")
			}
			f.bal[string(f.modAddr)] = f.get(f.modAddr).Sub(a)
			f.bal[string(to)] = f.get(to).Add(a)
			return nil
		}).AnyTimes()
	stk.EXPECT().ProposerAccount(gomock.Any(), gomock.Any()).DoAndReturn(
		func(_ context.Context, _ sdk.ConsAddress) (sdk.AccAddress, error) {
			if f.prop == nil {
				return nil, errors.New("no such validator")
			}
			return f.prop, nil
		}).AnyTimes()

	st := f.st
	sk.EXPECT().GetParams(gomock.Any()).Return(storagetypes.Params{Denom: denom}, nil).AnyTimes()
	sk.EXPECT().NumAssignments(gomock.Any()).DoAndReturn(func(context.Context) (uint64, error) { return uint64(len(st.slots)), nil }).AnyTimes()
	sk.EXPECT().AssignmentAt(gomock.Any(), gomock.Any()).DoAndReturn(func(_ context.Context, i uint64) (storagetypes.Assignment, error) {
		if i >= uint64(len(st.slots)) {
			return storagetypes.Assignment{}, storagetypes.ErrAssignmentNotFound
		}
		return st.slots[i], nil
	}).AnyTimes()
	sk.EXPECT().GetAssignment(gomock.Any(), gomock.Any(), gomock.Any(), gomock.Any()).DoAndReturn(
		func(_ context.Context, o uint64, c, r uint32) (storagetypes.Assignment, error) {
			i, ok := st.find(o, c, r)
			if !ok {
				return storagetypes.Assignment{}, storagetypes.ErrAssignmentNotFound
			}
			return st.slots[i], nil
		}).AnyTimes()
	sk.EXPECT().GetOrder(gomock.Any(), gomock.Any()).DoAndReturn(func(_ context.Context, id uint64) (storagetypes.Order, error) {
		o, ok := st.orders[id]
		if !ok {
			return o, storagetypes.ErrOrderNotFound
		}
		return o, nil
	}).AnyTimes()
	sk.EXPECT().GetHoster(gomock.Any(), gomock.Any()).DoAndReturn(func(_ context.Context, a sdk.AccAddress) (storagetypes.Hoster, error) {
		return storagetypes.Hoster{Address: a.String(), Endpoint: "http://" + a.String()[:12] + ".example", Stake: st.stake[a.String()]}, nil
	}).AnyTimes()
	sk.EXPECT().NumActiveHosters(gomock.Any()).DoAndReturn(func(context.Context) (uint64, error) { return uint64(len(st.active)), nil }).AnyTimes()
	sk.EXPECT().ActiveHosterAt(gomock.Any(), gomock.Any()).DoAndReturn(func(_ context.Context, i uint64) (sdk.AccAddress, error) {
		return st.active[i], nil
	}).AnyTimes()
	sk.EXPECT().ReportPass(gomock.Any(), gomock.Any(), gomock.Any(), gomock.Any()).DoAndReturn(
		func(_ context.Context, o uint64, c, r uint32) error {
			i, ok := st.find(o, c, r)
			if !ok {
				return storagetypes.ErrAssignmentNotFound
			}
			st.slots[i].Passes++
			st.passes[slotID(o, c, r)]++
			return nil
		}).AnyTimes()
	sk.EXPECT().ReportFault(gomock.Any(), gomock.Any(), gomock.Any(), gomock.Any(), gomock.Any()).DoAndReturn(
		func(_ context.Context, o uint64, c, r uint32, _ string) error {
			i, ok := st.find(o, c, r)
			if !ok {
				return storagetypes.ErrAssignmentNotFound
			}
			st.slots[i].Faults++
			st.faults[slotID(o, c, r)]++
			return nil
		}).AnyTimes()
	sk.EXPECT().SetAccruing(gomock.Any(), gomock.Any(), gomock.Any(), gomock.Any(), gomock.Any()).DoAndReturn(
		func(_ context.Context, o uint64, c, r uint32, accruing bool) error {
			i, ok := st.find(o, c, r)
			if !ok {
				return storagetypes.ErrAssignmentNotFound
			}
			st.slots[i].Suspended = !accruing
			return nil
		}).AnyTimes()
	sk.EXPECT().SlashHosterToModule(gomock.Any(), gomock.Any(), gomock.Any(), types.ModuleName).DoAndReturn(
		func(_ context.Context, h sdk.AccAddress, frac math.LegacyDec, _ string) (math.Int, error) {
			amt := frac.MulInt(st.stake[h.String()]).TruncateInt()
			st.stake[h.String()] = st.stake[h.String()].Sub(amt)
			f.bal[string(f.modAddr)] = f.get(f.modAddr).Add(amt)
			return amt, nil
		}).AnyTimes()
	sk.EXPECT().ReplaceAssignment(gomock.Any(), gomock.Any(), gomock.Any(), gomock.Any()).DoAndReturn(
		func(_ context.Context, o uint64, c, r uint32) (sdk.AccAddress, error) {
			if st.noHoster {
				return nil, storagetypes.ErrNoHosters
			}
			i, ok := st.find(o, c, r)
			if !ok {
				return nil, storagetypes.ErrAssignmentNotFound
			}
			st.replaced = append(st.replaced, slotID(o, c, r))
			st.slots[i] = storagetypes.Assignment{OrderId: o, CoreIndex: c, Replica: r, Hoster: st.next.String(), Index: uint64(i)}
			return st.next, nil
		}).AnyTimes()

	sk.EXPECT().SetPayFactor(gomock.Any(), gomock.Any(), gomock.Any()).DoAndReturn(
		func(_ context.Context, h sdk.AccAddress, factor math.LegacyDec) error {
			st.payFactors[h.String()] = append(st.payFactors[h.String()], factor)
			return nil
		}).AnyTimes()

	f.gov = authtypes.NewModuleAddress(govtypes.ModuleName).String()
	f.k = keeper.NewKeeper(enc.Codec, runtime.NewKVStoreService(key), log.NewNopLogger(), f.gov, ak, bk, sk, stk)
	f.msg = keeper.NewMsgServerImpl(f.k)
	f.q = keeper.NewQueryServerImpl(f.k)
	f.ctx = tctx.Ctx.WithBlockHeight(1).WithChainID("attest-test").
		WithHeaderInfo(header.Info{Height: 1, Hash: blockHash(1)}).
		WithBlockHeader(cmtproto.Header{Height: 1, ProposerAddress: []byte("validator-cons-addr-")})
	require.NoError(t, f.k.InitGenesis(f.ctx, types.DefaultGenesis()))
	return f
}

func blockHash(h int64) []byte {
	s := sha256.Sum256([]byte(fmt.Sprintf("block %d", h)))
	return s[:]
}

// setHeight moves the context to height h (with its block hash).
func (f *fixture) setHeight(h int64) {
	f.ctx = f.ctx.WithBlockHeight(h).WithHeaderInfo(header.Info{Height: h, Hash: blockHash(h)}).
		WithEventManager(sdk.NewEventManager())
}

// endBlocks runs EndBlocker from the current height up to and including h.
func (f *fixture) endBlocksTo(h int64) {
	f.t.Helper()
	for cur := f.ctx.BlockHeight(); cur <= h; cur++ {
		f.setHeight(cur)
		require.NoError(f.t, f.k.EndBlocker(f.ctx))
	}
}

func (f *fixture) setParams(mut func(*types.Params)) {
	f.t.Helper()
	p, err := f.k.Params.Get(f.ctx)
	require.NoError(f.t, err)
	mut(&p)
	require.NoError(f.t, p.Validate())
	require.NoError(f.t, f.k.Params.Set(f.ctx, p))
}

// newCore writes a real core of n blocks of size bytes and returns it.
func (f *fixture) newCore(name string, n, size int) (*hypercore.Core, storagetypes.Core) {
	f.t.Helper()
	ctx := context.Background()
	s := sha256.Sum256([]byte(name))
	c, err := hypercore.Create(ctx, hypercore.NewMemStorage(), ed25519.NewKeyFromSeed(s[:]), false)
	require.NoError(f.t, err)
	blocks := make([][]byte, n)
	for i := range blocks {
		blocks[i] = bytes.Repeat([]byte{byte(i), byte(i >> 8)}, size/2)
	}
	_, err = c.Append(ctx, blocks...)
	require.NoError(f.t, err)
	info := c.Info()
	f.cores[name] = c
	return c, storagetypes.Core{
		Key: info.Key[:], Manifest: info.Manifest, Length: info.Length, ByteLength: info.ByteLength,
		TreeHash: info.TreeHash[:], Signature: info.Signature,
	}
}

// addOrder adds an order with one core held by hosters (one replica each),
// all committed at the core's length, each hoster with stake.
func (f *fixture) addOrder(id uint64, owner sdk.AccAddress, core storagetypes.Core, hosters ...sdk.AccAddress) {
	f.st.orders[id] = storagetypes.Order{
		Id: id, Owner: owner.String(), Cores: []storagetypes.Core{core}, Replicas: uint32(len(hosters)),
		Status: storagetypes.ORDER_STATUS_ACTIVE,
	}
	for r, h := range hosters {
		f.st.slots = append(f.st.slots, storagetypes.Assignment{
			OrderId: id, CoreIndex: 0, Replica: uint32(r), Hoster: h.String(),
			CommittedLength: core.Length, Index: uint64(len(f.st.slots)),
		})
		if _, ok := f.st.stake[h.String()]; !ok {
			f.st.stake[h.String()] = math.NewInt(1_000_000)
		}
	}
}

// prove makes the answer to challenge c from core.
func prove(t testing.TB, core *hypercore.Core, c types.Challenge) [][]byte {
	t.Helper()
	out := make([][]byte, len(c.Indices))
	for i, idx := range c.Indices {
		p, err := core.BlockProofAt(context.Background(), idx, c.Length)
		require.NoError(t, err)
		out[i] = p.Encode()
	}
	return out
}

// openChallenges lists the open challenges.
func (f *fixture) openChallenges() []types.Challenge {
	f.t.Helper()
	var out []types.Challenge
	require.NoError(f.t, f.k.Challenges.Walk(f.ctx, nil, func(_ uint64, c types.Challenge) (bool, error) {
		out = append(out, c)
		return false, nil
	}))
	return out
}

// events returns the typed events of the given type emitted so far on ctx.
func (f *fixture) events(typ string) []sdk.Event {
	var out []sdk.Event
	for _, e := range f.ctx.EventManager().Events() {
		if e.Type == typ {
			out = append(out, e)
		}
	}
	return out
}

// snapshot is the exported state, to compare before and after a refused
// message.
func (f *fixture) snapshot() *types.GenesisState {
	f.t.Helper()
	gs, err := f.k.ExportGenesis(f.ctx)
	require.NoError(f.t, err)
	return gs
}
