package keeper

import (
	"context"
	"errors"
	"fmt"

	"cosmossdk.io/collections"
	errorsmod "cosmossdk.io/errors"

	sdk "github.com/cosmos/cosmos-sdk/types"

	"github.com/datdot/datdot/x/storage/types"
)

// activeCount returns the number of active hosters (0 before genesis).
func (k Keeper) activeCount(ctx context.Context) (uint64, error) {
	n, err := k.ActiveCount.Get(ctx)
	if errors.Is(err, collections.ErrNotFound) {
		return 0, nil
	}
	return n, err
}

// addActive appends a hoster to the dense index of active hosters and records
// its position in h (the caller saves h).
func (k Keeper) addActive(ctx context.Context, addr sdk.AccAddress, h *types.Hoster) error {
	n, err := k.activeCount(ctx)
	if err != nil {
		return err
	}
	if err := k.ActiveIndex.Set(ctx, n, addr); err != nil {
		return err
	}
	h.ActiveIndex = n
	return k.ActiveCount.Set(ctx, n+1)
}

// removeActive takes a hoster out of the dense index in O(1): the last entry
// moves into its position (and that hoster's record is updated). The caller
// saves h.
func (k Keeper) removeActive(ctx context.Context, h *types.Hoster) error {
	n, err := k.activeCount(ctx)
	if err != nil {
		return err
	}
	if n == 0 || h.ActiveIndex >= n {
		return fmt.Errorf("x/storage: active index of %s out of range (%d of %d)", h.Address, h.ActiveIndex, n)
	}
	last := n - 1
	if h.ActiveIndex != last {
		lastAddr, err := k.ActiveIndex.Get(ctx, last)
		if err != nil {
			return err
		}
		moved, err := k.Hosters.Get(ctx, lastAddr)
		if err != nil {
			return err
		}
		moved.ActiveIndex = h.ActiveIndex
		if err := k.Hosters.Set(ctx, lastAddr, moved); err != nil {
			return err
		}
		if err := k.ActiveIndex.Set(ctx, h.ActiveIndex, lastAddr); err != nil {
			return err
		}
	}
	if err := k.ActiveIndex.Remove(ctx, last); err != nil {
		return err
	}
	h.ActiveIndex = 0
	return k.ActiveCount.Set(ctx, last)
}

// setStatus moves a hoster to a new status, keeping the active index in step,
// saves it and emits EventHosterStatusChanged.
func (k Keeper) setStatus(ctx context.Context, addr sdk.AccAddress, h *types.Hoster, status types.HosterStatus, reason string) error {
	if h.Status == status {
		return k.Hosters.Set(ctx, addr, *h)
	}
	if h.Status == types.HOSTER_STATUS_ACTIVE {
		if err := k.removeActive(ctx, h); err != nil {
			return err
		}
	}
	if status == types.HOSTER_STATUS_ACTIVE {
		if err := k.addActive(ctx, addr, h); err != nil {
			return err
		}
	}
	h.Status = status
	if err := k.Hosters.Set(ctx, addr, *h); err != nil {
		return err
	}
	return k.emit(ctx, &types.EventHosterStatusChanged{Hoster: h.Address, Status: status, Reason: reason})
}

// getHoster loads a hoster or returns ErrHosterNotFound.
func (k Keeper) getHoster(ctx context.Context, addr sdk.AccAddress) (types.Hoster, error) {
	h, err := k.Hosters.Get(ctx, addr)
	if errors.Is(err, collections.ErrNotFound) {
		return h, errorsmod.Wrapf(types.ErrHosterNotFound, "%s", k.addrString(addr))
	}
	return h, err
}

// GetHoster returns a registered hoster (for x/attest and queries).
func (k Keeper) GetHoster(ctx context.Context, addr sdk.AccAddress) (types.Hoster, error) {
	return k.getHoster(ctx, addr)
}

func freeBytes(h types.Hoster) uint64 {
	if h.Used >= h.Capacity {
		return 0
	}
	return h.Capacity - h.Used
}

// checkCoin checks that c is a positive amount of the params denom; a
// missing or non-positive amount is reported as class.
func checkCoin(c sdk.Coin, p types.Params, what string, class *errorsmod.Error) error {
	if c.Amount.IsNil() || !c.Amount.IsPositive() {
		return errorsmod.Wrapf(class, "%s must be a positive amount", what)
	}
	if c.Denom != p.Denom {
		return errorsmod.Wrapf(types.ErrInvalidDenom, "%s is in %q, the module uses %q", what, c.Denom, p.Denom)
	}
	return nil
}

