package server_test

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/require"

	"github.com/datdot/datdot/hoster/client"
	"github.com/datdot/datdot/hoster/scrub"
	"github.com/datdot/datdot/hoster/server"
	"github.com/datdot/datdot/hoster/store"
	"github.com/datdot/datdot/hoster/wire"
	"github.com/datdot/datdot/hypercore"
)

// writer is a core being written, in memory, with its key.
type writer struct {
	priv ed25519.PrivateKey
	core *hypercore.Core
	data [][]byte
}

func newWriter(t *testing.T, blocks, size int) *writer {
	t.Helper()
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	require.NoError(t, err)
	c, err := hypercore.Create(context.Background(), hypercore.NewMemStorage(), priv, false)
	require.NoError(t, err)
	w := &writer{priv: priv, core: c}
	w.append(t, blocks, size)
	return w
}

func (w *writer) append(t *testing.T, blocks, size int) {
	t.Helper()
	var bs [][]byte
	for i := 0; i < blocks; i++ {
		b := make([]byte, size)
		rand.Read(b)
		bs = append(bs, b)
	}
	_, err := w.core.Append(context.Background(), bs...)
	require.NoError(t, err)
	w.data = append(w.data, bs...)
}

func (w *writer) key() [32]byte { return w.core.Key() }

// push builds the push of blocks [start, end) signed over the tree at end.
func (w *writer) push(t *testing.T, start, end uint64) *wire.Push {
	t.Helper()
	th, _, err := w.core.TreeHashAt(context.Background(), end)
	require.NoError(t, err)
	info := w.core.Info()
	sig, err := hypercore.SignTree(w.priv, info.Manifest, th[:], end, 0)
	require.NoError(t, err)
	return &wire.Push{Start: start, Signature: sig, Manifest: info.Manifest, Blocks: w.data[start:end]}
}

type hoster struct {
	st  *store.Store
	srv *httptest.Server
	c   *client.Client
	dir string
}

func newHoster(t *testing.T, lim store.Limits) *hoster {
	t.Helper()
	dir := t.TempDir()
	st, err := store.Open(dir, nil)
	require.NoError(t, err)
	s := server.New(server.Config{Store: st, Limits: lim, Gatherer: prometheus.NewRegistry()})
	srv := httptest.NewServer(s)
	t.Cleanup(func() { srv.Close(); st.Close() })
	c, err := client.New(srv.URL, srv.Client())
	require.NoError(t, err)
	return &hoster{st: st, srv: srv, c: c, dir: dir}
}

func (h *hoster) assign(t *testing.T, w *writer, order uint64) {
	t.Helper()
	info := w.core.Info()
	require.NoError(t, h.st.PutAssignment(store.Assignment{Slot: store.Slot{OrderID: order}, Key: info.Key, Manifest: info.Manifest,
		Length: info.Length, TreeHash: info.TreeHash[:], Signature: info.Signature}))
}

