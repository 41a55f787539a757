// Package protomux multiplexes channels over one message stream, byte
// compatible with the JS protomux 3.12.1 that Hypercore replication runs
// on. Every message of the stream is one frame:
//
//	uint channel ‖ uint type ‖ payload
//
// Channel 0 is the control channel: type 0 a batch (uint channel, then
// items `uint length ‖ type ‖ payload`, where a length of 0 is followed by
// a new uint channel), type 1 open (uint our id, string protocol,
// optional buffer id, then the protocol's handshake), type 2 reject (uint
// the id the opener used), type 3 close (uint our id). A channel is open
// once both sides sent an open for the same protocol and id; each side
// addresses its messages with its own channel id.
package protomux

import (
	"context"
	"errors"
	"fmt"
	"sync"

	"github.com/datdot/datdot/hypercore/compact"
)

// MaxChannels bounds the channels a peer may have open on one stream.
const MaxChannels = 1024

// ErrProtocol is wrapped by every error a misbehaving peer causes.
var ErrProtocol = errors.New("protomux: protocol error")

// ErrClosed is returned by sends on a closed channel or stream.
var ErrClosed = errors.New("protomux: closed")

// Transport is a message stream (a secretstream.Conn).
type Transport interface {
	ReadMessage() ([]byte, error)
	WriteMessage([]byte) error
	Close() error
}

// Handler receives a channel's events, from the Mux's Run goroutine. An
// error it returns ends the whole stream (the peer misbehaved).
type Handler interface {
	// Opened: both sides opened the channel; handshake is the remote's.
	Opened(ch *Channel, handshake []byte) error
	// Message is one message of type typ (payload aliases a buffer that
	// is not reused).
	Message(ch *Channel, typ uint64, payload []byte) error
	// Closed is called once, when the channel closes or the stream ends.
	Closed(ch *Channel, remote bool)
}

// PairFunc decides about a channel the remote opened that we have not:
// return a Handler and our handshake to open it, or ok=false to reject it.
// It runs on the Run goroutine and must not block for long.
type PairFunc func(protocol string, id []byte) (h Handler, handshake []byte, ok bool)

// Mux is one multiplexed stream.
type Mux struct {
	t    Transport
	pair PairFunc

	mu      sync.Mutex
	local   []*Channel            // by local id - 1
	remote  []*remoteState        // by remote id - 1
	waiting map[string][]*Channel // opened locally, not yet by the remote
	closed  bool
}

type remoteState struct {
	ch *Channel
}

// Channel is one channel of a Mux.
type Channel struct {
	mux      *Mux
	h        Handler
	Protocol string
	ID       []byte
	localID  uint64
	remoteID uint64 // 0 until paired

	mu     sync.Mutex
	opened bool
	closed bool
}

// New makes a Mux over t. pair may be nil (reject every remote open).
func New(t Transport, pair PairFunc) *Mux {
	return &Mux{t: t, pair: pair, waiting: map[string][]*Channel{}}
}

func key(protocol string, id []byte) string { return protocol + "##" + string(id) }

// Open opens a channel for protocol and id, sending handshake. If the
// remote already opened it (a pending open PairFunc did not take), the
// pairing happens when its open is processed; otherwise h.Opened is
// called when the remote's open arrives.
func (m *Mux) Open(protocol string, id []byte, handshake []byte, h Handler) (*Channel, error) {
	m.mu.Lock()
	if m.closed {
		m.mu.Unlock()
		return nil, ErrClosed
	}
	ch := m.newChannel(protocol, id, h)
	m.waiting[key(protocol, id)] = append(m.waiting[key(protocol, id)], ch)
	m.mu.Unlock()
	if err := m.sendOpen(ch, handshake); err != nil {
		return nil, err
	}
	return ch, nil
}

// newChannel allocates a local id; m.mu held.
func (m *Mux) newChannel(protocol string, id []byte, h Handler) *Channel {
	ch := &Channel{mux: m, h: h, Protocol: protocol, ID: append([]byte(nil), id...)}
	for i, c := range m.local {
		if c == nil {
			m.local[i] = ch
			ch.localID = uint64(i + 1)
			return ch
		}
	}
	m.local = append(m.local, ch)
	ch.localID = uint64(len(m.local))
	return ch
}

func (m *Mux) sendOpen(ch *Channel, handshake []byte) error {
	b := []byte{0, 1}
	b = compact.AppendUint(b, ch.localID)
	b = compact.AppendString(b, ch.Protocol)
	b = compact.AppendBuffer(b, ch.ID) // optional buffer: empty = absent
	b = append(b, handshake...)
	return m.t.WriteMessage(b)
}

