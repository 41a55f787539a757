package types

import (
	"fmt"

	"cosmossdk.io/math"
)

// Bounds on params that size the per-block and per-message work.
const (
	MaxChallengesPerBlock  = 1024
	MaxIndicesPerChallenge = 64
	MaxProofBytesLimit     = 8 << 20
	MaxAnswersPerMsgLimit  = 4096
	MaxChecksPerInterval   = 256
	MaxAttestorsPerCheck   = 32
)

// DefaultParams are the parameters of a new chain.
func DefaultParams() Params {
	return Params{
		ChallengesPerBlock:  4,
		IndicesPerChallenge: 2,
		ResponseBlocks:      100,
		SlashFraction:       math.LegacyNewDecWithPrec(1, 2), // 1 %
		MaxFaults:           3,
		OwnerShare:          math.LegacyNewDecWithPrec(5, 1), // 50 %
		MaxProofBytes:       1 << 20,
		MaxAnswersPerMsg:    256,
		GasPerProofByte:     2,
		CheckIntervalBlocks: 100,
		ChecksPerInterval:   2,
		AttestorsPerCheck:   3,
		Quorum:              2,
		CheckResponseBlocks: 100,
		AttestorFee:         math.NewInt(1000),
		MaxLatencyMs:        2000,
		MinThroughputBps:    256 << 10,
		MinPayFactor:        math.LegacyNewDecWithPrec(5, 1), // 50 %
		FullPayReputation:   MaxReputation / 2,               // where new hosters start
	}
}

// PayFactor is the factor x/storage applies to the pay of a hoster with
// this reputation: min_pay_factor + (1 - min_pay_factor) x min(r,
// full_pay_reputation) / full_pay_reputation, so a hoster at or above
// full_pay_reputation earns its full price and one at 0 earns
// min_pay_factor of it. Always in [min_pay_factor, 1].
func (p Params) PayFactor(reputation uint32) math.LegacyDec {
	if p.FullPayReputation == 0 || reputation >= p.FullPayReputation {
		return math.LegacyOneDec()
	}
	one := math.LegacyOneDec()
	f := p.MinPayFactor.Add(one.Sub(p.MinPayFactor).MulInt64(int64(reputation)).QuoInt64(int64(p.FullPayReputation)))
	if f.GT(one) {
		return one
	}
	return f
}

// Validate checks every parameter.
func (p Params) Validate() error {
	switch {
	case p.ChallengesPerBlock > MaxChallengesPerBlock:
		return fmt.Errorf("challenges_per_block must be at most %d", MaxChallengesPerBlock)
	case p.IndicesPerChallenge == 0 || p.IndicesPerChallenge > MaxIndicesPerChallenge:
		return fmt.Errorf("indices_per_challenge must be in [1, %d]", MaxIndicesPerChallenge)
	case p.ResponseBlocks == 0 || p.ResponseBlocks > 1_000_000:
		return fmt.Errorf("response_blocks must be in [1, 1000000]")
	case p.SlashFraction.IsNil() || p.SlashFraction.IsNegative() || p.SlashFraction.GT(math.LegacyOneDec()):
		return fmt.Errorf("slash_fraction must be in [0, 1]")
	case p.MaxFaults == 0:
		return fmt.Errorf("max_faults must be positive")
	case p.OwnerShare.IsNil() || p.OwnerShare.IsNegative() || p.OwnerShare.GT(math.LegacyOneDec()):
		return fmt.Errorf("owner_share must be in [0, 1]")
	case p.MaxProofBytes < 64 || p.MaxProofBytes > MaxProofBytesLimit:
		return fmt.Errorf("max_proof_bytes must be in [64, %d]", MaxProofBytesLimit)
	case p.MaxAnswersPerMsg == 0 || p.MaxAnswersPerMsg > MaxAnswersPerMsgLimit:
		return fmt.Errorf("max_answers_per_msg must be in [1, %d]", MaxAnswersPerMsgLimit)
	case p.GasPerProofByte > 1_000_000:
		return fmt.Errorf("gas_per_proof_byte must be at most 1000000")
	case p.ChecksPerInterval > MaxChecksPerInterval:
		return fmt.Errorf("checks_per_interval must be at most %d", MaxChecksPerInterval)
	case p.CheckIntervalBlocks > 0 && (p.AttestorsPerCheck == 0 || p.AttestorsPerCheck > MaxAttestorsPerCheck):
		return fmt.Errorf("attestors_per_check must be in [1, %d]", MaxAttestorsPerCheck)
	case p.CheckIntervalBlocks > 0 && (p.Quorum == 0 || p.Quorum > p.AttestorsPerCheck):
		return fmt.Errorf("quorum must be in [1, attestors_per_check]")
	case p.CheckIntervalBlocks > 0 && (p.CheckResponseBlocks == 0 || p.CheckResponseBlocks > 1_000_000):
		return fmt.Errorf("check_response_blocks must be in [1, 1000000]")
	case p.AttestorFee.IsNil() || p.AttestorFee.IsNegative():
		return fmt.Errorf("attestor_fee must not be negative")
	case p.AttestorFee.BigIntMut().BitLen() > 128:
		return fmt.Errorf("attestor_fee must be below 2^128")
	case p.MinPayFactor.IsNil() || p.MinPayFactor.IsNegative() || p.MinPayFactor.GT(math.LegacyOneDec()):
		return fmt.Errorf("min_pay_factor must be in [0, 1]")
	case p.FullPayReputation == 0 || p.FullPayReputation > MaxReputation:
		return fmt.Errorf("full_pay_reputation must be in [1, %d]", MaxReputation)
	}
	return nil
}
