package types

import (
	"fmt"

	"cosmossdk.io/math"

	sdk "github.com/cosmos/cosmos-sdk/types"
)

// DefaultGenesis is an empty registry with default params.
func DefaultGenesis() *GenesisState {
	return &GenesisState{Params: DefaultParams(), NextOrderId: 1}
}

// IsEnded reports whether an order is over (cancelled or expired).
func (o Order) IsEnded() bool {
	return o.Status == ORDER_STATUS_CANCELLED || o.Status == ORDER_STATUS_EXPIRED
}

// Slots is the number of (core, replica) slots of the order.
func (o Order) Slots() int { return len(o.Cores) * int(o.Replicas) }

// Validate checks a genesis state for internal consistency: every reference
// resolves, counters match, derived indexes can be rebuilt and every queue
// holds exactly the entries the orders and hosters require.
// Addresses are parsed with the global bech32 prefix; ValidateWith takes
// the chain's address codec instead.
func (gs GenesisState) Validate() error {
	return gs.ValidateWith(func(s string) error {
		_, err := sdk.AccAddressFromBech32(s)
		return err
	})
}

// ValidateWith is Validate with addresses parsed by parseAddr (for example
// the address codec's StringToBytes, as the keeper does).
func (gs GenesisState) ValidateWith(parseAddr func(string) error) error {
	if err := gs.Params.Validate(); err != nil {
		return fmt.Errorf("params: %w", err)
	}
	if gs.NextOrderId == 0 {
		return fmt.Errorf("next_order_id must be >= 1")
	}

	hosters := make(map[string]*Hoster, len(gs.Hosters))
	activeIdx := make(map[uint64]string)
	for i := range gs.Hosters {
		h := &gs.Hosters[i]
		if err := parseAddr(h.Address); err != nil {
			return fmt.Errorf("hoster %d: address: %w", i, err)
		}
		if hosters[h.Address] != nil {
			return fmt.Errorf("hoster %s listed twice", h.Address)
		}
		hosters[h.Address] = h
		if h.Stake.IsNil() || h.Stake.IsNegative() {
			return fmt.Errorf("hoster %s: negative stake", h.Address)
		}
		if err := ValidatePrice(h.PricePerGibEpoch); err != nil {
			return fmt.Errorf("hoster %s: %w", h.Address, err)
		}
		if err := ValidateEndpoint(h.Endpoint); err != nil {
			return fmt.Errorf("hoster %s: %w", h.Address, err)
		}
		if err := ValidateRegion(h.Region); err != nil {
			return fmt.Errorf("hoster %s: %w", h.Address, err)
		}
		if h.ReplicationAddress != "" {
			if err := ValidatePeerAddress(h.ReplicationAddress); err != nil {
				return fmt.Errorf("hoster %s: %w", h.Address, err)
			}
		}
		switch h.Status {
		case HOSTER_STATUS_ACTIVE:
			if other, dup := activeIdx[h.ActiveIndex]; dup {
				return fmt.Errorf("hosters %s and %s share active index %d", other, h.Address, h.ActiveIndex)
			}
			activeIdx[h.ActiveIndex] = h.Address
		case HOSTER_STATUS_JAILED, HOSTER_STATUS_LEAVING:
		default:
			return fmt.Errorf("hoster %s: invalid status %v", h.Address, h.Status)
		}
	}
	for i := uint64(0); i < uint64(len(activeIdx)); i++ {
		if _, ok := activeIdx[i]; !ok {
			return fmt.Errorf("active hoster indexes are not dense: %d missing", i)
		}
	}

	orders := make(map[uint64]*Order, len(gs.Orders))
	for i := range gs.Orders {
		o := &gs.Orders[i]
		if o.Id == 0 || o.Id >= gs.NextOrderId {
			return fmt.Errorf("order id %d outside 1..%d", o.Id, gs.NextOrderId-1)
		}
		if orders[o.Id] != nil {
			return fmt.Errorf("order %d listed twice", o.Id)
		}
		orders[o.Id] = o
		if err := parseAddr(o.Owner); err != nil {
			return fmt.Errorf("order %d: owner: %w", o.Id, err)
		}
		if o.Status < ORDER_STATUS_PENDING || o.Status > ORDER_STATUS_EXPIRED {
			return fmt.Errorf("order %d: invalid status %v", o.Id, o.Status)
		}
		for j, c := range o.Cores {
			if err := c.ValidateBasic(^uint64(0)); err != nil {
				return fmt.Errorf("order %d core %d: %w", o.Id, j, err)
			}
		}
		if o.Replicas == 0 {
			return fmt.Errorf("order %d: replicas must be >= 1", o.Id)
		}
		if err := ValidateOrderPeers(o.Peers); err != nil {
			return fmt.Errorf("order %d: %w", o.Id, err)
		}
		if o.Escrow.IsNil() || o.Escrow.IsNegative() || o.Paid.IsNil() || o.Paid.IsNegative() ||
			o.MaxPrice.IsNil() || o.MaxPrice.IsNegative() {
			return fmt.Errorf("order %d: escrow, paid and max_price must be non-negative", o.Id)
		}
		if o.EndEpoch < o.StartEpoch {
			return fmt.Errorf("order %d: end_epoch before start_epoch", o.Id)
		}
		if o.IsEnded() && !o.Escrow.IsZero() {
			return fmt.Errorf("order %d is %v but still holds escrow %s", o.Id, o.Status, o.Escrow)
		}
	}

	assignIdx := make(map[uint64]bool, len(gs.Assignments))
	for _, a := range gs.Assignments {
		if a.Index >= uint64(len(gs.Assignments)) || assignIdx[a.Index] {
			return fmt.Errorf("assignment indexes must be a permutation of 0..%d: %s has %d", len(gs.Assignments)-1, SlotString(a.OrderId, a.CoreIndex, a.Replica), a.Index)
		}
		assignIdx[a.Index] = true
	}
	perOrder := make(map[uint64]int)
	perHoster := make(map[string]uint64)
	usedBy := make(map[string]uint64)
	seen := make(map[[2]uint64]bool)
	for _, a := range gs.Assignments {
		o := orders[a.OrderId]
		if o == nil {
			return fmt.Errorf("assignment of unknown order %d", a.OrderId)
		}
		if o.IsEnded() || o.Status == ORDER_STATUS_PENDING {
			return fmt.Errorf("order %d is %v but has assignments", o.Id, o.Status)
		}
		if int(a.CoreIndex) >= len(o.Cores) || a.Replica >= o.Replicas {
			return fmt.Errorf("assignment %s outside the order's shape", SlotString(a.OrderId, a.CoreIndex, a.Replica))
		}
		k := [2]uint64{a.OrderId, SlotKey(a.CoreIndex, a.Replica)}
		if seen[k] {
			return fmt.Errorf("assignment %s listed twice", SlotString(a.OrderId, a.CoreIndex, a.Replica))
		}
		seen[k] = true
		if hosters[a.Hoster] == nil {
			return fmt.Errorf("assignment %s: unknown hoster %s", SlotString(a.OrderId, a.CoreIndex, a.Replica), a.Hoster)
		}
		if a.PricePerGibEpoch.IsNil() || a.PricePerGibEpoch.IsNegative() || a.Paid.IsNil() || a.Paid.IsNegative() {
			return fmt.Errorf("assignment %s: negative amount", SlotString(a.OrderId, a.CoreIndex, a.Replica))
		}
		if a.CommittedLength > o.Cores[a.CoreIndex].Length || a.CommittedBytes > o.Cores[a.CoreIndex].ByteLength {
			return fmt.Errorf("assignment %s: committed beyond the core's length", SlotString(a.OrderId, a.CoreIndex, a.Replica))
		}
		perOrder[a.OrderId]++
		perHoster[a.Hoster]++
		usedBy[a.Hoster] += o.Cores[a.CoreIndex].ByteLength
	}
	for id, o := range orders {
		if (o.Status == ORDER_STATUS_ASSIGNED || o.Status == ORDER_STATUS_ACTIVE) && perOrder[id] != o.Slots() {
			return fmt.Errorf("order %d is %v with %d of %d slots assigned", id, o.Status, perOrder[id], o.Slots())
		}
	}
	for addr, h := range hosters {
		if h.Assignments != perHoster[addr] {
			return fmt.Errorf("hoster %s counts %d assignments, genesis has %d", addr, h.Assignments, perHoster[addr])
		}
		if h.Used != usedBy[addr] {
			return fmt.Errorf("hoster %s counts %d used bytes, its assignments hold %d", addr, h.Used, usedBy[addr])
		}
	}

	pending := make(map[uint64]bool)
	for _, e := range gs.PendingQueue {
		o := orders[e.OrderId]
		if o == nil || o.Status != ORDER_STATUS_PENDING {
			return fmt.Errorf("pending queue entry for order %d, which is not pending", e.OrderId)
		}
		if pending[e.OrderId] {
			return fmt.Errorf("order %d queued twice as pending", e.OrderId)
		}
		if e.Height != o.RetryHeight {
			return fmt.Errorf("pending queue entry of order %d at height %d, the order says %d", e.OrderId, e.Height, o.RetryHeight)
		}
		pending[e.OrderId] = true
	}
	expiring := make(map[uint64]bool)
	for _, e := range gs.ExpiryQueue {
		o := orders[e.OrderId]
		if o == nil || o.IsEnded() {
			return fmt.Errorf("expiry queue entry for order %d, which is missing or ended", e.OrderId)
		}
		if expiring[e.OrderId] {
			return fmt.Errorf("order %d queued twice for expiry", e.OrderId)
		}
		if want := int64(o.EndEpoch * gs.Params.EpochBlocks); e.Height != want {
			return fmt.Errorf("expiry queue entry of order %d at height %d, its end epoch starts at %d", e.OrderId, e.Height, want)
		}
		expiring[e.OrderId] = true
	}
	for id, o := range orders {
		if o.Status == ORDER_STATUS_PENDING && !pending[id] {
			return fmt.Errorf("pending order %d missing from the pending queue", id)
		}
		if !o.IsEnded() && !expiring[id] {
			return fmt.Errorf("live order %d missing from the expiry queue", id)
		}
	}
	unbonding := make(map[string]bool)
	for _, e := range gs.UnbondingQueue {
		h := hosters[e.Hoster]
		if h == nil || h.Status != HOSTER_STATUS_LEAVING || h.UnbondingHeight != e.Height {
			return fmt.Errorf("unbonding entry for %s does not match a leaving hoster", e.Hoster)
		}
		if unbonding[e.Hoster] {
			return fmt.Errorf("hoster %s queued twice for unbonding", e.Hoster)
		}
		unbonding[e.Hoster] = true
	}
	for addr, h := range hosters {
		if h.Status == HOSTER_STATUS_LEAVING && !unbonding[addr] {
			return fmt.Errorf("leaving hoster %s missing from the unbonding queue", addr)
		}
	}
	return validatePayFactors(gs.PayFactors, parseAddr)
}

