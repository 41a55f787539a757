package onchain

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"path/filepath"
	"slices"
	"sync"
	"testing"

	"cosmossdk.io/math"
	sdk "github.com/cosmos/cosmos-sdk/types"
	"github.com/cosmos/cosmos-sdk/types/query"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/datdot/datdot/chainclient"
	storagetypes "github.com/datdot/datdot/x/storage/types"
)

// fakeChain is the chain as a Renewer sees it (renewChain), in memory:
// one block per epoch, orders by id, and the renewal txs it is sent.
// A broadcast tx stays pending until someone Waits for it; it is then
// included. Waiting for a tx that is not pending is ErrExpired.
type fakeChain struct {
	storagetypes.QueryClient // the queries the renewer does not use (nil: they panic)

	mu     sync.Mutex
	owner  string
	height int64
	orders map[uint64]*storagetypes.Order
	// refuse: a tx naming one of these orders is refused by CheckTx
	// (nothing is broadcast); failInBlock: it is included and fails.
	refuse, failInBlock map[uint64]bool
	attempts            [][]uint64 // the orders of every Send, refused or not
	broadcast           [][]uint64 // the orders of every tx broadcast
	pending             map[string][]*storagetypes.MsgExtendOrder
	// crash makes Send return a transport error once the tx is
	// broadcast (the process dies there, as far as the caller knows).
	crash bool
	// onBroadcast, when set, is called as a tx is broadcast.
	onBroadcast func(chainclient.Sent)
}

func newFakeChain(height int64) *fakeChain {
	return &fakeChain{owner: "datdot1owner", height: height, orders: map[uint64]*storagetypes.Order{},
		refuse: map[uint64]bool{}, failInBlock: map[uint64]bool{}, pending: map[string][]*storagetypes.MsgExtendOrder{}}
}

// addOrder adds a live order of the owner (or of owner, when given)
// ending at end.
func (f *fakeChain) addOrder(id, end uint64, owner ...string) *storagetypes.Order {
	f.mu.Lock()
	defer f.mu.Unlock()
	o := &storagetypes.Order{Id: id, Owner: f.owner, StartEpoch: 1, EndEpoch: end, Status: storagetypes.ORDER_STATUS_ACTIVE,
		Replicas: 1, MaxPrice: math.NewInt(100), Escrow: math.NewInt(1_000_000), Paid: math.ZeroInt(),
		Cores: []storagetypes.Core{{ByteLength: 1 << 16}}}
	if len(owner) > 0 {
		o.Owner = owner[0]
	}
	f.orders[id] = o
	return o
}

func (f *fakeChain) end(id uint64) uint64 {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.orders[id].EndEpoch
}

func (f *fakeChain) Address() string                   { return f.owner }
func (f *fakeChain) Storage() storagetypes.QueryClient { return f }

func (f *fakeChain) Height(context.Context) (int64, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.height, nil
}

func (f *fakeChain) Params(context.Context, *storagetypes.QueryParamsRequest, ...grpc.CallOption) (*storagetypes.QueryParamsResponse, error) {
	return &storagetypes.QueryParamsResponse{Params: storagetypes.Params{Denom: "udot", EpochBlocks: 1}}, nil
}

func (f *fakeChain) Order(_ context.Context, req *storagetypes.QueryOrderRequest, _ ...grpc.CallOption) (*storagetypes.QueryOrderResponse, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	o := f.orders[req.Id]
	if o == nil {
		return nil, status.Errorf(codes.NotFound, "order %d not found", req.Id)
	}
	return &storagetypes.QueryOrderResponse{Order: *o, Accrued: math.ZeroInt(), CurrentEpoch: uint64(f.height)}, nil
}

// OrdersByOwner pages by order id; the page key is the next id.
func (f *fakeChain) OrdersByOwner(_ context.Context, req *storagetypes.QueryOrdersByOwnerRequest, _ ...grpc.CallOption) (*storagetypes.QueryOrdersByOwnerResponse, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	var ids []uint64
	for id, o := range f.orders {
		if o.Owner == req.Owner {
			ids = append(ids, id)
		}
	}
	slices.Sort(ids)
	var from uint64
	limit := 100
	if p := req.Pagination; p != nil {
		if len(p.Key) == 8 {
			from = binary.BigEndian.Uint64(p.Key)
		}
		if p.Limit > 0 {
			limit = int(p.Limit)
		}
	}
	res := &storagetypes.QueryOrdersByOwnerResponse{Pagination: &query.PageResponse{}}
	for _, id := range ids {
		if id < from {
			continue
		}
		if len(res.Orders) == limit {
			res.Pagination.NextKey = binary.BigEndian.AppendUint64(nil, id)
			break
		}
		res.Orders = append(res.Orders, *f.orders[id])
	}
	return res, nil
}

