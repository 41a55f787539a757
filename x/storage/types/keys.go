package types

import "cosmossdk.io/collections"

const (
	// ModuleName is the name of the storage module; its module account holds
	// hoster stake and order escrow.
	ModuleName = "storage"
	// StoreKey is the KV store key of the module.
	StoreKey = ModuleName
	// GiB is the unit prices are quoted in.
	GiB = uint64(1) << 30
)

// Collection prefixes. Every collection of the keeper has its own prefix.
var (
	ParamsKey              = collections.NewPrefix(0)
	NextOrderIDKey         = collections.NewPrefix(1)
	HostersKey             = collections.NewPrefix(2)
	ActiveIndexKey         = collections.NewPrefix(3)
	ActiveCountKey         = collections.NewPrefix(4)
	OrdersKey              = collections.NewPrefix(5)
	OrdersByOwnerKey       = collections.NewPrefix(6)
	AssignmentsKey         = collections.NewPrefix(7)
	AssignmentsByHosterKey = collections.NewPrefix(8)
	PendingQueueKey        = collections.NewPrefix(9)
	ExpiryQueueKey         = collections.NewPrefix(10)
	UnbondingQueueKey      = collections.NewPrefix(11)
	AssignmentIndexKey     = collections.NewPrefix(12)
	AssignmentCountKey     = collections.NewPrefix(13)
	CommitQueueKey         = collections.NewPrefix(14)
	PruneQueueKey          = collections.NewPrefix(15)
	SeedHashKey            = collections.NewPrefix(16)
	// OrdersByCoreKey indexes orders by core key (for CoreHolders).
	OrdersByCoreKey = collections.NewPrefix(40)
	PayFactorsKey   = collections.NewPrefix(17)
	// PendingQueueKey (9) now keys (size class, retry height, order id).
)

// SlotKey packs a (core index, replica) pair of an order into one uint64, the
// second part of an assignment's key: core in the high 32 bits.
func SlotKey(core, replica uint32) uint64 { return uint64(core)<<32 | uint64(replica) }

// SplitSlotKey is the inverse of SlotKey.
func SplitSlotKey(slot uint64) (core, replica uint32) {
	return uint32(slot >> 32), uint32(slot)
}
