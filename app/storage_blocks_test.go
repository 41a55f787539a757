package app_test

import (
	"testing"

	"github.com/stretchr/testify/require"

	sdkmath "cosmossdk.io/math"

	storagetypes "github.com/datdot/datdot/x/storage/types"
)

// TestStorageEndBlockWork checks the module's per-block work as wired in the
// app: an order that finds too few hosters waits and is assigned by a later
// block once a hoster joins; an order that runs out its duration expires by
// itself, paying the hosters and refunding the owner; a hoster then leaves
// and gets its stake back when the unbonding period is over.
func TestStorageEndBlockWork(t *testing.T) {
	c := newStorageChain(t)
	alice := c.accounts["alice"]
	register := func(name, region string) *account {
		h := c.accounts[name]
		c.mustDeliver(h, &storagetypes.MsgRegisterHoster{
			Hoster: h.String(), Stake: udot(5_000_000), Capacity: 1 << 30,
			Endpoint: "http://127.0.0.1:9000", Region: region, PricePerGibEpoch: sdkmath.NewInt(1_000_000_000),
		})
		return h
	}
	register("hoster1", "eu-west")
	register("hoster2", "us-east")

	core := newCore(t, "pending core", make([]byte, 1<<16))
	const duration = 3
	perSlot := sdkmath.NewInt(1_000_000_000).MulRaw(int64(core.ByteLength)).AddRaw(gib - 1).QuoRaw(gib)
	deposit := udot(perSlot.MulRaw(3 * duration).Int64())
	res := c.mustDeliver(alice, &storagetypes.MsgPlaceOrder{
		Owner: alice.String(), Cores: []storagetypes.Core{core}, Replicas: 3,
		MaxPrice: sdkmath.NewInt(1_000_000_000), DurationEpochs: duration, Deposit: deposit,
	})
	_, pending := event(res, "datdot.storage.v1.EventOrderPending")
	require.True(t, pending, "3 replicas with 2 hosters must wait")
	require.Equal(t, storagetypes.ORDER_STATUS_PENDING, c.order(1).Order.Status)
	c.blocks(3)
	require.Equal(t, storagetypes.ORDER_STATUS_PENDING, c.order(1).Order.Status, "still only 2 hosters")

	h3 := register("hoster3", "ap-south")
	for range 20 {
		if c.order(1).Order.Status != storagetypes.ORDER_STATUS_PENDING {
			break
		}
		c.block()
	}
	o := c.order(1)
	require.Equal(t, storagetypes.ORDER_STATUS_ASSIGNED, o.Order.Status, "the retry in EndBlock did not assign the order")
	require.Len(t, o.Assignments, 3)

	for _, a := range o.Assignments {
		h := c.accounts[hosterNameOf(c, a.Assignment.Hoster)]
		c.mustDeliver(h, &storagetypes.MsgCommit{Hoster: h.String(), OrderId: 1, CoreIndex: 0, Length: core.Length})
	}
	require.Equal(t, storagetypes.ORDER_STATUS_ACTIVE, c.order(1).Order.Status)

	// Run past the end of the order: it expires in EndBlock.
	aliceBefore := c.balance(alice.addr)
	hosterBefore := c.balance(h3.addr)
	for range (duration + 3) * epochBlocks {
		if c.order(1).Order.Status == storagetypes.ORDER_STATUS_EXPIRED {
			break
		}
		c.block()
	}
	o = c.order(1)
	require.Equal(t, storagetypes.ORDER_STATUS_EXPIRED, o.Order.Status, "order did not expire (end epoch %d, now %d)", o.Order.EndEpoch, o.CurrentEpoch)
	refund := c.balance(alice.addr).Sub(aliceBefore)
	require.True(t, refund.IsPositive(), "nothing refunded on expiry")
	require.Equal(t, deposit.Amount, refund.Add(o.Order.Paid), "refund + paid must equal the deposit")
	require.True(t, c.balance(h3.addr).GT(hosterBefore), "hoster3 was not paid on expiry")
	require.Equal(t, sdkmath.NewInt(3*5_000_000), c.moduleBalance(), "only stake remains")

	// With no assignments left, a hoster leaves and withdraws after unbonding.
	c.mustDeliver(h3, &storagetypes.MsgLeave{Hoster: h3.String()})
	res = c.deliver(h3, &storagetypes.MsgWithdrawStake{Hoster: h3.String()})
	require.Equal(t, storagetypes.ErrUnbondingNotOver.ABCICode(), res.Code, res.Log)
	// EndBlock pays the stake back once the unbonding period is over.
	before := c.balance(h3.addr)
	c.blocks(12) // unbonding is 10 blocks in this chain
	require.Equal(t, sdkmath.NewInt(5_000_000), c.balance(h3.addr).Sub(before), "stake not returned after unbonding")
	require.Equal(t, sdkmath.NewInt(2*5_000_000), c.moduleBalance())
}
