package follower

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"log/slog"
	"net/http/httptest"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/datdot/datdot/hoster/client"
	"github.com/datdot/datdot/hoster/server"
	"github.com/datdot/datdot/hoster/store"
	"github.com/datdot/datdot/hypercore"
	"github.com/datdot/datdot/volume"
)

// A core of an erasure-coded volume is rebuilt, stripe by stripe, from
// verified blocks of k other cores held by real hosters over HTTP; a
// hoster serving another core's blocks is not believed.
func TestErasureRebuild(t *testing.T) {
	ctx := context.Background()
	lay := volume.Layout{K: 2, M: 2}
	coder, err := volume.NewCoder(lay)
	require.NoError(t, err)
	const stripes = 5
	cores := make([]*hypercore.Core, lay.N())
	privs := make([]ed25519.PrivateKey, lay.N())
	for j := range cores {
		_, privs[j], _ = ed25519.GenerateKey(rand.Reader)
		cores[j], err = hypercore.Create(ctx, hypercore.NewMemStorage(), privs[j], false)
		require.NoError(t, err)
	}
	want := make([][]byte, stripes) // block s of core 1, the one to rebuild
	for s := 0; s < stripes; s++ {
		data := make([]byte, lay.StripeSize()-int64(s)*1000) // the last stripes are padded
		rand.Read(data)
		shards, err := coder.EncodeStripe(data)
		require.NoError(t, err)
		for j, c := range cores {
			_, err := c.Append(ctx, shards[j])
			require.NoError(t, err)
		}
		want[s] = bytes.Clone(shards[1])
	}
	// Hosters of cores 0, 2 and 3.
	hosted := func(j int) *client.Client {
		return hostCore(t, ctx, j, cores[j], privs[j], stripes)
	}
	peers := map[int]*client.Client{0: hosted(0), 2: hosted(2), 3: hosted(3)}
	other := func(j int, peer *client.Client) volumeCore {
		info := cores[j].Info()
		return volumeCore{index: j, key: info.Key, length: stripes, treeHash: info.TreeHash, peers: []*client.Client{peer}}
	}
	log := slog.New(slog.DiscardHandler).Debug

	plan := &erasurePlan{coder: coder, j: 1, log: log, others: []volumeCore{other(0, peers[0]), other(2, peers[2]), other(3, peers[3])}}
	for s := uint64(0); s < stripes; s++ {
		b, err := plan.block(ctx, s)
		require.NoError(t, err)
		require.Equal(t, want[s], b, "stripe %d", s)
	}

	// Core 0's entry points at the hoster of core 2: its blocks do not
	// verify against core 0's tree, so they are refused and cores 2 and 3
	// are used instead.
	plan = &erasurePlan{coder: coder, j: 1, log: log, others: []volumeCore{other(0, peers[2]), other(2, peers[2]), other(3, peers[3])}}
	b, err := plan.block(ctx, 3)
	require.NoError(t, err)
	require.Equal(t, want[3], b)

	// With only one honest core left, the stripe cannot be rebuilt.
	plan = &erasurePlan{coder: coder, j: 1, log: log, others: []volumeCore{other(0, peers[2]), other(3, peers[2]), other(2, peers[2])}}
	plan.others[1].peers = []*client.Client{peers[0]}
	_, err = plan.block(ctx, 0)
	require.ErrorContains(t, err, "verified shards")

	// The rebuilt blocks verify against core 1's signature in one append.
	st, err := store.Open(t.TempDir(), nil)
	require.NoError(t, err)
	defer st.Close()
	info := cores[1].Info()
	require.NoError(t, st.PutAssignment(store.Assignment{Slot: store.Slot{OrderID: 1, CoreIndex: 1}, Key: info.Key, Manifest: info.Manifest, Length: info.Length}))
	n, err := st.AppendVerified(ctx, info.Key, pushOf(info, want), store.Limits{})
	require.NoError(t, err)
	require.Equal(t, uint64(stripes), n)
}