// validatePayFactors checks every hoster's pay-factor history: factors in
// [0, 1], epochs increasing, and each step's cumulative index equal to what
// the steps before it give (the first step's is its epoch: every epoch
// before it counted 1), so that no history pays more than full price.
func validatePayFactors(fs []PayFactor, parseAddr func(string) error) error {
	last := make(map[string]PayFactor, len(fs))
	for i, f := range fs {
		if err := parseAddr(f.Hoster); err != nil {
			return fmt.Errorf("pay factor %d: hoster: %w", i, err)
		}
		if f.Factor.IsNil() || f.Factor.IsNegative() || f.Factor.GT(math.LegacyOneDec()) {
			return fmt.Errorf("pay factor %d (%s, epoch %d): factor must be in [0, 1]", i, f.Hoster, f.Epoch)
		}
		if f.Cumulative.IsNil() {
			return fmt.Errorf("pay factor %d (%s, epoch %d): cumulative missing", i, f.Hoster, f.Epoch)
		}
		want := math.LegacyNewDecFromInt(math.NewIntFromUint64(f.Epoch))
		if prev, ok := last[f.Hoster]; ok {
			if f.Epoch <= prev.Epoch {
				return fmt.Errorf("pay factor %d (%s): epoch %d does not follow %d", i, f.Hoster, f.Epoch, prev.Epoch)
			}
			want = prev.Cumulative.Add(prev.Factor.MulInt(math.NewIntFromUint64(f.Epoch - prev.Epoch)))
		}
		if !f.Cumulative.Equal(want) {
			return fmt.Errorf("pay factor %d (%s, epoch %d): cumulative %s, the history gives %s", i, f.Hoster, f.Epoch, f.Cumulative, want)
		}
		last[f.Hoster] = f
	}
	return nil
}
