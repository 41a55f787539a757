package network

import (
	"bytes"
	"context"
	"crypto/rand"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/datdot/datdot/gateway/store/local"
	"github.com/datdot/datdot/volume"
)

// gatedNet is testNet whose pushes of more than allow stripes wait until
// the test allows them, and which counts the pushes.
type gatedNet struct {
	*testNet
	gmu     sync.Mutex
	allow   uint64
	changed chan struct{}
	calls   int
}

func (g *gatedNet) PushCore(ctx context.Context, v *Volume, j int, length uint64) error {
	g.gmu.Lock()
	g.calls++
	g.gmu.Unlock()
	for {
		g.gmu.Lock()
		ok, ch := length <= g.allow, g.changed
		g.gmu.Unlock()
		if ok {
			break
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	return g.testNet.PushCore(ctx, v, j, length)
}

// setAllow lets pushes up to length stripes go.
func (g *gatedNet) setAllow(length uint64) {
	g.gmu.Lock()
	defer g.gmu.Unlock()
	g.allow = length
	if g.changed != nil {
		close(g.changed)
	}
	g.changed = make(chan struct{})
}

func (g *gatedNet) hold() { g.setAllow(0) }
func (g *gatedNet) open() { g.setAllow(^uint64(0)) }

func (g *gatedNet) pushCalls() int {
	g.gmu.Lock()
	defer g.gmu.Unlock()
	return g.calls
}

// delays records the delays flushes were scheduled with.
type delays struct {
	mu sync.Mutex
	ds []time.Duration
}

func (d *delays) afterFunc(dt time.Duration, f func()) *time.Timer {
	d.mu.Lock()
	d.ds = append(d.ds, dt)
	d.mu.Unlock()
	return time.AfterFunc(dt, f)
}

func (d *delays) get() []time.Duration {
	d.mu.Lock()
	defer d.mu.Unlock()
	return slices.Clone(d.ds)
}

// TestAdaptiveFlush: with a CoreShipper and FlushDelay 0 a blob that
// finds no push in flight is flushed at once (no delay), and blobs that
// come while a push runs wait for no timer: they are not flushed while it
// runs and share the one flush that starts when it ends.
func TestAdaptiveFlush(t *testing.T) {
	net := &gatedNet{testNet: testHosters(t, 3)}
	net.hold()
	dir := t.TempDir()
	meta, err := local.OpenMeta(filepath.Join(dir, "meta.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer meta.Close()
	b, err := Open(Config{Dir: dir, Master: testMaster, Layout: volume.Layout{K: 2, M: 1}, Shipper: net, Journal: meta})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	var rec delays
	b.afterFunc = rec.afterFunc
	if b.cfg.FlushDelay != 0 {
		t.Fatalf("FlushDelay %v with a CoreShipper, want 0 (adaptive)", b.cfg.FlushDelay)
	}
	blob := func() []byte {
		p := make([]byte, 20000)
		rand.Read(p)
		return p
	}

	a := blob()
	cha := commitAsync(b, a)
	waitUntil(t, "the pushes of the first blob", func() bool { return net.pushCalls() == 3 })
	if got := rec.get(); !slices.Equal(got, []time.Duration{0}) {
		t.Fatalf("the lone blob's flush was scheduled with delays %v, want [0]", got)
	}
	v := openVol(b)
	v.fmu.Lock()
	local1 := v.local
	v.fmu.Unlock()
	if local1 != 1 {
		t.Fatalf("the first flush appended %d stripes, want 1", local1)
	}

	// Two more blobs while the first one's pushes run.
	bb, c := blob(), blob()
	chb, chc := commitAsync(b, bb), commitAsync(b, c)
	waitUntil(t, "three blobs to wait", func() bool { return waiters(v) == 3 })
	v.fmu.Lock()
	wanted, local2 := v.flushWanted, v.local
	v.fmu.Unlock()
	if !wanted || local2 != local1 {
		t.Fatalf("blobs that came during a push: flush wanted %v, %d stripes appended (want true, %d)", wanted, local2, local1)
	}
	if got := rec.get(); len(got) != 1 {
		t.Fatalf("blobs that came during a push scheduled timers: %v", got)
	}

	net.open()
	ra, rb, rc := result(t, cha, "first"), result(t, chb, "second"), result(t, chc, "third")
	for _, r := range []commitResult{ra, rb, rc} {
		if r.err != nil {
			t.Fatal(r.err)
		}
	}
	// The second and third blob share the stripe of one flush.
	v.fmu.Lock()
	local3 := v.local
	v.fmu.Unlock()
	if local3 != 2 {
		t.Fatalf("%d stripes after the second flush, want 2 (both blobs in one)", local3)
	}
	if got := rec.get(); len(got) != 1 {
		t.Fatalf("flushes scheduled with delays %v, want only the first one's", got)
	}
	for _, w := range []struct {
		r    commitResult
		data []byte
	}{{ra, a}, {rb, bb}, {rc, c}} {
		got, err := readAll(ctx, b, w.r.ref, 0, w.r.ref.Size)
		if err != nil || !bytes.Equal(got, w.data) {
			t.Fatalf("blob %s reads back wrong: %v", w.r.ref.ID, err)
		}
	}
}

// TestFlushDelayKept: a positive FlushDelay is still the wait of a
// CoreShipper's flush.
func TestFlushDelayKept(t *testing.T) {
	net := testHosters(t, 3)
	dir := t.TempDir()
	meta, err := local.OpenMeta(filepath.Join(dir, "meta.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer meta.Close()
	b, err := Open(Config{Dir: dir, Master: testMaster, Layout: volume.Layout{K: 2, M: 1}, Shipper: net, Journal: meta, FlushDelay: 3 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	var rec delays
	b.afterFunc = rec.afterFunc
	if r := result(t, commitAsync(b, []byte("one blob")), "blob"); r.err != nil {
		t.Fatal(r.err)
	}
	if got := rec.get(); !slices.Equal(got, []time.Duration{3 * time.Millisecond}) {
		t.Fatalf("flushes scheduled with %v, want [3ms]", got)
	}
}

// localLen is the stripes appended to v's local cores.
func localLen(v *Volume) uint64 {
	v.fmu.Lock()
	defer v.fmu.Unlock()
	return v.local
}

// TestFlushNotStarvedByBigBlobs: a wanted flush starts once the pushes
// that were in flight when it was wanted are over, even though the cores
// have newer stripes to push (a big blob appends its full stripes as they
// come, so the cores are never idle all at once): the big blob's tail is
// appended while those newer pushes still run.
func TestFlushNotStarvedByBigBlobs(t *testing.T) {
	net := &gatedNet{testNet: testHosters(t, 3)}
	net.hold()
	dir := t.TempDir()
	meta, err := local.OpenMeta(filepath.Join(dir, "meta.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer meta.Close()
	layout := volume.Layout{K: 2, M: 1}
	b, err := Open(Config{Dir: dir, Master: testMaster, Layout: layout, Shipper: net, Journal: meta})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	small := make([]byte, 20000)
	rand.Read(small)
	cha := commitAsync(b, small)
	waitUntil(t, "the small blob's pushes", func() bool { return net.pushCalls() == 3 })
	v := openVol(b)
	if got := localLen(v); got != 1 {
		t.Fatalf("%d stripes after the first flush, want 1", got)
	}
	// The full stripes a core takes before they are appended without a
	// flush (pushCoreBytes) and a tail.
	full := pushCoreBytes / volume.BlockSize
	big := make([]byte, int64(full)*layout.StripeSize()+1000)
	rand.Read(big)
	chb := commitAsync(b, big)
	waitUntil(t, "the big blob to wait for a flush", func() bool {
		v.fmu.Lock()
		defer v.fmu.Unlock()
		return len(v.waiting) == 2 && v.flushWanted
	})
	if got := localLen(v); got != uint64(1+full) {
		t.Fatalf("%d stripes appended before the flush, want %d (the big blob's full stripes)", got, 1+full)
	}
	// The first pushes end; the pushes of the big blob's stripes start
	// and are held: the flush must not wait for them.
	net.setAllow(1)
	if r := result(t, cha, "small blob"); r.err != nil {
		t.Fatal(r.err)
	}
	waitUntil(t, "the big blob's tail to be flushed while its stripes are pushed", func() bool { return localLen(v) == uint64(2+full) })
	net.open()
	r := result(t, chb, "big blob")
	if r.err != nil {
		t.Fatal(r.err)
	}
	got, err := readAll(ctx, b, r.ref, 0, r.ref.Size)
	if err != nil || !bytes.Equal(got, big) {
		t.Fatalf("the big blob reads back wrong: %v", err)
	}
}
