package local

import (
	"path/filepath"
	"testing"
	"time"

	"github.com/datdot/datdot/gateway/store"
)

// TestRelocateJournaledAndRebuilt: a relocation changes the blob's
// canonical extents and is journaled; a stale move (extents no longer
// those named) and a move of an unreferenced blob are skipped; a database
// rebuilt from a snapshot (what metadata log recovery does) knows the
// relocation, also for the blob's reference count; freeing the blob drops
// the relocation, journaled.
func TestRelocateJournaledAndRebuilt(t *testing.T) {
	m, err := OpenMeta(filepath.Join(t.TempDir(), "meta.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	if err := m.CreateBucket(ctx, store.Bucket{Name: "b"}); err != nil {
		t.Fatal(err)
	}
	from := []store.Extent{{Volume: "aa", Offset: 0, Length: 100}}
	to := []store.Extent{{Volume: "bb", Offset: 4096, Length: 100}}
	ref := store.BlobRef{ID: "blob1", Size: 90, Extents: from, Stored: 100}
	if err := m.AddPending(ctx, []store.BlobRef{ref, {ID: "pending", Size: 1, Extents: from}}, time.Now().Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	obj := store.Object{Key: "k", Size: 90, Parts: []store.Part{{Number: 1, Size: 90, Blob: ref}}}
	if _, _, err := m.PutObject(ctx, "b", obj, nil); err != nil {
		t.Fatal(err)
	}
	applied, err := m.Relocate(ctx, []Move{
		{ID: "blob1", From: []store.Extent{{Volume: "aa", Offset: 1, Length: 100}}, To: to}, // stale
		{ID: "pending", From: from, To: to},                                                 // not referenced
		{ID: "blob1", From: from, To: []store.Extent{{Volume: "bb", Length: 99}}},           // wrong length
	})
	if err != nil || len(applied) != 0 {
		t.Fatalf("applied %v (%v), want none", applied, err)
	}
	if applied, err = m.Relocate(ctx, []Move{{ID: "blob1", From: from, To: to}}); err != nil || len(applied) != 1 {
		t.Fatalf("applied %v (%v)", applied, err)
	}
	got, st, err := m.Blob(ctx, "blob1")
	if err != nil || st != BlobReferenced || !sameExtents(got.Extents, to) {
		t.Fatalf("blob1: %+v %v %v", got, st, err)
	}
	if _, st, _ := m.Blob(ctx, "pending"); st != BlobPending {
		t.Fatalf("pending blob state %v", st)
	}
	if _, st, _ := m.Blob(ctx, "nothing"); st != BlobUnknown {
		t.Fatalf("unknown blob state %v", st)
	}
	jb, err := m.TakeJournal(ctx, 100, 1<<20, nil)
	if err != nil {
		t.Fatal(err)
	}
	found := false
	for _, c := range jb.Changes {
		found = found || (c.Kind == MarkReloc && c.Key == "blob1" && c.Record != nil)
	}
	if !found {
		t.Fatalf("no relocation in the journal: %+v", jb.Changes)
	}

	dst, err := OpenMeta(filepath.Join(t.TempDir(), "meta.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer dst.Close()
	var changes []Change
	if err := m.Snapshot(ctx, func(c Change) error { changes = append(changes, c); return nil }); err != nil {
		t.Fatal(err)
	}
	if err := dst.ApplyChanges(ctx, changes); err != nil {
		t.Fatal(err)
	}
	if err := dst.FinishRebuild(ctx); err != nil {
		t.Fatal(err)
	}
	if es, ok, err := dst.Relocated(ctx, "blob1"); err != nil || !ok || !sameExtents(es, to) {
		t.Fatalf("rebuilt relocation %+v %v %v", es, ok, err)
	}
	if got, _, _ := dst.Blob(ctx, "blob1"); !sameExtents(got.Extents, to) {
		t.Fatalf("rebuilt reference %+v", got)
	}

	// Freeing the blob queues it with its new extents and drops the
	// relocation, journaled.
	if err := m.ClearJournal(ctx, jb); err != nil {
		t.Fatal(err)
	}
	_, freed, err := m.DeleteObject(ctx, "b", "k", "")
	if err != nil || len(freed) != 1 || !sameExtents(freed[0].Extents, to) {
		t.Fatalf("freed %+v (%v), want blob1 at its new extents", freed, err)
	}
	if _, ok, _ := m.Relocated(ctx, "blob1"); ok {
		t.Fatal("a freed blob keeps its relocation")
	}
	jb, err = m.TakeJournal(ctx, 100, 1<<20, nil)
	if err != nil {
		t.Fatal(err)
	}
	found = false
	for _, c := range jb.Changes {
		found = found || (c.Kind == MarkReloc && c.Key == "blob1" && c.Record == nil)
	}
	if !found {
		t.Fatalf("the dropped relocation is not in the journal: %+v", jb.Changes)
	}
}
