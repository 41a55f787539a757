package keeper

import (
	"context"

	errorsmod "cosmossdk.io/errors"

	"github.com/datdot/datdot/x/attest/types"
)

type msgServer struct{ k Keeper }

// NewMsgServerImpl returns the x/attest Msg service.
func NewMsgServerImpl(k Keeper) types.MsgServer { return msgServer{k: k} }

var _ types.MsgServer = msgServer{}

// SubmitProofs answers open challenges of the signer.
func (s msgServer) SubmitProofs(ctx context.Context, msg *types.MsgSubmitProofs) (*types.MsgSubmitProofsResponse, error) {
	return s.k.submitProofs(ctx, msg)
}

// SubmitAttestation records an attestor's report on a check.
func (s msgServer) SubmitAttestation(ctx context.Context, msg *types.MsgSubmitAttestation) (*types.MsgSubmitAttestationResponse, error) {
	if err := s.k.submitAttestation(ctx, msg); err != nil {
		return nil, err
	}
	return &types.MsgSubmitAttestationResponse{}, nil
}

// UpdateParams replaces the params (governance only).
func (s msgServer) UpdateParams(ctx context.Context, msg *types.MsgUpdateParams) (*types.MsgUpdateParamsResponse, error) {
	if msg.Authority != s.k.authority {
		return nil, errorsmod.Wrapf(types.ErrInvalidAuthority, "expected %s, got %s", s.k.authority, msg.Authority)
	}
	if err := msg.Params.Validate(); err != nil {
		return nil, errorsmod.Wrap(types.ErrInvalidParams, err.Error())
	}
	if err := s.k.Params.Set(ctx, msg.Params); err != nil {
		return nil, err
	}
	return &types.MsgUpdateParamsResponse{}, s.k.emit(ctx, &types.EventParamsUpdated{Authority: msg.Authority})
}