// A volume with short stripes (format v2: a stripe flushed early has n
// blocks of b < B bytes) is rebuilt the same way: each rebuilt block has
// its stripe's length and the whole core verifies against its writer's
// signature. A stripe whose verified blocks differ in length (a writer
// that broke the format) is refused with a clear error, not rebuilt.
func TestErasureRebuildShortStripes(t *testing.T) {
	ctx := context.Background()
	lay := volume.Layout{K: 2, M: 2}
	coder, err := volume.NewCoder(lay)
	require.NoError(t, err)
	cores := make([]*hypercore.Core, lay.N())
	privs := make([]ed25519.PrivateKey, lay.N())
	for j := range cores {
		_, privs[j], _ = ed25519.GenerateKey(rand.Reader)
		cores[j], err = hypercore.Create(ctx, hypercore.NewMemStorage(), privs[j], false)
		require.NoError(t, err)
	}
	// A full stripe, a short one of 20 KiB, a full one, a short one of
	// one byte; then stripe 4, where core 3's block is a short block of
	// another length than the others'.
	var want [][]byte // the blocks of core 1
	var sizes []int
	for _, used := range []int{int(lay.StripeSize()), 20 << 10, int(lay.StripeSize()) - 5, 1} {
		data := make([]byte, used)
		rand.Read(data)
		shards, err := coder.EncodeShort(data)
		require.NoError(t, err)
		for j, c := range cores {
			_, err := c.Append(ctx, shards[j])
			require.NoError(t, err)
		}
		want = append(want, bytes.Clone(shards[1]))
		sizes = append(sizes, len(shards[1]))
	}
	require.Equal(t, []int{volume.BlockSize, 10 << 10, volume.BlockSize, volume.ShortAlign}, sizes)
	a, _ := coder.EncodeShort(make([]byte, 1000))
	b, _ := coder.EncodeShort(make([]byte, 3000))
	for j, c := range cores {
		blk := a[j]
		if j == 3 {
			blk = b[j]
		}
		_, err := c.Append(ctx, blk)
		require.NoError(t, err)
	}
	const stripes = 5
	hosted := func(j int) *client.Client {
		return hostCore(t, ctx, j, cores[j], privs[j], stripes)
	}
	other := func(j int) volumeCore {
		info := cores[j].Info()
		return volumeCore{index: j, key: info.Key, length: stripes, treeHash: info.TreeHash, peers: []*client.Client{hosted(j)}}
	}
	log := slog.New(slog.DiscardHandler).Debug
	// Cores 0 and 3 (one data, one parity): every block of core 1 is
	// decoded, none copied.
	plan := &erasurePlan{coder: coder, j: 1, log: log, others: []volumeCore{other(0), other(3)}}
	for s := range uint64(stripes - 1) {
		got, err := plan.block(ctx, s)
		require.NoError(t, err)
		require.Equal(t, want[s], got, "stripe %d", s)
	}
	_, err = plan.block(ctx, stripes-1)
	require.ErrorIs(t, err, volume.ErrShardSize)
	require.ErrorContains(t, err, "all blocks of a stripe have one length")

	// The rebuilt blocks of stripes 0-3, with core 1's own block 4, are
	// core 1: they verify in one append against its signature.
	var rebuilt [][]byte
	for s := range uint64(stripes - 1) {
		got, err := plan.block(ctx, s)
		require.NoError(t, err)
		rebuilt = append(rebuilt, got)
	}
	rebuilt = append(rebuilt, a[1])
	st, err := store.Open(t.TempDir(), nil)
	require.NoError(t, err)
	defer st.Close()
	info := cores[1].Info()
	require.NoError(t, st.PutAssignment(store.Assignment{Slot: store.Slot{OrderID: 1, CoreIndex: 1}, Key: info.Key, Manifest: info.Manifest, Length: info.Length}))
	n, err := st.AppendVerified(ctx, info.Key, pushOf(info, rebuilt), store.Limits{})
	require.NoError(t, err)
	require.Equal(t, uint64(stripes), n)
}

// hostCore starts a real hoster API server assigned core c (core j of
// order 1) and pushes its first length blocks to it.
func hostCore(t *testing.T, ctx context.Context, j int, c *hypercore.Core, priv ed25519.PrivateKey, length uint64) *client.Client {
	t.Helper()
	st, err := store.Open(t.TempDir(), nil)
	require.NoError(t, err)
	info := c.Info()
	require.NoError(t, st.PutAssignment(store.Assignment{Slot: store.Slot{OrderID: 1, CoreIndex: uint32(j)}, Key: info.Key, Manifest: info.Manifest, Length: info.Length}))
	srv := httptest.NewServer(server.New(server.Config{Store: st}))
	t.Cleanup(func() { srv.Close(); st.Close() })
	cl, err := client.New(srv.URL, srv.Client())
	require.NoError(t, err)
	_, err = cl.PushCore(ctx, c, priv, length, 0)
	require.NoError(t, err)
	return cl
}
