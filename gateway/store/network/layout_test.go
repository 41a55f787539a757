package network

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"sync"
	"testing"

	"github.com/datdot/datdot/gateway/store"
	"github.com/datdot/datdot/gateway/store/crypt"
	"github.com/datdot/datdot/gateway/store/local"
	"github.com/datdot/datdot/volume"
)

// layoutNet is testNet with the chain's record of each volume's layout
// (the order's erasure k and cores), found by the first core key.
type layoutNet struct {
	*testNet
	mu      sync.Mutex
	layouts map[[32]byte]volume.Layout
	// down makes VolumeLayout fail (the chain unreachable); asked counts
	// its calls.
	down  bool
	asked int
}

func (n *layoutNet) Prepare(ctx context.Context, v *Volume, length uint64) error {
	n.mu.Lock()
	n.layouts[v.Cores[0].Key()] = v.Layout
	n.mu.Unlock()
	return n.testNet.Prepare(ctx, v, length)
}

func (n *layoutNet) VolumeLayout(_ context.Context, v VolumeRef) (volume.Layout, error) {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.asked++
	if n.down {
		return volume.Layout{}, errors.New("chain unreachable")
	}
	l, ok := n.layouts[v.Keys[0]]
	if !ok {
		return l, ErrNoOrder
	}
	return l, nil
}

// openLayout opens an encrypting network store of layout l in dir; with
// net, reads come from its hosters.
func openLayout(t *testing.T, dir string, l volume.Layout, net *layoutNet) (*crypt.Blobs, func()) {
	t.Helper()
	meta, err := local.OpenMeta(filepath.Join(dir, "meta.db"))
	if err != nil {
		t.Fatal(err)
	}
	cfg := Config{Dir: dir, Master: testMaster, Layout: l, Journal: meta}
	if net != nil {
		remote, err := NewRemote(RemoteConfig{Locator: net})
		if err != nil {
			t.Fatal(err)
		}
		cfg.Shipper, cfg.Remote = net, remote
	}
	vols, err := Open(cfg)
	if err != nil {
		t.Fatal(err)
	}
	var once sync.Once
	closeAll := func() { once.Do(func() { vols.Close(); meta.Close() }) }
	t.Cleanup(closeAll)
	c, err := crypt.New(vols, testMaster)
	if err != nil {
		t.Fatal(err)
	}
	return c, closeAll
}

// volumesOf lists the volumes ws's extents name.
func volumesOf(ws []written) map[string]bool {
	out := map[string]bool{}
	for _, w := range ws {
		for _, e := range w.ref.Extents {
			out[e.Volume] = true
		}
	}
	return out
}

// TestLayoutChangeKeepsOldVolumesReadable: blobs written with k=2 m=1
// read back after a restart with k=4 m=2, locally and from the hosters,
// also on a fresh machine with no local copy (the layout then comes from
// the volume's order); the old volume is sealed, not continued, and new
// blobs go to a volume of the new layout.
func TestLayoutChangeKeepsOldVolumesReadable(t *testing.T) {
	old, now := volume.Layout{K: 2, M: 1}, volume.Layout{K: 4, M: 2}

	// Local cores only.
	dir := t.TempDir()
	c, done := openLayout(t, dir, old, nil)
	ws := writeSome(t, c)
	done()
	c, done = openLayout(t, dir, now, nil)
	checkAll(t, ctx, c, ws, "local, restarted with 4+2")
	more := writeSome(t, c)
	checkAll(t, ctx, c, more, "local, written with 4+2")
	for v := range volumesOf(ws) {
		if volumesOf(more)[v] {
			t.Fatalf("volume %s of layout 2+1 was continued with 4+2", v)
		}
		if _, err := os.Stat(filepath.Join(dir, "volumes", v, "sealed")); err != nil {
			t.Fatalf("the 2+1 volume is not sealed: %v", err)
		}
	}
	for v := range volumesOf(more) {
		if l, ok, err := ReadLayout(filepath.Join(dir, "volumes", v)); err != nil || !ok || l != now {
			t.Fatalf("new volume's recorded layout %+v %v %v, want %+v", l, ok, err, now)
		}
	}

	// From the hosters, and on a machine with no local copy.
	net := &layoutNet{testNet: testHosters(t, 6), layouts: map[[32]byte]volume.Layout{}}
	dir = t.TempDir()
	c, done = openLayout(t, dir, old, net)
	ws = writeSome(t, c)
	done()
	c, done = openLayout(t, dir, now, net)
	checkAll(t, ctx, c, ws, "from hosters, restarted with 4+2")
	done()
	// A volume of an older version has no layout record: the order's.
	for v := range volumesOf(ws) {
		if err := os.Remove(filepath.Join(dir, "volumes", v, layoutName)); err != nil {
			t.Fatal(err)
		}
	}
	c, done = openLayout(t, dir, now, net)
	checkAll(t, ctx, c, ws, "from hosters, no layout record")
	done()
	c, _ = openLayout(t, t.TempDir(), volume.Layout{K: 3, M: 1}, net)
	checkAll(t, ctx, c, ws, "a fresh machine with 3+1")
}

var _ store.BlobStore = (*Blobs)(nil)

