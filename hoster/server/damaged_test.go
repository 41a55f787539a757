package server_test

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/require"

	"github.com/datdot/datdot/hoster/client"
	"github.com/datdot/datdot/hoster/server"
	"github.com/datdot/datdot/hoster/store"
	"github.com/datdot/datdot/hoster/wire"
	"github.com/datdot/datdot/hypercore"
)

// uncheckedList reads blocks [start, end) in the list form (no form=run),
// which the client never asks for: the status and the blocks.
func uncheckedList(t *testing.T, h *hoster, key [32]byte, start, end uint64) (int, [][]byte) {
	t.Helper()
	resp, err := http.Get(fmt.Sprintf("%s/v1/cores/%x/blocks?start=%d&end=%d&unchecked=1", h.srv.URL, key, start, end))
	require.NoError(t, err)
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	if resp.StatusCode != http.StatusOK {
		return resp.StatusCode, nil
	}
	require.Equal(t, wire.ListContentType, resp.Header.Get("Content-Type"))
	l, err := wire.DecodeBlockList(body)
	require.NoError(t, err)
	require.Equal(t, start, l.Start)
	return resp.StatusCode, l.Blocks
}

// TestUncheckedReadsRefuseRecordedDamage: the unchecked forms hash
// nothing, so a block damaged where no check looked yet is sent as stored
// (the client's AEAD finds it); but a block recorded damaged is never
// sent, in either form, nor after a restart, until the core is rebuilt.
func TestUncheckedReadsRefuseRecordedDamage(t *testing.T) {
	ctx := context.Background()
	good := newHoster(t, store.Limits{})
	bad := newHoster(t, store.Limits{})
	w := newWriter(t, 12, 700)
	key := w.key()
	for _, h := range []*hoster{good, bad} {
		h.assign(t, w, 1)
		_, err := h.c.Push(ctx, key, w.push(t, 0, 12))
		require.NoError(t, err)
	}
	corrupt(t, bad.dir, key, 5*700+10)

	// Not recorded yet: sent as stored.
	bl, err := bad.c.BlocksUnchecked(ctx, key, 0, 12)
	require.NoError(t, err)
	require.Len(t, bl, 12)
	require.NotEqual(t, w.data[5], bl[5])

	// A checked read finds the damage and records it.
	_, err = bad.c.Block(ctx, key, 5)
	require.True(t, client.IsStatus(err, http.StatusServiceUnavailable), "%v", err)

	// Both unchecked forms now stop before block 5, refuse a range that
	// starts at it, and serve the blocks past it.
	check := func(h *hoster, after uint64) {
		t.Helper()
		c := h.c
		bl, err := c.BlocksUnchecked(ctx, key, 0, 12)
		require.NoError(t, err)
		same(t, w.data[0:5], bl)
		_, err = c.BlocksUnchecked(ctx, key, 5, 12)
		require.True(t, client.IsStatus(err, http.StatusServiceUnavailable), "%v", err)
		bl, err = c.BlocksUnchecked(ctx, key, 6, 12)
		require.NoError(t, err)
		same(t, w.data[6:after], bl)
		var got [][]byte
		n, err := c.BlocksUncheckedTo(ctx, key, 2, 12, func(_ uint64, size int) ([]byte, error) {
			got = append(got, make([]byte, size))
			return got[len(got)-1], nil
		})
		require.NoError(t, err)
		require.Equal(t, 3, n)
		same(t, w.data[2:5], got)
		_, err = c.BlocksUncheckedTo(ctx, key, 5, 6, func(_ uint64, size int) ([]byte, error) { return make([]byte, size), nil })
		require.True(t, client.IsStatus(err, http.StatusServiceUnavailable), "%v", err)

		status, bl := uncheckedList(t, h, key, 1, 12)
		require.Equal(t, http.StatusOK, status)
		same(t, w.data[1:5], bl)
		status, _ = uncheckedList(t, h, key, 5, 6)
		require.Equal(t, http.StatusServiceUnavailable, status)
	}
	check(bad, 12)

	// The record, not the bytes, is what refuses: a block recorded
	// damaged whose bytes are intact is refused too (no hash is made).
	require.NoError(t, bad.st.MarkDamaged(key, 9))
	_, err = bad.c.BlocksUnchecked(ctx, key, 9, 12)
	require.True(t, client.IsStatus(err, http.StatusServiceUnavailable), "%v", err)
	bl, err = bad.c.BlocksUnchecked(ctx, key, 6, 12)
	require.NoError(t, err)
	same(t, w.data[6:9], bl)

	// After a restart the records still refuse.
	require.NoError(t, bad.st.Close())
	st, err := store.Open(bad.dir, nil)
	require.NoError(t, err)
	t.Cleanup(func() { st.Close() })
	srv := httptest.NewServer(server.New(server.Config{Store: st, Gatherer: prometheus.NewRegistry()}))
	t.Cleanup(srv.Close)
	c, err := client.New(srv.URL, srv.Client())
	require.NoError(t, err)
	bad = &hoster{st: st, srv: srv, c: c, dir: bad.dir}
	d, ok := st.FirstDamaged(key, 0, 12)
	require.True(t, ok)
	require.Equal(t, uint64(5), d)
	check(bad, 9)

	// Rebuilt, the core is served whole again.
	repaired, err := st.Rebuild(ctx, key, func(ctx context.Context, i uint64) ([]byte, error) { return good.c.Block(ctx, key, i) })
	require.NoError(t, err)
	require.Equal(t, []uint64{5}, repaired, "block 9's bytes were intact")
	_, ok = st.FirstDamaged(key, 0, 12)
	require.False(t, ok)
	bl, err = bad.c.BlocksUnchecked(ctx, key, 0, 12)
	require.NoError(t, err)
	same(t, w.data, bl)
}

