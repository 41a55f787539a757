package crypt

import (
	"bytes"
	"context"
	"errors"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"

	"github.com/datdot/datdot/gateway/store"
	"github.com/datdot/datdot/gateway/store/local"
)

var ctx = context.Background()

func master(b byte) []byte { return bytes.Repeat([]byte{b}, 32) }

// algs are the segment schemes: every test of stored bytes runs for both.
var algs = []string{AlgAESGCM, AlgXChaCha}

// newStore returns an encrypting store over a local one in a temporary
// directory, writing the default scheme.
func newStore(t *testing.T) (*Blobs, *local.Blobs, string) {
	return newStoreAlg(t, "")
}

// newStoreAlg is newStore writing blobs in scheme alg.
func newStoreAlg(t *testing.T, alg string) (*Blobs, *local.Blobs, string) {
	t.Helper()
	dir := t.TempDir()
	inner, err := local.OpenBlobs(dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	b, err := New(inner, master(7))
	if err != nil {
		t.Fatal(err)
	}
	b.alg = alg
	return b, inner, dir
}

// text is recognisable plaintext: no 16-byte window repeats by chance in
// ciphertext.
func text(n int) []byte {
	line := []byte("the quick brown fox jumps over the lazy dog 0123456789\n")
	out := make([]byte, 0, n+len(line))
	for len(out) < n {
		out = append(out, line...)
	}
	return out[:n]
}

func readRange(t *testing.T, b store.BlobStore, ref store.BlobRef, off, n int64) []byte {
	t.Helper()
	rc, err := b.Open(ctx, ref, off, n)
	if err != nil {
		t.Fatalf("open %d+%d: %v", off, n, err)
	}
	defer rc.Close()
	got, err := io.ReadAll(rc)
	if err != nil {
		t.Fatalf("read %d+%d: %v", off, n, err)
	}
	return got
}

func blobFile(t *testing.T, dir string, ref store.BlobRef) string {
	return filepath.Join(dir, "blobs", ref.ID[:2], ref.ID)
}

// TestRoundTrip: blobs of sizes around segment boundaries, in either
// scheme, read back whole and in ranges; the stored file is the documented
// size and holds no plaintext.
func TestRoundTrip(t *testing.T) {
	for _, alg := range algs {
		t.Run(alg, func(t *testing.T) { testRoundTrip(t, alg) })
	}
}

func testRoundTrip(t *testing.T, alg string) {
	b, _, dir := newStoreAlg(t, alg)
	rng := rand.New(rand.NewPCG(5, 6))
	for _, size := range []int{0, 1, Segment - 1, Segment, Segment + 1, 3*Segment + 5} {
		data := text(size)
		ref, err := store.WriteBlob(ctx, b, bytes.NewReader(data), int64(size), nil)
		if err != nil {
			t.Fatal(err)
		}
		if ref.Size != int64(size) || ref.Stored != StoredSize(int64(size)) || ref.Crypt == nil || ref.Crypt.Alg != alg {
			t.Fatalf("size %d: ref %+v", size, ref)
		}
		stored, err := os.ReadFile(blobFile(t, dir, ref))
		if err != nil {
			t.Fatal(err)
		}
		if int64(len(stored)) != ref.Stored {
			t.Fatalf("size %d: %d bytes stored, want %d", size, len(stored), ref.Stored)
		}
		if size >= 16 && bytes.Contains(stored, data[:16]) {
			t.Fatalf("size %d: plaintext in the stored file", size)
		}
		if got := readRange(t, b, ref, 0, int64(size)); !bytes.Equal(got, data) {
			t.Fatalf("size %d: whole read differs", size)
		}
		for range 30 {
			if size == 0 {
				break
			}
			off := rng.Int64N(int64(size))
			n := rng.Int64N(int64(size) - off + 1)
			if got := readRange(t, b, ref, off, n); !bytes.Equal(got, data[off:off+n]) {
				t.Fatalf("size %d: range %d+%d differs", size, off, n)
			}
		}
	}
}

// TestTamper: in either scheme, a flipped bit, a truncated file, swapped
// segments, a segment of another blob, metadata naming the other scheme,
// another master secret or a bad scheme all fail with an error, never
// wrong bytes.
func TestTamper(t *testing.T) {
	for _, alg := range algs {
		t.Run(alg, func(t *testing.T) { testTamper(t, alg) })
	}
}

func testTamper(t *testing.T, alg string) {
	b, inner, dir := newStoreAlg(t, alg)
	data := text(3 * Segment)
	write := func() store.BlobRef {
		ref, err := store.WriteBlob(ctx, b, bytes.NewReader(data), -1, nil)
		if err != nil {
			t.Fatal(err)
		}
		return ref
	}
	readErr := func(ref store.BlobRef, bs store.BlobStore) error {
		rc, err := bs.Open(ctx, ref, 0, ref.Size)
		if err != nil {
			return err
		}
		defer rc.Close()
		_, err = io.ReadAll(rc)
		return err
	}
	// Flipped bit in segment 1: the range in segment 0 still reads.
	ref := write()
	p := blobFile(t, dir, ref)
	f, _ := os.ReadFile(p)
	f[sealedSegment+100] ^= 1
	os.WriteFile(p, f, 0o644)
	if err := readErr(ref, b); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("flipped bit: %v", err)
	}
	if got := readRange(t, b, ref, 10, 100); !bytes.Equal(got, data[10:110]) {
		t.Fatal("undamaged segment unreadable")
	}
	// Swapped segments.
	ref = write()
	p = blobFile(t, dir, ref)
	f, _ = os.ReadFile(p)
	sw := append(append(append([]byte(nil), f[sealedSegment:2*sealedSegment]...), f[:sealedSegment]...), f[2*sealedSegment:]...)
	os.WriteFile(p, sw, 0o644)
	if err := readErr(ref, b); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("swapped segments: %v", err)
	}
	// Truncated to whole segments: the last kept segment is not final.
	ref = write()
	p = blobFile(t, dir, ref)
	os.Truncate(p, 2*sealedSegment)
	if err := readErr(ref, b); err == nil {
		t.Fatal("truncated blob read without error")
	}
	short := ref
	short.Size = 2 * Segment // metadata lying about the length
	os.WriteFile(p, f[:2*sealedSegment], 0o644)
	if err := readErr(short, b); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("blob cut at a segment boundary: %v", err)
	}
	// The same segment of another blob (another key) put in its place.
	ref = write()
	ref2 := write()
	p = blobFile(t, dir, ref)
	f, _ = os.ReadFile(p)
	f2, _ := os.ReadFile(blobFile(t, dir, ref2))
	copy(f[sealedSegment:2*sealedSegment], f2[sealedSegment:2*sealedSegment])
	os.WriteFile(p, f, 0o644)
	if err := readErr(ref, b); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("segment of another blob: %v", err)
	}
	// The metadata names the other scheme: the key unwraps, no tag holds.
	ref = write()
	relabelled := ref
	relabelled.Crypt = &store.BlobCrypt{Alg: AlgXChaCha, Segment: Segment, Wrapped: ref.Crypt.Wrapped}
	if alg == AlgXChaCha {
		relabelled.Crypt.Alg = AlgAESGCM
	}
	if err := readErr(relabelled, b); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("metadata naming the other scheme: %v", err)
	}
	// Another master secret.
	ref = write()
	other, _ := New(inner, master(8))
	if err := readErr(ref, other); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("other master secret: %v", err)
	}
	// A bad scheme.
	bad := ref
	bad.Crypt = &store.BlobCrypt{Alg: "rot13", Segment: Segment, Wrapped: ref.Crypt.Wrapped}
	if err := readErr(bad, b); !errors.Is(err, ErrScheme) {
		t.Fatalf("unknown scheme: %v", err)
	}
	bad.Crypt = &store.BlobCrypt{Alg: alg, Segment: 4096, Wrapped: ref.Crypt.Wrapped}
	if err := readErr(bad, b); !errors.Is(err, ErrScheme) {
		t.Fatalf("unknown segment size: %v", err)
	}
	bad.Crypt = &store.BlobCrypt{Alg: alg, Segment: Segment}
	if err := readErr(bad, b); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("no wrapped key: %v", err)
	}
	if _, err := New(inner, make([]byte, 31)); err == nil {
		t.Fatal("31-byte master secret accepted")
	}
}

