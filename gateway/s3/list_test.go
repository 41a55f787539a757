package s3

import (
	"errors"
	"fmt"
	"math/rand/v2"
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

// ver is an entry of the in-memory model: a key and a version or upload id
// ("" for plain objects), ordered by key then id.
type ver struct{ key, id string }

// modelFetch serves entries after (after, afterID) the way the MetaStore
// list calls do.
func modelFetch(all *[]ver, prefix string, calls *int) func(after, afterID string, limit int) ([]ver, error) {
	return func(after, afterID string, limit int) ([]ver, error) {
		*calls++
		var out []ver
		for _, e := range *all {
			if len(out) == limit {
				break
			}
			if !strings.HasPrefix(e.key, prefix) {
				continue
			}
			if e.key > after || (e.key == after && afterID != "" && e.id > afterID) {
				out = append(out, e)
			}
		}
		return out, nil
	}
}

// modelPage is the page a listing must return: the first max entries and
// common prefixes after the marker.
func modelPage(all []ver, prefix, delim, marker, markerID string, max int) (entries []string, prefixes []string, truncated bool) {
	seen := map[string]bool{}
	for _, e := range all {
		if !strings.HasPrefix(e.key, prefix) {
			continue
		}
		if !(e.key > marker || (e.key == marker && markerID != "" && e.id > markerID)) {
			continue
		}
		if delim != "" {
			if i := strings.Index(e.key[len(prefix):], delim); i >= 0 {
				cp := e.key[:len(prefix)+i+len(delim)]
				if cp <= marker || seen[cp] {
					continue
				}
				if len(entries)+len(prefixes) == max {
					return entries, prefixes, true
				}
				seen[cp] = true
				prefixes = append(prefixes, cp)
				continue
			}
		}
		if len(entries)+len(prefixes) == max {
			return entries, prefixes, true
		}
		entries = append(entries, e.key+"@"+e.id)
	}
	return entries, prefixes, false
}

// TestWalkKeysModel is a property test of the listing walk against the
// in-memory model: random keys of any bytes (0xff, broken UTF-8 sequences,
// delimiters), with and without version/upload ids, random prefixes,
// delimiters and page sizes, and random deletes and inserts between pages.
// Every page equals the model's page for the entries present at that time,
// and every listing ends within one store call per entry.
func TestWalkKeysModel(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	alphabet := []string{"a", "b", "/", "\xff", "\xc3", "\xa9", "é", "-", "\xff\xff"}
	randKey := func(n int) string {
		var sb strings.Builder
		for i := 0; i < n; i++ {
			sb.WriteString(alphabet[rng.IntN(len(alphabet))])
		}
		return sb.String()
	}
	for round := 0; round < 400; round++ {
		versioned := rng.IntN(2) == 0
		set := map[ver]bool{}
		for i := rng.IntN(60); i > 0; i-- {
			e := ver{key: randKey(1 + rng.IntN(5))}
			if versioned {
				e.id = fmt.Sprintf("v%d", rng.IntN(3))
			}
			set[e] = true
		}
		sorted := func() []ver {
			var out []ver
			for e := range set {
				out = append(out, e)
			}
			sort.Slice(out, func(i, j int) bool {
				if out[i].key != out[j].key {
					return out[i].key < out[j].key
				}
				return out[i].id < out[j].id
			})
			return out
		}
		all := sorted()
		prefix := ""
		if rng.IntN(2) == 0 {
			prefix = randKey(rng.IntN(2))
		}
		delim := []string{"", "/", "\xff", "a/", "\xc3"}[rng.IntN(5)]
		max := 1 + rng.IntN(8)
		if rng.IntN(4) == 0 {
			max = 1000
		}
		marker, markerID := "", ""
		calls := 0
		// Every page moves strictly past at least one entry, so a listing
		// has at most one page per entry present at any time during it.
		ever := len(all)
		for page := 0; ; page++ {
			if page > ever+1 {
				t.Fatalf("round %d: listing does not end", round)
			}
			before := calls
			l, err := walkKeys(prefix, delim, marker, markerID, max, modelFetch(&all, prefix, &calls), func(e ver) (string, string) { return e.key, e.id })
			if err != nil {
				t.Fatal(err)
			}
			if calls-before > len(all)+2 {
				t.Fatalf("round %d: %d store calls for %d entries", round, calls-before, len(all))
			}
			var got []string
			for _, e := range l.entries {
				got = append(got, e.key+"@"+e.id)
			}
			we, wp, wt := modelPage(all, prefix, delim, marker, markerID, max)
			if fmt.Sprintf("%q %q %v", got, l.prefixes, l.truncated) != fmt.Sprintf("%q %q %v", we, wp, wt) {
				t.Fatalf("round %d prefix %q delim %q max %d marker %q/%q:\n got %q %q %v\nwant %q %q %v", round, prefix, delim, max, marker, markerID, got, l.prefixes, l.truncated, we, wp, wt)
			}
			if !l.truncated {
				break
			}
			marker, markerID = l.nextKey, l.nextID
			// Change the store between pages: delete some entries, add some
			// (in sorted order, so that the seeded run is the same every time).
			for _, e := range all {
				if rng.IntN(5) == 0 {
					delete(set, e)
				}
			}
			for i := rng.IntN(3); i > 0; i-- {
				e := ver{key: randKey(1 + rng.IntN(5))}
				if versioned {
					e.id = fmt.Sprintf("v%d", rng.IntN(3))
				}
				if !set[e] {
					ever++
				}
				set[e] = true
			}
			all = sorted()
		}
	}
}

// TestWalkKeysStoreOutOfOrder: a store that answers an entry at or before
// the position asked for (a record that cannot spell its key) ends the walk
// with an error instead of fetching the same entry forever.
func TestWalkKeysStoreOutOfOrder(t *testing.T) {
	fetch := func(after, afterID string, limit int) ([]ver, error) {
		return []ver{{key: "dir/\uFFFD"}}, nil // always the same, mangled entry
	}
	_, err := walkKeys("", "/", "", "", 5, func(after, afterID string, limit int) ([]ver, error) {
		if after == "" {
			return []ver{{key: "dir/a"}}, nil
		}
		return fetch(after, afterID, limit)
	}, func(e ver) (string, string) { return e.key, e.id })
	if !errors.Is(err, errKeyOutOfOrder) {
		t.Fatalf("want errKeyOutOfOrder, got %v", err)
	}
}
