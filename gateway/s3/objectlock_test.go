package s3

import (
	"testing"
	"time"

	"github.com/datdot/datdot/gateway/store"
)

// TestRetentionChange: AWS's rules for changing a version's retention.
func TestRetentionChange(t *testing.T) {
	now := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
	gov := func(d time.Duration) *store.Retention {
		return &store.Retention{Mode: store.LockGovernance, Until: now.Add(d)}
	}
	comp := func(d time.Duration) *store.Retention {
		return &store.Retention{Mode: store.LockCompliance, Until: now.Add(d)}
	}
	cases := []struct {
		name      string
		cur, want *store.Retention
		bypass    bool
		ok        bool
	}{
		{"none to governance", nil, gov(time.Hour), false, true},
		{"none to compliance", nil, comp(time.Hour), false, true},
		{"expired compliance to anything", comp(-time.Second), gov(time.Hour), false, true},
		{"expired compliance removed", comp(-time.Second), nil, false, true},
		{"governance extended", gov(time.Hour), gov(2 * time.Hour), false, true},
		{"governance kept", gov(time.Hour), gov(time.Hour), false, true},
		{"governance shortened", gov(time.Hour), gov(time.Minute), false, false},
		{"governance shortened with bypass", gov(time.Hour), gov(time.Minute), true, true},
		{"governance to compliance", gov(time.Hour), comp(2 * time.Hour), false, false},
		{"governance to compliance with bypass", gov(time.Hour), comp(2 * time.Hour), true, true},
		{"governance removed", gov(time.Hour), nil, false, false},
		{"governance removed with bypass", gov(time.Hour), nil, true, true},
		{"compliance extended", comp(time.Hour), comp(2 * time.Hour), false, true},
		{"compliance shortened with bypass", comp(time.Hour), comp(time.Minute), true, false},
		{"compliance to governance with bypass", comp(time.Hour), gov(2 * time.Hour), true, false},
		{"compliance removed with bypass", comp(time.Hour), nil, true, false},
	}
	for _, c := range cases {
		err := retentionChange(c.cur, c.want, now, c.bypass)
		if (err == nil) != c.ok {
			t.Errorf("%s: err %v, want ok=%v", c.name, err, c.ok)
		}
	}
}

// TestObjectLocked: which versions a delete by id may remove.
func TestObjectLocked(t *testing.T) {
	now := time.Now()
	cases := []struct {
		o              store.Object
		locked, bypass bool // Locked(now,false), Locked(now,true)
	}{
		{store.Object{}, false, false},
		{store.Object{LegalHold: "OFF"}, false, false},
		{store.Object{LegalHold: "ON"}, true, true},
		{store.Object{Retention: &store.Retention{Mode: store.LockGovernance, Until: now.Add(time.Hour)}}, true, false},
		{store.Object{Retention: &store.Retention{Mode: store.LockCompliance, Until: now.Add(time.Hour)}}, true, true},
		{store.Object{Retention: &store.Retention{Mode: store.LockCompliance, Until: now.Add(-time.Hour)}}, false, false},
		{store.Object{Retention: &store.Retention{Mode: store.LockGovernance, Until: now.Add(-time.Hour)}, LegalHold: "ON"}, true, true},
	}
	for i, c := range cases {
		if got := c.o.Locked(now, false); got != c.locked {
			t.Errorf("case %d: Locked(no bypass) = %v", i, got)
		}
		if got := c.o.Locked(now, true); got != c.bypass {
			t.Errorf("case %d: Locked(bypass) = %v", i, got)
		}
	}
}

// TestDefaultRetention: days and years from the version's time.
func TestDefaultRetention(t *testing.T) {
	now := time.Date(2028, 2, 29, 12, 0, 0, 0, time.UTC)
	if r := defaultRetention(&store.Bucket{}, now); r != nil {
		t.Fatalf("no lock: %v", r)
	}
	if r := defaultRetention(&store.Bucket{ObjectLock: &store.ObjectLock{}}, now); r != nil {
		t.Fatalf("lock without default: %v", r)
	}
	r := defaultRetention(&store.Bucket{ObjectLock: &store.ObjectLock{Mode: store.LockGovernance, Days: 3}}, now)
	if r.Mode != store.LockGovernance || !r.Until.Equal(now.AddDate(0, 0, 3)) {
		t.Fatalf("3 days: %+v", r)
	}
	r = defaultRetention(&store.Bucket{ObjectLock: &store.ObjectLock{Mode: store.LockCompliance, Years: 1}}, now)
	if r.Mode != store.LockCompliance || !r.Until.Equal(time.Date(2029, 3, 1, 12, 0, 0, 0, time.UTC)) {
		t.Fatalf("1 year from Feb 29: %+v", r)
	}
}
