package local

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"path/filepath"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/datdot/datdot/gateway/store"
)

// manyParts stores key in bucket as a multipart object of n parts of size
// sz, all slices of one blob (so the test writes one file, not n), and
// returns the blob's bytes.
func manyParts(t testing.TB, meta *Meta, blobs *Blobs, bucket, key string, n, sz int) []byte {
	t.Helper()
	data := make([]byte, n*sz)
	for i := range data {
		data[i] = byte(i*7 + i/sz)
	}
	ref, err := store.WriteBlob(ctx, blobs, bytes.NewReader(data), int64(len(data)), nil)
	if err != nil {
		t.Fatal(err)
	}
	obj := store.Object{Key: key, Size: int64(len(data)), ETag: fmt.Sprintf("x-%d", n), Multipart: n > 1, Modified: time.Now().UTC()}
	for i := range n {
		obj.Parts = append(obj.Parts, store.Part{Number: i + 1, Size: int64(sz), ETag: fmt.Sprint(i), Blob: ref, Offset: int64(i * sz)})
	}
	if _, _, err := meta.PutObject(ctx, bucket, obj, nil); err != nil {
		t.Fatal(err)
	}
	return data
}

func readRange(t *testing.T, blobs *Blobs, obj *store.Object, off, n int64) []byte {
	t.Helper()
	rc, err := store.OpenObject(ctx, blobs, obj, off, n)
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	got, err := io.ReadAll(rc)
	if err != nil {
		t.Fatal(err)
	}
	return got
}

// allocs is the number of allocations of one call of fn (averaged): the
// measure of how many records a read decodes or visits (each decoded
// record costs allocations; a record not read costs none), independent of
// how busy the machine is.
func allocs(fn func()) float64 { return testing.AllocsPerRun(20, fn) }

