package types

import (
	"fmt"

	"cosmossdk.io/math"
)

// MaxReputation is the top of the reputation scale; new hosters start at
// half of it.
const MaxReputation = 1000

// DefaultGenesis is the state of a new chain.
func DefaultGenesis() *GenesisState {
	return &GenesisState{
		Params:          DefaultParams(),
		NextChallengeId: 1,
		NextCheckId:     1,
		Pool:            math.ZeroInt(),
	}
}

// NewHosterRecord is the record of a hoster x/attest has not seen yet.
func NewHosterRecord(addr string) HosterRecord {
	return HosterRecord{
		Address: addr, Slashed: math.ZeroInt(), Reputation: MaxReputation / 2, AttestorFees: math.ZeroInt(),
	}
}

// SlotKey identifies a slot (order, core, replica) for the one-open-
// challenge-per-slot rule.
type SlotKey struct {
	Order   uint64
	Core    uint32
	Replica uint32
}

// Validate checks a challenge on its own.
func (c Challenge) Validate(maxIndices uint32) error {
	switch {
	case c.Id == 0:
		return fmt.Errorf("challenge id 0")
	case c.Hoster == "":
		return fmt.Errorf("challenge %d: empty hoster", c.Id)
	case len(c.Indices) == 0 || (maxIndices > 0 && len(c.Indices) > int(maxIndices)):
		return fmt.Errorf("challenge %d: %d indices", c.Id, len(c.Indices))
	case len(c.TreeHash) != 32:
		return fmt.Errorf("challenge %d: tree hash of %d bytes", c.Id, len(c.TreeHash))
	case c.DeadlineHeight < c.IssuedHeight:
		return fmt.Errorf("challenge %d: deadline %d before issue %d", c.Id, c.DeadlineHeight, c.IssuedHeight)
	}
	for _, i := range c.Indices {
		if i >= c.Length {
			return fmt.Errorf("challenge %d: index %d beyond length %d", c.Id, i, c.Length)
		}
	}
	return nil
}

// Validate checks a performance check on its own.
func (c Check) Validate() error {
	switch {
	case c.Id == 0:
		return fmt.Errorf("check id 0")
	case c.Hoster == "":
		return fmt.Errorf("check %d: empty hoster", c.Id)
	case len(c.Attestors) == 0 || len(c.Attestors) > MaxAttestorsPerCheck:
		return fmt.Errorf("check %d: %d attestors", c.Id, len(c.Attestors))
	case len(c.TreeHash) != 32 || len(c.CoreKey) != 32:
		return fmt.Errorf("check %d: tree hash or core key not 32 bytes", c.Id)
	case c.DeadlineHeight < c.IssuedHeight:
		return fmt.Errorf("check %d: deadline before issue", c.Id)
	}
	att := make(map[string]bool, len(c.Attestors))
	for _, a := range c.Attestors {
		if a == "" || att[a] || a == c.Hoster {
			return fmt.Errorf("check %d: attestor %q empty, repeated or the checked hoster", c.Id, a)
		}
		att[a] = true
	}
	seen := make(map[string]bool, len(c.Reports))
	for _, r := range c.Reports {
		if !att[r.Attestor] || seen[r.Attestor] {
			return fmt.Errorf("check %d: report by %q who is not an attestor or reported twice", c.Id, r.Attestor)
		}
		seen[r.Attestor] = true
	}
	for _, i := range c.Indices {
		if i >= c.Length {
			return fmt.Errorf("check %d: index %d beyond length %d", c.Id, i, c.Length)
		}
	}
	return nil
}

// Validate checks a genesis state: params, ids below the next ids, one open
// challenge per slot, sane records, a non-negative pool.
func (gs GenesisState) Validate() error {
	if err := gs.Params.Validate(); err != nil {
		return fmt.Errorf("%w: params: %w", ErrInvalidGenesis, err)
	}
	if gs.NextChallengeId == 0 || gs.NextCheckId == 0 {
		return fmt.Errorf("%w: next_challenge_id and next_check_id must be at least 1", ErrInvalidGenesis)
	}
	ids := make(map[uint64]bool, len(gs.Challenges))
	slots := make(map[SlotKey]bool, len(gs.Challenges))
	for _, c := range gs.Challenges {
		if err := c.Validate(MaxIndicesPerChallenge); err != nil {
			return fmt.Errorf("%w: %w", ErrInvalidGenesis, err)
		}
		if c.Id >= gs.NextChallengeId || ids[c.Id] {
			return fmt.Errorf("%w: challenge id %d repeated or not below next_challenge_id", ErrInvalidGenesis, c.Id)
		}
		ids[c.Id] = true
		s := SlotKey{c.OrderId, c.CoreIndex, c.Replica}
		if slots[s] {
			return fmt.Errorf("%w: two open challenges for slot %v", ErrInvalidGenesis, s)
		}
		slots[s] = true
	}
	cids := make(map[uint64]bool, len(gs.Checks))
	for _, c := range gs.Checks {
		if err := c.Validate(); err != nil {
			return fmt.Errorf("%w: %w", ErrInvalidGenesis, err)
		}
		if c.Id >= gs.NextCheckId || cids[c.Id] {
			return fmt.Errorf("%w: check id %d repeated or not below next_check_id", ErrInvalidGenesis, c.Id)
		}
		cids[c.Id] = true
	}
	recs := make(map[string]bool, len(gs.Records))
	for _, r := range gs.Records {
		switch {
		case r.Address == "" || recs[r.Address]:
			return fmt.Errorf("%w: record address %q empty or repeated", ErrInvalidGenesis, r.Address)
		case r.Reputation > MaxReputation:
			return fmt.Errorf("%w: record %s: reputation %d above %d", ErrInvalidGenesis, r.Address, r.Reputation, MaxReputation)
		case r.Slashed.IsNil() || r.Slashed.IsNegative() || r.AttestorFees.IsNil() || r.AttestorFees.IsNegative():
			return fmt.Errorf("%w: record %s: negative or missing amount", ErrInvalidGenesis, r.Address)
		}
		recs[r.Address] = true
	}
	if len(gs.LastBlockHash) != 0 && len(gs.LastBlockHash) != 32 {
		return fmt.Errorf("%w: last_block_hash must be empty or 32 bytes", ErrInvalidGenesis)
	}
	if gs.Pool.IsNil() || gs.Pool.IsNegative() {
		return fmt.Errorf("%w: pool must not be negative", ErrInvalidGenesis)
	}
	return nil
}
