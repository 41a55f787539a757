package local

import (
	"path/filepath"
	"testing"
	"time"

	"github.com/datdot/datdot/gateway/store"
)

func versionedMeta(t *testing.T) *Meta {
	t.Helper()
	meta, err := OpenMeta(filepath.Join(t.TempDir(), "meta.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { meta.Close() })
	if err := meta.CreateBucket(ctx, store.Bucket{Name: "b", Created: time.Now(), Versioning: store.VersioningEnabled}); err != nil {
		t.Fatal(err)
	}
	return meta
}

// TestListVersionsMarkerDeleted is issue 9 #2: emptying a versioned bucket
// page by page (list a page, delete what it listed, list the next page
// with the last version as marker) must reach every version. Before, the
// store found its place by matching the marker's id and skipped every
// remaining version of the key when that version was already deleted.
func TestListVersionsMarkerDeleted(t *testing.T) {
	meta := versionedMeta(t)
	want := 0
	for _, key := range []string{"a", "k", "z"} {
		for range 5 {
			if _, _, err := meta.PutObject(ctx, "b", store.Object{Key: key}, nil); err != nil {
				t.Fatal(err)
			}
			want++
		}
	}
	deleted := 0
	after, afterID := "", ""
	for page := 0; ; page++ {
		if page > 100 {
			t.Fatal("listing does not end")
		}
		vers, err := meta.ListVersions(ctx, "b", store.ListQuery{After: after, AfterID: afterID, Limit: 2})
		if err != nil {
			t.Fatal(err)
		}
		if len(vers) == 0 {
			break
		}
		for _, v := range vers {
			if _, _, err := meta.DeleteObject(ctx, "b", v.Key, v.VersionID); err != nil {
				t.Fatalf("delete %s %s: %v", v.Key, v.VersionID, err)
			}
			deleted++
		}
		last := vers[len(vers)-1]
		after, afterID = last.Key, last.VersionID
	}
	if deleted != want {
		t.Fatalf("deleted %d versions page by page, want %d", deleted, want)
	}
	if _, err := meta.DeleteBucket(ctx, "b"); err != nil {
		t.Fatalf("bucket not empty after deleting every listed version: %v", err)
	}
}

// TestListVersionsResumeIsLatest: a page that starts in the middle of a
// key's versions marks none of them latest; one that starts at a key's
// newest version marks it.
func TestListVersionsResumeIsLatest(t *testing.T) {
	meta := versionedMeta(t)
	var ids []string
	for range 3 {
		o, _, err := meta.PutObject(ctx, "b", store.Object{Key: "k"}, nil)
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, o.VersionID)
	}
	// Newest first: ids[2], ids[1], ids[0].
	vers, err := meta.ListVersions(ctx, "b", store.ListQuery{After: "k", AfterID: ids[2], Limit: 10})
	if err != nil {
		t.Fatal(err)
	}
	if len(vers) != 2 || vers[0].VersionID != ids[1] || vers[0].IsLatest || vers[1].VersionID != ids[0] {
		t.Fatalf("after newest: %+v", vers)
	}
	// The newest goes: resuming after it, ids[1] is now the latest.
	if _, _, err := meta.DeleteObject(ctx, "b", "k", ids[2]); err != nil {
		t.Fatal(err)
	}
	vers, err = meta.ListVersions(ctx, "b", store.ListQuery{After: "k", AfterID: ids[2], Limit: 10})
	if err != nil {
		t.Fatal(err)
	}
	if len(vers) != 2 || vers[0].VersionID != ids[1] || !vers[0].IsLatest || vers[1].IsLatest {
		t.Fatalf("after deleted newest: %+v", vers)
	}
}

// TestGetVersionByID: a version read by id is the right one and says
// whether it is the latest, for positional and legacy ids alike; an id
// that names no version is ErrNoSuchVersion.
func TestGetVersionByID(t *testing.T) {
	meta := versionedMeta(t)
	var ids []string
	for i := range 3 {
		o, _, err := meta.PutObject(ctx, "b", store.Object{Key: "k", Size: int64(i)}, nil)
		if err != nil {
			t.Fatal(err)
		}
		if _, ok := versionSeq(o.VersionID); !ok {
			t.Fatalf("version id %q is not positional", o.VersionID)
		}
		ids = append(ids, o.VersionID)
	}
	for i, id := range ids {
		o, err := meta.GetObject(ctx, "b", "k", id)
		if err != nil {
			t.Fatal(err)
		}
		if o.Size != int64(i) || o.IsLatest != (i == 2) {
			t.Fatalf("version %d: size %d latest %v", i, o.Size, o.IsLatest)
		}
	}
	// Same position, other random half: not that version.
	forged := ids[1][:16] + "00000000000000ff"
	if _, err := meta.GetObject(ctx, "b", "k", forged); err != store.ErrNoSuchVersion {
		t.Fatalf("forged id: %v", err)
	}
	if _, err := meta.GetObject(ctx, "b", "other", ids[1]); err != store.ErrNoSuchVersion {
		t.Fatalf("id of another key: %v", err)
	}
	// A legacy (time-based) id is still found by walking the key.
	legacy := newVersionID()
	if _, ok := versionSeq(legacy); ok {
		t.Fatalf("legacy id %q taken as positional", legacy)
	}
	if _, err := meta.GetObject(ctx, "b", "k", legacy); err != store.ErrNoSuchVersion {
		t.Fatalf("unknown legacy id: %v", err)
	}
}
