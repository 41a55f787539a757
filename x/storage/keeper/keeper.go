package keeper

import (
	"context"
	"fmt"

	"cosmossdk.io/collections"
	collcodec "cosmossdk.io/collections/codec"
	"cosmossdk.io/core/address"
	corestore "cosmossdk.io/core/store"
	"cosmossdk.io/log/v2"

	"github.com/cosmos/cosmos-sdk/codec"
	sdk "github.com/cosmos/cosmos-sdk/types"
	"github.com/cosmos/gogoproto/proto"

	"github.com/datdot/datdot/x/storage/types"
)

// Keeper holds the x/storage state: the hoster registry and its dense index
// of active hosters, orders with their escrow, assignments, and three
// height-ordered queues (pending orders, order expiry, hoster unbonding).
// All state lives in collections; see types/keys.go for the prefixes.
type Keeper struct {
	cdc          codec.BinaryCodec
	storeService corestore.KVStoreService
	logger       log.Logger
	authority    string
	addressCodec address.Codec

	accountKeeper types.AccountKeeper
	bankKeeper    types.BankKeeper

	Schema      collections.Schema
	Params      collections.Item[types.Params]
	NextOrderID collections.Sequence
	// Hosters by account address.
	Hosters collections.Map[sdk.AccAddress, types.Hoster]
	// ActiveIndex maps 0..ActiveCount-1 to the addresses of the active
	// hosters (a dense array; removal swaps the last entry into the hole).
	ActiveIndex collections.Map[uint64, []byte]
	ActiveCount collections.Item[uint64]
	Orders      collections.Map[uint64, types.Order]
	// OrdersByOwner indexes orders by owner.
	OrdersByOwner collections.KeySet[collections.Pair[sdk.AccAddress, uint64]]
	// OrdersByCore indexes orders by the keys of their cores, until the
	// order is pruned.
	OrdersByCore collections.KeySet[collections.Pair[[]byte, uint64]]
	// Assignments by (order id, SlotKey(core, replica)).
	Assignments collections.Map[collections.Pair[uint64, uint64], types.Assignment]
	// AssignmentsByHoster indexes assignments by hoster.
	AssignmentsByHoster collections.KeySet[collections.Pair[sdk.AccAddress, collections.Pair[uint64, uint64]]]
	// PendingQueue holds (size class, retry height, order id) of orders
	// waiting for hosters; the size class (see sizeClass) keeps big orders
	// from starving small ones.
	PendingQueue collections.KeySet[collections.Triple[uint32, int64, uint64]]
	// ExpiryQueue holds (end height, order id) of live orders.
	ExpiryQueue collections.KeySet[collections.Pair[int64, uint64]]
	// UnbondingQueue holds (due height, hoster) of leaving hosters.
	UnbondingQueue collections.KeySet[collections.Pair[int64, sdk.AccAddress]]
	// AssignmentIndex maps 0..AssignmentCount-1 to the keys (order id,
	// slot) of all live assignments, a dense array like ActiveIndex, so that
	// x/attest can sample assignments uniformly with bounded work.
	AssignmentIndex collections.Map[uint64, collections.Pair[uint64, uint64]]
	AssignmentCount collections.Item[uint64]
	// CommitQueue holds (commit deadline, (order id, slot)) of slots whose
	// hoster has yet to commit.
	CommitQueue collections.KeySet[collections.Pair[int64, collections.Pair[uint64, uint64]]]
	// PruneQueue holds (ended height, order id) of ended orders awaiting
	// deletion.
	PruneQueue collections.KeySet[collections.Pair[int64, uint64]]
	// SeedHash is the hash of the last block this module ended (written in
	// EndBlock), the randomness of the next block's assignments.
	SeedHash collections.Item[[]byte]
	// PayFactors holds every hoster's pay-factor history, (hoster, epoch
	// from which it applies) -> PayFactor (see payIndex).
	PayFactors collections.Map[collections.Pair[sdk.AccAddress, uint64], types.PayFactor]
}

