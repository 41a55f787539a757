package local

import (
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/datdot/datdot/gateway/store"
)

// TestMetaLost is issue 9 #4: with meta.db deleted (bbolt would silently
// create an empty one) or replaced by an empty database, Open refuses to
// start and every blob file is still there; a fresh directory, and the
// same directory with its meta.db back, open fine.
func TestMetaLost(t *testing.T) {
	dir := t.TempDir()
	meta, blobs, err := Open(ctx, dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	blobs.InlineMax = 0 // blob files: this test is about them
	if err := meta.CreateBucket(ctx, store.Bucket{Name: "b", Created: time.Now()}); err != nil {
		t.Fatal(err)
	}
	for i := range 3 {
		ref := writeBlob(t, blobs, "data")
		if _, _, err := meta.PutObject(ctx, "b", store.Object{Key: string(rune('a' + i)), Size: 4, Parts: []store.Part{{Size: 4, Blob: ref}}}, nil); err != nil {
			t.Fatal(err)
		}
	}
	meta.Close()
	dbPath := filepath.Join(dir, "meta.db")
	saved, err := os.ReadFile(dbPath)
	if err != nil {
		t.Fatal(err)
	}
	before := countFiles(t, filepath.Join(dir, "blobs"))

	// meta.db gone.
	if err := os.Remove(dbPath); err != nil {
		t.Fatal(err)
	}
	if _, _, err := Open(ctx, dir, nil); !errors.Is(err, ErrMetaLost) {
		t.Fatalf("open without meta.db: %v", err)
	}
	// An empty meta.db in its place (what the old code left behind).
	m2, err := OpenMeta(dbPath)
	if err != nil {
		t.Fatal(err)
	}
	m2.Close()
	if _, _, err := Open(ctx, dir, nil); !errors.Is(err, ErrMetaLost) {
		t.Fatalf("open with an empty meta.db: %v", err)
	}
	if got := countFiles(t, filepath.Join(dir, "blobs")); got != before {
		t.Fatalf("%d blob files after refused opens, want %d", got, before)
	}
	// meta.db restored: opens, objects there.
	if err := os.WriteFile(dbPath, saved, 0o600); err != nil {
		t.Fatal(err)
	}
	meta, _, err = Open(ctx, dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer meta.Close()
	if _, err := meta.GetObject(ctx, "b", "c", ""); err != nil {
		t.Fatal(err)
	}
	// A fresh directory opens.
	m3, _, err := Open(ctx, t.TempDir(), nil)
	if err != nil {
		t.Fatal(err)
	}
	m3.Close()
}
