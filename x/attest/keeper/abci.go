package keeper

import (
	"context"

	sdk "github.com/cosmos/cosmos-sdk/types"
)

// EndBlocker does the module's per-block work, each part bounded by params
// whatever the number of orders, hosters or assignments:
//   - fail the unanswered challenges due at this height (at most
//     deadlinesPerBlock(challenges_per_block), oldest first);
//   - decide the performance checks due at this height (bounded likewise);
//   - issue at most challenges_per_block new challenges;
//   - at multiples of check_interval_blocks, issue at most
//     checks_per_interval performance checks;
//   - remember this block's hash as the next block's seed.
//
// It runs after x/storage's EndBlock, so it samples the assignments as
// they are at the end of the block.
func (k Keeper) EndBlocker(ctx context.Context) error {
	p, err := k.Params.Get(ctx)
	if err != nil {
		return err
	}
	now := blockHeight(ctx)
	if err := k.processChallengeDeadlines(ctx, p, now, deadlinesPerBlock(p.ChallengesPerBlock)); err != nil {
		return err
	}
	if err := k.processCheckDeadlines(ctx, p, now, deadlinesPerBlock(p.ChecksPerInterval)); err != nil {
		return err
	}
	if err := k.issueChallenges(ctx, p); err != nil {
		return err
	}
	if p.CheckIntervalBlocks > 0 && now > 0 && uint64(now)%p.CheckIntervalBlocks == 0 {
		if err := k.issueChecks(ctx, p); err != nil {
			return err
		}
	}
	hash := sdk.UnwrapSDKContext(ctx).HeaderInfo().Hash
	if len(hash) == 0 {
		return nil // InitChain or a test context without a header hash
	}
	return k.LastBlockHash.Set(ctx, append([]byte(nil), hash...))
}

// deadlinesPerBlock bounds the deadlines one block settles: twice what a
// block issues plus a floor, so a backlog (after a change of params) drains.
func deadlinesPerBlock(issued uint32) int { return 2*int(issued) + 16 }
