package keeper_test

import (
	"fmt"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/cosmos/cosmos-sdk/types/query"

	"github.com/datdot/datdot/x/storage/types"
)

func TestQueriesPaginateAndRefuseBadInput(t *testing.T) {
	f := newFixture(t)
	for i := 0; i < 5; i++ {
		f.register(fmt.Sprintf("h%d", i), fmt.Sprintf("r%d", i), 1<<30, 1)
	}
	page1, err := f.q.Hosters(f.ctx, &types.QueryHostersRequest{Pagination: &query.PageRequest{Limit: 2, CountTotal: true}})
	require.NoError(t, err)
	require.Len(t, page1.Hosters, 2)
	require.Equal(t, uint64(5), page1.Pagination.Total)
	page2, err := f.q.Hosters(f.ctx, &types.QueryHostersRequest{Pagination: &query.PageRequest{Key: page1.Pagination.NextKey, Limit: 10}})
	require.NoError(t, err)
	require.Len(t, page2.Hosters, 3)
	require.NotEqual(t, page1.Hosters[0].Address, page2.Hosters[0].Address)

	c := newWriter("w").core(t, 1, 10)
	for i := 0; i < 3; i++ {
		_, err := f.msg.PlaceOrder(f.ctx, f.placeMsg("alice", c, 5, 1, 1))
		require.NoError(t, err)
	}
	byOwner, err := f.q.OrdersByOwner(f.ctx, &types.QueryOrdersByOwnerRequest{Owner: f.user("alice").String(), Pagination: &query.PageRequest{Limit: 2}})
	require.NoError(t, err)
	require.Len(t, byOwner.Orders, 2)
	require.Equal(t, uint64(1), byOwner.Orders[0].Id)
	require.NotNil(t, byOwner.Pagination.NextKey)
	none, err := f.q.OrdersByOwner(f.ctx, &types.QueryOrdersByOwnerRequest{Owner: f.user("bob").String()})
	require.NoError(t, err)
	require.Empty(t, none.Orders)

	byOrder, err := f.q.AssignmentsByOrder(f.ctx, &types.QueryAssignmentsByOrderRequest{OrderId: 2, Pagination: &query.PageRequest{Limit: 4}})
	require.NoError(t, err)
	require.Len(t, byOrder.Assignments, 4)
	for _, v := range byOrder.Assignments {
		require.Equal(t, uint64(2), v.Assignment.OrderId)
	}
	byHoster, err := f.q.AssignmentsByHoster(f.ctx, &types.QueryAssignmentsByHosterRequest{Hoster: f.user("h0").String()})
	require.NoError(t, err)
	require.Len(t, byHoster.Assignments, 3, "five replicas on five hosters: each holds one slot of each order")

	_, err = f.q.Order(f.ctx, &types.QueryOrderRequest{Id: 99})
	require.ErrorContains(t, err, "order not found")
	_, err = f.q.Hoster(f.ctx, &types.QueryHosterRequest{Address: "nope"})
	require.ErrorContains(t, err, "invalid address")
	_, err = f.q.Hoster(f.ctx, &types.QueryHosterRequest{Address: f.user("bob").String()})
	require.ErrorContains(t, err, "hoster not found")
	_, err = f.q.AssignmentsByOrder(f.ctx, &types.QueryAssignmentsByOrderRequest{OrderId: 99})
	require.ErrorContains(t, err, "order not found")
}

func TestClaimPaymentRefusals(t *testing.T) {
	f := newFixture(t)
	threeHosters(f)
	outsider := f.register("h4", "sa", 1<<30, 1000) // too expensive for the order
	res, err := f.msg.PlaceOrder(f.ctx, f.placeMsg("alice", newWriter("w").core(t, 1, 10), 3, 100, 5))
	require.NoError(t, err)
	f.refused(types.ErrNotAssigned, func() error {
		_, err := f.msg.ClaimPayment(f.ctx, &types.MsgClaimPayment{Hoster: outsider.String(), OrderId: res.OrderId})
		return err
	})
	f.refused(types.ErrOrderNotFound, func() error {
		_, err := f.msg.ClaimPayment(f.ctx, &types.MsgClaimPayment{Hoster: outsider.String(), OrderId: 7})
		return err
	})
	bob := f.user("bob")
	f.refused(types.ErrHosterNotFound, func() error {
		_, err := f.msg.ClaimPayment(f.ctx, &types.MsgClaimPayment{Hoster: bob.String()})
		return err
	})
}

func TestAssignmentWeightsFreeCapacity(t *testing.T) {
	f := newFixture(t)
	roomy := f.register("roomy", "r1", 1<<30, 1)     // >= 16 x the slot: full weight
	cramped := f.register("cramped", "r2", 2<<20, 1) // 2 x the slot: 1/8 weight
	c := newWriter("w").core(t, 1, 1<<20)
	counts := map[string]int{}
	for i := 0; i < 150; i++ {
		f.setHeight(f.height() + 1)
		res, err := f.msg.PlaceOrder(f.ctx, f.placeMsg("alice", c, 1, 1, 1))
		require.NoError(t, err)
		h := f.holders(res.OrderId)[0]
		counts[h.Address]++
		// release the slot so capacities stay as registered
		_, err = f.msg.CancelOrder(f.ctx, &types.MsgCancelOrder{Owner: f.user("alice").String(), OrderId: res.OrderId})
		require.NoError(t, err)
	}
	require.Greater(t, counts[roomy.String()], 4*counts[cramped.String()], "counts %v", counts)
	require.Positive(t, counts[cramped.String()])
}
