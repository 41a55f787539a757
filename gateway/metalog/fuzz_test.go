package metalog

import (
	"errors"
	"io"
	"testing"

	"github.com/datdot/datdot/gateway/secret"
	"github.com/datdot/datdot/gateway/store/local"
)

// FuzzReadFrames: a log stream of any bytes (a damaged or hostile core
// that passed no signature check would be refused earlier; this is the
// decoder's own guard) is read without panicking, and every error is an
// ErrFrame or the end of the stream.
func FuzzReadFrames(f *testing.F) {
	aead, _ := newAEAD(secret.MetalogKey(make([]byte, 32)))
	id := []byte("fuzz-volume-id")
	good, _ := sealFrame(aead, id, 0, &body{Kind: kindSnapEnd, Changes: []local.Change{{Kind: local.MarkBucket, Bucket: "b"}}})
	f.Add(good, int64(64))
	f.Add(append(append([]byte(nil), good...), make([]byte, 40)...), int64(len(good)+8))
	f.Add([]byte("DML1\xff\xff\xff\xff"), int64(16))
	f.Add([]byte{0, 0, 0, 0, 'D'}, int64(4))
	f.Fuzz(func(t *testing.T, stream []byte, stripe int64) {
		if stripe <= 0 || stripe > 1<<20 {
			stripe = 64
		}
		r := &streamReader{read: func(off, n int64) ([]byte, error) {
			if off < 0 || off+n > int64(len(stream)) {
				return nil, io.EOF
			}
			return stream[off : off+n], nil
		}, size: int64(len(stream)), stripeSize: stripe, aead: aead, volID: id}
		for range 1000 {
			_, err := r.next()
			if err == nil {
				continue
			}
			if !errors.Is(err, io.EOF) && !errors.Is(err, ErrFrame) {
				t.Fatalf("error %v is neither the end nor ErrFrame", err)
			}
			return
		}
	})
}
