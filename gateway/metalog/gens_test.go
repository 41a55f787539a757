package metalog

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/datdot/datdot/gateway/secret"
	"github.com/datdot/datdot/gateway/store"
	"github.com/datdot/datdot/gateway/store/local"
	"github.com/datdot/datdot/gateway/store/network"
	"github.com/datdot/datdot/volume"
	storagetypes "github.com/datdot/datdot/x/storage/types"
)

// TestRecoverFindsHighGeneration: after months of rotations the log is
// at a generation far above the number of orders the owner has (the old
// generations were cancelled and pruned from the chain): recovery still
// finds it, with none of the older ones on chain.
func TestRecoverFindsHighGeneration(t *testing.T) {
	h := newHosters(t, 3)
	f := newFixture(t, h, 0)
	const high = 6000
	// The writer's generations so far were 0..high-1, all pruned.
	if err := os.WriteFile(filepath.Join(f.dir, "metalog", "highest"), uintLine(high-1), 0o644); err != nil {
		t.Fatal(err)
	}
	populate(f, 5)
	if err := f.w.Sync(ctx); err != nil {
		t.Fatal(err)
	}
	if g := f.w.Status().Gen; g != high {
		t.Fatalf("writer at generation %d, want %d", g, high)
	}
	if len(h.orders) != 1 {
		t.Fatalf("%d orders on the hosters, want the current generation's only", len(h.orders))
	}
	want := state(t, f.meta.Meta)
	dir := t.TempDir()
	cfg := h.recoverConfig(f.master, dir)
	cfg.MaxGen = 2 * genChunk
	st, err := Recover(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	if st.Gen != high {
		t.Fatalf("recovered generation %d, want %d", st.Gen, high)
	}
	got, err := local.OpenMeta(filepath.Join(dir, "meta.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer got.Close()
	if s := state(t, got); s != want {
		t.Fatalf("recovered:\n%s\nwant:\n%s", s, want)
	}
	if hi, ok, _ := readUint(filepath.Join(dir, "metalog", "highest")); !ok || hi != high {
		t.Fatalf("highest generation after recovery %d %v, want %d", hi, ok, high)
	}
}

// TestFindGensPastBound: the scan goes past MaxGen while the last chunk
// found a generation (a retired one not yet pruned leads to the newest),
// and returns them in order.
func TestFindGensPastBound(t *testing.T) {
	master := secret.Generate()
	orders := map[[32]byte]storagetypes.Order{}
	add := func(g uint64) {
		k, err := coreKey(master, secret.MetalogVolumeID(master, g), 0)
		if err != nil {
			t.Fatal(err)
		}
		orders[k] = storagetypes.Order{Id: g + 1}
	}
	for _, g := range []uint64{3, genChunk + 7, 2*genChunk + 100} {
		add(g)
	}
	gens, err := findGens(ctx, master, orders, genChunk+1)
	if err != nil {
		t.Fatal(err)
	}
	if fmt.Sprint(gens) != fmt.Sprint([]uint64{3, genChunk + 7, 2*genChunk + 100}) {
		t.Fatalf("generations found %v", gens)
	}
	// Nothing of this secret: nothing found, no error.
	if gens, err := findGens(ctx, secret.Generate(), orders, genChunk); err != nil || len(gens) != 0 {
		t.Fatalf("another secret found %v, %v", gens, err)
	}
}

// TestFailedSnapshotKeepsNumber: a generation whose snapshot failed
// locally was never shipped, and the next attempt takes its number, so
// numbers do not run ahead of the generations made while a disk is full.
func TestFailedSnapshotKeepsNumber(t *testing.T) {
	h := newHosters(t, 3)
	f := newFixture(t, h, 0)
	populate(f, 3)
	// The snapshot's attempt fails locally: the drop mark cannot be
	// cleared (a directory stands where its file goes).
	block := filepath.Join(f.dir, "metalog", "dropped")
	if err := os.MkdirAll(filepath.Join(block, "x"), 0o755); err != nil {
		t.Fatal(err)
	}
	for range 3 {
		if err := f.w.Sync(ctx); err == nil {
			t.Fatal("a sync whose snapshot could not be written reported no error")
		}
	}
	if _, ok, _ := readUint(filepath.Join(f.dir, "metalog", "highest")); ok {
		t.Fatal("failed attempts recorded a generation number as used")
	}
	if err := os.RemoveAll(block); err != nil {
		t.Fatal(err)
	}
	if err := f.w.Sync(ctx); err != nil {
		t.Fatal(err)
	}
	if g := f.w.Status().Gen; g != 0 {
		t.Fatalf("generation %d after three failed attempts, want 0", g)
	}
}

// TestRotationCountsWrittenBytes: a sync that writes a small change adds
// about its bytes, not a stripe's holes, to what rotation counts; syncs
// that write nothing never rotate, even with a snapshot larger than
// RotateBytes; and a generation rotates once its writes outgrow both
// RotateBytes and its snapshot.
func TestRotationCountsWrittenBytes(t *testing.T) {
	h := newHosters(t, 3)
	// Each sync's short stripe leaves a hole of nearly k × 64 KiB: 40
	// syncs would count 5 MiB of holes.
	f := newFixture(t, h, 1<<20)
	if err := f.meta.CreateBucket(ctx, store.Bucket{Name: "b", ACL: store.ACL{Owner: store.Owner{ID: "o"}}}); err != nil {
		t.Fatal(err)
	}
	for i := range 40 {
		f.put("b", fmt.Sprintf("k%d", i), "v")
		if err := f.w.Sync(ctx); err != nil {
			t.Fatal(err)
		}
	}
	if g := f.w.Status().Gen; g != 0 {
		t.Fatalf("40 small syncs rotated to generation %d", g)
	}

	// A snapshot larger than RotateBytes, taken with nothing else to
	// write (a rotation for a delete: the first generation also logs the
	// changes its snapshot holds).
	g := &fixture{t: t, master: secret.Generate(), dir: t.TempDir(), h: h, shred: time.Nanosecond}
	g.open(4 << 10)
	populate(g, 200)
	if err := g.w.Sync(ctx); err != nil {
		t.Fatal(err)
	}
	if _, _, err := g.meta.DeleteObject(ctx, "media", "media_attachments/files/001/original.png", ""); err != nil {
		t.Fatal(err)
	}
	if err := g.w.Sync(ctx); err != nil {
		t.Fatal(err)
	}
	st := g.w.Status()
	if st.Gen != 1 || st.Snapshot <= 4<<10 {
		t.Fatalf("generation %d with a snapshot of %d bytes: the test needs generation 1 with one above RotateBytes", st.Gen, st.Snapshot)
	}
	gen := st.Gen
	for range 5 {
		if err := g.w.Sync(ctx); err != nil {
			t.Fatal(err)
		}
	}
	if st := g.w.Status(); st.Gen != gen {
		t.Fatalf("syncs with nothing to write rotated from generation %d to %d", gen, st.Gen)
	}
	// Small writes, less than the snapshot: no rotation.
	g.put("media", "small.png", "s")
	if err := g.w.Sync(ctx); err != nil {
		t.Fatal(err)
	}
	if st := g.w.Status(); st.Gen != gen {
		t.Fatalf("a small write rotated from generation %d to %d", gen, st.Gen)
	}
	// Writes past the snapshot's size: one rotation.
	rotated := 0
	for i := 0; i < 400 && rotated == 0; i++ {
		g.put("media", fmt.Sprintf("more/%04d/%s.png", i, strings.Repeat("x", 40)), "more")
		if err := g.w.Sync(ctx); err != nil {
			t.Fatal(err)
		}
		if g.w.Status().Gen != gen {
			rotated = i + 1
		}
	}
	if rotated == 0 {
		t.Fatal("writes past the snapshot never rotated")
	}
	if st := g.w.Status(); st.Gen != gen+1 {
		t.Fatalf("generation %d after rotation, want %d", st.Gen, gen+1)
	}
}

// TestLayoutChangeStartsGeneration: a gateway restarted with another
// erasure layout does not continue the log's generation with it (its
// cores and its order have the old one): a new generation of the new
// layout starts with a snapshot, the old one is cancelled once it is on
// the hosters, and recovery reads the new one.
func TestLayoutChangeStartsGeneration(t *testing.T) {
	h := &cancelling{hosters: newHosters(t, 6)}
	f := &fixture{t: t, master: secret.Generate(), dir: t.TempDir(), h: h.hosters, ship: h, layout: volume.Layout{K: 4, M: 2}}
	f.open(1 << 30)
	populate(f, 5)
	if err := f.w.Sync(ctx); err != nil {
		t.Fatal(err)
	}
	f.close()
	f.layout = volume.Layout{K: 2, M: 1}
	f.open(1 << 30)
	f.put("media", "after-restart.png", "new layout")
	if err := f.w.Sync(ctx); err != nil {
		t.Fatal(err)
	}
	if g := f.w.Status().Gen; g != 1 {
		t.Fatalf("generation %d after a restart with another layout, want 1", g)
	}
	if h.cancelled != 1 {
		t.Fatalf("%d orders cancelled, want generation 0's", h.cancelled)
	}
	for _, o := range h.orders {
		if o.ErasureK != 2 || len(o.Cores) != 3 {
			t.Fatalf("order %d is %d-of-%d cores, want the new 2+1", o.Id, o.ErasureK, len(o.Cores))
		}
	}
	want := state(t, f.meta.Meta)
	dir := t.TempDir()
	st, err := Recover(ctx, h.recoverConfig(f.master, dir))
	if err != nil || st.Gen != 1 {
		t.Fatalf("recover: generation %d, %v", st.Gen, err)
	}
	got, err := local.OpenMeta(filepath.Join(dir, "meta.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer got.Close()
	if s := state(t, got); s != want {
		t.Fatalf("recovered:\n%s\nwant:\n%s", s, want)
	}
}

// TestUpgradeContinuesGeneration: a generation written by a version that
// did not record its layout (the record removed), whose cores show the
// log's layout, is continued after the restart, not retired: the same
// generation, no order cancelled, the record written; recovery reads it.
func TestUpgradeContinuesGeneration(t *testing.T) {
	h := &cancelling{hosters: newHosters(t, 3)}
	f := &fixture{t: t, master: secret.Generate(), dir: t.TempDir(), h: h.hosters, ship: h}
	f.open(1 << 30)
	populate(f, 5)
	if err := f.w.Sync(ctx); err != nil {
		t.Fatal(err)
	}
	gen := f.w.Status().Gen
	f.close()
	dir := filepath.Join(f.dir, "metalog", fmt.Sprintf("gen-%d", gen))
	if err := os.Remove(filepath.Join(dir, "layout")); err != nil {
		t.Fatal(err)
	}
	f.open(1 << 30)
	f.put("media", "after-upgrade.png", "same layout")
	if err := f.w.Sync(ctx); err != nil {
		t.Fatal(err)
	}
	if g := f.w.Status().Gen; g != gen {
		t.Fatalf("generation %d after the upgrade, want %d continued", g, gen)
	}
	if h.cancelled != 0 {
		t.Fatalf("%d orders cancelled, want none", h.cancelled)
	}
	if l, ok, err := network.ReadLayout(dir); err != nil || !ok || l != DefaultLayout {
		t.Fatalf("generation's recorded layout %+v %v %v, want %+v", l, ok, err, DefaultLayout)
	}
	want := state(t, f.meta.Meta)
	rdir := t.TempDir()
	st, err := Recover(ctx, h.recoverConfig(f.master, rdir))
	if err != nil || st.Gen != gen {
		t.Fatalf("recover: generation %d, %v", st.Gen, err)
	}
	got, err := local.OpenMeta(filepath.Join(rdir, "meta.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer got.Close()
	if s := state(t, got); s != want {
		t.Fatalf("recovered:\n%s\nwant:\n%s", s, want)
	}
}
