package types

import (
	"context"

	"cosmossdk.io/core/address"
	"cosmossdk.io/math"

	sdk "github.com/cosmos/cosmos-sdk/types"

	storagetypes "github.com/datdot/datdot/x/storage/types"
)

// AccountKeeper is what x/attest needs from x/auth.
type AccountKeeper interface {
	GetModuleAddress(name string) sdk.AccAddress
	AddressCodec() address.Codec
}

// BankKeeper is what x/attest needs from x/bank: paying the order owner's
// share of a slash and attestor fees out of the module account, and reading
// its balance (checked against the pool at genesis).
type BankKeeper interface {
	BlockedAddr(addr sdk.AccAddress) bool
	GetBalance(ctx context.Context, addr sdk.AccAddress, denom string) sdk.Coin
	SendCoinsFromModuleToAccount(ctx context.Context, senderModule string, recipientAddr sdk.AccAddress, amt sdk.Coins) error
}

// StorageKeeper is x/storage's keeper API for x/attest (x/storage's
// keeper/attest.go): bounded sampling of live assignments and active
// hosters, reading slots, and acting on outcomes.
type StorageKeeper interface {
	GetParams(ctx context.Context) (storagetypes.Params, error)
	NumAssignments(ctx context.Context) (uint64, error)
	AssignmentAt(ctx context.Context, i uint64) (storagetypes.Assignment, error)
	GetAssignment(ctx context.Context, orderID uint64, core, replica uint32) (storagetypes.Assignment, error)
	GetOrder(ctx context.Context, id uint64) (storagetypes.Order, error)
	GetHoster(ctx context.Context, addr sdk.AccAddress) (storagetypes.Hoster, error)
	NumActiveHosters(ctx context.Context) (uint64, error)
	ActiveHosterAt(ctx context.Context, i uint64) (sdk.AccAddress, error)
	ReportPass(ctx context.Context, orderID uint64, core, replica uint32) error
	ReportFault(ctx context.Context, orderID uint64, core, replica uint32, reason string) error
	SetAccruing(ctx context.Context, orderID uint64, core, replica uint32, accruing bool) error
	SlashHosterToModule(ctx context.Context, hoster sdk.AccAddress, fraction math.LegacyDec, toModule string) (math.Int, error)
	ReplaceAssignment(ctx context.Context, orderID uint64, core, replica uint32) (sdk.AccAddress, error)
	// SetPayFactor scales the hoster's pay from the current epoch on.
	SetPayFactor(ctx context.Context, hoster sdk.AccAddress, factor math.LegacyDec) error
}

// StakingKeeper tells which account proposed the block, so that a hoster is
// not challenged in a block it proposes.
type StakingKeeper interface {
	// ProposerAccount returns the account address of the operator of the
	// validator with consensus address cons, or nil if there is none.
	ProposerAccount(ctx context.Context, cons sdk.ConsAddress) (sdk.AccAddress, error)
}
