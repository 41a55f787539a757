package store

import (
	"context"
	"fmt"
	"io"
)

// OpenObject returns a reader of length bytes of obj's data starting at
// offset, spanning its parts. Each part's blob is opened only when the read
// reaches it, so nothing is buffered beyond one read call.
func OpenObject(ctx context.Context, blobs BlobStore, obj *Object, offset, length int64) (io.ReadCloser, error) {
	if offset < 0 || length < 0 || offset+length > obj.Size {
		return nil, fmt.Errorf("store: range %d+%d outside object of %d bytes", offset, length, obj.Size)
	}
	return &partsReader{ctx: ctx, blobs: blobs, parts: obj.Parts, offset: offset, remain: length}, nil
}

type partsReader struct {
	ctx    context.Context
	blobs  BlobStore
	parts  []Part
	offset int64 // offset into the remaining parts
	remain int64
	cur    io.ReadCloser
	curN   int64 // bytes left in cur
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
			return n, fmt.Errorf("store: blob ended early: %w", io.ErrUnexpectedEOF)
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
		return fmt.Errorf("store: object data shorter than its size: %w", io.ErrUnexpectedEOF)
	}
	part := r.parts[0]
	n := min(part.Size-r.offset, r.remain)
	rc, err := r.blobs.Open(r.ctx, part.Blob, r.offset, n)
	if err != nil {
		return err
	}
	r.cur, r.curN = rc, n
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
