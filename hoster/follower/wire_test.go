package follower

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/datdot/datdot/hoster/store"
	"github.com/datdot/datdot/hypercore"
	"github.com/datdot/datdot/hypercore/replicate"
	"github.com/datdot/datdot/hypercore/secretstream"
)

// wireSource serves one core over the Hypercore replication protocol (what
// a requester's `datdot core serve` or a JS writer does).
func wireSource(t *testing.T, c *hypercore.Core) string {
	t.Helper()
	srv := replicate.NewServer(func(dk [32]byte) (*hypercore.Core, bool) {
		return c, dk == c.DiscoveryKey()
	}, secretstream.Config{}, slog.New(slog.DiscardHandler))
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { srv.Serve(ctx, ln); close(done) }()
	t.Cleanup(func() { cancel(); <-done })
	return ln.Addr().String()
}

func writerCore(t *testing.T, blocks int) *hypercore.Core {
	t.Helper()
	ctx := context.Background()
	_, priv, _ := ed25519.GenerateKey(rand.Reader)
	c, err := hypercore.Create(ctx, hypercore.NewMemStorage(), priv, false)
	require.NoError(t, err)
	for i := 0; i < blocks; i++ {
		b := make([]byte, 1000+i)
		rand.Read(b)
		_, err := c.Append(ctx, b)
		require.NoError(t, err)
	}
	return c
}

// A replicated-core order: the hoster fetches the core from the order's
// peer over the wire, bounded by its capacity, and checks the chain's tree
// hash at the ordered length (the peer may be further along).
func TestFetchWire(t *testing.T) {
	ctx := context.Background()
	src := writerCore(t, 30)
	addr := wireSource(t, src)
	// The chain's signed length is 20; the writer has gone on to 30.
	th20, _, err := src.TreeHashAt(ctx, 20)
	require.NoError(t, err)
	info := src.Info()
	a := store.Assignment{Slot: store.Slot{OrderID: 7}, Key: info.Key, Manifest: info.Manifest, Length: 20, TreeHash: th20[:], Peers: []string{addr}}

	newFollower := func(lim store.Limits) (*Follower, *store.Store) {
		st, err := store.Open(t.TempDir(), slog.New(slog.DiscardHandler))
		require.NoError(t, err)
		t.Cleanup(func() { st.Close() })
		return &Follower{cfg: Config{Store: st, Limits: lim}, log: slog.New(slog.DiscardHandler)}, st
	}

	// Not assigned: refused.
	f, st := newFollower(store.Limits{})
	_, err = f.FetchWire(ctx, a, addr)
	require.ErrorIs(t, err, store.ErrNotAssigned)

	// Over capacity: refused before any block is downloaded.
	f, st = newFollower(store.Limits{Capacity: info.ByteLength - 1})
	require.NoError(t, st.PutAssignment(a))
	_, err = f.FetchWire(ctx, a, addr)
	require.ErrorIs(t, err, store.ErrFull)
	require.ErrorIs(t, err, replicate.ErrRefused)
	require.Zero(t, st.Held(ctx, a.Key))
	require.Zero(t, st.Used())

	// Within capacity: every block, verified; used bytes counted.
	f, st = newFollower(store.Limits{Capacity: info.ByteLength})
	require.NoError(t, st.PutAssignment(a))
	n, err := f.FetchWire(ctx, a, addr)
	require.NoError(t, err)
	require.Equal(t, uint64(30), n)
	require.Equal(t, info.ByteLength, st.Used())
	c, err := st.Core(ctx, a.Key)
	require.NoError(t, err)
	for i := uint64(0); i < 30; i++ {
		got, err := c.Get(ctx, i)
		require.NoError(t, err)
		want, err := src.Get(ctx, i)
		require.NoError(t, err)
		require.Equal(t, want, got, "block %d", i)
	}
	require.NoError(t, f.checkTreeHash(ctx, a))

	// A chain tree hash the data does not have: never committed.
	bad := a
	bad.TreeHash = make([]byte, 32)
	_, err = f.FetchWire(ctx, bad, addr)
	require.ErrorContains(t, err, "not committing")
	require.ErrorContains(t, f.checkTreeHash(ctx, bad), "not committing")

	// A peer that does not serve the core: an error, nothing changes.
	other := wireSource(t, writerCore(t, 3))
	n, err = f.FetchWire(ctx, a, other)
	require.ErrorIs(t, err, replicate.ErrRejected)
	require.Equal(t, uint64(30), n)
}

// A peer whose copy is damaged (its disk flipped a byte of block 6: the
// peer's own check refuses to serve it) makes the fetch fail after 6
// good blocks: nothing is stored, nothing counted (a fetch commits all or
// nothing), and the hoster fetches from an honest peer afterwards.
// Forged proofs from a lying peer are refused in hypercore/replicate
// (badpeer_test.go: ErrBadProof, nothing committed).
func TestFetchWireRefusesBadBlocks(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	st, err := hypercore.OpenFileStorage(dir)
	require.NoError(t, err)
	_, priv, _ := ed25519.GenerateKey(rand.Reader)
	c, err := hypercore.Create(ctx, st, priv, false)
	require.NoError(t, err)
	for i := 0; i < 10; i++ {
		b := make([]byte, 4096)
		rand.Read(b)
		_, err := c.Append(ctx, b)
		require.NoError(t, err)
	}
	info := c.Info()
	require.NoError(t, c.Close())
	// A second copy whose block 6 is damaged on disk.
	bad := t.TempDir()
	for _, name := range []string{"data", "offsets", "tree", "header", "head"} {
		if b, err := os.ReadFile(filepath.Join(dir, name)); err == nil {
			require.NoError(t, os.WriteFile(filepath.Join(bad, name), b, 0o644))
		}
	}
	data, err := os.ReadFile(filepath.Join(bad, "data"))
	require.NoError(t, err)
	data[6*4096+17] ^= 0xff
	require.NoError(t, os.WriteFile(filepath.Join(bad, "data"), data, 0o644))
	bst, err := hypercore.OpenFileStorage(bad)
	require.NoError(t, err)
	bc, err := hypercore.Open(ctx, bst, nil)
	require.NoError(t, err)
	t.Cleanup(func() { bc.Close() })
	liar := wireSource(t, bc)
	// The honest copy is served from its own reopened storage.
	hst, err := hypercore.OpenFileStorage(dir)
	require.NoError(t, err)
	hc, err := hypercore.Open(ctx, hst, nil)
	require.NoError(t, err)
	t.Cleanup(func() { hc.Close() })
	honest := wireSource(t, hc)

	hs, err := store.Open(t.TempDir(), slog.New(slog.DiscardHandler))
	require.NoError(t, err)
	defer hs.Close()
	f := &Follower{cfg: Config{Store: hs}, log: slog.New(slog.DiscardHandler)}
	a := store.Assignment{Slot: store.Slot{OrderID: 3}, Key: info.Key, Manifest: info.Manifest, Length: 10, TreeHash: info.TreeHash[:]}
	require.NoError(t, hs.PutAssignment(a))
	_, err = f.FetchWire(ctx, a, liar)
	require.ErrorIs(t, err, replicate.ErrNotAvailable)
	require.Zero(t, hs.Held(ctx, info.Key))
	require.Zero(t, hs.Used())
	n, err := f.FetchWire(ctx, a, honest)
	require.NoError(t, err)
	require.Equal(t, uint64(10), n)
	require.NoError(t, f.checkTreeHash(ctx, a))
}
