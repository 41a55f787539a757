package network

import (
	"bytes"
	"crypto/rand"
	"path/filepath"
	"testing"
	"time"

	"github.com/datdot/datdot/gateway/store"
	"github.com/datdot/datdot/gateway/store/local"
	"github.com/datdot/datdot/volume"
)

// holdStore opens a store over net (k=2, m=1, adaptive flushes) whose
// ready flushes wait at most wait for company (Config.FlushWait), with
// its flush delays recorded.
func holdStore(t *testing.T, net CoreShipper, wait time.Duration) (*Blobs, *delays) {
	t.Helper()
	dir := t.TempDir()
	meta, err := local.OpenMeta(filepath.Join(dir, "meta.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { meta.Close() })
	b, err := Open(Config{Dir: dir, Master: testMaster, Layout: volume.Layout{K: 2, M: 1}, Shipper: net, Journal: meta, FlushWait: wait})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.Close() })
	rec := &delays{}
	b.afterFunc = rec.afterFunc
	return b, rec
}

func randBlob(n int) []byte {
	p := make([]byte, n)
	rand.Read(p)
	return p
}

// holding reports whether v's flush is ready and waits for company.
func holding(v *Volume) bool {
	v.fmu.Lock()
	defer v.fmu.Unlock()
	return v.holding && v.timer != nil
}

