package network

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/datdot/datdot/gateway/store"
	"github.com/datdot/datdot/gateway/store/crypt"
	"github.com/datdot/datdot/gateway/store/local"
	"github.com/datdot/datdot/hoster/client"
	"github.com/datdot/datdot/hoster/server"
	hstore "github.com/datdot/datdot/hoster/store"
	"github.com/datdot/datdot/hoster/wire"
	"github.com/datdot/datdot/volume"
)

// Hoster behaviours a test can switch on.
const (
	honest   int32 = iota
	slow           // answers block requests only when the client gives up
	liar           // flips a byte of every block and proof it serves
	stall          // takes pushes and never answers them
	slowTail       // answers block ranges from block 0 only; others when the client gives up
	resizer        // serves every block of a list 64 bytes shorter if short, else 64 bytes short of B
	held           // answers block requests honestly once hold is closed (or the client gives up)
)

// testHoster is a real hoster API server (hoster/server over a real
// hoster/store) behind a switch that makes it slow or lie.
type testHoster struct {
	st   *hstore.Store
	srv  *httptest.Server
	mode atomic.Int32
	hits atomic.Int64 // block and proof requests served
	// waiting counts the block requests held or slowed right now.
	waiting atomic.Int64
	// hold, in mode held, is closed to let the requests held go on.
	hold   chan struct{}
	proofs atomic.Int64 // proof requests
	// release ends the waits of slow requests when the test ends (so
	// that closing the server does not wait for them).
	release chan struct{}
}

func newTestHoster(t testing.TB) *testHoster {
	t.Helper()
	st, err := hstore.Open(t.TempDir(), nil)
	if err != nil {
		t.Fatal(err)
	}
	h := &testHoster{st: st, release: make(chan struct{}), hold: make(chan struct{})}
	api := server.New(server.Config{Store: st})
	h.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		read := r.Method == http.MethodGet && (strings.Contains(r.URL.Path, "/blocks") || strings.Contains(r.URL.Path, "/proof/"))
		if read {
			h.hits.Add(1)
		}
		if strings.Contains(r.URL.Path, "/proof/") {
			h.proofs.Add(1)
		}
		switch {
		case r.Method == http.MethodPost && h.mode.Load() == stall:
			io.Copy(io.Discard, r.Body) // then the server notices a client that hangs up
			<-r.Context().Done()
			return
		case read && h.mode.Load() == slow,
			read && h.mode.Load() == slowTail && r.URL.Query().Get("start") != "0":
			h.waiting.Add(1)
			defer h.waiting.Add(-1)
			select {
			case <-r.Context().Done():
			case <-h.release:
			}
			return
		case read && h.mode.Load() == resizer:
			rec := httptest.NewRecorder()
			api.ServeHTTP(rec, r)
			body := rec.Body.Bytes()
			if l, encode := decodeAnswer(rec); rec.Code == http.StatusOK && l != nil {
				for i, b := range l.Blocks {
					if len(b) == volume.BlockSize {
						l.Blocks[i] = b[:volume.BlockSize-volume.ShortAlign]
					} else if len(b) > volume.ShortAlign {
						l.Blocks[i] = b[:len(b)-volume.ShortAlign]
					} else {
						l.Blocks[i] = append(b, make([]byte, volume.ShortAlign)...)
					}
				}
				body, _ = encode(l)
			}
			w.Header().Set("Content-Type", rec.Header().Get("Content-Type"))
			w.WriteHeader(rec.Code)
			w.Write(body)
			return
		case read && h.mode.Load() == held:
			h.waiting.Add(1)
			defer h.waiting.Add(-1)
			select {
			case <-r.Context().Done():
				return
			case <-h.release:
				return
			case <-h.hold:
			}
		case read && h.mode.Load() == liar:
			rec := httptest.NewRecorder()
			api.ServeHTTP(rec, r)
			body := rec.Body.Bytes()
			if rec.Code == http.StatusOK {
				if l, encode := decodeAnswer(rec); l != nil {
					for _, b := range l.Blocks {
						b[min(1000, len(b)-1)] ^= 0xff // short blocks too
					}
					body, _ = encode(l)
				} else if len(body) > 2000 {
					body[len(body)/2] ^= 0xff // a proof: damage the block value
				}
			}
			w.Header().Set("Content-Type", rec.Header().Get("Content-Type"))
			w.WriteHeader(rec.Code)
			w.Write(body)
			return
		}
		api.ServeHTTP(w, r)
	}))
	t.Cleanup(func() { close(h.release); h.srv.Close(); st.Close() })
	return h
}

