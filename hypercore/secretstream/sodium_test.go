package secretstream

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"errors"
	"os"
	"testing"
)

type sodiumVectors struct {
	StreamID struct {
		HandshakeHash string `json:"handshake_hash"`
		Initiator     string
		Responder     string
	} `json:"stream_id"`
	Key, Header string
	Messages    []struct {
		Tag     byte
		Message string
		Cipher  string
	}
}

func mustHex(t *testing.T, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(s)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestSodiumVectors: ciphertexts made by libsodium (testdata/make-vectors.js
// through sodium-native) decrypt in Go with the right tags, and Go's Push
// with the same key and header makes them byte for byte, across lengths
// that hit every padding case and a REKEY tag.
func TestSodiumVectors(t *testing.T) {
	raw, err := os.ReadFile("testdata/sodium.json")
	if err != nil {
		t.Fatal(err)
	}
	var v sodiumVectors
	if err := json.Unmarshal(raw, &v); err != nil {
		t.Fatal(err)
	}
	key, header := mustHex(t, v.Key), mustHex(t, v.Header)
	push, err := NewPush(key, header)
	if err != nil {
		t.Fatal(err)
	}
	pull, err := NewPull(key, header)
	if err != nil {
		t.Fatal(err)
	}
	if len(v.Messages) < 10 {
		t.Fatal("too few vectors")
	}
	for i, m := range v.Messages {
		msg, want := mustHex(t, m.Message), mustHex(t, m.Cipher)
		got := push.Seal(nil, msg, m.Tag)
		if !bytes.Equal(got, want) {
			t.Fatalf("message %d (%d bytes, tag %d): Go ciphertext differs\n got %x\nwant %x", i, len(msg), m.Tag, got, want)
		}
		pt, tag, err := pull.Open(nil, want)
		if err != nil {
			t.Fatalf("message %d: %v", i, err)
		}
		if tag != m.Tag || !bytes.Equal(pt, msg) {
			t.Fatalf("message %d: tag %d, plaintext %x", i, tag, pt)
		}
	}
}

// TestBadMAC: any flipped bit is refused and leaves the state usable for
// the genuine message.
func TestBadMAC(t *testing.T) {
	key := bytes.Repeat([]byte{9}, 32)
	header := bytes.Repeat([]byte{3}, 24)
	push, _ := NewPush(key, header)
	pull, _ := NewPull(key, header)
	c := push.Seal(nil, []byte("hello secret stream"), TagMessage)
	for _, pos := range []int{0, 1, len(c) - 1} {
		bad := bytes.Clone(c)
		bad[pos] ^= 0x40
		if _, _, err := pull.Open(nil, bad); !errors.Is(err, ErrBadMAC) {
			t.Fatalf("flip at %d: %v", pos, err)
		}
	}
	if _, _, err := pull.Open(nil, c[:10]); err == nil {
		t.Fatal("short message accepted")
	}
	pt, _, err := pull.Open(nil, c)
	if err != nil || string(pt) != "hello secret stream" {
		t.Fatalf("genuine message after forgeries: %q %v", pt, err)
	}
	// Replaying it now fails: the state moved on.
	if _, _, err := pull.Open(nil, c); !errors.Is(err, ErrBadMAC) {
		t.Fatalf("replay: %v", err)
	}
}

// TestCounterWrap: when the 32-bit counter wraps, both sides rekey.
func TestCounterWrap(t *testing.T) {
	key := bytes.Repeat([]byte{1}, 32)
	header := bytes.Repeat([]byte{2}, 24)
	push, _ := NewPush(key, header)
	pull, _ := NewPull(key, header)
	push.st.nonce[0], push.st.nonce[1], push.st.nonce[2], push.st.nonce[3] = 0xfe, 0xff, 0xff, 0xff
	pull.st.nonce = push.st.nonce
	k0 := push.st.k
	for i := 0; i < 3; i++ {
		c := push.Seal(nil, []byte{byte(i)}, TagMessage)
		pt, _, err := pull.Open(nil, c)
		if err != nil || pt[0] != byte(i) {
			t.Fatalf("message %d: %v", i, err)
		}
	}
	if push.st.k == k0 || push.st.k != pull.st.k {
		t.Fatal("no rekey on counter wrap")
	}
}

// TestStreamIDVector: the ids @hyperswarm/secret-stream puts in its header.
func TestStreamIDVector(t *testing.T) {
	raw, err := os.ReadFile("testdata/sodium.json")
	if err != nil {
		t.Fatal(err)
	}
	var v sodiumVectors
	if err := json.Unmarshal(raw, &v); err != nil {
		t.Fatal(err)
	}
	h := mustHex(t, v.StreamID.HandshakeHash)
	if len(h) != 64 {
		t.Fatal("no stream id vector")
	}
	if id := StreamID(h, true); hex.EncodeToString(id[:]) != v.StreamID.Initiator {
		t.Fatalf("initiator id %x", id)
	}
	if id := StreamID(h, false); hex.EncodeToString(id[:]) != v.StreamID.Responder {
		t.Fatalf("responder id %x", id)
	}
}