// NewKeeper creates the x/storage keeper. authority is the address allowed to
// change params (normally the x/gov module account). The module account must
// exist with the Burner permission.
func NewKeeper(
	cdc codec.BinaryCodec,
	storeService corestore.KVStoreService,
	logger log.Logger,
	authority string,
	accountKeeper types.AccountKeeper,
	bankKeeper types.BankKeeper,
) Keeper {
	addressCodec := accountKeeper.AddressCodec()
	if _, err := addressCodec.StringToBytes(authority); err != nil {
		panic(fmt.Sprintf("x/storage: invalid authority address %q: %v", authority, err))
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

		Params:      collections.NewItem(sb, types.ParamsKey, "params", codec.CollValue[types.Params](cdc)),
		NextOrderID: collections.NewSequence(sb, types.NextOrderIDKey, "next_order_id"),
		Hosters:     collections.NewMap(sb, types.HostersKey, "hosters", sdk.AccAddressKey, codec.CollValue[types.Hoster](cdc)),
		ActiveIndex: collections.NewMap(sb, types.ActiveIndexKey, "active_index", collections.Uint64Key, collections.BytesValue),
		ActiveCount: collections.NewItem(sb, types.ActiveCountKey, "active_count", collections.Uint64Value),
		Orders:      collections.NewMap(sb, types.OrdersKey, "orders", collections.Uint64Key, codec.CollValue[types.Order](cdc)),
		OrdersByOwner: collections.NewKeySet(sb, types.OrdersByOwnerKey, "orders_by_owner",
			collections.PairKeyCodec(sdk.AccAddressKey, collections.Uint64Key)),
		OrdersByCore: collections.NewKeySet(sb, types.OrdersByCoreKey, "orders_by_core",
			collections.PairKeyCodec(collections.BytesKey, collections.Uint64Key)),
		Assignments: collections.NewMap(sb, types.AssignmentsKey, "assignments",
			collections.PairKeyCodec(collections.Uint64Key, collections.Uint64Key), codec.CollValue[types.Assignment](cdc)),
		AssignmentsByHoster: collections.NewKeySet(sb, types.AssignmentsByHosterKey, "assignments_by_hoster",
			collections.PairKeyCodec(sdk.AccAddressKey, collections.PairKeyCodec(collections.Uint64Key, collections.Uint64Key))),
		PendingQueue: collections.NewKeySet(sb, types.PendingQueueKey, "pending_queue",
			collections.TripleKeyCodec(collections.Uint32Key, collections.Int64Key, collections.Uint64Key)),
		CommitQueue: collections.NewKeySet(sb, types.CommitQueueKey, "commit_queue",
			collections.PairKeyCodec(collections.Int64Key, collections.PairKeyCodec(collections.Uint64Key, collections.Uint64Key))),
		PruneQueue: collections.NewKeySet(sb, types.PruneQueueKey, "prune_queue",
			collections.PairKeyCodec(collections.Int64Key, collections.Uint64Key)),
		SeedHash: collections.NewItem(sb, types.SeedHashKey, "seed_hash", collections.BytesValue),
		PayFactors: collections.NewMap(sb, types.PayFactorsKey, "pay_factors",
			collections.PairKeyCodec(sdk.AccAddressKey, collections.Uint64Key), codec.CollValue[types.PayFactor](cdc)),
		ExpiryQueue: collections.NewKeySet(sb, types.ExpiryQueueKey, "expiry_queue",
			collections.PairKeyCodec(collections.Int64Key, collections.Uint64Key)),
		UnbondingQueue: collections.NewKeySet(sb, types.UnbondingQueueKey, "unbonding_queue",
			collections.PairKeyCodec(collections.Int64Key, sdk.AccAddressKey)),
		AssignmentIndex: collections.NewMap(sb, types.AssignmentIndexKey, "assignment_index", collections.Uint64Key,
			collcodec.KeyToValueCodec(collections.PairKeyCodec(collections.Uint64Key, collections.Uint64Key))),
		AssignmentCount: collections.NewItem(sb, types.AssignmentCountKey, "assignment_count", collections.Uint64Value),
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
func (k Keeper) GetParams(ctx context.Context) (types.Params, error) {
	return k.Params.Get(ctx)
}

func (k Keeper) addrString(a sdk.AccAddress) string {
	s, err := k.addressCodec.BytesToString(a)
	if err != nil {
		// BytesToString fails only for addresses the codec cannot encode,
		// which never reach the store.
		panic(err)
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

// currentEpoch is the payment epoch of the block being executed.
func currentEpoch(ctx context.Context, p types.Params) uint64 {
	h := sdk.UnwrapSDKContext(ctx).BlockHeight()
	if h < 0 {
		h = 0
	}
	return uint64(h) / p.EpochBlocks
}

func blockHeight(ctx context.Context) int64 { return sdk.UnwrapSDKContext(ctx).BlockHeight() }

func (k Keeper) emit(ctx context.Context, ev ...proto.Message) error {
	return sdk.UnwrapSDKContext(ctx).EventManager().EmitTypedEvents(ev...)
}
