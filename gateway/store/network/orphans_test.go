package network

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"maps"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/datdot/datdot/gateway/store"
	"github.com/datdot/datdot/gateway/store/local"
	"github.com/datdot/datdot/volume"
)

// fakeChain is the chain account's orders as the sweep of orphans and
// compaction see them: one order per volume (by its first core key);
// Retire and CancelOrder end an order.
type fakeChain struct {
	mu        sync.Mutex
	master    []byte
	next      uint64
	orders    map[uint64][32]byte
	names     map[uint64]string // order id -> volume hex (or a label)
	cancelled []string          // names of the orders given up, in order
	listed    int               // calls of OwnedOrders
}

func newFakeChain(master []byte) *fakeChain {
	return &fakeChain{master: master, next: 1, orders: map[uint64][32]byte{}, names: map[uint64]string{}}
}

func firstCoreKey(t *testing.T, master []byte, vol string) [32]byte {
	t.Helper()
	id, err := hex.DecodeString(vol)
	if err != nil {
		t.Fatal(err)
	}
	priv, err := volume.CoreKey(master, id, 0)
	if err != nil {
		t.Fatal(err)
	}
	return volume.PublicCoreKey(priv)
}

// place places the order of volume vol (hex).
func (f *fakeChain) place(t *testing.T, vol string) {
	f.placeKey(vol, firstCoreKey(t, f.master, vol))
}

func (f *fakeChain) placeKey(name string, key [32]byte) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.orders[f.next] = key
	f.names[f.next] = name
	f.next++
}

func (f *fakeChain) OwnedOrders(context.Context) (map[uint64][32]byte, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.listed++
	return maps.Clone(f.orders), nil
}

func (f *fakeChain) CancelOrder(_ context.Context, id uint64) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if _, ok := f.orders[id]; ok {
		delete(f.orders, id)
		f.cancelled = append(f.cancelled, f.names[id])
	}
	return nil
}

func (f *fakeChain) Retire(_ context.Context, v VolumeRef) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	for id, k := range f.orders {
		if k == v.Keys[0] {
			delete(f.orders, id)
			f.cancelled = append(f.cancelled, "retired "+f.names[id])
		}
	}
	return nil
}

func (f *fakeChain) given() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	out := slices.Clone(f.cancelled)
	slices.Sort(out)
	return out
}

func (f *fakeChain) calls() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.listed
}