func TestPushAndRead(t *testing.T) {
	ctx := context.Background()
	h := newHoster(t, store.Limits{})
	w := newWriter(t, 10, 1000)
	h.assign(t, w, 1)

	n, err := h.c.Push(ctx, w.key(), w.push(t, 0, 6))
	require.NoError(t, err)
	require.Equal(t, uint64(6), n)
	// A repeated push is a no-op; an overlapping one stores only the new blocks.
	n, err = h.c.Push(ctx, w.key(), w.push(t, 0, 6))
	require.NoError(t, err)
	require.Equal(t, uint64(6), n)
	n, err = h.c.Push(ctx, w.key(), w.push(t, 4, 10))
	require.NoError(t, err)
	require.Equal(t, uint64(10), n)

	info, err := h.c.Info(ctx, w.key())
	require.NoError(t, err)
	wi := w.core.Info()
	require.Equal(t, uint64(10), info.Length)
	require.Equal(t, uint64(10000), info.ByteLength)
	require.Equal(t, wi.TreeHash[:], []byte(info.TreeHash))
	require.Equal(t, wi.Signature, []byte(info.Signature))
	require.Equal(t, wi.Manifest, []byte(info.Manifest))

	b, err := h.c.Block(ctx, w.key(), 7)
	require.NoError(t, err)
	require.Equal(t, w.data[7], b)
	bs, err := h.c.Blocks(ctx, w.key(), 2, 9)
	require.NoError(t, err)
	require.Equal(t, w.data[2:9], bs)

	// The challenge proof verifies against the tree hash at a length.
	th, _, err := w.core.TreeHashAt(ctx, 6)
	require.NoError(t, err)
	p, _, err := h.c.Proof(ctx, w.key(), 3, 6)
	require.NoError(t, err)
	v, err := hypercore.VerifyBlockAt(p, 3, 6, th)
	require.NoError(t, err)
	require.Equal(t, w.data[3], v)
	// The head proof verifies with the key alone.
	p, _, err = h.c.Proof(ctx, w.key(), 9, 0)
	require.NoError(t, err)
	k := w.key()
	vf, err := hypercore.VerifyProof(k[:], nil, p)
	require.NoError(t, err)
	require.Equal(t, w.data[9], vf.Block.Value)

	// What the hoster stored survives a reopen of the store.
	h.st.Close()
	st, err := store.Open(h.dir, nil)
	require.NoError(t, err)
	defer st.Close()
	c, err := st.Core(ctx, w.key())
	require.NoError(t, err)
	require.Equal(t, uint64(10), c.Length())
	require.Equal(t, uint64(10000), st.Used())
}

// status returns the HTTP status of a raw request and its body.
func status(t *testing.T, h *hoster, method, path, body string) (int, string) {
	t.Helper()
	req, err := http.NewRequest(method, h.srv.URL+path, strings.NewReader(body))
	require.NoError(t, err)
	resp, err := h.srv.Client().Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	var buf bytes.Buffer
	buf.ReadFrom(resp.Body)
	return resp.StatusCode, buf.String()
}

