package network

import (
	"errors"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/datdot/datdot/gateway/store"
	"github.com/datdot/datdot/gateway/store/local"
)

var errCrash = errors.New("crash between two transactions")

// dumpUsage returns every record of the usage records in meta's
// database, as bucket "/" key -> value (a blob's commit time left out:
// it is the time of the rebuild's transaction), with the rebuild's
// cursor and the sweep mark.
func dumpUsage(t *testing.T, meta *local.Meta) map[string]string {
	t.Helper()
	out := map[string]string{}
	err := meta.View(ctx, func(tx *bolt.Tx) error {
		root := tx.Bucket(usageRoot)
		if root == nil {
			return nil
		}
		return root.ForEach(func(k, v []byte) error {
			if v != nil {
				out[string(k)] = string(v)
				return nil
			}
			return root.Bucket(k).ForEach(func(bk, bv []byte) error {
				if string(k) == string(bucketBlobs) && len(bv) == 24 {
					bv = bv[:16]
				}
				out[string(k)+"/"+string(bk)] = string(bv)
				return nil
			})
		})
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func copyFile(t *testing.T, from, to string) {
	t.Helper()
	data, err := os.ReadFile(from)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(to, data, 0o600); err != nil {
		t.Fatal(err)
	}
}

// TestUsageRebuildChunked: the usage records rebuilt from a metadata
// database a few blobs per transaction, with crashes between
// transactions and the rebuild resumed by the next opens, equal those
// one transaction over every blob makes (live bytes, streams, the blob
// index, the volumes to reshape, the sweep of orphans asked for), and
// the cursor is gone once it is done.
func TestUsageRebuildChunked(t *testing.T) {
	dir := t.TempDir()
	meta, err := local.OpenMeta(filepath.Join(dir, "meta.db"))
	if err != nil {
		t.Fatal(err)
	}
	if err := meta.CreateBucket(ctx, store.Bucket{Name: "b"}); err != nil {
		t.Fatal(err)
	}
	vols := []string{"0a0a0a0a", "0b0b0b0b", "0c0c0c0c", "0d0d0d0d"}
	for i := range 25 {
		ref := store.BlobRef{ID: fmt.Sprintf("blob%02d", i), Size: 1000 + int64(i),
			Extents: []store.Extent{{Volume: vols[i%len(vols)], Offset: int64(i) * 4000, Length: 1000 + int64(i)}}}
		if err := meta.AddPending(ctx, []store.BlobRef{ref}, time.Now().Add(time.Hour)); err != nil {
			t.Fatal(err)
		}
		key := fmt.Sprintf("k%02d", i)
		if _, _, err := meta.PutObject(ctx, "b", store.Object{Key: key, Size: ref.Size, Parts: []store.Part{{Number: 1, Size: ref.Size, Blob: ref}}}, nil); err != nil {
			t.Fatal(err)
		}
	}
	// Every object of the last volume deleted: it gets no record.
	for i := 3; i < 25; i += 4 {
		if _, _, err := meta.DeleteObject(ctx, "b", fmt.Sprintf("k%02d", i), ""); err != nil {
			t.Fatal(err)
		}
	}
	meta.Close()
	src := filepath.Join(dir, "meta.db")

	rebuild := func(t *testing.T, chunk, crashes int) (map[string]string, int) {
		t.Helper()
		d := t.TempDir()
		copyFile(t, src, filepath.Join(d, "meta.db"))
		m, err := local.OpenMeta(filepath.Join(d, "meta.db"))
		if err != nil {
			t.Fatal(err)
		}
		defer m.Close()
		txs := 0
		for crash := range crashes {
			n := 0
			_, err := openUsageChunked("", m, chunk, func() error {
				n++
				txs++
				if n == 2 {
					return errCrash
				}
				return nil
			})
			if !errors.Is(err, errCrash) {
				t.Fatalf("open %d: %v, want the crash after two transactions", crash, err)
			}
			if got := dumpUsage(t, m); got["reshape/"+string(rebuildCursor)] == "" {
				t.Fatalf("after crash %d the rebuild's cursor is gone: %v", crash, got)
			}
		}
		u, err := openUsageChunked("", m, chunk, func() error { txs++; return nil })
		if err != nil {
			t.Fatal(err)
		}
		if len(u.rebuilt) != 3 {
			t.Fatalf("volumes to reshape %v, want the 3 with a live blob", u.rebuilt)
		}
		return dumpUsage(t, m), txs
	}
	want, txs := rebuild(t, 1<<20, 0)
	if txs != 0 {
		t.Fatalf("one chunk took %d transactions more", txs)
	}
	if want["sweep"] == "" || len(want) < 19+3+3 {
		t.Fatalf("one-transaction rebuild: %v", want)
	}
	for _, crashes := range []int{0, 1, 3} {
		t.Run(fmt.Sprintf("crashes=%d", crashes), func(t *testing.T) {
			got, txs := rebuild(t, 3, crashes)
			if !maps.Equal(got, want) {
				t.Fatalf("rebuilt 3 blobs per transaction:\n%v\nwant\n%v", got, want)
			}
			if txs < 19/3 {
				t.Fatalf("%d transactions after the first, want one per 3 blobs", txs)
			}
			if _, ok := got["reshape/"+string(rebuildCursor)]; ok {
				t.Fatal("the rebuild's cursor is left")
			}
		})
	}
}

// TestGoneKeysMigrateChunked: the deleted-blob keys of an earlier layout
// moved a few per transaction, with crashes between transactions, end
// as one transaction moves them (those of retired volumes left out, the
// old bucket removed), in the metadata database and in a usage file.
func TestGoneKeysMigrateChunked(t *testing.T) {
	addGone := func(tx *bolt.Tx, parent interface {
		CreateBucket([]byte) (*bolt.Bucket, error)
		Bucket([]byte) *bolt.Bucket
	}) error {
		old, err := parent.CreateBucket(bucketGoneV1)
		if err != nil {
			return err
		}
		for i := range 20 {
			vol := []string{"0a0a", "0b0b", "feed"}[i%3]
			if err := old.Put(fmt.Appendf(nil, "blob%02d/%s", i, vol), nil); err != nil {
				return err
			}
		}
		if err := old.Put([]byte("nonsense"), nil); err != nil {
			return err
		}
		return parent.Bucket(bucketState).Put([]byte("feed"), []byte(stateRetired))
	}
	dumpFile := func(t *testing.T, path string) map[string]string {
		t.Helper()
		db, err := bolt.Open(path, 0o600, nil)
		if err != nil {
			t.Fatal(err)
		}
		defer db.Close()
		out := map[string]string{}
		err = db.View(func(tx *bolt.Tx) error {
			return tx.ForEach(func(name []byte, b *bolt.Bucket) error {
				return b.ForEach(func(k, v []byte) error { out[string(name)+"/"+string(k)] = string(v); return nil })
			})
		})
		if err != nil {
			t.Fatal(err)
		}
		return out
	}
	check := func(t *testing.T, want, got map[string]string) {
		t.Helper()
		n := 0
		for k := range got {
			if len(k) > len("deleted/") && k[:len("deleted/")] == "deleted/" {
				n++
			}
			if len(k) > len("gone") && k[:len("gone")] == "gone" {
				t.Fatalf("an old key is left: %s", k)
			}
		}
		if n != 14 || !maps.Equal(got, want) {
			t.Fatalf("migrated %d keys:\n%v\nwant 14:\n%v", n, got, want)
		}
	}
	t.Run("metadata", func(t *testing.T) {
		dir := t.TempDir()
		path := filepath.Join(dir, "meta.db")
		meta, err := local.OpenMeta(path)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := openUsage("", meta); err != nil {
			t.Fatal(err)
		}
		if err := meta.Update(ctx, func(tx *bolt.Tx) error { return addGone(tx, tx.Bucket(usageRoot)) }); err != nil {
			t.Fatal(err)
		}
		meta.Close()
		run := func(crashes int) map[string]string {
			d := t.TempDir()
			copyFile(t, path, filepath.Join(d, "meta.db"))
			m, err := local.OpenMeta(filepath.Join(d, "meta.db"))
			if err != nil {
				t.Fatal(err)
			}
			defer m.Close()
			for range crashes {
				n := 0
				if _, err := openUsageChunked("", m, 4, func() error {
					if n++; n == 2 {
						return errCrash
					}
					return nil
				}); !errors.Is(err, errCrash) {
					t.Fatalf("open: %v, want the crash", err)
				}
			}
			if _, err := openUsageChunked("", m, 4, nil); err != nil {
				t.Fatal(err)
			}
			return dumpUsage(t, m)
		}
		want := run(0)
		for _, crashes := range []int{0, 1, 2} {
			check(t, want, run(crashes))
		}
		oneTx := func() map[string]string {
			d := t.TempDir()
			copyFile(t, path, filepath.Join(d, "meta.db"))
			m, err := local.OpenMeta(filepath.Join(d, "meta.db"))
			if err != nil {
				t.Fatal(err)
			}
			defer m.Close()
			if _, err := openUsageChunked("", m, 1<<20, nil); err != nil {
				t.Fatal(err)
			}
			return dumpUsage(t, m)
		}
		check(t, oneTx(), want)
	})
	t.Run("file", func(t *testing.T) {
		dir := t.TempDir()
		path := filepath.Join(dir, "volumes.db")
		u, err := openUsage(path, nil)
		if err != nil {
			t.Fatal(err)
		}
		if err := u.file.Update(func(tx *bolt.Tx) error { return addGone(tx, tx) }); err != nil {
			t.Fatal(err)
		}
		u.close()
		run := func(chunk, crashes int) map[string]string {
			p := filepath.Join(t.TempDir(), "volumes.db")
			copyFile(t, path, p)
			for range crashes {
				n := 0
				if _, err := openUsageChunked(p, nil, chunk, func() error {
					if n++; n == 2 {
						return errCrash
					}
					return nil
				}); !errors.Is(err, errCrash) {
					t.Fatalf("open: %v, want the crash", err)
				}
			}
			u, err := openUsageChunked(p, nil, chunk, nil)
			if err != nil {
				t.Fatal(err)
			}
			u.close()
			return dumpFile(t, p)
		}
		want := run(1<<20, 0)
		for _, crashes := range []int{0, 1, 2} {
			check(t, want, run(4, crashes))
		}
	})
}
