package main

import (
	"testing"
	"time"
)

func TestParseMoment(t *testing.T) {
	now := time.Date(2026, 11, 29, 22, 0, 0, 0, time.UTC)
	for in, want := range map[string]time.Time{
		"2026-11-29T21:30:00Z":           time.Date(2026, 11, 29, 21, 30, 0, 0, time.UTC),
		"2026-11-29T21:30:00.123456789Z": time.Date(2026, 11, 29, 21, 30, 0, 123456789, time.UTC),
		"1796072400":                     time.Unix(1796072400, 0),
		"15m":                            now.Add(-15 * time.Minute),
	} {
		got, err := parseMoment(in, now)
		if err != nil || !got.Equal(want) {
			t.Errorf("%s: %v %v, want %v", in, got, err, want)
		}
	}
	for _, bad := range []string{"", "yesterday", "-5m", "2026-13-01T00:00:00Z"} {
		if _, err := parseMoment(bad, now); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}
