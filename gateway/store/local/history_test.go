package local

import (
	"errors"
	"io"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/datdot/datdot/gateway/store"
)

type histFixture struct {
	t     *testing.T
	meta  *Meta
	blobs *Blobs
}

func newHistFixture(t *testing.T, retention time.Duration, versioning string) *histFixture {
	t.Helper()
	meta, blobs, err := Open(ctx, t.TempDir(), nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { meta.Close() })
	if err := meta.SetHistoryRetention(ctx, retention); err != nil {
		t.Fatal(err)
	}
	if err := meta.CreateBucket(ctx, store.Bucket{Name: "b", Versioning: versioning}); err != nil {
		t.Fatal(err)
	}
	return &histFixture{t: t, meta: meta, blobs: blobs}
}

// put writes key with data and returns the freed blobs.
func (f *histFixture) put(key, data string) []store.BlobRef {
	f.t.Helper()
	ref := writeBlob(f.t, f.blobs, data)
	o := store.Object{Key: key, Size: ref.Size, ETag: data, Modified: time.Now().UTC(), Parts: []store.Part{{Size: ref.Size, Blob: ref}}}
	_, freed, err := f.meta.PutObject(ctx, "b", o, nil)
	if err != nil {
		f.t.Fatal(err)
	}
	return freed
}

// read returns the current content of key ("" when absent).
func (f *histFixture) read(key string) string {
	f.t.Helper()
	o, err := f.meta.GetObject(ctx, "b", key, "")
	if err != nil {
		return ""
	}
	r, err := f.blobs.Open(ctx, o.Parts[0].Blob, 0, o.Size)
	if err != nil {
		f.t.Fatalf("read %s: %v", key, err)
	}
	defer r.Close()
	b, _ := io.ReadAll(r)
	return string(b)
}

// tick makes the next write's time strictly later than the returned one.
func tick() time.Time {
	time.Sleep(2 * time.Millisecond)
	t := time.Now().UTC()
	time.Sleep(2 * time.Millisecond)
	return t
}

// TestHiddenHistoryUnversioned: in an unversioned bucket, overwritten
// and deleted versions are kept hidden (S3's version listing and the
// freed blobs are as without history), listed by History, and RestoreAt
// brings the bucket back to a moment, keeping later writes hidden.
func TestHiddenHistoryUnversioned(t *testing.T) {
	for _, versioning := range []string{store.VersioningOff, store.VersioningSuspended} {
		t.Run("versioning="+versioning, func(t *testing.T) {
			f := newHistFixture(t, time.Hour, versioning)
			if freed := f.put("a", "a1"); len(freed) != 0 {
				t.Fatal(freed)
			}
			f.put("gone", "g1")
			f.put("same", "s1")
			t1 := tick()
			if freed := f.put("a", "a2"); len(freed) != 0 {
				t.Fatalf("overwrite freed %v with history kept", freed)
			}
			if _, freed, err := f.meta.DeleteObject(ctx, "b", "gone", ""); err != nil || len(freed) != 0 {
				t.Fatalf("delete freed %v %v", freed, err)
			}
			f.put("new", "n1")
			t2 := tick()
			// What S3 clients see is unchanged by the history.
			vs, err := f.meta.ListVersions(ctx, "b", store.ListQuery{Limit: 100})
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, v := range vs {
				got = append(got, v.Key+"="+v.ETag+"/"+v.VersionID)
			}
			want := []string{"a=a2/null", "new=n1/null", "same=s1/null"}
			if versioning == store.VersioningSuspended {
				want = []string{"a=a2/null", "gone=/null", "new=n1/null", "same=s1/null"}
			}
			if !slices.Equal(got, want) {
				t.Fatalf("S3 versions %v, want %v", got, want)
			}
			// The operator sees the hidden ones.
			hist, _, err := f.meta.History(ctx, "b", "", "", 100)
			if err != nil {
				t.Fatal(err)
			}
			hidden := map[string]string{}
			for _, v := range hist {
				if v.Hidden {
					hidden[v.Key] = v.ETag
				}
			}
			if hidden["a"] != "a1" || hidden["gone"] != "g1" || len(hidden) != 2 {
				t.Fatalf("hidden versions %v", hidden)
			}
			// The reaper cannot delete hidden versions' bytes.
			if n, err := store.NewReaper(f.meta, f.blobs, 0, nil).ReapDue(ctx); err != nil || n != 0 {
				t.Fatalf("reaped %d %v", n, err)
			}
			st, freed, err := f.meta.RestoreAt(ctx, "b", "", t1)
			if err != nil || len(freed) != 0 {
				t.Fatalf("restore: %v %v", freed, err)
			}
			if st.Restored != 2 || st.Deleted != 1 || st.Unchanged != 1 {
				t.Fatalf("restore stats %+v", st)
			}
			for k, want := range map[string]string{"a": "a1", "gone": "g1", "same": "s1", "new": ""} {
				if got := f.read(k); got != want {
					t.Errorf("after restore %s = %q, want %q", k, got, want)
				}
			}
			// What was current before the restore is kept.
			hist, _, _ = f.meta.History(ctx, "b", "", "", 100)
			etags := map[string][]string{}
			for _, v := range hist {
				etags[v.Key] = append(etags[v.Key], v.ETag)
			}
			if !slices.Contains(etags["a"], "a2") || !slices.Contains(etags["new"], "n1") {
				t.Fatalf("later versions not kept: %v", etags)
			}
			// Restoring to now is a no-op.
			st, _, err = f.meta.RestoreAt(ctx, "b", "", time.Now())
			if err != nil || st.Restored+st.Deleted != 0 {
				t.Fatalf("restore to now changed %+v %v", st, err)
			}
			// Restoring to before the first restore brings "new" back.
			st, _, err = f.meta.RestoreAt(ctx, "b", "new", t2)
			if err != nil || st.Keys != 1 || f.read("new") != "n1" {
				t.Fatalf("prefix restore %+v %v %q", st, err, f.read("new"))
			}
		})
	}
}

