package metalog

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/datdot/datdot/gateway/secret"
	"github.com/datdot/datdot/gateway/store"
	"github.com/datdot/datdot/gateway/store/local"
	"github.com/datdot/datdot/gateway/store/network"
	"github.com/datdot/datdot/hoster/client"
	"github.com/datdot/datdot/hoster/server"
	hstore "github.com/datdot/datdot/hoster/store"
	"github.com/datdot/datdot/volume"
	storagetypes "github.com/datdot/datdot/x/storage/types"
)

var ctx = context.Background()

// hosters is a set of real hoster servers (HTTP API v1 over loopback)
// and the orders "placed" on them: core j of an order is assigned to
// hoster j mod len. It ships volumes as the chain shipper does (pushes
// with hoster/client), without a chain.
type hosters struct {
	t      testing.TB
	stores []*hstore.Store
	srvs   []*httptest.Server
	mu     sync.Mutex
	orders map[[32]byte]storagetypes.Order
	nextID uint64
}

func newHosters(t testing.TB, n int) *hosters {
	h := &hosters{t: t, orders: map[[32]byte]storagetypes.Order{}}
	for range n {
		st, err := hstore.Open(t.TempDir(), nil)
		if err != nil {
			t.Fatal(err)
		}
		srv := httptest.NewServer(server.New(server.Config{Store: st}))
		t.Cleanup(func() { srv.Close(); st.Close() })
		h.stores = append(h.stores, st)
		h.srvs = append(h.srvs, srv)
	}
	return h
}

// Ship implements network.Shipper.
func (h *hosters) Ship(ctx context.Context, v *network.Volume, length uint64) error {
	key0 := v.Cores[0].Key()
	h.mu.Lock()
	o, ok := h.orders[key0]
	if !ok {
		h.nextID++
		o = storagetypes.Order{Id: h.nextID, ErasureK: uint32(v.Layout.K), ErasureN: uint32(v.Layout.N())}
		for j, c := range v.Cores {
			info := c.Info()
			o.Cores = append(o.Cores, storagetypes.Core{Key: info.Key[:], Manifest: info.Manifest})
			err := h.stores[j%len(h.stores)].PutAssignment(hstore.Assignment{Slot: hstore.Slot{OrderID: o.Id, CoreIndex: uint32(j)},
				Key: info.Key, Manifest: info.Manifest, Length: length})
			if err != nil {
				h.mu.Unlock()
				return err
			}
		}
		h.orders[key0] = o
	}
	h.mu.Unlock()
	for j, c := range v.Cores {
		cl, err := client.New(h.srvs[j%len(h.srvs)].URL, nil)
		if err != nil {
			return err
		}
		if _, err := cl.PushCore(ctx, c, v.Keys[j], length, 0); err != nil {
			return fmt.Errorf("push core %d: %w", j, err)
		}
	}
	return nil
}

func (h *hosters) recoverConfig(master []byte, dir string) RecoverConfig {
	// One chunk of generation numbers: the tests' generations are low
	// (TestRecoverFindsHighGeneration looks further).
	return RecoverConfig{Master: master, DataDir: dir, Owner: "test", MaxGen: genChunk,
		Orders: func(context.Context) (map[[32]byte]storagetypes.Order, error) {
			h.mu.Lock()
			defer h.mu.Unlock()
			return maps(h.orders), nil
		},
		Locate: func(_ context.Context, id uint64, n int) ([][]string, error) {
			eps := make([][]string, n)
			for j := range eps {
				eps[j] = []string{h.srvs[j%len(h.srvs)].URL}
			}
			return eps, nil
		}}
}

func maps(m map[[32]byte]storagetypes.Order) map[[32]byte]storagetypes.Order {
	out := make(map[[32]byte]storagetypes.Order, len(m))
	for k, v := range m {
		out[k] = v
	}
	return out
}

type fixture struct {
	t      *testing.T
	master []byte
	dir    string
	meta   *Journaled
	blobs  *local.Blobs
	w      *Writer
	h      *hosters
	// ship replaces h as the shipper when set; shred is the writer's
	// ShredAfter.
	ship  network.Shipper
	shred time.Duration
	// layout of the log's volumes (zero: DefaultLayout).
	layout volume.Layout
}

func newFixture(t *testing.T, h *hosters, rotate int64) *fixture {
	f := &fixture{t: t, master: secret.Generate(), dir: t.TempDir(), h: h}
	f.open(rotate)
	return f
}

