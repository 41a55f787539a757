package keeper

import (
	"context"
	"fmt"

	"cosmossdk.io/math"

	"github.com/datdot/datdot/x/attest/types"
)

// InitGenesis loads a validated genesis state. Addresses are parsed with
// the chain's address codec, and the module account must hold exactly the
// pool (funded by x/bank's genesis).
func (k Keeper) InitGenesis(ctx context.Context, gs *types.GenesisState) error {
	if err := gs.Validate(); err != nil {
		return err
	}
	if err := k.Params.Set(ctx, gs.Params); err != nil {
		return err
	}
	if err := k.NextChallengeID.Set(ctx, gs.NextChallengeId); err != nil {
		return err
	}
	if err := k.NextCheckID.Set(ctx, gs.NextCheckId); err != nil {
		return err
	}
	for _, c := range gs.Challenges {
		if err := k.putChallenge(ctx, c); err != nil {
			return fmt.Errorf("%w: challenge %d: %w", types.ErrInvalidGenesis, c.Id, err)
		}
	}
	for _, c := range gs.Checks {
		if _, err := k.parseAddr(c.Hoster, "hoster"); err != nil {
			return fmt.Errorf("%w: check %d: %w", types.ErrInvalidGenesis, c.Id, err)
		}
		for _, r := range c.Reports {
			if _, err := k.parseAddr(r.Attestor, "attestor"); err != nil {
				return fmt.Errorf("%w: check %d: %w", types.ErrInvalidGenesis, c.Id, err)
			}
		}
		if err := k.putCheck(ctx, c); err != nil {
			return fmt.Errorf("%w: check %d: %w", types.ErrInvalidGenesis, c.Id, err)
		}
	}
	for _, r := range gs.Records {
		addr, err := k.parseAddr(r.Address, "record")
		if err != nil {
			return fmt.Errorf("%w: %w", types.ErrInvalidGenesis, err)
		}
		if err := k.Records.Set(ctx, addr, r); err != nil {
			return err
		}
	}
	if len(gs.LastBlockHash) > 0 {
		if err := k.LastBlockHash.Set(ctx, gs.LastBlockHash); err != nil {
			return err
		}
	}
	if err := k.Pool.Set(ctx, gs.Pool); err != nil {
		return err
	}
	sp, err := k.storage.GetParams(ctx)
	if err != nil {
		return err
	}
	modAddr := k.accountKeeper.GetModuleAddress(types.ModuleName)
	if modAddr == nil {
		return fmt.Errorf("%w: no %s module account", types.ErrInvalidGenesis, types.ModuleName)
	}
	if bal := k.bankKeeper.GetBalance(ctx, modAddr, sp.Denom); !bal.Amount.Equal(gs.Pool) {
		return fmt.Errorf("%w: module account holds %s, pool is %s", types.ErrInvalidGenesis, bal.Amount, gs.Pool)
	}
	return nil
}

// ExportGenesis exports the whole state.
func (k Keeper) ExportGenesis(ctx context.Context) (*types.GenesisState, error) {
	p, err := k.Params.Get(ctx)
	if err != nil {
		return nil, err
	}
	gs := &types.GenesisState{Params: p, Pool: math.ZeroInt()}
	if gs.NextChallengeId, err = k.NextChallengeID.Get(ctx); err != nil {
		return nil, err
	}
	if gs.NextCheckId, err = k.NextCheckID.Get(ctx); err != nil {
		return nil, err
	}
	if err := k.Challenges.Walk(ctx, nil, func(_ uint64, c types.Challenge) (bool, error) {
		gs.Challenges = append(gs.Challenges, c)
		return false, nil
	}); err != nil {
		return nil, err
	}
	if err := k.Checks.Walk(ctx, nil, func(_ uint64, c types.Check) (bool, error) {
		gs.Checks = append(gs.Checks, c)
		return false, nil
	}); err != nil {
		return nil, err
	}
	iter, err := k.Records.Iterate(ctx, nil)
	if err != nil {
		return nil, err
	}
	if gs.Records, err = iter.Values(); err != nil {
		return nil, err
	}
	if h, err := k.LastBlockHash.Get(ctx); err == nil {
		gs.LastBlockHash = h
	} else if !errorsIsNotFound(err) {
		return nil, err
	}
	if gs.Pool, err = k.pool(ctx); err != nil {
		return nil, err
	}
	return gs, nil
}
