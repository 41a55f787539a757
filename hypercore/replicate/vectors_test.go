package replicate

import (
	"bytes"
	"context"
	"encoding/hex"
	"encoding/json"
	"io"
	"os"
	"sync"
	"testing"

	"github.com/datdot/datdot/hypercore/protomux"
)

type wireVectors struct {
	Messages []struct {
		Type    string
		Encoded string
	}
	RemoteOpen string
	Frames     []string
	Capability struct {
		Key           string
		HandshakeHash string `json:"handshake_hash"`
		Initiator     string
		Responder     string
	}
}

func loadWire(t *testing.T) wireVectors {
	t.Helper()
	raw, err := os.ReadFile("testdata/wire.json")
	if err != nil {
		t.Fatal(err)
	}
	var v wireVectors
	if err := json.Unmarshal(raw, &v); err != nil {
		t.Fatal(err)
	}
	return v
}

func unhex(t *testing.T, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(s)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// reencode decodes a message of the named type and encodes it again.
func reencode(typ string, b []byte) ([]byte, error) {
	switch typ {
	case "handshake":
		m, err := DecodeHandshake(b)
		if err != nil {
			return nil, err
		}
		return m.Encode(), nil
	case "sync":
		m, err := DecodeSync(b)
		if err != nil {
			return nil, err
		}
		return m.Encode(), nil
	case "request":
		m, err := DecodeRequest(b)
		if err != nil {
			return nil, err
		}
		return m.Encode(), nil
	case "cancel":
		m, err := DecodeCancel(b)
		if err != nil {
			return nil, err
		}
		return m.Encode(), nil
	case "data":
		m, err := DecodeData(b)
		if err != nil {
			return nil, err
		}
		return m.Encode(), nil
	case "noData":
		m, err := DecodeNoData(b)
		if err != nil {
			return nil, err
		}
		return m.Encode(), nil
	case "want", "unwant":
		m, err := DecodeWant(b)
		if err != nil {
			return nil, err
		}
		return m.Encode(), nil
	case "bitfield":
		m, err := DecodeBitfield(b)
		if err != nil {
			return nil, err
		}
		return m.Encode(), nil
	case "range":
		m, err := DecodeRange(b)
		if err != nil {
			return nil, err
		}
		return m.Encode(), nil
	case "extension":
		m, err := DecodeExtension(b)
		if err != nil {
			return nil, err
		}
		return m.Encode(), nil
	}
	return nil, io.ErrUnexpectedEOF
}

// TestMessageVectors: every message type as JS encodes it decodes in Go and
// encodes back to the same bytes.
func TestMessageVectors(t *testing.T) {
	v := loadWire(t)
	seen := map[string]bool{}
	for i, m := range v.Messages {
		b := unhex(t, m.Encoded)
		got, err := reencode(m.Type, b)
		if err != nil {
			t.Fatalf("message %d (%s): %v", i, m.Type, err)
		}
		if !bytes.Equal(got, b) {
			t.Fatalf("message %d (%s): re-encoded\n %x\nwant %x", i, m.Type, got, b)
		}
		seen[m.Type] = true
	}
	if len(seen) != 11 {
		t.Fatalf("vectors cover %d message types, want 11", len(seen))
	}
	// Spot-check decoded values against make-vectors.js's samples.
	s, _ := DecodeSync(unhex(t, v.Messages[2].Encoded))
	if *s != (Sync{Length: 777, CanUpgrade: true, Uploading: true, HasManifest: true}) {
		t.Fatalf("sync %+v", s)
	}
	r, _ := DecodeRequest(unhex(t, v.Messages[5].Encoded))
	if r.ID != 300 || r.Fork != 2 || r.Block == nil || r.Block.Index != 5 || r.Block.Nodes != 3 || r.Priority != 1 || r.Upgrade != nil {
		t.Fatalf("request %+v", r)
	}
}

// TestCapabilityVector: the capability hypercore's caps.replicate computes.
func TestCapabilityVector(t *testing.T) {
	v := loadWire(t).Capability
	key, hash := [32]byte(unhex(t, v.Key)), unhex(t, v.HandshakeHash)
	if c := Capability(true, key, hash); hex.EncodeToString(c[:]) != v.Initiator {
		t.Fatalf("initiator capability %x", c)
	}
	if c := Capability(false, key, hash); hex.EncodeToString(c[:]) != v.Responder {
		t.Fatalf("responder capability %x", c)
	}
}

// feed is a Transport that replays frames, then reports EOF; it records
// what is written.
type feed struct {
	mu     sync.Mutex
	in     [][]byte
	out    [][]byte
	closed bool
	hold   chan struct{} // if set, reads block here when in is empty, until Close
}

func (f *feed) ReadMessage() ([]byte, error) {
	f.mu.Lock()
	if len(f.in) == 0 && f.hold != nil && !f.closed {
		f.mu.Unlock()
		<-f.hold
		f.mu.Lock()
	}
	defer f.mu.Unlock()
	if len(f.in) == 0 || f.closed {
		return nil, io.EOF
	}
	m := f.in[0]
	f.in = f.in[1:]
	return m, nil
}

func (f *feed) WriteMessage(b []byte) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.out = append(f.out, append([]byte(nil), b...))
	return nil
}

func (f *feed) Close() error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if !f.closed && f.hold != nil {
		close(f.hold)
	}
	f.closed = true
	return nil
}

type recorder struct {
	opened []byte
	msgs   []uint64
	bodies [][]byte
	closed []bool
}

func (r *recorder) Opened(_ *protomux.Channel, hs []byte) error { r.opened = hs; return nil }
func (r *recorder) Message(_ *protomux.Channel, typ uint64, p []byte) error {
	r.msgs = append(r.msgs, typ)
	r.bodies = append(r.bodies, p)
	return nil
}
func (r *recorder) Closed(_ *protomux.Channel, remote bool) { r.closed = append(r.closed, remote) }