// TestManyPartsRecordBound is issue 9 #9: the record of a version with
// 10,000 parts is read (GET/HEAD lookup, listing entry) at the cost of a
// one-part record; a partNumber read loads one part, a range the parts it
// spans, a whole read all of them, and the bytes are right.
func TestManyPartsRecordBound(t *testing.T) {
	meta, blobs, err := Open(ctx, t.TempDir(), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer meta.Close()
	if err := meta.CreateBucket(ctx, store.Bucket{Name: "b"}); err != nil {
		t.Fatal(err)
	}
	const n, sz = 10000, 16
	data := manyParts(t, meta, blobs, "b", "big", n, sz)
	manyParts(t, meta, blobs, "b", "small", 1, sz)

	obj, err := meta.GetObject(ctx, "b", "big", "")
	if err != nil {
		t.Fatal(err)
	}
	if obj.Parts != nil || obj.NumParts() != n || obj.Size != int64(n*sz) {
		t.Fatalf("record read: %d parts loaded, %d counted, size %d", len(obj.Parts), obj.NumParts(), obj.Size)
	}
	one := allocs(func() { meta.GetObject(ctx, "b", "small", "") })
	many := allocs(func() { meta.GetObject(ctx, "b", "big", "") })
	if many > one+20 {
		t.Fatalf("reading the record of %d parts allocates %.0f times, of one part %.0f: the parts are read", n, many, one)
	}
	list := allocs(func() { meta.ListObjects(ctx, "b", store.ListQuery{Limit: 10}) })
	if list > 3*one+50 {
		t.Fatalf("listing two keys allocates %.0f times (one record read: %.0f)", list, one)
	}
	versions := allocs(func() { meta.ListVersions(ctx, "b", store.ListQuery{Limit: 10}) })
	if versions > 3*one+50 {
		t.Fatalf("listing two versions allocates %.0f times (one record read: %.0f)", versions, one)
	}

	// partNumber 5,000: one part, at its offset.
	p := obj
	if err := meta.LoadParts(ctx, "b", &p, store.PartsQuery{From: 4999, To: 5000}); err != nil {
		t.Fatal(err)
	}
	if len(p.Parts) != 1 || p.PartsFrom != 4999 || p.PartsAt != 4999*sz || p.Parts[0].Number != 5000 {
		t.Fatalf("part 5000: %d parts from %d at %d", len(p.Parts), p.PartsFrom, p.PartsAt)
	}
	onePart := allocs(func() {
		p := obj
		meta.LoadParts(ctx, "b", &p, store.PartsQuery{From: 4999, To: 5000})
	})
	if onePart > one+20 {
		t.Fatalf("loading one part of %d allocates %.0f times", n, onePart)
	}
	// A range across three parts, not aligned.
	r := obj
	off, ln := int64(7000*sz+5), int64(2*sz+3)
	if err := meta.LoadParts(ctx, "b", &r, store.PartsQuery{Offset: off, Length: ln}); err != nil {
		t.Fatal(err)
	}
	if len(r.Parts) != 3 || r.PartsFrom != 7000 || r.PartsAt != 7000*sz {
		t.Fatalf("range: %d parts from %d at %d", len(r.Parts), r.PartsFrom, r.PartsAt)
	}
	if got := readRange(t, blobs, &r, off, ln); !bytes.Equal(got, data[off:off+ln]) {
		t.Fatal("range read wrong bytes")
	}
	for _, off := range []int64{0, 1, sz - 1, sz, int64(n*sz - 1)} {
		r := obj
		if err := meta.LoadParts(ctx, "b", &r, store.PartsQuery{Offset: off, Length: 1}); err != nil {
			t.Fatal(err)
		}
		if got := readRange(t, blobs, &r, off, 1); !bytes.Equal(got, data[off:off+1]) {
			t.Fatalf("byte %d: %v, want %v (parts from %d)", off, got, data[off:off+1], r.PartsFrom)
		}
	}
	whole := obj
	if err := meta.LoadParts(ctx, "b", &whole, store.PartsQuery{Offset: 0, Length: whole.Size}); err != nil {
		t.Fatal(err)
	}
	if len(whole.Parts) != n {
		t.Fatalf("whole: %d parts", len(whole.Parts))
	}
	if got := readRange(t, blobs, &whole, 0, whole.Size); !bytes.Equal(got, data) {
		t.Fatal("whole read wrong bytes")
	}
	// A one-part object selects in memory.
	small, _ := meta.GetObject(ctx, "b", "small", "")
	if len(small.Parts) != 1 {
		t.Fatalf("one-part record: %d parts", len(small.Parts))
	}
	if err := meta.LoadParts(ctx, "b", &small, store.PartsQuery{Offset: 3, Length: 4}); err != nil || len(small.Parts) != 1 {
		t.Fatalf("one part: %v %d", err, len(small.Parts))
	}

	// Overwritten: the parts of the old version are gone with it and their
	// references dropped; a reader holding the old record gets
	// ErrNoSuchVersion, not another version's parts.
	manyParts(t, meta, blobs, "b", "big", 3, sz)
	stale := obj
	if err := meta.LoadParts(ctx, "b", &stale, store.PartsQuery{From: 0, To: 1}); err == nil {
		t.Fatal("parts of an overwritten version loaded")
	}
	meta.db.View(func(tx *bolt.Tx) error {
		if got := len(partEntries(tx.Bucket(bObjParts).Bucket([]byte("b")), "big")); got != 3 {
			t.Errorf("%d part records of key big, want 3", got)
		}
		rec, _ := getRec(tx, whole.Parts[0].Blob.ID)
		if rec != nil {
			t.Errorf("the overwritten version's blob still has %d references", rec.N)
		}
		return nil
	})
}

// TestNullVersionBound is issue 9 #9: a PUT or DELETE in a suspended
// bucket, and a GET of versionId=null or of a version id, read a bounded
// number of records whatever the number of versions of the key (they
// walked every version); the versions they keep and replace are right.
func TestNullVersionBound(t *testing.T) {
	meta, blobs, err := Open(ctx, t.TempDir(), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer meta.Close()
	if err := meta.CreateBucket(ctx, store.Bucket{Name: "b", Versioning: store.VersioningEnabled}); err != nil {
		t.Fatal(err)
	}
	const versions = 3000
	put := func(key string) store.Object {
		o, _, err := meta.PutObject(ctx, "b", store.Object{Key: key, Size: 1, ETag: "e", Parts: []store.Part{{Size: 1, Blob: writeBlob(t, blobs, "x")}}}, nil)
		if err != nil {
			t.Fatal(err)
		}
		return o
	}
	// The many versions are written in one transaction (the test is not
	// about write speed); each as PutObject would.
	err = meta.db.Update(func(tx *bolt.Tx) error {
		objs, b, err := objectsOf(tx, "b")
		if err != nil {
			return err
		}
		for i := range versions {
			o := store.Object{Key: "hot", Size: 0, ETag: fmt.Sprint(i)}
			if i == 10 {
				b.Versioning = store.VersioningSuspended // one null version among them
			}
			if _, err := putVersion(tx, objs, b, &o, nil, nil); err != nil {
				return err
			}
			b.Versioning = store.VersioningEnabled
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	mid := put("cold")
	if err := meta.UpdateBucket(ctx, "b", func(b *store.Bucket) error { b.Versioning = store.VersioningSuspended; return nil }); err != nil {
		t.Fatal(err)
	}
	cold := allocs(func() { put("cold") })
	hot := allocs(func() { put("hot") })
	if hot > cold+200 {
		t.Fatalf("a suspended-bucket PUT of a key with %d versions allocates %.0f times, of a key with 2: %.0f: it walks the versions", versions, hot, cold)
	}
	cold = allocs(func() { meta.GetObject(ctx, "b", "cold", store.NullVersion) })
	hot = allocs(func() { meta.GetObject(ctx, "b", "hot", store.NullVersion) })
	if hot > cold+20 {
		t.Fatalf("GET versionId=null of a key with %d versions allocates %.0f times, with 2: %.0f", versions, hot, cold)
	}
	vs, err := meta.ListVersions(ctx, "b", store.ListQuery{Prefix: "hot", Limit: versions + 10})
	if err != nil {
		t.Fatal(err)
	}
	nulls, oldest := 0, vs[len(vs)-1]
	for _, v := range vs {
		if v.VersionID == store.NullVersion {
			nulls++
		}
	}
	if nulls != 1 || len(vs) != versions-1+1 || !vs[0].IsLatest || vs[0].VersionID != store.NullVersion {
		t.Fatalf("after suspended PUTs: %d versions, %d null, latest %q", len(vs), nulls, vs[0].VersionID)
	}
	// Listing reads a key's newest version only.
	cold = allocs(func() { meta.ListObjects(ctx, "b", store.ListQuery{Prefix: "cold", Limit: 10}) })
	hot = allocs(func() { meta.ListObjects(ctx, "b", store.ListQuery{Prefix: "hot", Limit: 10}) })
	if hot > cold+20 {
		t.Fatalf("listing a key with %d versions allocates %.0f times, with 2: %.0f", versions, hot, cold)
	}
	cold = allocs(func() { meta.GetObject(ctx, "b", "cold", mid.VersionID) })
	hot = allocs(func() { meta.GetObject(ctx, "b", "hot", oldest.VersionID) })
	if hot > cold+20 {
		t.Fatalf("GET by version id among %d versions allocates %.0f times, among 2: %.0f", versions, hot, cold)
	}
	// A DELETE makes a null delete marker that replaces the null version.
	if res, _, err := meta.DeleteObject(ctx, "b", "hot", ""); err != nil || !res.DeleteMarker || res.VersionID != store.NullVersion {
		t.Fatalf("delete: %+v %v", res, err)
	}
	vs, _ = meta.ListVersions(ctx, "b", store.ListQuery{Prefix: "hot", Limit: versions + 10})
	if len(vs) != versions || !vs[0].DeleteMarker {
		t.Fatalf("after delete: %d versions, latest marker %v", len(vs), vs[0].DeleteMarker)
	}
	if _, _, err := meta.DeleteObject(ctx, "b", "hot", store.NullVersion); err != nil {
		t.Fatal(err)
	}
	if _, err := meta.GetObject(ctx, "b", "hot", store.NullVersion); err != store.ErrNoSuchVersion {
		t.Fatalf("null version after its delete: %v", err)
	}
}

// TestUnversionedPutBound: in a bucket that was never versioned a key
// has one version however often it is overwritten, and a PUT reads it
// once.
func TestUnversionedPutBound(t *testing.T) {
	meta, _, err := Open(ctx, t.TempDir(), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer meta.Close()
	if err := meta.CreateBucket(ctx, store.Bucket{Name: "b"}); err != nil {
		t.Fatal(err)
	}
	put := func(key string) {
		if _, _, err := meta.PutObject(ctx, "b", store.Object{Key: key, ETag: "e"}, nil); err != nil {
			t.Fatal(err)
		}
	}
	put("new")
	for range 200 {
		put("hot")
	}
	vs, err := meta.ListVersions(ctx, "b", store.ListQuery{Prefix: "hot", Limit: 1000})
	if err != nil || len(vs) != 1 || vs[0].VersionID != store.NullVersion {
		t.Fatalf("after 200 PUTs: %d versions, %v", len(vs), err)
	}
	once := allocs(func() { put("new") })
	often := allocs(func() { put("hot") })
	if often > once+50 {
		t.Fatalf("a PUT of a key overwritten 200 times allocates %.0f times, of another %.0f", often, once)
	}
}

// TestUpgradeLayout: a database written before the parts and null
// indexes (parts inside records, no index) is converted at open, and its
// versions read, list, load parts and are replaced as new ones are.
func TestUpgradeLayout(t *testing.T) {
	dir := t.TempDir()
	meta, blobs, err := Open(ctx, dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := meta.CreateBucket(ctx, store.Bucket{Name: "b"}); err != nil {
		t.Fatal(err)
	}
	data := manyParts(t, meta, blobs, "b", "mp", 5, 10)
	// Back to the old layout: parts inline, no objparts entries, no index.
	err = meta.db.Update(func(tx *bolt.Tx) error {
		objs := tx.Bucket(bObjects).Bucket([]byte("b"))
		k, v := objs.Cursor().First()
		o, err := decodeObject(v, k)
		if err != nil {
			return err
		}
		if o.Parts, err = entryParts(tx, "b", k, &o); err != nil {
			return err
		}
		o.PartCount = 0
		raw, _ := json.Marshal(o)
		if err := objs.Put(bytes.Clone(k), raw); err != nil {
			return err
		}
		if err := tx.Bucket(bObjParts).DeleteBucket([]byte("b")); err != nil {
			return err
		}
		return tx.DeleteBucket(bNulls)
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
	if blobs, err = OpenBlobs(dir, meta); err != nil {
		t.Fatal(err)
	}
	obj, err := meta.GetObject(ctx, "b", "mp", store.NullVersion)
	if err != nil {
		t.Fatal(err)
	}
	if obj.Parts != nil || obj.NumParts() != 5 {
		t.Fatalf("after upgrade: %d parts in the record, %d counted", len(obj.Parts), obj.NumParts())
	}
	if err := meta.LoadParts(ctx, "b", &obj, store.PartsQuery{Offset: 12, Length: 20}); err != nil {
		t.Fatal(err)
	}
	if got := readRange(t, blobs, &obj, 12, 20); !bytes.Equal(got, data[12:32]) {
		t.Fatal("upgraded parts read wrong bytes")
	}
	// The null index found it: an overwrite replaces it and frees its blob.
	_, freed, err := meta.PutObject(ctx, "b", store.Object{Key: "mp"}, nil)
	if err != nil || len(freed) != 1 || freed[0].ID != obj.Parts[0].Blob.ID {
		t.Fatalf("overwrite of the upgraded version: freed %v, %v", freed, err)
	}
}

// TestSplitPartsJournal: the metadata log's changes carry the parts kept
// apart, and a database rebuilt from them (or from an older change with
// the parts inline) has the same versions, parts and references.
func TestSplitPartsJournal(t *testing.T) {
	meta, blobs, err := Open(ctx, t.TempDir(), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer meta.Close()
	if err := meta.CreateBucket(ctx, store.Bucket{Name: "b", Versioning: store.VersioningEnabled}); err != nil {
		t.Fatal(err)
	}
	data := manyParts(t, meta, blobs, "b", "mp", 7, 10)
	manyParts(t, meta, blobs, "b", "mp", 2, 10)
	var changes []Change
	if err := meta.Snapshot(ctx, func(c Change) error { changes = append(changes, c); return nil }); err != nil {
		t.Fatal(err)
	}
	var parts int
	for _, c := range changes {
		parts += len(c.Parts)
	}
	if parts != 9 {
		t.Fatalf("snapshot carries %d part records, want 9", parts)
	}
	// An older change of another key: parts inline.
	old := store.Object{Key: "legacy", VersionID: "null", Size: 20, ETag: "l", Multipart: true, Modified: time.Now().UTC(),
		Parts: []store.Part{{Number: 1, Size: 10, Blob: store.BlobRef{ID: "aa", Size: 10}}, {Number: 2, Size: 10, Blob: store.BlobRef{ID: "bb", Size: 10}}}}
	raw, _ := json.Marshal(old)
	changes = append(changes, Change{Kind: MarkKey, Bucket: "b", Key: "legacy", Entries: []KV{{K: entryKey("legacy", 99), V: raw}}})

	re, err := OpenMeta(filepath.Join(t.TempDir(), "meta.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer re.Close()
	if err := re.ApplyChanges(ctx, changes); err != nil {
		t.Fatal(err)
	}
	if err := re.FinishRebuild(ctx); err != nil {
		t.Fatal(err)
	}
	vs, err := re.ListVersions(ctx, "b", store.ListQuery{Limit: 10})
	if err != nil || len(vs) != 3 {
		t.Fatalf("rebuilt versions: %d, %v", len(vs), err)
	}
	for _, v := range vs {
		if v.Key != "mp" || v.NumParts() != 7 {
			continue
		}
		if err := re.LoadParts(ctx, "b", &v, store.PartsQuery{Offset: 0, Length: v.Size}); err != nil {
			t.Fatal(err)
		}
		if got := readRange(t, blobs, &v, 0, v.Size); !bytes.Equal(got, data) {
			t.Fatal("rebuilt parts read wrong bytes")
		}
	}
	lg, err := re.GetObject(ctx, "b", "legacy", store.NullVersion)
	if err != nil || lg.Parts != nil || lg.NumParts() != 2 {
		t.Fatalf("legacy change after rebuild: %d parts in record, %d counted, %v", len(lg.Parts), lg.NumParts(), err)
	}
	re.db.View(func(tx *bolt.Tx) error {
		for _, id := range []string{"aa", "bb"} {
			if rec, _ := getRec(tx, id); rec == nil || rec.N != 1 {
				t.Errorf("blob %s: %+v references after rebuild", id, rec)
			}
		}
		return nil
	})
}

// TestSplitPartsHistory: a version with parts kept apart that is
// overwritten while a retention is set keeps its parts as a hidden
// version, is restored with them, and frees its blob only when it expires;
// a bucket deleted and created again does not reuse its entry keys.
func TestSplitPartsHistory(t *testing.T) {
	meta, blobs, err := Open(ctx, t.TempDir(), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer meta.Close()
	if err := meta.SetHistoryRetention(ctx, time.Hour); err != nil {
		t.Fatal(err)
	}
	if err := meta.CreateBucket(ctx, store.Bucket{Name: "b"}); err != nil {
		t.Fatal(err)
	}
	data := manyParts(t, meta, blobs, "b", "mp", 4, 8)
	before := time.Now().UTC()
	time.Sleep(time.Millisecond)
	manyParts(t, meta, blobs, "b", "mp", 3, 8)
	st, _, err := meta.RestoreAt(ctx, "b", "", before)
	if err != nil || st.Restored != 1 {
		t.Fatalf("restore: %+v %v", st, err)
	}
	obj, err := meta.GetObject(ctx, "b", "mp", "")
	if err != nil || obj.NumParts() != 4 {
		t.Fatalf("restored: %d parts, %v", obj.NumParts(), err)
	}
	if err := meta.LoadParts(ctx, "b", &obj, store.PartsQuery{Offset: 0, Length: obj.Size}); err != nil {
		t.Fatal(err)
	}
	if got := readRange(t, blobs, &obj, 0, obj.Size); !bytes.Equal(got, data) {
		t.Fatal("restored version reads wrong bytes")
	}
	// Delete everything, the bucket too, and create it again: new
	// versions sort above the hidden ones and do not touch their parts.
	if _, _, err := meta.DeleteObject(ctx, "b", "mp", ""); err != nil {
		t.Fatal(err)
	}
	if _, err := meta.DeleteBucket(ctx, "b"); err != nil {
		t.Fatal(err)
	}
	if err := meta.CreateBucket(ctx, store.Bucket{Name: "b"}); err != nil {
		t.Fatal(err)
	}
	manyParts(t, meta, blobs, "b", "mp", 2, 8)
	hv, _, err := meta.History(ctx, "b", "", "", 10)
	if err != nil {
		t.Fatal(err)
	}
	seen := map[uint64]bool{}
	for _, v := range hv {
		if seen[v.seq] {
			t.Fatalf("two versions at sequence %d", v.seq)
		}
		seen[v.seq] = true
		if len(v.Parts) != v.NumParts() {
			t.Fatalf("version at %d: %d of %d parts", v.seq, len(v.Parts), v.NumParts())
		}
	}
	if len(hv) != 4 {
		t.Fatalf("%d versions in the history, want 4", len(hv))
	}
	n, freed, err := meta.ExpireHistory(ctx, time.Now().Add(2*time.Hour), 100)
	if err != nil || n != 3 {
		t.Fatalf("expired %d, %v", n, err)
	}
	if len(freed) != 2 {
		t.Fatalf("expiry freed %d blobs, want the two of the hidden versions", len(freed))
	}
	meta.db.View(func(tx *bolt.Tx) error {
		if got := len(partEntries(tx.Bucket(bObjParts).Bucket([]byte("b")), "mp")); got != 2 {
			t.Errorf("%d part records left, want the live version's 2", got)
		}
		return nil
	})
}