// TestOldLayoutCoderShared: blocks of a volume of another layout than
// the gateway's, rebuilt because a local data core is gone, are decoded
// with one coder of that layout, built once and shared by concurrent
// callers (not one per block).
func TestOldLayoutCoderShared(t *testing.T) {
	old, now := volume.Layout{K: 2, M: 1}, volume.Layout{K: 4, M: 2}
	dir := t.TempDir()
	c, done := openLayout(t, dir, old, nil)
	ws := writeSome(t, c)
	done()
	for v := range volumesOf(ws) {
		if err := os.RemoveAll(filepath.Join(dir, "volumes", v, "core-000")); err != nil {
			t.Fatal(err)
		}
	}
	c, _ = openLayout(t, dir, now, nil)
	checkAll(t, ctx, c, ws, "a 2+1 volume without its core 0, read with 4+2")
	checkAll(t, ctx, c, ws, "again")
	b := c.Inner.(*Blobs)
	b.cmu.Lock()
	built := len(b.coders)
	first := b.coders[old]
	b.cmu.Unlock()
	if built != 1 || first == nil {
		t.Fatalf("%d coders kept (2+1: %v), want the 2+1 one only", built, first != nil)
	}
	got := make([]*volume.Coder, 8)
	var wg sync.WaitGroup
	for i := range got {
		wg.Add(1)
		go func() {
			defer wg.Done()
			got[i], _ = b.coderFor(old)
		}()
	}
	wg.Wait()
	for i, g := range got {
		if g != first {
			t.Fatalf("call %d got another 2+1 coder than the first", i)
		}
	}
	if g, _ := b.coderFor(now); g != b.coder {
		t.Fatal("the gateway's own layout got another coder than the one it writes with")
	}
}

// TestUpgradeAdoptsLayout: volumes of a version that did not record
// their layout (the record removed) whose local cores are the gateway's
// n and whose first stripe checks out as its layout take it, with the
// chain unreachable, and get the record; the open volume is continued,
// not sealed, also across a second restart, and the chain is never
// asked. Cores of the same n but another k (2+1 read as 1+2) do not pass
// the check: that volume's layout comes from its order.
func TestUpgradeAdoptsLayout(t *testing.T) {
	l := volume.Layout{K: 2, M: 1}
	net := &layoutNet{testNet: testHosters(t, 3), layouts: map[[32]byte]volume.Layout{}}
	dir := t.TempDir()
	open := func(l volume.Layout) (*crypt.Blobs, *Blobs, func()) {
		t.Helper()
		meta, err := local.OpenMeta(filepath.Join(dir, "meta.db"))
		if err != nil {
			t.Fatal(err)
		}
		remote, err := NewRemote(RemoteConfig{Locator: net})
		if err != nil {
			t.Fatal(err)
		}
		vols, err := Open(Config{Dir: dir, Master: testMaster, Layout: l, Journal: meta, Shipper: net, Remote: remote})
		if err != nil {
			t.Fatal(err)
		}
		var once sync.Once
		closeAll := func() { once.Do(func() { vols.Close(); meta.Close() }) }
		t.Cleanup(closeAll)
		c, err := crypt.New(vols, testMaster)
		if err != nil {
			t.Fatal(err)
		}
		return c, vols, closeAll
	}
	unrecord := func() {
		t.Helper()
		ents, err := os.ReadDir(filepath.Join(dir, "volumes"))
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range ents {
			if err := os.Remove(filepath.Join(dir, "volumes", e.Name(), layoutName)); err != nil {
				t.Fatal(err)
			}
		}
	}
	// A sealed volume (as a crash leaves one) and the open one.
	c, vols, done := open(l)
	ws := writeSome(t, c)
	first := openVol(vols)
	done()
	if err := os.WriteFile(sealedFile(first), []byte("sealed\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	c, vols, done = open(l)
	ws = append(ws, writeSome(t, c)...)
	last := openVol(vols).Hex
	done()
	if len(volumesOf(ws)) != 2 || last == first.Hex {
		t.Fatalf("blobs in %d volumes, want a sealed one and the open one", len(volumesOf(ws)))
	}
	unrecord()
	net.mu.Lock()
	net.down = true
	net.mu.Unlock()
	for round := range 2 {
		c, vols, done = open(l)
		if v := openVol(vols); v == nil || v.Hex != last {
			t.Fatalf("round %d: the open volume of the older version was not continued", round)
		}
		if _, err := os.Stat(filepath.Join(dir, "volumes", last, "sealed")); err == nil {
			t.Fatalf("round %d: the open volume of the older version was sealed", round)
		}
		checkAll(t, ctx, c, ws, "no layout records, the chain unreachable")
		more := writeSome(t, c)
		if !volumesOf(more)[last] {
			t.Fatalf("round %d: new blobs did not go to the continued volume", round)
		}
		ws = append(ws, more...)
		last = openVol(vols).Hex
		done()
		for v := range volumesOf(ws) {
			if got, ok, err := ReadLayout(filepath.Join(dir, "volumes", v)); err != nil || !ok || got != l {
				t.Fatalf("round %d: volume %s recorded layout %+v %v %v, want %+v", round, v, got, ok, err, l)
			}
		}
	}
	net.mu.Lock()
	asked := net.asked
	net.down = false
	net.mu.Unlock()
	if asked != 0 {
		t.Fatalf("the chain was asked %d times for a layout the local cores show", asked)
	}

	// Read as 1+2 (also n = 3): the first stripes do not check out, the
	// order says 2+1.
	unrecord()
	c, _, done = open(volume.Layout{K: 1, M: 2})
	checkAll(t, ctx, c, ws, "2+1 volumes without records, read as 1+2")
	done()
	for v := range volumesOf(ws) {
		if got, ok, err := ReadLayout(filepath.Join(dir, "volumes", v)); err != nil || !ok || got != l {
			t.Fatalf("volume %s recorded layout %+v %v %v after a 1+2 start, want its order's %+v", v, got, ok, err, l)
		}
	}
	net.mu.Lock()
	asked = net.asked
	net.mu.Unlock()
	if asked == 0 {
		t.Fatal("the 1+2 start took the 2+1 volumes' layout without asking their orders")
	}
}
