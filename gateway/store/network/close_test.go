package network

import (
	"bytes"
	"crypto/rand"
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/datdot/datdot/gateway/store"
	"github.com/datdot/datdot/gateway/store/local"
	"github.com/datdot/datdot/volume"
)

// waitUntil polls cond until it holds, failing the test after a generous
// minute (a condition, never a fixed sleep).
func waitUntil(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(time.Minute); !cond(); time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting: %s", what)
		}
	}
}

type commitResult struct {
	ref store.BlobRef
	err error
}

// commitAsync writes data as one blob in the background.
func commitAsync(b store.BlobStore, data []byte) chan commitResult {
	ch := make(chan commitResult, 1)
	go func() {
		ref, err := store.WriteBlob(ctx, b, bytes.NewReader(data), int64(len(data)), nil)
		ch <- commitResult{ref, err}
	}()
	return ch
}

func result(t *testing.T, ch chan commitResult, what string) commitResult {
	t.Helper()
	select {
	case r := <-ch:
		return r
	case <-time.After(time.Minute):
		t.Fatalf("%s: the blob still waits", what)
		return commitResult{}
	}
}

// openVol is b's open volume (nil: none yet).
func openVol(b *Blobs) *Volume {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.open
}

func waiters(v *Volume) int {
	if v == nil {
		return 0
	}
	v.fmu.Lock()
	defer v.fmu.Unlock()
	return len(v.waiting)
}