// decodeAnswer decodes a recorded answer of blocks in the form it came in
// (a block list or a block run, by its Content-Type) and returns the
// encoder of that form; nil if it holds no blocks.
func decodeAnswer(rec *httptest.ResponseRecorder) (*wire.BlockList, func(*wire.BlockList) ([]byte, error)) {
	switch rec.Header().Get("Content-Type") {
	case wire.ListContentType:
		if l, err := wire.DecodeBlockList(rec.Body.Bytes()); err == nil {
			return l, wire.EncodeBlockList
		}
	case wire.RunContentType:
		if l, err := wire.DecodeBlockRun(rec.Body.Bytes()); err == nil {
			return l, wire.EncodeBlockRun
		}
	}
	return nil, nil
}

// testNet ships every volume's core j to hoster j (a real push over HTTP
// after the hoster is told of its assignment, as the chain would) and
// locates core j at hoster j unless a test moved it.
type testNet struct {
	t       testing.TB
	hosters []*testHoster

	mu       sync.Mutex
	assigned map[[32]byte]bool
	moved    map[int]string // core index -> endpoint after a "replacement"
	fresh    int            // Locate calls with fresh set
	push     *http.Client   // the pushes' client, as the gateway's shipper has (client.NewTransport)
}

func (n *testNet) assign(h *testHoster, j int, key [32]byte, manifest []byte, length uint64) error {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.assigned == nil {
		n.assigned = map[[32]byte]bool{}
	}
	if n.assigned[key] && h == n.hosters[j] {
		return nil
	}
	n.assigned[key] = true
	return h.st.PutAssignment(hstore.Assignment{Slot: hstore.Slot{OrderID: 1, CoreIndex: uint32(j)}, Key: key, Manifest: manifest, Length: length})
}

func (n *testNet) Ship(ctx context.Context, v *Volume, length uint64) error {
	for j, c := range v.Cores {
		h := n.hosters[j]
		info := c.Info()
		if err := n.assign(h, j, info.Key, info.Manifest, length); err != nil {
			return err
		}
		cl, err := client.New(h.srv.URL, h.srv.Client())
		if err != nil {
			return err
		}
		if _, err := cl.PushCore(ctx, c, v.Keys[j], length, 0); err != nil {
			return err
		}
	}
	return nil
}

// Prepare implements CoreShipper: every core is assigned to its hoster.
func (n *testNet) Prepare(ctx context.Context, v *Volume, length uint64) error {
	for j, c := range v.Cores {
		info := c.Info()
		if err := n.assign(n.hosters[j], j, info.Key, info.Manifest, length); err != nil {
			return err
		}
	}
	return nil
}

// PushCore implements CoreShipper: a real push of core j to hoster j.
func (n *testNet) PushCore(ctx context.Context, v *Volume, j int, length uint64) error {
	h := n.hosters[j]
	n.mu.Lock()
	if n.push == nil {
		n.push = &http.Client{Transport: client.NewTransport()}
	}
	hc := n.push
	n.mu.Unlock()
	cl, err := client.New(h.srv.URL, hc)
	if err != nil {
		return err
	}
	_, err = cl.PushCoreWith(ctx, v.Cores[j], v.Keys[j], length, 0, v.PushSource(j))
	return err
}

// Shipped implements CoreShipper.
func (n *testNet) Shipped(*Volume, uint64) {}

func (n *testNet) Locate(_ context.Context, v VolumeRef, fresh bool) ([][]string, error) {
	n.mu.Lock()
	defer n.mu.Unlock()
	if fresh {
		n.fresh++
	}
	eps := make([][]string, v.Layout.N())
	for j := range eps {
		eps[j] = []string{n.hosters[j].srv.URL}
		if ep, ok := n.moved[j]; ok && fresh {
			eps[j] = []string{ep}
		}
	}
	return eps, nil
}

