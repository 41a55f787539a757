package network

import (
	"bytes"
	"context"
	"errors"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/datdot/datdot/gateway/store"
)

// countingClient is an HTTP client that counts the connections it dials
// to each address.
func countingClient() (*http.Client, func(addr string) int64) {
	var mu sync.Mutex
	counts := map[string]int64{}
	t := http.DefaultTransport.(*http.Transport).Clone()
	t.MaxIdleConnsPerHost = 64
	t.DialContext = func(ctx context.Context, network, addr string) (net.Conn, error) {
		mu.Lock()
		counts[addr]++
		mu.Unlock()
		var d net.Dialer
		return d.DialContext(ctx, network, addr)
	}
	return &http.Client{Transport: t}, func(addr string) int64 {
		mu.Lock()
		defer mu.Unlock()
		return counts[addr]
	}
}

// TestDrainKeepsConnections: a read asks k+1 cores and returns once k
// answered; the extra core's answers, still on their way, are let finish
// (DrainAfter) so that their connections serve the next read, which then
// dials nothing to that hoster. Cancelled at once (DrainAfter < 0), they
// close their connections and the next read dials again. A hoster that
// never answers is cancelled once DrainAfter has passed, and the read
// never waits for any of it.
func TestDrainKeepsConnections(t *testing.T) {
	nt := testHosters(t, 3)
	ref, want := writeRandom(t, nt, 1<<20)
	parity := nt.hosters[2]
	parityAddr := strings.TrimPrefix(parity.srv.URL, "http://")
	read := func(b store.BlobStore) {
		t.Helper()
		got, err := readAll(ctx, b, ref, 0, ref.Size)
		if err != nil || !bytes.Equal(got, want) {
			t.Fatalf("read back: %v (equal %v)", err, bytes.Equal(got, want))
		}
	}
	// readAsked reads the blob with the data cores answering only once
	// the parity core's request has reached its hoster: the read returns
	// with that request sent (not still dialing, which the transport
	// would finish and keep, or not yet started).
	readAsked := func(name string, b store.BlobStore) {
		t.Helper()
		h0 := parity.hits.Load()
		data := nt.hosters[:2]
		for _, h := range data {
			h.hold = make(chan struct{})
			h.mode.Store(held)
		}
		readDone := make(chan error, 1)
		go func() {
			got, err := readAll(ctx, b, ref, 0, ref.Size)
			if err == nil && !bytes.Equal(got, want) {
				err = errors.New("wrong bytes")
			}
			readDone <- err
		}()
		waitFor(t, "the parity core to be asked", func() bool { return parity.hits.Load() > h0 })
		for _, h := range data {
			close(h.hold)
		}
		err := <-readDone
		for _, h := range data {
			h.mode.Store(honest)
		}
		if err != nil {
			t.Fatalf("%s: read back: %v", name, err)
		}
	}
	for _, c := range []struct {
		name       string
		drainAfter time.Duration
		wantDials  bool
	}{
		{"drained", time.Hour, false},
		{"cancelled at once", -1, true},
	} {
		hc, dials := countingClient()
		fresh, vols := openRemote(t, nt, 0, RemoteConfig{HTTP: hc, DrainAfter: c.drainAfter, SlowAfter: time.Hour, FetchTimeout: time.Hour})
		// The blob in one window, read with the extra core at once (a
		// window read ahead asks it only when its reader waits for it).
		vols.cfg.ReadWindow, vols.cfg.FirstWindow = 4<<20, 4<<20
		parity.hold = make(chan struct{})
		parity.mode.Store(held)
		readAsked(c.name, fresh) // from the data cores; the parity core's answers are held
		if dials(parityAddr) == 0 {
			t.Fatalf("%s: the parity core was not dialed", c.name)
		}
		close(parity.hold)
		waitFor(t, "the held answers to end", func() bool { return parity.waiting.Load() == 0 && vols.cfg.Remote.draining.Load() == 0 })
		parity.mode.Store(honest)
		before := dials(parityAddr)
		readAsked(c.name, fresh)
		if got := dials(parityAddr) > before; got != c.wantDials {
			t.Fatalf("%s: the next read dialed the parity hoster: %v (%d dials after %d), want %v", c.name, got, dials(parityAddr), before, c.wantDials)
		}
	}

	// A parity hoster that never answers: cancelled after DrainAfter.
	fresh, vols := openRemote(t, nt, 0, RemoteConfig{DrainAfter: 20 * time.Millisecond, SlowAfter: time.Hour, FetchTimeout: time.Hour})
	parity.mode.Store(slow)
	read(fresh)
	waitFor(t, "the hanging answers to be cancelled", func() bool { return parity.waiting.Load() == 0 && vols.cfg.Remote.draining.Load() == 0 })
	parity.mode.Store(honest)
}
