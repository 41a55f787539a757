package keeper_test

import (
	"testing"

	"github.com/stretchr/testify/require"

	"cosmossdk.io/math"

	sdk "github.com/cosmos/cosmos-sdk/types"

	"github.com/datdot/datdot/x/storage/types"
)

// FuzzPlaceOrder feeds arbitrary orders to the handler: it must never panic,
// a refused order must leave the store and all balances untouched, and an
// accepted one must be stored.
func FuzzPlaceOrder(f *testing.F) {
	fx := newFixture(f)
	threeHosters(fx)
	w := newWriter("fuzz")
	c := w.core(f, 10, 1000)
	owner := fx.user("alice").String()
	f.Add(c.Key, c.Manifest, c.TreeHash, c.Signature, c.Length, c.Fork, c.ByteLength, uint32(3), uint32(0), uint32(0), int64(100), uint64(10), int64(3000))
	f.Add(c.Key, []byte{}, c.TreeHash, c.Signature[2:66], c.Length, c.Fork, c.ByteLength, uint32(0), uint32(1), uint32(1), int64(1), uint64(1), int64(1))
	f.Add([]byte{}, []byte{1}, []byte{2}, []byte{}, uint64(0), uint64(0), uint64(0), uint32(0), uint32(0), uint32(0), int64(-1), uint64(0), int64(0))
	f.Fuzz(func(t *testing.T, key, manifest, treeHash, sig []byte, length, fork, byteLength uint64, replicas, k, n uint32, maxPrice int64, duration uint64, deposit int64) {
		fx.useT(t)
		if deposit < 0 {
			deposit = -deposit
		}
		msg := &types.MsgPlaceOrder{
			Owner:          owner,
			Cores:          []types.Core{{Key: key, Manifest: manifest, Length: length, Fork: fork, ByteLength: byteLength, TreeHash: treeHash, Signature: sig}},
			Replicas:       replicas,
			ErasureK:       k,
			ErasureN:       n,
			MaxPrice:       math.NewInt(maxPrice),
			DurationEpochs: duration,
			Deposit:        sdk.NewInt64Coin(denom, deposit),
		}
		before, bal := fx.snapshot(), fx.balances()
		next, err := fx.k.NextOrderID.Peek(fx.ctx)
		require.NoError(t, err)
		res, err := fx.msg.PlaceOrder(fx.ctx, msg)
		if err != nil {
			require.Equal(t, before, fx.snapshot(), "refused order changed the store: %v", err)
			require.Equal(t, bal, fx.balances(), "refused order moved coins: %v", err)
			return
		}
		require.Equal(t, next, res.OrderId)
		o := fx.order(res.OrderId)
		require.True(t, o.Escrow.Equal(math.NewInt(deposit)))
	})
}
