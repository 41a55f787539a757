package keeper_test

import (
	"testing"

	"github.com/stretchr/testify/require"

	"cosmossdk.io/collections"

	sdk "github.com/cosmos/cosmos-sdk/types"

	"github.com/datdot/datdot/x/storage/types"
)

// An EndBlock error halts the chain. Queue entries whose record is missing
// (impossible with consistent state, but a bug elsewhere must not stop
// every validator) are dropped and the rest of the queue is still served.
func TestEndBlockDropsStaleQueueEntries(t *testing.T) {
	f := newFixture(t)
	threeHosters(f)
	res, err := f.msg.PlaceOrder(f.ctx, f.placeMsg("alice", newWriter("w").core(t, 1, 100), 3, 100, 1))
	require.NoError(t, err)
	o := f.order(res.OrderId)
	ghost := sdk.AccAddress(make([]byte, 20))
	now := f.height()
	require.NoError(t, f.k.ExpiryQueue.Set(f.ctx, collections.Join(now+1, uint64(999))))
	require.NoError(t, f.k.PendingQueue.Set(f.ctx, collections.Join3(uint32(0), now+1, uint64(998))))
	require.NoError(t, f.k.UnbondingQueue.Set(f.ctx, collections.Join(now+1, ghost)))

	f.endBlocksTo(now + 1) // fails the test if EndBlocker returns an error
	has, err := f.k.ExpiryQueue.Has(f.ctx, collections.Join(now+1, uint64(999)))
	require.NoError(t, err)
	require.False(t, has, "stale expiry entry dropped")
	has, err = f.k.PendingQueue.Has(f.ctx, collections.Join3(uint32(0), now+1, uint64(998)))
	require.NoError(t, err)
	require.False(t, has, "stale pending entry dropped")
	has, err = f.k.UnbondingQueue.Has(f.ctx, collections.Join(now+1, ghost))
	require.NoError(t, err)
	require.False(t, has, "stale unbonding entry dropped")

	// the real order still expires on time
	f.endBlocksTo(endHeightOf(f, o))
	require.Equal(t, types.ORDER_STATUS_EXPIRED, f.order(res.OrderId).Status)
}

// A pending retry that fails half way (here: the active index names a
// hoster whose record is gone) leaves no partial assignment, keeps the
// order pending and does not halt the chain.
func TestEndBlockPendingRetryFailureIsContained(t *testing.T) {
	f := newFixture(t)
	f.register("h1", "r1", 1<<30, 1)
	f.register("h2", "r2", 1<<30, 1)
	res, err := f.msg.PlaceOrder(f.ctx, f.placeMsg("alice", newWriter("w").core(t, 1, 100), 3, 1, 100))
	require.NoError(t, err)
	require.Equal(t, types.ORDER_STATUS_PENDING, res.Status)
	h3 := f.register("h3", "r3", 1<<30, 1)
	require.NoError(t, f.k.Hosters.Remove(f.ctx, h3)) // corrupt: index entry without record
	attempts := f.order(res.OrderId).AssignAttempts

	f.endBlocksTo(f.height() + 1)
	o := f.order(res.OrderId)
	require.Equal(t, types.ORDER_STATUS_PENDING, o.Status)
	require.Equal(t, attempts+1, o.AssignAttempts)
	require.Equal(t, f.height()+2, o.RetryHeight, "second failed attempt: retried after 2 blocks")
	has, err := f.k.PendingQueue.Has(f.ctx, collections.Join3(uint32(2), o.RetryHeight, o.Id)) // 3 slots: size class 2
	require.NoError(t, err)
	require.True(t, has, "order re-queued")
	require.Empty(t, f.assignments(res.OrderId))
	require.Zero(t, f.hoster(f.user("h1")).Used, "no slot reserved by the failed attempt")
	require.Zero(t, f.hoster(f.user("h2")).Used, "no slot reserved by the failed attempt")
}

func endHeightOf(f *fixture, o types.Order) int64 {
	return int64(o.EndEpoch * f.params().EpochBlocks)
}