func TestPushRefusals(t *testing.T) {
	ctx := context.Background()
	h := newHoster(t, store.Limits{})
	w := newWriter(t, 8, 500)
	h.assign(t, w, 1)
	key := w.key()
	held := func() uint64 { return h.st.Held(ctx, key) }

	// Blocks that do not match the signed tree.
	p := w.push(t, 0, 4)
	p.Blocks = append([][]byte(nil), p.Blocks...)
	p.Blocks[2] = bytes.Clone(p.Blocks[2])
	p.Blocks[2][0] ^= 1
	_, err := h.c.Push(ctx, key, p)
	require.True(t, client.IsStatus(err, http.StatusForbidden), "%v", err)
	require.Contains(t, err.Error(), "do not verify")
	require.Zero(t, held())

	// Signed by someone else than the writer.
	_, other, _ := ed25519.GenerateKey(rand.Reader)
	p = w.push(t, 0, 4)
	th, _, _ := w.core.TreeHashAt(ctx, 4)
	// A well-formed signature over the same tree, by a key that is not the writer's.
	p.Signature, err = hypercore.SignTree(other, hypercore.DefaultManifest(other.Public().(ed25519.PublicKey)), th[:], 4, 0)
	require.NoError(t, err)
	_, err = h.c.Push(ctx, key, p)
	require.True(t, client.IsStatus(err, http.StatusForbidden), "%v", err)
	require.Zero(t, held())

	// A signature over another length.
	p = w.push(t, 0, 4)
	p.Blocks = p.Blocks[:3]
	_, err = h.c.Push(ctx, key, p)
	require.True(t, client.IsStatus(err, http.StatusForbidden), "%v", err)
	require.Zero(t, held())

	// A core the hoster is not assigned.
	w2 := newWriter(t, 2, 10)
	_, err = h.c.Push(ctx, w2.key(), w2.push(t, 0, 2))
	require.True(t, client.IsStatus(err, http.StatusForbidden), "%v", err)
	require.Contains(t, err.Error(), "not assigned")
	_, err = h.st.Core(ctx, w2.key())
	require.ErrorIs(t, err, store.ErrUnknownCore)

	// A gap: starts past what the hoster holds; the answer says its length.
	_, err = h.c.Push(ctx, key, w.push(t, 2, 4))
	var e *client.Error
	require.ErrorAs(t, err, &e)
	require.Equal(t, http.StatusConflict, e.Status)
	require.NotNil(t, e.Length)
	require.Zero(t, *e.Length)

	// Malformed bodies and keys.
	for _, body := range []string{"", "DDPUSH01", "garbage", "DDPUSH01\x00\x00\x05abc"} {
		code, msg := status(t, h, http.MethodPost, "/v1/cores/"+hex.EncodeToString(key[:])+"/blocks", body)
		require.Equal(t, http.StatusBadRequest, code, "%q: %s", body, msg)
		require.Contains(t, msg, `"error"`)
	}
	code, _ := status(t, h, http.MethodPost, "/v1/cores/XYZ/blocks", "")
	require.Equal(t, http.StatusBadRequest, code)
	code, _ = status(t, h, http.MethodPost, "/v1/cores/"+strings.ToUpper(hex.EncodeToString(key[:]))+"/blocks", "")
	require.Equal(t, http.StatusBadRequest, code)

	// Oversized: announced, and streamed without a length.
	req, _ := http.NewRequest(http.MethodPost, h.srv.URL+"/v1/cores/"+hex.EncodeToString(key[:])+"/blocks", bytes.NewReader(make([]byte, wire.MaxPushBytes+1)))
	resp, err := h.srv.Client().Do(req)
	require.NoError(t, err)
	resp.Body.Close()
	require.Equal(t, http.StatusRequestEntityTooLarge, resp.StatusCode)
	pr, pw := ioPipe()
	go func() { pw.Write(make([]byte, wire.MaxPushBytes+10)); pw.Close() }()
	req, _ = http.NewRequest(http.MethodPost, h.srv.URL+"/v1/cores/"+hex.EncodeToString(key[:])+"/blocks", pr)
	resp, err = h.srv.Client().Do(req)
	require.NoError(t, err)
	resp.Body.Close()
	require.Equal(t, http.StatusRequestEntityTooLarge, resp.StatusCode)
	require.Zero(t, held())

	// After all that, a good push works, and a conflicting one is refused.
	_, err = h.c.Push(ctx, key, w.push(t, 0, 8))
	require.NoError(t, err)
	p = w.push(t, 0, 8)
	p.Blocks = append([][]byte(nil), p.Blocks...)
	p.Blocks[1] = []byte("other")
	_, err = h.c.Push(ctx, key, p)
	require.True(t, client.IsStatus(err, http.StatusConflict), "%v", err)
	require.Equal(t, uint64(8), held())

	// Reads of what is not there.
	_, err = h.c.Block(ctx, key, 8)
	require.True(t, client.IsStatus(err, http.StatusNotFound), "%v", err)
	_, err = h.c.Info(ctx, w2.key())
	require.True(t, client.IsStatus(err, http.StatusNotFound), "%v", err)
	_, _, err = h.c.Proof(ctx, key, 2, 9)
	require.True(t, client.IsStatus(err, http.StatusNotFound), "%v", err)
	code, _ = status(t, h, http.MethodGet, "/v1/cores/"+hex.EncodeToString(key[:])+"/blocks?start=x", "")
	require.Equal(t, http.StatusBadRequest, code)
	code, _ = status(t, h, http.MethodGet, "/v1/cores/"+hex.EncodeToString(key[:])+"/blocks?start=3&end=99", "")
	require.Equal(t, http.StatusNotFound, code)
	code, _ = status(t, h, http.MethodGet, "/v1/cores/"+hex.EncodeToString(key[:])+"/blocks/-1", "")
	require.Equal(t, http.StatusBadRequest, code)
}

