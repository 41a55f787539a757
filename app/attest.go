package app

import (
	"context"

	sdk "github.com/cosmos/cosmos-sdk/types"
	stakingkeeper "github.com/cosmos/cosmos-sdk/x/staking/keeper"
)

// proposerAccounts gives x/attest the account of a block's proposer (the
// validator's operator), so that a hoster that is also a validator is not
// challenged in a block it proposes.
type proposerAccounts struct{ sk *stakingkeeper.Keeper }

// ProposerAccount returns the operator account of the validator with
// consensus address cons.
func (p proposerAccounts) ProposerAccount(ctx context.Context, cons sdk.ConsAddress) (sdk.AccAddress, error) {
	v, err := p.sk.GetValidatorByConsAddr(ctx, cons)
	if err != nil {
		return nil, err
	}
	op, err := p.sk.ValidatorAddressCodec().StringToBytes(v.GetOperator())
	if err != nil {
		return nil, err
	}
	return sdk.AccAddress(op), nil
}
