package onchain

import (
	"context"
	"errors"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/datdot/datdot/gateway/store/network"
)

// fakeClock is a clock whose timers run only when the test advances it,
// in the test's goroutine.
type fakeClock struct {
	mu     sync.Mutex
	t      time.Time
	timers []fakeTimer
}

type fakeTimer struct {
	at time.Time
	f  func()
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) AfterFunc(d time.Duration, f func()) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.timers = append(c.timers, fakeTimer{c.t.Add(d), f})
}

func (c *fakeClock) pending() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.timers)
}

// advance moves the clock by d, running every timer due on the way at
// its time (those the timers set too).
func (c *fakeClock) advance(d time.Duration) {
	c.mu.Lock()
	end := c.t.Add(d)
	for {
		i := slices.IndexFunc(c.timers, func(t fakeTimer) bool { return !t.at.After(end) })
		if i < 0 {
			break
		}
		for j, t := range c.timers {
			if t.at.Before(c.timers[i].at) {
				i = j
			}
		}
		t := c.timers[i]
		c.timers = slices.Delete(c.timers, i, i+1)
		if t.at.After(c.t) {
			c.t = t.at
		}
		c.mu.Unlock()
		t.f()
		c.mu.Lock()
	}
	c.t = end
	c.mu.Unlock()
}

type extension struct {
	at         time.Time
	id, length uint64
}

// extendRecorder stands for Extend (the MsgExtendOrder): it records when
// it was called with which length, and fails while fail is set.
type extendRecorder struct {
	clock *fakeClock
	mu    sync.Mutex
	calls []extension
	fail  bool
}

func (r *extendRecorder) extend(_ context.Context, _ *network.Volume, id, length uint64) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.calls = append(r.calls, extension{r.clock.Now(), id, length})
	if r.fail {
		return errors.New("chain unreachable")
	}
	return nil
}

func (r *extendRecorder) got() []extension {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.calls)
}

func extendShipper(every time.Duration) (*Shipper, *fakeClock, *extendRecorder) {
	clock := &fakeClock{t: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}
	rec := &extendRecorder{clock: clock}
	s := New(Config{ExtendEvery: every})
	s.now, s.afterFunc, s.extend = clock.Now, clock.AfterFunc, rec.extend
	return s, clock, rec
}

// TestExtendRateAndFinal: a volume's order is extended at most once per
// ExtendEvery however often it grows, each extension to the latest length
// then, and once more after it stops growing (to its final length), then
// never again until it grows; a volume idle for longer than ExtendEvery is
// extended at once; a failed extension is tried again after ExtendEvery.
func TestExtendRateAndFinal(t *testing.T) {
	const every = 30 * time.Second
	s, clock, rec := extendShipper(every)
	v := &network.Volume{Hex: "v1"}
	placed := clock.Now()
	o := &order{id: 7, chainLen: 1, lastLength: 1, extended: placed} // placed at length 1
	s.orders[v.Hex] = o

	// The volume grows every second for two minutes (Shipped, as the
	// pushes acknowledge stripes).
	for i := range 120 {
		s.Shipped(v, uint64(2+i))
		clock.advance(time.Second)
	}
	calls := rec.got()
	if len(calls) < 3 || len(calls) > 4 {
		t.Fatalf("%d extensions in 120 s of growth every second, want one per %v: %v", len(calls), every, calls)
	}
	prev := placed
	for i, c := range calls {
		if gap := c.at.Sub(prev); gap < every {
			t.Fatalf("extension %d came %v after the previous one (or the placement), want at least %v: %v", i, gap, every, calls)
		}
		prev = c.at
		// Each extension is to the latest length shipped by then: the
		// length shipped at second s is s+2 (shipped before the clock
		// moved past s).
		if want := uint64(c.at.Sub(placed)/time.Second) + 1; c.length != want {
			t.Fatalf("extension %d at %v is to length %d, the latest was %d", i, c.at.Sub(placed), c.length, want)
		}
	}

	// It stopped growing at length 121: one more extension, to 121, at
	// most ExtendEvery after the last one, then none.
	clock.advance(every)
	calls = rec.got()
	last := calls[len(calls)-1]
	if last.length != 121 {
		t.Fatalf("the last extension is to %d, the final length is 121: %v", last.length, calls)
	}
	if gap := last.at.Sub(calls[len(calls)-2].at); gap < every {
		t.Fatalf("the final extension came %v after the previous one, want at least %v", gap, every)
	}
	n := len(calls)
	clock.advance(10 * every)
	if got := rec.got(); len(got) != n || clock.pending() != 0 {
		t.Fatalf("extensions went on after the volume stopped growing: %v (%d timers pending)", got[n:], clock.pending())
	}
	// Shipping what the chain has already changes nothing.
	s.Shipped(v, 121)
	if clock.pending() != 0 {
		t.Fatal("an extension was scheduled for a length the chain has")
	}

	// Idle for longer than ExtendEvery: the next growth is extended at
	// once.
	s.Shipped(v, 130)
	clock.advance(0)
	if got := rec.got(); len(got) != n+1 || got[n].length != 130 || !got[n].at.Equal(clock.Now()) {
		t.Fatalf("growth after an idle spell: extensions %v, want one to 130 at once", got[n:])
	}

	// A failed extension is tried again ExtendEvery later, to the latest
	// length.
	rec.mu.Lock()
	rec.fail = true
	rec.mu.Unlock()
	s.Shipped(v, 140)
	clock.advance(every)
	s.Shipped(v, 150)
	rec.mu.Lock()
	rec.fail = false
	rec.mu.Unlock()
	clock.advance(every)
	got := rec.got()[n+1:]
	if len(got) != 2 || got[0].length != 140 || got[1].length != 150 || got[1].at.Sub(got[0].at) != every {
		t.Fatalf("extensions after a failure: %v, want 140 (failed) then 150 %v later", got, every)
	}
	clock.advance(10 * every)
	if len(rec.got()) != n+3 {
		t.Fatalf("extensions went on after the retry succeeded: %v", rec.got()[n+3:])
	}
	s.mu.Lock()
	chainLen := o.chainLen
	s.mu.Unlock()
	if chainLen != 150 {
		t.Fatalf("the order is known at length %d, want 150", chainLen)
	}
}

// TestExtendPerVolume: the rate is per volume: each volume's order is
// extended ExtendEvery after its own last extension, whatever the others'.
func TestExtendPerVolume(t *testing.T) {
	const every = 30 * time.Second
	s, clock, rec := extendShipper(every)
	a, b := &network.Volume{Hex: "a"}, &network.Volume{Hex: "b"}
	s.orders["a"] = &order{id: 1, chainLen: 1, extended: clock.Now().Add(-time.Hour)}
	s.orders["b"] = &order{id: 2, chainLen: 1, extended: clock.Now().Add(-10 * time.Second)}
	s.Shipped(a, 5)
	s.Shipped(b, 6)
	clock.advance(0)
	if got := rec.got(); len(got) != 1 || got[0].id != 1 || got[0].length != 5 {
		t.Fatalf("a idle for an hour, b extended 10 s ago, both grew: %v, want a extended at once, b not yet", got)
	}
	clock.advance(19 * time.Second)
	if got := rec.got(); len(got) != 1 {
		t.Fatalf("b extended before its 30 s: %v", got[1:])
	}
	clock.advance(time.Second)
	if got := rec.got(); len(got) != 2 || got[1].id != 2 || got[1].length != 6 {
		t.Fatalf("30 s after b's last extension: %v, want b extended to 6", got)
	}
}
