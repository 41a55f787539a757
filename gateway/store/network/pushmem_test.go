package network

import (
	"bytes"
	"context"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/datdot/datdot/gateway/store/crypt"
	"github.com/datdot/datdot/gateway/store/local"
	"github.com/datdot/datdot/volume"
)

// memProbe is testNet with every push first checking what the volume's
// PushSource gives against the local core (checked against its tree), and
// counting the blocks it had in memory and those it read from disk. A
// push of a gated core waits until the gate is closed.
type memProbe struct {
	*testNet
	gateCore int
	gate     chan struct{}

	mu        sync.Mutex
	next      map[[2]int]uint64 // (volume's first byte, core) -> first block not yet checked
	fromMem   atomic.Int64
	fromDisk  atomic.Int64
	mismatch  atomic.Int64
	maxMemSaw atomic.Int64
}

func (p *memProbe) PushCore(ctx context.Context, v *Volume, j int, length uint64) error {
	if p.gate != nil && j == p.gateCore {
		select {
		case <-p.gate:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	key := [2]int{int(v.ID[0]), j}
	p.mu.Lock()
	start := p.next[key]
	p.mu.Unlock()
	src := v.PushSource(j)
	for i := start; i < length; i++ {
		v.fmu.Lock()
		mem := i >= v.memBase[j] && i-v.memBase[j] < uint64(len(v.mem[j]))
		p.maxMemSaw.Store(max(p.maxMemSaw.Load(), v.memBytes))
		v.fmu.Unlock()
		if mem {
			p.fromMem.Add(1)
		} else {
			p.fromDisk.Add(1)
		}
		got, err := src(ctx, i)
		if err != nil {
			return err
		}
		want, err := v.Cores[j].Get(ctx, i)
		if err != nil {
			return err
		}
		if !bytes.Equal(got, want) {
			p.mismatch.Add(1)
		}
	}
	if err := p.testNet.PushCore(ctx, v, j, length); err != nil {
		return err
	}
	p.mu.Lock()
	p.next[key] = max(p.next[key], length)
	p.mu.Unlock()
	return nil
}

func openMemProbe(t *testing.T, p *memProbe, pushMem int64, ackCores int) (*crypt.Blobs, *Blobs) {
	t.Helper()
	dir := t.TempDir()
	meta, err := local.OpenMeta(filepath.Join(dir, "meta.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { meta.Close() })
	remote, err := NewRemote(RemoteConfig{Locator: p.testNet})
	if err != nil {
		t.Fatal(err)
	}
	vols, err := Open(Config{Dir: dir, Master: testMaster, Layout: volume.Layout{K: 2, M: 2}, Shipper: p, Journal: meta,
		Remote: remote, AckCores: ackCores, PushMemBytes: pushMem})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { vols.Close() })
	c, err := crypt.New(vols, testMaster)
	if err != nil {
		t.Fatal(err)
	}
	return c, vols
}

// waitPushed polls until every core of the open volume is pushed as far
// as it is appended, and returns the bytes the volume still keeps.
func waitPushed(t *testing.T, vols *Blobs) int64 {
	t.Helper()
	vols.mu.Lock()
	v := vols.open
	vols.mu.Unlock()
	deadline := time.Now().Add(time.Minute)
	for {
		v.fmu.Lock()
		done := true
		for j := range v.pushed {
			done = done && v.pushed[j] >= v.local && !v.pushing[j]
		}
		mem := v.memBytes
		v.fmu.Unlock()
		if done {
			return mem
		}
		if time.Now().After(deadline) {
			t.Fatal("the cores were not all pushed within a minute")
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestPushFromMemory: with writers running at once, every block a push
// sends comes from the volume's memory (none read from disk), is the
// block the local core holds, and memory is given back once every core's
// hosters hold the blocks; every blob reads back from the hosters.
func TestPushFromMemory(t *testing.T) {
	p := &memProbe{testNet: testHosters(t, 4), next: map[[2]int]uint64{}}
	b, vols := openMemProbe(t, p, 0, 0)
	var mu sync.Mutex
	var all []written
	var wg sync.WaitGroup
	for w := range 6 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 5 {
				ref, data, err := putRandom(ctx, b, 1+(w*7919+i*104729)%700000)
				if err != nil {
					t.Error(err)
					return
				}
				mu.Lock()
				all = append(all, written{ref, data})
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	if t.Failed() {
		return
	}
	if left := waitPushed(t, vols); left != 0 {
		t.Fatalf("%d bytes still kept in memory after every core was pushed", left)
	}
	if n := p.mismatch.Load(); n != 0 {
		t.Fatalf("%d blocks from the push source differ from the local core", n)
	}
	if p.fromMem.Load() == 0 || p.fromDisk.Load() != 0 {
		t.Fatalf("pushed %d blocks from memory and %d from disk; want all from memory", p.fromMem.Load(), p.fromDisk.Load())
	}
	reader, _ := openRemote(t, p.testNet, 0, RemoteConfig{})
	for i, w := range all {
		got, err := readAll(ctx, reader, w.ref, 0, w.ref.Size)
		if err != nil || !bytes.Equal(got, w.data) {
			t.Fatalf("blob %d read back from the hosters: %v", i, err)
		}
	}
}

// TestPushMemBound: while one core's hoster takes nothing, the blocks kept
// for it never exceed PushMemBytes: the oldest are dropped, and when the
// hoster comes back its push reads them from the local core. What it gets
// is right: with the two other hosters gone, every blob reads back from
// that core and one more.
func TestPushMemBound(t *testing.T) {
	const bound = 3 * volume.BlockSize
	p := &memProbe{testNet: testHosters(t, 4), next: map[[2]int]uint64{}, gateCore: 3, gate: make(chan struct{})}
	b, vols := openMemProbe(t, p, bound, 3) // acknowledged on 3 of 4: core 3 may lag
	var all []written
	for i := range 12 {
		ref, data, err := putRandom(ctx, b, 50000+i*40000)
		if err != nil {
			t.Fatal(err)
		}
		all = append(all, written{ref, data})
		vols.mu.Lock()
		v := vols.open
		vols.mu.Unlock()
		v.fmu.Lock()
		kept := v.memBytes
		v.fmu.Unlock()
		if kept > bound {
			t.Fatalf("after blob %d the volume keeps %d bytes, bound %d", i, kept, bound)
		}
	}
	close(p.gate)
	if left := waitPushed(t, vols); left != 0 {
		t.Fatalf("%d bytes still kept after every core was pushed", left)
	}
	if p.maxMemSaw.Load() > bound {
		t.Fatalf("a push saw %d bytes kept, bound %d", p.maxMemSaw.Load(), bound)
	}
	if p.fromDisk.Load() == 0 {
		t.Fatal("no block was read from the local core although the lagging core's blocks were dropped from memory")
	}
	if n := p.mismatch.Load(); n != 0 {
		t.Fatalf("%d blocks from the push source differ from the local core", n)
	}
	for _, h := range p.hosters[:2] {
		h.srv.Listener.Close()
		h.srv.CloseClientConnections()
	}
	reader, _ := openMemProbe(t, &memProbe{testNet: p.testNet, next: map[[2]int]uint64{}}, 0, 0)
	for i, w := range all {
		got, err := readAll(ctx, reader, w.ref, 0, w.ref.Size)
		if err != nil || !bytes.Equal(got, w.data) {
			t.Fatalf("blob %d read from cores 2 and 3: %v", i, err)
		}
	}
}
