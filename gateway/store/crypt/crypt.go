// Package crypt is a store.BlobStore that encrypts every blob before it
// reaches another BlobStore (local files or the network).
//
// Each blob gets its own random 256-bit key. Its plaintext is cut into
// segments of Segment bytes, each sealed with XChaCha20-Poly1305 under the
// blob key, nonce = the segment index, additional data = the segment index
// and whether it is the last segment (so segments cannot be reordered,
// dropped or the blob cut short without the tag failing). A stored segment
// is Segment+16 = 65,536 bytes. The blob key is wrapped (sealed with a
// random nonce) under a key-encryption key derived with HKDF-SHA256 from the
// operator's master secret, and the wrapped key is kept in the blob's
// metadata (store.BlobCrypt). Dropping that metadata makes the stored bytes
// unreadable: deletion is crypto-shredding.
package crypt

import (
	"bytes"
	"context"
	"crypto/cipher"
	"crypto/hkdf"
	"crypto/rand"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"sync"

	"golang.org/x/crypto/chacha20poly1305"

	"github.com/datdot/datdot/gateway/store"
)

// Alg names the scheme in store.BlobCrypt.Alg.
const Alg = "xchacha20poly1305-seg-v1"

// Segment is the plaintext size of a segment; sealed, it is 64 KiB.
const Segment = 65536 - chacha20poly1305.Overhead

const sealedSegment = Segment + chacha20poly1305.Overhead

// MinSecretSize is the shortest master secret accepted.
const MinSecretSize = 32

// ErrCorrupt reports stored bytes or a wrapped key that fail
// authentication: damaged or forged data, or another master secret.
var ErrCorrupt = errors.New("crypt: stored data fails authentication")

const kekSalt = "datdot/gateway/blob-kek/v1"

var wrapAD = []byte("datdot blob key v1")

// Blobs encrypts blobs on their way into Inner and decrypts them on the
// way out.
type Blobs struct {
	Inner store.BlobStore
	// Cache, when set, keeps the decrypted segments of blobs as they are
	// written and read (cache.go); a read of a cached segment neither
	// reads the inner store nor decrypts. Set it before first use.
	Cache *Cache
	kek   cipher.AEAD
}

// New returns an encrypting store over inner whose blob keys are wrapped
// by a key derived from master.
func New(inner store.BlobStore, master []byte) (*Blobs, error) {
	if len(master) < MinSecretSize {
		return nil, fmt.Errorf("crypt: master secret of %d bytes, want at least %d", len(master), MinSecretSize)
	}
	k, err := hkdf.Key(sha256.New, master, []byte(kekSalt), "", chacha20poly1305.KeySize)
	if err != nil {
		return nil, fmt.Errorf("crypt: derive key: %w", err)
	}
	aead, err := chacha20poly1305.NewX(k)
	if err != nil {
		return nil, fmt.Errorf("crypt: %w", err)
	}
	return &Blobs{Inner: inner, kek: aead}, nil
}

func (b *Blobs) wrap(key []byte) []byte {
	nonce := make([]byte, b.kek.NonceSize(), b.kek.NonceSize()+len(key)+b.kek.Overhead())
	rand.Read(nonce)
	return b.kek.Seal(nonce, nonce, key, wrapAD)
}

func (b *Blobs) unwrap(c *store.BlobCrypt) (cipher.AEAD, error) {
	if c == nil {
		return nil, fmt.Errorf("%w: blob has no key", ErrCorrupt)
	}
	if c.Alg != Alg || c.Segment != Segment {
		return nil, fmt.Errorf("crypt: unknown scheme %q with %d-byte segments", c.Alg, c.Segment)
	}
	ns := b.kek.NonceSize()
	if len(c.Wrapped) < ns {
		return nil, fmt.Errorf("%w: wrapped key too short", ErrCorrupt)
	}
	key, err := b.kek.Open(nil, c.Wrapped[:ns], c.Wrapped[ns:], wrapAD)
	if err != nil {
		return nil, fmt.Errorf("%w: blob key does not unwrap", ErrCorrupt)
	}
	return chacha20poly1305.NewX(key)
}

