package network

import (
	"bytes"
	"crypto/rand"
	"path/filepath"
	"testing"

	"github.com/datdot/datdot/gateway/store"
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