var testMaster = bytes.Repeat([]byte{7}, 32)

// openRemote opens an encrypting network store in a fresh directory that
// reads from net's hosters.
func openRemote(t *testing.T, net *testNet, cacheBytes int64, rc RemoteConfig) (*crypt.Blobs, *Blobs) {
	t.Helper()
	dir := t.TempDir()
	meta, err := local.OpenMeta(filepath.Join(dir, "meta.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { meta.Close() })
	rc.Locator = net
	remote, err := NewRemote(rc)
	if err != nil {
		t.Fatal(err)
	}
	vols, err := Open(Config{Dir: dir, Master: testMaster, Layout: volume.Layout{K: 2, M: 1}, Shipper: net, Journal: meta,
		Remote: remote, CacheBytes: cacheBytes, ReadWindow: 256 << 10})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { vols.Close() })
	c, err := crypt.New(vols, testMaster)
	if err != nil {
		t.Fatal(err)
	}
	return c, vols
}

func readAll(ctx context.Context, b store.BlobStore, ref store.BlobRef, off, n int64) ([]byte, error) {
	rc, err := b.Open(ctx, ref, off, n)
	if err != nil {
		return nil, err
	}
	defer rc.Close()
	return io.ReadAll(rc)
}

type written struct {
	ref  store.BlobRef
	data []byte
}

func writeSome(t *testing.T, b store.BlobStore) []written {
	t.Helper()
	var out []written
	for _, n := range []int{1, 5000, 65536, 300001, 1 << 20} {
		data := make([]byte, n)
		rand.Read(data)
		ref, err := store.WriteBlob(ctx, b, bytes.NewReader(data), int64(n), nil)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, written{ref, data})
	}
	return out
}

func checkAll(t *testing.T, ctx context.Context, b store.BlobStore, ws []written, what string) {
	t.Helper()
	for i, w := range ws {
		got, err := readAll(ctx, b, w.ref, 0, w.ref.Size)
		if err != nil {
			t.Fatalf("%s: blob %d (%d bytes): %v", what, i, w.ref.Size, err)
		}
		if !bytes.Equal(got, w.data) {
			t.Fatalf("%s: blob %d (%d bytes) reads back different", what, i, w.ref.Size)
		}
		// A range in the middle.
		if w.ref.Size > 70000 {
			got, err := readAll(ctx, b, w.ref, 69000, 2000)
			if err != nil || !bytes.Equal(got, w.data[69000:71000]) {
				t.Fatalf("%s: blob %d: range read: %v", what, i, err)
			}
		}
	}
}

// writeRandom writes a blob of n random bytes through a gateway of its own
// on net, and returns it with its bytes.
func writeRandom(t *testing.T, net *testNet, n int) (store.BlobRef, []byte) {
	t.Helper()
	writer, _ := openRemote(t, net, 0, RemoteConfig{})
	data := randBlob(n)
	ref, err := store.WriteBlob(ctx, writer, bytes.NewReader(data), int64(len(data)), nil)
	if err != nil {
		t.Fatal(err)
	}
	return ref, data
}

func testHosters(t *testing.T, n int) *testNet {
	net := &testNet{t: t, moved: map[int]string{}}
	for range n {
		net.hosters = append(net.hosters, newTestHoster(t))
	}
	return net
}