// StoredSize is the number of stored bytes of a plaintext of size bytes.
func StoredSize(size int64) int64 {
	segs := (size + Segment - 1) / Segment
	return size + segs*chacha20poly1305.Overhead
}

func segNonce(i int64) []byte {
	n := make([]byte, chacha20poly1305.NonceSizeX)
	binary.BigEndian.PutUint64(n[len(n)-8:], uint64(i))
	return n
}

func segAD(i int64, last bool) []byte {
	ad := binary.BigEndian.AppendUint64(make([]byte, 0, 9), uint64(i))
	if last {
		return append(ad, 1)
	}
	return append(ad, 0)
}

// Create implements store.BlobStore.
func (b *Blobs) Create(ctx context.Context) (store.BlobWriter, error) {
	key := make([]byte, chacha20poly1305.KeySize)
	rand.Read(key)
	aead, err := chacha20poly1305.NewX(key)
	if err != nil {
		return nil, fmt.Errorf("crypt: %w", err)
	}
	inner, err := b.Inner.Create(ctx)
	if err != nil {
		return nil, err
	}
	sb := segPool.Get().(*segBufs)
	return &writer{b: b, inner: inner, aead: aead, wrapped: b.wrap(key), keep: b.Cache.wants(0),
		sb: sb, buf: sb.buf[:0], out: sb.out[:0]}, nil
}

// segBufs are a writer's segment buffers, recycled once it finishes.
type segBufs struct{ buf, out []byte }

var segPool = sync.Pool{New: func() any {
	return &segBufs{buf: make([]byte, 0, Segment), out: make([]byte, 0, sealedSegment)}
}}

type writer struct {
	b       *Blobs
	inner   store.BlobWriter
	aead    cipher.AEAD
	wrapped []byte
	buf     []byte // plaintext of the segment being filled
	seg     int64  // index of the segment in buf
	size    int64
	out     []byte
	sb      *segBufs // nil once the writer finished
	// keep: a copy of the sealed segments' plaintext is kept in kept, to
	// go into the cache once the blob is committed (until the blob
	// outgrows what the cache takes).
	keep bool
	kept [][]byte
}

var errFinished = errors.New("crypt: write to a finished blob")

// release gives the segment buffers back.
func (w *writer) release() {
	if w.sb != nil {
		segPool.Put(w.sb)
		w.sb, w.buf, w.out = nil, nil, nil
	}
}

// Write buffers a segment and seals it once the next byte shows it is not
// the last one.
func (w *writer) Write(p []byte) (int, error) {
	if w.sb == nil {
		return 0, errFinished
	}
	n := 0
	for len(p) > 0 {
		if len(w.buf) == Segment {
			if err := w.seal(w.buf, false); err != nil {
				return n, err
			}
		}
		if len(w.buf) == 0 && len(p) > Segment {
			// A whole segment with more after it: sealed from p itself.
			if err := w.seal(p[:Segment], false); err != nil {
				return n, err
			}
			p = p[Segment:]
			n += Segment
			w.size += Segment
			continue
		}
		k := min(Segment-len(w.buf), len(p))
		w.buf = append(w.buf, p[:k]...)
		p = p[k:]
		n += k
		w.size += int64(k)
	}
	if w.keep && !w.b.Cache.wants(w.size) {
		w.keep, w.kept = false, nil
	}
	return n, nil
}

// reserver is an inner writer that lends the next n bytes of its blob to
// be filled in place (network.Blobs' writer); nil means use Write.
type reserver interface {
	Reserve(n int) []byte
}

func (w *writer) seal(plain []byte, last bool) error {
	if w.keep {
		// A copy: plain is the caller's slice or a pooled buffer.
		w.kept = append(w.kept, bytes.Clone(plain))
	}
	if r, ok := w.inner.(reserver); ok {
		if dst := r.Reserve(len(plain) + w.aead.Overhead()); dst != nil {
			w.aead.Seal(dst[:0], segNonce(w.seg), plain, segAD(w.seg, last))
			w.seg++
			w.buf = w.buf[:0]
			return nil
		}
	}
	w.out = w.aead.Seal(w.out[:0], segNonce(w.seg), plain, segAD(w.seg, last))
	if _, err := w.inner.Write(w.out); err != nil {
		return err
	}
	w.seg++
	w.buf = w.buf[:0]
	return nil
}

