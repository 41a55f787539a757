package network

import (
	"bytes"
	"context"
	"crypto/rand"
	"path/filepath"
	"testing"
	"time"

	"github.com/datdot/datdot/gateway/store"
	"github.com/datdot/datdot/gateway/store/crypt"
	"github.com/datdot/datdot/gateway/store/local"
	"github.com/datdot/datdot/volume"
)

func openMem(t *testing.T, blobMem, budget int64) *Blobs {
	t.Helper()
	dir := t.TempDir()
	meta, err := local.OpenMeta(filepath.Join(dir, "meta.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { meta.Close() })
	b, err := Open(Config{Dir: dir, Master: bytes.Repeat([]byte{1}, 32), Layout: volume.Layout{K: 2, M: 1},
		Journal: meta, BlobMemBytes: blobMem, MemBudgetBytes: budget})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.Close() })
	return b
}

func randBytes(n int) []byte {
	p := make([]byte, n)
	rand.Read(p)
	return p
}

// writeIn writes p in pieces of 65552 bytes (what crypt.Blobs hands on).
func writeIn(t *testing.T, w store.BlobWriter, p []byte) {
	t.Helper()
	for len(p) > 0 {
		k := min(len(p), 65552)
		if n, err := w.Write(p[:k]); err != nil || n != k {
			t.Fatalf("write: %d, %v", n, err)
		}
		p = p[k:]
	}
}

