package network

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

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
		Journal: meta, Remote: remote, UsagePath: filepath.Join(dir, "volumes.db"), MaxStripes: 8,
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

	// Recovered without the data: no local cores.
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
	loc := &downLocator{Locator: net}
	loc.down.Store(true)
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
	if r, err = Open(rcfg); err != nil {
		t.Fatal(err)
	}
	r.SetRelocator(rmeta)
	loc.down.Store(true)
	if _, err := r.Compact(ctx); err != nil {
		t.Fatal(err)
	}
	check("restarted", true)
}