// TestAbortLeavesNothing: an aborted or failed write leaves no file.
func TestAbortLeavesNothing(t *testing.T) {
	b, _, dir := newStore(t)
	if _, err := store.WriteBlob(ctx, b, bytes.NewReader(text(Segment*2)), 5, nil); !errors.Is(err, store.ErrSizeMismatch) {
		t.Fatalf("size mismatch: %v", err)
	}
	w, err := b.Create(ctx)
	if err != nil {
		t.Fatal(err)
	}
	w.Write(text(100))
	w.Abort()
	n := 0
	filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			n++
		}
		return nil
	})
	if n != 0 {
		t.Fatalf("%d files left", n)
	}
}

// TestWritePieces: however the plaintext is cut into writes (byte by
// byte, around segment bounds, all at once: segments sealed from the
// caller's slice or from the writer's buffer), the blob reads back the
// same and stores the same number of bytes; a finished writer takes no
// more writes.
func TestWritePieces(t *testing.T) {
	b, _, _ := newStore(t)
	data := text(3*Segment + 5)
	for _, piece := range []int{1, 1000, Segment - 1, Segment, Segment + 1, 2*Segment + 3, len(data)} {
		w, err := b.Create(ctx)
		if err != nil {
			t.Fatal(err)
		}
		for off := 0; off < len(data); off += piece {
			if n, err := w.Write(data[off:min(off+piece, len(data))]); err != nil || n != min(piece, len(data)-off) {
				t.Fatalf("piece %d: write %d, %v", piece, n, err)
			}
		}
		ref, err := w.Commit(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if ref.Size != int64(len(data)) || ref.Stored != StoredSize(int64(len(data))) {
			t.Fatalf("piece %d: ref %+v", piece, ref)
		}
		if got := readRange(t, b, ref, 0, ref.Size); !bytes.Equal(got, data) {
			t.Fatalf("piece %d: read back differs", piece)
		}
		if _, err := w.Write([]byte("x")); err == nil {
			t.Fatalf("piece %d: write after commit succeeded", piece)
		}
		if _, err := w.Commit(ctx); err == nil {
			t.Fatalf("piece %d: second commit succeeded", piece)
		}
	}
	w, _ := b.Create(ctx)
	w.Write(text(10))
	w.Abort()
	if _, err := w.Write([]byte("x")); err == nil {
		t.Fatal("write after abort succeeded")
	}
}