func TestCapacityFull(t *testing.T) {
	ctx := context.Background()
	h := newHoster(t, store.Limits{Capacity: 5000})
	w := newWriter(t, 8, 1000)
	h.assign(t, w, 1)
	_, err := h.c.Push(ctx, w.key(), w.push(t, 0, 4))
	require.NoError(t, err)
	_, err = h.c.Push(ctx, w.key(), w.push(t, 4, 8))
	require.True(t, client.IsStatus(err, http.StatusInsufficientStorage), "%v", err)
	require.Contains(t, err.Error(), "capacity")
	require.Equal(t, uint64(4), h.st.Held(ctx, w.key()))
	b, err := h.c.Block(ctx, w.key(), 3)
	require.NoError(t, err)
	require.Equal(t, w.data[3], b)

	// A disk with less free space than the reserve refuses too.
	h2 := newHoster(t, store.Limits{Reserve: 1 << 62})
	h2.assign(t, w, 1)
	_, err = h2.c.Push(ctx, w.key(), w.push(t, 0, 4))
	require.True(t, client.IsStatus(err, http.StatusInsufficientStorage), "%v", err)
	require.Contains(t, err.Error(), "free on disk")
}

// corrupt flips a byte of block index's bytes in the core's data file.
func corrupt(t *testing.T, dir string, key [32]byte, offset int64) {
	t.Helper()
	f, err := os.OpenFile(filepath.Join(dir, "cores", hex.EncodeToString(key[:]), "data"), os.O_RDWR, 0)
	require.NoError(t, err)
	defer f.Close()
	b := make([]byte, 1)
	_, err = f.ReadAt(b, offset)
	require.NoError(t, err)
	b[0] ^= 0xff
	_, err = f.WriteAt(b, offset)
	require.NoError(t, err)
	require.NoError(t, f.Sync())
}

func TestDamagedBlockNeverServedScrubbedAndRepaired(t *testing.T) {
	ctx := context.Background()
	good := newHoster(t, store.Limits{})
	bad := newHoster(t, store.Limits{})
	w := newWriter(t, 12, 700)
	for _, h := range []*hoster{good, bad} {
		h.assign(t, w, 1)
		_, err := h.c.Push(ctx, w.key(), w.push(t, 0, 12))
		require.NoError(t, err)
	}
	corrupt(t, bad.dir, w.key(), 5*700+10)

	_, err := bad.c.Block(ctx, w.key(), 5)
	require.True(t, client.IsStatus(err, http.StatusServiceUnavailable), "%v", err)
	_, err = bad.c.Blocks(ctx, w.key(), 0, 12)
	require.True(t, client.IsStatus(err, http.StatusServiceUnavailable), "%v", err)
	// Unchecked (for a client that authenticates blocks itself), the
	// range stops before the block recorded damaged
	// (TestUncheckedReadsRefuseRecordedDamage has the rest).
	bl, err := bad.c.BlocksUnchecked(ctx, w.key(), 0, 12)
	require.NoError(t, err)
	require.Equal(t, w.data[:5], bl)
	bl, err = good.c.BlocksUnchecked(ctx, w.key(), 3, 12)
	require.NoError(t, err)
	require.Equal(t, w.data[3:12], bl)
	_, _, err = bad.c.Proof(ctx, w.key(), 5, 12)
	require.True(t, client.IsStatus(err, http.StatusServiceUnavailable), "%v", err)
	b, err := bad.c.Block(ctx, w.key(), 4)
	require.NoError(t, err, "undamaged blocks are still served")
	require.Equal(t, w.data[4], b)

	var repaired []uint64
	sc := scrub.New(scrub.Config{Store: bad.st, BytesPerSecond: 1 << 30, Repair: func(ctx context.Context, key [32]byte) error {
		var err error
		repaired, err = bad.st.Rebuild(ctx, key, func(ctx context.Context, i uint64) ([]byte, error) { return good.c.Block(ctx, key, i) })
		return err
	}})
	n, err := sc.Pass(ctx)
	require.NoError(t, err)
	require.Equal(t, 1, n)
	require.Equal(t, []uint64{5}, repaired)
	for i := uint64(0); i < 12; i++ {
		b, err := bad.c.Block(ctx, w.key(), i)
		require.NoError(t, err)
		require.Equal(t, w.data[i], b, "block %d", i)
	}
	d, err := bad.st.Damaged(w.key())
	require.NoError(t, err)
	require.Empty(t, d)
	n, err = sc.Pass(ctx)
	require.NoError(t, err)
	require.Zero(t, n)
}

