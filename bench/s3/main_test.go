package main

import (
	"testing"
	"time"
)

func TestParseSize(t *testing.T) {
	for in, want := range map[string]int64{"64KiB": 64 << 10, "1MiB": 1 << 20, "16MiB": 16 << 20, "1GiB": 1 << 30, "100": 100, "7B": 7} {
		got, err := parseSize(in)
		if err != nil || got != want {
			t.Errorf("parseSize(%q) = %d, %v; want %d", in, got, err, want)
		}
	}
	for _, bad := range []string{"", "MiB", "-1KiB", "0", "1.5MiB", "12XB"} {
		if _, err := parseSize(bad); err == nil {
			t.Errorf("parseSize(%q) accepted a bad size", bad)
		}
	}
}

func TestPercentile(t *testing.T) {
	var r result
	if r.percentile(0.5) != 0 {
		t.Fatal("percentile of no samples must be 0")
	}
	for i := 100; i >= 1; i-- { // unsorted on purpose
		r.lat = append(r.lat, time.Duration(i)*time.Millisecond)
	}
	if got := r.percentile(0.50); got != 50*time.Millisecond {
		t.Errorf("p50 = %v, want 50ms", got)
	}
	if got := r.percentile(0.99); got != 99*time.Millisecond {
		t.Errorf("p99 = %v, want 99ms", got)
	}
	if r.lat[0] != 100*time.Millisecond {
		t.Error("percentile must not reorder the samples it was given")
	}
}

func TestParseFlagsRejectsBadInput(t *testing.T) {
	if _, err := parseFlags([]string{"-secret-key", "s"}); err == nil {
		t.Error("missing -access-key accepted")
	}
	if _, err := parseFlags([]string{"-access-key", "a", "-secret-key", "s", "-sizes", "1MiB,x"}); err == nil {
		t.Error("bad -sizes accepted")
	}
	if _, err := parseFlags([]string{"-access-key", "a", "-secret-key", "s", "-checksum", "always"}); err == nil {
		t.Error("bad -checksum accepted")
	}
	if _, err := parseFlags([]string{"-access-key", "a", "-secret-key", "s", "-get-only"}); err == nil {
		t.Error("-get-only without -bucket accepted")
	}
	if _, err := parseFlags([]string{"-access-key", "a", "-secret-key", "s", "-bucket", "b", "-get-only", "-put-only"}); err == nil {
		t.Error("-get-only with -put-only accepted")
	}
	cfg, err := parseFlags([]string{"-access-key", "a", "-secret-key", "s"})
	if err != nil {
		t.Fatal(err)
	}
	if cfg.concurrency != 8 || len(cfg.sizes) != 3 || cfg.sizes[2] != 16<<20 || cfg.bucket == "" {
		t.Errorf("defaults: %+v", cfg)
	}
}
