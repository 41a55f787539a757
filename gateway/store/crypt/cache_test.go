package crypt

import (
	"bytes"
	"errors"
	"io"
	"math/rand/v2"
	"os"
	"testing"

	"github.com/datdot/datdot/gateway/store"
)

func newCachedStore(t *testing.T, max int64) (*Blobs, string) {
	t.Helper()
	b, _, dir := newStore(t)
	b.Cache = NewCache(max)
	return b, dir
}

func write(t *testing.T, b *Blobs, data []byte) store.BlobRef {
	t.Helper()
	ref, err := store.WriteBlob(ctx, b, bytes.NewReader(data), int64(len(data)), nil)
	if err != nil {
		t.Fatal(err)
	}
	return ref
}

// spoil overwrites the stored bytes of ref: a read that reaches them
// fails its tags.
func spoil(t *testing.T, dir string, ref store.BlobRef) {
	t.Helper()
	p := blobFile(t, dir, ref)
	f, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	for i := range f {
		f[i] ^= 0x55
	}
	if err := os.WriteFile(p, f, 0o644); err != nil {
		t.Fatal(err)
	}
}

func openErr(b store.BlobStore, ref store.BlobRef) error {
	rc, err := b.Open(ctx, ref, 0, ref.Size)
	if err != nil {
		return err
	}
	defer rc.Close()
	_, err = io.ReadAll(rc)
	return err
}

// TestCacheServesWrites: a blob just written reads back from the cache
// of decrypted segments (its stored bytes are no longer needed: they are
// spoiled here), whole and in ranges; a verifying read skips the cache.
func TestCacheServesWrites(t *testing.T) {
	b, dir := newCachedStore(t, 1<<20)
	data := text(3*Segment + 77)
	ref := write(t, b, data)
	if got, want := b.Cache.Size(), int64(len(data)); got != want {
		t.Fatalf("cache holds %d bytes after the write, want %d", got, want)
	}
	spoil(t, dir, ref)
	if got := readRange(t, b, ref, 0, ref.Size); !bytes.Equal(got, data) {
		t.Fatal("cached read differs")
	}
	rng := rand.New(rand.NewPCG(1, 2))
	for range 50 {
		off := rng.Int64N(ref.Size)
		n := rng.Int64N(ref.Size - off + 1)
		if got := readRange(t, b, ref, off, n); !bytes.Equal(got, data[off:off+n]) {
			t.Fatalf("cached range %d+%d differs", off, n)
		}
	}
	rc, err := b.Open(store.WithVerify(ctx), ref, 0, ref.Size)
	if err == nil {
		_, err = io.ReadAll(rc)
		rc.Close()
	}
	if !errors.Is(err, ErrCorrupt) {
		t.Fatalf("verifying read of spoiled bytes: %v, want ErrCorrupt (the cache must not answer it)", err)
	}
}

// TestCacheFillsOnRead: a blob written without the cache is put in it by
// a read, and later reads need no stored bytes; a cache that lost some
// segments reads the rest from the store.
func TestCacheFillsOnRead(t *testing.T) {
	b, _, dir := newStore(t)
	data := text(5*Segment + 1)
	ref := write(t, b, data)
	cached, err := New(b.Inner, master(7))
	if err != nil {
		t.Fatal(err)
	}
	cached.Cache = NewCache(4 << 20)
	if got := readRange(t, cached, ref, 0, ref.Size); !bytes.Equal(got, data) {
		t.Fatal("read differs")
	}
	if cached.Cache.Size() != int64(len(data)) {
		t.Fatalf("cache holds %d bytes after a whole read, want %d", cached.Cache.Size(), len(data))
	}
	// Segments 3.. gone from the cache: 0-2 come from it, 3.. from the
	// store.
	for s := int64(3); s < 6; s++ {
		cached.Cache.c.Remove(segKey{ref.ID, s})
	}
	if got := readRange(t, cached, ref, 100, ref.Size-100); !bytes.Equal(got, data[100:]) {
		t.Fatal("read half from the cache differs")
	}
	spoil(t, dir, ref)
	if got := readRange(t, cached, ref, 0, ref.Size); !bytes.Equal(got, data) {
		t.Fatal("cached read differs")
	}
	// The store without the cache sees the spoiled bytes.
	if err := openErr(b, ref); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("uncached read of spoiled bytes: %v", err)
	}
}

// TestCacheDeleteAndOverwrite: deleting a blob drops its segments at
// once (its plaintext does not linger, and a read of it fails); a new
// blob under the same object key is another blob and reads its own
// bytes; an entry never answers for a blob sealed under another key.
func TestCacheDeleteAndOverwrite(t *testing.T) {
	b, _ := newCachedStore(t, 1<<20)
	old := text(2 * Segment)
	ref := write(t, b, old)
	other := write(t, b, text(100))
	if err := b.Delete(ctx, ref); err != nil {
		t.Fatal(err)
	}
	if got, want := b.Cache.Size(), int64(100); got != want {
		t.Fatalf("cache holds %d bytes after the delete, want %d (the other blob)", got, want)
	}
	if err := openErr(b, ref); err == nil {
		t.Fatal("a deleted blob reads")
	}
	newer := bytes.ToUpper(old)
	ref2 := write(t, b, newer)
	if got := readRange(t, b, ref2, 0, ref2.Size); !bytes.Equal(got, newer) {
		t.Fatal("the new blob reads other bytes")
	}
	if got := readRange(t, b, other, 0, other.Size); !bytes.Equal(got, text(100)) {
		t.Fatal("the other blob reads other bytes")
	}
	// Same id, another wrapped key (a blob id the store reused): miss.
	forged := ref2
	forged.Crypt = &store.BlobCrypt{Alg: Alg, Segment: Segment, Wrapped: other.Crypt.Wrapped}
	if p := b.Cache.get(forged.ID, string(forged.Crypt.Wrapped), 0); p != nil {
		t.Fatal("an entry answers for another key")
	}
}

// TestCacheBounds: the cache never holds more than its size, drops the
// least recently used segments first, and does not take blobs larger
// than a quarter of it.
func TestCacheBounds(t *testing.T) {
	max := int64(8 * Segment)
	b, dir := newCachedStore(t, max)
	big := write(t, b, text(3*Segment))
	if b.Cache.Size() != 0 {
		t.Fatalf("a blob of 3/8 of the cache was cached (%d bytes)", b.Cache.Size())
	}
	if got := readRange(t, b, big, 0, big.Size); !bytes.Equal(got, text(3*Segment)) || b.Cache.Size() != 0 {
		t.Fatalf("big blob: read wrong or cached (%d bytes)", b.Cache.Size())
	}
	var refs []store.BlobRef
	for i := range 12 {
		refs = append(refs, write(t, b, bytes.Repeat([]byte{byte(i)}, 2*Segment)))
		if s := b.Cache.Size(); s > max {
			t.Fatalf("cache holds %d bytes, at most %d", s, max)
		}
	}
	// The last four blobs are cached: their stored bytes are not needed.
	for i, ref := range refs {
		spoil(t, dir, ref)
		err := openErr(b, ref)
		if i >= 8 && err != nil {
			t.Fatalf("recent blob %d: %v", i, err)
		}
		if i < 8 && !errors.Is(err, ErrCorrupt) {
			t.Fatalf("old blob %d should have been dropped from the cache: %v", i, err)
		}
	}
	if NewCache(Segment-1) != nil {
		t.Fatal("a cache smaller than a segment")
	}
}
