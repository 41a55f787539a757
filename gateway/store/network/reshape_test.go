package network

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/datdot/datdot/gateway/store"
	"github.com/datdot/datdot/gateway/store/crypt"
	"github.com/datdot/datdot/gateway/store/local"
	"github.com/datdot/datdot/volume"
)

// downLocator is a Locator that fails while down is set (the chain or
// every hoster unreachable).
type downLocator struct {
	Locator
	down atomic.Bool
}

func (d *downLocator) Locate(ctx context.Context, v VolumeRef, fresh bool) ([][]string, error) {
	if d.down.Load() {
		return nil, errors.New("chain unreachable")
	}
	return d.Locator.Locate(ctx, v, fresh)
}

// TestRecoveredVolumeShapedFromHosters: a gateway recovered without its
// data (no local cores) records each volume's stream and holes as its
// hosters prove them, the same as the original's records from its
// cores; while no hoster answers it keeps the stream its blobs cover
// (holes counted dead) and asks again at the next pass.
func TestRecoveredVolumeShapedFromHosters(t *testing.T) {
	net := testHosters(t, 3)
	cfg, want, changes := recoverable(t, net, 8)
	loc := &downLocator{Locator: net}
	loc.down.Store(true)
	r, rmeta, rcfg := openRecovered(t, cfg, changes, loc)
	check := func(what string, shaped bool) {
		t.Helper()
		got, err := r.Usage()
		if err != nil {
			t.Fatal(err)
		}
		for _, u := range got {
			w, ok := want[u.Volume]
			if !ok {
				continue
			}
			if u.Live != w.Live {
				t.Fatalf("%s: volume %s live %d, want %d", what, u.Volume, u.Live, w.Live)
			}
			if shaped && u != w {
				t.Fatalf("%s: volume %s %+v, want the original's %+v", what, u.Volume, u, w)
			}
			if !shaped && (u.Holes != 0 || u.Stream > w.Stream) {
				t.Fatalf("%s: volume %s %+v, want the stream its blobs cover and no holes (original %+v)", what, u.Volume, u, w)
			}
		}
	}
	check("opened with the hosters unreachable", false)
	if _, err := r.Compact(ctx); err != nil {
		t.Fatal(err)
	}
	check("a pass with the hosters unreachable", false)
	loc.down.Store(false)
	if _, err := r.Compact(ctx); err != nil {
		t.Fatal(err)
	}
	check("a pass with the hosters", true)
	// Done: nothing is left to ask for, also after a restart.
	r.Close()
	r, err := Open(rcfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.Close() })
	r.SetRelocator(rmeta)
	loc.down.Store(true)
	if _, err := r.Compact(ctx); err != nil {
		t.Fatal(err)
	}
	check("restarted", true)
}

// recoverable writes blobs to a gateway of 2+1 volumes of maxStripes
// stripes with net's hosters and returns its config, the usage of its
// sealed volumes as their cores give it, and its metadata changes (what
// a recovery without the data starts from).
func recoverable(t *testing.T, net *testNet, maxStripes uint64) (Config, map[string]VolumeUsage, []local.Change) {
	t.Helper()
	dir := t.TempDir()
	meta, err := local.OpenMeta(filepath.Join(dir, "meta.db"))
	if err != nil {
		t.Fatal(err)
	}
	remote, err := NewRemote(RemoteConfig{Locator: net})
	if err != nil {
		t.Fatal(err)
	}
	cfg := Config{Dir: filepath.Join(dir, "net"), Master: testMaster, Layout: volume.Layout{K: 2, M: 1}, Shipper: net,
		Journal: meta, Remote: remote, UsagePath: filepath.Join(dir, "volumes.db"), MaxStripes: maxStripes,
		Compact: CompactConfig{Threshold: 0.5, MinAge: time.Hour}}
	vols, err := Open(cfg)
	if err != nil {
		t.Fatal(err)
	}
	blobs, err := crypt.New(vols, testMaster)
	if err != nil {
		t.Fatal(err)
	}
	if err := meta.CreateBucket(ctx, store.Bucket{Name: "b"}); err != nil {
		t.Fatal(err)
	}
	for i := range 14 {
		n := 90<<10 + i*1000
		ref, err := store.WriteBlob(ctx, blobs, bytes.NewReader(randBlob(n)), int64(n), nil)
		if err != nil {
			t.Fatal(err)
		}
		if _, _, err := meta.PutObject(ctx, "b", store.Object{Key: fmt.Sprintf("o%d", i), Size: int64(n), Parts: []store.Part{{Number: 1, Size: int64(n), Blob: ref}}}, nil); err != nil {
			t.Fatal(err)
		}
	}
	open := openVol(vols).Hex
	vols.Close()
	// Reopened: every volume's shape is recorded from its cores.
	if vols, err = Open(cfg); err != nil {
		t.Fatal(err)
	}
	orig, err := vols.Usage()
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]VolumeUsage{}
	for _, u := range orig {
		if u.Volume != open {
			want[u.Volume] = u
		}
	}
	holey := false
	for _, u := range want {
		holey = holey || u.Holes > 0
	}
	if len(want) == 0 || !holey {
		t.Fatalf("no sealed volume with holes to recover: %+v", orig)
	}
	var changes []local.Change
	if err := meta.Snapshot(ctx, func(c local.Change) error { changes = append(changes, c); return nil }); err != nil {
		t.Fatal(err)
	}
	vols.Close()
	meta.Close()
	return cfg, want, changes
}