// Run reads and dispatches messages until the stream ends, the peer
// misbehaves (an error wrapping ErrProtocol, or a handler's error) or ctx
// is done. It closes the transport and every channel before returning.
func (m *Mux) Run(ctx context.Context) error {
	stop := context.AfterFunc(ctx, func() { m.t.Close() })
	defer stop()
	err := m.loop()
	if ctx.Err() != nil {
		err = ctx.Err()
	}
	m.shutdown()
	return err
}

func (m *Mux) loop() error {
	for {
		msg, err := m.t.ReadMessage()
		if err != nil {
			return err
		}
		if len(msg) == 0 {
			continue // keep-alive
		}
		d := compact.NewDecoder(msg)
		id := d.Uint()
		if err := d.Err(); err != nil {
			return fmt.Errorf("%w: %w", ErrProtocol, err)
		}
		if err := m.decode(id, d, 0); err != nil {
			return err
		}
	}
}

func (m *Mux) decode(id uint64, d *compact.Decoder, depth int) error {
	typ := d.Uint()
	if err := d.Err(); err != nil {
		return fmt.Errorf("%w: %w", ErrProtocol, err)
	}
	if id == 0 {
		return m.control(typ, d, depth)
	}
	m.mu.Lock()
	var ch *Channel
	if id-1 < uint64(len(m.remote)) && m.remote[id-1] != nil {
		ch = m.remote[id-1].ch
	}
	m.mu.Unlock()
	if ch == nil {
		return nil // a message for a channel that closed: ignore, as JS does
	}
	return ch.h.Message(ch, typ, d.Rest())
}

func (m *Mux) control(typ uint64, d *compact.Decoder, depth int) error {
	switch typ {
	case 0:
		if depth > 0 {
			return fmt.Errorf("%w: nested batch", ErrProtocol)
		}
		return m.batch(d)
	case 1:
		return m.onOpen(d)
	case 2:
		return m.onReject(d)
	case 3:
		return m.onClose(d)
	}
	return nil // unknown control messages are ignored
}

func (m *Mux) batch(d *compact.Decoder) error {
	id := d.Uint()
	for d.Err() == nil && d.Remaining() > 0 {
		n := d.Uint()
		if n == 0 {
			id = d.Uint()
			continue
		}
		if n > uint64(d.Remaining()) {
			return fmt.Errorf("%w: batch item of %d bytes, %d left", ErrProtocol, n, d.Remaining())
		}
		item := compact.NewDecoder(d.Take(int(n)))
		if err := m.decode(id, item, 1); err != nil {
			return err
		}
	}
	if err := d.Err(); err != nil {
		return fmt.Errorf("%w: batch: %w", ErrProtocol, err)
	}
	return nil
}

func (m *Mux) onOpen(d *compact.Decoder) error {
	rid := d.Uint()
	protocol := d.String()
	id := d.OptionalBuffer()
	if err := d.Err(); err != nil {
		return fmt.Errorf("%w: open: %w", ErrProtocol, err)
	}
	handshake := d.Rest()
	if rid == 0 {
		return m.t.WriteMessage(compact.AppendUint([]byte{0, 2}, 0))
	}
	m.mu.Lock()
	switch {
	case rid-1 == uint64(len(m.remote)) && len(m.remote) < MaxChannels:
		m.remote = append(m.remote, nil)
	case rid-1 >= uint64(len(m.remote)) || m.remote[rid-1] != nil:
		m.mu.Unlock()
		return fmt.Errorf("%w: invalid open of channel %d", ErrProtocol, rid)
	}
	k := key(protocol, id)
	var ch *Channel
	if w := m.waiting[k]; len(w) > 0 {
		ch = w[0]
		if len(w) == 1 {
			delete(m.waiting, k)
		} else {
			m.waiting[k] = w[1:]
		}
	}
	if ch != nil {
		ch.remoteID = rid
		m.remote[rid-1] = &remoteState{ch: ch}
		m.mu.Unlock()
		return ch.open(handshake)
	}
	m.mu.Unlock()

	var h Handler
	var ours []byte
	ok := false
	if m.pair != nil {
		h, ours, ok = m.pair(protocol, id)
	}
	if !ok {
		// Free the id again: the remote may reuse it.
		m.mu.Lock()
		if rid == uint64(len(m.remote)) {
			m.remote = m.remote[:rid-1]
		}
		m.mu.Unlock()
		return m.t.WriteMessage(compact.AppendUint([]byte{0, 2}, rid))
	}
	m.mu.Lock()
	if m.closed {
		m.mu.Unlock()
		return ErrClosed
	}
	ch = m.newChannel(protocol, id, h)
	ch.remoteID = rid
	m.remote[rid-1] = &remoteState{ch: ch}
	m.mu.Unlock()
	if err := m.sendOpen(ch, ours); err != nil {
		return err
	}
	return ch.open(handshake)
}

