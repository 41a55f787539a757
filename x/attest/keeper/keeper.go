// Package keeper holds x/attest's state and logic: storage challenges
// sampled every block, their answers and deadlines, and performance checks.
package keeper

import (
	"context"
	"fmt"

	"cosmossdk.io/collections"
	"cosmossdk.io/core/address"
	corestore "cosmossdk.io/core/store"
	"cosmossdk.io/log/v2"
	"cosmossdk.io/math"

	"github.com/cosmos/cosmos-sdk/codec"
	sdk "github.com/cosmos/cosmos-sdk/types"
	"github.com/cosmos/gogoproto/proto"

	"github.com/datdot/datdot/x/attest/types"
)

// Keeper holds the x/attest state. Every collection is keyed so that the
// per-block work reads only what is due (deadline indexes ordered by
// height) or what was sampled (x/storage's dense assignment index).
type Keeper struct {
	cdc          codec.BinaryCodec
	storeService corestore.KVStoreService
	logger       log.Logger
	authority    string
	addressCodec address.Codec

	accountKeeper types.AccountKeeper
	bankKeeper    types.BankKeeper
	storage       types.StorageKeeper
	staking       types.StakingKeeper

	Schema collections.Schema
	Params collections.Item[types.Params]
	// NextChallengeID is the id of the next challenge (from 1).
	NextChallengeID collections.Item[uint64]
	// Challenges holds the open challenges by id.
	Challenges collections.Map[uint64, types.Challenge]
	// ChallengeDeadlines holds (deadline height, id) of open challenges.
	ChallengeDeadlines collections.KeySet[collections.Pair[int64, uint64]]
	// ChallengesByHoster and ChallengesByOrder index open challenges.
	ChallengesByHoster collections.KeySet[collections.Pair[sdk.AccAddress, uint64]]
	ChallengesByOrder  collections.KeySet[collections.Pair[uint64, uint64]]
	// ChallengesBySlot maps (order id, SlotKey(core, replica)) to the open
	// challenge of that slot: a slot has at most one.
	ChallengesBySlot collections.Map[collections.Pair[uint64, uint64], uint64]
	// Records holds each hoster's record, created at its first outcome.
	Records collections.Map[sdk.AccAddress, types.HosterRecord]
	// LastBlockHash is the hash of the last executed block, the seed of the
	// next block's sampling.
	LastBlockHash collections.Item[[]byte]
	// NextCheckID, Checks, CheckDeadlines and ChecksByAttestor hold the open
	// performance checks.
	NextCheckID      collections.Item[uint64]
	Checks           collections.Map[uint64, types.Check]
	CheckDeadlines   collections.KeySet[collections.Pair[int64, uint64]]
	ChecksByAttestor collections.KeySet[collections.Pair[sdk.AccAddress, uint64]]
	// Pool is the attestation pool: the coins of the module account that
	// pay attestor fees.
	Pool collections.Item[math.Int]
}

