package local

import (
	"testing"
	"time"

	"github.com/datdot/datdot/gateway/store"
)

// TestUnchanged: a version read by GetObject is Unchanged until its record
// changes (tags), it is replaced (a new null version, a delete) or its
// bucket is deleted and created again with an object of the same key at
// the same position; each of those answers false. A version read by id
// in a versioned bucket stays Unchanged while newer versions come.
func TestUnchanged(t *testing.T) {
	meta, blobs, err := Open(ctx, t.TempDir(), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer meta.Close()
	var _ store.VersionChecker = meta
	mkBucket := func(versioning string) {
		t.Helper()
		if err := meta.CreateBucket(ctx, store.Bucket{Name: "b", Created: time.Now(), Versioning: versioning}); err != nil {
			t.Fatal(err)
		}
	}
	put := func(data string) store.Object {
		t.Helper()
		ref := writeBlob(t, blobs, data)
		o, _, err := meta.PutObject(ctx, "b", store.Object{Key: "k", Size: int64(len(data)), ETag: "e", Modified: time.Now(),
			Parts: []store.Part{{Size: int64(len(data)), Blob: ref}}}, nil)
		if err != nil {
			t.Fatal(err)
		}
		return o
	}
	get := func(id string) store.Object {
		t.Helper()
		o, err := meta.GetObject(ctx, "b", "k", id)
		if err != nil {
			t.Fatal(err)
		}
		if len(o.Record) == 0 {
			t.Fatal("GetObject set no record")
		}
		return o
	}
	unchanged := func(what string, o store.Object, want bool) {
		t.Helper()
		got, err := meta.Unchanged(ctx, "b", &o)
		if err != nil || got != want {
			t.Fatalf("%s: Unchanged = %v, %v; want %v", what, got, err, want)
		}
	}

	mkBucket("")
	put("one")
	o := get("")
	unchanged("just read", o, true)
	if err := meta.UpdateObject(ctx, "b", "k", o.VersionID, func(x *store.Object) error {
		x.Tags = map[string]string{"a": "b"}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	unchanged("tags changed", o, false)
	o = get("")
	unchanged("read again", o, true)
	put("two")
	unchanged("replaced by a new null version", o, false)
	o = get("null")
	unchanged("read by id", o, true)
	if _, _, err := meta.DeleteObject(ctx, "b", "k", ""); err != nil {
		t.Fatal(err)
	}
	unchanged("deleted", o, false)
	unchanged("no record", store.Object{Key: "k", Seq: o.Seq}, false)

	// A bucket deleted and created again: positions start over, so a
	// new object of the same key can sit at the old one's position.
	if _, err := meta.DeleteBucket(ctx, "b"); err != nil {
		t.Fatal(err)
	}
	mkBucket("")
	put("one")
	again := put("two")
	old := store.Object{Key: "k", Seq: again.Seq, Record: o.Record}
	if again.Seq != o.Seq {
		t.Fatalf("re-created bucket: position %d, the old version's was %d", again.Seq, o.Seq)
	}
	unchanged("new object at the old one's position", old, false)

	// Versioned: an older version stays unchanged while newer ones come.
	if _, _, err := meta.DeleteObject(ctx, "b", "k", store.NullVersion); err != nil {
		t.Fatal(err)
	}
	if err := meta.UpdateBucket(ctx, "b", func(b *store.Bucket) error { b.Versioning = store.VersioningEnabled; return nil }); err != nil {
		t.Fatal(err)
	}
	v1 := get(put("one").VersionID)
	put("two")
	unchanged("older version, newer one added", v1, true)
	if _, _, err := meta.DeleteObject(ctx, "b", "k", v1.VersionID); err != nil {
		t.Fatal(err)
	}
	unchanged("version deleted", v1, false)
	latest := get("")
	unchanged("latest", latest, true)
	latest.Record[len(latest.Record)/2] ^= 1
	unchanged("record differs by a bit", latest, false)
}
