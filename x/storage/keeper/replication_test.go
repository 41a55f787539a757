package keeper_test

import (
	"encoding/hex"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"cosmossdk.io/collections"
	"cosmossdk.io/math"

	sdk "github.com/cosmos/cosmos-sdk/types"
	"github.com/cosmos/cosmos-sdk/types/query"

	"github.com/datdot/datdot/x/storage/types"
)

// A hoster's replication address is registered, updated and validated;
// bad addresses are refused without a trace.
func TestHosterReplicationAddress(t *testing.T) {
	f := newFixture(t)
	a := f.user("h1")
	reg := func(addr string) *types.MsgRegisterHoster {
		return &types.MsgRegisterHoster{
			Hoster: a.String(), Stake: sdk.NewInt64Coin(denom, 1_000_000), Capacity: 1 << 30,
			Endpoint: "https://h1.example:8443", Region: "eu", PricePerGibEpoch: math.NewInt(1), ReplicationAddress: addr,
		}
	}
	for _, bad := range []string{"h1.example", "h1.example:0", "h1.example:65536", ":9000", "h1.example:x", "h1 example:9000",
		"h1.example:09000", "user@h1.example:9000", strings.Repeat("a", 300) + ":1"} {
		f.refused(types.ErrInvalidPeerAddress, func() error {
			_, err := f.msg.RegisterHoster(f.ctx, reg(bad))
			return err
		})
	}
	_, err := f.msg.RegisterHoster(f.ctx, reg("h1.example:9000"))
	require.NoError(t, err)
	require.Equal(t, "h1.example:9000", f.hoster(a).ReplicationAddress)

	f.refused(types.ErrInvalidPeerAddress, func() error {
		_, err := f.msg.UpdateHoster(f.ctx, &types.MsgUpdateHoster{Hoster: a.String(), ReplicationAddress: "nope"})
		return err
	})
	_, err = f.msg.UpdateHoster(f.ctx, &types.MsgUpdateHoster{Hoster: a.String(), ReplicationAddress: "[::1]:7000"})
	require.NoError(t, err)
	h := f.hoster(a)
	require.Equal(t, "[::1]:7000", h.ReplicationAddress)
	require.Equal(t, "https://h1.example:8443", h.Endpoint, "other fields unchanged")
	_, err = f.msg.UpdateHoster(f.ctx, &types.MsgUpdateHoster{Hoster: a.String(), Capacity: 2 << 30})
	require.NoError(t, err)
	require.Equal(t, "[::1]:7000", f.hoster(a).ReplicationAddress, "an update without the field keeps it")

	// A hoster registered without one has none (and the defaults still work).
	b := f.register("h2", "us", 1<<30, 1)
	require.Empty(t, f.hoster(b).ReplicationAddress)
}

