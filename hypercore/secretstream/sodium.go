package secretstream

import (
	"crypto/subtle"
	"encoding/binary"
	"errors"
	"fmt"

	"golang.org/x/crypto/chacha20"
	"golang.org/x/crypto/poly1305" //nolint:staticcheck // libsodium's secretstream needs the raw one-time authenticator
)

// libsodium crypto_secretstream_xchacha20poly1305 constants.
const (
	KeyBytes    = 32
	HeaderBytes = 24
	// ABytes is the per-message overhead: the encrypted tag byte and the
	// 16-byte MAC.
	ABytes = 17

	TagMessage = 0x00
	TagPush    = 0x01
	TagRekey   = 0x02
	TagFinal   = TagPush | TagRekey
)

// ErrBadMAC is returned when a message does not authenticate.
var ErrBadMAC = errors.New("secretstream: message forged or corrupt (bad MAC)")

// state is libsodium's crypto_secretstream_xchacha20poly1305_state: the
// subkey, a 12-byte nonce (u32le counter ‖ 8-byte inonce).
type state struct {
	k     [32]byte
	nonce [12]byte
}

func (s *state) init(key []byte, header []byte) error {
	if len(key) != KeyBytes || len(header) != HeaderBytes {
		return fmt.Errorf("secretstream: key %d bytes, header %d bytes", len(key), len(header))
	}
	sub, err := chacha20.HChaCha20(key, header[:16])
	if err != nil {
		return err
	}
	copy(s.k[:], sub)
	s.resetCounter()
	copy(s.nonce[4:], header[16:24])
	return nil
}

func (s *state) resetCounter() {
	binary.LittleEndian.PutUint32(s.nonce[:4], 1)
}

func (s *state) cipher(counter uint32) *chacha20.Cipher {
	c, err := chacha20.NewUnauthenticatedCipher(s.k[:], s.nonce[:])
	if err != nil {
		panic(err) // key and nonce sizes are fixed
	}
	c.SetCounter(counter)
	return c
}

func (s *state) rekey() {
	var buf [40]byte
	copy(buf[:32], s.k[:])
	copy(buf[32:], s.nonce[4:])
	s.cipher(0).XORKeyStream(buf[:], buf[:])
	copy(s.k[:], buf[:32])
	copy(s.nonce[4:], buf[32:])
	s.resetCounter()
}

// mac authenticates like libsodium: the poly1305 key is keystream block
// 0; the input is ad, zero padding to 16, the 64-byte block holding the
// encrypted tag, the ciphertext, then (quirk kept for compatibility)
// mlen mod 16 zero bytes, then u64le(adlen) and u64le(64+mlen).
func (s *state) mac(block *[64]byte, c []byte) [16]byte {
	var pk [64]byte
	s.cipher(0).XORKeyStream(pk[:], pk[:])
	var key [32]byte
	copy(key[:], pk[:32])
	m := poly1305.New(&key)
	m.Write(block[:])
	m.Write(c)
	var pad [16]byte
	m.Write(pad[:len(c)&0xf])
	var lens [16]byte
	binary.LittleEndian.PutUint64(lens[:8], 0)
	binary.LittleEndian.PutUint64(lens[8:], 64+uint64(len(c)))
	m.Write(lens[:])
	var out [16]byte
	m.Sum(out[:0])
	return out
}

func (s *state) after(mac []byte, tag byte) {
	for i := 0; i < 8; i++ {
		s.nonce[4+i] ^= mac[i]
	}
	ctr := binary.LittleEndian.Uint32(s.nonce[:4]) + 1
	binary.LittleEndian.PutUint32(s.nonce[:4], ctr)
	if tag&TagRekey != 0 || ctr == 0 {
		s.rekey()
	}
}

// Push encrypts a stream of messages (crypto_secretstream_xchacha20poly1305_push).
type Push struct{ st state }

// NewPush starts a stream under key with the given 24-byte header (which
// the receiver needs; make it random).
func NewPush(key, header []byte) (*Push, error) {
	p := &Push{}
	if err := p.st.init(key, header); err != nil {
		return nil, err
	}
	return p, nil
}

// Seal appends the encryption of m with tag to dst (len(m)+ABytes bytes).
func (p *Push) Seal(dst, m []byte, tag byte) []byte {
	var block [64]byte
	block[0] = tag
	p.st.cipher(1).XORKeyStream(block[:], block[:])
	n := len(dst)
	dst = append(dst, make([]byte, 1+len(m)+16)...)
	out := dst[n:]
	out[0] = block[0]
	c := out[1 : 1+len(m)]
	p.st.cipher(2).XORKeyStream(c, m)
	mac := p.st.mac(&block, c)
	copy(out[1+len(m):], mac[:])
	p.st.after(mac[:], tag)
	return dst
}

// Pull decrypts a stream (crypto_secretstream_xchacha20poly1305_pull).
type Pull struct{ st state }

// NewPull starts decrypting a stream under key from its header.
func NewPull(key, header []byte) (*Pull, error) {
	p := &Pull{}
	if err := p.st.init(key, header); err != nil {
		return nil, err
	}
	return p, nil
}

// Open decrypts in (at least ABytes long) and appends the message to dst;
// it returns the tag. A message that does not authenticate returns
// ErrBadMAC and leaves the state unchanged.
func (p *Pull) Open(dst, in []byte) ([]byte, byte, error) {
	if len(in) < ABytes {
		return dst, 0, fmt.Errorf("secretstream: message of %d bytes is shorter than %d", len(in), ABytes)
	}
	var block [64]byte
	block[0] = in[0]
	p.st.cipher(1).XORKeyStream(block[:], block[:])
	tag := block[0]
	block[0] = in[0]
	c := in[1 : len(in)-16]
	mac := p.st.mac(&block, c)
	if subtle.ConstantTimeCompare(mac[:], in[len(in)-16:]) != 1 {
		return dst, 0, ErrBadMAC
	}
	n := len(dst)
	dst = append(dst, make([]byte, len(c))...)
	p.st.cipher(2).XORKeyStream(dst[n:], c)
	p.st.after(mac[:], tag)
	return dst, tag, nil
}