func orderIDs(msgs []sdk.Msg) []uint64 {
	var ids []uint64
	for _, m := range msgs {
		ids = append(ids, m.(*storagetypes.MsgExtendOrder).OrderId)
	}
	return ids
}

func (f *fakeChain) Send(_ context.Context, before func(chainclient.Sent) error, msgs ...sdk.Msg) (chainclient.Sent, error) {
	f.mu.Lock()
	ids := orderIDs(msgs)
	f.attempts = append(f.attempts, ids)
	for _, id := range ids {
		if f.refuse[id] {
			f.mu.Unlock()
			return chainclient.Sent{}, fmt.Errorf("%w: simulate: order %d refused", chainclient.ErrRefused, id)
		}
	}
	s := chainclient.Sent{Hash: fmt.Sprintf("TX%d", len(f.attempts)), TimeoutHeight: f.height + 10}
	f.mu.Unlock()
	if before != nil {
		if err := before(s); err != nil {
			return chainclient.Sent{}, err
		}
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.onBroadcast != nil {
		f.onBroadcast(s)
	}
	f.broadcast = append(f.broadcast, ids)
	var ext []*storagetypes.MsgExtendOrder
	for _, m := range msgs {
		ext = append(ext, m.(*storagetypes.MsgExtendOrder))
	}
	f.pending[s.Hash] = ext
	if f.crash {
		return s, errors.New("chainclient: broadcast (the tx may still be included; wait for it): connection reset")
	}
	return s, nil
}

func (f *fakeChain) Wait(_ context.Context, s chainclient.Sent) (*chainclient.TxResult, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	msgs, ok := f.pending[s.Hash]
	if !ok {
		return nil, chainclient.ErrExpired
	}
	delete(f.pending, s.Hash)
	f.height++
	res := &chainclient.TxResult{Hash: s.Hash, Height: f.height}
	for _, m := range msgs {
		if f.failInBlock[m.OrderId] {
			res.Code, res.Log = 5, fmt.Sprintf("order %d: refused", m.OrderId)
			return nil, &chainclient.TxError{Result: res}
		}
	}
	for _, m := range msgs {
		o := f.orders[m.OrderId]
		o.EndEpoch += m.ExtraEpochs
		o.Escrow = o.Escrow.Add(m.TopUp.Amount)
	}
	return res, nil
}

func (f *fakeChain) counts() (attempts, broadcast [][]uint64) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.attempts), slices.Clone(f.broadcast)
}

func openFakeRenewer(t *testing.T, fc *fakeChain, path string) *Renewer {
	t.Helper()
	r, err := openRenewer(RenewConfig{Path: path, Margin: 50, Epochs: 200, Batch: 50}, fc)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.Close() })
	return r
}

// recordedSent returns the renewal tx recorded in r's file, if any.
func recordedSent(t *testing.T, r *Renewer) (sentTx, bool) {
	rec, found, err := r.sentRecord()
	if err != nil {
		t.Error(err)
	}
	return rec, found
}

