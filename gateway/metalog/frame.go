package metalog

import (
	"bytes"
	"compress/flate"
	"crypto/cipher"
	"crypto/rand"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"time"

	"golang.org/x/crypto/chacha20poly1305"

	"github.com/datdot/datdot/gateway/store/local"
)

// The log's data stream is a sequence of frames; after the frames of one
// flush the stream goes on at the next stripe boundary (volume format v2:
// the flush appends a short stripe, whose hole reads as zeros, and v1
// volumes padded it with zeros). A frame is
//
//	"DML1" | uint32be n | sealed (n bytes)
//
// sealed = nonce (24 random bytes) || XChaCha20-Poly1305(key, nonce,
// plaintext, ad), key = secret.MetalogKey(master), ad = "datdot metalog
// v1" || uint8(len(volume id)) || volume id || uint64be(stream offset of
// the frame): a frame moved to another place or another generation does
// not open. plaintext = raw DEFLATE of the JSON body.
const frameMagic = "DML1"

// maxFrame bounds a sealed frame (and so what a reader allocates).
const maxFrame = 64 << 20

// frameTarget is the plaintext size at which a writer starts a new frame.
const frameTarget = 1 << 20

// Frame kinds: a snapshot's frames, the end of the snapshot, changes.
const (
	kindSnapshot = "snap"
	kindSnapEnd  = "end"
	kindChanges  = "log"
)

type body struct {
	Kind    string         `json:"kind"`
	Gen     uint64         `json:"gen"`
	Time    time.Time      `json:"time"`
	Changes []local.Change `json:"changes,omitempty"`
}

// ErrFrame reports a stream that does not decode: damaged, forged, or
// written under another master secret.
var ErrFrame = errors.New("metalog: frame does not decode")

func frameAD(volID []byte, off int64) []byte {
	ad := append([]byte("datdot metalog v1"), byte(len(volID)))
	ad = append(ad, volID...)
	return binary.BigEndian.AppendUint64(ad, uint64(off))
}

func newAEAD(key []byte) (cipher.AEAD, error) {
	a, err := chacha20poly1305.NewX(key)
	if err != nil {
		return nil, fmt.Errorf("metalog: %w", err)
	}
	return a, nil
}

// sealFrame encodes b as the frame at stream offset off.
func sealFrame(aead cipher.AEAD, volID []byte, off int64, b *body) ([]byte, error) {
	var plain bytes.Buffer
	zw, _ := flate.NewWriter(&plain, flate.DefaultCompression)
	if err := json.NewEncoder(zw).Encode(b); err != nil {
		return nil, fmt.Errorf("metalog: encode frame: %w", err)
	}
	if err := zw.Close(); err != nil {
		return nil, err
	}
	nonce := make([]byte, aead.NonceSize())
	rand.Read(nonce)
	n := len(nonce) + plain.Len() + aead.Overhead()
	if n > maxFrame {
		return nil, fmt.Errorf("metalog: frame of %d bytes exceeds %d", n, maxFrame)
	}
	out := make([]byte, 0, 8+n)
	out = append(out, frameMagic...)
	out = binary.BigEndian.AppendUint32(out, uint32(n))
	out = append(out, nonce...)
	return aead.Seal(out, nonce, plain.Bytes(), frameAD(volID, off)), nil
}

// openFrame decodes a frame's sealed bytes found at stream offset off.
func openFrame(aead cipher.AEAD, volID []byte, off int64, sealed []byte) (*body, error) {
	ns := aead.NonceSize()
	if len(sealed) < ns+aead.Overhead() {
		return nil, fmt.Errorf("%w: %d bytes at %d", ErrFrame, len(sealed), off)
	}
	plain, err := aead.Open(nil, sealed[:ns], sealed[ns:], frameAD(volID, off))
	if err != nil {
		return nil, fmt.Errorf("%w at offset %d: authentication failed (damaged, or another master secret)", ErrFrame, off)
	}
	var b body
	dec := json.NewDecoder(flate.NewReader(io.LimitReader(bytes.NewReader(plain), maxFrame)))
	if err := dec.Decode(&b); err != nil {
		return nil, fmt.Errorf("%w at offset %d: %w", ErrFrame, off, err)
	}
	return &b, nil
}

// streamReader reads the frames of a log stream through read(off, n),
// which returns n bytes of the stream at off (io.EOF past its end).
type streamReader struct {
	read       func(off, n int64) ([]byte, error)
	size       int64 // stream length
	stripeSize int64
	aead       cipher.AEAD
	volID      []byte
	off        int64
}

// next returns the next frame, or io.EOF at the end of the stream.
func (r *streamReader) next() (*body, error) {
	for {
		if r.off >= r.size {
			return nil, io.EOF
		}
		first, err := r.read(r.off, 1)
		if err != nil {
			return nil, err
		}
		if first[0] == 0 {
			// Padding (a frame starts with 'D'): the next flush
			// starts at the next stripe.
			r.off = (r.off/r.stripeSize + 1) * r.stripeSize
			continue
		}
		if r.off+8 > r.size {
			return nil, fmt.Errorf("%w: stream ends inside a frame header at offset %d", ErrFrame, r.off)
		}
		head, err := r.read(r.off, 8)
		if err != nil {
			return nil, err
		}
		if string(head[:4]) != frameMagic {
			return nil, fmt.Errorf("%w: no frame at offset %d", ErrFrame, r.off)
		}
		n := int64(binary.BigEndian.Uint32(head[4:]))
		if n > maxFrame || r.off+8+n > r.size {
			return nil, fmt.Errorf("%w: frame of %d bytes at offset %d runs past the stream (%d bytes)", ErrFrame, n, r.off, r.size)
		}
		sealed, err := r.read(r.off+8, n)
		if err != nil {
			return nil, err
		}
		b, err := openFrame(r.aead, r.volID, r.off, sealed)
		if err != nil {
			return nil, err
		}
		r.off += 8 + n
		return b, nil
	}
}