// registerHoster implements MsgRegisterHoster.
func (k Keeper) registerHoster(ctx context.Context, msg *types.MsgRegisterHoster) error {
	addr, err := k.parseAddr(msg.Hoster, "hoster")
	if err != nil {
		return err
	}
	p, err := k.Params.Get(ctx)
	if err != nil {
		return err
	}
	if has, err := k.Hosters.Has(ctx, addr); err != nil {
		return err
	} else if has {
		return errorsmod.Wrapf(types.ErrHosterExists, "%s", msg.Hoster)
	}
	if err := checkCoin(msg.Stake, p, "stake", types.ErrInvalidStake); err != nil {
		return err
	}
	if msg.Stake.Amount.LT(p.MinStake) {
		return errorsmod.Wrapf(types.ErrInvalidStake, "stake %s is below the minimum of %s%s", msg.Stake, p.MinStake, p.Denom)
	}
	if msg.Capacity == 0 {
		return errorsmod.Wrap(types.ErrInvalidCapacity, "capacity must be positive")
	}
	if err := types.ValidateEndpoint(msg.Endpoint); err != nil {
		return err
	}
	if err := types.ValidateRegion(msg.Region); err != nil {
		return err
	}
	if err := types.ValidatePrice(msg.PricePerGibEpoch); err != nil {
		return err
	}
	if msg.ReplicationAddress != "" {
		if err := types.ValidatePeerAddress(msg.ReplicationAddress); err != nil {
			return err
		}
	}
	if err := k.bankKeeper.SendCoinsFromAccountToModule(ctx, addr, types.ModuleName, sdk.NewCoins(msg.Stake)); err != nil {
		return errorsmod.Wrap(err, "escrowing stake")
	}
	h := types.Hoster{
		Address:            msg.Hoster,
		Stake:              msg.Stake.Amount,
		Capacity:           msg.Capacity,
		Endpoint:           msg.Endpoint,
		Region:             msg.Region,
		PricePerGibEpoch:   msg.PricePerGibEpoch,
		Status:             types.HOSTER_STATUS_ACTIVE,
		RegisteredHeight:   blockHeight(ctx),
		ReplicationAddress: msg.ReplicationAddress,
	}
	if err := k.addActive(ctx, addr, &h); err != nil {
		return err
	}
	if err := k.Hosters.Set(ctx, addr, h); err != nil {
		return err
	}
	return k.emit(ctx, &types.EventHosterRegistered{
		Hoster: msg.Hoster, Stake: msg.Stake.Amount.String(), Capacity: msg.Capacity,
		Endpoint: msg.Endpoint, Region: msg.Region, PricePerGibEpoch: msg.PricePerGibEpoch.String(),
		ReplicationAddress: msg.ReplicationAddress,
	})
}

// updateHoster implements MsgUpdateHoster.
func (k Keeper) updateHoster(ctx context.Context, msg *types.MsgUpdateHoster) error {
	addr, err := k.parseAddr(msg.Hoster, "hoster")
	if err != nil {
		return err
	}
	h, err := k.getHoster(ctx, addr)
	if err != nil {
		return err
	}
	if msg.Capacity == 0 && msg.Endpoint == "" && msg.Region == "" && msg.PricePerGibEpoch.IsNil() && msg.ReplicationAddress == "" {
		return errorsmod.Wrap(types.ErrNothingToUpdate, "set capacity, endpoint, region, price or replication address")
	}
	if msg.Capacity != 0 {
		if msg.Capacity < h.Used {
			return errorsmod.Wrapf(types.ErrInvalidCapacity, "capacity %d is below the %d bytes already assigned", msg.Capacity, h.Used)
		}
		h.Capacity = msg.Capacity
	}
	if msg.Endpoint != "" {
		if err := types.ValidateEndpoint(msg.Endpoint); err != nil {
			return err
		}
		h.Endpoint = msg.Endpoint
	}
	if msg.Region != "" {
		if err := types.ValidateRegion(msg.Region); err != nil {
			return err
		}
		h.Region = msg.Region
	}
	if msg.ReplicationAddress != "" {
		if err := types.ValidatePeerAddress(msg.ReplicationAddress); err != nil {
			return err
		}
		h.ReplicationAddress = msg.ReplicationAddress
	}
	if !msg.PricePerGibEpoch.IsNil() {
		if err := types.ValidatePrice(msg.PricePerGibEpoch); err != nil {
			return err
		}
		h.PricePerGibEpoch = msg.PricePerGibEpoch
	}
	if err := k.Hosters.Set(ctx, addr, h); err != nil {
		return err
	}
	return k.emit(ctx, &types.EventHosterUpdated{
		Hoster: h.Address, Capacity: h.Capacity, Endpoint: h.Endpoint, Region: h.Region,
		PricePerGibEpoch: h.PricePerGibEpoch.String(), ReplicationAddress: h.ReplicationAddress,
	})
}