// TestProtomuxReadsJS: a Go Mux makes sense of what a JS Protomux writes:
// the open, a corked batch (sync + range), single messages and the close.
func TestProtomuxReadsJS(t *testing.T) {
	v := loadWire(t)
	f := &feed{}
	for _, fr := range v.Frames {
		f.in = append(f.in, unhex(t, fr))
	}
	rec := &recorder{}
	var pairedID []byte
	mux := protomux.New(f, func(protocol string, id []byte) (protomux.Handler, []byte, bool) {
		if protocol != Protocol {
			t.Errorf("protocol %q", protocol)
		}
		pairedID = id
		return rec, (&Handshake{Seeks: true}).Encode(), true
	})
	if err := mux.Run(context.Background()); err != io.EOF {
		t.Fatalf("run: %v", err)
	}
	if !bytes.Equal(pairedID, bytes.Repeat([]byte{0xdd}, 32)) {
		t.Fatalf("channel id %x", pairedID)
	}
	hs, err := DecodeHandshake(rec.opened)
	if err != nil || !hs.Seeks || hs.Capability != [32]byte(bytes.Repeat([]byte{0xcc}, 32)) {
		t.Fatalf("handshake %+v %v", hs, err)
	}
	if want := []uint64{TypeSync, TypeRange, TypeRequest, TypeData}; len(rec.msgs) != 4 || rec.msgs[0] != want[0] || rec.msgs[1] != want[1] || rec.msgs[2] != want[2] || rec.msgs[3] != want[3] {
		t.Fatalf("messages %v", rec.msgs)
	}
	if r, err := DecodeRange(rec.bodies[1]); err != nil || r.Length != 777 {
		t.Fatalf("range %+v %v", r, err)
	}
	if p, err := DecodeData(rec.bodies[3]); err != nil || string(p.Block.Value) != "hello" || p.Request != 7 {
		t.Fatalf("data %+v %v", p, err)
	}
	if len(rec.closed) != 1 || !rec.closed[0] {
		t.Fatalf("closed %v", rec.closed)
	}
	// Go answered the open with its own open on channel 1.
	if len(f.out) != 1 || !bytes.HasPrefix(f.out[0], []byte{0, 1, 1, 15}) {
		t.Fatalf("wrote %x", f.out)
	}
}

// TestProtomuxWritesLikeJS: the frames a Go Mux writes for an open, a
// request, a data message and a close are JS's bytes.
func TestProtomuxWritesLikeJS(t *testing.T) {
	v := loadWire(t)
	f := &feed{in: [][]byte{unhex(t, v.RemoteOpen)}, hold: make(chan struct{})}
	mux := protomux.New(f, nil)
	opened := make(chan []byte, 1)
	hs := Handshake{Seeks: true, Capability: [32]byte(bytes.Repeat([]byte{0xcc}, 32))}
	ch, err := mux.Open(Protocol, bytes.Repeat([]byte{0xdd}, 32), hs.Encode(), openSignal(opened))
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- mux.Run(context.Background()) }()
	remote, _ := DecodeHandshake(<-opened)
	if remote.Seeks || remote.Capability != [32]byte(bytes.Repeat([]byte{0xee}, 32)) {
		t.Fatalf("remote handshake %+v", remote)
	}
	req, _ := DecodeRequest(unhex(t, v.Messages[5].Encoded))
	data, _ := DecodeData(unhex(t, v.Messages[8].Encoded))
	if err := ch.Send(TypeRequest, req.Encode()); err != nil {
		t.Fatal(err)
	}
	if err := ch.Send(TypeData, data.Encode()); err != nil {
		t.Fatal(err)
	}
	if err := ch.Close(); err != nil {
		t.Fatal(err)
	}
	mux.Close()
	<-done
	want := []string{v.Frames[0], v.Frames[2], v.Frames[3], v.Frames[4]}
	if len(f.out) != len(want) {
		t.Fatalf("wrote %d frames", len(f.out))
	}
	for i, w := range want {
		if !bytes.Equal(f.out[i], unhex(t, w)) {
			t.Fatalf("frame %d\n %x\nwant %s", i, f.out[i], w)
		}
	}
}

type openSignal chan []byte

func (o openSignal) Opened(_ *protomux.Channel, hs []byte) error   { o <- hs; return nil }
func (openSignal) Message(*protomux.Channel, uint64, []byte) error { return nil }
func (openSignal) Closed(*protomux.Channel, bool)                  {}

// FuzzMessages: no decoder panics, and whatever decodes re-encodes to
// bytes that decode to the same encoding again (round trips are stable).
func FuzzMessages(f *testing.F) {
	raw, err := os.ReadFile("testdata/wire.json")
	if err == nil {
		var v wireVectors
		if json.Unmarshal(raw, &v) == nil {
			for _, m := range v.Messages {
				b, _ := hex.DecodeString(m.Encoded)
				f.Add(b)
			}
		}
	}
	types := []string{"handshake", "sync", "request", "cancel", "data", "noData", "want", "bitfield", "range", "extension"}
	f.Fuzz(func(t *testing.T, b []byte) {
		for _, typ := range types {
			once, err := reencode(typ, b)
			if err != nil {
				continue
			}
			twice, err := reencode(typ, once)
			if err != nil {
				t.Fatalf("%s: re-encoding %x does not decode: %v", typ, once, err)
			}
			if !bytes.Equal(once, twice) {
				t.Fatalf("%s: unstable round trip %x → %x", typ, once, twice)
			}
		}
	})
}
