// Package crypt is a store.BlobStore that encrypts every blob before it
// reaches another BlobStore (local files or the network).
//
// Each blob gets its own random 256-bit key, drawn when the blob is
// created and used for no other blob. Its plaintext is cut into segments
// of Segment bytes, each sealed under the blob key with an AEAD whose
// nonce and additional data bind the segment's index and whether it is
// the last segment, so segments cannot be reordered, dropped or the blob
// cut short without a tag failing. A stored segment is Segment+16 =
// 65,536 bytes. Two segment schemes exist; the one a blob was written
// with is recorded in its metadata (store.BlobCrypt.Alg), and reads
// dispatch on it:
//
//   - AlgAESGCM ("aes256gcm-seg-v1"), written for every new blob:
//     AES-256-GCM, 96-bit nonce = the segment index (8 bytes, big-endian),
//     3 zero bytes, and a final byte that is 1 for the last segment and 0
//     otherwise; no additional data. The nonce is a counter, not random:
//     GCM is broken only if one (key, nonce) pair seals two different
//     plaintexts, and here every key seals one blob only, written once
//     from start to end, so each (index, last) pair, hence each nonce, is
//     used for one segment only. (Random 96-bit nonces would be the risky
//     choice, with birthday collisions for heavily used keys.) AES-GCM
//     runs on the CPU's AES and carry-less multiply instructions, several
//     times faster than ChaCha20-Poly1305 where they exist.
//   - AlgXChaCha ("xchacha20poly1305-seg-v1"), written before: still
//     read, no longer written. XChaCha20-Poly1305, 24-byte nonce = 16 zero
//     bytes and the segment index (8 bytes, big-endian), additional data =
//     the segment index (8 bytes, big-endian) and a byte that is 1 for the
//     last segment and 0 otherwise.
//
// A blob of any other scheme fails to open with ErrScheme. The blob key is
// wrapped (sealed with XChaCha20-Poly1305 and a random 24-byte nonce)
// under a key-encryption key derived with HKDF-SHA256 from the operator's
// master secret, and the wrapped key is kept in the blob's metadata
// (store.BlobCrypt). Dropping that metadata makes the stored bytes
// unreadable: deletion is crypto-shredding.
package crypt

