package crypt

import (
	"bytes"
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"sync"
	"testing"

	"golang.org/x/crypto/chacha20poly1305"

	"github.com/datdot/datdot/gateway/store"
)

// formatVectors pin the stored bytes of each scheme: the SHA-256 of a
// blob of text(2*Segment+100) sealed under the key 00 01 02 ... 1f. The
// XChaCha20-Poly1305 one was computed by the code that wrote that scheme
// before AES-GCM existed, so blobs written then still read the same.
var formatVectors = map[string]string{
	AlgAESGCM:  "53642841fe853b82ad62f1e079f231564b7119cc3e3e9761cf6387acd68d9d09",
	AlgXChaCha: "3b3cac42d9527f5f8595ad03e67b590b6cc6a02a9795efcf84a036bdb7feae84",
}

func vectorKey() []byte {
	key := make([]byte, keySize)
	for i := range key {
		key[i] = byte(i)
	}
	return key
}

// openDocumented opens stored segments as the package comment describes
// the scheme, with the plain AEADs: the comment is the format.
func openDocumented(t *testing.T, alg string, key, stored []byte, size int) []byte {
	t.Helper()
	var aead cipher.AEAD
	switch alg {
	case AlgAESGCM:
		block, err := aes.NewCipher(key)
		if err != nil {
			t.Fatal(err)
		}
		if aead, err = cipher.NewGCM(block); err != nil {
			t.Fatal(err)
		}
	case AlgXChaCha:
		var err error
		if aead, err = chacha20poly1305.NewX(key); err != nil {
			t.Fatal(err)
		}
	}
	segs := (size + Segment - 1) / Segment
	var plain []byte
	for i := range segs {
		seg := stored[i*sealedSegment : min((i+1)*sealedSegment, len(stored))]
		flag := byte(0)
		if i == segs-1 {
			flag = 1
		}
		var nonce, ad []byte
		if alg == AlgAESGCM {
			nonce = append(binary.BigEndian.AppendUint64(nil, uint64(i)), 0, 0, 0, flag)
		} else {
			nonce = binary.BigEndian.AppendUint64(make([]byte, 16), uint64(i))
			ad = append(binary.BigEndian.AppendUint64(nil, uint64(i)), flag)
		}
		p, err := aead.Open(nil, nonce, seg, ad)
		if err != nil {
			t.Fatalf("%s: segment %d does not open as documented: %v", alg, i, err)
		}
		plain = append(plain, p...)
	}
	return plain
}

