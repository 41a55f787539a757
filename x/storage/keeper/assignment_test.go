package keeper_test

import (
	"fmt"
	"testing"

	"github.com/stretchr/testify/require"

	"cosmossdk.io/math"

	sdk "github.com/cosmos/cosmos-sdk/types"

	"github.com/datdot/datdot/x/storage/types"
)

// holders returns the hosters of an order's slots.
func (f *fixture) holders(id uint64) []types.Hoster {
	var out []types.Hoster
	for _, a := range f.assignments(id) {
		addr, err := sdk.AccAddressFromBech32(a.Hoster)
		require.NoError(f.t, err)
		out = append(out, f.hoster(addr))
	}
	return out
}

func TestAssignmentSpreadsRegions(t *testing.T) {
	for _, mode := range []struct {
		name string
		scan uint32
	}{{"scan", 64}, {"sampling", 0}} {
		t.Run(mode.name, func(t *testing.T) {
			f := newFixture(t)
			f.setParams(func(p *types.Params) { p.ScanThreshold = mode.scan })
			// 12 hosters: 8 in eu, 2 in us, 2 in ap
			for i := 0; i < 12; i++ {
				region := "eu"
				if i >= 8 {
					region = []string{"us", "ap"}[i%2]
				}
				f.register(fmt.Sprintf("h%02d", i), region, 1<<40, 1)
			}
			c := newWriter("w").core(t, 1, 1000)
			for i := 0; i < 20; i++ {
				f.setHeight(f.height() + 1)
				res, err := f.msg.PlaceOrder(f.ctx, f.placeMsg("alice", c, 3, 1, 1))
				require.NoError(t, err)
				require.Equal(t, types.ORDER_STATUS_ASSIGNED, res.Status)
				regions := map[string]bool{}
				addrs := map[string]bool{}
				for _, h := range f.holders(res.OrderId) {
					regions[h.Region] = true
					addrs[h.Address] = true
				}
				require.Len(t, addrs, 3, "distinct hosters")
				require.Len(t, regions, 3, "order %d: three regions exist, so all three are used", res.OrderId)
			}
		})
	}
}

func TestAssignmentRespectsConstraints(t *testing.T) {
	for _, mode := range []struct {
		name string
		scan uint32
	}{{"scan", 64}, {"sampling", 0}} {
		t.Run(mode.name, func(t *testing.T) {
			f := newFixture(t)
			f.setParams(func(p *types.Params) { p.ScanThreshold = mode.scan; p.SampleAttempts = 256 })
			ok := map[string]bool{}
			for i := 0; i < 4; i++ {
				ok[f.register(fmt.Sprintf("good%d", i), fmt.Sprintf("r%d", i), 1<<40, 10).String()] = true
			}
			f.register("expensive", "r9", 1<<40, 11)
			f.register("small", "r8", 999, 1)
			jailed := f.register("jailed", "r7", 1<<40, 1)
			_, err := f.k.SlashHoster(f.ctx, jailed, math.LegacyNewDecWithPrec(5, 1))
			require.NoError(t, err)
			leaving := f.register("leaving", "r6", 1<<40, 1)
			_, err = f.msg.Leave(f.ctx, &types.MsgLeave{Hoster: leaving.String()})
			require.NoError(t, err)

			c := newWriter("w").core(t, 1, 1000)
			for i := 0; i < 15; i++ {
				f.setHeight(f.height() + 1)
				res, err := f.msg.PlaceOrder(f.ctx, f.placeMsg("alice", c, 3, 10, 1))
				require.NoError(t, err)
				require.Equal(t, types.ORDER_STATUS_ASSIGNED, res.Status)
				for _, h := range f.holders(res.OrderId) {
					require.True(t, ok[h.Address], "order %d went to ineligible hoster %s", res.OrderId, h.Address)
				}
			}
			// five replicas cannot be placed on four eligible hosters
			res, err := f.msg.PlaceOrder(f.ctx, f.placeMsg("alice", c, 5, 10, 1))
			require.NoError(t, err)
			require.Equal(t, types.ORDER_STATUS_PENDING, res.Status)
		})
	}
}

func TestAssignmentIsDeterministic(t *testing.T) {
	run := func(salt string) []string {
		f := newFixture(t)
		for i := 0; i < 30; i++ {
			f.register(fmt.Sprintf("h%02d", i), fmt.Sprintf("r%d", i%5), 1<<40, 1)
		}
		c := newWriter("w").core(t, 1, 1000)
		var out []string
		for i := 0; i < 5; i++ {
			f.setHeight(f.height() + 1)
			if salt != "" {
				// the seed is the previous block's hash, recorded by EndBlock
				require.NoError(t, f.k.SeedHash.Set(f.ctx, []byte(salt+fmt.Sprint(i))))
			}
			res, err := f.msg.PlaceOrder(f.ctx, f.placeMsg("alice", c, 3, 1, 1))
			require.NoError(t, err)
			for _, h := range f.holders(res.OrderId) {
				out = append(out, h.Address)
			}
		}
		return out
	}
	a, b := run(""), run("")
	require.Equal(t, a, b, "same state and block hashes give the same hosters")
	require.NotEqual(t, a, run("other"), "other block hashes give other hosters")
}

