package crypt

import (
	"bytes"
	"context"
	"errors"
	"io"
	"testing"

	"github.com/datdot/datdot/gateway/store"
)

// spanStore is a memStore whose readers lend their bytes (store.SpanReader)
// in pieces of at most piece bytes, the first one cut at lead bytes (as
// a network read lends the blocks of a window: a segment that straddles
// two pieces is not contiguous). With flip set, a read that is not
// verifying serves byte flip of the stored blob with one bit changed (a
// bad hoster); a verifying read serves the stored bytes unless badAlways.
type spanStore struct {
	*memStore
	piece, lead int
	flip        int64
	badAlways   bool
	spans       int // Span calls that lent a whole segment
}

func (s *spanStore) Open(ctx context.Context, ref store.BlobRef, off, n int64) (io.ReadCloser, error) {
	rc, err := s.memStore.Open(ctx, ref, off, n)
	if err != nil {
		return nil, err
	}
	b, _ := io.ReadAll(rc)
	if s.flip >= off && s.flip < off+n && (!store.Verifying(ctx) || s.badAlways) {
		b = bytes.Clone(b)
		b[s.flip-off] ^= 0x10
	}
	return &spanReader{s: s, b: b, cut: s.lead}, nil
}

type spanReader struct {
	s   *spanStore
	b   []byte
	cut int // bytes to the end of the current piece
}

func (r *spanReader) Span(n int) ([]byte, error) {
	if len(r.b) == 0 {
		return nil, io.EOF
	}
	if r.cut == 0 {
		r.cut = r.s.piece
	}
	m := min(n, r.cut, len(r.b))
	out := r.b[:m:m]
	r.b, r.cut = r.b[m:], r.cut-m
	if m == sealedSegment {
		r.s.spans++
	}
	return out, nil
}

func (r *spanReader) Read(p []byte) (int, error) {
	if len(r.b) == 0 {
		return 0, io.EOF
	}
	n := copy(p, r.b)
	r.b = r.b[n:]
	r.cut = max(0, r.cut-n)
	return n, nil
}

func (r *spanReader) Close() error { return nil }

// TestSpanReads: over an inner store that lends its bytes, reads of every
// kind return the blob exactly: whole and in ranges, with read buffers
// smaller than a segment, of a few segments and a bit more, and larger;
// segments lent whole are opened where they lie and straddling ones are
// gathered; a flipped stored bit served unverified is read around (the
// verified re-read), and one served by every source is an error, never
// a complete read.
func TestSpanReads(t *testing.T) {
	size := 9*Segment + 777
	data := text(size)
	for _, tc := range []struct {
		name        string
		piece, lead int
	}{
		{"aligned", sealedSegment, sealedSegment},
		{"straddling", sealedSegment, 1000},
		{"window", 4 * sealedSegment, 3*sealedSegment + 5},
	} {
		t.Run(tc.name, func(t *testing.T) {
			inner := &spanStore{memStore: newMemStore(0), piece: tc.piece, lead: tc.lead, flip: -1}
			b, err := New(inner, master(3))
			if err != nil {
				t.Fatal(err)
			}
			ref, err := store.WriteBlob(ctx, b, bytes.NewReader(data), int64(size), nil)
			if err != nil {
				t.Fatal(err)
			}
			read := func(off, n int64, bufSize int) ([]byte, error) {
				rc, err := b.Open(ctx, ref, off, n)
				if err != nil {
					return nil, err
				}
				defer rc.Close()
				var out []byte
				buf := make([]byte, bufSize)
				for {
					m, err := rc.Read(buf)
					out = append(out, buf[:m]...)
					if err == io.EOF {
						return out, nil
					}
					if err != nil {
						return out, err
					}
				}
			}
			ranges := [][2]int64{{0, int64(size)}, {1, int64(size) - 1}, {Segment, 3 * Segment}, {Segment - 3, Segment + 6}, {int64(size) - 10, 10}, {5, 17}}
			for _, bufSize := range []int{1, 1000, Segment, 4*Segment + 64, 1 << 20} {
				for _, rg := range ranges {
					got, err := read(rg[0], rg[1], bufSize)
					if err != nil || !bytes.Equal(got, data[rg[0]:rg[0]+rg[1]]) {
						t.Fatalf("buffer %d, range %d+%d: %d bytes, %v", bufSize, rg[0], rg[1], len(got), err)
					}
				}
			}
			if tc.name == "aligned" && inner.spans == 0 {
				t.Fatal("no segment was opened where it was lent")
			}
			// A bad stored byte in segment 4, served unverified only.
			inner.flip = 4*sealedSegment + 123
			for _, bufSize := range []int{1000, 4*Segment + 64, 1 << 20} {
				got, err := read(0, int64(size), bufSize)
				if err != nil || !bytes.Equal(got, data) {
					t.Fatalf("bad byte read around, buffer %d: %d bytes, %v", bufSize, len(got), err)
				}
			}
			// Served bad by every source: an error after the good
			// segments, never the bad one's bytes.
			inner.badAlways = true
			for _, bufSize := range []int{1000, 4*Segment + 64, 1 << 20} {
				got, err := read(0, int64(size), bufSize)
				if !errors.Is(err, ErrCorrupt) {
					t.Fatalf("bad byte everywhere, buffer %d: %d bytes, %v", bufSize, len(got), err)
				}
				if len(got) > 4*Segment || !bytes.Equal(got, data[:len(got)]) {
					t.Fatalf("bad byte everywhere, buffer %d: %d bytes returned, the bad segment starts at %d", bufSize, len(got), 4*Segment)
				}
			}
			inner.flip, inner.badAlways = -1, false
		})
	}
}
