package hypercore

import (
	"errors"
	"testing"
)

func TestCompactUint(t *testing.T) {
	for _, v := range []uint64{0, 1, 0xfc, 0xfd, 0xff, 0xffff, 0x10000, 0xffffffff, 0x100000000, 1<<64 - 1} {
		b := appendUint(nil, v)
		if len(b) != uintLen(v) {
			t.Errorf("%d: %d bytes, uintLen says %d", v, len(b), uintLen(v))
		}
		d := &decoder{b: b}
		if got := d.uint(); got != v || d.end() != nil {
			t.Errorf("%d: decoded %d, %v", v, got, d.err)
		}
		for n := 0; n < len(b); n++ {
			d := &decoder{b: b[:n]}
			d.uint()
			if d.err == nil {
				t.Errorf("%d truncated to %d bytes decoded", v, n)
			}
		}
	}
}

// TestHostileProofs feeds proofs whose counts and lengths claim far more
// than the input holds; they must fail fast with ErrBadProof.
func TestHostileProofs(t *testing.T) {
	huge := []byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f}
	cases := map[string][]byte{
		"empty":            {},
		"unknown flag":     {0x20, 0, 0},
		"huge block value": append([]byte{1, 0, 0, 0}, huge...),
		"huge node count":  append([]byte{1, 0, 0, 0, 0}, huge...),
		"huge sig":         append([]byte{8, 0, 0, 0, 1, 0, 0}, huge...),
		"trailing byte":    {1, 0, 0, 0, 0, 0, 0},
		"too many nodes":   append([]byte{2, 0, 0, 0, 0xfd, 0x01, 0x01}, make([]byte, 257*34)...),
		"manifest junk":    {0x10, 0, 0, 9},
	}
	for name, raw := range cases {
		if _, err := DecodeProof(raw); !errors.Is(err, ErrBadProof) {
			t.Errorf("%s: %v", name, err)
		}
	}
	// A proof that claims an absurd length is refused by the verifiers.
	p := &Proof{Upgrade: &UpgradeProof{Start: 0, Length: 1 << 60}}
	if _, err := VerifyProofAt(p, 1<<60, [32]byte{}); !errors.Is(err, ErrBadProof) {
		t.Errorf("absurd length: %v", err)
	}
	p = &Proof{Block: &BlockProof{Index: 1 << 60}, Upgrade: &UpgradeProof{Length: 1}}
	if _, err := VerifyProof(make([]byte, 32), nil, p); !errors.Is(err, ErrBadProof) {
		t.Errorf("absurd block index: %v", err)
	}
}
