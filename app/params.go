package app

import (
	sdk "github.com/cosmos/cosmos-sdk/types"
)

// Chain-wide naming. Every address on the chain starts with "datdot"; the
// staking, fee and payment token is the micro-unit "udot" (1 DOT = 10^6 udot).
const (
	// Name is the application name reported over ABCI.
	Name = "datdotchaind"

	// Bech32Prefix is the human readable part of account addresses.
	Bech32Prefix = "datdot"

	// BondDenom is the one denomination the chain uses for stake, fees,
	// deposits and escrow.
	BondDenom = "udot"

	// DisplayDenom is the whole-token name shown to people.
	DisplayDenom = "dot"
)

// Derived bech32 prefixes, following the SDK's naming scheme.
const (
	Bech32PrefixAccPub   = Bech32Prefix + sdk.PrefixPublic
	Bech32PrefixValAddr  = Bech32Prefix + sdk.PrefixValidator + sdk.PrefixOperator
	Bech32PrefixValPub   = Bech32Prefix + sdk.PrefixValidator + sdk.PrefixOperator + sdk.PrefixPublic
	Bech32PrefixConsAddr = Bech32Prefix + sdk.PrefixValidator + sdk.PrefixConsensus
	Bech32PrefixConsPub  = Bech32Prefix + sdk.PrefixValidator + sdk.PrefixConsensus + sdk.PrefixPublic
)

// SetAddressPrefixes writes the DatDot bech32 prefixes into the SDK's
// process-wide address configuration and seals it. The SDK still formats
// sdk.AccAddress values through that global, so the binary and every test
// that builds the app call this once, explicitly, before anything else. It
// is safe to call more than once.
func SetAddressPrefixes() {
	cfg := sdk.GetConfig()
	if cfg.GetBech32AccountAddrPrefix() == Bech32Prefix {
		return
	}
	cfg.SetBech32PrefixForAccount(Bech32Prefix, Bech32PrefixAccPub)
	cfg.SetBech32PrefixForValidator(Bech32PrefixValAddr, Bech32PrefixValPub)
	cfg.SetBech32PrefixForConsensusNode(Bech32PrefixConsAddr, Bech32PrefixConsPub)
	cfg.Seal()
}