func (ch *Channel) open(handshake []byte) error {
	ch.mu.Lock()
	if ch.opened || ch.closed {
		ch.mu.Unlock()
		return nil
	}
	ch.opened = true
	ch.mu.Unlock()
	return ch.h.Opened(ch, handshake)
}

func (m *Mux) onReject(d *compact.Decoder) error {
	lid := d.Uint()
	if err := d.Err(); err != nil {
		return fmt.Errorf("%w: reject: %w", ErrProtocol, err)
	}
	m.mu.Lock()
	var ch *Channel
	if lid >= 1 && lid-1 < uint64(len(m.local)) {
		ch = m.local[lid-1]
	}
	if ch == nil || ch.remoteID != 0 {
		m.mu.Unlock()
		return fmt.Errorf("%w: invalid reject of channel %d", ErrProtocol, lid)
	}
	k := key(ch.Protocol, ch.ID)
	w := m.waiting[k]
	for i, c := range w {
		if c == ch {
			w = append(w[:i:i], w[i+1:]...)
			break
		}
	}
	if len(w) == 0 {
		delete(m.waiting, k)
	} else {
		m.waiting[k] = w
	}
	m.mu.Unlock()
	ch.finish(true)
	return nil
}

func (m *Mux) onClose(d *compact.Decoder) error {
	rid := d.Uint()
	if err := d.Err(); err != nil {
		return fmt.Errorf("%w: close: %w", ErrProtocol, err)
	}
	m.mu.Lock()
	var ch *Channel
	if rid >= 1 && rid-1 < uint64(len(m.remote)) && m.remote[rid-1] != nil {
		ch = m.remote[rid-1].ch
	}
	m.mu.Unlock()
	if ch != nil {
		ch.finish(true)
	}
	return nil
}

// finish marks ch closed, frees its ids and tells its handler.
func (ch *Channel) finish(remote bool) bool {
	ch.mu.Lock()
	if ch.closed {
		ch.mu.Unlock()
		return false
	}
	ch.closed = true
	ch.mu.Unlock()
	m := ch.mux
	m.mu.Lock()
	if ch.remoteID != 0 && ch.remoteID-1 < uint64(len(m.remote)) {
		m.remote[ch.remoteID-1] = nil
	}
	if ch.localID-1 < uint64(len(m.local)) && m.local[ch.localID-1] == ch {
		m.local[ch.localID-1] = nil
	}
	m.mu.Unlock()
	ch.h.Closed(ch, remote)
	return true
}

// Send sends one message of type typ on the channel.
func (ch *Channel) Send(typ uint64, payload []byte) error {
	ch.mu.Lock()
	closed := ch.closed
	ch.mu.Unlock()
	if closed {
		return ErrClosed
	}
	b := make([]byte, 0, compact.UintLen(ch.localID)+compact.UintLen(typ)+len(payload))
	b = compact.AppendUint(b, ch.localID)
	b = compact.AppendUint(b, typ)
	b = append(b, payload...)
	return ch.mux.t.WriteMessage(b)
}

// Close closes the channel and tells the peer.
func (ch *Channel) Close() error {
	id := ch.localID
	if !ch.finish(false) {
		return nil
	}
	return ch.mux.t.WriteMessage(compact.AppendUint([]byte{0, 3}, id))
}

// Mux returns the channel's stream.
func (ch *Channel) Mux() *Mux { return ch.mux }

// Close ends the stream (Run returns).
func (m *Mux) Close() error { return m.t.Close() }

func (m *Mux) shutdown() {
	m.mu.Lock()
	m.closed = true
	chans := make([]*Channel, 0, len(m.local))
	for _, c := range m.local {
		if c != nil {
			chans = append(chans, c)
		}
	}
	m.mu.Unlock()
	m.t.Close()
	for _, c := range chans {
		c.finish(true)
	}
}
