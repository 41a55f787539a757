package network

import (
	"bytes"
	"context"
	"io"
	"testing"
	"time"

	"github.com/datdot/datdot/gateway/store/crypt"
	"github.com/datdot/datdot/volume"
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

// TestWindowBounds: a window is at most its size in whole stripes, or the
// rest of the range when that is at most a quarter more (so a range a few
// bytes longer than whole windows has no window of a few bytes at its
// end); never less than a stripe.
func TestWindowBounds(t *testing.T) {
	l := volume.Layout{K: 4, M: 2}
	ss := l.StripeSize() // 256 KiB
	b := &Blobs{}
	ref := VolumeRef{Layout: l}
	for _, c := range []struct {
		name           string
		off, n, size   int64
		wantFirst, end uint64
	}{
		{"whole windows", 0, 16 * ss, 4 * ss, 0, 4},
		{"a sealed tail merged", 12 * ss, 4*ss + 4096, 4 * ss, 12, 17},
		{"a quarter more merged", 0, 5 * ss, 4 * ss, 0, 5},
		{"more than a quarter cut", 0, 5*ss + 1, 4 * ss, 0, 4},
		{"first window", 0, 64 * ss, 4 * ss / 4, 0, 1},
		{"size below a stripe", 0, 3 * ss, 1000, 0, 1},
		{"starting inside a stripe", ss / 2, 8 * ss, 4 * ss, 0, 4},
	} {
		p := &piece{vol: "v", off: c.off, n: c.n}
		w, err := b.window(ref, p, c.off, c.n, c.size)
		if err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		if w.first != c.wantFirst || w.end != c.end {
			t.Errorf("%s: stripes [%d,%d), want [%d,%d)", c.name, w.first, w.end, c.wantFirst, c.end)
		}
	}
}

// TestLazyReadHedgesWhenUrgent: a read with an urgent channel asks only
// the data cores; while they answer, the parity core is never asked. With
// a data core's hoster hanging (and SlowAfter an hour away) it asks the
// parity core once urgent is closed, and completes decoded.
func TestLazyReadHedgesWhenUrgent(t *testing.T) {
	nt := testHosters(t, 3)
	ref, _ := writeRandom(t, nt, 1<<20)
	_, vols := openRemote(t, nt, 0, RemoteConfig{SlowAfter: time.Hour, FetchTimeout: time.Hour})
	vref, err := vols.ref(ctx, ref.Extents[0].Volume)
	if err != nil {
		t.Fatal(err)
	}
	if ref.Extents[0].Offset != 0 {
		t.Fatalf("blob not at the start of its volume: %+v", ref.Extents)
	}
	rm := vols.cfg.Remote
	need := []bool{true, true}
	ss := vref.Layout.StripeSize()
	parity := nt.hosters[2]
	parity.hits.Store(0)
	urgent := make(chan struct{})
	out, stream, release, err := rm.read(ctx, vref, 0, 2, 0, need, false, true, urgent)
	if err != nil {
		t.Fatal(err)
	}
	if len(stream) != int(2*ss) {
		t.Fatalf("stream of %d bytes, want %d", len(stream), 2*ss)
	}
	release()
	if len(out) != 2 || parity.hits.Load() != 0 {
		t.Fatalf("lazy read, hosters answering: %d stripes, parity asked %d times", len(out), parity.hits.Load())
	}

	// A data core hangs: nothing until urgent is closed.
	nt.hosters[0].mode.Store(slow)
	defer nt.hosters[0].mode.Store(honest)
	type result struct {
		out [][][]byte
		err error
	}
	done := make(chan result, 1)
	go func() {
		out, _, release, err := rm.read(ctx, vref, 0, 2, 0, need, false, true, urgent)
		defer release()
		// Copy the blocks out: the release gives their buffers back.
		cp := make([][][]byte, len(out))
		for s, row := range out {
			for _, b := range row {
				cp[s] = append(cp[s], bytes.Clone(b))
			}
		}
		done <- result{cp, err}
	}()
	waitFor(t, "the hanging hoster to be asked", func() bool { return nt.hosters[0].waiting.Load() > 0 })
	if n := parity.hits.Load(); n != 0 {
		t.Fatalf("the parity core was asked (%d) before the read was urgent", n)
	}
	close(urgent)
	res := <-done
	if res.err != nil {
		t.Fatalf("urgent read: %v", res.err)
	}
	if parity.hits.Load() == 0 {
		t.Fatal("urgent read: the parity core was not asked")
	}
	// The stripes decoded hold what an honest read got.
	nt.hosters[0].mode.Store(honest)
	want, err := rm.ReadStripes(ctx, vref, 0, 2, 0, need, false)
	if err != nil {
		t.Fatal(err)
	}
	for s := range want {
		for j := range want[s] {
			if !bytes.Equal(res.out[s][j], want[s][j]) {
				t.Fatalf("stripe %d core %d decoded wrong", s, j)
			}
		}
	}
}

// TestReaderHedgesWindowsItWaitsFor: the windows a reader asks ahead are
// lazy, and the reader makes the one it waits for urgent: with a data
// core's hoster hanging from the second window on (SlowAfter an hour
// away), a whole read still completes. Every window's budget is given
// back once the read is closed, and with no budget for windows ahead the
// read completes too (each window read when the reader gets to it).
func TestReaderHedgesWindowsItWaitsFor(t *testing.T) {
	nt := testHosters(t, 3)
	ref, data := writeRandom(t, nt, 2<<20)
	fresh, vols := openRemote(t, nt, 0, RemoteConfig{SlowAfter: time.Hour, FetchTimeout: time.Hour})
	rctx, cancel := context.WithTimeout(ctx, time.Minute) // a guard: a hang fails instead of blocking the run
	defer cancel()
	rc, err := fresh.Open(rctx, ref, 0, ref.Size)
	if err != nil {
		t.Fatal(err)
	}
	nt.hosters[0].mode.Store(slow)
	got, err := io.ReadAll(rc)
	rc.Close()
	nt.hosters[0].mode.Store(honest)
	if err != nil || !bytes.Equal(got, data) {
		t.Fatalf("read with a hanging data core: %v (equal %v)", err, bytes.Equal(got, data))
	}
	waitFor(t, "the windows' budget to be given back", func() bool { return vols.ahead.Load() == 0 })

	vols.cfg.ReadAheadBytes = 1 // no window fits
	got, err = readAll(rctx, fresh, ref, 0, ref.Size)
	if err != nil || !bytes.Equal(got, data) {
		t.Fatalf("read with no budget ahead: %v (equal %v)", err, bytes.Equal(got, data))
	}
	if n := vols.ahead.Load(); n != 0 {
		t.Fatalf("%d bytes of windows ahead with no budget", n)
	}
}

// TestFirstWindow: Open reads the first FirstWindow bytes of the range
// before it returns and has the next ReadAhead windows asked for; with
// no room in ReadAheadBytes it asks none ahead, and the read still
// completes.
func TestFirstWindow(t *testing.T) {
	nt := testHosters(t, 3)
	ref, _ := writeRandom(t, nt, 2<<20)
	_, vols := openRemote(t, nt, 0, RemoteConfig{})
	inner := ref
	inner.Crypt = nil
	inner.Size = crypt.StoredSize(ref.Size)
	ss := vols.cfg.Layout.StripeSize()
	vols.cfg.FirstWindow = ss // one stripe; ReadWindow is two
	for _, c := range []struct {
		budget int64
		ahead  int
	}{{256 << 20, 2}, {1, 0}} {
		vols.cfg.ReadAheadBytes = c.budget
		rc, err := vols.Open(ctx, inner, 0, inner.Size)
		if err != nil {
			t.Fatal(err)
		}
		r := rc.(*reader)
		if len(r.win) != vols.cfg.Layout.K {
			t.Errorf("budget %d: first window of %d blocks, want one stripe (%d)", c.budget, len(r.win), vols.cfg.Layout.K)
		}
		if len(r.ahead) != c.ahead {
			t.Errorf("budget %d: %d windows ahead, want %d", c.budget, len(r.ahead), c.ahead)
		} else if c.ahead > 0 && (r.ahead[0].first != 1 || r.ahead[0].end != 3) {
			t.Errorf("first window ahead: stripes [%d,%d), want [1,3)", r.ahead[0].first, r.ahead[0].end)
		}
		n, err := io.Copy(io.Discard, rc)
		rc.Close()
		if err != nil || n != inner.Size {
			t.Fatalf("budget %d: read %d of %d bytes: %v", c.budget, n, inner.Size, err)
		}
	}
	waitFor(t, "the windows' budget to be given back", func() bool { return vols.ahead.Load() == 0 })
}

// TestReaderHedgeAfter: with HedgeAfter set, the gateway's default, a
// reader's windows (the first and the lazy ones ahead, waited for or
// not) ask only the data cores while they answer: reading a blob of
// several windows never asks the parity core. With a data core's hoster
// hanging (SlowAfter an hour away), the read still completes: the timer
// asks the parity core and the windows decode around the hanging one.
func TestReaderHedgeAfter(t *testing.T) {
	nt := testHosters(t, 3)
	ref, data := writeRandom(t, nt, 2<<20)
	parity := nt.hosters[2]
	for _, c := range []struct {
		hedge time.Duration
		hang  bool
	}{{time.Hour, false}, {10 * time.Millisecond, true}} {
		fresh, vols := openRemote(t, nt, 0, RemoteConfig{HedgeAfter: c.hedge, SlowAfter: time.Hour, FetchTimeout: time.Hour})
		ss := vols.cfg.Layout.StripeSize()
		vols.cfg.FirstWindow, vols.cfg.ReadWindow = ss, 2*ss // several windows
		parity.hits.Store(0)
		if c.hang {
			nt.hosters[0].mode.Store(slow)
		}
		rctx, cancel := context.WithTimeout(ctx, time.Minute) // a guard: a hang fails instead of blocking the run
		got, err := readAll(rctx, fresh, ref, 0, ref.Size)
		cancel()
		nt.hosters[0].mode.Store(honest)
		if err != nil || !bytes.Equal(got, data) {
			t.Fatalf("HedgeAfter %v, hanging data core %v: %v (equal %v)", c.hedge, c.hang, err, bytes.Equal(got, data))
		}
		if n := parity.hits.Load(); !c.hang && n != 0 {
			t.Fatalf("HedgeAfter an hour, hosters answering: the parity core was asked %d times", n)
		}
		if c.hang && parity.hits.Load() == 0 {
			t.Fatal("a data core hanging: the parity core was not asked")
		}
		waitFor(t, "the windows' budget to be given back", func() bool { return vols.ahead.Load() == 0 })
	}
}
