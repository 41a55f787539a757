package keeper

import (
	"context"

	errorsmod "cosmossdk.io/errors"

	"github.com/datdot/datdot/x/storage/types"
)

type msgServer struct{ k Keeper }

var _ types.MsgServer = msgServer{}

// NewMsgServerImpl returns the x/storage Msg service. Every handler checks
// all of its input before it writes anything, so a refused message changes
// no state even outside a transaction's cached context.
func NewMsgServerImpl(k Keeper) types.MsgServer { return msgServer{k: k} }

func (s msgServer) RegisterHoster(ctx context.Context, msg *types.MsgRegisterHoster) (*types.MsgRegisterHosterResponse, error) {
	if err := s.k.registerHoster(ctx, msg); err != nil {
		return nil, err
	}
	return &types.MsgRegisterHosterResponse{}, nil
}

func (s msgServer) UpdateHoster(ctx context.Context, msg *types.MsgUpdateHoster) (*types.MsgUpdateHosterResponse, error) {
	if err := s.k.updateHoster(ctx, msg); err != nil {
		return nil, err
	}
	return &types.MsgUpdateHosterResponse{}, nil
}

func (s msgServer) AddStake(ctx context.Context, msg *types.MsgAddStake) (*types.MsgAddStakeResponse, error) {
	if err := s.k.addStake(ctx, msg); err != nil {
		return nil, err
	}
	return &types.MsgAddStakeResponse{}, nil
}

func (s msgServer) Leave(ctx context.Context, msg *types.MsgLeave) (*types.MsgLeaveResponse, error) {
	h, err := s.k.leave(ctx, msg)
	if err != nil {
		return nil, err
	}
	return &types.MsgLeaveResponse{UnbondingHeight: h}, nil
}

func (s msgServer) WithdrawStake(ctx context.Context, msg *types.MsgWithdrawStake) (*types.MsgWithdrawStakeResponse, error) {
	c, err := s.k.withdrawStake(ctx, msg)
	if err != nil {
		return nil, err
	}
	return &types.MsgWithdrawStakeResponse{Amount: c}, nil
}

func (s msgServer) PlaceOrder(ctx context.Context, msg *types.MsgPlaceOrder) (*types.MsgPlaceOrderResponse, error) {
	o, err := s.k.placeOrder(ctx, msg)
	if err != nil {
		return nil, err
	}
	return &types.MsgPlaceOrderResponse{OrderId: o.Id, Status: o.Status}, nil
}

func (s msgServer) ExtendOrder(ctx context.Context, msg *types.MsgExtendOrder) (*types.MsgExtendOrderResponse, error) {
	if err := s.k.extendOrder(ctx, msg); err != nil {
		return nil, err
	}
	return &types.MsgExtendOrderResponse{}, nil
}

func (s msgServer) CancelOrder(ctx context.Context, msg *types.MsgCancelOrder) (*types.MsgCancelOrderResponse, error) {
	c, err := s.k.cancelOrder(ctx, msg)
	if err != nil {
		return nil, err
	}
	return &types.MsgCancelOrderResponse{Refund: c}, nil
}

func (s msgServer) Commit(ctx context.Context, msg *types.MsgCommit) (*types.MsgCommitResponse, error) {
	active, err := s.k.commit(ctx, msg)
	if err != nil {
		return nil, err
	}
	return &types.MsgCommitResponse{OrderActive: active}, nil
}

func (s msgServer) ClaimPayment(ctx context.Context, msg *types.MsgClaimPayment) (*types.MsgClaimPaymentResponse, error) {
	c, next, err := s.k.claimPayment(ctx, msg)
	if err != nil {
		return nil, err
	}
	return &types.MsgClaimPaymentResponse{Amount: c, NextOrderId: next}, nil
}

func (s msgServer) ReleaseSlot(ctx context.Context, msg *types.MsgReleaseSlot) (*types.MsgReleaseSlotResponse, error) {
	fee, newHoster, err := s.k.releaseSlotMsg(ctx, msg)
	if err != nil {
		return nil, err
	}
	return &types.MsgReleaseSlotResponse{Fee: fee, NewHoster: newHoster}, nil
}

// UpdateParams replaces the params; only the authority may, and denom and
// epoch_blocks cannot change (escrow and epoch numbering depend on them).
func (s msgServer) UpdateParams(ctx context.Context, msg *types.MsgUpdateParams) (*types.MsgUpdateParamsResponse, error) {
	if msg.Authority != s.k.authority {
		return nil, errorsmod.Wrapf(types.ErrInvalidAuthority, "expected %s, got %s", s.k.authority, msg.Authority)
	}
	if err := s.k.validateParams(msg.Params); err != nil {
		return nil, err
	}
	old, err := s.k.Params.Get(ctx)
	if err != nil {
		return nil, err
	}
	if msg.Params.Denom != old.Denom {
		return nil, errorsmod.Wrapf(types.ErrInvalidParams, "denom cannot change (%s -> %s)", old.Denom, msg.Params.Denom)
	}
	if msg.Params.EpochBlocks != old.EpochBlocks {
		return nil, errorsmod.Wrapf(types.ErrInvalidParams, "epoch_blocks cannot change (%d -> %d)", old.EpochBlocks, msg.Params.EpochBlocks)
	}
	if err := s.k.Params.Set(ctx, msg.Params); err != nil {
		return nil, err
	}
	if err := s.k.emit(ctx, &types.EventParamsUpdated{Authority: msg.Authority}); err != nil {
		return nil, err
	}
	return &types.MsgUpdateParamsResponse{}, nil
}

// validateParams checks params including the slash recipient address,
// which must be able to receive coins.
func (k Keeper) validateParams(p types.Params) error {
	if err := p.Validate(); err != nil {
		return errorsmod.Wrap(types.ErrInvalidParams, err.Error())
	}
	if p.SlashRecipient != "" {
		addr, err := k.parseAddr(p.SlashRecipient, "slash_recipient")
		if err != nil {
			return errorsmod.Wrap(types.ErrInvalidParams, err.Error())
		}
		// x/bank refuses sends to module accounts and other blocked
		// addresses: every slash would then fail, and x/attest could not
		// penalise anyone.
		if k.bankKeeper.BlockedAddr(addr) {
			return errorsmod.Wrapf(types.ErrInvalidParams, "slash_recipient %s may not receive coins (module account or blocked address)", p.SlashRecipient)
		}
	}
	return nil
}
