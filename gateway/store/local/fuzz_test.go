package local

import (
	"bytes"
	"fmt"
	"path/filepath"
	"sort"
	"sync/atomic"
	"testing"
	"time"

	"github.com/datdot/datdot/gateway/store"
)

// FuzzListKeys checks the store's listings against an in-memory model for
// object keys of any bytes (invalid UTF-8, 0xff, delimiters; NUL is what
// splits the input into keys, and the store refuses it): ListObjects paged
// by its After position returns exactly the keys whose latest version is
// not a delete marker, in byte order, and ListVersions paged by its
// (key, version id) marker returns every version newest first within a
// key — also when each page's versions are deleted before the next page is
// asked for, which must empty the bucket.
func FuzzListKeys(f *testing.F) {
	f.Add([]byte("a\x00b/c\x00b/\xff\xffx\x00dir/a\x00dir/\xff"), uint8(1))
	f.Add([]byte("x\x00x/\x00x//\x00\xc3\x28\x00\xe2\x82\x00\xf0\x9f\x98\x80"), uint8(3))
	f.Add([]byte("k1\x00k2\x00k3\x00k4\x00k5\x00k6"), uint8(0))
	// One database for all inputs (opening one per input costs more than
	// the input); each input gets its own bucket.
	meta, err := OpenMeta(filepath.Join(f.TempDir(), "meta.db"))
	if err != nil {
		f.Fatal(err)
	}
	defer meta.Close()
	meta.db.NoSync = true
	var n atomic.Int64
	f.Fuzz(func(t *testing.T, data []byte, lim uint8) {
		var keys []string
		seen := map[string]bool{}
		for _, k := range bytes.Split(data, []byte{0}) {
			if len(k) == 0 || len(k) > 1024 || seen[string(k)] || len(keys) == 12 {
				continue
			}
			seen[string(k)] = true
			keys = append(keys, string(k))
		}
		limit := 1 + int(lim%5)
		meta.ScanBound = 1 + int(n.Load()%3)
		bucket := fmt.Sprintf("b%d", n.Add(1))
		if err := meta.CreateBucket(ctx, store.Bucket{Name: bucket, Created: time.Now(), Versioning: store.VersioningEnabled}); err != nil {
			t.Fatal(err)
		}
		type ver struct {
			id     string
			marker bool
		}
		model := map[string][]ver{} // newest first
		for i, k := range keys {
			for range 1 + i%2 {
				o, _, err := meta.PutObject(ctx, bucket, store.Object{Key: k}, nil)
				if err != nil {
					t.Fatal(err)
				}
				model[k] = append([]ver{{id: o.VersionID}}, model[k]...)
			}
			if i%3 == 0 {
				res, _, err := meta.DeleteObject(ctx, bucket, k, "")
				if err != nil {
					t.Fatal(err)
				}
				model[k] = append([]ver{{id: res.VersionID, marker: true}}, model[k]...)
			}
		}
		sort.Strings(keys)

		// ListObjects, paged; a bounded scan continues where it stopped.
		var live, got []string
		for _, k := range keys {
			if !model[k][0].marker {
				live = append(live, k)
			}
		}
		after := ""
		for range 10 * (len(keys) + 2) {
			objs, err := meta.ListObjects(ctx, bucket, store.ListQuery{After: after, Limit: limit})
			if sl, ok := err.(*store.ScanLimited); ok {
				for _, o := range objs {
					got = append(got, o.Key)
				}
				if sl.After <= after {
					t.Fatalf("scan bound made no progress at %q", after)
				}
				after = sl.After
				continue
			}
			if err != nil {
				t.Fatal(err)
			}
			for _, o := range objs {
				got = append(got, o.Key)
				after = o.Key
			}
			if len(objs) < limit {
				break
			}
		}
		if len(got) != len(live) {
			t.Fatalf("ListObjects: %q, want %q", got, live)
		}
		for i := range got {
			if got[i] != live[i] {
				t.Fatalf("ListObjects: %q, want %q", got, live)
			}
		}

		// ListVersions, paged, deleting each page before the next.
		var want []string
		for _, k := range keys {
			for _, v := range model[k] {
				want = append(want, k+"\x00"+v.id)
			}
		}
		var listed []string
		a, aid := "", ""
		for range 10 * (len(want) + 2) {
			vers, err := meta.ListVersions(ctx, bucket, store.ListQuery{After: a, AfterID: aid, Limit: limit})
			if err != nil {
				t.Fatal(err)
			}
			for _, v := range vers {
				listed = append(listed, v.Key+"\x00"+v.VersionID)
				if _, _, err := meta.DeleteObject(ctx, bucket, v.Key, v.VersionID); err != nil {
					t.Fatal(err)
				}
				a, aid = v.Key, v.VersionID
			}
			if len(vers) < limit {
				break
			}
		}
		if len(listed) != len(want) {
			t.Fatalf("ListVersions: %d entries, want %d", len(listed), len(want))
		}
		for i := range listed {
			if listed[i] != want[i] {
				t.Fatalf("ListVersions entry %d: %q, want %q", i, listed[i], want[i])
			}
		}
		if _, err := meta.DeleteBucket(ctx, bucket); err != nil {
			t.Fatalf("bucket not empty after deleting every listed version: %v", err)
		}
	})
}
