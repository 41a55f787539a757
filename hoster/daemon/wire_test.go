package daemon

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"errors"
	"log/slog"
	"net"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/datdot/datdot/hoster/store"
	"github.com/datdot/datdot/hoster/wire"
	"github.com/datdot/datdot/hypercore"
	"github.com/datdot/datdot/hypercore/replicate"
)

// The hoster's replication server serves the cores it holds (found from
// its assignments at start, added as the follower reports them), serves a
// core's new blocks after it grew, and stops serving a dropped core.
func TestWireServerServesHeldCores(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	_, priv, _ := ed25519.GenerateKey(rand.Reader)
	src, err := hypercore.Create(ctx, hypercore.NewMemStorage(), priv, false)
	require.NoError(t, err)
	var blocks [][]byte
	for i := 0; i < 12; i++ {
		b := make([]byte, 5000)
		rand.Read(b)
		blocks = append(blocks, b)
	}
	_, err = src.Append(ctx, blocks[:8]...)
	require.NoError(t, err)
	info := src.Info()

	st, err := store.Open(t.TempDir(), slog.New(slog.DiscardHandler))
	require.NoError(t, err)
	defer st.Close()
	require.NoError(t, st.PutAssignment(store.Assignment{Slot: store.Slot{OrderID: 1}, Key: info.Key, Manifest: info.Manifest, Length: 8}))
	_, err = st.Append(ctx, info.Key, &wire.Push{Signature: info.Signature, Manifest: info.Manifest, Blocks: blocks[:8]}, store.Limits{})
	require.NoError(t, err)

	w := newWireServer(ctx, st, slog.New(slog.DiscardHandler))
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	done := make(chan struct{})
	go func() { w.srv.Serve(ctx, ln); close(done) }()
	defer func() { cancel(); <-done }()
	addr := ln.Addr().String()

	// Held at start: a reader that knows only the key gets every block.
	res, err := replicate.Dial(ctx, addr, info.Key, hypercore.NewMemStorage(), replicate.FetchOptions{})
	require.NoError(t, err)
	require.Equal(t, uint64(8), res.Length)

	// The core grows (a push): the follower reports it, readers get it.
	_, err = src.Append(ctx, blocks[8:]...)
	require.NoError(t, err)
	info = src.Info()
	_, err = st.Append(ctx, info.Key, &wire.Push{Start: 8, Signature: info.Signature, Manifest: info.Manifest, Blocks: blocks[8:]}, store.Limits{})
	require.NoError(t, err)
	w.Held(info.Key, 12)
	rst := hypercore.NewMemStorage()
	res, err = replicate.Dial(ctx, addr, info.Key, rst, replicate.FetchOptions{})
	require.NoError(t, err)
	require.Equal(t, uint64(12), res.Length)
	got, err := hypercore.Open(ctx, rst, nil)
	require.NoError(t, err)
	for i, want := range blocks {
		b, err := got.Get(ctx, uint64(i))
		require.NoError(t, err)
		require.Equal(t, want, b)
	}

	// Dropped: not served any more.
	w.Dropped(info.Key)
	_, err = replicate.Dial(ctx, addr, info.Key, hypercore.NewMemStorage(), replicate.FetchOptions{})
	require.True(t, errors.Is(err, replicate.ErrRejected), "got %v", err)
}

func TestReplicationAddress(t *testing.T) {
	require.Equal(t, "h.example:7", replicationAddress("h.example:7", nil))
	require.Empty(t, replicationAddress("", nil))
	for listen, want := range map[string]string{"127.0.0.1:0": "127.0.0.1:", "0.0.0.0:0": ""} {
		ln, err := net.Listen("tcp", listen)
		require.NoError(t, err)
		got := replicationAddress("", ln)
		ln.Close()
		if want == "" {
			require.Empty(t, got)
		} else {
			require.Contains(t, got, want)
		}
	}
}