func TestFirstDamaged(t *testing.T) {
	st, err := store.Open(t.TempDir(), nil)
	require.NoError(t, err)
	defer st.Close()
	var a, b [32]byte
	a[0], b[0] = 1, 2
	for _, i := range []uint64{7, 3, 20} {
		require.NoError(t, st.MarkDamaged(a, i))
	}
	require.NoError(t, st.MarkDamaged(a, 7)) // again: one record
	for _, c := range []struct {
		start, end, want uint64
		ok               bool
	}{
		{0, 3, 0, false}, {0, 4, 3, true}, {3, 4, 3, true}, {4, 7, 0, false},
		{4, 8, 7, true}, {8, 20, 0, false}, {8, 100, 20, true}, {21, 100, 0, false},
	} {
		d, ok := st.FirstDamaged(a, c.start, c.end)
		require.Equal(t, c.ok, ok, "[%d,%d)", c.start, c.end)
		require.Equal(t, c.want, d, "[%d,%d)", c.start, c.end)
	}
	_, ok := st.FirstDamaged(b, 0, 100)
	require.False(t, ok, "another core")
	got, err := st.Damaged(a)
	require.NoError(t, err)
	require.Equal(t, []uint64{3, 7, 20}, got)
}

// same compares blocks without printing them all when they differ.
func same(t *testing.T, want, got [][]byte) {
	t.Helper()
	require.Equal(t, len(want), len(got), "blocks")
	for i := range want {
		require.True(t, bytes.Equal(want[i], got[i]), "block %d differs", i)
	}
}

// BenchmarkUncheckedRun: a range of 16 blocks of 64 KiB read in the run
// form (sendfile) over loopback, from a core with one block recorded
// damaged outside the range (so the damage lookup finds the core's list
// and searches it).
func BenchmarkUncheckedRun(b *testing.B) {
	ctx := context.Background()
	st, err := store.Open(b.TempDir(), nil)
	if err != nil {
		b.Fatal(err)
	}
	defer st.Close()
	srv := httptest.NewServer(server.New(server.Config{Store: st, Gatherer: prometheus.NewRegistry()}))
	defer srv.Close()
	c, err := client.New(srv.URL, srv.Client())
	if err != nil {
		b.Fatal(err)
	}
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		b.Fatal(err)
	}
	w, err := hypercore.Create(ctx, hypercore.NewMemStorage(), priv, false)
	if err != nil {
		b.Fatal(err)
	}
	for range 64 {
		blk := make([]byte, 65536)
		rand.Read(blk)
		if _, err := w.Append(ctx, blk); err != nil {
			b.Fatal(err)
		}
	}
	info := w.Info()
	if err := st.PutAssignment(store.Assignment{Slot: store.Slot{OrderID: 1}, Key: info.Key, Manifest: info.Manifest,
		Length: info.Length, TreeHash: info.TreeHash[:], Signature: info.Signature}); err != nil {
		b.Fatal(err)
	}
	if _, err := c.PushCore(ctx, w, priv, 64, 0); err != nil {
		b.Fatal(err)
	}
	if err := st.MarkDamaged(info.Key, 63); err != nil {
		b.Fatal(err)
	}
	buf := make([]byte, 16<<16)
	b.SetBytes(16 << 16)
	b.ResetTimer()
	for range b.N {
		n, err := c.BlocksUncheckedTo(ctx, info.Key, 16, 32, func(i uint64, size int) ([]byte, error) {
			return buf[(i-16)<<16 : (i-16)<<16+uint64(size)], nil
		})
		if err != nil || n != 16 {
			b.Fatal(n, err)
		}
	}
}