// openWriter creates a writer and writes n bytes to it, without
// committing.
func openWriter(t *testing.T, b *Blobs, data []byte) store.BlobWriter {
	t.Helper()
	w, err := b.Create(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.Write(data); err != nil {
		t.Fatal(err)
	}
	return w
}

// commitWriter commits w in the background.
func commitWriter(w store.BlobWriter) chan commitResult {
	ch := make(chan commitResult, 1)
	go func() {
		ref, err := w.Commit(ctx)
		ch <- commitResult{ref, err}
	}()
	return ch
}

// checkBlobs reads every blob back.
func checkBlobs(t *testing.T, b *Blobs, rs []commitResult, data [][]byte) {
	t.Helper()
	for i, r := range rs {
		if r.err != nil {
			t.Fatalf("blob %d: %v", i, r.err)
		}
		got, err := readAll(ctx, b, r.ref, 0, r.ref.Size)
		if err != nil || !bytes.Equal(got, data[i]) {
			t.Fatalf("blob %d reads back wrong: %v", i, err)
		}
	}
}

// TestFlushWaitsForOpenWriters: a flush that is ready waits while another
// blob is being written (its writer open, less than a stripe written),
// and starts once that blob is committed: both share one flush. Without
// FlushWait it does not wait.
func TestFlushWaitsForOpenWriters(t *testing.T) {
	net := testHosters(t, 3)
	b, _ := holdStore(t, net, time.Hour)
	a, c := randBlob(20000), randBlob(30000)
	w := openWriter(t, b, c)
	cha := commitAsync(b, a)
	var v *Volume
	waitUntil(t, "the blob's flush to wait for the open writer", func() bool {
		v = openVol(b)
		return v != nil && waiters(v) == 1 && holding(v)
	})
	if got := localLen(v); got != 0 {
		t.Fatalf("%d stripes appended while the flush waits, want 0", got)
	}
	chc := commitWriter(w)
	ra, rc := result(t, cha, "first blob"), result(t, chc, "the writer's blob")
	checkBlobs(t, b, []commitResult{ra, rc}, [][]byte{a, c})
	if got := localLen(v); got != 1 {
		t.Fatalf("%d stripes after both blobs, want 1 (one flush for both)", got)
	}

	t.Run("no FlushWait", func(t *testing.T) {
		b, rec := holdStore(t, testHosters(t, 3), -1)
		w := openWriter(t, b, c)
		defer w.Abort()
		if r := result(t, commitAsync(b, a), "blob"); r.err != nil {
			t.Fatal(r.err)
		}
		if got := rec.get(); len(got) != 1 || got[0] != 0 {
			t.Fatalf("flushes scheduled with delays %v, want [0]", got)
		}
	})
}

// TestFlushWaitAbortedWriter: the flush that waits for an open writer
// starts when that writer is aborted.
func TestFlushWaitAbortedWriter(t *testing.T) {
	b, _ := holdStore(t, testHosters(t, 3), time.Hour)
	a := randBlob(20000)
	w := openWriter(t, b, randBlob(1000))
	cha := commitAsync(b, a)
	waitUntil(t, "the flush to wait for the open writer", func() bool {
		v := openVol(b)
		return v != nil && holding(v)
	})
	w.Abort()
	checkBlobs(t, b, []commitResult{result(t, cha, "blob")}, [][]byte{a})
	if b.openWriters.Load() != 0 {
		t.Fatalf("%d writers counted open after the abort", b.openWriters.Load())
	}
}

// TestFlushWaitBounded: a writer that stays open holds a ready flush for
// FlushWait at most: the blob is acknowledged while the writer is still
// open.
func TestFlushWaitBounded(t *testing.T) {
	b, rec := holdStore(t, testHosters(t, 3), time.Millisecond)
	w := openWriter(t, b, randBlob(1000))
	defer w.Abort()
	a := randBlob(20000)
	checkBlobs(t, b, []commitResult{result(t, commitAsync(b, a), "blob")}, [][]byte{a})
	waited := false
	for _, d := range rec.get() {
		if d < 0 || d > time.Millisecond {
			t.Fatalf("a flush scheduled in %v, want at most FlushWait (1ms)", d)
		}
		waited = waited || d > 0
	}
	if !waited {
		t.Fatalf("flush delays %v: the flush did not wait for the open writer", rec.get())
	}
}

// TestFlushWaitSkipsLargeWriters: a writer that has written a stripe or
// more does not hold a flush (its blob fills stripes of its own and its
// commit may be far off); it is still counted while it is smaller.
func TestFlushWaitSkipsLargeWriters(t *testing.T) {
	b, rec := holdStore(t, testHosters(t, 3), time.Hour)
	stripe := int(b.cfg.Layout.StripeSize())
	w := openWriter(t, b, randBlob(stripe-1))
	if b.openWriters.Load() != 1 {
		t.Fatalf("%d writers counted with one stripe less a byte written, want 1", b.openWriters.Load())
	}
	if _, err := w.Write([]byte{1}); err != nil {
		t.Fatal(err)
	}
	if b.openWriters.Load() != 0 {
		t.Fatalf("%d writers counted with a stripe written, want 0", b.openWriters.Load())
	}
	defer w.Abort()
	a := randBlob(20000)
	checkBlobs(t, b, []commitResult{result(t, commitAsync(b, a), "blob")}, [][]byte{a})
	if got := rec.get(); len(got) != 1 || got[0] != 0 {
		t.Fatalf("flushes scheduled with delays %v, want [0]", got)
	}
}

// TestFlushWaitsForReturningPUTs: when the last acknowledgement released
// more blobs than the ready flush has, the flush waits for that many new
// blobs (their clients' next PUTs) and then carries them all; a blob that
// comes long after the last acknowledgement is flushed at once.
func TestFlushWaitsForReturningPUTs(t *testing.T) {
	net := &gatedNet{testNet: testHosters(t, 3)}
	net.hold()
	b, rec := holdStore(t, net, time.Hour)
	data := map[string][]byte{}
	var results []commitResult
	var blobs [][]byte
	commit := func(name string) chan commitResult {
		data[name] = randBlob(10000)
		return commitAsync(b, data[name])
	}
	done := func(name string, ch chan commitResult) {
		t.Helper()
		r := result(t, ch, name)
		if r.err != nil {
			t.Fatalf("%s: %v", name, r.err)
		}
		results, blobs = append(results, r), append(blobs, data[name])
	}
	// a1 alone: flushed at once.
	cha1 := commit("a1")
	waitUntil(t, "a1's pushes", func() bool { return net.pushCalls() == 3 })
	v := openVol(b)
	// a2 and a3 come while a1 is pushed: they share the next flush, which
	// does not wait (two blobs, one PUT to come back).
	cha2, cha3 := commit("a2"), commit("a3")
	waitUntil(t, "a2 and a3 to wait", func() bool { return waiters(v) == 3 })
	net.setAllow(1)
	done("a1", cha1)
	waitUntil(t, "the flush of a2 and a3", func() bool { return localLen(v) == 2 })
	// b comes while a2 and a3 are pushed; when they are acknowledged the
	// flush of b waits for their clients' next blobs.
	chb := commit("b")
	waitUntil(t, "b to wait", func() bool { return waiters(v) == 3 })
	net.setAllow(2)
	done("a2", cha2)
	done("a3", cha3)
	waitUntil(t, "b's flush to wait for company", func() bool { return holding(v) })
	chc1 := commit("c1")
	waitUntil(t, "c1 to wait", func() bool { return waiters(v) == 2 })
	if !holding(v) || localLen(v) != 2 {
		t.Fatalf("after one of two returning blobs: holding %v, %d stripes (want true, 2)", holding(v), localLen(v))
	}
	chc2 := commit("c2")
	waitUntil(t, "the flush of b, c1 and c2", func() bool { return localLen(v) == 3 })
	net.open()
	done("b", chb)
	done("c1", chc1)
	done("c2", chc2)
	if got := localLen(v); got != 3 {
		t.Fatalf("%d stripes, want 3 (b, c1 and c2 in one flush)", got)
	}
	checkBlobs(t, b, results, blobs)

	// Long after the last acknowledgement (more than FlushWait: here the
	// acknowledgement is moved back) a lone blob is flushed at once.
	v.fmu.Lock()
	v.ackN, v.ackAt = 5, time.Now().Add(-2*time.Hour)
	v.fmu.Unlock()
	before := len(rec.get())
	done("d", commit("d"))
	noHold(t, rec.get()[before:], "a lone blob long after the last acknowledgement")
}

// TestFlushWaitSkipsLargeFlushes: a flush with holdMaxStripes stripes of
// blobs or more does not wait for company: a large blob is flushed at
// once beside an open writer, and a held flush starts when a large blob
// joins it.
func TestFlushWaitSkipsLargeFlushes(t *testing.T) {
	b, rec := holdStore(t, testHosters(t, 3), time.Hour)
	w := openWriter(t, b, randBlob(1000))
	defer w.Abort()
	large := randBlob(holdMaxStripes*int(b.cfg.Layout.StripeSize()) + 100)
	checkBlobs(t, b, []commitResult{result(t, commitAsync(b, large), "large blob")}, [][]byte{large})
	noHold(t, rec.get(), "a large blob beside an open writer")

	small := randBlob(20000)
	chs := commitAsync(b, small)
	waitUntil(t, "the small blob's flush to wait for the open writer", func() bool {
		v := openVol(b)
		return waiters(v) == 1 && holding(v)
	})
	chl := commitAsync(b, large)
	checkBlobs(t, b, []commitResult{result(t, chs, "small blob"), result(t, chl, "second large blob")}, [][]byte{small, large})
	if b.openWriters.Load() != 1 {
		t.Fatalf("%d writers counted open, want 1 (the flushes did not wait for it)", b.openWriters.Load())
	}
}

// noHold fails the test if a flush was held: a held flush is scheduled
// FlushWait (here an hour) ahead. A flush that starts at once is
// scheduled with no delay, or, when pushes were still in flight, started
// by the push that ends them (nothing recorded), depending on how the
// pushes of earlier stripes interleave; both mean not held.
func noHold(t *testing.T, delays []time.Duration, what string) {
	t.Helper()
	for _, d := range delays {
		if d != 0 {
			t.Fatalf("%s: flush delays %v, want no hold (only 0)", what, delays)
		}
	}
}