func TestRebuildRefusesWrongBlocks(t *testing.T) {
	ctx := context.Background()
	h := newHoster(t, store.Limits{})
	w := newWriter(t, 6, 300)
	h.assign(t, w, 1)
	_, err := h.c.Push(ctx, w.key(), w.push(t, 0, 6))
	require.NoError(t, err)
	corrupt(t, h.dir, w.key(), 2*300+1)
	_, err = h.st.Rebuild(ctx, w.key(), func(context.Context, uint64) ([]byte, error) { return make([]byte, 300), nil })
	require.ErrorContains(t, err, "does not match")
	_, err = h.st.Rebuild(ctx, w.key(), func(context.Context, uint64) ([]byte, error) { return nil, fmt.Errorf("no peer") })
	require.ErrorContains(t, err, "no peer")
	// Still refused, not served wrong.
	_, err = h.c.Block(ctx, w.key(), 2)
	require.True(t, client.IsStatus(err, http.StatusServiceUnavailable), "%v", err)
}

// Many writers' pushes of overlapping ranges at once: every answer is a
// success or a clear conflict, and the core ends up exactly the writer's.
func TestConcurrentPushes(t *testing.T) {
	ctx := context.Background()
	h := newHoster(t, store.Limits{})
	w := newWriter(t, 40, 2000)
	h.assign(t, w, 1)
	errs := make(chan error, 40)
	for i := 0; i < 40; i += 4 {
		for _, end := range []uint64{uint64(i + 4), uint64(min(i+8, 40))} {
			p := w.push(t, uint64(i), end)
			go func() {
				_, err := h.c.Push(ctx, w.key(), p)
				if err != nil && !client.IsStatus(err, http.StatusConflict) {
					errs <- err
					return
				}
				errs <- nil
			}()
		}
	}
	for i := 0; i < 20; i++ {
		require.NoError(t, <-errs)
	}
	// Whatever order they landed in, a final push from the hoster's length completes the core.
	_, err := h.c.PushCore(ctx, w.core, w.priv, 40, 0)
	require.NoError(t, err)
	info, err := h.c.Info(ctx, w.key())
	require.NoError(t, err)
	wi := w.core.Info()
	require.Equal(t, wi.TreeHash[:], []byte(info.TreeHash))
	require.Equal(t, uint64(40), info.Length)
}

func TestReleaseDeletesUnassignedCores(t *testing.T) {
	ctx := context.Background()
	h := newHoster(t, store.Limits{})
	w := newWriter(t, 3, 100)
	h.assign(t, w, 7)
	_, err := h.c.Push(ctx, w.key(), w.push(t, 0, 3))
	require.NoError(t, err)
	ok, err := h.st.HasOrder(7)
	require.NoError(t, err)
	require.True(t, ok)
	ok, err = h.st.HasOrder(8)
	require.NoError(t, err)
	require.False(t, ok)
	require.NoError(t, h.st.Release(w.key()))
	require.Equal(t, uint64(3), h.st.Held(ctx, w.key()), "an assigned core is kept")
	require.NoError(t, h.st.DeleteAssignment(store.Slot{OrderID: 7}))
	require.NoError(t, h.st.Release(w.key()))
	_, err = h.st.Core(ctx, w.key())
	require.ErrorIs(t, err, store.ErrUnknownCore)
	require.Zero(t, h.st.Used())
	_, err = os.Stat(filepath.Join(h.dir, "cores", keyHex(w.key())))
	require.True(t, os.IsNotExist(err))
}