import (
	"bytes"
	"context"
	"crypto/aes"
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

// The segment schemes, as named in store.BlobCrypt.Alg (see the package
// comment).
const (
	AlgAESGCM  = "aes256gcm-seg-v1"
	AlgXChaCha = "xchacha20poly1305-seg-v1"
)

// Alg is the scheme new blobs are written with.
const Alg = AlgAESGCM

// Overhead is the tag added to every segment, the same in both schemes.
const Overhead = 16

// Segment is the plaintext size of a segment; sealed, it is 64 KiB.
const Segment = 65536 - Overhead

const sealedSegment = Segment + Overhead

// keySize is the size of a blob key, the same in both schemes.
const keySize = 32

// MinSecretSize is the shortest master secret accepted.
const MinSecretSize = 32

// ErrCorrupt reports stored bytes or a wrapped key that fail
// authentication: damaged or forged data, or another master secret.
var ErrCorrupt = errors.New("crypt: stored data fails authentication")

// ErrScheme reports a blob whose metadata names a segment scheme (or
// segment size) this code does not know.
var ErrScheme = errors.New("crypt: unknown encryption scheme")

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
	// alg is the scheme of new blobs; "" means Alg. Tests set it to write
	// blobs in the old scheme.
	alg string
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

func (b *Blobs) unwrap(c *store.BlobCrypt) (*segAEAD, error) {
	if c == nil {
		return nil, fmt.Errorf("%w: blob has no key", ErrCorrupt)
	}
	if (c.Alg != AlgAESGCM && c.Alg != AlgXChaCha) || c.Segment != Segment {
		return nil, fmt.Errorf("%w: %q with %d-byte segments", ErrScheme, c.Alg, c.Segment)
	}
	ns := b.kek.NonceSize()
	if len(c.Wrapped) < ns {
		return nil, fmt.Errorf("%w: wrapped key too short", ErrCorrupt)
	}
	key, err := b.kek.Open(nil, c.Wrapped[:ns], c.Wrapped[ns:], wrapAD)
	if err != nil {
		return nil, fmt.Errorf("%w: blob key does not unwrap", ErrCorrupt)
	}
	return newSegAEAD(c.Alg, key)
}

// StoredSize is the number of stored bytes of a plaintext of size bytes.
func StoredSize(size int64) int64 {
	segs := (size + Segment - 1) / Segment
	return size + segs*Overhead
}

// segAEAD seals and opens the segments of one blob under its key, in the
// blob's scheme. Its nonce and additional data are built in place, so a
// segment costs no allocation; one segAEAD serves one writer or reader at
// a time.
type segAEAD struct {
	aead  cipher.AEAD
	gcm   bool // AlgAESGCM, else AlgXChaCha
	nonce [chacha20poly1305.NonceSizeX]byte
	ad    [9]byte
}

func newSegAEAD(alg string, key []byte) (*segAEAD, error) {
	s := &segAEAD{}
	switch alg {
	case AlgAESGCM:
		block, err := aes.NewCipher(key)
		if err != nil {
			return nil, fmt.Errorf("crypt: %w", err)
		}
		if s.aead, err = cipher.NewGCM(block); err != nil {
			return nil, fmt.Errorf("crypt: %w", err)
		}
		s.gcm = true
	case AlgXChaCha:
		var err error
		if s.aead, err = chacha20poly1305.NewX(key); err != nil {
			return nil, fmt.Errorf("crypt: %w", err)
		}
	default:
		return nil, fmt.Errorf("%w: %q", ErrScheme, alg)
	}
	if s.aead.Overhead() != Overhead {
		return nil, fmt.Errorf("crypt: %s has a %d-byte tag", alg, s.aead.Overhead())
	}
	return s, nil
}

// params returns the nonce and additional data of segment i (see the
// package comment).
func (s *segAEAD) params(i int64, last bool) (nonce, ad []byte) {
	flag := byte(0)
	if last {
		flag = 1
	}
	if s.gcm {
		n := s.nonce[:12]
		binary.BigEndian.PutUint64(n[:8], uint64(i))
		n[8], n[9], n[10], n[11] = 0, 0, 0, flag
		return n, nil
	}
	binary.BigEndian.PutUint64(s.nonce[len(s.nonce)-8:], uint64(i))
	binary.BigEndian.PutUint64(s.ad[:8], uint64(i))
	s.ad[8] = flag
	return s.nonce[:], s.ad[:]
}

// seal appends segment i, sealed, to dst.
func (s *segAEAD) seal(dst, plain []byte, i int64, last bool) []byte {
	nonce, ad := s.params(i, last)
	return s.aead.Seal(dst, nonce, plain, ad)
}

// open appends the plaintext of sealed segment i to dst.
func (s *segAEAD) open(dst, sealed []byte, i int64, last bool) ([]byte, error) {
	nonce, ad := s.params(i, last)
	return s.aead.Open(dst, nonce, sealed, ad)
}

// Create implements store.BlobStore.
func (b *Blobs) Create(ctx context.Context) (store.BlobWriter, error) {
	key := make([]byte, keySize)
	rand.Read(key)
	return b.create(ctx, key)
}

// create starts a blob sealed under key.
func (b *Blobs) create(ctx context.Context, key []byte) (store.BlobWriter, error) {
	alg := b.alg
	if alg == "" {
		alg = Alg
	}
	aead, err := newSegAEAD(alg, key)
	if err != nil {
		return nil, err
	}
	inner, err := b.Inner.Create(ctx)
	if err != nil {
		return nil, err
	}
	sb := segPool.Get().(*segBufs)
	return &writer{b: b, inner: inner, aead: aead, alg: alg, wrapped: b.wrap(key), keep: b.Cache.wants(0),
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
	aead    *segAEAD
	alg     string
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
		if dst := r.Reserve(len(plain) + Overhead); dst != nil {
			w.aead.seal(dst[:0], plain, w.seg, last)
			w.seg++
			w.buf = w.buf[:0]
			return nil
		}
	}
	w.out = w.aead.seal(w.out[:0], plain, w.seg, last)
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
	ref.Crypt = &store.BlobCrypt{Alg: w.alg, Segment: Segment, Wrapped: w.wrapped}
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
		r.sb = sealedPool.Get().(*[sealedSegment]byte)
		r.sealed = r.sb[:]
	}
	if _, err := r.fill(nil); err != nil {
		r.Close()
		return nil, err
	}
	return r, nil
}

// sealedPool recycles the segment buffers of readers without a cache.
var sealedPool = sync.Pool{New: func() any { return new([sealedSegment]byte) }}

var errClosed = errors.New("crypt: read of a closed blob")

type eofReader struct{}

func (eofReader) Read([]byte) (int, error) { return 0, io.EOF }

type reader struct {
	ctx     context.Context
	b       *Blobs
	ref     store.BlobRef // the inner store's blob
	rc      io.ReadCloser // opened at the first segment not in the cache
	aead    *segAEAD
	seg     int64 // next segment to read
	lastSeg int64
	end     int64 // segment after the range
	total   int64
	skip    int64                // bytes of the next segment before the range
	remain  int64                // range bytes not yet returned
	sealed  []byte               // a segment as read, from sb
	sb      *[sealedSegment]byte // pooled; nil with a cache or once closed
	closed  bool
	plain   []byte // decrypted bytes ready to return
	err     error  // of a fill after bytes were returned

	// With a cache: segments come from it until the first miss; from
	// there on they are read from rc and put into it.
	cache   *Cache
	id      string
	wrapped string
}

