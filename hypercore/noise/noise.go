// Package noise is the Noise XX handshake as Hypercore peers run it
// (noise-handshake 4.2.0 with noise-curve-ed 2.1.0, through
// @hyperswarm/secret-stream 6.9.2): protocol name
// "Noise_XX_Ed25519_ChaChaPoly_BLAKE2b", static and ephemeral keys are
// Ed25519 key pairs and DH is the Ed25519 point multiplication of the
// peer's public key by our clamped secret scalar, the hash is BLAKE2b-512
// (HASHLEN 64, HMAC block 128), the cipher ChaCha20-Poly1305 (IETF) with
// the 32-bit counter little endian at nonce byte 4, and the prologue is
// empty.
//
// A Handshake is driven message by message: the initiator writes, reads,
// writes; the responder reads, writes, reads. After the third message
// Complete is true and Result gives the transport keys (tx, rx), the
// 64-byte handshake hash and the peer's static public key.
package noise

import (
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha512"
	"encoding/binary"
	"errors"
	"fmt"
	"hash"

	"filippo.io/edwards25519"
	"golang.org/x/crypto/blake2b"
	"golang.org/x/crypto/chacha20poly1305"
)

// ProtocolName is the Noise protocol name, mixed into the initial hash.
const ProtocolName = "Noise_XX_Ed25519_ChaChaPoly_BLAKE2b"

const (
	hashLen  = 64
	blockLen = 128
	// PublicKeySize is the size of a static or ephemeral public key.
	PublicKeySize = 32
	// MaxMessage is the largest handshake message Noise allows.
	MaxMessage = 65535
)

// ErrHandshake is wrapped by every handshake failure.
var ErrHandshake = errors.New("noise: handshake failed")

type token int

const (
	tokE token = iota
	tokS
	tokEE
	tokES
	tokSE
)

var patternXX = [][]token{
	{tokE},
	{tokE, tokEE, tokS, tokES},
	{tokS, tokSE},
}

// Result is what a completed handshake established.
type Result struct {
	Tx, Rx          [32]byte // our sending and receiving keys
	Hash            [64]byte // the handshake hash
	RemotePublicKey [32]byte // the peer's static Ed25519 public key
}

// Handshake is one side of a Noise XX handshake. It is not safe for
// concurrent use.
type Handshake struct {
	initiator bool
	s         ed25519.PrivateKey
	e         ed25519.PrivateKey
	re, rs    []byte

	digest      [hashLen]byte
	chainingKey [hashLen]byte
	key         []byte // cipher key, nil until the first mixKey
	nonce       uint64

	step     int
	complete bool
	failed   error
	result   Result
}

// New starts a handshake. static is our Ed25519 key (the peer learns its
// public half); nil makes a fresh one.
func New(initiator bool, static ed25519.PrivateKey) (*Handshake, error) {
	if static == nil {
		_, priv, err := ed25519.GenerateKey(rand.Reader)
		if err != nil {
			return nil, fmt.Errorf("noise: static key: %w", err)
		}
		static = priv
	}
	if len(static) != ed25519.PrivateKeySize {
		return nil, fmt.Errorf("noise: static key is %d bytes", len(static))
	}
	h := &Handshake{initiator: initiator, s: static}
	// The protocol name is shorter than HASHLEN: it is the digest, zero padded.
	copy(h.digest[:], ProtocolName)
	h.chainingKey = h.digest
	h.mixHash(nil) // the empty prologue
	return h, nil
}

// SetEphemeral fixes the ephemeral key (for test vectors); it must be
// called before the handshake writes its ephemeral key.
func (h *Handshake) SetEphemeral(e ed25519.PrivateKey) { h.e = e }

// PublicKey is our static public key.
func (h *Handshake) PublicKey() []byte { return h.s.Public().(ed25519.PublicKey) }

// Complete reports whether the handshake finished.
func (h *Handshake) Complete() bool { return h.complete }

// Result returns the handshake's outcome; valid once Complete.
func (h *Handshake) Result() Result { return h.result }

// WantsWrite reports whether the next step is ours to write.
func (h *Handshake) WantsWrite() bool {
	return !h.complete && (h.step%2 == 0) == h.initiator
}

func (h *Handshake) mixHash(data []byte) {
	d, _ := blake2b.New512(nil)
	d.Write(h.digest[:])
	d.Write(data)
	d.Sum(h.digest[:0])
}

func newBlake512() hash.Hash { d, _ := blake2b.New512(nil); return d }