// TestHiddenHistoryVersioned: a version deleted by id in a versioned
// bucket is kept hidden and restored.
func TestHiddenHistoryVersioned(t *testing.T) {
	f := newHistFixture(t, time.Hour, store.VersioningEnabled)
	f.put("k", "v1")
	t1 := tick()
	vs, _ := f.meta.ListVersions(ctx, "b", store.ListQuery{Limit: 10})
	if _, freed, err := f.meta.DeleteObject(ctx, "b", "k", vs[0].VersionID); err != nil || len(freed) != 0 {
		t.Fatalf("delete by id: %v %v", freed, err)
	}
	if vs, _ := f.meta.ListVersions(ctx, "b", store.ListQuery{Limit: 10}); len(vs) != 0 {
		t.Fatalf("S3 still lists %v", vs)
	}
	if _, _, err := f.meta.RestoreAt(ctx, "b", "", t1); err != nil {
		t.Fatal(err)
	}
	if got := f.read("k"); got != "v1" {
		t.Fatalf("restored %q", got)
	}
	// Restoring to before the key existed adds a delete marker.
	if _, _, err := f.meta.RestoreAt(ctx, "b", "", t1.Add(-time.Hour)); err != nil {
		t.Fatal(err)
	}
	vs, _ = f.meta.ListVersions(ctx, "b", store.ListQuery{Limit: 10})
	if f.read("k") != "" || len(vs) != 2 || !vs[0].DeleteMarker {
		t.Fatalf("after restore to before: %+v", vs)
	}
}

// TestHistoryExpiry: hidden versions expire after the retention, a
// bounded number per call, and then free their blobs; with no retention
// nothing is kept.
func TestHistoryExpiry(t *testing.T) {
	f := newHistFixture(t, time.Minute, store.VersioningOff)
	for i := range 5 {
		f.put("k", "v"+string(rune('0'+i)))
	}
	if n, freed, err := f.meta.ExpireHistory(ctx, time.Now(), 10); err != nil || n != 0 || len(freed) != 0 {
		t.Fatalf("expired %d within the retention (%v)", n, err)
	}
	later := time.Now().Add(2 * time.Minute)
	n, freed, err := f.meta.ExpireHistory(ctx, later, 3)
	if err != nil || n != 3 || len(freed) != 3 {
		t.Fatalf("first pass: %d %d %v", n, len(freed), err)
	}
	n, freed, err = f.meta.ExpireHistory(ctx, later, 3)
	if err != nil || n != 1 || len(freed) != 1 {
		t.Fatalf("second pass: %d %d %v", n, len(freed), err)
	}
	reaped, err := store.NewReaper(f.meta, f.blobs, 0, nil).ReapDue(ctx)
	if err != nil || reaped != 4 {
		t.Fatalf("reaped %d %v", reaped, err)
	}
	if f.read("k") != "v4" {
		t.Fatal("current version lost")
	}
	// Retention 0: an overwrite frees at once, as without history.
	if err := f.meta.SetHistoryRetention(ctx, 0); err != nil {
		t.Fatal(err)
	}
	if freed := f.put("k", "v5"); len(freed) != 1 {
		t.Fatalf("overwrite without history freed %v", freed)
	}
}