// TestReadsComeFromHosters: a gateway with an empty directory (a fresh
// machine: no local cores, cache off) reads every blob back from the
// hosters; with any one of the three hosters dead it decodes around it;
// with two dead the read fails with ErrDataShort, never wrong bytes.
func TestReadsComeFromHosters(t *testing.T) {
	net := testHosters(t, 3)
	writer, _ := openRemote(t, net, 0, RemoteConfig{})
	ws := writeSome(t, writer)

	fresh, vols := openRemote(t, net, 0, RemoteConfig{SlowAfter: 50 * time.Millisecond})
	checkAll(t, ctx, fresh, ws, "fresh gateway")
	if vols.CacheSize() != 0 {
		t.Fatal("the cache is off but holds bytes")
	}
	var served int64
	for _, h := range net.hosters {
		served += h.hits.Load()
	}
	if served == 0 {
		t.Fatal("no hoster served a block")
	}
	kill := func(h *testHoster) {
		h.srv.Listener.Close() // new connections are refused
		h.srv.CloseClientConnections()
	}
	for dead := range 3 {
		net := testHosters(t, 3)
		writer, _ := openRemote(t, net, 0, RemoteConfig{})
		ws := writeSome(t, writer)
		kill(net.hosters[dead])
		fresh, _ := openRemote(t, net, 0, RemoteConfig{SlowAfter: 50 * time.Millisecond})
		checkAll(t, ctx, fresh, ws, fmt.Sprintf("hoster of core %d dead", dead))
		// And one more: fewer than k cores left.
		kill(net.hosters[(dead+1)%3])
		if _, err := readAll(ctx, fresh, ws[3].ref, 0, ws[3].ref.Size); !errors.Is(err, store.ErrDataShort) {
			t.Fatalf("read with 1 of 3 hosters: %v, want ErrDataShort", err)
		}
	}
}

// TestSlowHosterSkipped: a hoster that never answers block requests is
// skipped after SlowAfter: reads complete (decoded from the others) long
// before its requests would time out, and the next read asks it last.
func TestSlowHosterSkipped(t *testing.T) {
	net := testHosters(t, 3)
	writer, _ := openRemote(t, net, 0, RemoteConfig{})
	ws := writeSome(t, writer)
	net.hosters[0].mode.Store(slow)
	reader, _ := openRemote(t, net, 0, RemoteConfig{SlowAfter: 50 * time.Millisecond, FetchTimeout: time.Hour})
	// The fetch timeout is an hour: only skipping the slow hoster lets
	// this finish within the test's deadline.
	tctx, cancel := context.WithTimeout(ctx, 3*time.Minute)
	defer cancel()
	checkAll(t, tctx, reader, ws, "slow hoster of core 0")
	if tctx.Err() != nil {
		t.Fatal("reads waited for the slow hoster")
	}
}

// TestLyingHosterFoundByProofs: a hoster that serves wrong bytes (and
// wrong proofs) for core 0 makes AEAD tags fail; the reader reads those
// segments again with every block checked against its writer's
// signature, finds core 0's blocks bad and decodes around them.
func TestLyingHosterFoundByProofs(t *testing.T) {
	net := testHosters(t, 3)
	writer, _ := openRemote(t, net, 0, RemoteConfig{})
	ws := writeSome(t, writer)
	net.hosters[0].mode.Store(liar)
	reader, _ := openRemote(t, net, 0, RemoteConfig{SlowAfter: time.Minute})
	checkAll(t, ctx, reader, ws, "core 0 lies")
	if net.hosters[0].proofs.Load() == 0 || net.hosters[1].proofs.Load()+net.hosters[2].proofs.Load() == 0 {
		t.Fatal("failed tags did not lead to verified reads")
	}
	// With a second liar fewer than k cores are good: an error, never
	// wrong bytes.
	net.hosters[1].mode.Store(liar)
	reader, _ = openRemote(t, net, 0, RemoteConfig{SlowAfter: time.Minute})
	got, err := readAll(ctx, reader, ws[3].ref, 0, ws[3].ref.Size)
	if err == nil || bytes.Equal(got, ws[3].data) {
		t.Fatalf("two lying hosters: read succeeded (%v)", err)
	}
	if !errors.Is(err, crypt.ErrCorrupt) {
		t.Fatalf("two lying hosters: %v, want ErrCorrupt", err)
	}
}