// An order's peers are kept; bad peer lists are refused without a trace;
// CoreHolders finds the hosters of a core by its key (with their
// replication addresses) and the orders' peers, and forgets pruned orders.
func TestOrderPeersAndCoreHolders(t *testing.T) {
	f := newFixture(t)
	hs := threeHosters(f)
	_, err := f.msg.UpdateHoster(f.ctx, &types.MsgUpdateHoster{Hoster: hs[0].String(), ReplicationAddress: "127.0.0.1:4001"})
	require.NoError(t, err)
	f.setParams(func(p *types.Params) { p.RetentionBlocks = 5 })
	c := newWriter("w").core(t, 1, 1000)
	f.user("alice") // funded before the refusals compare balances

	tooMany := make([]string, types.MaxOrderPeers+1)
	for i := range tooMany {
		tooMany[i] = "p" + string(rune('a'+i)) + ".example:1"
	}
	for _, bad := range [][]string{{"nope"}, {"a.example:1", "a.example:1"}, tooMany, {"a.example:1", ""}} {
		f.refused(types.ErrInvalidPeerAddress, func() error {
			m := f.placeMsg("alice", c, 3, 100, 10)
			m.Peers = bad
			_, err := f.msg.PlaceOrder(f.ctx, m)
			return err
		})
	}
	m := f.placeMsg("alice", c, 3, 100, 10)
	m.Peers = []string{"writer.example:5000"}
	res, err := f.msg.PlaceOrder(f.ctx, m)
	require.NoError(t, err)
	require.Equal(t, []string{"writer.example:5000"}, f.order(res.OrderId).Peers)
	other, err := f.msg.PlaceOrder(f.ctx, f.placeMsg("alice", newWriter("other").core(t, 1, 1000), 3, 100, 10))
	require.NoError(t, err)

	key := hex.EncodeToString(c.Key)
	got, err := f.q.CoreHolders(f.ctx, &types.QueryCoreHoldersRequest{Key: key})
	require.NoError(t, err)
	require.Equal(t, []string{"writer.example:5000"}, got.Peers)
	require.Len(t, got.Holders, 3)
	seen := map[string]bool{}
	for _, h := range got.Holders {
		require.Equal(t, res.OrderId, h.OrderId)
		require.Equal(t, c.Length, h.Length)
		seen[h.Hoster] = true
		if h.Hoster == hs[0].String() {
			require.Equal(t, "127.0.0.1:4001", h.ReplicationAddress)
		} else {
			require.Empty(t, h.ReplicationAddress)
		}
		require.NotEmpty(t, h.Endpoint)
	}
	require.Len(t, seen, 3)

	// In a two-core order, only the slots of the asked core are listed.
	two := f.placeMsg("alice", newWriter("first").core(t, 1, 1000), 1, 100, 10)
	second := newWriter("second").core(t, 1, 1000)
	two.Cores = append(two.Cores, second)
	two.Deposit = two.Deposit.Add(two.Deposit)
	tres, err := f.msg.PlaceOrder(f.ctx, two)
	require.NoError(t, err)
	got2, err := f.q.CoreHolders(f.ctx, &types.QueryCoreHoldersRequest{Key: hex.EncodeToString(second.Key)})
	require.NoError(t, err)
	require.Len(t, got2.Holders, 1)
	require.Equal(t, tres.OrderId, got2.Holders[0].OrderId)
	require.Equal(t, uint32(1), got2.Holders[0].CoreIndex)

	for _, bad := range []string{"", "zz", key[:62]} {
		_, err := f.q.CoreHolders(f.ctx, &types.QueryCoreHoldersRequest{Key: bad})
		require.ErrorContains(t, err, "64 hex")
	}
	none, err := f.q.CoreHolders(f.ctx, &types.QueryCoreHoldersRequest{Key: strings.Repeat("ab", 32)})
	require.NoError(t, err)
	require.Empty(t, none.Holders)

	// Ended: no holders; pruned: out of the index.
	_, err = f.msg.CancelOrder(f.ctx, &types.MsgCancelOrder{Owner: f.user("alice").String(), OrderId: res.OrderId})
	require.NoError(t, err)
	got, err = f.q.CoreHolders(f.ctx, &types.QueryCoreHoldersRequest{Key: key})
	require.NoError(t, err)
	require.Empty(t, got.Holders)
	f.endBlocksTo(f.height() + 6)
	has, err := f.k.OrdersByCore.Has(f.ctx, collectionsJoin(c.Key, res.OrderId))
	require.NoError(t, err)
	require.False(t, has, "pruned order left in the core index")
	has, err = f.k.OrdersByCore.Has(f.ctx, collectionsJoin(newWriter("other").core(t, 1, 1000).Key, other.OrderId))
	require.NoError(t, err)
	require.True(t, has)
	checkInvariants(t, f)

	// Genesis round trip keeps peers, addresses and rebuilds the index.
	gs, err := f.k.ExportGenesis(f.ctx)
	require.NoError(t, err)
	require.NoError(t, gs.Validate())
	bad := *gs
	bad.Orders = append([]types.Order(nil), gs.Orders...)
	bad.Orders[0].Peers = []string{"not an address"}
	require.ErrorContains(t, bad.Validate(), "invalid replication address")
}

func collectionsJoin(k []byte, id uint64) collections.Pair[[]byte, uint64] {
	return collections.Join(k, id)
}

