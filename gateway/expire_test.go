package gateway

import (
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/datdot/datdot/gateway/store"
)

// fakeHistory holds due versions, oldest first, and expires them the way
// local.Meta.ExpireHistory does: at most limit per call, from the front.
type fakeHistory struct {
	due   []string
	calls int
	fail  int // the call (1-based) that fails; 0: none
}

func (f *fakeHistory) expire(_ time.Time, limit int) (int, []store.BlobRef, error) {
	f.calls++
	if f.calls == f.fail {
		return 0, nil, errors.New("disk full")
	}
	n := min(limit, len(f.due))
	var freed []store.BlobRef
	for _, id := range f.due[:n] {
		freed = append(freed, store.BlobRef{ID: id})
	}
	f.due = f.due[n:]
	return n, freed, nil
}

func versions(n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = fmt.Sprintf("v%06d", i)
	}
	return out
}

// TestExpirePassCapped: one pass of the hidden-history expiry drops at
// most 10,000 versions (docs/backup.md), the oldest first, releases every
// blob it freed, and leaves the rest to the next pass; a pass with fewer
// due stops at the first short call; an error ends the pass and keeps
// what was expired before it.
func TestExpirePassCapped(t *testing.T) {
	if expireBatch*expirePasses != 10000 || ExpireEvery != time.Minute {
		t.Fatalf("%d per pass every %v; docs/backup.md says 10,000 every minute", expireBatch*expirePasses, ExpireEvery)
	}
	h := &fakeHistory{due: versions(25000)}
	var released []string
	release := func(refs []store.BlobRef) {
		for _, r := range refs {
			released = append(released, r.ID)
		}
	}
	n, err := expirePass(time.Now(), h.expire, release)
	if err != nil || n != 10000 || len(h.due) != 15000 || h.calls != expirePasses {
		t.Fatalf("first pass: %d expired, %d left, %d calls, %v", n, len(h.due), h.calls, err)
	}
	if released[0] != "v000000" || released[9999] != "v009999" || len(released) != 10000 {
		t.Fatalf("released %d, first %s last %s: not the oldest", len(released), released[0], released[len(released)-1])
	}
	h.calls = 0
	if n, err := expirePass(time.Now(), h.expire, release); err != nil || n != 10000 || len(h.due) != 5000 {
		t.Fatalf("second pass: %d expired, %d left, %v", n, len(h.due), err)
	}
	h.calls = 0
	if n, err := expirePass(time.Now(), h.expire, release); err != nil || n != 5000 || len(h.due) != 0 || h.calls != 6 {
		t.Fatalf("last pass: %d expired, %d left, %d calls (want 6: the fifth call empties it, the sixth comes back short), %v", n, len(h.due), h.calls, err)
	}

	h = &fakeHistory{due: versions(5000), fail: 3}
	released = nil
	n, err = expirePass(time.Now(), h.expire, release)
	if err == nil || n != 2000 || len(released) != 2000 || len(h.due) != 3000 {
		t.Fatalf("a failing call: %d expired, %d released, %d left, %v", n, len(released), len(h.due), err)
	}
}
