package keeper_test

import (
	"testing"

	"github.com/cosmos/gogoproto/proto"
	"github.com/stretchr/testify/require"

	abci "github.com/cometbft/cometbft/abci/types"

	sdk "github.com/cosmos/cosmos-sdk/types"

	"github.com/datdot/datdot/x/storage/types"
)

// typedEvents decodes every emitted event of type T.
func typedEvents[T proto.Message](t *testing.T, f *fixture) []T {
	t.Helper()
	var out []T
	for _, e := range f.ctx.EventManager().Events() {
		msg, err := sdk.ParseTypedEvent(abci.Event(e))
		if err != nil {
			continue // untyped event
		}
		if m, ok := msg.(T); ok {
			out = append(out, m)
		}
	}
	return out
}

// The order-ending and extending events name the requester whose coins
// moved, so an explorer can show refunds and top-ups without reading state.
func TestOrderEventsNameTheOwner(t *testing.T) {
	f := newFixture(t)
	threeHosters(f)
	alice := f.user("alice").String()
	w := newWriter("w")

	res, err := f.msg.PlaceOrder(f.ctx, f.placeMsg("alice", w.core(t, 1, 100), 3, 100, 5))
	require.NoError(t, err)
	f.resetEvents()
	_, err = f.msg.ExtendOrder(f.ctx, &types.MsgExtendOrder{Owner: alice, OrderId: res.OrderId, ExtraEpochs: 1,
		TopUp: sdk.NewInt64Coin(denom, 300)})
	require.NoError(t, err)
	ext := typedEvents[*types.EventOrderExtended](t, f)
	require.Len(t, ext, 1)
	require.Equal(t, alice, ext[0].Owner)
	require.Equal(t, "300", ext[0].TopUp)

	f.resetEvents()
	cres, err := f.msg.CancelOrder(f.ctx, &types.MsgCancelOrder{Owner: alice, OrderId: res.OrderId})
	require.NoError(t, err)
	can := typedEvents[*types.EventOrderCancelled](t, f)
	require.Len(t, can, 1)
	require.Equal(t, alice, can[0].Owner)
	require.Equal(t, cres.Refund.Amount.String(), can[0].Refund)

	res, err = f.msg.PlaceOrder(f.ctx, f.placeMsg("alice", newWriter("w2").core(t, 1, 100), 1, 100, 1))
	require.NoError(t, err)
	f.resetEvents()
	f.endBlocksTo(endHeightOf(f, f.order(res.OrderId)))
	exp := typedEvents[*types.EventOrderExpired](t, f)
	require.Len(t, exp, 1)
	require.Equal(t, alice, exp[0].Owner)
	require.Equal(t, res.OrderId, exp[0].OrderId)
}
