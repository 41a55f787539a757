package local

import (
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/datdot/datdot/gateway/store"
)

func blobExists(t *testing.T, b *Blobs, ref store.BlobRef) bool {
	t.Helper()
	if ref.Inline {
		ref.Data = nil
		return b.CheckBlob(ctx, ref) == nil
	}
	p, err := b.path(ref.ID)
	if err != nil {
		t.Fatal(err)
	}
	_, err = os.Stat(p)
	return err == nil
}

// TestSharedBlobRefCounts: two objects share one blob (a copy); deleting
// one keeps the bytes, deleting both queues the blob in the same
// transaction, and the reaper deletes it only after the grace period and
// only when no reader pins it.
func TestSharedBlobRefCounts(t *testing.T) {
	meta, blobs, err := Open(ctx, t.TempDir(), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer meta.Close()
	if err := meta.CreateBucket(ctx, store.Bucket{Name: "b"}); err != nil {
		t.Fatal(err)
	}
	ref := writeBlob(t, blobs, "shared data")
	for _, k := range []string{"orig", "copy"} {
		o := store.Object{Key: k, Size: ref.Size, Parts: []store.Part{{Size: ref.Size, Blob: ref}}}
		if _, freed, err := meta.PutObject(ctx, "b", o, nil); err != nil || len(freed) != 0 {
			t.Fatalf("put %s: freed %v, %v", k, freed, err)
		}
	}
	_, freed, err := meta.DeleteObject(ctx, "b", "orig", "")
	if err != nil || len(freed) != 0 {
		t.Fatalf("delete of one of two references freed %v (%v)", freed, err)
	}
	_, freed, err = meta.DeleteObject(ctx, "b", "copy", "")
	if err != nil || len(freed) != 1 || freed[0].ID != ref.ID {
		t.Fatalf("delete of the last reference freed %v (%v)", freed, err)
	}
	// Within the grace period nothing goes.
	late := store.NewReaper(meta, blobs, time.Hour, nil)
	if n, err := late.ReapDue(ctx); err != nil || n != 0 {
		t.Fatalf("reaped %d within the grace period (%v)", n, err)
	}
	// A pinned blob stays queued.
	r := store.NewReaper(meta, blobs, 0, nil)
	r.Pins.Pin([]store.BlobRef{ref})
	if n, err := r.ReapDue(ctx); err != nil || n != 0 {
		t.Fatalf("reaped %d pinned blobs (%v)", n, err)
	}
	if !blobExists(t, blobs, ref) {
		t.Fatal("pinned blob deleted")
	}
	r.Unpin(ctx, []store.BlobRef{ref})
	if blobExists(t, blobs, ref) {
		t.Fatal("blob still there after its last reader left")
	}
	// A freed and deleted blob cannot be referenced again (by the
	// reference as records keep it: an inline blob's bytes are not in it).
	stored := ref
	stored.Data = nil
	o := store.Object{Key: "again", Size: ref.Size, Parts: []store.Part{{Size: ref.Size, Blob: stored}}}
	if _, _, err := meta.PutObject(ctx, "b", o, nil); !errors.Is(err, store.ErrNoSuchBlob) {
		t.Fatalf("reference to a deleted blob: %v, want ErrNoSuchBlob", err)
	}
	if _, err := meta.GetObject(ctx, "b", "again", ""); !errors.Is(err, store.ErrNoSuchKey) {
		t.Fatalf("refused put left an object: %v", err)
	}
}

// TestUnknownBlobRefused: metadata never references a blob that no
// BlobWriter committed.
func TestUnknownBlobRefused(t *testing.T) {
	meta, _, err := Open(ctx, t.TempDir(), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer meta.Close()
	meta.CreateBucket(ctx, store.Bucket{Name: "b"})
	meta.CreateUpload(ctx, store.Upload{Bucket: "b", Key: "k", UploadID: "u"})
	bogus := store.BlobRef{ID: "00112233445566778899aabbccddeeff", Size: 3}
	if _, _, err := meta.PutObject(ctx, "b", store.Object{Key: "k", Size: 3, Parts: []store.Part{{Size: 3, Blob: bogus}}}, nil); !errors.Is(err, store.ErrNoSuchBlob) {
		t.Fatalf("PutObject: %v", err)
	}
	if _, err := meta.PutPart(ctx, "b", "k", "u", store.Part{Number: 1, Size: 3, Blob: bogus}); !errors.Is(err, store.ErrNoSuchBlob) {
		t.Fatalf("PutPart: %v", err)
	}
}

// TestMultipartRefs: completing an upload moves the references of the
// parts it uses to the object and frees the rest; aborting frees all.
func TestMultipartRefs(t *testing.T) {
	meta, blobs, err := Open(ctx, t.TempDir(), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer meta.Close()
	meta.CreateBucket(ctx, store.Bucket{Name: "b"})
	if err := meta.CreateUpload(ctx, store.Upload{Bucket: "b", Key: "k", UploadID: "u"}); err != nil {
		t.Fatal(err)
	}
	p1, p2, p2b := writeBlob(t, blobs, "one"), writeBlob(t, blobs, "two"), writeBlob(t, blobs, "TWO")
	for _, p := range []store.Part{{Number: 1, Size: 3, Blob: p1}, {Number: 2, Size: 3, Blob: p2}} {
		if _, err := meta.PutPart(ctx, "b", "k", "u", p); err != nil {
			t.Fatal(err)
		}
	}
	freed, err := meta.PutPart(ctx, "b", "k", "u", store.Part{Number: 2, Size: 3, Blob: p2b})
	if err != nil || len(freed) != 1 || freed[0].ID != p2.ID {
		t.Fatalf("replacing part 2 freed %v (%v)", freed, err)
	}
	_, freed, err = meta.CompleteUpload(ctx, "b", "k", "u", func(_ store.Upload, parts []store.Part) (store.Object, error) {
		return store.Object{Key: "k", Size: 3, Multipart: true, Parts: parts[1:]}, nil
	}, nil)
	if err != nil || len(freed) != 1 || freed[0].ID != p1.ID {
		t.Fatalf("complete with part 2 only freed %v (%v)", freed, err)
	}
	_, freed, err = meta.DeleteObject(ctx, "b", "k", "")
	if err != nil || len(freed) != 1 || freed[0].ID != p2b.ID {
		t.Fatalf("deleting the object freed %v (%v)", freed, err)
	}
	r := store.NewReaper(meta, blobs, 0, nil)
	if n, err := r.ReapDue(ctx); err != nil || n != 3 {
		t.Fatalf("reaped %d (%v), want 3", n, err)
	}
	for _, ref := range []store.BlobRef{p1, p2, p2b} {
		if blobExists(t, blobs, ref) {
			t.Fatalf("blob %s left", ref.ID)
		}
	}
}

// TestDeleteSurvivesCrash: a blob claimed for deletion whose bytes were
// not yet removed (a crash) is deleted by the next ReapDue after restart.
func TestDeleteSurvivesCrash(t *testing.T) {
	dir := t.TempDir()
	meta, blobs, err := Open(ctx, dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	meta.CreateBucket(ctx, store.Bucket{Name: "b"})
	ref := writeBlob(t, blobs, "doomed")
	meta.PutObject(ctx, "b", store.Object{Key: "k", Size: 6, Parts: []store.Part{{Size: 6, Blob: ref}}}, nil)
	if _, _, err := meta.DeleteObject(ctx, "b", "k", ""); err != nil {
		t.Fatal(err)
	}
	claimed, err := meta.ClaimDeletes(ctx, time.Now(), nil, 10, nil)
	if err != nil || len(claimed) != 1 {
		t.Fatalf("claimed %v (%v)", claimed, err)
	}
	meta.Close() // crash before the bytes were deleted

	meta, blobs, err = Open(ctx, dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer meta.Close()
	if n, err := store.NewReaper(meta, blobs, time.Hour, nil).ReapDue(ctx); err != nil || n != 1 {
		t.Fatalf("reaped %d (%v) after restart, want the claimed blob", n, err)
	}
	if blobExists(t, blobs, ref) {
		t.Fatal("claimed blob survived")
	}
}

// TestRefCountMigration: a database written before reference counts
// existed gets them counted once at open.
func TestRefCountMigration(t *testing.T) {
	dir := t.TempDir()
	meta, blobs, err := Open(ctx, dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	meta.CreateBucket(ctx, store.Bucket{Name: "b"})
	ref := writeBlob(t, blobs, "old")
	for _, k := range []string{"a", "b"} {
		meta.PutObject(ctx, "b", store.Object{Key: k, Size: 3, Parts: []store.Part{{Size: 3, Blob: ref}}}, nil)
	}
	err = meta.db.Update(func(tx *bolt.Tx) error {
		for _, name := range refBuckets {
			if err := tx.DeleteBucket(name); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	meta.Close()
	meta, err = OpenMeta(filepath.Join(dir, "meta.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer meta.Close()
	if _, freed, err := meta.DeleteObject(ctx, "b", "a", ""); err != nil || len(freed) != 0 {
		t.Fatalf("first delete freed %v (%v)", freed, err)
	}
	if _, freed, err := meta.DeleteObject(ctx, "b", "b", ""); err != nil || len(freed) != 1 {
		t.Fatalf("second delete freed %v (%v), want the blob", freed, err)
	}
}

// TestFreshBlobClaimedByReaperRefused: a fresh reference to a blob the
// reaper has claimed (in the deleting set) is refused with
// store.ErrNoSuchBlob and never reaches the FreshBlobs func; an
// unclaimed fresh blob does.
func TestFreshBlobClaimedByReaperRefused(t *testing.T) {
	meta, err := OpenMeta(filepath.Join(t.TempDir(), "meta.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer meta.Close()
	var recorded []string
	meta.SetFreshBlobs(func(_ *bolt.Tx, ref store.BlobRef) error {
		recorded = append(recorded, ref.ID)
		return nil
	})
	if err := meta.CreateBucket(ctx, store.Bucket{Name: "b"}); err != nil {
		t.Fatal(err)
	}
	claimed := store.BlobRef{ID: "claimed", Size: 10}
	if err := meta.AddPending(ctx, []store.BlobRef{claimed}, time.Now().Add(-time.Minute)); err != nil {
		t.Fatal(err)
	}
	got, err := meta.ClaimDeletes(ctx, time.Now(), nil, 10, nil)
	if err != nil || len(got) != 1 || got[0].ID != claimed.ID {
		t.Fatalf("claimed %v, %v", got, err)
	}
	put := func(key string, ref store.BlobRef) error {
		ref.Fresh = true
		_, _, err := meta.PutObject(ctx, "b", store.Object{Key: key, Size: ref.Size, Parts: []store.Part{{Size: ref.Size, Blob: ref}}}, nil)
		return err
	}
	if err := put("k", claimed); !errors.Is(err, store.ErrNoSuchBlob) {
		t.Fatalf("a fresh reference to a claimed blob: %v, want %v", err, store.ErrNoSuchBlob)
	}
	if len(recorded) != 0 {
		t.Fatalf("a claimed blob was passed to FreshBlobs: %v", recorded)
	}
	if err := put("k", store.BlobRef{ID: "new", Size: 10}); err != nil || len(recorded) != 1 || recorded[0] != "new" {
		t.Fatalf("an unclaimed fresh blob: %v, recorded %v", err, recorded)
	}
}