// hmac is HMAC-BLAKE2b-512 with a 128-byte block, as noise-handshake's
// hmac.js computes it.
func hmac(key []byte, parts ...[]byte) [hashLen]byte {
	var k [blockLen]byte
	if len(key) > blockLen {
		s := blake2b.Sum512(key)
		copy(k[:], s[:])
	} else {
		copy(k[:], key)
	}
	var ipad, opad [blockLen]byte
	for i := range k {
		ipad[i] = k[i] ^ 0x36
		opad[i] = k[i] ^ 0x5c
	}
	in := newBlake512()
	in.Write(ipad[:])
	for _, p := range parts {
		in.Write(p)
	}
	inner := in.Sum(nil)
	out := newBlake512()
	out.Write(opad[:])
	out.Write(inner)
	var r [hashLen]byte
	out.Sum(r[:0])
	return r
}

// hkdf2 is noise-handshake's hkdf with an empty info and two outputs.
func hkdf2(salt, ikm []byte) (a, b [hashLen]byte) {
	prk := hmac(salt, ikm)
	a = hmac(prk[:], []byte{1})
	b = hmac(prk[:], a[:], []byte{2})
	return a, b
}

// DH multiplies the Ed25519 point pub by the clamped scalar of priv, as
// noise-curve-ed does with libsodium's crypto_scalarmult_ed25519_noclamp
// (which refuses non-canonical, small-order and non-prime-order points and
// an identity result).
func DH(priv ed25519.PrivateKey, pub []byte) ([]byte, error) {
	if len(pub) != PublicKeySize {
		return nil, fmt.Errorf("%w: public key is %d bytes", ErrHandshake, len(pub))
	}
	p, err := new(edwards25519.Point).SetBytes(pub)
	if err != nil || !bytesEqual(p.Bytes(), pub) {
		return nil, fmt.Errorf("%w: public key is not a canonical curve point", ErrHandshake)
	}
	if new(edwards25519.Point).MultByCofactor(p).Equal(edwards25519.NewIdentityPoint()) == 1 {
		return nil, fmt.Errorf("%w: public key has small order", ErrHandshake)
	}
	// [L]P is the identity only for points in the prime-order subgroup:
	// (L-1)·P + P, with L-1 the scalar -1.
	minusOne := edwards25519.NewScalar().Subtract(edwards25519.NewScalar(), scalarOne())
	lp := new(edwards25519.Point).ScalarMult(minusOne, p)
	lp.Add(lp, p)
	if lp.Equal(edwards25519.NewIdentityPoint()) != 1 {
		return nil, fmt.Errorf("%w: public key is not in the prime-order subgroup", ErrHandshake)
	}
	d := sha512.Sum512(priv.Seed())
	sc, err := edwards25519.NewScalar().SetBytesWithClamping(d[:32])
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrHandshake, err)
	}
	q := new(edwards25519.Point).ScalarMult(sc, p)
	if q.Equal(edwards25519.NewIdentityPoint()) == 1 {
		return nil, fmt.Errorf("%w: DH result is the identity", ErrHandshake)
	}
	return q.Bytes(), nil
}

func scalarOne() *edwards25519.Scalar {
	var b [32]byte
	b[0] = 1
	s, _ := edwards25519.NewScalar().SetCanonicalBytes(b[:])
	return s
}

func bytesEqual(a, b []byte) bool {
	if len(a) != len(b) {
		return false
	}
	var v byte
	for i := range a {
		v |= a[i] ^ b[i]
	}
	return v == 0
}

func (h *Handshake) mixKey(remote []byte, local ed25519.PrivateKey) error {
	dh, err := DH(local, remote)
	if err != nil {
		return err
	}
	ck, k := hkdf2(h.chainingKey[:], dh)
	h.chainingKey = ck
	h.key = append([]byte(nil), k[:32]...)
	h.nonce = 0
	return nil
}

func nonceBytes(n uint64) []byte {
	var nb [chacha20poly1305.NonceSize]byte
	binary.LittleEndian.PutUint32(nb[4:], uint32(n))
	return nb[:]
}

func (h *Handshake) encryptAndHash(pt []byte) ([]byte, error) {
	ct := pt
	if h.key != nil {
		aead, err := chacha20poly1305.New(h.key)
		if err != nil {
			return nil, err
		}
		ct = aead.Seal(nil, nonceBytes(h.nonce), pt, h.digest[:])
		h.nonce++
	} else {
		ct = append([]byte(nil), pt...)
	}
	h.mixHash(ct)
	return ct, nil
}

func (h *Handshake) decryptAndHash(ct []byte) ([]byte, error) {
	pt := ct
	if h.key != nil {
		aead, err := chacha20poly1305.New(h.key)
		if err != nil {
			return nil, err
		}
		pt, err = aead.Open(nil, nonceBytes(h.nonce), ct, h.digest[:])
		if err != nil {
			return nil, fmt.Errorf("%w: bad MAC", ErrHandshake)
		}
		h.nonce++
	} else {
		pt = append([]byte(nil), ct...)
	}
	h.mixHash(ct)
	return pt, nil
}