// TestJournalSnapshotRebuild: the journal names what changed, a cleared
// mark made again stays, and a snapshot applied to an empty database
// rebuilds versions, hidden versions, reference counts and sequences.
func TestJournalSnapshotRebuild(t *testing.T) {
	f := newHistFixture(t, time.Hour, store.VersioningOff)
	f.put("x", "x1")
	f.put("x", "x2")
	f.put("y", "y1")
	if err := f.meta.Mark(ctx, []Mark{{Kind: MarkKey, Bucket: "b", Key: "x"}, {Kind: MarkBucket, Bucket: "b"}}); err != nil {
		t.Fatal(err)
	}
	jb, err := f.meta.TakeJournal(ctx, 100, 1<<20, nil)
	if err != nil {
		t.Fatal(err)
	}
	var kinds []string
	for _, c := range jb.Changes {
		kinds = append(kinds, string(c.Kind)+c.Key)
		if c.Kind == MarkKey && (len(c.Entries) != 1 || len(c.Hidden) != 1) {
			t.Fatalf("key change %+v", c)
		}
	}
	if !slices.Equal(kinds, []string{"b", "c", "kx"}) {
		t.Fatalf("journal %v", kinds)
	}
	// x is marked again after the batch was taken: it stays.
	if err := f.meta.Mark(ctx, []Mark{{Kind: MarkKey, Bucket: "b", Key: "x"}}); err != nil {
		t.Fatal(err)
	}
	if err := f.meta.ClearJournal(ctx, jb); err != nil {
		t.Fatal(err)
	}
	if n, _ := f.meta.JournalLen(ctx); n != 1 {
		t.Fatalf("journal keeps %d marks, want 1", n)
	}

	dst, err := OpenMeta(filepath.Join(t.TempDir(), "meta.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer dst.Close()
	var changes []Change
	if err := f.meta.Snapshot(ctx, func(c Change) error { changes = append(changes, c); return nil }); err != nil {
		t.Fatal(err)
	}
	if err := dst.ApplyChanges(ctx, changes); err != nil {
		t.Fatal(err)
	}
	if err := dst.FinishRebuild(ctx); err != nil {
		t.Fatal(err)
	}
	src, _ := f.meta.ListVersions(ctx, "b", store.ListQuery{Limit: 10})
	got, _ := dst.ListVersions(ctx, "b", store.ListQuery{Limit: 10})
	if len(src) != len(got) {
		t.Fatalf("rebuilt versions %v, want %v", got, src)
	}
	for i := range src {
		if src[i].ETag != got[i].ETag || src[i].Parts[0].Blob.ID != got[i].Parts[0].Blob.ID {
			t.Fatalf("version %d: %+v, want %+v", i, got[i], src[i])
		}
	}
	// The per-bucket usage (per-account limits) is counted again.
	wantUse, _ := f.meta.BucketUsage(ctx, "b")
	if gotUse, err := dst.BucketUsage(ctx, "b"); err != nil || gotUse != wantUse || wantUse == 0 {
		t.Fatalf("rebuilt usage %d (%v), want %d", gotUse, err, wantUse)
	}
	if d, _ := dst.HistoryRetention(ctx); d != time.Hour {
		t.Fatalf("retention %v", d)
	}
	h, _, _ := dst.History(ctx, "b", "", "", 10)
	if len(h) != 3 {
		t.Fatalf("rebuilt history %v", h)
	}
	// Reference counts: deleting x's current version keeps it hidden,
	// and expiring everything frees exactly the two hidden blobs.
	if _, _, err := dst.DeleteObject(ctx, "b", "x", ""); err != nil {
		t.Fatal(err)
	}
	if err := dst.SetHistoryRetention(ctx, 0); err != nil {
		t.Fatal(err)
	}
	n, freed, err := dst.ExpireHistory(ctx, time.Now(), 100)
	if err != nil || n != 2 || len(freed) != 2 {
		t.Fatalf("expire on the rebuilt database: %d %v %v", n, freed, err)
	}
	// A new version sorts above every rebuilt one.
	o := store.Object{Key: "y", ETag: "y2", Parts: []store.Part{{Blob: got[1].Parts[0].Blob, Size: got[1].Size}}}
	if _, _, err := dst.PutObject(ctx, "b", o, nil); err != nil {
		t.Fatal(err)
	}
	if cur, err := dst.GetObject(ctx, "b", "y", ""); err != nil || cur.ETag != "y2" {
		t.Fatalf("new version after rebuild: %+v %v", cur, err)
	}
}

// TestRestoreDeletedBucket: a bucket emptied and deleted comes back, with
// its objects, from the hidden history.
func TestRestoreDeletedBucket(t *testing.T) {
	f := newHistFixture(t, time.Hour, store.VersioningOff)
	if err := f.meta.UpdateBucket(ctx, "b", func(b *store.Bucket) error {
		b.CORS = []store.CORSRule{{AllowedOrigins: []string{"*"}, AllowedMethods: []string{"GET"}}}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	f.put("k1", "one")
	f.put("k2", "two")
	moment := tick()
	for _, k := range []string{"k1", "k2"} {
		if _, _, err := f.meta.DeleteObject(ctx, "b", k, ""); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := f.meta.DeleteBucket(ctx, "b"); err != nil {
		t.Fatal(err)
	}
	if _, _, err := f.meta.RestoreAt(ctx, "nosuch", "", moment); err == nil {
		t.Fatal("restore of a bucket that never existed")
	}
	st, _, err := f.meta.RestoreAt(ctx, "b", "", moment)
	if err != nil || st.Restored != 2 {
		t.Fatalf("restore of a deleted bucket: %+v %v", st, err)
	}
	b, err := f.meta.GetBucket(ctx, "b")
	if err != nil || len(b.CORS) != 1 {
		t.Fatalf("bucket record %+v %v", b, err)
	}
	if f.read("k1") != "one" || f.read("k2") != "two" {
		t.Fatal("objects not restored")
	}
	// New versions sort above the hidden ones: a second restore to the
	// same moment changes nothing.
	if st, _, err := f.meta.RestoreAt(ctx, "b", "", moment); err != nil || st.Unchanged != 2 {
		t.Fatalf("second restore %+v %v", st, err)
	}
}

// TestPutObjectMarked: the marks go in the transaction of the new version:
// after the call the journal names the key, with the version in its state;
// a put its check refuses changes nothing and leaves no mark.
func TestPutObjectMarked(t *testing.T) {
	f := newHistFixture(t, 0, store.VersioningOff)
	refused := errors.New("refused")
	ref := writeBlob(t, f.blobs, "y1")
	o := store.Object{Key: "y", Size: ref.Size, ETag: "y1", Modified: time.Now().UTC(), Parts: []store.Part{{Size: ref.Size, Blob: ref}}}
	_, _, err := f.meta.PutObjectMarked(ctx, "b", o, func(*store.Object) error { return refused }, []Mark{{Kind: MarkKey, Bucket: "b", Key: "y"}})
	if !errors.Is(err, refused) {
		t.Fatalf("refused put: %v", err)
	}
	ref = writeBlob(t, f.blobs, "x1")
	o = store.Object{Key: "x", Size: ref.Size, ETag: "x1", Modified: time.Now().UTC(), Parts: []store.Part{{Size: ref.Size, Blob: ref}}}
	if _, _, err := f.meta.PutObjectMarked(ctx, "b", o, nil, []Mark{{Kind: MarkKey, Bucket: "b", Key: "x"}}); err != nil {
		t.Fatal(err)
	}
	jb, err := f.meta.TakeJournal(ctx, 100, 1<<20, nil)
	if err != nil {
		t.Fatal(err)
	}
	var keys []string
	for _, c := range jb.Changes {
		if c.Kind != MarkKey {
			continue
		}
		keys = append(keys, c.Key)
		if len(c.Entries) != 1 {
			t.Fatalf("change of %q has %d versions, want 1", c.Key, len(c.Entries))
		}
	}
	if !slices.Equal(keys, []string{"x"}) {
		t.Fatalf("journal names keys %v, want [x]", keys)
	}
	if f.read("y") != "" || f.read("x") != "x1" {
		t.Fatalf("y=%q x=%q", f.read("y"), f.read("x"))
	}
}
