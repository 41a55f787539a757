package local

import (
	"bytes"
	"errors"
	"path/filepath"
	"strings"
	"testing"

	"github.com/datdot/datdot/gateway/store"
)

// TestInlineBlobs: a blob of at most InlineMax bytes makes no file and no
// pending record; its bytes become durable with the metadata commit that
// references it (they are there after the database is reopened), a commit
// that fails leaves nothing, and once freed the reaper deletes them. A
// blob one byte larger is a file.
func TestInlineBlobs(t *testing.T) {
	dir := t.TempDir()
	meta, blobs, err := Open(ctx, dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := meta.CreateBucket(ctx, store.Bucket{Name: "b"}); err != nil {
		t.Fatal(err)
	}
	small := strings.Repeat("s", blobs.InlineMax)
	ref := writeBlob(t, blobs, small)
	if !ref.Inline || countFiles(t, filepath.Join(dir, "blobs")) != 0 || countFiles(t, filepath.Join(dir, "tmp")) != 0 {
		t.Fatalf("small blob: inline %v, files made", ref.Inline)
	}
	// A commit that fails (precondition) stores nothing.
	refuse := func(*store.Object) error { return store.ErrPreconditionStore }
	if _, _, err := meta.PutObject(ctx, "b", store.Object{Key: "k", Size: ref.Size, Parts: []store.Part{{Size: ref.Size, Blob: ref}}}, refuse); !errors.Is(err, store.ErrPreconditionStore) {
		t.Fatal(err)
	}
	if _, err := meta.InlineData(ctx, ref.ID); !errors.Is(err, store.ErrDataShort) {
		t.Fatalf("bytes of a blob whose commit failed: %v", err)
	}
	if _, _, err := meta.PutObject(ctx, "b", store.Object{Key: "k", Size: ref.Size, Parts: []store.Part{{Size: ref.Size, Blob: ref}}}, nil); err != nil {
		t.Fatal(err)
	}
	big := writeBlob(t, blobs, small+"b")
	if big.Inline || countFiles(t, filepath.Join(dir, "blobs")) != 1 {
		t.Fatalf("blob over InlineMax: inline %v", big.Inline)
	}
	meta.Close()

	meta, blobs, err = Open(ctx, dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer meta.Close()
	obj, err := meta.GetObject(ctx, "b", "k", "")
	if err != nil {
		t.Fatal(err)
	}
	if got := readRange(t, blobs, &obj, 3, 100); !bytes.Equal(got, []byte(small[3:103])) {
		t.Fatal("inline blob read back wrong after reopen")
	}
	if err := blobs.CheckBlob(ctx, obj.Parts[0].Blob); err != nil {
		t.Fatal(err)
	}
	_, freed, err := meta.DeleteObject(ctx, "b", "k", "")
	if err != nil || len(freed) != 1 || !freed[0].Inline {
		t.Fatalf("delete freed %v, %v", freed, err)
	}
	if n, err := store.NewReaper(meta, blobs, 0, nil).ReapDue(ctx); err != nil || n < 1 {
		t.Fatalf("reaped %d, %v", n, err)
	}
	if _, err := meta.InlineData(ctx, ref.ID); !errors.Is(err, store.ErrDataShort) {
		t.Fatalf("bytes of a reaped inline blob: %v", err)
	}
}
