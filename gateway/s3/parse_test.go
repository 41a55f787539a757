package s3

import (
	"testing"
)

// FuzzParseRange: whatever the Range header, a range that is accepted lies
// inside the object and is not empty.
func FuzzParseRange(f *testing.F) {
	for _, s := range []string{"bytes=0-0", "bytes=-5", "bytes=5-", "bytes=3-1", "bytes=0-1,2-3", "bytes= 1 - 2", "bytes=-0", "items=1-2", "bytes=99999999999999999999-"} {
		f.Add(s, int64(10))
	}
	f.Fuzz(func(t *testing.T, spec string, size int64) {
		if size < 0 {
			size = -size
		}
		if size < 0 {
			return
		}
		start, n, ok, err := parseRange(spec, size)
		if err != nil && ok {
			t.Fatal("error and ok together")
		}
		if ok && (start < 0 || n < 1 || start+n > size) {
			t.Fatalf("%q on %d bytes: start %d length %d", spec, size, start, n)
		}
	})
}

func TestParseRange(t *testing.T) {
	cases := []struct {
		spec          string
		size          int64
		start, length int64
		ok, invalid   bool
	}{
		{"bytes=0-9", 100, 0, 10, true, false},
		{"bytes=90-", 100, 90, 10, true, false},
		{"bytes=-10", 100, 90, 10, true, false},
		{"bytes=-1000", 100, 0, 100, true, false},
		{"bytes=50-1000", 100, 50, 50, true, false},
		{"bytes=100-", 100, 0, 0, false, true},
		{"bytes=-0", 100, 0, 0, false, true},
		{"bytes=0-0", 0, 0, 0, false, true},
		{"bytes=5-2", 100, 0, 0, false, false},
		{"bytes=0-1,3-4", 100, 0, 0, false, false},
		{"lines=1-2", 100, 0, 0, false, false},
	}
	for _, c := range cases {
		s, n, ok, err := parseRange(c.spec, c.size)
		if ok != c.ok || (err != nil) != c.invalid || (ok && (s != c.start || n != c.length)) {
			t.Errorf("%s on %d: got %d+%d ok=%v err=%v", c.spec, c.size, s, n, ok, err)
		}
	}
}

func TestParseCopySource(t *testing.T) {
	cases := map[string]copySource{
		"b/k":                           {bucket: "b", key: "k"},
		"/b/dir/k%20x%3Fy":              {bucket: "b", key: "dir/k x?y"},
		"b/k?versionId=abc":             {bucket: "b", key: "k", versionID: "abc"},
		"b/%E2%82%AC%2525?versionId=v1": {bucket: "b", key: "€%25", versionID: "v1"},
	}
	for in, want := range cases {
		got, err := parseCopySource(in)
		if err != nil || got != want {
			t.Errorf("%q: %+v %v", in, got, err)
		}
	}
	for _, bad := range []string{"", "b", "b/", "/k", "b/%zz", "b/k?versionId="} {
		if _, err := parseCopySource(bad); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}

func TestWildcardMatch(t *testing.T) {
	yes := [][2]string{{"*", "https://x"}, {"https://*.example.org", "https://a.b.example.org"}, {"http://A.org", "http://a.org"}, {"x-*", "x-amz-date"}}
	no := [][2]string{{"https://*.example.org", "https://example.org"}, {"https://a.org", "https://a.org.evil"}, {"x-*", "y-x-"}}
	for _, c := range yes {
		if !wildcardMatch(c[0], c[1]) {
			t.Errorf("%q should match %q", c[0], c[1])
		}
	}
	for _, c := range no {
		if wildcardMatch(c[0], c[1]) {
			t.Errorf("%q should not match %q", c[0], c[1])
		}
	}
}