// TestReplacedHosterLocatedAgain: when reads fail for lack of cores the
// reader asks the locator for the chain's current placement and reads
// from the replacement hoster.
func TestReplacedHosterLocatedAgain(t *testing.T) {
	net := testHosters(t, 3)
	writer, wvols := openRemote(t, net, 0, RemoteConfig{})
	ws := writeSome(t, writer)
	// The replacement of core 0's hoster holds the core (as after its
	// rebuild); the old one and core 1's hoster die.
	repl := newTestHoster(t)
	for _, v := range wvols.vols {
		c := v.Cores[0]
		info := c.Info()
		if err := repl.st.PutAssignment(hstore.Assignment{Slot: hstore.Slot{OrderID: 2}, Key: info.Key, Manifest: info.Manifest, Length: info.Length}); err != nil {
			t.Fatal(err)
		}
		cl, _ := client.New(repl.srv.URL, repl.srv.Client())
		if _, err := cl.PushCore(ctx, c, v.Keys[0], info.Length, 0); err != nil {
			t.Fatal(err)
		}
	}
	net.mu.Lock()
	net.moved[0] = repl.srv.URL
	net.mu.Unlock()
	for _, j := range []int{0, 1} {
		net.hosters[j].srv.Listener.Close()
		net.hosters[j].srv.CloseClientConnections()
	}
	reader, _ := openRemote(t, net, 0, RemoteConfig{SlowAfter: 50 * time.Millisecond})
	checkAll(t, ctx, reader, ws, "core 0 replaced, core 1 dead")
	net.mu.Lock()
	defer net.mu.Unlock()
	if net.fresh == 0 {
		t.Fatal("the reader never asked for the current placement")
	}
	if repl.hits.Load() == 0 {
		t.Fatal("the replacement served nothing")
	}
}

// TestCacheServesHotBlocks: with the cache on, just-written blobs read
// back with every hoster gone, and the cache stays within its bound.
func TestCacheServesHotBlocks(t *testing.T) {
	net := testHosters(t, 3)
	const max = 4 << 20
	b, vols := openRemote(t, net, max, RemoteConfig{SlowAfter: 50 * time.Millisecond})
	var ws []written
	for _, n := range []int{100, 70000, 200000} {
		data := make([]byte, n)
		rand.Read(data)
		ref, err := store.WriteBlob(ctx, b, bytes.NewReader(data), int64(n), nil)
		if err != nil {
			t.Fatal(err)
		}
		ws = append(ws, written{ref, data})
	}
	for _, h := range net.hosters {
		h.srv.Listener.Close()
		h.srv.CloseClientConnections()
	}
	checkAll(t, ctx, b, ws, "all hosters gone, cache on")
	if s := vols.CacheSize(); s <= 0 || s > max {
		t.Fatalf("cache holds %d bytes, bound %d", s, max)
	}
}

// TestBlockCacheBound: the cache drops the least recently used blocks to
// stay within its bound, and a bound below one block turns it off.
func TestBlockCacheBound(t *testing.T) {
	c := newBlockCache(3 * volume.BlockSize)
	blk := func(b byte) []byte { return bytes.Repeat([]byte{b}, volume.BlockSize) }
	for i := range 3 {
		c.put(blockKey{"v", uint64(i), 0}, blk(byte(i)))
	}
	c.get(blockKey{"v", 0, 0}) // 0 is now the most recently used
	c.put(blockKey{"v", 3, 0}, blk(3))
	if c.size() != 3*volume.BlockSize {
		t.Fatalf("cache holds %d bytes", c.size())
	}
	if c.get(blockKey{"v", 1, 0}) != nil {
		t.Fatal("the least recently used block was kept")
	}
	for _, i := range []uint64{0, 2, 3} {
		if b := c.get(blockKey{"v", i, 0}); b == nil || b[0] != byte(i) {
			t.Fatalf("block %d lost", i)
		}
	}
	if newBlockCache(volume.BlockSize-1) != nil {
		t.Fatal("a cache smaller than a block is not off")
	}
}

