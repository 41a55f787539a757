package keeper

import (
	"context"
	"errors"
	"fmt"

	"cosmossdk.io/collections"
	"cosmossdk.io/math"

	sdk "github.com/cosmos/cosmos-sdk/types"

	"github.com/datdot/datdot/x/storage/types"
)

// InitGenesis loads a validated genesis state. Derived indexes (active
// index, orders by owner, assignments by hoster) are rebuilt from the
// records; queues are loaded as exported so that an export/import cycle
// reproduces the state exactly.
func (k Keeper) InitGenesis(ctx context.Context, gs *types.GenesisState) error {
	if err := gs.ValidateWith(func(addr string) error {
		_, err := k.addressCodec.StringToBytes(addr)
		return err
	}); err != nil {
		return fmt.Errorf("%w: %v", types.ErrInvalidGenesis, err)
	}
	if err := k.validateParams(gs.Params); err != nil {
		return err
	}
	if err := k.Params.Set(ctx, gs.Params); err != nil {
		return err
	}
	if err := k.NextOrderID.Set(ctx, gs.NextOrderId); err != nil {
		return err
	}
	var active uint64
	for _, h := range gs.Hosters {
		addr, err := k.parseAddr(h.Address, "hoster")
		if err != nil {
			return err
		}
		if err := k.Hosters.Set(ctx, addr, h); err != nil {
			return err
		}
		if h.Status == types.HOSTER_STATUS_ACTIVE {
			if err := k.ActiveIndex.Set(ctx, h.ActiveIndex, addr); err != nil {
				return err
			}
			active++
		}
	}
	if err := k.ActiveCount.Set(ctx, active); err != nil {
		return err
	}
	for _, o := range gs.Orders {
		owner, err := k.parseAddr(o.Owner, "owner")
		if err != nil {
			return err
		}
		if err := k.Orders.Set(ctx, o.Id, o); err != nil {
			return err
		}
		if err := k.OrdersByOwner.Set(ctx, collections.Join(owner, o.Id)); err != nil {
			return err
		}
		if err := k.indexCores(ctx, o); err != nil {
			return err
		}
	}
	for _, a := range gs.Assignments {
		addr, err := k.parseAddr(a.Hoster, "hoster")
		if err != nil {
			return err
		}
		key := collections.Join(a.OrderId, types.SlotKey(a.CoreIndex, a.Replica))
		if err := k.Assignments.Set(ctx, key, a); err != nil {
			return err
		}
		if err := k.AssignmentsByHoster.Set(ctx, collections.Join(addr, key)); err != nil {
			return err
		}
		if err := k.AssignmentIndex.Set(ctx, a.Index, key); err != nil {
			return err
		}
		// Open commit windows are rebuilt from the assignments.
		if a.CommitDeadline != 0 {
			if err := k.CommitQueue.Set(ctx, collections.Join(a.CommitDeadline, key)); err != nil {
				return err
			}
		}
	}
	slots := make(map[uint64]int, len(gs.Orders))
	for _, o := range gs.Orders {
		slots[o.Id] = o.Slots()
		// Ended orders wait for pruning (the queue is rebuilt from them).
		if o.IsEnded() {
			if err := k.PruneQueue.Set(ctx, collections.Join(o.EndedHeight, o.Id)); err != nil {
				return err
			}
		}
	}
	if err := k.AssignmentCount.Set(ctx, uint64(len(gs.Assignments))); err != nil {
		return err
	}
	for _, e := range gs.PendingQueue {
		if err := k.PendingQueue.Set(ctx, collections.Join3(sizeClass(slots[e.OrderId]), e.Height, e.OrderId)); err != nil {
			return err
		}
	}
	for _, e := range gs.ExpiryQueue {
		if err := k.ExpiryQueue.Set(ctx, collections.Join(e.Height, e.OrderId)); err != nil {
			return err
		}
	}
	for _, e := range gs.UnbondingQueue {
		addr, err := k.parseAddr(e.Hoster, "hoster")
		if err != nil {
			return err
		}
		if err := k.UnbondingQueue.Set(ctx, collections.Join(e.Height, addr)); err != nil {
			return err
		}
	}
	if len(gs.SeedHash) > 0 {
		if err := k.SeedHash.Set(ctx, gs.SeedHash); err != nil {
			return err
		}
	}
	for _, f := range gs.PayFactors {
		addr, err := k.parseAddr(f.Hoster, "pay factor hoster")
		if err != nil {
			return err
		}
		if err := k.PayFactors.Set(ctx, collections.Join(addr, f.Epoch), f); err != nil {
			return err
		}
	}
	return k.checkModuleBalance(ctx, gs)
}