func commitAndCheck(t *testing.T, b *Blobs, w store.BlobWriter, want []byte) {
	t.Helper()
	ref, err := w.Commit(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if ref.Size != int64(len(want)) {
		t.Fatalf("size %d, want %d", ref.Size, len(want))
	}
	if got := read(t, b, ref); !bytes.Equal(got, want) {
		t.Fatal("blob read back differs")
	}
}

// TestMemBudgetSpills: a writer that finds the store's memory budget used
// up by another spools to disk, and both blobs read back byte-identical;
// committed writers give all their memory back.
func TestMemBudgetSpills(t *testing.T) {
	b := openMem(t, 0, 2*chunkSize)
	big, small := randBytes(chunkSize+1), randBytes(3*chunkSize+5)
	w1, _ := b.Create(ctx)
	writeIn(t, w1, big)
	if got := b.MemInUse(); got != 2*chunkSize {
		t.Fatalf("memory in use %d, want %d", got, 2*chunkSize)
	}
	if w1.(*writer).buf.spooled() {
		t.Fatal("a blob within the budget was spooled")
	}
	w2, _ := b.Create(ctx)
	writeIn(t, w2, small)
	if !w2.(*writer).buf.spooled() {
		t.Fatal("a blob beyond the budget stayed in memory")
	}
	commitAndCheck(t, b, w2, small)
	commitAndCheck(t, b, w1, big)
	if got := b.MemInUse(); got != 0 {
		t.Fatalf("memory in use after commits: %d", got)
	}
	// Once given back, the budget serves the next writer again.
	w3, _ := b.Create(ctx)
	writeIn(t, w3, small[:chunkSize])
	if w3.(*writer).buf.spooled() {
		t.Fatal("the budget was not given back")
	}
	commitAndCheck(t, b, w3, small[:chunkSize])
}

// TestBlobMemBoundSpills: a blob larger than BlobMemBytes moves to a
// spool (its memory given back at once) and reads back byte-identical;
// negative bounds keep nothing in memory.
func TestBlobMemBoundSpills(t *testing.T) {
	b := openMem(t, 2*chunkSize, 0)
	data := randBytes(5*chunkSize + 123)
	w, _ := b.Create(ctx)
	writeIn(t, w, data[:2*chunkSize])
	if w.(*writer).buf.spooled() || b.MemInUse() != 2*chunkSize {
		t.Fatalf("a blob at its bound: spooled %v, memory %d", w.(*writer).buf.spooled(), b.MemInUse())
	}
	writeIn(t, w, data[2*chunkSize:])
	if !w.(*writer).buf.spooled() || b.MemInUse() != 0 {
		t.Fatalf("a blob beyond its bound: spooled %v, memory %d", w.(*writer).buf.spooled(), b.MemInUse())
	}
	commitAndCheck(t, b, w, data)

	nb := openMem(t, -1, -1)
	w, _ = nb.Create(ctx)
	writeIn(t, w, data[:10])
	if !w.(*writer).buf.spooled() || nb.MemInUse() != 0 {
		t.Fatal("negative bounds kept a blob in memory")
	}
	commitAndCheck(t, nb, w, data[:10])
}

// TestAbortGivesMemoryBack: aborted writers, in memory or spooled, give
// their budget back, and a finished writer takes no more bytes.
func TestAbortGivesMemoryBack(t *testing.T) {
	b := openMem(t, 4*chunkSize, 0)
	w1, _ := b.Create(ctx)
	writeIn(t, w1, randBytes(chunkSize+7))
	w2, _ := b.Create(ctx)
	writeIn(t, w2, randBytes(5*chunkSize))
	if b.MemInUse() != 2*chunkSize {
		t.Fatalf("memory in use %d, want %d", b.MemInUse(), 2*chunkSize)
	}
	w1.Abort()
	w2.Abort()
	w1.Abort() // twice is harmless
	if got := b.MemInUse(); got != 0 {
		t.Fatalf("memory in use after aborts: %d", got)
	}
	if _, err := w1.Write([]byte("x")); err == nil {
		t.Fatal("write to an aborted blob succeeded")
	}
	if _, err := w2.Commit(ctx); err == nil {
		t.Fatal("commit of an aborted blob succeeded")
	}
	if got := b.MemInUse(); got != 0 {
		t.Fatalf("memory in use: %d", got)
	}
}

// TestSpoolFailure: a spool that cannot be created fails the write with
// an error; the blob is aborted and its memory given back.
func TestSpoolFailure(t *testing.T) {
	b := openMem(t, chunkSize, 0)
	b.cfg.Dir = filepath.Join(t.TempDir(), "missing", "dir")
	w, _ := b.Create(ctx)
	writeIn(t, w, randBytes(chunkSize))
	if _, err := w.Write(randBytes(10)); err == nil {
		t.Fatal("a write that needed a spool that cannot be created succeeded")
	}
	w.Abort()
	if got := b.MemInUse(); got != 0 {
		t.Fatalf("memory in use after abort: %d", got)
	}
}

// gateShipper holds every Ship until release is closed.
type gateShipper struct{ release chan struct{} }

func (g *gateShipper) Ship(ctx context.Context, _ *Volume, _ uint64) error {
	select {
	case <-g.release:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// TestMemoryBackBeforeDurable: a committing blob gives its memory back
// once it is in the volume's stream, while it still waits for its stripes
// to be shipped.
func TestMemoryBackBeforeDurable(t *testing.T) {
	g := &gateShipper{release: make(chan struct{})}
	b, _ := open(t, g)
	data := randBytes(chunkSize + 99)
	w, _ := b.Create(ctx)
	writeIn(t, w, data)
	if b.MemInUse() != 2*chunkSize {
		t.Fatalf("memory in use %d, want %d", b.MemInUse(), 2*chunkSize)
	}
	type result struct {
		ref store.BlobRef
		err error
	}
	done := make(chan result, 1)
	go func() {
		ref, err := w.Commit(ctx)
		done <- result{ref, err}
	}()
	deadline := time.Now().Add(30 * time.Second)
	for b.MemInUse() != 0 {
		if time.Now().After(deadline) {
			t.Fatalf("memory still in use while the blob waits: %d", b.MemInUse())
		}
		time.Sleep(5 * time.Millisecond)
	}
	select {
	case r := <-done:
		t.Fatalf("commit returned before its stripes were shipped: %+v", r)
	default:
	}
	close(g.release)
	r := <-done
	if r.err != nil {
		t.Fatal(r.err)
	}
	if got := read(t, b, r.ref); !bytes.Equal(got, data) {
		t.Fatal("blob read back differs")
	}
}

// TestRecycledBlocksKeepCache: with the cache on, the data blocks the
// cache holds are never recycled into later stripes (every read is served
// from the cache, byte-identical); with it off, every block is recycled
// and the hosters still hold the right bytes.
func TestRecycledBlocksKeepCache(t *testing.T) {
	net := testHosters(t, 3)
	c, vols := openRemote(t, net, 64<<20, RemoteConfig{})
	ws := append(writeSome(t, c), writeSome(t, c)...)
	hits := func() (n int64) {
		for _, h := range net.hosters {
			n += h.hits.Load()
		}
		return n
	}
	before := hits()
	checkAll(t, ctx, c, ws, "cache on")
	if got := hits() - before; got != 0 {
		t.Fatalf("%d block requests to hosters: the reads were not served from the cache", got)
	}
	if vols.CacheSize() == 0 {
		t.Fatal("nothing cached")
	}

	net2 := testHosters(t, 3)
	c2, _ := openRemote(t, net2, 0, RemoteConfig{})
	ws2 := append(writeSome(t, c2), writeSome(t, c2)...)
	checkAll(t, ctx, c2, ws2, "cache off")
}

// TestReserveMixedWithWrite: bytes reserved and filled in place and bytes
// written form one contiguous blob in order; a reservation that does not
// fit the chunk is refused (the caller writes instead) and none is given
// once the blob is spooled or finished.
func TestReserveMixedWithWrite(t *testing.T) {
	b := openMem(t, 2*chunkSize, 0)
	w, _ := b.Create(ctx)
	nw := w.(*writer)
	var want []byte
	put := func(p []byte) {
		want = append(want, p...)
		writeIn(t, w, p)
	}
	reserve := func(n int) bool {
		dst := nw.Reserve(n)
		if dst == nil {
			return false
		}
		if len(dst) != n {
			t.Fatalf("reserved %d bytes, asked %d", len(dst), n)
		}
		p := randBytes(n)
		copy(dst, p)
		want = append(want, p...)
		return true
	}
	put(randBytes(100))
	for i := range 3 {
		if !reserve(65536) {
			t.Fatalf("reservation %d refused", i)
		}
	}
	if reserve(65536) {
		t.Fatal("a reservation beyond the chunk was given (a gap in the blob)")
	}
	put(randBytes(65536)) // fills the chunk and starts the next
	if reserve(chunkSize + 1) {
		t.Fatal("a reservation larger than a chunk was given")
	}
	if !reserve(1000) {
		t.Fatal("a reservation that fits was refused")
	}
	put(randBytes(2 * chunkSize)) // beyond the bound: spooled
	if !nw.buf.spooled() {
		t.Fatal("not spooled")
	}
	if reserve(10) {
		t.Fatal("a reservation was given for a spooled blob")
	}
	put(randBytes(10))
	commitAndCheck(t, b, w, want)
	if w.(*writer).Reserve(10) != nil {
		t.Fatal("a reservation was given for a finished blob")
	}
	if b.MemInUse() != 0 {
		t.Fatalf("memory in use: %d", b.MemInUse())
	}
}

// TestCryptSealsInPlaceThenSpills: through crypt.Blobs, segments sealed
// into the blob's memory and, past the blob's bound, written to its spool
// read back as the plaintext; so does a blob under an exhausted budget.
func TestCryptSealsInPlaceThenSpills(t *testing.T) {
	b := openMem(t, 2*chunkSize, 3*chunkSize)
	c, err := crypt.New(b, testMaster)
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range []int{1, crypt.Segment, 3*crypt.Segment + 1, 1<<20 + 5} {
		data := randBytes(n)
		ref, err := store.WriteBlob(ctx, c, bytes.NewReader(data), int64(n), nil)
		if err != nil {
			t.Fatal(err)
		}
		if got, err := readAll(ctx, c, ref, 0, ref.Size); err != nil || !bytes.Equal(got, data) {
			t.Fatalf("%d bytes: read back differs (%v)", n, err)
		}
	}
	// Another writer holds most of the budget.
	hog, _ := b.Create(ctx)
	writeIn(t, hog, randBytes(2*chunkSize))
	data := randBytes(2<<20 + 3)
	ref, err := store.WriteBlob(ctx, c, bytes.NewReader(data), int64(len(data)), nil)
	if err != nil {
		t.Fatal(err)
	}
	if got, err := readAll(ctx, c, ref, 0, ref.Size); err != nil || !bytes.Equal(got, data) {
		t.Fatalf("under a used-up budget: read back differs (%v)", err)
	}
	hog.Abort()
	if b.MemInUse() != 0 {
		t.Fatalf("memory in use: %d", b.MemInUse())
	}
}