// OrdersByCore lists the orders naming a core key (any of their cores),
// live or ended, newest first with reverse pagination, one page at a
// time, and forgets pruned orders; bad keys are refused.
func TestOrdersByCore(t *testing.T) {
	f := newFixture(t)
	threeHosters(f)
	f.setParams(func(p *types.Params) { p.RetentionBlocks = 5 })
	c := newWriter("w").core(t, 1, 1000)
	first, err := f.msg.PlaceOrder(f.ctx, f.placeMsg("alice", c, 3, 100, 10))
	require.NoError(t, err)
	_, err = f.msg.PlaceOrder(f.ctx, f.placeMsg("alice", newWriter("other").core(t, 1, 1000), 3, 100, 10))
	require.NoError(t, err)
	// The same core ordered again (a writer that placed a second order).
	again, err := f.msg.PlaceOrder(f.ctx, f.placeMsg("bob", c, 3, 100, 10))
	require.NoError(t, err)
	// In a two-core order the second core finds it too.
	two := f.placeMsg("alice", newWriter("first").core(t, 1, 1000), 1, 100, 10)
	second := newWriter("second").core(t, 1, 1000)
	two.Cores = append(two.Cores, second)
	two.Deposit = two.Deposit.Add(two.Deposit)
	tres, err := f.msg.PlaceOrder(f.ctx, two)
	require.NoError(t, err)

	ids := func(os []types.Order) []uint64 {
		var out []uint64
		for _, o := range os {
			out = append(out, o.Id)
		}
		return out
	}
	key := hex.EncodeToString(c.Key)
	got, err := f.q.OrdersByCore(f.ctx, &types.QueryOrdersByCoreRequest{Key: key})
	require.NoError(t, err)
	require.Equal(t, []uint64{first.OrderId, again.OrderId}, ids(got.Orders))
	// Newest first, one per page.
	page, err := f.q.OrdersByCore(f.ctx, &types.QueryOrdersByCoreRequest{Key: key, Pagination: &query.PageRequest{Limit: 1, Reverse: true}})
	require.NoError(t, err)
	require.Equal(t, []uint64{again.OrderId}, ids(page.Orders))
	require.NotEmpty(t, page.Pagination.NextKey)
	page, err = f.q.OrdersByCore(f.ctx, &types.QueryOrdersByCoreRequest{Key: key, Pagination: &query.PageRequest{Limit: 1, Reverse: true, Key: page.Pagination.NextKey}})
	require.NoError(t, err)
	require.Equal(t, []uint64{first.OrderId}, ids(page.Orders))
	require.Empty(t, page.Pagination.NextKey)

	got, err = f.q.OrdersByCore(f.ctx, &types.QueryOrdersByCoreRequest{Key: hex.EncodeToString(second.Key)})
	require.NoError(t, err)
	require.Equal(t, []uint64{tres.OrderId}, ids(got.Orders))

	for _, bad := range []string{"", "zz", key[:62], key + "00"} {
		_, err := f.q.OrdersByCore(f.ctx, &types.QueryOrdersByCoreRequest{Key: bad})
		require.ErrorContains(t, err, "64 hex")
	}
	_, err = f.q.OrdersByCore(f.ctx, nil)
	require.Error(t, err)
	none, err := f.q.OrdersByCore(f.ctx, &types.QueryOrdersByCoreRequest{Key: strings.Repeat("ab", 32)})
	require.NoError(t, err)
	require.Empty(t, none.Orders)

	// Ended: still listed, as ended; pruned: gone.
	_, err = f.msg.CancelOrder(f.ctx, &types.MsgCancelOrder{Owner: f.user("alice").String(), OrderId: first.OrderId})
	require.NoError(t, err)
	got, err = f.q.OrdersByCore(f.ctx, &types.QueryOrdersByCoreRequest{Key: key})
	require.NoError(t, err)
	require.Equal(t, []uint64{first.OrderId, again.OrderId}, ids(got.Orders))
	require.True(t, got.Orders[0].IsEnded())
	require.False(t, got.Orders[1].IsEnded())
	f.endBlocksTo(f.height() + 6)
	got, err = f.q.OrdersByCore(f.ctx, &types.QueryOrdersByCoreRequest{Key: key})
	require.NoError(t, err)
	require.Equal(t, []uint64{again.OrderId}, ids(got.Orders))
	checkInvariants(t, f)
}
