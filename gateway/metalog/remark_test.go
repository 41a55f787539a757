package metalog

import (
	"bytes"
	"path/filepath"
	"testing"
	"time"

	"github.com/datdot/datdot/gateway/store"
	"github.com/datdot/datdot/gateway/store/local"
)

// TestRemarkBetweenTakeAndClear: a key changed again after the writer
// took its mark (and read its state) keeps its mark when that batch is
// cleared, and the next batch carries the key's new state: a change is
// never lost between a read and a clear (docs/backup.md). A mark not
// made again is cleared.
func TestRemarkBetweenTakeAndClear(t *testing.T) {
	m, err := local.OpenMeta(filepath.Join(t.TempDir(), "meta.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	j := NewJournaled(m)
	if err := j.CreateBucket(ctx, store.Bucket{Name: "b"}); err != nil {
		t.Fatal(err)
	}
	put := func(key, etag string) {
		t.Helper()
		obj := store.Object{Key: key, Size: 1, ETag: etag, Modified: time.Now()}
		if _, _, err := j.PutObject(ctx, "b", obj, nil); err != nil {
			t.Fatal(err)
		}
	}
	// keyState returns the change a batch holds for key b/key, if any.
	keyState := func(jb *local.JournalBatch, key string) (local.Change, bool) {
		for _, c := range jb.Changes {
			if c.Kind == local.MarkKey && c.Bucket == "b" && c.Key == key {
				return c, true
			}
		}
		return local.Change{}, false
	}
	holds := func(c local.Change, etag string) bool {
		for _, e := range c.Entries {
			if bytes.Contains(e.V, []byte(`"`+etag+`"`)) {
				return true
			}
		}
		return false
	}

	put("changed", "etag-one")
	put("quiet", "etag-quiet")
	first, err := j.take(ctx, 100, 1<<20)
	if err != nil {
		t.Fatal(err)
	}
	c, ok := keyState(first, "changed")
	if !ok || !holds(c, "etag-one") {
		t.Fatalf("the first batch lacks the key's first state: %+v", first.Changes)
	}
	if _, ok := keyState(first, "quiet"); !ok {
		t.Fatal("the first batch lacks the other key")
	}

	// Between the read and the clear: the key changes again, and a new
	// key is marked.
	put("changed", "etag-two")
	put("new", "etag-new")
	if err := j.ClearJournal(ctx, first); err != nil {
		t.Fatal(err)
	}
	second, err := j.take(ctx, 100, 1<<20)
	if err != nil {
		t.Fatal(err)
	}
	c, ok = keyState(second, "changed")
	if !ok || !holds(c, "etag-two") {
		t.Fatalf("the key changed between the read and the clear is not in the next batch with its new state: %+v", second.Changes)
	}
	if _, ok := keyState(second, "new"); !ok {
		t.Fatal("a key marked after the read was cleared")
	}
	if _, ok := keyState(second, "quiet"); ok {
		t.Fatal("a mark not made again was not cleared")
	}
	if n, err := j.JournalLen(ctx); err != nil || n != 2 {
		t.Fatalf("journal holds %d marks (%v), want the 2 made after the read", n, err)
	}
	if err := j.ClearJournal(ctx, second); err != nil {
		t.Fatal(err)
	}
	if n, err := j.JournalLen(ctx); err != nil || n != 0 {
		t.Fatalf("journal holds %d marks (%v) after everything was cleared", n, err)
	}
}
