package types

import "cosmossdk.io/collections"

const (
	// ModuleName is the name of the attest module; its module account holds
	// the attestation pool (the share of slashed stake that pays attestors).
	ModuleName = "attest"
	// StoreKey is the KV store key of the module.
	StoreKey = ModuleName
)

// Collection prefixes. Every collection of the keeper has its own prefix.
var (
	ParamsKey              = collections.NewPrefix(0)
	NextChallengeIDKey     = collections.NewPrefix(1)
	ChallengesKey          = collections.NewPrefix(2)
	ChallengeDeadlinesKey  = collections.NewPrefix(3)
	ChallengesByHosterKey  = collections.NewPrefix(4)
	ChallengesByOrderKey   = collections.NewPrefix(5)
	ChallengesBySlotKey    = collections.NewPrefix(6)
	RecordsKey             = collections.NewPrefix(7)
	LastBlockHashKey       = collections.NewPrefix(8)
	NextCheckIDKey         = collections.NewPrefix(9)
	ChecksKey              = collections.NewPrefix(10)
	CheckDeadlinesKey      = collections.NewPrefix(11)
	ChecksByAttestorKey    = collections.NewPrefix(12)
	PoolKey                = collections.NewPrefix(13)
)

// Domain-separation tags of the per-block randomness.
var (
	ChallengeSeedTag = []byte("datdot/attest/challenge/v1")
	CheckSeedTag     = []byte("datdot/attest/check/v1")
)
