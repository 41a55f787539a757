package crypt

import (
	"bytes"
	"errors"
	"io"
	"os"
	"testing"

	"github.com/datdot/datdot/gateway/store"
)

// TestAuthenticatesReads: blobs written through crypt report authenticated
// reads, blobs of the inner store alone (written before encryption was
// turned on) do not, and an object is authenticated only when all its
// parts are. A changed byte anywhere in an authenticated blob makes the
// whole-object read fail instead of returning the other bytes.
func TestAuthenticatesReads(t *testing.T) {
	b, inner, dir := newStore(t)
	data := text(5*Segment + 100)
	ref, err := store.WriteBlob(ctx, b, bytes.NewReader(data), int64(len(data)), nil)
	if err != nil {
		t.Fatal(err)
	}
	plain, err := store.WriteBlob(ctx, inner, bytes.NewReader(data), int64(len(data)), nil)
	if err != nil {
		t.Fatal(err)
	}
	if !b.AuthenticatesReads(ref) {
		t.Fatal("encrypted blob: reads not authenticated")
	}
	if b.AuthenticatesReads(plain) {
		t.Fatal("blob without a key: reads reported authenticated")
	}
	enc := store.Part{Number: 1, Size: ref.Size, Blob: ref}
	old := store.Part{Number: 2, Size: plain.Size, Blob: plain}
	for _, c := range []struct {
		name  string
		blobs store.BlobStore
		parts []store.Part
		want  bool
	}{
		{"encrypted parts", b, []store.Part{enc, enc}, true},
		{"one part without a key", b, []store.Part{enc, old}, false},
		{"no parts", b, nil, false},
		{"store that does not authenticate", inner, []store.Part{old}, false},
	} {
		if got := store.ReadsAuthenticated(c.blobs, c.parts); got != c.want {
			t.Errorf("%s: ReadsAuthenticated = %v, want %v", c.name, got, c.want)
		}
	}

	// One flipped bit in the fourth segment: the object read stops with
	// an error before it returns all the bytes.
	p := blobFile(t, dir, ref)
	raw, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	raw[3*sealedSegment+500] ^= 0x08
	if err := os.WriteFile(p, raw, 0o644); err != nil {
		t.Fatal(err)
	}
	obj := store.Object{Size: ref.Size, Parts: []store.Part{enc}}
	rc, err := store.OpenObject(ctx, b, &obj, 0, obj.Size)
	if err != nil {
		t.Fatal(err)
	}
	got, err := io.ReadAll(rc)
	rc.Close()
	if !errors.Is(err, ErrCorrupt) {
		t.Fatalf("read of a tampered blob: %d bytes, err %v; want ErrCorrupt", len(got), err)
	}
	if len(got) >= len(data) {
		t.Fatalf("read of a tampered blob returned all %d bytes", len(got))
	}
	if !bytes.Equal(got, data[:len(got)]) {
		t.Fatal("read of a tampered blob returned bytes that were not written")
	}
}