// The seed of a block's assignments is fixed before the block: the current
// block's own hash (which its proposer can vary, and which gas simulation
// does not know) does not change the draw, the previous block's does, and
// EndBlock records the block's hash for the next block. Before, the seed
// was the current block's hash.
func TestAssignmentSeedIsThePreviousBlockHash(t *testing.T) {
	draw := func(current, previous string) []string {
		f := newFixture(t)
		for i := 0; i < 30; i++ {
			f.register(fmt.Sprintf("h%02d", i), fmt.Sprintf("r%d", i%5), 1<<40, 1)
		}
		require.NoError(t, f.k.SeedHash.Set(f.ctx, []byte(previous)))
		hi := f.ctx.HeaderInfo()
		hi.Hash = []byte(current)
		f.ctx = f.ctx.WithHeaderInfo(hi).WithHeaderHash([]byte(current))
		res, err := f.msg.PlaceOrder(f.ctx, f.placeMsg("alice", newWriter("w").core(t, 1, 1000), 5, 1, 1))
		require.NoError(t, err)
		var out []string
		for _, h := range f.holders(res.OrderId) {
			out = append(out, h.Address)
		}
		return out
	}
	require.Equal(t, draw("proposer try 1", "prev"), draw("proposer try 2", "prev"), "the current block's hash does not matter")
	require.NotEqual(t, draw("x", "prev"), draw("x", "another prev"), "the previous block's hash does")

	f := newFixture(t)
	hi := f.ctx.HeaderInfo()
	hi.Hash = []byte("this block")
	f.ctx = f.ctx.WithHeaderInfo(hi)
	require.NoError(t, f.k.EndBlocker(f.ctx))
	got, err := f.k.SeedHash.Get(f.ctx)
	require.NoError(t, err)
	require.Equal(t, []byte("this block"), got, "EndBlock records the seed of the next block")
}

// Re-rolling an assignment (cancel before any commit, place again) costs
// the placement fee each time: it is burned and not refunded.
func TestReRollCostsThePlacementFee(t *testing.T) {
	f := newFixture(t)
	threeHosters(f)
	f.setParams(func(p *types.Params) { p.PlacementFeePerSlot = math.NewInt(7) })
	alice := f.user("alice")
	before := f.led.of(alice)
	burned := f.led.burned
	m := f.placeMsg("alice", newWriter("w").core(t, 1, 1000), 3, 1, 1)
	for i := 0; i < 2; i++ {
		res, err := f.msg.PlaceOrder(f.ctx, m)
		require.NoError(t, err)
		_, err = f.msg.CancelOrder(f.ctx, &types.MsgCancelOrder{Owner: alice.String(), OrderId: res.OrderId})
		require.NoError(t, err)
	}
	eqInt(t, before.SubRaw(2*3*7), f.led.of(alice))
	eqInt(t, burned.AddRaw(2*3*7), f.led.burned)
}

func TestAssignmentWeightsStake(t *testing.T) {
	for _, mode := range []struct {
		name string
		scan uint32
	}{{"scan", 64}, {"sampling", 0}} {
		t.Run(mode.name, func(t *testing.T) {
			f := newFixture(t)
			f.setParams(func(p *types.Params) { p.ScanThreshold = mode.scan })
			light := f.register("light", "r1", 1<<40, 1) // min stake: weight 1/4
			heavy := f.register("heavy", "r2", 1<<40, 1)
			_, err := f.msg.AddStake(f.ctx, &types.MsgAddStake{Hoster: heavy.String(), Amount: sdk.NewInt64Coin(denom, 3_000_000)})
			require.NoError(t, err)
			c := newWriter("w").core(t, 1, 1000)
			counts := map[string]int{}
			for i := 0; i < 200; i++ {
				f.setHeight(f.height() + 1)
				res, err := f.msg.PlaceOrder(f.ctx, f.placeMsg("alice", c, 1, 1, 1))
				require.NoError(t, err)
				counts[f.holders(res.OrderId)[0].Address]++
			}
			// expected 4:1; require a clear majority without being brittle
			require.Greater(t, counts[heavy.String()], 2*counts[light.String()], "counts %v", counts)
			require.Positive(t, counts[light.String()], "the light hoster is still chosen sometimes")
		})
	}
}

func TestActiveIndexStaysDense(t *testing.T) {
	f := newFixture(t)
	var hs []sdk.AccAddress
	for i := 0; i < 10; i++ {
		hs = append(hs, f.register(fmt.Sprintf("h%d", i), "r", 1<<30, 1))
	}
	for _, i := range []int{0, 4, 9, 5} {
		_, err := f.msg.Leave(f.ctx, &types.MsgLeave{Hoster: hs[i].String()})
		require.NoError(t, err)
	}
	_, err := f.k.SlashHoster(f.ctx, hs[2], math.LegacyOneDec()) // jailed
	require.NoError(t, err)
	n, err := f.k.ActiveCount.Get(f.ctx)
	require.NoError(t, err)
	require.Equal(t, uint64(5), n)
	seen := map[string]bool{}
	for i := uint64(0); i < n; i++ {
		addr, err := f.k.ActiveIndex.Get(f.ctx, i)
		require.NoError(t, err)
		h := f.hoster(addr)
		require.Equal(t, types.HOSTER_STATUS_ACTIVE, h.Status)
		require.Equal(t, i, h.ActiveIndex)
		seen[h.Address] = true
	}
	require.Len(t, seen, 5)
	has, err := f.k.ActiveIndex.Has(f.ctx, n)
	require.NoError(t, err)
	require.False(t, has)
	// the jailed hoster comes back when it adds stake
	_, err = f.msg.AddStake(f.ctx, &types.MsgAddStake{Hoster: hs[2].String(), Amount: sdk.NewInt64Coin(denom, 1_000_000)})
	require.NoError(t, err)
	require.Equal(t, types.HOSTER_STATUS_ACTIVE, f.hoster(hs[2]).Status)
	require.Equal(t, uint64(5), f.hoster(hs[2]).ActiveIndex)
}
