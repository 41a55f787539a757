// Package secretstream is the encrypted transport of Hypercore peers
// (@hyperswarm/secret-stream 6.9.2) over any byte stream, usually TCP:
//
//   - every frame is a 3-byte little-endian length and that many bytes;
//   - a Noise XX handshake (package noise) in three frames, initiator
//     first, with empty payloads;
//   - then each side sends one 56-byte header frame: its stream id,
//     BLAKE2b-256 keyed with the handshake hash over the namespace of its
//     role (hypercore-crypto namespace "hyperswarm/secret-stream", 0 for
//     the initiator, 1 for the responder), and the 24-byte header of a
//     libsodium secretstream (XChaCha20-Poly1305) under its Noise tx key;
//   - every later frame is one message sealed with TAG_MESSAGE (17 bytes
//     of overhead). Empty messages are keep-alives.
//
// A Conn reads from one goroutine and writes from any.
package secretstream

import (
	"bufio"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/subtle"
	"errors"
	"fmt"
	"io"
	"net"
	"sync"
	"time"

	"golang.org/x/crypto/blake2b"

	"github.com/datdot/datdot/hypercore/noise"
)

// MaxFrame is the largest frame the 3-byte length can express.
const MaxFrame = 1<<24 - 1

// headerFrame is the size of the header message: stream id + secretstream header.
const headerFrame = 32 + HeaderBytes

// Errors a peer can cause; all are wrapped with detail.
var (
	ErrFrameTooLarge = errors.New("secretstream: frame too large")
	ErrBadHeader     = errors.New("secretstream: bad header message")
)

// Config tunes a Conn.
type Config struct {
	// KeyPair is our static Noise key; nil makes a fresh one.
	KeyPair ed25519.PrivateKey
	// MaxMessage bounds a received message (plaintext bytes); 0 means
	// MaxFrame-ABytes, the protocol's limit.
	MaxMessage int
	// IdleTimeout, if set, ends a stream on which nothing arrived for
	// that long (JS peers send a keep-alive every 5 s).
	IdleTimeout time.Duration
}

// Conn is an established secret stream.
type Conn struct {
	raw       net.Conn
	br        *bufio.Reader
	initiator bool
	res       noise.Result
	localPub  []byte
	pull      *Pull
	max       int
	idle      time.Duration

	wmu  sync.Mutex
	push *Push
	wbuf []byte
}

var nsInitiator, nsResponder = namespaces()

func namespaces() ([32]byte, [32]byte) {
	ns := blake2b.Sum256([]byte("hyperswarm/secret-stream"))
	var in [33]byte
	copy(in[:], ns[:])
	in[32] = 0
	a := blake2b.Sum256(in[:])
	in[32] = 1
	b := blake2b.Sum256(in[:])
	return a, b
}

// StreamID is the id a side with role initiator announces for a handshake.
func StreamID(handshakeHash []byte, initiator bool) [32]byte {
	ns := nsResponder
	if initiator {
		ns = nsInitiator
	}
	h, _ := blake2b.New256(handshakeHash)
	h.Write(ns[:])
	var out [32]byte
	h.Sum(out[:0])
	return out
}

// Handshake runs the Noise handshake and header exchange on raw and
// returns the secret stream. ctx bounds the handshake only.
func Handshake(ctx context.Context, raw net.Conn, initiator bool, cfg Config) (*Conn, error) {
	hs, err := noise.New(initiator, cfg.KeyPair)
	if err != nil {
		return nil, err
	}
	if dl, ok := ctx.Deadline(); ok {
		raw.SetDeadline(dl)
	}
	stop := context.AfterFunc(ctx, func() { raw.SetDeadline(time.Unix(1, 0)) })
	defer func() {
		stop()
		raw.SetDeadline(time.Time{})
	}()
	c := &Conn{raw: raw, br: bufio.NewReaderSize(raw, 64<<10), initiator: initiator, max: cfg.MaxMessage, localPub: hs.PublicKey(), idle: cfg.IdleTimeout}
	if c.max <= 0 || c.max > MaxFrame-ABytes {
		c.max = MaxFrame - ABytes
	}
	for !hs.Complete() {
		if hs.WantsWrite() {
			msg, err := hs.WriteMessage(nil)
			if err != nil {
				return nil, err
			}
			if hs.Complete() {
				// Our last handshake message and our header go out together.
				if err := c.finish(hs, msg); err != nil {
					return nil, err
				}
				break
			}
			if _, err := raw.Write(frame(nil, msg)); err != nil {
				return nil, fmt.Errorf("secretstream: handshake: %w", err)
			}
			continue
		}
		msg, err := c.readFrame(noise.MaxMessage)
		if err != nil {
			return nil, fmt.Errorf("secretstream: handshake: %w", err)
		}
		if _, err := hs.ReadMessage(msg); err != nil {
			return nil, err
		}
		if hs.Complete() {
			if err := c.finish(hs, nil); err != nil {
				return nil, err
			}
		}
	}
	// The peer's header.
	h, err := c.readFrame(headerFrame)
	if err != nil {
		return nil, fmt.Errorf("secretstream: header: %w", err)
	}
	if len(h) != headerFrame {
		return nil, fmt.Errorf("%w: %d bytes, want %d", ErrBadHeader, len(h), headerFrame)
	}
	want := StreamID(c.res.Hash[:], !initiator)
	if subtle.ConstantTimeCompare(h[:32], want[:]) != 1 {
		return nil, fmt.Errorf("%w: stream id does not match the handshake", ErrBadHeader)
	}
	if c.pull, err = NewPull(c.res.Rx[:], h[32:]); err != nil {
		return nil, err
	}
	return c, nil
}