// TestReadAheadStopsOnClose: a reader closed in the middle of a long blob
// stops the windows it was fetching ahead (from hosters that would keep
// them waiting for an hour): none of its goroutines is left.
func TestReadAheadStopsOnClose(t *testing.T) {
	net := testHosters(t, 3)
	ref, data := writeRandom(t, net, 2<<20)
	fresh, _ := openRemote(t, net, 0, RemoteConfig{SlowAfter: time.Hour, FetchTimeout: time.Hour})
	for _, h := range net.hosters {
		h.mode.Store(slowTail)
	}
	rc, err := fresh.Open(ctx, ref, 0, ref.Size)
	if err != nil {
		t.Fatal(err)
	}
	got := make([]byte, 1000)
	if _, err := io.ReadFull(rc, got); err != nil || !bytes.Equal(got, data[:1000]) {
		t.Fatalf("first bytes: %v", err)
	}
	aheads := func() int {
		buf := make([]byte, 1<<22)
		st := string(buf[:runtime.Stack(buf, true)])
		n := 0
		for _, g := range strings.Split(st, "\n\n") {
			if strings.Contains(g, "network.(*Blobs).startWindow.func") || strings.Contains(g, "network.(*reader).stopNext.func") {
				n++
			}
		}
		return n
	}
	waitFor(t, "windows fetched ahead", func() bool { return aheads() > 0 })
	if err := rc.Close(); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "no read-ahead goroutine after Close", func() bool { return aheads() == 0 })
}

// waitFor polls cond until it holds (a generous minute).
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(time.Minute); !cond(); time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting: %s", what)
		}
	}
}

// TestPooledBuffersNeverShared: with the block cache off, hoster answers
// are read into buffers the Remote reuses once a window is consumed. Many
// readers at once, whole blobs, ranges and reads abandoned half way
// (closed early, giving their buffers back), with a hoster dead so that
// some windows are decoded: every byte read is the byte written, and no
// tag fails on the way.
func TestPooledBuffersNeverShared(t *testing.T) {
	net := testHosters(t, 3)
	writer, _ := openRemote(t, net, 0, RemoteConfig{})
	ws := writeSome(t, writer)
	ws = append(ws, writeSome(t, writer)...)
	for _, dead := range []int{-1, 1} {
		if dead >= 0 {
			net.hosters[dead].srv.Listener.Close()
			net.hosters[dead].srv.CloseClientConnections()
		}
		fresh, _ := openRemote(t, net, 0, RemoteConfig{SlowAfter: 50 * time.Millisecond})
		var wg sync.WaitGroup
		errs := make(chan error, 64)
		for g := range 8 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for round := range 6 {
					w := ws[(g+round)%len(ws)]
					switch (g + round) % 3 {
					case 0:
						// Slowly, so that other reads run while this one holds a window.
						got, err := readSlowly(ctx, fresh, w.ref)
						if err != nil || !bytes.Equal(got, w.data) {
							errs <- fmt.Errorf("dead %d: blob of %d bytes: %v (equal %v)", dead, w.ref.Size, err, bytes.Equal(got, w.data))
							return
						}
					case 1:
						off := w.ref.Size / 3
						got, err := readAll(ctx, fresh, w.ref, off, w.ref.Size-off)
						if err != nil || !bytes.Equal(got, w.data[off:]) {
							errs <- fmt.Errorf("dead %d: range of blob of %d bytes: %v", dead, w.ref.Size, err)
							return
						}
					case 2:
						rc, err := fresh.Open(ctx, w.ref, 0, w.ref.Size)
						if err != nil {
							errs <- err
							return
						}
						part := make([]byte, min(w.ref.Size, 100000))
						_, err = io.ReadFull(rc, part)
						rc.Close()
						if err != nil || !bytes.Equal(part, w.data[:len(part)]) {
							errs <- fmt.Errorf("dead %d: start of blob of %d bytes: %v", dead, w.ref.Size, err)
							return
						}
					}
				}
			}()
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Error(err)
		}
		// The hosters are honest: no segment failed its tag, so nothing
		// was read again with proofs (a buffer reused under a reader
		// would fail tags, and the bytes would only come right through
		// those re-reads).
		for i, h := range net.hosters {
			if n := h.proofs.Swap(0); n > 0 {
				t.Errorf("dead %d: hoster %d served %d proofs: some block read was overwritten", dead, i, n)
			}
		}
	}
}

// readSlowly reads a whole blob 4 KiB at a time, yielding between reads.
func readSlowly(ctx context.Context, b store.BlobStore, ref store.BlobRef) ([]byte, error) {
	rc, err := b.Open(ctx, ref, 0, ref.Size)
	if err != nil {
		return nil, err
	}
	defer rc.Close()
	var out []byte
	buf := make([]byte, 4096)
	for {
		n, err := rc.Read(buf)
		out = append(out, buf[:n]...)
		if err == io.EOF {
			return out, nil
		}
		if err != nil {
			return out, err
		}
		time.Sleep(20 * time.Microsecond)
	}
}

