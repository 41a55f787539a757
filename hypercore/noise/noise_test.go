package noise

import (
	"bytes"
	"crypto/ed25519"
	"encoding/hex"
	"encoding/json"
	"errors"
	"os"
	"testing"
)

type vector struct {
	InitiatorStaticSeed    string   `json:"initiator_static_seed"`
	ResponderStaticSeed    string   `json:"responder_static_seed"`
	InitiatorEphemeralSeed string   `json:"initiator_ephemeral_seed"`
	ResponderEphemeralSeed string   `json:"responder_ephemeral_seed"`
	Payloads               []string `json:"payloads"`
	Messages               []string `json:"messages"`
	Initiator, Responder   struct {
		Tx, Rx, Hash, Remote string
	}
}

func unhex(t *testing.T, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(s)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func key(t *testing.T, seed string) ed25519.PrivateKey {
	return ed25519.NewKeyFromSeed(unhex(t, seed))
}

// TestVectors replays handshakes made by the JS noise-handshake and
// noise-curve-ed (testdata/make-vectors.js): with the same keys, Go must
// write byte-identical messages and derive the same keys and hash.
func TestVectors(t *testing.T) {
	raw, err := os.ReadFile("testdata/vectors.json")
	if err != nil {
		t.Fatal(err)
	}
	var vs []vector
	if err := json.Unmarshal(raw, &vs); err != nil {
		t.Fatal(err)
	}
	if len(vs) == 0 {
		t.Fatal("no vectors")
	}
	for i, v := range vs {
		a, err := New(true, key(t, v.InitiatorStaticSeed))
		if err != nil {
			t.Fatal(err)
		}
		b, err := New(false, key(t, v.ResponderStaticSeed))
		if err != nil {
			t.Fatal(err)
		}
		a.SetEphemeral(key(t, v.InitiatorEphemeralSeed))
		b.SetEphemeral(key(t, v.ResponderEphemeralSeed))
		sides := []*Handshake{a, b, a}
		for step := 0; step < 3; step++ {
			w, r := sides[step], sides[(step+1)%2]
			if step == 2 {
				r = b
			}
			msg, err := w.WriteMessage(unhex(t, v.Payloads[step]))
			if err != nil {
				t.Fatalf("vector %d step %d write: %v", i, step, err)
			}
			if want := unhex(t, v.Messages[step]); !bytes.Equal(msg, want) {
				t.Fatalf("vector %d message %d:\n got %x\nwant %x", i, step, msg, want)
			}
			p, err := r.ReadMessage(msg)
			if err != nil {
				t.Fatalf("vector %d step %d read: %v", i, step, err)
			}
			if !bytes.Equal(p, unhex(t, v.Payloads[step])) {
				t.Fatalf("vector %d step %d payload %x", i, step, p)
			}
		}
		if !a.Complete() || !b.Complete() {
			t.Fatalf("vector %d: not complete", i)
		}
		for _, s := range []struct {
			h    *Handshake
			want struct{ Tx, Rx, Hash, Remote string }
		}{{a, v.Initiator}, {b, v.Responder}} {
			r := s.h.Result()
			if hex.EncodeToString(r.Tx[:]) != s.want.Tx || hex.EncodeToString(r.Rx[:]) != s.want.Rx ||
				hex.EncodeToString(r.Hash[:]) != s.want.Hash || hex.EncodeToString(r.RemotePublicKey[:]) != s.want.Remote {
				t.Fatalf("vector %d: result %x/%x/%x/%x, want %+v", i, r.Tx, r.Rx, r.Hash, r.RemotePublicKey, s.want)
			}
		}
	}
}

func handshake(t *testing.T) (*Handshake, *Handshake, [][]byte) {
	a, _ := New(true, nil)
	b, _ := New(false, nil)
	m1, err := a.WriteMessage(nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := b.ReadMessage(m1); err != nil {
		t.Fatal(err)
	}
	m2, err := b.WriteMessage(nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := a.ReadMessage(m2); err != nil {
		t.Fatal(err)
	}
	m3, err := a.WriteMessage(nil)
	if err != nil {
		t.Fatal(err)
	}
	return a, b, [][]byte{m1, m2, m3}
}

func TestRandomKeysAgree(t *testing.T) {
	a, b, msgs := handshake(t)
	if _, err := b.ReadMessage(msgs[2]); err != nil {
		t.Fatal(err)
	}
	ra, rb := a.Result(), b.Result()
	if ra.Tx != rb.Rx || ra.Rx != rb.Tx || ra.Hash != rb.Hash || ra.Tx == ra.Rx {
		t.Fatal("sides disagree")
	}
	if !bytes.Equal(ra.RemotePublicKey[:], b.PublicKey()) || !bytes.Equal(rb.RemotePublicKey[:], a.PublicKey()) {
		t.Fatal("remote keys wrong")
	}
}

// TestTampered: a flipped bit in the last message (the initiator's
// encrypted static key) fails the MAC; a short message and a small-order
// ephemeral key are refused; a failed handshake stays failed.
func TestTampered(t *testing.T) {
	_, b, msgs := handshake(t)
	bad := bytes.Clone(msgs[2])
	bad[5] ^= 1
	if _, err := b.ReadMessage(bad); !errors.Is(err, ErrHandshake) {
		t.Fatalf("tampered message: %v", err)
	}
	if _, err := b.ReadMessage(msgs[2]); err == nil {
		t.Fatal("failed handshake accepted a later message")
	}

	r, _ := New(false, nil)
	if _, err := r.ReadMessage(make([]byte, 10)); !errors.Is(err, ErrHandshake) {
		t.Fatalf("short message: %v", err)
	}

	// The identity point (small order) as the initiator's ephemeral key:
	// msg1 is accepted (no DH yet) but the responder's DH refuses it.
	r, _ = New(false, nil)
	identity := make([]byte, 32)
	identity[0] = 1
	if _, err := r.ReadMessage(identity); err != nil {
		t.Fatal(err)
	}
	if _, err := r.WriteMessage(nil); !errors.Is(err, ErrHandshake) {
		t.Fatalf("small-order key: %v", err)
	}
}

func FuzzReadMessage(f *testing.F) {
	a, _ := New(true, nil)
	m1, _ := a.WriteMessage(nil)
	f.Add(m1, []byte{})
	f.Add(make([]byte, 96), make([]byte, 64))
	f.Fuzz(func(t *testing.T, first, second []byte) {
		r, _ := New(false, nil)
		if _, err := r.ReadMessage(first); err != nil {
			return
		}
		if _, err := r.WriteMessage(nil); err != nil {
			return
		}
		r.ReadMessage(second) // must not panic
		i, _ := New(true, nil)
		i.WriteMessage(nil)
		i.ReadMessage(second)
	})
}
