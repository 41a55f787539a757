package follower

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/datdot/datdot/hoster/store"
	"github.com/datdot/datdot/hypercore"
)

// heldLog records the Watch calls of the worker.
type heldLog struct {
	mu   sync.Mutex
	seen map[[32]byte]int
}

func (h *heldLog) Held(key [32]byte, _ uint64) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.seen[key]++
}

func (h *heldLog) Dropped([32]byte) {}

func (h *heldLog) take() map[[32]byte]int {
	h.mu.Lock()
	defer h.mu.Unlock()
	out := h.seen
	h.seen = map[[32]byte]int{}
	return out
}

// TestPushLooksAtThePushedCoreOnly: the worker's first round looks at
// every slot; after that a push (Pushed) makes it look at the pushed
// core's slots and no other, however many the hoster holds; the timer
// looks at unsettled cores only (here none: every slot is held whole and
// committed, so nothing needs the chain).
func TestPushLooksAtThePushedCoreOnly(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	st, err := store.Open(t.TempDir(), nil)
	require.NoError(t, err)
	defer st.Close()
	const cores = 40
	var keys [][32]byte
	for i := range cores {
		_, priv, _ := ed25519.GenerateKey(rand.Reader)
		c, err := hypercore.Create(ctx, hypercore.NewMemStorage(), priv, false)
		require.NoError(t, err)
		_, err = c.Append(ctx, []byte{byte(i)})
		require.NoError(t, err)
		info := c.Info()
		require.NoError(t, st.PutAssignment(store.Assignment{Slot: store.Slot{OrderID: uint64(i + 1)}, Key: info.Key,
			Manifest: info.Manifest, Length: 1, CommittedLength: 1}))
		_, err = st.Append(ctx, info.Key, pushOf(info, [][]byte{{byte(i)}}), store.Limits{})
		require.NoError(t, err)
		keys = append(keys, info.Key)
	}
	log := &heldLog{seen: map[[32]byte]int{}}
	f := &Follower{cfg: Config{Store: st, Watch: log, ResyncInterval: time.Hour}, log: slog.New(slog.DiscardHandler),
		kick: make(chan struct{}, 1), fetchAfter: map[store.Slot]time.Time{}, repairing: map[[32]byte]bool{},
		kicked: map[[32]byte]bool{}, unsettled: map[[32]byte]bool{}}
	done := make(chan struct{})
	go func() { f.worker(ctx); close(done) }()
	stopped := false
	defer func() {
		if !stopped {
			cancel()
			<-done
		}
	}()

	waitUntil(t, "the first round looks at every slot", func() bool {
		log.mu.Lock()
		defer log.mu.Unlock()
		return len(log.seen) == cores
	})
	log.take()
	for _, k := range []int{7, 31} {
		f.Pushed(keys[k], 1)
		waitUntil(t, "the pushed core is looked at", func() bool {
			log.mu.Lock()
			defer log.mu.Unlock()
			return log.seen[keys[k]] > 0
		})
		seen := log.take()
		require.Len(t, seen, 1, "a push made the worker look at other cores")
		require.Equal(t, 1, seen[keys[k]])
	}
	cancel()
	<-done
	stopped = true
	require.Empty(t, f.unsettled, "settled slots were left for the timer")
}

func waitUntil(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting until %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}