// TestCloseRacingFlushKeepsVolume: a group commit that comes during or
// after a clean Close (its timer fired, or a blob was being appended)
// leaves the open volume alone: the blob waiting for it fails with a
// clear error, the volume is not sealed, and the next start continues it
// with every acknowledged blob readable. Without core shipping the late
// flush used to append to closed cores and seal the volume; with it, a
// flush that had passed its checks appended after Close synced the cores.
func TestCloseRacingFlushKeepsVolume(t *testing.T) {
	t.Run("group commit", func(t *testing.T) {
		dir := t.TempDir()
		meta, err := local.OpenMeta(filepath.Join(dir, "meta.db"))
		if err != nil {
			t.Fatal(err)
		}
		defer meta.Close()
		// No flush happens on its own: the test fires them.
		cfg := Config{Dir: dir, Master: testMaster, Layout: volume.Layout{K: 2, M: 1}, Journal: meta, FlushDelay: time.Hour}
		b, err := Open(cfg)
		if err != nil {
			t.Fatal(err)
		}
		data1 := make([]byte, 70000)
		rand.Read(data1)
		ch := commitAsync(b, data1)
		waitUntil(t, "the first blob to wait for its group commit", func() bool { return waiters(openVol(b)) == 1 })
		v := openVol(b)
		v.flush()
		first := result(t, ch, "first blob")
		if first.err != nil {
			t.Fatal(first.err)
		}
		ch = commitAsync(b, []byte("never acknowledged"))
		waitUntil(t, "the second blob to wait", func() bool { return waiters(v) == 1 })
		if err := b.Close(); err != nil {
			t.Fatal(err)
		}
		if r := result(t, ch, "after Close"); !errors.Is(r.err, errClosed) {
			t.Fatalf("a blob waiting at Close: %v, want %v", r.err, errClosed)
		}
		// The flush timer fires after Close.
		v.flush()
		if _, err := os.Stat(sealedFile(v)); err == nil {
			t.Fatal("a flush after a clean Close sealed the volume")
		}
		if _, err := store.WriteBlob(ctx, b, bytes.NewReader([]byte("x")), 1, nil); !errors.Is(err, errClosed) {
			t.Fatalf("a blob written to a closed store: %v, want %v", err, errClosed)
		}
		b, err = Open(cfg)
		if err != nil {
			t.Fatal(err)
		}
		defer b.Close()
		if ov := openVol(b); ov == nil || ov.Hex != v.Hex {
			t.Fatal("the cleanly closed volume was not continued")
		}
		if got := read(t, b, first.ref); !bytes.Equal(got, data1) {
			t.Fatal("the acknowledged blob reads back wrong")
		}
	})

	t.Run("core shipping", func(t *testing.T) {
		net := testHosters(t, 4)
		dir := t.TempDir()
		meta, err := local.OpenMeta(filepath.Join(dir, "meta.db"))
		if err != nil {
			t.Fatal(err)
		}
		defer meta.Close()
		remote, err := NewRemote(RemoteConfig{Locator: net})
		if err != nil {
			t.Fatal(err)
		}
		cfg := Config{Dir: dir, Master: testMaster, Layout: volume.Layout{K: 2, M: 2}, Shipper: net, Journal: meta,
			Remote: remote, FlushDelay: time.Hour}
		b, err := Open(cfg)
		if err != nil {
			t.Fatal(err)
		}
		data1 := make([]byte, 90000)
		rand.Read(data1)
		ch := commitAsync(b, data1)
		waitUntil(t, "the first blob to wait for its group commit", func() bool { return waiters(openVol(b)) == 1 })
		v := openVol(b)
		v.flush()
		first := result(t, ch, "first blob")
		if first.err != nil {
			t.Fatal(first.err)
		}
		ch = commitAsync(b, []byte("never acknowledged"))
		waitUntil(t, "the second blob to wait", func() bool { return waiters(v) == 1 })
		// A blob is being appended (the test holds the stream) when the
		// flush timer fires: the flush passes its checks and waits.
		v.wmu.Lock()
		go v.flush()
		waitUntil(t, "the flush to start", func() bool {
			v.fmu.Lock()
			defer v.fmu.Unlock()
			return v.flushing
		})
		// Close runs meanwhile: the stream is released once Close has
		// returned or waits for it.
		waits := make(chan struct{})
		b.closeHook = func(*Volume) { close(waits) }
		closed := make(chan error, 1)
		go func() { closed <- b.Close() }()
		var closeErr error
		returned := false
		select {
		case closeErr = <-closed:
			returned = true
		case <-waits:
		case <-time.After(time.Minute):
			t.Fatal("Close neither returns nor waits for the append in flight")
		}
		v.wmu.Unlock()
		if !returned {
			select {
			case closeErr = <-closed:
			case <-time.After(time.Minute):
				t.Fatal("Close does not return")
			}
		}
		if closeErr != nil {
			t.Fatal(closeErr)
		}
		// The flush has run its course (skipped, or failed on closed cores).
		waitUntil(t, "the flush to end", func() bool {
			v.fmu.Lock()
			defer v.fmu.Unlock()
			return !v.flushing
		})
		if r := result(t, ch, "after Close"); !errors.Is(r.err, errClosed) {
			t.Fatalf("a blob waiting at Close: %v, want %v", r.err, errClosed)
		}
		if _, err := os.Stat(sealedFile(v)); err == nil {
			t.Fatal("a flush racing a clean Close sealed the volume")
		}
		if _, err := os.Stat(syncedFile(v)); err != nil {
			t.Fatalf("the cleanly closed volume is not marked synced: %v", err)
		}
		b, err = Open(cfg)
		if err != nil {
			t.Fatal(err)
		}
		defer b.Close()
		if ov := openVol(b); ov == nil || ov.Hex != v.Hex {
			t.Fatal("the cleanly closed volume was not continued")
		}
		got, err := readAll(ctx, b, first.ref, 0, first.ref.Size)
		if err != nil || !bytes.Equal(got, data1) {
			t.Fatalf("the acknowledged blob after the restart: %v", err)
		}
		next := commitAsync(b, []byte("after the restart"))
		waitUntil(t, "a blob to wait in the continued volume", func() bool { return waiters(openVol(b)) == 1 })
		openVol(b).flush()
		r := result(t, next, "after the restart")
		if r.err != nil || r.ref.Extents[0].Volume != v.Hex {
			t.Fatalf("a blob after the restart: %v in %v, want volume %s", r.err, r.ref.Extents, v.Hex)
		}
	})
}
