package store

import (
	"context"
	"errors"
	"fmt"
	"io"
)

// ErrDataShort reports object data that ended before the size its metadata
// records: lost or truncated storage, never a client's fault.
var ErrDataShort = errors.New("store: object data shorter than its metadata says")

// BlobChecker is implemented by a BlobStore that can cheaply tell whether
// all of a blob's stored bytes are there (the local store compares the
// file's size). OpenObject asks it about every part a read spans before a
// response status is sent.
type BlobChecker interface {
	// CheckBlob returns an error wrapping ErrDataShort when the blob is
	// missing or shorter than ref says.
	CheckBlob(ctx context.Context, ref BlobRef) error
}

// checkParts checks, when blobs is a BlobChecker, that every part holding
// bytes of [offset, offset+length) is all there; parts start at object
// offset at.
func checkParts(ctx context.Context, blobs BlobStore, parts []Part, at, offset, length int64) error {
	bc, ok := blobs.(BlobChecker)
	if !ok || length == 0 {
		return nil
	}
	pos := at
	for _, p := range parts {
		if pos+p.Size > offset && pos < offset+length {
			if err := bc.CheckBlob(ctx, p.Blob); err != nil {
				return fmt.Errorf("store: part %d: %w", p.Number, err)
			}
		}
		pos += p.Size
	}
	return nil
}

// OpenObject returns a reader of length bytes of obj's data starting at
// offset, spanning its parts, which must be loaded (MetaStore.LoadParts)
// for that range. Every part's blob is checked first when the
// store is a BlobChecker, and the first part's blob is opened before
// OpenObject returns, so that a missing or unreachable blob fails here,
// before a response status is sent; each later part is opened when the read
// reaches it, so nothing is buffered beyond one read call.
func OpenObject(ctx context.Context, blobs BlobStore, obj *Object, offset, length int64) (io.ReadCloser, error) {
	if offset < 0 || length < 0 || offset+length > obj.Size {
		return nil, fmt.Errorf("store: range %d+%d outside object of %d bytes", offset, length, obj.Size)
	}
	if length > 0 && offset < obj.PartsAt {
		return nil, fmt.Errorf("store: range %d+%d starts before the loaded parts (at %d)", offset, length, obj.PartsAt)
	}
	r := &partsReader{ctx: ctx, blobs: blobs, parts: obj.Parts, offset: offset - obj.PartsAt, remain: length}
	if err := checkParts(ctx, blobs, obj.Parts, obj.PartsAt, offset, length); err != nil {
		return nil, err
	}
	if length > 0 {
		if err := r.next(); err != nil {
			return nil, err
		}
	}
	return r, nil
}

type partsReader struct {
	ctx    context.Context
	blobs  BlobStore
	parts  []Part
	offset int64 // offset into the remaining parts
	remain int64
	cur    io.ReadCloser
	curN   int64  // bytes left in cur
	curID  string // blob id of cur, for errors
}

func (r *partsReader) Read(p []byte) (int, error) {
	for {
		if r.remain == 0 {
			return 0, io.EOF
		}
		if r.cur == nil {
			if err := r.next(); err != nil {
				return 0, err
			}
			continue
		}
		if int64(len(p)) > r.curN {
			p = p[:r.curN]
		}
		n, err := r.cur.Read(p)
		r.curN -= int64(n)
		r.remain -= int64(n)
		if r.curN == 0 {
			cerr := r.cur.Close()
			r.cur = nil
			if cerr != nil && n == 0 {
				return 0, cerr
			}
			return n, nil
		}
		if err == io.EOF {
			return n, fmt.Errorf("store: blob %s ended early: %w", r.curID, ErrDataShort)
		}
		if n > 0 || err != nil {
			return n, err
		}
	}
}

// next opens the part that holds r.offset.
func (r *partsReader) next() error {
	for len(r.parts) > 0 && r.offset >= r.parts[0].Size {
		r.offset -= r.parts[0].Size
		r.parts = r.parts[1:]
	}
	if len(r.parts) == 0 {
		return ErrDataShort
	}
	part := r.parts[0]
	n := min(part.Size-r.offset, r.remain)
	rc, err := r.blobs.Open(r.ctx, part.Blob, part.Offset+r.offset, n)
	if err != nil {
		return fmt.Errorf("store: open part %d: %w", part.Number, err)
	}
	r.cur, r.curN, r.curID = rc, n, part.Blob.ID
	r.offset = 0
	r.parts = r.parts[1:]
	return nil
}

func (r *partsReader) Close() error {
	if r.cur != nil {
		err := r.cur.Close()
		r.cur = nil
		return err
	}
	return nil
}

// ReadAuthenticator is implemented by a BlobStore that authenticates what
// it reads of some blobs: a read of such a blob returns the bytes the
// blob was written with, or fails; it never returns other bytes (crypt's
// AEAD tag on every segment, bound to the blob's key, the segment's index
// and whether it is the last one). A caller may then skip checks that only
// catch stored bytes changed behind the gateway's back, such as a stored
// CRC re-computed over every GET.
type ReadAuthenticator interface {
	// AuthenticatesReads reports whether reads of ref are authenticated.
	AuthenticatesReads(ref BlobRef) bool
}

// ReadsAuthenticated reports whether blobs authenticates the reads of the
// blob of every part in parts (false when it authenticates none, or when
// parts is empty).
func ReadsAuthenticated(blobs BlobStore, parts []Part) bool {
	ra, ok := blobs.(ReadAuthenticator)
	if !ok || len(parts) == 0 {
		return false
	}
	for _, p := range parts {
		if !ra.AuthenticatesReads(p.Blob) {
			return false
		}
	}
	return true
}
