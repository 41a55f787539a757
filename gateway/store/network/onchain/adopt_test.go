package onchain

import (
	"context"
	"encoding/json"
	"path/filepath"
	"testing"

	bolt "go.etcd.io/bbolt"

	storagetypes "github.com/datdot/datdot/x/storage/types"
)

// TestAdoptFromChain: on its first run with a fresh orders.db, the
// renewer tracks every live order of its account (all pages of them),
// not ended ones nor other accounts', and keeps what it knew of orders it
// tracked already; it adopts once per file.
func TestAdoptFromChain(t *testing.T) {
	fc := newFakeChain(1000)
	for id := uint64(1); id <= 230; id++ {
		fc.addOrder(id, 5000+id)
	}
	for id := uint64(231); id <= 235; id++ {
		fc.addOrder(id, 900).Status = storagetypes.ORDER_STATUS_EXPIRED
	}
	fc.addOrder(236, 5000).Status = storagetypes.ORDER_STATUS_CANCELLED
	for id := uint64(237); id <= 239; id++ {
		fc.addOrder(id, 5000, "datdot1someoneelse")
	}
	path := filepath.Join(t.TempDir(), "orders.db")
	r := openFakeRenewer(t, fc, path)
	if err := r.Track(context.Background(), 7, "vol7"); err != nil {
		t.Fatal(err)
	}

	// The first run (its context already over: it adopts, makes one
	// pass and returns).
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	r.Run(ctx, 1<<40)
	got, err := r.Tracked()
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 230 {
		t.Fatalf("%d orders tracked after the first run, want the account's 230 live ones", len(got))
	}
	for id := uint64(1); id <= 230; id++ {
		if got[id] != 5000+id {
			t.Fatalf("order %d tracked ending at %d, the chain says %d", id, got[id], 5000+id)
		}
	}
	var vol7 tracked
	r.db.View(func(tx *bolt.Tx) error { return json.Unmarshal(tx.Bucket(bOrders).Get(idKey(7)), &vol7) })
	if vol7.Vol != "vol7" {
		t.Fatalf("order 7, tracked before, lost its volume: %+v", vol7)
	}
	if st := r.Status(); st.Tracked != 230 || st.NextEnd != 5001 {
		t.Fatalf("status %+v: want 230 tracked, next end 5001", st)
	}

	// Once per file: an order placed since is not adopted, by this
	// renewer or the next on the same file (the Shipper tracks the orders
	// it places); a fresh file adopts again.
	fc.addOrder(240, 6000)
	if n, err := r.Adopt(context.Background()); err != nil || n != 0 {
		t.Fatalf("second adoption: %d (%v), want none", n, err)
	}
	r.Close()
	r2 := openFakeRenewer(t, fc, path)
	if n, err := r2.Adopt(context.Background()); err != nil || n != 0 {
		t.Fatalf("adoption by a restarted renewer on the same file: %d (%v), want none", n, err)
	}
	r3 := openFakeRenewer(t, fc, filepath.Join(t.TempDir(), "orders.db"))
	if n, err := r3.Adopt(context.Background()); err != nil || n != 231 {
		t.Fatalf("adoption with a fresh file: %d (%v), want 231", n, err)
	}
}
