package network

import (
	"bytes"
	"context"
	"fmt"
	"sync"
	"testing"

	"github.com/datdot/datdot/gateway/store"
	"github.com/datdot/datdot/volume"
)

// coreFailShipper is a CoreShipper whose pushes succeed except those of
// the (volume, core) pairs marked to fail, as a dead hoster's would.
type coreFailShipper struct {
	mu   sync.Mutex
	fail map[string]map[int]bool
}

func (s *coreFailShipper) failCore(v *Volume, j int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.fail[v.Hex] == nil {
		s.fail[v.Hex] = map[int]bool{}
	}
	s.fail[v.Hex][j] = true
}

func (s *coreFailShipper) Ship(context.Context, *Volume, uint64) error    { return nil }
func (s *coreFailShipper) Prepare(context.Context, *Volume, uint64) error { return nil }
func (s *coreFailShipper) Shipped(*Volume, uint64)                        {}
func (s *coreFailShipper) PushCore(_ context.Context, v *Volume, j int, _ uint64) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.fail[v.Hex][j] {
		return fmt.Errorf("core %d: hoster unreachable", j)
	}
	return nil
}

func (b *Blobs) openVolume() *Volume {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.open
}

// waitIdle waits until every core of v has pushed what v holds: a blob
// is acknowledged by AckCores cores, and a push still in flight on
// another one would meet a failure set up for the next blob.
func waitIdle(t *testing.T, v *Volume, what string) {
	t.Helper()
	waitUntil(t, what, func() bool {
		v.fmu.Lock()
		defer v.fmu.Unlock()
		return v.idleLocked() == v.Layout.N()
	})
}

// TestCoreFailureSealsButAcks: with AckCores = k+1 (--ack-losses 1), a
// PUT during which one core's push fails is still acknowledged by the
// other cores, and the volume is sealed (the next PUT goes to a new
// volume); a PUT that loses two cores of four cannot reach three and
// fails, as does every PUT waiting on that volume.
func TestCoreFailureSealsButAcks(t *testing.T) {
	sh := &coreFailShipper{fail: map[string]map[int]bool{}}
	b, err := Open(Config{Dir: t.TempDir(), Master: testMaster, Layout: volume.Layout{K: 2, M: 2}, Shipper: sh, Journal: nopJournal{}, AckCores: 3})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.Close() })
	put := func(s string) (store.BlobRef, error) {
		return store.WriteBlob(ctx, b, bytes.NewReader([]byte(s)), int64(len(s)), nil)
	}

	first, err := put("before the failure")
	if err != nil {
		t.Fatal(err)
	}
	v := b.openVolume()
	if first.Extents[0].Volume != v.Hex {
		t.Fatalf("blob in volume %s, the open one is %s", first.Extents[0].Volume, v.Hex)
	}
	waitIdle(t, v, "every core pushed the first blob")
	sh.failCore(v, 0)
	second, err := put("while core 0 fails")
	if err != nil {
		t.Fatalf("a PUT with one core of four failed and three required: %v", err)
	}
	if second.Extents[0].Volume != v.Hex {
		t.Fatalf("second blob in volume %s, want %s", second.Extents[0].Volume, v.Hex)
	}
	// The other cores may have acknowledged it before core 0's push
	// came back: the seal follows that push's failure.
	waitUntil(t, "core 0's failure seals the volume", func() bool { return !v.writable() })
	if err := v.err(); err != nil {
		t.Fatalf("the volume failed (%v): its acknowledged blobs are fine", err)
	}
	third, err := put("after the seal")
	if err != nil {
		t.Fatal(err)
	}
	w := b.openVolume()
	if third.Extents[0].Volume == v.Hex || w == v {
		t.Fatal("a blob went to the sealed volume")
	}

	// Two cores of the new volume fail: two left, three required (once
	// the third blob's pushes are over: a failure of one of them would
	// seal the volume and the next PUT would go to a fresh one).
	waitIdle(t, w, "every core of the new volume pushed the third blob")
	sh.failCore(w, 1)
	sh.failCore(w, 3)
	if _, err := put("two cores lost"); err == nil {
		t.Fatal("a PUT was acknowledged by two cores, three required")
	}
	if w.err() == nil || w.writable() {
		t.Fatal("a volume that lost two of four cores with three required is not failed and sealed")
	}
	if _, err := put("on a third volume"); err != nil {
		t.Fatal(err)
	}
	if b.openVolume() == w {
		t.Fatal("a failed volume is still open")
	}
}
