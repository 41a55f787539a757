package network

import (
	"bytes"
	"context"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/datdot/datdot/gateway/store/crypt"
	"github.com/datdot/datdot/gateway/store/local"
	"github.com/datdot/datdot/volume"
)

// deadFirst locates every core at a failing endpoint first, then at its
// real hoster.
type deadFirst struct {
	net  *testNet
	dead string
}

func (d deadFirst) Locate(ctx context.Context, v VolumeRef, fresh bool) ([][]string, error) {
	eps, err := d.net.Locate(ctx, v, fresh)
	for j := range eps {
		eps[j] = append([]string{d.dead}, eps[j]...)
	}
	return eps, err
}

// TestFailedHosterAskedLast: a hoster that fails a read is asked last for
// RemoteConfig.Penalty (30 s by default): the reads after it go to the
// other hosters of the cores first and do not ask it; once the penalty is
// over it is asked first again.
func TestFailedHosterAskedLast(t *testing.T) {
	net := testHosters(t, 3)
	ref, data := writeRandom(t, net, 300001)

	var deadHits atomic.Int64
	dead := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		deadHits.Add(1)
		http.Error(w, `{"error":"down"}`, http.StatusServiceUnavailable)
	}))
	defer dead.Close()
	// No extra core asked at once (HedgeAfter): every request of a read
	// to the failing hoster is answered before the read returns, so none
	// of the first read's can reach it while the later reads are counted.
	remote, err := NewRemote(RemoteConfig{Locator: deadFirst{net, dead.URL}, HedgeAfter: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	if remote.cfg.Penalty != 30*time.Second {
		t.Fatalf("default penalty %v, the README says 30 s", remote.cfg.Penalty)
	}
	reader := remoteReader(t, net, remote)
	read := func(what string) {
		t.Helper()
		got, err := readAll(ctx, reader, ref, 0, ref.Size)
		if err != nil || !bytes.Equal(got, data) {
			t.Fatalf("%s: %v", what, err)
		}
	}

	before := time.Now()
	read("first read, the first hoster of every core failing")
	after := time.Now()
	first := deadHits.Load()
	if first == 0 {
		t.Fatal("the failing hoster was never asked: the test shows nothing")
	}
	remote.mu.Lock()
	until, ok := remote.penalty[dead.URL]
	remote.mu.Unlock()
	if !ok || until.Before(before.Add(30*time.Second)) || until.After(after.Add(30*time.Second)) {
		t.Fatalf("the failed hoster is asked last until %v (%v), want 30 s after it failed (between %v and %v)", until, ok, before.Add(30*time.Second), after.Add(30*time.Second))
	}
	for range 3 {
		read("a read while the failed hoster is penalized")
	}
	if n := deadHits.Load(); n != first {
		t.Fatalf("the failed hoster was asked %d more times while penalized", n-first)
	}

	// The penalty over, it is asked first again.
	remote.mu.Lock()
	remote.penalty[dead.URL] = time.Now().Add(-time.Millisecond)
	remote.mu.Unlock()
	read("a read after the penalty")
	if deadHits.Load() == first {
		t.Fatal("the hoster was not asked again once its penalty was over")
	}
}

// stallFirst locates core 0 at an endpoint that never answers first, then
// at its real hoster; the other cores at their real hosters.
type stallFirst struct {
	net   *testNet
	stall string
}

func (d stallFirst) Locate(ctx context.Context, v VolumeRef, fresh bool) ([][]string, error) {
	eps, err := d.net.Locate(ctx, v, fresh)
	if len(eps) > 0 {
		eps[0] = append([]string{d.stall}, eps[0]...)
	}
	return eps, err
}

// TestSlowHosterAskedLastShorter: a hoster that has not answered after
// SlowAfter is skipped (the read decodes around it) and asked last for a
// third of the penalty (10 s by default), not the 30 s of a hoster that
// failed: its request was cut, not refused.
func TestSlowHosterAskedLastShorter(t *testing.T) {
	net := testHosters(t, 3)
	ref, data := writeRandom(t, net, 300001)

	var asked atomic.Int64
	stalled := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		asked.Add(1)
		<-r.Context().Done() // never answers; ends when the reader cuts it
	}))
	defer stalled.Close()
	remote, err := NewRemote(RemoteConfig{Locator: stallFirst{net, stalled.URL}, HedgeAfter: time.Hour, SlowAfter: 100 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	reader := remoteReader(t, net, remote)
	before := time.Now()
	got, err := readAll(ctx, reader, ref, 0, ref.Size)
	after := time.Now()
	if err != nil || !bytes.Equal(got, data) {
		t.Fatalf("read around a stalled hoster: %v", err)
	}
	if asked.Load() == 0 {
		t.Fatal("the stalled hoster was never asked: the test shows nothing")
	}
	remote.mu.Lock()
	until, ok := remote.penalty[stalled.URL]
	remote.mu.Unlock()
	third := remote.cfg.Penalty / 3
	if third != 10*time.Second {
		t.Fatalf("a slow hoster's penalty is %v by default, the README says 10 s", third)
	}
	if !ok || until.Before(before.Add(third)) || until.After(after.Add(third)) {
		t.Fatalf("the slow hoster is asked last until %v (%v), want %v after it was found slow (between %v and %v)", until, ok, third, before.Add(third), after.Add(third))
	}
}

// remoteReader opens a fresh gateway store (2+1, no local copy of the
// cores) whose reads go through remote, and the decrypting reader over it.
func remoteReader(t *testing.T, net *testNet, remote *Remote) *crypt.Blobs {
	t.Helper()
	dir := t.TempDir()
	meta, err := local.OpenMeta(filepath.Join(dir, "meta.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { meta.Close() })
	vols, err := Open(Config{Dir: dir, Master: testMaster, Layout: volume.Layout{K: 2, M: 1}, Shipper: net, Journal: meta, Remote: remote})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { vols.Close() })
	reader, err := crypt.New(vols, testMaster)
	if err != nil {
		t.Fatal(err)
	}
	return reader
}
