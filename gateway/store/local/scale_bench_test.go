package local

import (
	"fmt"
	"testing"

	bolt "go.etcd.io/bbolt"

	"github.com/datdot/datdot/gateway/store"
)

// Benchmarks of the scaling traps of issue 9 #9, with only the MetaStore
// calls a GET/HEAD/PUT makes, so they run unchanged against older code:
//
//	go test ./gateway/store/local -run XXX -bench Scale -benchmem
//
// BenchmarkScaleHead: the lookup of a HEAD (GetObject) of an object of 1
// and 10,000 parts. BenchmarkScaleVersions: a key with 1 and 10,000
// versions: GET by version id (the oldest), GET versionId=null, and a PUT
// in the bucket with versioning suspended.

func BenchmarkScaleHead(b *testing.B) {
	for _, n := range []int{1, 10000} {
		b.Run(fmt.Sprintf("parts=%d", n), func(b *testing.B) {
			meta, blobs, err := Open(ctx, b.TempDir(), nil)
			if err != nil {
				b.Fatal(err)
			}
			defer meta.Close()
			if err := meta.CreateBucket(ctx, store.Bucket{Name: "b"}); err != nil {
				b.Fatal(err)
			}
			manyParts(b, meta, blobs, "b", "k", n, 16)
			b.ReportAllocs()
			b.ResetTimer()
			for b.Loop() {
				if _, err := meta.GetObject(ctx, "b", "k", ""); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func BenchmarkScaleVersions(b *testing.B) {
	for _, n := range []int{1, 10000} {
		meta, _, err := Open(ctx, b.TempDir(), nil)
		if err != nil {
			b.Fatal(err)
		}
		if err := meta.CreateBucket(ctx, store.Bucket{Name: "b", Versioning: store.VersioningEnabled}); err != nil {
			b.Fatal(err)
		}
		// n versions, the oldest a null version (written before
		// versioning was enabled), in one transaction.
		var oldest string
		err = meta.db.Update(func(tx *bolt.Tx) error {
			objs, bk, err := objectsOf(tx, "b")
			if err != nil {
				return err
			}
			for i := range n {
				o := store.Object{Key: "k", ETag: fmt.Sprint(i)}
				if i == 0 {
					bk.Versioning = store.VersioningOff
				}
				if _, err := putVersion(tx, objs, bk, &o, nil, nil); err != nil {
					return err
				}
				bk.Versioning = store.VersioningEnabled
				if i == 1 || n == 1 {
					oldest = o.VersionID
				}
			}
			return nil
		})
		if err != nil {
			b.Fatal(err)
		}
		b.Run(fmt.Sprintf("get-version-id/versions=%d", n), func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := meta.GetObject(ctx, "b", "k", oldest); err != nil {
					b.Fatal(err)
				}
			}
		})
		b.Run(fmt.Sprintf("get-null/versions=%d", n), func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := meta.GetObject(ctx, "b", "k", store.NullVersion); err != nil {
					b.Fatal(err)
				}
			}
		})
		if err := meta.UpdateBucket(ctx, "b", func(bk *store.Bucket) error { bk.Versioning = store.VersioningSuspended; return nil }); err != nil {
			b.Fatal(err)
		}
		b.Run(fmt.Sprintf("put-suspended/versions=%d", n), func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, _, err := meta.PutObject(ctx, "b", store.Object{Key: "k", ETag: "p"}, nil); err != nil {
					b.Fatal(err)
				}
			}
		})
		meta.Close()
	}
}
