package s3

import (
	"fmt"
	"sort"
	"strings"
	"testing"

	"github.com/datdot/datdot/gateway/store"
)

// fakeFetch serves sorted keys the way MetaStore.ListObjects does.
func fakeFetch(keys []string, prefix string, calls *int) func(after, afterID string, limit int) ([]store.Object, error) {
	return func(after, _ string, limit int) ([]store.Object, error) {
		*calls++
		var out []store.Object
		for _, k := range keys {
			if k > after && strings.HasPrefix(k, prefix) && len(out) < limit {
				out = append(out, store.Object{Key: k})
			}
		}
		return out, nil
	}
}

// naive computes a listing page the obvious way.
func naive(keys []string, prefix, delim, marker string, max int) (objs, prefixes []string, truncated bool) {
	seen := map[string]bool{}
	for _, k := range keys {
		if k <= marker || !strings.HasPrefix(k, prefix) {
			continue
		}
		entry, isPrefix := k, false
		if delim != "" {
			if i := strings.Index(k[len(prefix):], delim); i >= 0 {
				entry, isPrefix = k[:len(prefix)+i+len(delim)], true
			}
		}
		if isPrefix && (seen[entry] || entry <= marker) {
			continue
		}
		if len(objs)+len(prefixes) == max {
			return objs, prefixes, true
		}
		if isPrefix {
			seen[entry] = true
			prefixes = append(prefixes, entry)
		} else {
			objs = append(objs, entry)
		}
	}
	return objs, prefixes, false
}

func objectKey(o store.Object) (string, string) { return o.Key, "" }

func TestWalkKeysAgainstNaive(t *testing.T) {
	var keys []string
	for d := 0; d < 40; d++ {
		for f := 0; f < 60; f++ {
			keys = append(keys, fmt.Sprintf("d%02d/f%03d", d, f))
		}
		keys = append(keys, fmt.Sprintf("d%02d.txt", d))
	}
	for i := 0; i < 1500; i++ {
		keys = append(keys, fmt.Sprintf("flat/%05d", i))
	}
	sort.Strings(keys)
	for _, tc := range []struct {
		prefix, delim string
		max           int
	}{{"", "/", 1000}, {"", "/", 7}, {"", "", 1000}, {"flat/", "", 1000}, {"d1", "/", 5}, {"", "0", 50}} {
		marker := ""
		calls := 0
		for page := 0; page < 200; page++ {
			l, err := walkKeys(tc.prefix, tc.delim, marker, "", tc.max, fakeFetch(keys, tc.prefix, &calls), objectKey)
			if err != nil {
				t.Fatal(err)
			}
			wo, wp, wt := naive(keys, tc.prefix, tc.delim, marker, tc.max)
			var gotObjs []string
			for _, o := range l.entries {
				gotObjs = append(gotObjs, o.Key)
			}
			if fmt.Sprint(gotObjs) != fmt.Sprint(wo) || fmt.Sprint(l.prefixes) != fmt.Sprint(wp) || l.truncated != wt {
				t.Fatalf("%+v marker %q: got %v %v %v, want %v %v %v", tc, marker, gotObjs, l.prefixes, l.truncated, wo, wp, wt)
			}
			if !l.truncated {
				break
			}
			marker = l.nextKey
		}
		if tc.delim == "/" && tc.prefix == "" && tc.max == 1000 && calls > 200 {
			t.Errorf("%d store calls to list 41 prefixes", calls)
		}
	}
}

// TestWalkVersionsPages: paging a version listing by (key, version id)
// markers returns every version exactly once, in order, whatever the page
// size, with and without a delimiter.
func TestWalkVersionsPages(t *testing.T) {
	type ver struct{ key, id string }
	var all []ver
	for k := 0; k < 30; k++ {
		for v := 0; v < 3; v++ {
			all = append(all, ver{fmt.Sprintf("k%02d", k), fmt.Sprintf("v%d", v)})
		}
	}
	all = append(all, ver{"z/a", "v0"}, ver{"z/b", "v0"})
	fetch := func(after, afterID string, limit int) ([]ver, error) {
		var out []ver
		for _, e := range all {
			if len(out) == limit {
				break
			}
			if e.key > after || (e.key == after && afterID != "" && e.id > afterID) {
				out = append(out, e)
			}
		}
		return out, nil
	}
	keyID := func(e ver) (string, string) { return e.key, e.id }
	for _, delim := range []string{"", "/"} {
		for _, max := range []int{1, 2, 4, 7, 1000} {
			var got []string
			key, id := "", ""
			for page := 0; ; page++ {
				if page > 200 {
					t.Fatal("listing does not end")
				}
				l, err := walkKeys("", delim, key, id, max, fetch, keyID)
				if err != nil {
					t.Fatal(err)
				}
				for _, e := range l.entries {
					got = append(got, e.key+"@"+e.id)
				}
				got = append(got, l.prefixes...)
				if !l.truncated {
					break
				}
				key, id = l.nextKey, l.nextID
			}
			want := len(all)
			if delim == "/" {
				want = len(all) - 1 // z/a and z/b are one common prefix
			}
			if len(got) != want {
				t.Fatalf("delim %q max %d: %d entries, want %d: %v", delim, max, len(got), want, got)
			}
			seen := map[string]bool{}
			for _, g := range got {
				if seen[g] {
					t.Fatalf("delim %q max %d: %s twice", delim, max, g)
				}
				seen[g] = true
			}
		}
	}
}
