package types

import errorsmod "cosmossdk.io/errors"

// x/storage errors. Codes are part of the API: never renumber them.
var (
	ErrHosterExists         = errorsmod.Register(ModuleName, 2, "hoster already registered")
	ErrHosterNotFound       = errorsmod.Register(ModuleName, 3, "hoster not found")
	ErrInvalidStake         = errorsmod.Register(ModuleName, 4, "invalid stake")
	ErrInvalidEndpoint      = errorsmod.Register(ModuleName, 5, "invalid endpoint URL")
	ErrInvalidRegion        = errorsmod.Register(ModuleName, 6, "invalid region")
	ErrInvalidCapacity      = errorsmod.Register(ModuleName, 7, "invalid capacity")
	ErrInvalidPrice         = errorsmod.Register(ModuleName, 8, "invalid price")
	ErrHosterHasAssignments = errorsmod.Register(ModuleName, 9, "hoster still holds assignments")
	ErrHosterNotLeaving     = errorsmod.Register(ModuleName, 10, "hoster is not leaving")
	ErrUnbondingNotOver     = errorsmod.Register(ModuleName, 11, "unbonding period not over")
	ErrInvalidCore          = errorsmod.Register(ModuleName, 12, "invalid core")
	ErrBadSignature         = errorsmod.Register(ModuleName, 13, "core signature does not verify")
	ErrInvalidShape         = errorsmod.Register(ModuleName, 14, "invalid order shape")
	ErrInvalidDuration      = errorsmod.Register(ModuleName, 15, "invalid duration")
	ErrDepositTooLow        = errorsmod.Register(ModuleName, 16, "deposit below the price for the duration")
	ErrOrderNotFound        = errorsmod.Register(ModuleName, 17, "order not found")
	ErrNotOrderOwner        = errorsmod.Register(ModuleName, 18, "signer is not the order owner")
	ErrOrderEnded           = errorsmod.Register(ModuleName, 19, "order has ended")
	ErrNotAssigned          = errorsmod.Register(ModuleName, 20, "hoster is not assigned to this slot")
	ErrLengthMismatch       = errorsmod.Register(ModuleName, 21, "committed length differs from the order's current length")
	ErrNoHosters            = errorsmod.Register(ModuleName, 22, "not enough eligible hosters")
	ErrInvalidParams        = errorsmod.Register(ModuleName, 23, "invalid params")
	ErrInvalidAuthority     = errorsmod.Register(ModuleName, 24, "signer is not the governance authority")
	ErrInvalidDenom         = errorsmod.Register(ModuleName, 25, "wrong denom")
	ErrAssignmentNotFound   = errorsmod.Register(ModuleName, 26, "assignment not found")
	ErrInvalidGenesis       = errorsmod.Register(ModuleName, 27, "invalid genesis state")
	ErrHosterNotActive      = errorsmod.Register(ModuleName, 28, "hoster is not active")
	ErrInvalidFraction      = errorsmod.Register(ModuleName, 29, "invalid slash fraction")
	ErrInvalidAddress       = errorsmod.Register(ModuleName, 30, "invalid address")
	ErrOrderNotAssigned     = errorsmod.Register(ModuleName, 31, "order is not assigned yet")
	ErrNothingToUpdate      = errorsmod.Register(ModuleName, 32, "nothing to update")
	ErrNothingToExtend      = errorsmod.Register(ModuleName, 33, "nothing to extend")
	ErrOrderPruned          = errorsmod.Register(ModuleName, 34, "order ended and was pruned")
	// ErrInvalidPeerAddress: a replication address (a hoster's, or an
	// order's peer) that is not host:port.
	ErrInvalidPeerAddress = errorsmod.Register(ModuleName, 40, "invalid replication address")
	ErrInvalidPayFactor   = errorsmod.Register(ModuleName, 35, "invalid pay factor")
)
