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
		st, err := store.Open(t.TempDir(), nil)
		require.NoError(t, err)
		info := cores[j].Info()
		require.NoError(t, st.PutAssignment(store.Assignment{Slot: store.Slot{OrderID: 1, CoreIndex: uint32(j)}, Key: info.Key, Manifest: info.Manifest, Length: info.Length}))
		srv := httptest.NewServer(server.New(server.Config{Store: st}))
		t.Cleanup(func() { srv.Close(); st.Close() })
		c, err := client.New(srv.URL, srv.Client())
		require.NoError(t, err)
		_, err = c.PushCore(ctx, cores[j], privs[j], stripes, 0)
		require.NoError(t, err)
		return c
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