func (w *writer) Commit(ctx context.Context) (store.BlobRef, error) {
	if w.sb == nil {
		return store.BlobRef{}, errors.New("crypt: commit of a finished blob")
	}
	if len(w.buf) > 0 {
		if err := w.seal(w.buf, true); err != nil {
			w.release()
			return store.BlobRef{}, err
		}
	}
	w.release()
	ref, err := w.inner.Commit(ctx)
	if err != nil {
		return ref, err
	}
	if ref.Size != StoredSize(w.size) {
		return ref, fmt.Errorf("crypt: inner store kept %d bytes of %d", ref.Size, StoredSize(w.size))
	}
	ref.Stored = ref.Size
	ref.Size = w.size
	ref.Crypt = &store.BlobCrypt{Alg: Alg, Segment: Segment, Wrapped: w.wrapped}
	if w.keep {
		wrapped := string(w.wrapped)
		for i, p := range w.kept {
			w.b.Cache.put(ref.ID, wrapped, int64(i), p)
		}
		w.kept = nil
	}
	return ref, nil
}

func (w *writer) Abort() {
	w.release()
	w.kept = nil
	w.inner.Abort()
}

// innerRef is what the inner store knows of a blob.
func innerRef(ref store.BlobRef) store.BlobRef {
	ref.Size = StoredSize(ref.Size)
	ref.Stored = 0
	ref.Crypt = nil
	return ref
}

// Open implements store.BlobStore: it reads and authenticates only the
// segments that hold the range. The first segment is read before Open
// returns, so that missing or damaged data fails here.
func (b *Blobs) Open(ctx context.Context, ref store.BlobRef, offset, length int64) (io.ReadCloser, error) {
	if offset < 0 || length < 0 || offset+length > ref.Size {
		return nil, fmt.Errorf("crypt: range %d+%d outside blob of %d bytes", offset, length, ref.Size)
	}
	if ref.Crypt == nil {
		// Written before encryption was turned on.
		return b.Inner.Open(ctx, ref, offset, length)
	}
	aead, err := b.unwrap(ref.Crypt)
	if err != nil {
		return nil, err
	}
	if length == 0 {
		return io.NopCloser(eofReader{}), nil
	}
	first := offset / Segment
	last := (offset + length - 1) / Segment
	r := &reader{ctx: ctx, b: b, ref: innerRef(ref), aead: aead, seg: first, lastSeg: (ref.Size - 1) / Segment, total: ref.Size,
		end: last + 1, skip: offset - first*Segment, remain: length}
	if !store.Verifying(ctx) && b.Cache.wants(ref.Size) {
		r.cache, r.id, r.wrapped = b.Cache, ref.ID, string(ref.Crypt.Wrapped)
	} else {
		r.sealed = make([]byte, sealedSegment)
	}
	if err := r.fill(); err != nil {
		r.Close()
		return nil, err
	}
	return r, nil
}

type eofReader struct{}

func (eofReader) Read([]byte) (int, error) { return 0, io.EOF }

type reader struct {
	ctx     context.Context
	b       *Blobs
	ref     store.BlobRef // the inner store's blob
	rc      io.ReadCloser // opened at the first segment not in the cache
	aead    cipher.AEAD
	seg     int64 // next segment to read
	lastSeg int64
	end     int64 // segment after the range
	total   int64
	skip    int64 // bytes of the next segment before the range
	remain  int64 // range bytes not yet returned
	sealed  []byte
	plain   []byte // decrypted bytes ready to return
	err     error  // of a fill after bytes were returned

	// With a cache: segments come from it until the first miss; from
	// there on they are read from rc and put into it.
	cache   *Cache
	id      string
	wrapped string
}

