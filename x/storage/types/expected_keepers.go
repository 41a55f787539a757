package types

import (
	"context"

	"cosmossdk.io/core/address"

	sdk "github.com/cosmos/cosmos-sdk/types"
)

// AccountKeeper is what x/storage needs from x/auth.
type AccountKeeper interface {
	GetModuleAddress(name string) sdk.AccAddress
	AddressCodec() address.Codec
}

// BankKeeper is what x/storage needs from x/bank: moving stake and escrow in
// and out of the module account, burning slashed stake, reading the module
// account's balance (checked against stake + escrow at genesis) and knowing
// which addresses may not receive coins (a slash recipient must).
type BankKeeper interface {
	BlockedAddr(addr sdk.AccAddress) bool
	GetBalance(ctx context.Context, addr sdk.AccAddress, denom string) sdk.Coin
	SendCoinsFromAccountToModule(ctx context.Context, senderAddr sdk.AccAddress, recipientModule string, amt sdk.Coins) error
	SendCoinsFromModuleToAccount(ctx context.Context, senderModule string, recipientAddr sdk.AccAddress, amt sdk.Coins) error
	SendCoinsFromModuleToModule(ctx context.Context, senderModule, recipientModule string, amt sdk.Coins) error
	BurnCoins(ctx context.Context, moduleName string, amt sdk.Coins) error
}