// A push for a core the hoster has not seen assigned yet makes the server
// ask the daemon to re-read its assignments once before refusing.
func TestPushRefreshesAssignments(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	st, err := store.Open(dir, nil)
	require.NoError(t, err)
	defer st.Close()
	w := newWriter(t, 4, 100)
	refreshes := 0
	assignOnRefresh := true
	srv := httptest.NewServer(server.New(server.Config{Store: st, Refresh: func(context.Context) error {
		refreshes++
		if assignOnRefresh {
			info := w.core.Info()
			return st.PutAssignment(store.Assignment{Slot: store.Slot{OrderID: 3}, Key: info.Key, Manifest: info.Manifest, Length: 4})
		}
		return nil
	}}))
	defer srv.Close()
	c, err := client.New(srv.URL, srv.Client())
	require.NoError(t, err)
	n, err := c.Push(ctx, w.key(), w.push(t, 0, 4))
	require.NoError(t, err)
	require.Equal(t, uint64(4), n)
	require.Equal(t, 1, refreshes)

	assignOnRefresh = false
	w2 := newWriter(t, 1, 10)
	_, err = c.Push(ctx, w2.key(), w2.push(t, 0, 1))
	require.True(t, client.IsStatus(err, http.StatusForbidden), "%v", err)
	require.Equal(t, 2, refreshes)
}

// TestPushedHookAndBodyReuse: the Pushed hook hears of every stored push
// (key and length) and of no refused one; a push whose body ends before
// its Content-Length is refused and stores nothing; pushes of different
// sizes one after the other (their bodies read into reused buffers) store
// exactly what was sent.
func TestPushedHookAndBodyReuse(t *testing.T) {
	ctx := context.Background()
	st, err := store.Open(t.TempDir(), nil)
	require.NoError(t, err)
	defer st.Close()
	type heard struct {
		key    [32]byte
		length uint64
	}
	var mu sync.Mutex
	var got []heard
	srv := httptest.NewServer(server.New(server.Config{Store: st, Pushed: func(key [32]byte, length uint64) {
		mu.Lock()
		got = append(got, heard{key, length})
		mu.Unlock()
	}}))
	defer srv.Close()
	c, err := client.New(srv.URL, srv.Client())
	require.NoError(t, err)
	hooks := func() []heard {
		mu.Lock()
		defer mu.Unlock()
		out := got
		got = nil
		return out
	}

	w := newWriter(t, 30, 3000)
	require.NoError(t, st.PutAssignment(store.Assignment{Slot: store.Slot{OrderID: 1}, Key: w.key(), Manifest: w.core.Info().Manifest, Length: 30}))
	// Large, small, larger: the buffers of earlier pushes are reused.
	for _, r := range [][2]uint64{{0, 20}, {20, 21}, {21, 30}} {
		n, err := c.Push(ctx, w.key(), w.push(t, r[0], r[1]))
		require.NoError(t, err)
		require.Equal(t, r[1], n)
		require.Equal(t, []heard{{w.key(), r[1]}}, hooks())
	}
	core, err := st.Core(ctx, w.key())
	require.NoError(t, err)
	for i := range uint64(30) {
		b, err := core.Get(ctx, i)
		require.NoError(t, err)
		require.Equal(t, w.data[i], b, "block %d", i)
	}

	// Refused pushes are not heard of: another core, a conflict.
	other := newWriter(t, 2, 10)
	_, err = c.Push(ctx, other.key(), other.push(t, 0, 2))
	require.True(t, client.IsStatus(err, http.StatusForbidden), "%v", err)
	p := w.push(t, 0, 30)
	p.Blocks = append([][]byte(nil), p.Blocks...)
	p.Blocks[3] = []byte("not block 3")
	_, err = c.Push(ctx, w.key(), p)
	require.True(t, client.IsStatus(err, http.StatusConflict), "%v", err)
	require.Empty(t, hooks())

	// A body cut short of its Content-Length.
	w2 := newWriter(t, 4, 5000)
	require.NoError(t, st.PutAssignment(store.Assignment{Slot: store.Slot{OrderID: 2}, Key: w2.key(), Manifest: w2.core.Info().Manifest, Length: 4}))
	body, err := wire.EncodePush(w2.push(t, 0, 4))
	require.NoError(t, err)
	conn, err := net.Dial("tcp", srv.Listener.Addr().String())
	require.NoError(t, err)
	fmt.Fprintf(conn, "POST /v1/cores/%x/blocks HTTP/1.1\r\nHost: x\r\nContent-Type: %s\r\nContent-Length: %d\r\n\r\n", w2.key(), wire.PushContentType, len(body))
	conn.Write(body[:len(body)/2])
	conn.(*net.TCPConn).CloseWrite()
	answer, _ := io.ReadAll(conn)
	conn.Close()
	// The server may answer 400 or just drop the connection; either way
	// nothing is stored and nobody hears of it.
	if len(answer) > 0 {
		require.Contains(t, string(answer), "400", "%s", answer)
	}
	require.Zero(t, st.Held(ctx, w2.key()))
	require.Empty(t, hooks())
	// The next push (maybe into the same buffer) is whole.
	n, err := c.Push(ctx, w2.key(), w2.push(t, 0, 4))
	require.NoError(t, err)
	require.Equal(t, uint64(4), n)
	core2, err := st.Core(ctx, w2.key())
	require.NoError(t, err)
	for i := range uint64(4) {
		b, err := core2.Get(ctx, i)
		require.NoError(t, err)
		require.Equal(t, w2.data[i], b)
	}
}