// TestRenewalTxRecordedBeforeBroadcast: a renewal tx is in orders.db
// before it is broadcast, so a gateway that dies once it is broadcast
// and restarts waits for it (it extends each order once, not twice); a
// recorded tx that expired is forgotten and the orders are extended anew.
func TestRenewalTxRecordedBeforeBroadcast(t *testing.T) {
	for _, expired := range []bool{false, true} {
		t.Run(fmt.Sprintf("expired=%v", expired), func(t *testing.T) {
			ctx := context.Background()
			fc := newFakeChain(1000)
			path := filepath.Join(t.TempDir(), "orders.db")
			r := openFakeRenewer(t, fc, path)
			ids := []uint64{1, 2, 3}
			for _, id := range ids {
				fc.addOrder(id, 1030) // due: within the margin of 50
				if err := r.Track(ctx, id, fmt.Sprintf("vol%d", id)); err != nil {
					t.Fatal(err)
				}
			}
			recorded := false
			fc.onBroadcast = func(s chainclient.Sent) {
				rec, ok := recordedSent(t, r)
				recorded = ok && rec.Hash == s.Hash && len(rec.Ends) == len(ids)
			}
			fc.crash = true
			if _, err := r.Renew(ctx); err == nil {
				t.Fatal("a pass whose broadcast failed reported no error")
			}
			if !recorded {
				t.Fatal("the renewal tx was broadcast before it was recorded in orders.db")
			}
			if _, ok := recordedSent(t, r); !ok {
				t.Fatal("the record of a tx that may be included was dropped")
			}
			for _, id := range ids {
				if got := fc.end(id); got != 1030 {
					t.Fatalf("order %d ends at %d before the tx was included", id, got)
				}
			}

			// Restart: a new renewer on the same file. The tx is still
			// pending (it was never waited for).
			r.Close()
			fc.mu.Lock()
			fc.crash, fc.onBroadcast = false, nil
			if expired {
				clear(fc.pending) // it was never included and its timeout passed
			}
			fc.mu.Unlock()
			r2 := openFakeRenewer(t, fc, path)
			res, err := r2.Renew(ctx)
			if err != nil {
				t.Fatal(err)
			}
			_, broadcast := fc.counts()
			want := 1 // waited for the first tx
			if expired {
				want = 2 // it never landed: extended anew
			}
			if len(broadcast) != want || res.Renewed != 3 || res.Txs != 1 {
				t.Fatalf("restarted pass: %d txs broadcast in all, result %+v; want %d txs and 3 renewals in 1", len(broadcast), res, want)
			}
			tracked, err := r2.Tracked()
			if err != nil {
				t.Fatal(err)
			}
			for _, id := range ids {
				// Extended once, to the pass's epoch + margin + epochs.
				if got := fc.end(id); got != 1000+50+200 || tracked[id] != got {
					t.Fatalf("order %d ends at %d on chain, %d in orders.db; want 1250 (extended once)", id, got, tracked[id])
				}
			}
			if _, ok := recordedSent(t, r2); ok {
				t.Fatal("the tx record is kept after the tx was settled")
			}
		})
	}
}

// TestRenewalRefusedBatchSplit: a batch the chain refuses (by CheckTx,
// or included and failed) is split in halves until the order at fault is
// alone; every other order is extended once, the refused ones are left,
// and the next pass tries them again (only them).
func TestRenewalRefusedBatchSplit(t *testing.T) {
	ctx := context.Background()
	fc := newFakeChain(1000)
	r := openFakeRenewer(t, fc, filepath.Join(t.TempDir(), "orders.db"))
	for id := uint64(1); id <= 6; id++ {
		fc.addOrder(id, 1030)
		if err := r.Track(ctx, id, fmt.Sprintf("vol%d", id)); err != nil {
			t.Fatal(err)
		}
	}
	fc.refuse[2] = true      // CheckTx refuses it
	fc.failInBlock[5] = true // included, fails
	res, err := r.Renew(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if res.Renewed != 4 || res.Failed != 2 {
		t.Fatalf("pass: %+v, want 4 renewed and 2 failed", res)
	}
	attempts, _ := fc.counts()
	want := [][]uint64{{1, 2, 3, 4, 5, 6}, {1, 2, 3}, {1}, {2, 3}, {2}, {3}, {4, 5, 6}, {4}, {5, 6}, {5}, {6}}
	if !slices.EqualFunc(attempts, want, slices.Equal) {
		t.Fatalf("txs tried: %v, want halves down to the refused orders: %v", attempts, want)
	}
	for id := uint64(1); id <= 6; id++ {
		got := fc.end(id)
		switch id {
		case 2, 5:
			if got != 1030 {
				t.Fatalf("refused order %d ends at %d", id, got)
			}
		default:
			if got != 1250 {
				t.Fatalf("order %d ends at %d, want 1250 (extended once)", id, got)
			}
		}
	}

	// The next pass, the chain no longer refusing them: the two left are
	// extended, in one tx, and no other.
	fc.mu.Lock()
	fc.refuse, fc.failInBlock = map[uint64]bool{}, map[uint64]bool{}
	fc.mu.Unlock()
	res, err = r.Renew(ctx)
	if err != nil {
		t.Fatal(err)
	}
	attempts, _ = fc.counts()
	if res.Renewed != 2 || res.Txs != 1 || !slices.Equal(attempts[len(want)], []uint64{2, 5}) {
		t.Fatalf("next pass: %+v, tx %v; want orders 2 and 5 in one tx", res, attempts[len(want):])
	}
	if fc.end(2) <= 1030 || fc.end(5) <= 1030 || fc.end(1) != 1250 {
		t.Fatalf("after the next pass orders end at 1:%d 2:%d 5:%d", fc.end(1), fc.end(2), fc.end(5))
	}
	if st := r.Status(); st.Failed != 2 || st.Renewed != 6 {
		t.Fatalf("status %+v: want 6 renewals and 2 failures", st)
	}
}
