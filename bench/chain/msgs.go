package main

import (
	"fmt"

	sdkmath "cosmossdk.io/math"

	sdk "github.com/cosmos/cosmos-sdk/types"
	banktypes "github.com/cosmos/cosmos-sdk/x/bank/types"

	"github.com/datdot/datdot/app"
)

// builderFor returns the message builder for kind and how much udot each
// transaction of that kind spends besides fees.
func builderFor(kind string) (msgBuilder, sdkmath.Int, error) {
	switch kind {
	case "bank":
		// Each account sends 1udot to itself: the cheapest real transfer.
		return func(from *signer, _ int) (sdk.Msg, uint64, error) {
			return banktypes.NewMsgSend(from.addr, from.addr, sdk.NewCoins(sdk.NewCoin(app.BondDenom, sdkmath.OneInt()))), 120_000, nil
		}, sdkmath.NewInt(1_000), nil
	default:
		return nil, sdkmath.Int{}, fmt.Errorf("unknown -msg %q (want bank or place-order)", kind)
	}
}