// dhPair returns the local key and remote public key of a DH token.
func (h *Handshake) dhPair(t token) (ed25519.PrivateKey, []byte) {
	switch t {
	case tokES: // initiator's e with responder's s
		if h.initiator {
			return h.e, h.rs
		}
		return h.s, h.re
	case tokSE: // initiator's s with responder's e
		if h.initiator {
			return h.s, h.re
		}
		return h.e, h.rs
	default: // ee
		return h.e, h.re
	}
}

// WriteMessage makes our next handshake message carrying payload.
func (h *Handshake) WriteMessage(payload []byte) ([]byte, error) {
	if h.failed != nil {
		return nil, h.failed
	}
	if !h.WantsWrite() {
		return nil, fmt.Errorf("%w: not our turn to write", ErrHandshake)
	}
	out, err := h.write(payload)
	if err != nil {
		h.failed = err
		return nil, err
	}
	return out, nil
}

func (h *Handshake) write(payload []byte) ([]byte, error) {
	var out []byte
	for _, t := range patternXX[h.step] {
		switch t {
		case tokE:
			if h.e == nil {
				_, e, err := ed25519.GenerateKey(rand.Reader)
				if err != nil {
					return nil, err
				}
				h.e = e
			}
			pub := h.e.Public().(ed25519.PublicKey)
			h.mixHash(pub)
			out = append(out, pub...)
		case tokS:
			ct, err := h.encryptAndHash(h.PublicKey())
			if err != nil {
				return nil, err
			}
			out = append(out, ct...)
		default:
			if err := h.mixKey(h.remoteOf(t)); err != nil {
				return nil, err
			}
		}
	}
	ct, err := h.encryptAndHash(payload)
	if err != nil {
		return nil, err
	}
	out = append(out, ct...)
	if len(out) > MaxMessage {
		return nil, fmt.Errorf("%w: message of %d bytes", ErrHandshake, len(out))
	}
	h.advance()
	return out, nil
}

func (h *Handshake) remoteOf(t token) ([]byte, ed25519.PrivateKey) {
	local, remote := h.dhPair(t)
	return remote, local
}

// ReadMessage processes the peer's next handshake message and returns its
// payload.
func (h *Handshake) ReadMessage(msg []byte) ([]byte, error) {
	if h.failed != nil {
		return nil, h.failed
	}
	if h.complete || h.WantsWrite() {
		return nil, fmt.Errorf("%w: not our turn to read", ErrHandshake)
	}
	p, err := h.read(msg)
	if err != nil {
		h.failed = err
		return nil, err
	}
	return p, nil
}

func (h *Handshake) read(msg []byte) ([]byte, error) {
	if len(msg) > MaxMessage {
		return nil, fmt.Errorf("%w: message of %d bytes", ErrHandshake, len(msg))
	}
	off := 0
	take := func(n int) ([]byte, error) {
		if len(msg)-off < n {
			return nil, fmt.Errorf("%w: message of %d bytes is too short", ErrHandshake, len(msg))
		}
		v := msg[off : off+n]
		off += n
		return v, nil
	}
	for _, t := range patternXX[h.step] {
		switch t {
		case tokE:
			re, err := take(PublicKeySize)
			if err != nil {
				return nil, err
			}
			h.re = append([]byte(nil), re...)
			h.mixHash(h.re)
		case tokS:
			n := PublicKeySize
			if h.key != nil {
				n += 16
			}
			ct, err := take(n)
			if err != nil {
				return nil, err
			}
			rs, err := h.decryptAndHash(ct)
			if err != nil {
				return nil, err
			}
			h.rs = rs
		default:
			if err := h.mixKey(h.remoteOf(t)); err != nil {
				return nil, err
			}
		}
	}
	payload, err := h.decryptAndHash(msg[off:])
	if err != nil {
		return nil, err
	}
	h.advance()
	return payload, nil
}

func (h *Handshake) advance() {
	h.step++
	if h.step < len(patternXX) {
		return
	}
	k1, k2 := hkdf2(h.chainingKey[:], nil)
	r := Result{Hash: h.digest}
	if h.initiator {
		copy(r.Tx[:], k1[:32])
		copy(r.Rx[:], k2[:32])
	} else {
		copy(r.Tx[:], k2[:32])
		copy(r.Rx[:], k1[:32])
	}
	copy(r.RemotePublicKey[:], h.rs)
	h.result = r
	h.complete = true
	h.key, h.e, h.re = nil, nil, nil
}