// fill reads and opens the next segment. With into (room for the whole
// segment's plaintext; only when the range wants all of it and there is no
// cache), the plaintext goes there and fill returns its length; otherwise
// it becomes r.plain (and fill returns 0).
func (r *reader) fill(into []byte) (int, error) {
	if r.rc == nil && r.cache != nil {
		if p := r.cache.get(r.id, r.wrapped, r.seg); p != nil {
			r.use(p)
			return 0, nil
		}
	}
	if r.rc == nil {
		off := r.seg * sealedSegment
		rc, err := r.b.Inner.Open(r.ctx, r.ref, off, StoredSize(min(r.end*Segment, r.total))-off)
		if err != nil {
			return 0, err
		}
		r.rc = rc
	}
	size := r.segSize()
	sealed, err := r.readSealed(int(size + Overhead))
	if err != nil {
		return 0, err
	}
	// The plaintext goes to into, or where the sealed bytes are when
	// they are in a buffer of the reader's own (opened in place), or
	// into that buffer (from the inner reader's memory, which is only
	// lent). With a cache, into a buffer of its own.
	var dst []byte
	switch {
	case into != nil:
		dst = into[:0]
	case r.cache != nil:
		dst = make([]byte, 0, Segment)
	default:
		dst = r.sealed[:0]
	}
	plain, err := r.aead.open(dst, sealed, r.seg, r.seg == r.lastSeg)
	if err != nil {
		// The tag failed: some stored block is bad. Read the segment
		// again with every block checked against its writer's signature
		// (store.WithVerify), which finds the bad one and reads around it.
		if plain, err = r.reread(dst, len(sealed)); err != nil {
			return 0, fmt.Errorf("crypt: segment %d: %w", r.seg, err)
		}
	}
	if into != nil {
		r.seg++
		return len(plain), nil
	}
	r.cache.put(r.id, r.wrapped, r.seg, plain)
	r.use(plain)
	return 0, nil
}

// segSize is the plaintext size of segment r.seg.
func (r *reader) segSize() int64 {
	if r.seg == r.lastSeg {
		return r.total - r.seg*Segment
	}
	return Segment
}

// readSealed returns the next n stored bytes: where the inner reader holds
// them when it lends them in one piece (store.SpanReader), else read into
// a buffer of the reader's.
func (r *reader) readSealed(n int) ([]byte, error) {
	var buf []byte
	m := 0
	if sr, ok := r.rc.(store.SpanReader); ok {
		b, err := sr.Span(n)
		if len(b) == n {
			return b, nil
		}
		if err != nil {
			return nil, short(err)
		}
		buf = r.sealBuf()[:n]
		m = copy(buf, b)
	} else {
		buf = r.sealBuf()[:n]
	}
	if _, err := io.ReadFull(r.rc, buf[m:]); err != nil {
		return nil, short(err)
	}
	return buf, nil
}

// sealBuf is a buffer for a sealed segment: the pooled one, or a new one
// with a cache.
func (r *reader) sealBuf() []byte {
	if r.sealed == nil {
		r.sealed = make([]byte, sealedSegment)
	}
	return r.sealed
}

// short maps the end of the inner stream before a segment's end to
// store.ErrDataShort.
func short(err error) error {
	if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
		return fmt.Errorf("crypt: segment: %w", store.ErrDataShort)
	}
	return err
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

// reread reads the current segment (n stored bytes) again with
// verification and opens it into dst.
func (r *reader) reread(dst []byte, n int) ([]byte, error) {
	if store.Verifying(r.ctx) {
		return nil, ErrCorrupt
	}
	rc, err := r.b.Inner.Open(store.WithVerify(r.ctx), r.ref, r.seg*sealedSegment, int64(n))
	if err != nil {
		return nil, errors.Join(ErrCorrupt, err)
	}
	defer rc.Close()
	// Into the reader's segment buffer: dst is that buffer (opened in
	// place) or other memory.
	buf := r.sealBuf()[:n]
	if _, err := io.ReadFull(rc, buf); err != nil {
		return nil, errors.Join(ErrCorrupt, err)
	}
	plain, err := r.aead.open(dst[:0], buf, r.seg, r.seg == r.lastSeg)
	if err != nil {
		return nil, ErrCorrupt
	}
	return plain, nil
}

// Read fills p with as many segments as it holds (a copy loop with a big
// buffer writes big chunks). A whole segment the range wants is opened
// straight into p; Read returns early rather than cut one.
func (r *reader) Read(p []byte) (int, error) {
	if r.closed {
		return 0, errClosed
	}
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
			var into []byte
			if size := r.segSize(); r.cache == nil && r.skip == 0 && size <= r.remain {
				if int64(len(p)-n) >= size {
					into = p[n : int64(n)+size]
				} else if n > 0 {
					break // the next Read has room for it
				}
			}
			m, err := r.fill(into)
			if err != nil {
				r.err = err
				continue
			}
			r.remain -= int64(m)
			n += m
			continue
		}
		m := copy(p[n:], r.plain)
		r.plain = r.plain[m:]
		r.remain -= int64(m)
		n += m
	}
	return n, nil
}

// Close closes the inner reader and gives the segment buffer back (the
// bytes Read returned were copied out of it).
func (r *reader) Close() error {
	if r.closed {
		return nil
	}
	r.closed = true
	r.plain = nil
	if r.sb != nil {
		sealedPool.Put(r.sb)
		r.sb, r.sealed = nil, nil
	}
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
