package network

import (
	"bytes"
	"testing"
	"time"
)

// TestShortRangeAcrossStripes: a read no longer than a stripe that crosses
// a stripe boundary asks each core only for the blocks of the range (here:
// the last block of one stripe and the first of the next, from two cores),
// not every core plus a hedge for both stripes, and reads the right bytes.
func TestShortRangeAcrossStripes(t *testing.T) {
	nt := testHosters(t, 3)
	ref, data := writeRandom(t, nt, 300001)
	if len(ref.Extents) != 1 || ref.Extents[0].Offset != 0 {
		t.Fatalf("blob not at the start of a volume: %+v", ref.Extents)
	}
	// Plaintext [100000, 160000) is in sealed segments 1 and 2: stream
	// bytes [65536, 196608) = block 1 of stripe 0 and block 0 of stripe 1
	// (k=2), one stripe's length. The parity hoster holds what it is asked
	// (a read that asked it leaves a fetch draining when it returns).
	fresh, vols := openRemote(t, nt, 0, RemoteConfig{SlowAfter: time.Hour, FetchTimeout: time.Hour, DrainAfter: time.Hour})
	parity := nt.hosters[2]
	parity.mode.Store(held)
	defer func() { close(parity.hold); parity.mode.Store(honest) }()
	for _, h := range nt.hosters {
		h.hits.Store(0)
	}
	got, err := readAll(ctx, fresh, ref, 100000, 60000)
	if err != nil || !bytes.Equal(got, data[100000:160000]) {
		t.Fatalf("range read: %v (equal %v)", err, bytes.Equal(got, data[100000:160000]))
	}
	if n := vols.cfg.Remote.draining.Load(); n != 0 {
		t.Errorf("the parity core was asked (%d fetches left draining)", n)
	}
	for j, want := range []int64{1, 1} {
		if n := nt.hosters[j].hits.Load(); n != want {
			t.Errorf("core %d asked %d times, want %d", j, n, want)
		}
	}
}