func (f *fixture) open(rotate int64) {
	m, blobs, err := local.Open(ctx, f.dir, nil)
	if err != nil {
		f.t.Fatal(err)
	}
	f.meta, f.blobs = NewJournaled(m), blobs
	var sh network.Shipper
	if f.h != nil {
		sh = f.h
	}
	if f.ship != nil {
		sh = f.ship
	}
	f.w, err = Open(Config{Dir: filepath.Join(f.dir, "metalog"), Master: f.master, Meta: f.meta, Shipper: sh, RotateBytes: rotate, ShredAfter: f.shred, Layout: f.layout})
	if err != nil {
		f.t.Fatal(err)
	}
	f.t.Cleanup(func() { f.close() })
}

func (f *fixture) close() {
	if f.w != nil {
		f.w.Close()
		f.meta.Close()
		f.w = nil
	}
}

func (f *fixture) put(bucket, key, data string) {
	f.t.Helper()
	ref, err := store.WriteBlob(ctx, f.blobs, strings.NewReader(data), int64(len(data)), nil)
	if err != nil {
		f.t.Fatal(err)
	}
	o := store.Object{Key: key, Size: ref.Size, ETag: data, Modified: time.Now().UTC(), Parts: []store.Part{{Size: ref.Size, Blob: ref}},
		ACL:     store.ACL{Owner: store.Owner{ID: "o"}, Grants: []store.Grant{{Type: "Group", URI: "http://acs.amazonaws.com/groups/global/AllUsers", Permission: "READ"}}},
		Headers: map[string]string{"Content-Type": "image/png"}}
	if _, _, err := f.meta.PutObject(ctx, bucket, o, nil); err != nil {
		f.t.Fatal(err)
	}
}