// fill reads and opens the next segment.
func (r *reader) fill() error {
	if r.rc == nil && r.cache != nil {
		if p := r.cache.get(r.id, r.wrapped, r.seg); p != nil {
			r.use(p)
			return nil
		}
	}
	if r.rc == nil {
		off := r.seg * sealedSegment
		rc, err := r.b.Inner.Open(r.ctx, r.ref, off, StoredSize(min(r.end*Segment, r.total))-off)
		if err != nil {
			return err
		}
		r.rc = rc
	}
	size := int64(Segment)
	if r.seg == r.lastSeg {
		size = r.total - r.seg*Segment
	}
	sealed := r.sealed
	if r.cache != nil {
		// The plaintext goes into the cache: a buffer of its own.
		sealed = make([]byte, sealedSegment)
	}
	buf := sealed[:size+chacha20poly1305.Overhead]
	if _, err := io.ReadFull(r.rc, buf); err != nil {
		if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
			return fmt.Errorf("crypt: segment %d: %w", r.seg, store.ErrDataShort)
		}
		return err
	}
	plain, err := r.aead.Open(buf[:0], segNonce(r.seg), buf, segAD(r.seg, r.seg == r.lastSeg))
	if err != nil {
		// The tag failed: some stored block is bad. Read the segment
		// again with every block checked against its writer's signature
		// (store.WithVerify), which finds the bad one and reads around it.
		if plain, err = r.reread(buf); err != nil {
			return fmt.Errorf("crypt: segment %d: %w", r.seg, err)
		}
	}
	r.cache.put(r.id, r.wrapped, r.seg, plain)
	r.use(plain)
	return nil
}

// use makes plain, the plaintext of segment r.seg, the next bytes to
// return.
func (r *reader) use(plain []byte) {
	plain = plain[r.skip:]
	r.skip = 0
	if int64(len(plain)) > r.remain {
		plain = plain[:r.remain]
	}
	r.plain = plain
	r.seg++
}

// reread reads the current segment again into buf with verification and
// opens it.
func (r *reader) reread(buf []byte) ([]byte, error) {
	if store.Verifying(r.ctx) {
		return nil, ErrCorrupt
	}
	rc, err := r.b.Inner.Open(store.WithVerify(r.ctx), r.ref, r.seg*sealedSegment, int64(len(buf)))
	if err != nil {
		return nil, errors.Join(ErrCorrupt, err)
	}
	defer rc.Close()
	if _, err := io.ReadFull(rc, buf); err != nil {
		return nil, errors.Join(ErrCorrupt, err)
	}
	plain, err := r.aead.Open(buf[:0], segNonce(r.seg), buf, segAD(r.seg, r.seg == r.lastSeg))
	if err != nil {
		return nil, ErrCorrupt
	}
	return plain, nil
}

// Read fills p with as many segments as it holds (a copy loop with a big
// buffer writes big chunks).
func (r *reader) Read(p []byte) (int, error) {
	n := 0
	for n < len(p) {
		if r.remain == 0 {
			if n == 0 {
				return 0, io.EOF
			}
			break
		}
		if r.err != nil {
			if n == 0 {
				return 0, r.err
			}
			break
		}
		if len(r.plain) == 0 {
			if err := r.fill(); err != nil {
				r.err = err
				continue
			}
		}
		m := copy(p[n:], r.plain)
		r.plain = r.plain[m:]
		r.remain -= int64(m)
		n += m
	}
	return n, nil
}

func (r *reader) Close() error {
	if r.rc == nil {
		return nil
	}
	return r.rc.Close()
}

// Delete implements store.BlobStore; the inner store needs only the ids
// and extents.
func (b *Blobs) Delete(ctx context.Context, refs ...store.BlobRef) error {
	in := make([]store.BlobRef, len(refs))
	for i, r := range refs {
		if r.Crypt != nil {
			b.Cache.drop(r.ID, (r.Size+Segment-1)/Segment)
		}
		r.Crypt = nil
		in[i] = r
	}
	return b.Inner.Delete(ctx, in...)
}