// TestHedgeAfter: by default a read of whole stripes asks the parity
// core too; with HedgeAfter it asks only the data cores while they
// answer, and asks the parity core once they lag: with a data core's
// hoster hanging and SlowAfter an hour away, the read still completes
// (decoded), which only the later hedge can do.
func TestHedgeAfter(t *testing.T) {
	net := testHosters(t, 3)
	ref, data := writeRandom(t, net, 1<<20)
	read := func(rc RemoteConfig) {
		t.Helper()
		for _, h := range net.hosters {
			h.hits.Store(0)
		}
		fresh, vols := openRemote(t, net, 0, rc)
		got, err := readAll(ctx, fresh, ref, 0, ref.Size)
		if err != nil || !bytes.Equal(got, data) {
			t.Fatalf("read back: %v (equal %v)", err, bytes.Equal(got, data))
		}
		// The fetches the read no longer waited for (drained) have
		// reached their hosters or been cancelled: the next read's
		// counts are its own.
		waitFor(t, "the read's drained fetches to end", func() bool { return vols.cfg.Remote.draining.Load() == 0 })
	}
	read(RemoteConfig{})
	if net.hosters[2].hits.Load() == 0 {
		t.Fatal("default: the parity core was not asked")
	}
	read(RemoteConfig{HedgeAfter: time.Hour, SlowAfter: time.Hour})
	if n := net.hosters[2].hits.Load(); n != 0 {
		t.Fatalf("HedgeAfter an hour, hosters answering: the parity core was asked %d times", n)
	}
	net.hosters[0].mode.Store(slow)
	read(RemoteConfig{HedgeAfter: 10 * time.Millisecond, SlowAfter: time.Hour, FetchTimeout: time.Hour})
	if net.hosters[2].hits.Load() == 0 {
		t.Fatal("a data core hanging: the parity core was not asked")
	}
}

// TestDataGrace: a read of whole stripes that has k answers, parity among
// them, waits for the data core still answering instead of decoding
// (DataGrace an hour: the data core's hoster answers only once the parity
// core was asked, and no read decodes); with a short grace and the data
// core's hoster answering never, the read decodes around it and returns
// the data.
func TestDataGrace(t *testing.T) {
	net := testHosters(t, 3)
	ref, data := writeRandom(t, net, 1<<20)
	parity := net.hosters[len(net.hosters)-1]
	net.hosters[0].mode.Store(held)
	parity.hits.Store(0)
	go func() {
		for parity.hits.Load() == 0 {
			runtime.Gosched()
		}
		close(net.hosters[0].hold)
	}()
	reader, vols := openRemote(t, net, 0, RemoteConfig{DataGrace: time.Hour, SlowAfter: time.Hour, FetchTimeout: time.Hour})
	got, err := readAll(ctx, reader, ref, 0, ref.Size)
	if err != nil || !bytes.Equal(got, data) {
		t.Fatalf("read back: %v (equal %v)", err, bytes.Equal(got, data))
	}
	if parity.hits.Load() == 0 {
		t.Fatal("the parity core was not asked")
	}
	if n := vols.cfg.Remote.decodes.Load(); n != 0 {
		t.Fatalf("%d reads decoded with a data core answering within the grace", n)
	}
	net.hosters[0].mode.Store(slow)
	reader, vols = openRemote(t, net, 0, RemoteConfig{DataGrace: 10 * time.Millisecond, SlowAfter: time.Hour, FetchTimeout: time.Hour})
	got, err = readAll(ctx, reader, ref, 0, ref.Size)
	if err != nil || !bytes.Equal(got, data) {
		t.Fatalf("read back, data core hanging: %v (equal %v)", err, bytes.Equal(got, data))
	}
	if vols.cfg.Remote.decodes.Load() == 0 {
		t.Fatal("a data core hanging: the read did not decode around it")
	}
}