// NewKeeper creates the x/attest keeper. authority is the address allowed
// to change params (normally the x/gov module account).
func NewKeeper(
	cdc codec.BinaryCodec,
	storeService corestore.KVStoreService,
	logger log.Logger,
	authority string,
	accountKeeper types.AccountKeeper,
	bankKeeper types.BankKeeper,
	storageKeeper types.StorageKeeper,
	stakingKeeper types.StakingKeeper,
) Keeper {
	addressCodec := accountKeeper.AddressCodec()
	if _, err := addressCodec.StringToBytes(authority); err != nil {
		panic(fmt.Sprintf("x/attest: invalid authority address %q: %v", authority, err))
	}
	sb := collections.NewSchemaBuilder(storeService)
	k := Keeper{
		cdc:           cdc,
		storeService:  storeService,
		logger:        logger.With("module", "x/"+types.ModuleName),
		authority:     authority,
		addressCodec:  addressCodec,
		accountKeeper: accountKeeper,
		bankKeeper:    bankKeeper,
		storage:       storageKeeper,
		staking:       stakingKeeper,

		Params:          collections.NewItem(sb, types.ParamsKey, "params", codec.CollValue[types.Params](cdc)),
		NextChallengeID: collections.NewItem(sb, types.NextChallengeIDKey, "next_challenge_id", collections.Uint64Value),
		Challenges: collections.NewMap(sb, types.ChallengesKey, "challenges", collections.Uint64Key,
			codec.CollValue[types.Challenge](cdc)),
		ChallengeDeadlines: collections.NewKeySet(sb, types.ChallengeDeadlinesKey, "challenge_deadlines",
			collections.PairKeyCodec(collections.Int64Key, collections.Uint64Key)),
		ChallengesByHoster: collections.NewKeySet(sb, types.ChallengesByHosterKey, "challenges_by_hoster",
			collections.PairKeyCodec(sdk.AccAddressKey, collections.Uint64Key)),
		ChallengesByOrder: collections.NewKeySet(sb, types.ChallengesByOrderKey, "challenges_by_order",
			collections.PairKeyCodec(collections.Uint64Key, collections.Uint64Key)),
		ChallengesBySlot: collections.NewMap(sb, types.ChallengesBySlotKey, "challenges_by_slot",
			collections.PairKeyCodec(collections.Uint64Key, collections.Uint64Key), collections.Uint64Value),
		Records: collections.NewMap(sb, types.RecordsKey, "records", sdk.AccAddressKey,
			codec.CollValue[types.HosterRecord](cdc)),
		LastBlockHash: collections.NewItem(sb, types.LastBlockHashKey, "last_block_hash", collections.BytesValue),
		NextCheckID:   collections.NewItem(sb, types.NextCheckIDKey, "next_check_id", collections.Uint64Value),
		Checks: collections.NewMap(sb, types.ChecksKey, "checks", collections.Uint64Key,
			codec.CollValue[types.Check](cdc)),
		CheckDeadlines: collections.NewKeySet(sb, types.CheckDeadlinesKey, "check_deadlines",
			collections.PairKeyCodec(collections.Int64Key, collections.Uint64Key)),
		ChecksByAttestor: collections.NewKeySet(sb, types.ChecksByAttestorKey, "checks_by_attestor",
			collections.PairKeyCodec(sdk.AccAddressKey, collections.Uint64Key)),
		Pool: collections.NewItem(sb, types.PoolKey, "pool", sdk.IntValue),
	}
	schema, err := sb.Build()
	if err != nil {
		panic(err)
	}
	k.Schema = schema
	return k
}

// GetAuthority returns the address allowed to update params.
func (k Keeper) GetAuthority() string { return k.authority }

// Logger returns the module logger.
func (k Keeper) Logger() log.Logger { return k.logger }

// GetParams returns the current params.
func (k Keeper) GetParams(ctx context.Context) (types.Params, error) { return k.Params.Get(ctx) }

func (k Keeper) addrString(a sdk.AccAddress) string {
	s, err := k.addressCodec.BytesToString(a)
	if err != nil {
		panic(err) // only addresses the codec produced reach here
	}
	return s
}

func (k Keeper) parseAddr(s, field string) (sdk.AccAddress, error) {
	bz, err := k.addressCodec.StringToBytes(s)
	if err != nil {
		return nil, fmt.Errorf("%s %q: %w: %v", field, s, types.ErrInvalidAddress, err)
	}
	if len(bz) == 0 {
		return nil, fmt.Errorf("%s: %w: empty", field, types.ErrInvalidAddress)
	}
	return bz, nil
}

// record returns a hoster's record, a fresh one if it has none yet.
func (k Keeper) record(ctx context.Context, addr sdk.AccAddress) (types.HosterRecord, error) {
	r, err := k.Records.Get(ctx, addr)
	if err == nil {
		return r, nil
	}
	if errorsIsNotFound(err) {
		return types.NewHosterRecord(k.addrString(addr)), nil
	}
	return r, err
}

func (k Keeper) emit(ctx context.Context, ev ...proto.Message) error {
	return sdk.UnwrapSDKContext(ctx).EventManager().EmitTypedEvents(ev...)
}

func blockHeight(ctx context.Context) int64 { return sdk.UnwrapSDKContext(ctx).BlockHeight() }

func slotKey(core, replica uint32) uint64 { return uint64(core)<<32 | uint64(replica) }
