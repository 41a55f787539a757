package local

import (
	"bytes"
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/datdot/datdot/gateway/store"
)

var ctx = context.Background()

func countFiles(t *testing.T, dir string) int {
	t.Helper()
	n := 0
	filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			n++
		}
		return nil
	})
	return n
}

func writeBlob(t *testing.T, blobs store.BlobStore, data string) store.BlobRef {
	t.Helper()
	ref, err := store.WriteBlob(ctx, blobs, strings.NewReader(data), int64(len(data)), nil)
	if err != nil {
		t.Fatal(err)
	}
	return ref
}

// TestCrashRecovery simulates the crashes the write order allows: a blob
// written but its metadata never committed, and a write interrupted while
// still in the temp directory. Reopening keeps what metadata references;
// the temp file is gone at once and the orphan blob, which is on the delete
// queue, is deleted by the reaper once its pending window is over. Nothing
// walks the blob directory.
func TestCrashRecovery(t *testing.T) {
	dir := t.TempDir()
	meta, blobs, err := Open(ctx, dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	blobs.InlineMax = 0 // blob files: this test is about them
	if err := meta.CreateBucket(ctx, store.Bucket{Name: "b", Created: time.Now()}); err != nil {
		t.Fatal(err)
	}
	// A committed object.
	ref := writeBlob(t, blobs, "kept")
	obj := store.Object{Key: "k", Size: 4, ETag: "e", Parts: []store.Part{{Size: 4, Blob: ref}}}
	if _, _, err := meta.PutObject(ctx, "b", obj, nil); err != nil {
		t.Fatal(err)
	}
	// An uncommitted multipart part is referenced too.
	if err := meta.CreateUpload(ctx, store.Upload{Bucket: "b", Key: "m", UploadID: newVersionID()}); err != nil {
		t.Fatal(err)
	}
	ups, _ := meta.ListUploads(ctx, "b", store.ListQuery{Limit: 10})
	pref, err := store.WriteBlob(ctx, blobs, strings.NewReader("part"), -1, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := meta.PutPart(ctx, "b", "m", ups[0].UploadID, store.Part{Number: 1, Size: 4, Blob: pref}); err != nil {
		t.Fatal(err)
	}
	// Crash 1: blob durable, metadata transaction never ran; its pending
	// window is already over.
	blobs.PendingWindow = -time.Minute
	writeBlob(t, blobs, "orphan")
	// Crash 2: a write still in tmp.
	if err := os.WriteFile(filepath.Join(dir, "tmp", "put-123"), []byte("half"), 0o644); err != nil {
		t.Fatal(err)
	}
	if n := countFiles(t, filepath.Join(dir, "blobs")); n != 3 {
		t.Fatalf("%d blob files before restart", n)
	}
	meta.Close()

	meta, blobs, err = Open(ctx, dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer meta.Close()
	if n := countFiles(t, filepath.Join(dir, "tmp")); n != 0 {
		t.Fatalf("%d temp files after restart", n)
	}
	r := store.NewReaper(meta, blobs, 0, nil)
	if n, err := r.ReapDue(ctx); err != nil || n != 1 {
		t.Fatalf("reaped %d blobs (%v), want 1 (the orphan)", n, err)
	}
	if n := countFiles(t, filepath.Join(dir, "blobs")); n != 2 {
		t.Fatalf("%d blob files after restart, want 2 (object + part)", n)
	}
	got, err := meta.GetObject(ctx, "b", "k", "")
	if err != nil {
		t.Fatal(err)
	}
	rc, err := store.OpenObject(ctx, blobs, &got, 0, got.Size)
	if err != nil {
		t.Fatal(err)
	}
	data, _ := io.ReadAll(rc)
	rc.Close()
	if string(data) != "kept" {
		t.Fatalf("object data %q", data)
	}
}

// TestCreateSizeMismatch: a body shorter or longer than declared fails and
// leaves no file.
func TestCreateSizeMismatch(t *testing.T) {
	dir := t.TempDir()
	blobs, err := OpenBlobs(dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, size := range []int64{3, 10} {
		if _, err := store.WriteBlob(ctx, blobs, strings.NewReader("12345"), size, nil); !errors.Is(err, store.ErrSizeMismatch) {
			t.Fatalf("size %d: %v", size, err)
		}
	}
	failing := io.MultiReader(strings.NewReader("abc"), errReader{})
	if _, err := store.WriteBlob(ctx, blobs, failing, -1, nil); err == nil {
		t.Fatal("read error not reported")
	}
	refused := errors.New("refused")
	if _, err := store.WriteBlob(ctx, blobs, strings.NewReader("abc"), 3, func() error { return refused }); !errors.Is(err, refused) {
		t.Fatalf("verify error: %v", err)
	}
	if n := countFiles(t, dir); n != 0 {
		t.Fatalf("%d files left", n)
	}
}

type errReader struct{}

func (errReader) Read([]byte) (int, error) { return 0, io.ErrUnexpectedEOF }

// TestReadAcrossParts reads every range of a three-part object.
func TestReadAcrossParts(t *testing.T) {
	blobs, err := OpenBlobs(t.TempDir(), nil)
	if err != nil {
		t.Fatal(err)
	}
	pieces := []string{"abc", "", "defgh", "ij"}
	var obj store.Object
	for _, p := range pieces {
		ref := writeBlob(t, blobs, p)
		obj.Parts = append(obj.Parts, store.Part{Size: ref.Size, Blob: ref})
		obj.Size += ref.Size
	}
	// A part that is a range of a blob (as a copy shares its source's).
	big := writeBlob(t, blobs, "0123456789")
	obj.Parts = append(obj.Parts, store.Part{Size: 4, Blob: big, Offset: 3})
	obj.Size += 4
	pieces = append(pieces, "3456")
	whole := strings.Join(pieces, "")
	for off := 0; off <= len(whole); off++ {
		for n := 0; off+n <= len(whole); n++ {
			rc, err := store.OpenObject(ctx, blobs, &obj, int64(off), int64(n))
			if err != nil {
				t.Fatal(err)
			}
			got, err := io.ReadAll(rc)
			rc.Close()
			if err != nil || !bytes.Equal(got, []byte(whole[off:off+n])) {
				t.Fatalf("range %d+%d: %q, %v", off, n, got, err)
			}
		}
	}
	if _, err := store.OpenObject(ctx, blobs, &obj, 5, 100); err == nil {
		t.Fatal("range past the end accepted")
	}
}

// TestVersionSemantics checks null versions, markers and listing order at
// the store level.
func TestVersionSemantics(t *testing.T) {
	meta, err := OpenMeta(filepath.Join(t.TempDir(), "m.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer meta.Close()
	meta.CreateBucket(ctx, store.Bucket{Name: "b"})
	put := func(key, etag string) store.Object {
		t.Helper()
		o, _, err := meta.PutObject(ctx, "b", store.Object{Key: key, ETag: etag}, nil)
		if err != nil {
			t.Fatal(err)
		}
		return o
	}
	if o := put("k", "1"); o.VersionID != store.NullVersion {
		t.Fatalf("unversioned version id %q", o.VersionID)
	}
	put("k", "2") // replaces the null version
	meta.UpdateBucket(ctx, "b", func(b *store.Bucket) error { b.Versioning = store.VersioningEnabled; return nil })
	v3 := put("k", "3")
	put("a", "x")
	res, _, err := meta.DeleteObject(ctx, "b", "k", "")
	if err != nil || !res.DeleteMarker {
		t.Fatalf("delete: %+v %v", res, err)
	}
	if _, err := meta.GetObject(ctx, "b", "k", ""); !errors.Is(err, store.ErrNoSuchKey) {
		t.Fatalf("latest after delete: %v", err)
	}
	vs, err := meta.ListVersions(ctx, "b", store.ListQuery{Limit: 100})
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, v := range vs {
		s := v.Key + ":" + v.ETag
		if v.DeleteMarker {
			s = v.Key + ":marker"
		}
		if v.IsLatest {
			s += "*"
		}
		got = append(got, s)
	}
	if want := "a:x* k:marker* k:3 k:2"; strings.Join(got, " ") != want {
		t.Fatalf("versions %q, want %q", strings.Join(got, " "), want)
	}
	// Resume after the marker's version.
	rest, _ := meta.ListVersions(ctx, "b", store.ListQuery{After: "k", AfterID: vs[1].VersionID, Limit: 100})
	if len(rest) != 2 || rest[0].VersionID != v3.VersionID || rest[0].IsLatest {
		t.Fatalf("after marker: %+v", rest)
	}
	objs, _ := meta.ListObjects(ctx, "b", store.ListQuery{Limit: 100})
	if len(objs) != 1 || objs[0].Key != "a" {
		t.Fatalf("objects %+v", objs)
	}
	if _, err := meta.DeleteBucket(ctx, "b"); !errors.Is(err, store.ErrBucketNotEmpty) {
		t.Fatalf("delete non-empty bucket: %v", err)
	}
}

// TestCreateMakesNoDirectory: every fan-out directory exists (and was
// fsynced into its parent) once OpenBlobs returns, so Create only renames a
// file into an existing, durable directory and a crash cannot drop a blob
// whose metadata committed along with a directory entry that never reached
// the disk.
func TestCreateMakesNoDirectory(t *testing.T) {
	dir := t.TempDir()
	blobs, err := OpenBlobs(dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	countDirs := func() int {
		entries, err := os.ReadDir(filepath.Join(dir, "blobs"))
		if err != nil {
			t.Fatal(err)
		}
		return len(entries)
	}
	if n := countDirs(); n != 256 {
		t.Fatalf("%d fan-out directories after open, want 256", n)
	}
	for range 20 {
		writeBlob(t, blobs, "x")
	}
	if n := countDirs(); n != 256 {
		t.Fatalf("%d fan-out directories after writes, want 256", n)
	}
}

// TestNULKeyRefused: a key with a NUL byte is refused by every write. Its
// entries ("x\x00..." + 0x00 + seq) would sort before those of "x" and end
// the scan of x's versions, hiding an object that exists.
func TestNULKeyRefused(t *testing.T) {
	meta, blobs, err := Open(ctx, t.TempDir(), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer meta.Close()
	if err := meta.CreateBucket(ctx, store.Bucket{Name: "b", Versioning: store.VersioningEnabled}); err != nil {
		t.Fatal(err)
	}
	ref := writeBlob(t, blobs, "data")
	if _, _, err := meta.PutObject(ctx, "b", store.Object{Key: "x", Size: 4, Parts: []store.Part{{Size: 4, Blob: ref}}}, nil); err != nil {
		t.Fatal(err)
	}
	if _, _, err := meta.DeleteObject(ctx, "b", "x\x00", ""); !errors.Is(err, store.ErrInvalidKey) {
		t.Errorf("DeleteObject of a NUL key: %v", err)
	}
	if _, _, err := meta.PutObject(ctx, "b", store.Object{Key: "x\x00y"}, nil); !errors.Is(err, store.ErrInvalidKey) {
		t.Errorf("PutObject of a NUL key: %v", err)
	}
	if err := meta.CreateUpload(ctx, store.Upload{Bucket: "b", Key: "x\x00", UploadID: newVersionID()}); !errors.Is(err, store.ErrInvalidKey) {
		t.Errorf("CreateUpload of a NUL key: %v", err)
	}
	if _, err := meta.GetObject(ctx, "b", "x", ""); err != nil {
		t.Fatalf("x hidden: %v", err)
	}
}

// TestLatestReadsOneRecord: reading or overwriting the latest version of a
// key decodes only that version's record, not every older one (a hot key
// in a versioned bucket would otherwise cost O(versions) per GET). Shown by
// damaging an old version's record: the latest stays readable and
// writable, and only a read of the damaged version fails.
func TestLatestReadsOneRecord(t *testing.T) {
	meta, _, err := Open(ctx, t.TempDir(), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer meta.Close()
	if err := meta.CreateBucket(ctx, store.Bucket{Name: "b", Versioning: store.VersioningEnabled}); err != nil {
		t.Fatal(err)
	}
	var ids []string
	for range 5 {
		o, _, err := meta.PutObject(ctx, "b", store.Object{Key: "k"}, nil)
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, o.VersionID)
	}
	// Damage the oldest version's record.
	err = meta.db.Update(func(tx *bolt.Tx) error {
		c := tx.Bucket(bObjects).Bucket([]byte("b")).Cursor()
		var last []byte
		for k, _ := c.Seek(keyPrefix("k")); k != nil; k, _ = c.Next() {
			last = append([]byte(nil), k...)
		}
		return tx.Bucket(bObjects).Bucket([]byte("b")).Put(last, []byte("{damaged"))
	})
	if err != nil {
		t.Fatal(err)
	}
	got, err := meta.GetObject(ctx, "b", "k", "")
	if err != nil || got.VersionID != ids[4] {
		t.Fatalf("latest: %v %v", got.VersionID, err)
	}
	if _, err := meta.GetObject(ctx, "b", "k", ids[3]); err != nil {
		t.Fatalf("version before the latest: %v", err)
	}
	if _, _, err := meta.PutObject(ctx, "b", store.Object{Key: "k"}, func(*store.Object) error { return nil }); err != nil {
		t.Fatalf("overwrite: %v", err)
	}
	if _, err := meta.GetObject(ctx, "b", "k", ids[0]); err == nil {
		t.Fatal("the damaged version decoded")
	}
}