// TestOrphanOrdersGivenUpAfterRecover: a gateway recovered from the
// metadata log (no usage records, no local volumes) gives up the orders
// of the chain account whose volumes nothing references: the volume
// whose objects were all deleted and an order of a volume no metadata
// ever named, only once the metadata log has shipped what was committed
// when they were found. It never gives up the order of a volume that
// holds a live object, the part of an upload not yet completed, a blob
// freed but not yet reaped (that one goes once it is reaped), the volume
// it is writing, or the metadata log's generations; once nothing is left
// to wait for, the sweep stops listing the account's orders, also after
// a restart.
func TestOrphanOrdersGivenUpAfterRecover(t *testing.T) {
	chain := newFakeChain(compactMaster)
	e := newCompactEnv(t, chain)
	// The part of an upload never completed, written first: it shares
	// the first volume with objects that are then all deleted. The
	// metadata log does not carry uploads in progress (their clients
	// start them again): for the recovered gateway that volume holds
	// nothing.
	if err := e.meta.CreateUpload(ctx, store.Upload{Bucket: "b", Key: "up", UploadID: "u1"}); err != nil {
		t.Fatal(err)
	}
	data := make([]byte, 70<<10)
	rand.Read(data)
	part, err := store.WriteBlob(ctx, e.blobs, bytes.NewReader(data), int64(len(data)), nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.meta.PutPart(ctx, "b", "up", "u1", store.Part{Number: 1, Size: int64(len(data)), Blob: part}); err != nil {
		t.Fatal(err)
	}
	partVol := part.Extents[0].Volume
	byVol := map[string][]string{}
	var vols []string
	for i := range 30 {
		key := fmt.Sprintf("o%02d", i)
		obj := e.put(key, 100<<10+i)
		vol := obj.Parts[0].Blob.Extents[0].Volume
		if len(byVol[vol]) == 0 && vol != partVol {
			vols = append(vols, vol)
		}
		byVol[vol] = append(byVol[vol], key)
	}
	if len(vols) < 3 {
		t.Fatalf("the objects filled %d volumes after the part's, want 3 or more", len(vols))
	}
	deadVol, liveVol := vols[0], vols[1]
	for _, key := range append(byVol[partVol], byVol[deadVol]...) {
		e.del(key)
	}
	for _, v := range append([]string{partVol}, vols...) {
		chain.place(t, v)
	}
	// An order of a volume no metadata ever named (a crash before its
	// first blob was referenced), and the metadata log's generation.
	never := make([]byte, 16)
	rand.Read(never)
	chain.place(t, hex.EncodeToString(never))
	neverName := hex.EncodeToString(never)
	var logKey [32]byte
	rand.Read(logKey[:])
	chain.placeKey("metalog", logKey)
	var changes []local.Change
	if err := e.meta.Snapshot(ctx, func(c local.Change) error { changes = append(changes, c); return nil }); err != nil {
		t.Fatal(err)
	}
	e.close()

	// Recovered without its data: the metadata rebuilt from the log.
	r := &compactEnv{t: t, dir: t.TempDir(), want: map[string][]byte{}, cfg: e.cfg}
	r.cfg.Dir, r.cfg.UsagePath = filepath.Join(r.dir, "net"), filepath.Join(r.dir, "volumes.db")
	r.cfg.Compact.Orders = chain
	r.cfg.Compact.Spare = func() (map[[32]byte]bool, error) { return map[[32]byte]bool{logKey: true}, nil }
	meta, err := local.OpenMeta(filepath.Join(r.dir, "meta.db"))
	if err != nil {
		t.Fatal(err)
	}
	if err := meta.ApplyChanges(ctx, changes); err != nil {
		t.Fatal(err)
	}
	if err := meta.FinishRebuild(ctx); err != nil {
		t.Fatal(err)
	}
	meta.Close()
	r.open()
	t.Cleanup(r.close)
	js := &journalShipper{Meta: r.meta}
	r.b.SetRelocator(js)
	// The recovered gateway writes: its open volume has an order and
	// holds the part of an upload in progress.
	r.put("new", 5000)
	chain.place(t, openVol(r.b).Hex)
	if err := r.meta.CreateUpload(ctx, store.Upload{Bucket: "b", Key: "up2", UploadID: "u2"}); err != nil {
		t.Fatal(err)
	}
	part2, err := store.WriteBlob(ctx, r.blobs, bytes.NewReader(data), int64(len(data)), nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := r.meta.PutPart(ctx, "b", "up2", "u2", store.Part{Number: 1, Size: int64(len(data)), Blob: part2}); err != nil {
		t.Fatal(err)
	}

	// A blob freed in a volume that has no usage record (one an earlier
	// version referenced without recording it): its volume is kept while
	// the blob waits for the reaper.
	held := make([]byte, 16)
	rand.Read(held)
	heldVol := hex.EncodeToString(held)
	ghost := store.BlobRef{ID: "ghost", Size: 100, Extents: []store.Extent{{Volume: heldVol, Offset: 0, Length: 100}}}
	if err := r.meta.AddPending(ctx, []store.BlobRef{ghost}, time.Now().Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	if _, _, err := r.meta.PutObject(ctx, "b", store.Object{Key: "ghost", Size: 100, Parts: []store.Part{{Number: 1, Size: 100, Blob: ghost}}}, nil); err != nil {
		t.Fatal(err)
	}
	chain.place(t, heldVol)
	_, freed, err := r.meta.DeleteObject(ctx, "b", "ghost", "")
	if err != nil || len(freed) != 1 {
		t.Fatalf("delete ghost: freed %v (%v)", freed, err)
	}
	pass := func(what string) CompactStats {
		t.Helper()
		st, err := r.b.Compact(ctx)
		if err != nil {
			t.Fatalf("%s: %v", what, err)
		}
		return st
	}
	pass("first pass")
	if got := chain.given(); len(got) != 0 {
		t.Fatalf("orders given up before the metadata log shipped: %v", got)
	}
	js.ship(t)
	st := pass("after the ship")
	want := []string{deadVol, neverName, partVol}
	slices.Sort(want)
	if got := chain.given(); !slices.Equal(got, want) || st.Orphans != 3 {
		t.Fatalf("given up %v (%+v), want the orders of the dead volumes and of the unnamed one %v", got, st, want)
	}

	// A restart keeps the sweep going.
	r.close()
	r.open()
	js = &journalShipper{Meta: r.meta}
	r.b.SetRelocator(js)
	for range 2 {
		pass("with a freed blob on the queue")
		js.ship(t)
	}
	if got := chain.given(); !slices.Equal(got, want) {
		t.Fatalf("given up %v while a freed blob waits for the reaper, want %v", got, want)
	}
	claimed, err := r.meta.ClaimDeletes(ctx, time.Now().Add(time.Hour), []string{"ghost"}, 1, nil)
	if err != nil || len(claimed) != 1 {
		t.Fatalf("claim ghost: %v (%v)", claimed, err)
	}
	if err := r.meta.FinishDeletes(ctx, idsOf(claimed)); err != nil {
		t.Fatal(err)
	}
	pass("after the reaper")
	js.ship(t)
	pass("after the reaper and the ship")
	want = append(want, heldVol)
	slices.Sort(want)
	if got := chain.given(); !slices.Equal(got, want) {
		t.Fatalf("given up %v once the freed blob was reaped, want %v", got, want)
	}
	for _, kept := range []string{liveVol, part2.Extents[0].Volume, openVol(r.b).Hex, "metalog"} {
		for _, g := range chain.given() {
			if g == kept || g == "retired "+kept {
				t.Fatalf("the order of %s was given up", kept)
			}
		}
	}
	// Nothing left to wait for: the sweep is over, also after a restart.
	n := chain.calls()
	pass("after the sweep")
	r.close()
	r.open()
	r.b.SetRelocator(js)
	pass("after the sweep and a restart")
	if got := chain.calls(); got != n {
		t.Fatalf("the account's orders were listed %d more times after the sweep was done", got-n)
	}
	r.readAll("after the sweep")
}