// TestSpanLendsBlocks: the network reader lends its bytes (Span), never
// more than asked, across blocks when a window read from the hosters lies
// in stream order (cache off), and Span and Read mixed return the range
// exactly, from the hosters as from the cache.
func TestSpanLendsBlocks(t *testing.T) {
	net := testHosters(t, 3)
	writer, wvols := openRemote(t, net, 0, RemoteConfig{})
	ws := writeSome(t, writer)
	for _, cache := range []int64{0, 64 << 20} {
		_, vols := openRemote(t, net, cache, RemoteConfig{})
		across := 0 // spans longer than a block
		for _, w := range ws {
			// The inner blob (as crypt stores it): its ref names the
			// stored bytes.
			ref := w.ref
			ref.Size, ref.Crypt = crypt.StoredSize(ref.Size), nil
			want, err := readAll(ctx, wvols, ref, 0, ref.Size)
			if err != nil {
				t.Fatal(err)
			}
			for _, rg := range [][2]int64{{0, ref.Size}, {ref.Size / 3, ref.Size - ref.Size/3}} {
				rc, err := vols.Open(ctx, ref, rg[0], rg[1])
				if err != nil {
					t.Fatal(err)
				}
				sr := rc.(store.SpanReader)
				var got []byte
				for i := 0; ; i++ {
					var b []byte
					if i%3 == 2 {
						buf := make([]byte, 70000)
						n, err := sr.Read(buf)
						b = buf[:n]
						if err == io.EOF {
							break
						}
						if err != nil {
							t.Fatal(err)
						}
					} else {
						ask := []int{100000, 65536}[i%2]
						b, err = sr.Span(ask)
						if err == io.EOF {
							break
						}
						if err != nil {
							t.Fatal(err)
						}
						if len(b) == 0 || len(b) > ask {
							t.Fatalf("span of %d bytes for %d asked", len(b), ask)
						}
						if len(b) > volume.BlockSize {
							across++
						}
					}
					got = append(got, b...)
				}
				rc.Close()
				if !bytes.Equal(got, want[rg[0]:rg[0]+rg[1]]) {
					t.Fatalf("cache %d, blob of %d, range %d+%d: %d bytes differ", cache, ref.Size, rg[0], rg[1], len(got))
				}
			}
		}
		if cache == 0 && across == 0 {
			t.Fatal("cache off: no span crossed a block (windows read from the hosters are laid out in stream order)")
		}
	}
}

// TestDrainedDataCoreKeepsItsWindow: a read decodes around a data core
// that answers only after the read has returned (and released its
// window); that core's late answer is still written into the window's
// buffer, which must not have gone to another read meanwhile: the reads
// that follow, on the pooled buffers, all return the bytes written.
func TestDrainedDataCoreKeepsItsWindow(t *testing.T) {
	net := testHosters(t, 3)
	ref, data := writeRandom(t, net, 3<<20)
	net.hosters[0].mode.Store(held)
	reader, vols := openRemote(t, net, 0, RemoteConfig{DataGrace: -1, DrainAfter: time.Hour, SlowAfter: time.Hour, FetchTimeout: time.Hour})
	got, err := readAll(ctx, reader, ref, 0, ref.Size)
	if err != nil || !bytes.Equal(got, data) {
		t.Fatalf("read around the held core: %v (equal %v)", err, bytes.Equal(got, data))
	}
	if vols.cfg.Remote.decodes.Load() == 0 {
		t.Fatal("the read did not decode around the held core")
	}
	if vols.cfg.Remote.draining.Load() == 0 {
		t.Fatal("no fetch left to drain")
	}
	// The held core answers now, into the windows the read gave back,
	// while other reads take pooled buffers.
	net.hosters[0].mode.Store(honest)
	close(net.hosters[0].hold)
	var wg sync.WaitGroup
	for g := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			off := int64(g) * 100000
			got, err := readAll(ctx, reader, ref, off, ref.Size-off)
			if err != nil || !bytes.Equal(got, data[off:]) {
				t.Errorf("read %d after the late answer: %v (equal %v)", g, err, bytes.Equal(got, data[off:]))
			}
		}()
	}
	wg.Wait()
	waitFor(t, "the drained fetches to end", func() bool { return vols.cfg.Remote.draining.Load() == 0 })
}