// TestFormatVector: under a fixed key, each scheme stores exactly the
// pinned bytes, which open segment by segment as the package comment says.
// A change of the format fails here instead of leaving stored blobs
// unreadable.
func TestFormatVector(t *testing.T) {
	for _, alg := range algs {
		t.Run(alg, func(t *testing.T) {
			b, _, dir := newStoreAlg(t, alg)
			data := text(2*Segment + 100)
			w, err := b.create(ctx, vectorKey())
			if err != nil {
				t.Fatal(err)
			}
			if _, err := w.Write(data); err != nil {
				t.Fatal(err)
			}
			ref, err := w.Commit(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if ref.Crypt.Alg != alg || ref.Crypt.Segment != Segment {
				t.Fatalf("recorded scheme %+v", ref.Crypt)
			}
			stored, err := os.ReadFile(blobFile(t, dir, ref))
			if err != nil {
				t.Fatal(err)
			}
			if int64(len(stored)) != StoredSize(int64(len(data))) {
				t.Fatalf("%d bytes stored, want %d", len(stored), StoredSize(int64(len(data))))
			}
			sum := sha256.Sum256(stored)
			if got := hex.EncodeToString(sum[:]); got != formatVectors[alg] {
				t.Errorf("stored bytes' SHA-256 %s, want %s", got, formatVectors[alg])
			}
			if !bytes.Equal(openDocumented(t, alg, vectorKey(), stored, len(data)), data) {
				t.Fatal("documented decryption differs from the plaintext")
			}
			if !bytes.Equal(readRange(t, b, ref, 0, ref.Size), data) {
				t.Fatal("read back differs")
			}
		})
	}
}

// TestDefaultScheme: a store as New returns it writes AES-256-GCM, and two
// blobs never share a key (their wrapped keys differ, and the same
// plaintext is stored as different bytes).
func TestDefaultScheme(t *testing.T) {
	b, _, dir := newStore(t)
	data := text(Segment + 10)
	var stored [2][]byte
	var wrapped [2][]byte
	for i := range 2 {
		ref, err := store.WriteBlob(ctx, b, bytes.NewReader(data), -1, nil)
		if err != nil {
			t.Fatal(err)
		}
		if ref.Crypt.Alg != AlgAESGCM || Alg != AlgAESGCM {
			t.Fatalf("new blob written as %q", ref.Crypt.Alg)
		}
		wrapped[i] = ref.Crypt.Wrapped
		if stored[i], err = os.ReadFile(blobFile(t, dir, ref)); err != nil {
			t.Fatal(err)
		}
	}
	if bytes.Equal(wrapped[0], wrapped[1]) || bytes.Equal(stored[0][:64], stored[1][:64]) {
		t.Fatal("two blobs sealed under the same key")
	}
}

// TestOldSchemeStillReads: blobs written in the XChaCha20-Poly1305 scheme
// (by the writer in that mode, as before AES-GCM became the default) read
// back whole and in ranges through a store that writes AES-GCM, next to
// blobs of the new scheme; deleting them works too.
func TestOldSchemeStillReads(t *testing.T) {
	old, inner, _ := newStoreAlg(t, AlgXChaCha)
	sizes := []int{1, Segment, Segment + 1, 3*Segment + 5}
	var refs []store.BlobRef
	for _, size := range sizes {
		ref, err := store.WriteBlob(ctx, old, bytes.NewReader(text(size)), int64(size), nil)
		if err != nil {
			t.Fatal(err)
		}
		if ref.Crypt.Alg != AlgXChaCha {
			t.Fatalf("old-scheme store wrote %q", ref.Crypt.Alg)
		}
		refs = append(refs, ref)
	}
	b, err := New(inner, master(7))
	if err != nil {
		t.Fatal(err)
	}
	newRef, err := store.WriteBlob(ctx, b, bytes.NewReader(text(Segment+1)), -1, nil)
	if err != nil {
		t.Fatal(err)
	}
	if newRef.Crypt.Alg != AlgAESGCM {
		t.Fatalf("new store wrote %q", newRef.Crypt.Alg)
	}
	for i, ref := range refs {
		data := text(sizes[i])
		if got := readRange(t, b, ref, 0, ref.Size); !bytes.Equal(got, data) {
			t.Fatalf("old blob of %d bytes reads back differently", sizes[i])
		}
		off, n := ref.Size/3, ref.Size/2
		if got := readRange(t, b, ref, off, n); !bytes.Equal(got, data[off:off+n]) {
			t.Fatalf("old blob of %d bytes: range %d+%d differs", sizes[i], off, n)
		}
	}
	if got := readRange(t, b, newRef, 0, newRef.Size); !bytes.Equal(got, text(Segment+1)) {
		t.Fatal("new blob reads back differently")
	}
	if err := b.Delete(ctx, refs...); err != nil {
		t.Fatal(err)
	}
	if _, err := b.Open(ctx, refs[1], 0, refs[1].Size); err == nil {
		t.Fatal("deleted old blob still opens")
	}
}

// TestNoAllocPerSegment: sealing and opening a segment with AES-GCM, and
// writing or reading a segment of a blob (cache off), allocate nothing.
func TestNoAllocPerSegment(t *testing.T) {
	s, err := newSegAEAD(AlgAESGCM, vectorKey())
	if err != nil {
		t.Fatal(err)
	}
	plain := text(Segment)
	sealed := make([]byte, 0, sealedSegment)
	out := make([]byte, 0, Segment)
	var i int64
	if n := testing.AllocsPerRun(50, func() {
		sealed = s.seal(sealed[:0], plain, i, false)
		out, err = s.open(out[:0], sealed, i, false)
		i++
	}); n != 0 || err != nil {
		t.Fatalf("%v allocations per segment sealed and opened (%v)", n, err)
	}

	mem := newMemStore(200 * sealedSegment)
	b, err := New(mem, master(7))
	if err != nil {
		t.Fatal(err)
	}
	w, err := b.Create(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if n := testing.AllocsPerRun(100, func() { w.Write(plain) }); n != 0 {
		t.Fatalf("%v allocations per segment written", n)
	}
	ref, err := w.Commit(ctx)
	if err != nil {
		t.Fatal(err)
	}
	rc, err := b.Open(ctx, ref, 0, ref.Size)
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	buf := make([]byte, Segment)
	if n := testing.AllocsPerRun(50, func() {
		if _, err = io.ReadFull(rc, buf); err == nil && !bytes.Equal(buf, plain) {
			err = errors.New("wrong bytes")
		}
	}); n != 0 || err != nil {
		t.Fatalf("%v allocations per segment read (%v)", n, err)
	}
}

// TestReadAfterClose: a closed reader (whose segment buffer went back to
// the pool) returns an error, not bytes.
func TestReadAfterClose(t *testing.T) {
	b, _, _ := newStore(t)
	ref, err := store.WriteBlob(ctx, b, bytes.NewReader(text(2*Segment)), -1, nil)
	if err != nil {
		t.Fatal(err)
	}
	rc, err := b.Open(ctx, ref, 0, ref.Size)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := rc.Read(make([]byte, 10)); err != nil {
		t.Fatal(err)
	}
	rc.Close()
	if n, err := rc.Read(make([]byte, 10)); err == nil || n != 0 {
		t.Fatalf("read after close: %d, %v", n, err)
	}
	if err := rc.Close(); err != nil {
		t.Fatalf("second close: %v", err)
	}
}

// memStore is a BlobStore in memory, for allocation counts and benchmarks
// of this package's own work.
type memStore struct {
	capacity int
	mu       sync.Mutex
	blobs    map[string][]byte
	next     int
	spare    []byte // a deleted blob's buffer, for the next Create
}

func newMemStore(capacity int) *memStore {
	return &memStore{capacity: capacity, blobs: map[string][]byte{}}
}

type memWriter struct {
	m   *memStore
	buf []byte
}

func (m *memStore) Create(context.Context) (store.BlobWriter, error) {
	m.mu.Lock()
	buf := m.spare
	m.spare = nil
	m.mu.Unlock()
	if buf == nil {
		buf = make([]byte, 0, m.capacity)
	}
	return &memWriter{m: m, buf: buf[:0]}, nil
}

func (w *memWriter) Write(p []byte) (int, error) {
	w.buf = append(w.buf, p...)
	return len(p), nil
}

func (w *memWriter) Commit(context.Context) (store.BlobRef, error) {
	w.m.mu.Lock()
	defer w.m.mu.Unlock()
	w.m.next++
	id := strconv.Itoa(w.m.next)
	w.m.blobs[id] = w.buf
	return store.BlobRef{ID: id, Size: int64(len(w.buf))}, nil
}

func (w *memWriter) Abort() {}

func (m *memStore) Open(_ context.Context, ref store.BlobRef, off, n int64) (io.ReadCloser, error) {
	m.mu.Lock()
	b, ok := m.blobs[ref.ID]
	m.mu.Unlock()
	if !ok {
		return nil, store.ErrNoSuchBlob
	}
	if off+n > int64(len(b)) {
		return nil, fmt.Errorf("mem: range %d+%d of %d bytes", off, n, len(b))
	}
	return io.NopCloser(bytes.NewReader(b[off : off+n])), nil
}

func (m *memStore) Delete(_ context.Context, refs ...store.BlobRef) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, r := range refs {
		if b, ok := m.blobs[r.ID]; ok && cap(b) >= m.capacity {
			m.spare = b
		}
		delete(m.blobs, r.ID)
	}
	return nil
}

// BenchmarkSegment: sealing and opening one segment, per scheme (MB/s of
// plaintext).
func BenchmarkSegment(b *testing.B) {
	for _, alg := range algs {
		s, err := newSegAEAD(alg, vectorKey())
		if err != nil {
			b.Fatal(err)
		}
		plain := text(Segment)
		sealed := s.seal(nil, plain, 0, false)
		out := make([]byte, 0, Segment)
		b.Run(alg+"/seal", func(b *testing.B) {
			b.SetBytes(Segment)
			b.ReportAllocs()
			dst := make([]byte, 0, sealedSegment)
			for i := 0; b.Loop(); i++ {
				dst = s.seal(dst[:0], plain, int64(i), false)
			}
		})
		b.Run(alg+"/open", func(b *testing.B) {
			b.SetBytes(Segment)
			b.ReportAllocs()
			for b.Loop() {
				if _, err := s.open(out[:0], sealed, 0, false); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkBlob: a 16 MiB blob written (Create, Write in 1 MiB pieces,
// Commit) and read whole through the store over memory, per scheme: the
// package's whole per-object cost, key wrapping included.
func BenchmarkBlob(b *testing.B) {
	const size = 16 << 20
	data := text(size)
	for _, alg := range algs {
		mem := newMemStore(int(StoredSize(size)))
		bs, err := New(mem, master(7))
		if err != nil {
			b.Fatal(err)
		}
		bs.alg = alg
		var ref store.BlobRef
		b.Run(alg+"/put", func(b *testing.B) {
			b.SetBytes(size)
			b.ReportAllocs()
			for b.Loop() {
				w, err := bs.Create(ctx)
				if err != nil {
					b.Fatal(err)
				}
				for off := 0; off < size; off += 1 << 20 {
					w.Write(data[off : off+1<<20])
				}
				if ref, err = w.Commit(ctx); err != nil {
					b.Fatal(err)
				}
				mem.Delete(ctx, innerRef(ref))
			}
			w, _ := bs.Create(ctx)
			w.Write(data)
			ref, _ = w.Commit(ctx)
		})
		b.Run(alg+"/get", func(b *testing.B) {
			b.SetBytes(size)
			b.ReportAllocs()
			buf := make([]byte, 1<<20)
			for b.Loop() {
				rc, err := bs.Open(ctx, ref, 0, ref.Size)
				if err != nil {
					b.Fatal(err)
				}
				for {
					if _, err := rc.Read(buf); err == io.EOF {
						break
					} else if err != nil {
						b.Fatal(err)
					}
				}
				rc.Close()
			}
		})
	}
}