// state is everything an operator or client can see of a database.
func state(t *testing.T, m *local.Meta) string {
	t.Helper()
	var b strings.Builder
	bs, err := m.ListBuckets(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, bk := range bs {
		fmt.Fprintf(&b, "bucket %s %s acl=%v cors=%v\n", bk.Name, bk.Versioning, bk.ACL, bk.CORS)
		vs, _, err := m.History(ctx, bk.Name, "", "", 1000)
		if err != nil {
			t.Fatal(err)
		}
		for _, v := range vs {
			fmt.Fprintf(&b, "  %s %s hidden=%v latest=%v dm=%v etag=%s acl=%v hdr=%v blob=%v\n", v.Key, v.VersionID, v.Hidden, v.IsLatest, v.DeleteMarker, v.ETag, v.ACL, v.Headers, v.Blobs())
		}
	}
	d, _ := m.HistoryRetention(ctx)
	fmt.Fprintf(&b, "retention %v\n", d)
	return b.String()
}

func populate(f *fixture, n int) {
	f.t.Helper()
	cors := []store.CORSRule{{AllowedOrigins: []string{"https://social.example"}, AllowedMethods: []string{"GET"}}}
	if err := f.meta.SetHistoryRetention(ctx, time.Hour); err != nil {
		f.t.Fatal(err)
	}
	for _, b := range []string{"media", "versioned"} {
		bk := store.Bucket{Name: b, CORS: cors, ACL: store.ACL{Owner: store.Owner{ID: "o"}}}
		if b == "versioned" {
			bk.Versioning = store.VersioningEnabled
		}
		if err := f.meta.CreateBucket(ctx, bk); err != nil {
			f.t.Fatal(err)
		}
	}
	for i := range n {
		f.put("media", fmt.Sprintf("media_attachments/files/%03d/original.png", i), fmt.Sprintf("png-%d", i))
	}
	f.put("media", "accounts/avatars/1.png", "avatar-1")
	f.put("media", "accounts/avatars/1.png", "avatar-2")
	if _, _, err := f.meta.DeleteObject(ctx, "media", "media_attachments/files/000/original.png", ""); err != nil {
		f.t.Fatal(err)
	}
	f.put("versioned", "k", "v1")
	f.put("versioned", "k", "v2")
	if err := f.meta.UpdateBucket(ctx, "media", func(b *store.Bucket) error {
		b.CORS = append(b.CORS, store.CORSRule{AllowedOrigins: []string{"*"}, AllowedMethods: []string{"HEAD"}})
		return nil
	}); err != nil {
		f.t.Fatal(err)
	}
}

// TestRecoverFromHosters: the log of a populated database is shipped to
// real hosters; recovery with only the master secret rebuilds the same
// buckets, versions, hidden versions, ACLs, CORS rules and blob
// references, and every object reads back.
func TestRecoverFromHosters(t *testing.T) {
	h := newHosters(t, 3)
	f := newFixture(t, h, 0)
	if err := f.w.Sync(ctx); err != nil { // generation 0, empty snapshot
		t.Fatal(err)
	}
	populate(f, 40)
	if err := f.w.Sync(ctx); err != nil {
		t.Fatal(err)
	}
	if st := f.w.Status(); st.Pending != 0 || st.Shipped != st.Length || st.Length == 0 {
		t.Fatalf("status after sync %+v", st)
	}
	want := state(t, f.meta.Meta)

	// Another master secret finds nothing.
	if _, err := Recover(ctx, h.recoverConfig(secret.Generate(), t.TempDir())); !errors.Is(err, ErrNoLog) {
		t.Fatalf("recover with another secret: %v", err)
	}
	dir := t.TempDir()
	st, err := Recover(ctx, h.recoverConfig(f.master, dir))
	if err != nil {
		t.Fatal(err)
	}
	if st.Gen != 0 || st.Buckets != 2 || st.LogBytes == 0 {
		t.Fatalf("stats %+v", st)
	}
	// Each sync appended a short stripe (format v2), not k·B padded
	// bytes: the k cores fetched hold less than Length full stripes.
	if ws := f.w.Status(); st.LogBytes >= int64(ws.Length)*2*volume.BlockSize {
		t.Fatalf("the log's %d stripes took %d bytes of k=2 cores: padded, not short", ws.Length, st.LogBytes)
	}
	got, err := local.OpenMeta(filepath.Join(dir, "meta.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer got.Close()
	if s := state(t, got); s != want {
		t.Fatalf("recovered state:\n%s\nwant:\n%s", s, want)
	}
	// Objects read back (the blobs are the original store's files).
	for _, k := range []string{"media_attachments/files/007/original.png", "accounts/avatars/1.png"} {
		o, err := got.GetObject(ctx, "media", k, "")
		if err != nil {
			t.Fatal(err)
		}
		r, err := f.blobs.Open(ctx, o.Parts[0].Blob, 0, o.Size)
		if err != nil {
			t.Fatal(err)
		}
		data, _ := io.ReadAll(r)
		r.Close()
		if string(data) != o.ETag {
			t.Fatalf("%s reads %q", k, data)
		}
	}
	// The recovered database restores and writes as the original.
	if _, _, err := got.RestoreAt(ctx, "media", "", time.Now()); err != nil {
		t.Fatal(err)
	}
	if _, err := Recover(ctx, h.recoverConfig(f.master, dir)); err == nil {
		t.Fatal("recover over an existing database")
	}
}

// TestRecoverSurvivesLostAndForgedCores: with one of three hosters gone
// the log is rebuilt from the other two (k=2 of n=3); a hoster serving
// forged blocks is refused, never applied.
func TestRecoverSurvivesLostAndForgedCores(t *testing.T) {
	h := newHosters(t, 3)
	f := newFixture(t, h, 0)
	populate(f, 10)
	if err := f.w.Sync(ctx); err != nil {
		t.Fatal(err)
	}
	want := state(t, f.meta.Meta)
	// Hoster 0 (data core 0) is gone: the stripe is rebuilt from the
	// other two.
	h.srvs[0].Close()
	dir := t.TempDir()
	if _, err := Recover(ctx, h.recoverConfig(f.master, dir)); err != nil {
		t.Fatal(err)
	}
	got, _ := local.OpenMeta(filepath.Join(dir, "meta.db"))
	if s := state(t, got); s != want {
		t.Fatalf("recovered with a hoster lost:\n%s\nwant:\n%s", s, want)
	}
	got.Close()
	// Hoster 1 now serves a forged block: its core is refused, and with
	// hoster 0 gone only one core is left: recovery fails loudly.
	h.srvs[1].Config.Handler = forger(h.srvs[1].Config.Handler)
	_, err := Recover(ctx, h.recoverConfig(f.master, t.TempDir()))
	if err == nil || !strings.Contains(err.Error(), "signature") {
		t.Fatalf("recover from a forged core: %v", err)
	}
}

// forger flips a byte of every block list it serves.
func forger(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !strings.HasSuffix(r.URL.Path, "/blocks") || r.Method != http.MethodGet {
			next.ServeHTTP(w, r)
			return
		}
		rec := httptest.NewRecorder()
		next.ServeHTTP(rec, r)
		body := rec.Body.Bytes()
		if len(body) > 0 {
			body[len(body)-1] ^= 0xff
		}
		for k, v := range rec.Header() {
			w.Header()[k] = v
		}
		w.WriteHeader(rec.Code)
		w.Write(body)
	})
}

// TestRotationAndRestart: a generation whose writes grew past RotateBytes
// and its snapshot starts the next with a snapshot; marks made before a
// crash (no sync) are shipped after the restart; recovery reads the
// newest generation.
func TestRotationAndRestart(t *testing.T) {
	h := newHosters(t, 3)
	f := newFixture(t, h, 1)              // a sync that writes more than the snapshot rotates
	if err := f.w.Sync(ctx); err != nil { // nothing to log: no generation
		t.Fatal(err)
	}
	if err := f.meta.CreateBucket(ctx, store.Bucket{Name: "first"}); err != nil {
		t.Fatal(err)
	}
	if err := f.w.Sync(ctx); err != nil { // generation 0: the bucket's snapshot
		t.Fatal(err)
	}
	populate(f, 5)
	if err := f.w.Sync(ctx); err != nil {
		t.Fatal(err)
	}
	if g := f.w.Status().Gen; g != 1 {
		t.Fatalf("generation %d after a sync past RotateBytes, want 1", g)
	}
	// Changes marked and committed, then a "crash": no sync.
	f.put("media", "cache/after-crash.png", "late")
	f.close()
	if n := countMarks(t, f.dir); n == 0 {
		t.Fatal("no journal mark survived the crash")
	}
	f.open(1 << 30)
	if err := f.w.Sync(ctx); err != nil {
		t.Fatal(err)
	}
	if g := f.w.Status().Gen; g != 1 {
		t.Fatalf("restart changed generation to %d", g)
	}
	want := state(t, f.meta.Meta)
	dir := t.TempDir()
	st, err := Recover(ctx, h.recoverConfig(f.master, dir))
	if err != nil {
		t.Fatal(err)
	}
	if st.Gen != 1 {
		t.Fatalf("recovered generation %d", st.Gen)
	}
	got, _ := local.OpenMeta(filepath.Join(dir, "meta.db"))
	defer got.Close()
	if s := state(t, got); s != want {
		t.Fatalf("recovered:\n%s\nwant:\n%s", s, want)
	}
	if !strings.Contains(want, "cache/after-crash.png") {
		t.Fatal("state lacks the write made before the crash")
	}
	// The recovered gateway's log continues above every generation.
	if hi, ok, _ := readUint(filepath.Join(dir, "metalog", "highest")); !ok || hi != 1 {
		t.Fatalf("highest generation after recovery %d %v", hi, ok)
	}
}

func countMarks(t *testing.T, dir string) int {
	m, err := local.OpenMeta(filepath.Join(dir, "meta.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	n, err := m.JournalLen(ctx)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// TestFramesRefuseTampering: a frame moved to another offset, or opened
// with another key, does not decode.
func TestFramesRefuseTampering(t *testing.T) {
	a, _ := newAEAD(secret.MetalogKey(secret.Generate()))
	b, _ := newAEAD(secret.MetalogKey(secret.Generate()))
	id := []byte("volume-id-16byte")
	f, err := sealFrame(a, id, 128, &body{Kind: kindChanges, Changes: []local.Change{{Kind: local.MarkBucket, Bucket: "x", Record: []byte(`{}`)}}})
	if err != nil {
		t.Fatal(err)
	}
	if got, err := openFrame(a, id, 128, f[8:]); err != nil || got.Changes[0].Bucket != "x" {
		t.Fatalf("open: %v", err)
	}
	for name, fn := range map[string]func() error{
		"other offset": func() error { _, err := openFrame(a, id, 0, f[8:]); return err },
		"other key":    func() error { _, err := openFrame(b, id, 128, f[8:]); return err },
		"other volume": func() error { _, err := openFrame(a, []byte("other"), 128, f[8:]); return err },
		"flipped byte": func() error {
			g := bytes.Clone(f[8:])
			g[40] ^= 1
			_, err := openFrame(a, id, 128, g)
			return err
		},
	} {
		if err := fn(); !errors.Is(err, ErrFrame) {
			t.Errorf("%s: %v", name, err)
		}
	}
	// A stream reader refuses garbage where a frame should start and a
	// frame that runs past the stream.
	stream := append(bytes.Repeat([]byte{0}, 0), []byte("XXXXXXXX")...)
	r := &streamReader{read: func(off, n int64) ([]byte, error) { return stream[off : off+n], nil }, size: int64(len(stream)), stripeSize: 64, aead: a, volID: id}
	if _, err := r.next(); !errors.Is(err, ErrFrame) {
		t.Fatalf("garbage: %v", err)
	}
	short := append([]byte(nil), f[:len(f)-1]...)
	r = &streamReader{read: func(off, n int64) ([]byte, error) { return short[off : off+n], nil }, size: int64(len(short)), stripeSize: 1 << 20, aead: a, volID: id}
	if _, err := r.next(); !errors.Is(err, ErrFrame) {
		t.Fatalf("truncated: %v", err)
	}
}

// flaky fails every ship while down is set.
type flaky struct {
	inner network.Shipper
	down  bool
}

func (f *flaky) Ship(ctx context.Context, v *network.Volume, length uint64) error {
	if f.down {
		return errors.New("hosters unreachable")
	}
	return f.inner.Ship(ctx, v, length)
}

// newFlakyFixture is a fixture whose log ships to three hosters through
// a flaky shipper (fl.down makes every sync fail).
func newFlakyFixture(t *testing.T) (*fixture, *hosters, *flaky) {
	t.Helper()
	h := newHosters(t, 3)
	fl := &flaky{inner: h}
	f := &fixture{t: t, master: secret.Generate(), dir: t.TempDir()}
	m, blobs, err := local.Open(ctx, f.dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	f.meta, f.blobs = NewJournaled(m), blobs
	if f.w, err = Open(Config{Dir: filepath.Join(f.dir, "metalog"), Master: f.master, Meta: f.meta, Shipper: fl}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(f.close)
	return f, h, fl
}

// TestShipFailureKeepsMarks: while the hosters cannot be reached a sync
// fails and keeps every mark; once they can, the same generation is
// shipped and recovery sees the changes.
func TestShipFailureKeepsMarks(t *testing.T) {
	f, h, fl := newFlakyFixture(t)
	if err := f.w.Sync(ctx); err != nil {
		t.Fatal(err)
	}
	fl.down = true
	populate(f, 3)
	if err := f.w.Sync(ctx); err == nil {
		t.Fatal("sync succeeded with the hosters down")
	}
	st := f.w.Status()
	if st.Pending == 0 || st.Shipped >= st.Length || st.Error == "" {
		t.Fatalf("status while down %+v", st)
	}
	fl.down = false
	if err := f.w.Sync(ctx); err != nil {
		t.Fatal(err)
	}
	if st := f.w.Status(); st.Pending != 0 || st.Shipped != st.Length || st.Gen != 0 {
		t.Fatalf("status after the hosters are back %+v", st)
	}
	want := state(t, f.meta.Meta)
	dir := t.TempDir()
	if _, err := Recover(ctx, h.recoverConfig(f.master, dir)); err != nil {
		t.Fatal(err)
	}
	got, _ := local.OpenMeta(filepath.Join(dir, "meta.db"))
	defer got.Close()
	if s := state(t, got); s != want {
		t.Fatalf("recovered:\n%s\nwant:\n%s", s, want)
	}
}

// TestShippedMark: the journaled store's ship watermark (what compaction
// waits for before it gives a volume up, network.ShipWatcher): a mark
// taken after changes commit is not shipped while the hosters cannot be
// reached (a sync fails), nor before a sync ran; it is once a sync
// succeeds. A mark taken later (newer changes) again waits for the next
// sync.
func TestShippedMark(t *testing.T) {
	f, _, fl := newFlakyFixture(t)
	populate(f, 2)
	mark, err := f.meta.CommitMark(ctx)
	if err != nil || mark == 0 {
		t.Fatalf("mark %d after changes: %v", mark, err)
	}
	if f.meta.Shipped(mark) {
		t.Fatal("shipped before any sync")
	}
	fl.down = true
	if err := f.w.Sync(ctx); err == nil {
		t.Fatal("sync succeeded with the hosters down")
	}
	if f.meta.Shipped(mark) {
		t.Fatal("shipped while the hosters were down")
	}
	fl.down = false
	if err := f.w.Sync(ctx); err != nil {
		t.Fatal(err)
	}
	if !f.meta.Shipped(mark) {
		t.Fatal("not shipped after a successful sync")
	}
	f.put("media", "later", "more")
	later, err := f.meta.CommitMark(ctx)
	if err != nil || later <= mark {
		t.Fatalf("mark %d after a newer change (was %d): %v", later, mark, err)
	}
	if f.meta.Shipped(later) {
		t.Fatal("a newer change counts as shipped before a sync")
	}
	if err := f.w.Sync(ctx); err != nil {
		t.Fatal(err)
	}
	if !f.meta.Shipped(later) {
		t.Fatal("the newer change is not shipped after a sync")
	}
}
