package metalog

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/datdot/datdot/gateway/secret"
	"github.com/datdot/datdot/gateway/store"
	"github.com/datdot/datdot/gateway/store/crypt"
	"github.com/datdot/datdot/gateway/store/local"
	"github.com/datdot/datdot/gateway/store/network"
	hstore "github.com/datdot/datdot/hoster/store"
	"github.com/datdot/datdot/volume"
)

// cancelling is the test hosters with MsgCancelOrder: a cancelled order's
// slots are forgotten and its cores deleted by every hoster, as the
// hoster's follower does on EventOrderCancelled.
type cancelling struct {
	*hosters
	cancelled int
	refuse    bool // the chain cannot be reached: every Cancel fails
}

func (c *cancelling) Cancel(_ context.Context, v *network.Volume) error {
	// A generation reopened after a restart to be retired has no open
	// cores: its key comes from the writer key, as onchain.Shipper does.
	var key0 [32]byte
	if v.Cores[0] != nil {
		key0 = v.Cores[0].Key()
	} else {
		key0 = volume.PublicCoreKey(v.Keys[0])
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.refuse {
		return errors.New("chain unreachable")
	}
	o, ok := c.orders[key0]
	if !ok {
		return nil
	}
	for j, core := range o.Cores {
		st := c.stores[j%len(c.stores)]
		if err := st.DeleteAssignment(hstore.Slot{OrderID: o.Id, CoreIndex: uint32(j)}); err != nil {
			return err
		}
		if err := st.Release([32]byte(core.Key)); err != nil {
			return err
		}
	}
	delete(c.orders, key0)
	c.cancelled++
	return nil
}

// putSecret stores data encrypted (a wrapped key per object, as the
// network backend's crypt layer does) and returns the wrapped key as it
// appears in a metadata record (base64 in JSON).
func (f *fixture) putSecret(bucket, key, data string) []byte {
	f.t.Helper()
	cb, err := crypt.New(f.blobs, f.master)
	if err != nil {
		f.t.Fatal(err)
	}
	ref, err := store.WriteBlob(ctx, cb, strings.NewReader(data), int64(len(data)), nil)
	if err != nil {
		f.t.Fatal(err)
	}
	if ref.Crypt == nil || len(ref.Crypt.Wrapped) == 0 {
		f.t.Fatal("the crypt layer wrapped no key")
	}
	o := store.Object{Key: key, Size: ref.Size, ETag: "e", Modified: time.Now().UTC(), Parts: []store.Part{{Size: ref.Size, Blob: ref}},
		ACL: store.ACL{Owner: store.Owner{ID: "o"}}}
	if _, _, err := f.meta.PutObject(ctx, bucket, o, nil); err != nil {
		f.t.Fatal(err)
	}
	j, _ := json.Marshal(ref.Crypt.Wrapped)
	return j[1 : len(j)-1]
}

// logOnHosters decodes every generation of the log that the hosters still
// serve (any order whose cores are held) and returns, per generation, the
// records it carries.
func logOnHosters(t *testing.T, h *cancelling, master []byte) map[uint64][][]byte {
	t.Helper()
	aead, err := newAEAD(secret.MetalogKey(master))
	if err != nil {
		t.Fatal(err)
	}
	cfg := h.recoverConfig(master, t.TempDir())
	h.mu.Lock()
	orders := maps(h.orders)
	h.mu.Unlock()
	out := map[uint64][][]byte{}
	for g := uint64(0); g < 16; g++ {
		volID := secret.MetalogVolumeID(master, g)
		k0, _ := coreKey(master, volID, 0)
		o, ok := orders[k0]
		if !ok {
			continue
		}
		sv, _, err := fetchVolume(ctx, cfg, o, volID, filepath.Join(t.TempDir(), fmt.Sprint(g)), false)
		if err != nil {
			t.Fatalf("generation %d is ordered but not on the hosters: %v", g, err)
		}
		batches, _, err := readGeneration(sv, aead, volID, g)
		sv.close()
		if err != nil {
			t.Fatalf("generation %d: %v", g, err)
		}
		for _, b := range batches {
			for _, c := range b {
				out[g] = append(out[g], c.Record)
				for _, kv := range append(c.Entries, c.Hidden...) {
					out[g] = append(out[g], kv.V)
				}
			}
		}
	}
	return out
}

func inLog(log map[uint64][][]byte, needle []byte) []uint64 {
	var gens []uint64
	for g, recs := range log {
		for _, r := range recs {
			if bytes.Contains(r, needle) {
				gens = append(gens, g)
				break
			}
		}
	}
	return gens
}

// inDB reports whether any value of the bbolt file at path holds needle.
func inDB(t *testing.T, path string, needle []byte) bool {
	t.Helper()
	db, err := bolt.Open(path, 0o600, &bolt.Options{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	found := false
	var walk func(bk *bolt.Bucket)
	walk = func(bk *bolt.Bucket) {
		bk.ForEach(func(k, v []byte) error {
			if v == nil {
				walk(bk.Bucket(k))
			} else if bytes.Contains(v, needle) || bytes.Contains(k, needle) {
				found = true
			}
			return nil
		})
	}
	if err := db.View(func(tx *bolt.Tx) error {
		return tx.ForEach(func(_ []byte, bk *bolt.Bucket) error { walk(bk); return nil })
	}); err != nil {
		t.Fatal(err)
	}
	return found
}

// TestDroppedKeyLeavesEveryCopy: once an object is deleted, its wrapped
// key is in no copy of the metadata: not in the database, not in the
// journal, not in any generation of the log that the hosters still hold
// (the writer starts a new generation without it and cancels the older
// ones' orders, ShredAfter after the drop). A drop seen just before a
// crash is not forgotten by the restart. Until ShredAfter, the log keeps
// its generation.
func TestDroppedKeyLeavesEveryCopy(t *testing.T) {
	h := &cancelling{hosters: newHosters(t, 3)}
	f := &fixture{t: t, master: secret.Generate(), dir: t.TempDir(), h: h.hosters, ship: h, shred: time.Hour}
	f.open(1 << 30)
	if err := f.meta.CreateBucket(ctx, store.Bucket{Name: "media", ACL: store.ACL{Owner: store.Owner{ID: "o"}}}); err != nil {
		t.Fatal(err)
	}
	keep := f.putSecret("media", "keep.png", "kept object")
	gone := f.putSecret("media", "gone.png", "deleted object")
	if err := f.w.Sync(ctx); err != nil {
		t.Fatal(err)
	}
	log := logOnHosters(t, h, f.master)
	if len(inLog(log, keep)) == 0 || len(inLog(log, gone)) == 0 {
		t.Fatal("the wrapped keys are not found in the shipped log: the search is broken")
	}

	// A delete with ShredAfter not yet passed: the generation stays.
	if _, _, err := f.meta.DeleteObject(ctx, "media", "gone.png", ""); err != nil {
		t.Fatal(err)
	}
	if err := f.w.Sync(ctx); err != nil {
		t.Fatal(err)
	}
	if g := f.w.Status().Gen; g != 0 {
		t.Fatalf("generation %d before ShredAfter passed, want 0", g)
	}
	if _, err := os.Stat(filepath.Join(f.dir, "metalog", "dropped")); err != nil {
		t.Fatalf("the drop is not remembered durably: %v", err)
	}

	// The gateway restarts (the drop must survive it) with ShredAfter
	// passed: the next sync starts generation 1 and retires generation 0.
	f.close()
	f.shred = time.Nanosecond
	f.open(1 << 30)
	if err := f.w.Sync(ctx); err != nil {
		t.Fatal(err)
	}
	if g := f.w.Status().Gen; g != 1 {
		t.Fatalf("generation %d after the drop, want 1", g)
	}
	if h.cancelled != 1 {
		t.Fatalf("%d orders cancelled, want generation 0's", h.cancelled)
	}
	log = logOnHosters(t, h, f.master)
	if gens := inLog(log, gone); len(gens) > 0 {
		t.Fatalf("the deleted object's wrapped key is still in generation(s) %v on the hosters", gens)
	}
	if gens := inLog(log, keep); len(gens) != 1 || gens[0] != 1 {
		t.Fatalf("the live object's wrapped key is in generations %v, want [1]", gens)
	}
	// Generation 0's cores are gone from every hoster.
	k0, _ := coreKey(f.master, secret.MetalogVolumeID(f.master, 0), 0)
	for i, st := range h.stores {
		if st.Held(ctx, k0) != 0 {
			t.Fatalf("hoster %d still holds generation 0", i)
		}
	}
	if dirs, _ := filepath.Glob(filepath.Join(f.dir, "metalog", "gen-*")); len(dirs) != 1 || filepath.Base(dirs[0]) != "gen-1" {
		t.Fatalf("local generations %v, want only gen-1", dirs)
	}
	if n, err := f.meta.JournalLen(ctx); err != nil || n != 0 {
		t.Fatalf("journal holds %d marks (%v)", n, err)
	}
	f.close()
	if inDB(t, filepath.Join(f.dir, "meta.db"), gone) {
		t.Fatal("the deleted object's wrapped key is still in a database record")
	}
	if !inDB(t, filepath.Join(f.dir, "meta.db"), keep) {
		t.Fatal("the live object's wrapped key is not in the database: the search is broken")
	}

	// Recovery still works from what is left: generation 1.
	dir := t.TempDir()
	st, err := Recover(ctx, h.recoverConfig(f.master, dir))
	if err != nil {
		t.Fatal(err)
	}
	if st.Gen != 1 {
		t.Fatalf("recovered generation %d, want 1", st.Gen)
	}
	got, err := local.OpenMeta(filepath.Join(dir, "meta.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer got.Close()
	if _, err := got.GetObject(ctx, "media", "keep.png", ""); err != nil {
		t.Fatalf("keep.png after recovery: %v", err)
	}
	if _, err := got.GetObject(ctx, "media", "gone.png", ""); err == nil {
		t.Fatal("gone.png came back with recovery")
	}
}

// TestRetireRetriedAfterRestart: when the older generation's order cannot
// be cancelled, its directory stays and the writer retries at every sync,
// across a restart, until the cancel goes through; then the hosters no
// longer hold it and recovery reads the new generation.
func TestRetireRetriedAfterRestart(t *testing.T) {
	h := &cancelling{hosters: newHosters(t, 3), refuse: true}
	f := &fixture{t: t, master: secret.Generate(), dir: t.TempDir(), h: h.hosters, ship: h, shred: time.Nanosecond}
	f.open(1 << 30)
	if err := f.meta.CreateBucket(ctx, store.Bucket{Name: "media", ACL: store.ACL{Owner: store.Owner{ID: "o"}}}); err != nil {
		t.Fatal(err)
	}
	f.putSecret("media", "a.png", "a")
	gone := f.putSecret("media", "b.png", "b")
	if err := f.w.Sync(ctx); err != nil {
		t.Fatal(err)
	}
	if _, _, err := f.meta.DeleteObject(ctx, "media", "b.png", ""); err != nil {
		t.Fatal(err)
	}
	// The rotation happens; the cancel of generation 0 fails.
	if err := f.w.Sync(ctx); err == nil {
		t.Fatal("a sync whose retirement failed reported no error")
	}
	if g := f.w.Status().Gen; g != 1 {
		t.Fatalf("generation %d, want 1", g)
	}
	if _, err := os.Stat(filepath.Join(f.dir, "metalog", "gen-0")); err != nil {
		t.Fatalf("generation 0's directory is gone before its order was cancelled: %v", err)
	}
	if len(inLog(logOnHosters(t, h, f.master), gone)) == 0 {
		t.Fatal("generation 0 is not on the hosters any more: the test does not test the retry")
	}
	// Restart; the chain answers again: the next sync retires generation 0.
	f.close()
	h.refuse = false
	f.open(1 << 30)
	if err := f.w.Sync(ctx); err != nil {
		t.Fatal(err)
	}
	if h.cancelled != 1 {
		t.Fatalf("%d orders cancelled, want 1", h.cancelled)
	}
	if _, err := os.Stat(filepath.Join(f.dir, "metalog", "gen-0")); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("generation 0's directory after its cancel: %v", err)
	}
	if gens := inLog(logOnHosters(t, h, f.master), gone); len(gens) > 0 {
		t.Fatalf("the deleted object's key is still on the hosters in generation(s) %v", gens)
	}
	if st, err := Recover(ctx, h.recoverConfig(f.master, t.TempDir())); err != nil || st.Gen != 1 {
		t.Fatalf("recover after the retirement: generation %d, %v", st.Gen, err)
	}
}

// TestRecoveredWriterRetiresOldGenerations: a gateway rebuilt with
// Recover on a new machine cancels the old machine's generations, like
// any older generation, once its own first snapshot is on the hosters:
// the deleted object's wrapped key that only they still carried leaves
// every hoster. Recovery under another owner than the master secret's
// account leaves those orders alone (the new gateway cannot cancel them).
func TestRecoveredWriterRetiresOldGenerations(t *testing.T) {
	h := &cancelling{hosters: newHosters(t, 3), refuse: true}
	f := &fixture{t: t, master: secret.Generate(), dir: t.TempDir(), h: h.hosters, ship: h, shred: time.Nanosecond}
	f.open(1 << 30)
	if err := f.meta.CreateBucket(ctx, store.Bucket{Name: "media", ACL: store.ACL{Owner: store.Owner{ID: "o"}}}); err != nil {
		t.Fatal(err)
	}
	keep := f.putSecret("media", "keep.png", "kept object")
	gone := f.putSecret("media", "gone.png", "deleted object")
	if err := f.w.Sync(ctx); err != nil {
		t.Fatal(err)
	}
	if _, _, err := f.meta.DeleteObject(ctx, "media", "gone.png", ""); err != nil {
		t.Fatal(err)
	}
	// The old machine rotates to generation 1 but cannot cancel
	// generation 0 before it dies: both are on the hosters.
	if err := f.w.Sync(ctx); err == nil {
		t.Fatal("a sync whose retirement failed reported no error")
	}
	f.close()
	h.refuse = false
	if gens := inLog(logOnHosters(t, h, f.master), gone); len(gens) != 1 || gens[0] != 0 {
		t.Fatalf("the deleted object's key is in generations %v on the hosters, want [0]: the test tests nothing", gens)
	}

	// Recovery as another owner writes nothing to retire.
	other := t.TempDir()
	cfg := h.recoverConfig(f.master, other)
	cfg.Owner = "someone-else"
	if _, err := Recover(ctx, cfg); err != nil {
		t.Fatal(err)
	}
	if dirs, _ := filepath.Glob(filepath.Join(other, "metalog", "gen-*")); len(dirs) != 0 {
		t.Fatalf("recovery under another owner left generations to cancel: %v", dirs)
	}

	dir := t.TempDir()
	cfg = h.recoverConfig(f.master, dir)
	cfg.Owner = "" // the master secret's account, as `datdot gateway recover` does
	st, err := Recover(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	if st.Gen != 1 {
		t.Fatalf("recovered generation %d, want 1", st.Gen)
	}
	// The new machine's gateway starts and syncs once.
	g := &fixture{t: t, master: f.master, dir: dir, h: h.hosters, ship: h, shred: time.Hour}
	g.open(1 << 30)
	if err := g.w.Sync(ctx); err != nil {
		t.Fatal(err)
	}
	if gen := g.w.Status().Gen; gen != 2 {
		t.Fatalf("the recovered writer is at generation %d, want 2", gen)
	}
	if h.cancelled != 2 {
		t.Fatalf("%d orders cancelled, want the old machine's generations 0 and 1", h.cancelled)
	}
	log := logOnHosters(t, h, f.master)
	if gens := inLog(log, gone); len(gens) > 0 {
		t.Fatalf("the deleted object's wrapped key is still in generation(s) %v on the hosters", gens)
	}
	if gens := inLog(log, keep); len(gens) != 1 || gens[0] != 2 {
		t.Fatalf("the live object's wrapped key is in generations %v, want [2]", gens)
	}
	for _, old := range []uint64{0, 1} {
		k0, _ := coreKey(f.master, secret.MetalogVolumeID(f.master, old), 0)
		for i, st := range h.stores {
			if st.Held(ctx, k0) != 0 {
				t.Fatalf("hoster %d still holds generation %d", i, old)
			}
		}
	}
	if dirs, _ := filepath.Glob(filepath.Join(dir, "metalog", "gen-*")); len(dirs) != 1 || filepath.Base(dirs[0]) != "gen-2" {
		t.Fatalf("local generations %v, want only gen-2", dirs)
	}
	g.close()
	if st, err := Recover(ctx, h.recoverConfig(f.master, t.TempDir())); err != nil || st.Gen != 2 {
		t.Fatalf("recover after the retirement: generation %d, %v", st.Gen, err)
	}
}