// checkModuleBalance requires the module account (loaded by x/bank's
// genesis, which runs first) to hold exactly the hosters' stake plus the
// live orders' escrow, as x/staking checks its pools: a state that owes
// more than the account holds would fail payouts later, one that holds more
// would strand coins.
func (k Keeper) checkModuleBalance(ctx context.Context, gs *types.GenesisState) error {
	owed := math.ZeroInt()
	for _, h := range gs.Hosters {
		owed = owed.Add(h.Stake)
	}
	for _, o := range gs.Orders {
		owed = owed.Add(o.Escrow) // ended orders hold none (Validate)
	}
	held := k.bankKeeper.GetBalance(ctx, k.accountKeeper.GetModuleAddress(types.ModuleName), gs.Params.Denom)
	if !held.Amount.Equal(owed) {
		return fmt.Errorf("%w: module account holds %s, stakes plus escrow are %s%s",
			types.ErrInvalidGenesis, held, owed, gs.Params.Denom)
	}
	return nil
}

// ExportGenesis exports the whole module state.
func (k Keeper) ExportGenesis(ctx context.Context) (*types.GenesisState, error) {
	p, err := k.Params.Get(ctx)
	if err != nil {
		return nil, err
	}
	next, err := k.NextOrderID.Peek(ctx)
	if err != nil {
		return nil, err
	}
	seedHash, err := k.SeedHash.Get(ctx)
	if err != nil && !errors.Is(err, collections.ErrNotFound) {
		return nil, err
	}
	gs := &types.GenesisState{Params: p, NextOrderId: next, SeedHash: seedHash}
	if err := k.Hosters.Walk(ctx, nil, func(_ sdk.AccAddress, h types.Hoster) (bool, error) {
		gs.Hosters = append(gs.Hosters, h)
		return false, nil
	}); err != nil {
		return nil, err
	}
	if err := k.Orders.Walk(ctx, nil, func(_ uint64, o types.Order) (bool, error) {
		gs.Orders = append(gs.Orders, o)
		return false, nil
	}); err != nil {
		return nil, err
	}
	if err := k.Assignments.Walk(ctx, nil, func(_ collections.Pair[uint64, uint64], a types.Assignment) (bool, error) {
		gs.Assignments = append(gs.Assignments, a)
		return false, nil
	}); err != nil {
		return nil, err
	}
	if err := k.PendingQueue.Walk(ctx, nil, func(key collections.Triple[uint32, int64, uint64]) (bool, error) {
		gs.PendingQueue = append(gs.PendingQueue, types.QueueEntry{Height: key.K2(), OrderId: key.K3()})
		return false, nil
	}); err != nil {
		return nil, err
	}
	if err := k.ExpiryQueue.Walk(ctx, nil, func(key collections.Pair[int64, uint64]) (bool, error) {
		gs.ExpiryQueue = append(gs.ExpiryQueue, types.QueueEntry{Height: key.K1(), OrderId: key.K2()})
		return false, nil
	}); err != nil {
		return nil, err
	}
	if err := k.UnbondingQueue.Walk(ctx, nil, func(key collections.Pair[int64, sdk.AccAddress]) (bool, error) {
		gs.UnbondingQueue = append(gs.UnbondingQueue, types.UnbondingEntry{Height: key.K1(), Hoster: k.addrString(key.K2())})
		return false, nil
	}); err != nil {
		return nil, err
	}
	if err := k.PayFactors.Walk(ctx, nil, func(_ collections.Pair[sdk.AccAddress, uint64], f types.PayFactor) (bool, error) {
		gs.PayFactors = append(gs.PayFactors, f)
		return false, nil
	}); err != nil {
		return nil, err
	}
	return gs, nil
}