// addStake implements MsgAddStake.
func (k Keeper) addStake(ctx context.Context, msg *types.MsgAddStake) error {
	addr, err := k.parseAddr(msg.Hoster, "hoster")
	if err != nil {
		return err
	}
	p, err := k.Params.Get(ctx)
	if err != nil {
		return err
	}
	h, err := k.getHoster(ctx, addr)
	if err != nil {
		return err
	}
	if h.Status == types.HOSTER_STATUS_LEAVING {
		return errorsmod.Wrapf(types.ErrHosterNotActive, "%s is leaving and cannot add stake", msg.Hoster)
	}
	if err := checkCoin(msg.Amount, p, "amount", types.ErrInvalidStake); err != nil {
		return err
	}
	if err := k.bankKeeper.SendCoinsFromAccountToModule(ctx, addr, types.ModuleName, sdk.NewCoins(msg.Amount)); err != nil {
		return errorsmod.Wrap(err, "escrowing stake")
	}
	h.Stake = h.Stake.Add(msg.Amount.Amount)
	if err := k.emit(ctx, &types.EventStakeAdded{Hoster: h.Address, Amount: msg.Amount.Amount.String(), Stake: h.Stake.String()}); err != nil {
		return err
	}
	if h.Status == types.HOSTER_STATUS_JAILED && h.Stake.GTE(p.MinStake) {
		return k.setStatus(ctx, addr, &h, types.HOSTER_STATUS_ACTIVE, "stake back above the minimum")
	}
	return k.Hosters.Set(ctx, addr, h)
}

// leave implements MsgLeave.
func (k Keeper) leave(ctx context.Context, msg *types.MsgLeave) (int64, error) {
	addr, err := k.parseAddr(msg.Hoster, "hoster")
	if err != nil {
		return 0, err
	}
	p, err := k.Params.Get(ctx)
	if err != nil {
		return 0, err
	}
	h, err := k.getHoster(ctx, addr)
	if err != nil {
		return 0, err
	}
	if h.Status == types.HOSTER_STATUS_LEAVING {
		return 0, errorsmod.Wrapf(types.ErrHosterNotActive, "%s is already leaving (stake due at height %d)", msg.Hoster, h.UnbondingHeight)
	}
	if h.Assignments > 0 {
		return 0, errorsmod.Wrapf(types.ErrHosterHasAssignments,
			"%s holds %d assignments; it can leave once they are replaced or their orders end", msg.Hoster, h.Assignments)
	}
	due := blockHeight(ctx) + int64(p.UnbondingBlocks)
	h.UnbondingHeight = due
	if err := k.setStatus(ctx, addr, &h, types.HOSTER_STATUS_LEAVING, "hoster left"); err != nil {
		return 0, err
	}
	if err := k.UnbondingQueue.Set(ctx, collections.Join(due, addr)); err != nil {
		return 0, err
	}
	return due, k.emit(ctx, &types.EventHosterLeaving{Hoster: h.Address, UnbondingHeight: due})
}

// withdrawStake implements MsgWithdrawStake.
func (k Keeper) withdrawStake(ctx context.Context, msg *types.MsgWithdrawStake) (sdk.Coin, error) {
	addr, err := k.parseAddr(msg.Hoster, "hoster")
	if err != nil {
		return sdk.Coin{}, err
	}
	h, err := k.getHoster(ctx, addr)
	if err != nil {
		return sdk.Coin{}, err
	}
	if h.Status != types.HOSTER_STATUS_LEAVING {
		return sdk.Coin{}, errorsmod.Wrapf(types.ErrHosterNotLeaving, "%s must leave first", msg.Hoster)
	}
	if now := blockHeight(ctx); now < h.UnbondingHeight {
		return sdk.Coin{}, errorsmod.Wrapf(types.ErrUnbondingNotOver, "stake of %s is due at height %d, now %d", msg.Hoster, h.UnbondingHeight, now)
	}
	return k.completeUnbonding(ctx, addr, h)
}

// completeUnbonding returns a leaving hoster's stake, removes it from the
// registry and from the unbonding queue.
func (k Keeper) completeUnbonding(ctx context.Context, addr sdk.AccAddress, h types.Hoster) (sdk.Coin, error) {
	p, err := k.Params.Get(ctx)
	if err != nil {
		return sdk.Coin{}, err
	}
	if h.Assignments > 0 {
		// Cannot happen: a leaving hoster gets no new slots and could only
		// leave without any. Refuse rather than strand the slots.
		return sdk.Coin{}, errorsmod.Wrapf(types.ErrHosterHasAssignments, "%s still holds %d assignments", h.Address, h.Assignments)
	}
	coin := sdk.NewCoin(p.Denom, h.Stake)
	if h.Stake.IsPositive() {
		if err := k.bankKeeper.SendCoinsFromModuleToAccount(ctx, types.ModuleName, addr, sdk.NewCoins(coin)); err != nil {
			return sdk.Coin{}, errorsmod.Wrap(err, "returning stake")
		}
	}
	if err := k.UnbondingQueue.Remove(ctx, collections.Join(h.UnbondingHeight, addr)); err != nil {
		return sdk.Coin{}, err
	}
	if err := k.Hosters.Remove(ctx, addr); err != nil {
		return sdk.Coin{}, err
	}
	return coin, k.emit(ctx, &types.EventStakeWithdrawn{Hoster: h.Address, Amount: h.Stake.String()})
}