// TestUncheckedRangesShareNoBuffers: unchecked ranges are read into
// answer buffers the server reuses; many ranges of different lengths, at
// once and one after the other, each come back as stored, and a range
// past the blocks held is a 404.
func TestUncheckedRangesShareNoBuffers(t *testing.T) {
	ctx := context.Background()
	h := newHoster(t, store.Limits{})
	w := newWriter(t, 40, 70000)
	h.assign(t, w, 1)
	_, err := h.c.Push(ctx, w.key(), w.push(t, 0, 40))
	require.NoError(t, err)
	var wg sync.WaitGroup
	errs := make(chan error, 64)
	for g := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 8 {
				start := uint64((g*7 + i*3) % 39)
				end := min(40, start+1+uint64((g+i)%17))
				bl, err := h.c.BlocksUnchecked(ctx, w.key(), start, end)
				if err != nil {
					errs <- err
					return
				}
				for j, b := range bl {
					if !bytes.Equal(b, w.data[start+uint64(j)]) {
						errs <- fmt.Errorf("range [%d,%d): block %d differs", start, end, start+uint64(j))
						return
					}
				}
				if len(bl) != int(end-start) {
					errs <- fmt.Errorf("range [%d,%d): %d blocks", start, end, len(bl))
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	_, err = h.c.BlocksUnchecked(ctx, w.key(), 30, 41)
	require.True(t, client.IsStatus(err, http.StatusNotFound), "%v", err)
}

// TestPushOverPushTransport: pushes through client.NewTransport (bodies
// written with writev from the blocks where they lie) store exactly the
// writer's blocks: pushes of many small blocks (more pieces than one writev
// takes), of large ones, one after the other on kept connections and
// concurrently; a push with a bad signature over the same transport is
// still refused and stores nothing.
func TestPushOverPushTransport(t *testing.T) {
	ctx := context.Background()
	h := newHoster(t, store.Limits{})
	c, err := client.New(h.srv.URL, &http.Client{Transport: client.NewTransport()})
	require.NoError(t, err)

	small := newWriter(t, 1500, 100) // 3,001 body pieces in one push
	h.assign(t, small, 1)
	n, err := c.Push(ctx, small.key(), small.push(t, 0, 1500))
	require.NoError(t, err)
	require.Equal(t, uint64(1500), n)
	bs, err := c.Blocks(ctx, small.key(), 0, 1000)
	require.NoError(t, err)
	require.Equal(t, small.data[:1000], bs)

	big := newWriter(t, 40, 200<<10)
	h.assign(t, big, 2)
	bad := big.push(t, 0, 10)
	bad.Signature = bytes.Clone(bad.Signature)
	bad.Signature[10] ^= 1
	_, err = c.Push(ctx, big.key(), bad)
	require.True(t, client.IsStatus(err, http.StatusForbidden), "bad signature: %v", err)
	_, err = c.Info(ctx, big.key())
	require.True(t, err == nil || client.IsStatus(err, http.StatusNotFound), "%v", err)
	if err == nil {
		info, _ := c.Info(ctx, big.key())
		require.Equal(t, uint64(0), info.Length)
	}

	for start := uint64(0); start < 20; start += 5 {
		n, err := c.Push(ctx, big.key(), big.push(t, start, start+5))
		require.NoError(t, err)
		require.Equal(t, start+5, n)
	}
	var wg sync.WaitGroup
	errs := make(chan error, 4)
	for i := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, err := c.Push(ctx, big.key(), big.push(t, 20, uint64(25+5*i)))
			if err != nil && !client.IsStatus(err, http.StatusConflict) {
				errs <- err
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		require.NoError(t, err)
	}
	got, err := c.PushCore(ctx, big.core, big.priv, 40, 0)
	require.NoError(t, err)
	require.Equal(t, uint64(40), got)
	for i := uint64(0); i < 40; i += 10 {
		bs, err := c.Blocks(ctx, big.key(), i, i+10)
		require.NoError(t, err)
		require.Equal(t, big.data[i:i+10], bs)
	}
}

// TestBlockRunAnswers: an unchecked range asked as a block run comes as
// one (sent from the data file) and holds the stored blocks, also for
// ranges the answer limits cut; asked without the form it is a block
// list; a client asking a hoster that ignores the form (an older one)
// reads the list it gets; and a data file cut short under the hoster
// ends in an error for the client, never in fewer or wrong blocks.
func TestBlockRunAnswers(t *testing.T) {
	ctx := context.Background()
	h := newHoster(t, store.Limits{})
	w := newWriter(t, 300, 65536)
	h.assign(t, w, 1)
	_, err := h.c.Push(ctx, w.key(), w.push(t, 0, 300))
	require.NoError(t, err)
	ctype := func(query string) string {
		resp, err := http.Get(fmt.Sprintf("%s/v1/cores/%x/blocks?start=3&end=9%s", h.srv.URL, w.key(), query))
		require.NoError(t, err)
		defer resp.Body.Close()
		_, err = io.Copy(io.Discard, resp.Body)
		require.NoError(t, err)
		require.Equal(t, http.StatusOK, resp.StatusCode)
		return resp.Header.Get("Content-Type")
	}
	require.Equal(t, wire.RunContentType, ctype("&unchecked=1&form=run"))
	require.Equal(t, wire.ListContentType, ctype("&unchecked=1"))
	require.Equal(t, wire.ListContentType, ctype(""))

	// 300 blocks of 64 KiB: an answer holds at most 16 MiB (256 blocks).
	bl, err := h.c.BlocksUnchecked(ctx, w.key(), 10, 300)
	require.NoError(t, err)
	require.Len(t, bl, 256)
	for i, b := range bl {
		require.Equal(t, w.data[10+i], b, "block %d", 10+i)
	}
	buf := make([]byte, 5<<20)
	bl, used, err := h.c.BlocksUncheckedInto(ctx, w.key(), 290, 300, buf)
	require.NoError(t, err)
	require.Equal(t, w.data[290:300], bl)
	require.Equal(t, cap(buf), cap(used), "the answer was read into the buffer given")

	// A hoster that does not know the form.
	old := httptest.NewServer(http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		q := r.URL.Query()
		q.Del("form")
		r.URL.RawQuery = q.Encode()
		h.srv.Config.Handler.ServeHTTP(rw, r)
	}))
	defer old.Close()
	oc, err := client.New(old.URL, old.Client())
	require.NoError(t, err)
	bl, err = oc.BlocksUnchecked(ctx, w.key(), 7, 20)
	require.NoError(t, err)
	require.Equal(t, w.data[7:20], bl)

	// The data file cut under the hoster: the blocks past the cut cannot
	// be sent in full.
	key := w.key()
	require.NoError(t, os.Truncate(filepath.Join(h.dir, "cores", hex.EncodeToString(key[:]), "data"), 200*65536+100))
	_, err = h.c.BlocksUnchecked(ctx, w.key(), 150, 260)
	require.Error(t, err)
	bl, err = h.c.BlocksUnchecked(ctx, w.key(), 150, 200)
	require.NoError(t, err, "the blocks before the cut still read")
	require.Equal(t, w.data[150:200], bl)
}