// openRecovered opens, in a fresh directory, the store of a gateway
// recovered without its data (no local cores) from changes, reading
// from the hosters loc names; it returns the store, its metadata and
// its config.
func openRecovered(t *testing.T, cfg Config, changes []local.Change, loc Locator) (*Blobs, *local.Meta, Config) {
	t.Helper()
	rdir := t.TempDir()
	rmeta, err := local.OpenMeta(filepath.Join(rdir, "meta.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { rmeta.Close() })
	if err := rmeta.ApplyChanges(ctx, changes); err != nil {
		t.Fatal(err)
	}
	if err := rmeta.FinishRebuild(ctx); err != nil {
		t.Fatal(err)
	}
	rremote, err := NewRemote(RemoteConfig{Locator: loc})
	if err != nil {
		t.Fatal(err)
	}
	rcfg := cfg
	rcfg.Dir, rcfg.UsagePath, rcfg.Journal, rcfg.Remote = filepath.Join(rdir, "net"), filepath.Join(rdir, "volumes.db"), rmeta, rremote
	r, err := Open(rcfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.Close() })
	r.SetRelocator(rmeta)
	return r, rmeta, rcfg
}

// shapeLocator names, for every core, a hoster that hangs, then the
// core's hoster, then one more hoster: the order shapeFromHosters asks
// them in.
type shapeLocator struct {
	Locator
	hang, extra string
}

func (s *shapeLocator) Locate(ctx context.Context, v VolumeRef, fresh bool) ([][]string, error) {
	eps, err := s.Locator.Locate(ctx, v, fresh)
	for j := range eps {
		eps[j] = append([]string{s.hang}, append(eps[j], s.extra)...)
	}
	return eps, err
}

// TestShapeFromHostersBounded: a pass of shapeFromHosters asks a hoster
// that does not answer once (its request ends at shapeTimeout, and it is
// skipped for the rest of the pass), takes the first proof that covers
// a volume's blobs without asking the other hosters, and asks about
// shapeMax volumes, the next pass going on with the others; every
// volume ends up with the shape its cores had.
func TestShapeFromHostersBounded(t *testing.T) {
	net := testHosters(t, 3)
	cfg, want, changes := recoverable(t, net, 2)
	if len(want) < 3 {
		t.Fatalf("%d sealed volumes, want at least 3 to shape over passes", len(want))
	}
	// The hanging hoster holds the first request of each pass until the
	// client gives up; a second one in the same pass (which it should
	// not get) is answered at once, so a broken pass fails the counts
	// below instead of hanging.
	var hangAsked, extraAsked atomic.Int64
	var hung atomic.Bool
	stop := make(chan struct{})
	hang := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hangAsked.Add(1)
		if hung.CompareAndSwap(false, true) {
			select {
			case <-r.Context().Done():
			case <-stop:
			}
		}
		http.Error(w, `{"error":"down"}`, http.StatusServiceUnavailable)
	}))
	t.Cleanup(hang.Close)
	t.Cleanup(func() { close(stop) })
	extra := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		extraAsked.Add(1)
		http.Error(w, `{"error":"not assigned"}`, http.StatusNotFound)
	}))
	t.Cleanup(extra.Close)
	r, _, _ := openRecovered(t, cfg, changes, &shapeLocator{Locator: net, hang: hang.URL, extra: extra.URL})
	r.shapeTimeout, r.shapeMax = 2*time.Second, 2
	// The volumes still to shape: the sealed ones and the original's
	// open one.
	unshaped := func() int {
		t.Helper()
		n := 0
		err := r.usage.view(func(tx *bolt.Tx) error {
			return r.usage.bucket(tx, bucketReshape).ForEach(func(k, _ []byte) error {
				if !bytes.Equal(k, rebuildCursor) {
					n++
				}
				return nil
			})
		})
		if err != nil {
			t.Fatal(err)
		}
		return n
	}
	listed := unshaped()
	if listed < len(want) {
		t.Fatalf("%d volumes to shape, want at least the %d sealed ones", listed, len(want))
	}
	shaped := func() int { return listed - unshaped() }
	passes := (listed + 1) / 2
	for p := 1; p <= passes; p++ {
		hung.Store(false)
		if err := r.shapeFromHosters(ctx); err != nil {
			t.Fatal(err)
		}
		if n := hangAsked.Load(); n != int64(p) {
			t.Fatalf("pass %d: the hoster that does not answer was asked %d times in all, want once a pass", p, n)
		}
		if n := extraAsked.Load(); n != 0 {
			t.Fatalf("pass %d: a hoster was asked %d times after another proved the volume's shape", p, n)
		}
		if n, w := shaped(), min(2*p, listed); n != w {
			t.Fatalf("pass %d: %d volumes shaped as the original's, want %d (2 a pass)", p, n, w)
		}
	}
	got, err := r.Usage()
	if err != nil {
		t.Fatal(err)
	}
	for _, u := range got {
		if w, ok := want[u.Volume]; ok && u != w {
			t.Fatalf("volume %s %+v, want the original's %+v", u.Volume, u, w)
		}
	}
	// Nothing is left to ask about.
	if err := r.shapeFromHosters(ctx); err != nil {
		t.Fatal(err)
	}
	if n := hangAsked.Load(); n != int64(passes) {
		t.Fatalf("a pass with every volume shaped asked a hoster (%d requests, want %d)", n, passes)
	}
}