// finish sets up sending after the handshake and writes pending (our last
// handshake message, if any) followed by our header.
func (c *Conn) finish(hs *noise.Handshake, pending []byte) error {
	c.res = hs.Result()
	header := make([]byte, HeaderBytes)
	if _, err := rand.Read(header); err != nil {
		return err
	}
	push, err := NewPush(c.res.Tx[:], header)
	if err != nil {
		return err
	}
	c.push = push
	id := StreamID(c.res.Hash[:], c.initiator)
	var out []byte
	if pending != nil {
		out = frame(out, pending)
	}
	out = frame(out, append(id[:], header...))
	if _, err := c.raw.Write(out); err != nil {
		return fmt.Errorf("secretstream: handshake: %w", err)
	}
	return nil
}

func frame(dst, msg []byte) []byte {
	n := len(msg)
	dst = append(dst, byte(n), byte(n>>8), byte(n>>16))
	return append(dst, msg...)
}

// readFrame reads one frame of at most max bytes. The buffer grows as
// bytes arrive, so a peer announcing a large frame costs only what it sends.
func (c *Conn) readFrame(max int) ([]byte, error) {
	var l [3]byte
	if _, err := io.ReadFull(c.br, l[:]); err != nil {
		return nil, err
	}
	n := int(l[0]) | int(l[1])<<8 | int(l[2])<<16
	if n > max {
		return nil, fmt.Errorf("%w: %d bytes, limit %d", ErrFrameTooLarge, n, max)
	}
	const chunk = 256 << 10
	buf := make([]byte, 0, min(n, chunk))
	for len(buf) < n {
		k := min(n-len(buf), chunk)
		buf = append(buf, make([]byte, k)...)
		if _, err := io.ReadFull(c.br, buf[len(buf)-k:]); err != nil {
			if err == io.EOF {
				err = io.ErrUnexpectedEOF
			}
			return nil, err
		}
	}
	return buf, nil
}

// ReadMessage returns the next message (empty for a keep-alive). A frame
// over the limit, a forged or corrupt message, or a closed connection is
// an error after which the Conn is unusable. Call it from one goroutine.
func (c *Conn) ReadMessage() ([]byte, error) {
	if c.idle > 0 {
		c.raw.SetReadDeadline(time.Now().Add(c.idle))
	}
	f, err := c.readFrame(c.max + ABytes)
	if err != nil {
		return nil, err
	}
	if len(f) < ABytes {
		return nil, fmt.Errorf("secretstream: message of %d bytes is shorter than %d", len(f), ABytes)
	}
	m, _, err := c.pull.Open(make([]byte, 0, len(f)-ABytes), f)
	if err != nil {
		return nil, err
	}
	return m, nil
}

// WriteMessage seals and sends one message. Safe for concurrent use.
func (c *Conn) WriteMessage(m []byte) error {
	if len(m)+ABytes > MaxFrame {
		return fmt.Errorf("%w: message of %d bytes", ErrFrameTooLarge, len(m))
	}
	c.wmu.Lock()
	defer c.wmu.Unlock()
	n := len(m) + ABytes
	b := append(c.wbuf[:0], byte(n), byte(n>>8), byte(n>>16))
	b = c.push.Seal(b, m, TagMessage)
	_, err := c.raw.Write(b)
	if cap(b) <= 1<<20 {
		c.wbuf = b
	}
	return err
}

// IsInitiator reports our role.
func (c *Conn) IsInitiator() bool { return c.initiator }

// HandshakeHash is the Noise handshake hash (64 bytes).
func (c *Conn) HandshakeHash() []byte { return c.res.Hash[:] }

// RemotePublicKey is the peer's static public key.
func (c *Conn) RemotePublicKey() []byte { return c.res.RemotePublicKey[:] }

// PublicKey is our static public key.
func (c *Conn) PublicKey() []byte { return c.localPub }

// RemoteAddr is the address of the underlying connection.
func (c *Conn) RemoteAddr() net.Addr { return c.raw.RemoteAddr() }

// Close closes the underlying connection.
func (c *Conn) Close() error { return c.raw.Close() }
