package types

import (
	"fmt"

	"cosmossdk.io/math"

	sdk "github.com/cosmos/cosmos-sdk/types"
)

// MaxDrawsPerSelection bounds max_slots_per_order x sample_attempts, the
// number of hosters one selection may draw (two store reads each).
const MaxDrawsPerSelection = 1 << 16

// MaxExpirySlotsPerBlock bounds expiries_per_block x max_slots_per_order,
// the slots one block's expiries may settle and release.
const MaxExpirySlotsPerBlock = 1 << 14

// DefaultParams are the parameters of a new chain. epoch_blocks is short so
// that a local chain shows payments within seconds; a public network sets it
// in genesis.
func DefaultParams() Params {
	return Params{
		Denom:                  sdk.DefaultBondDenom,
		MinStake:               math.NewInt(1_000_000),
		StakeWeightCap:         math.NewInt(4_000_000),
		CapacityHeadroom:       16,
		EpochBlocks:            20,
		UnbondingBlocks:        100,
		MaxCoresPerOrder:       64,
		MaxReplicas:            16,
		MaxSlotsPerOrder:       128,
		MaxCoreBytes:           1 << 40,
		MaxDurationEpochs:      1_000_000,
		ScanThreshold:          16,
		SampleAttempts:         64,
		PendingRetriesPerBlock: 10,
		ExpiriesPerBlock:       20,
		UnbondingsPerBlock:     20,
		SlashRecipient:         "",
		CommitWindow:           100,
		CommitExpiriesPerBlock: 20,
		ReleaseFeeEpochs:       2,
		PlacementFeePerSlot:    math.NewInt(100),
		PendingTimeoutBlocks:   10_000,
		RetentionBlocks:        10_000,
		PrunesPerBlock:         20,
		PendingReadBudget:      20_000,
	}
}

// Validate checks every parameter; it does not check that slash_recipient is
// a valid address of this chain (the keeper does, with its address codec).
func (p Params) Validate() error {
	if err := sdk.ValidateDenom(p.Denom); err != nil {
		return fmt.Errorf("denom: %w", err)
	}
	if p.MinStake.IsNil() || !p.MinStake.IsPositive() {
		return fmt.Errorf("min_stake must be positive")
	}
	if p.StakeWeightCap.IsNil() || p.StakeWeightCap.LT(p.MinStake) {
		return fmt.Errorf("stake_weight_cap must be at least min_stake")
	}
	if p.StakeWeightCap.BigIntMut().BitLen() > MaxAmountBits {
		return fmt.Errorf("stake_weight_cap must be below 2^%d", MaxAmountBits)
	}
	if p.CapacityHeadroom == 0 {
		return fmt.Errorf("capacity_headroom must be positive")
	}
	if p.EpochBlocks == 0 || p.EpochBlocks > 100_000_000 {
		return fmt.Errorf("epoch_blocks must be in 1..1e8")
	}
	if p.MaxCoresPerOrder == 0 || p.MaxReplicas == 0 || p.MaxSlotsPerOrder == 0 {
		return fmt.Errorf("max_cores_per_order, max_replicas and max_slots_per_order must be positive")
	}
	if p.MaxSlotsPerOrder > 4096 {
		return fmt.Errorf("max_slots_per_order must be at most 4096 (it bounds the work of one block)")
	}
	if p.MaxCoreBytes == 0 {
		return fmt.Errorf("max_core_bytes must be positive")
	}
	if p.MaxDurationEpochs == 0 || p.MaxDurationEpochs > 1_000_000_000 {
		return fmt.Errorf("max_duration_epochs must be in 1..1e9 (end heights must fit in int64)")
	}
	if p.MaxCoreBytes > 1<<50 {
		return fmt.Errorf("max_core_bytes must be at most 2^50")
	}
	if p.UnbondingBlocks > 1<<40 {
		return fmt.Errorf("unbonding_blocks must be at most 2^40")
	}
	if p.ScanThreshold > 1024 {
		return fmt.Errorf("scan_threshold must be at most 1024 (it bounds the work of one selection)")
	}
	if p.SampleAttempts == 0 || p.SampleAttempts > 4096 {
		return fmt.Errorf("sample_attempts must be in 1..4096")
	}
	// One selection (a place-order, or a block's pending retries, which run
	// without gas) draws up to max_slots_per_order x sample_attempts hosters.
	if uint64(p.MaxSlotsPerOrder)*uint64(p.SampleAttempts) > MaxDrawsPerSelection {
		return fmt.Errorf("max_slots_per_order x sample_attempts must be at most %d", MaxDrawsPerSelection)
	}
	// Each expiry settles and releases every slot of its order, in EndBlock.
	if uint64(p.ExpiriesPerBlock)*uint64(p.MaxSlotsPerOrder) > MaxExpirySlotsPerBlock {
		return fmt.Errorf("expiries_per_block x max_slots_per_order must be at most %d", MaxExpirySlotsPerBlock)
	}
	if p.PendingRetriesPerBlock > 1000 || p.ExpiriesPerBlock == 0 || p.ExpiriesPerBlock > 1000 ||
		p.UnbondingsPerBlock == 0 || p.UnbondingsPerBlock > 1000 {
		return fmt.Errorf("per-block limits must be in 1..1000 (pending retries may be 0)")
	}
	if p.CommitWindow == 0 || p.CommitWindow > 1<<40 {
		return fmt.Errorf("commit_window must be in 1..2^40 blocks")
	}
	if p.CommitExpiriesPerBlock == 0 || p.CommitExpiriesPerBlock > 1000 ||
		p.PrunesPerBlock == 0 || p.PrunesPerBlock > 1000 {
		return fmt.Errorf("commit_expiries_per_block and prunes_per_block must be in 1..1000")
	}
	if p.ReleaseFeeEpochs > 1_000_000 {
		return fmt.Errorf("release_fee_epochs must be at most 1e6")
	}
	if p.PlacementFeePerSlot.IsNil() || p.PlacementFeePerSlot.IsNegative() || p.PlacementFeePerSlot.BigIntMut().BitLen() > MaxAmountBits {
		return fmt.Errorf("placement_fee_per_slot must be in 0..2^%d", MaxAmountBits)
	}
	if p.PendingTimeoutBlocks == 0 || p.PendingTimeoutBlocks > 1<<40 {
		return fmt.Errorf("pending_timeout_blocks must be in 1..2^40")
	}
	if p.RetentionBlocks > 1<<40 {
		return fmt.Errorf("retention_blocks must be at most 2^40")
	}
	if p.PendingReadBudget > 1<<24 {
		return fmt.Errorf("pending_read_budget must be at most 2^24 store reads")
	}
	return nil
}
