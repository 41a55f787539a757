package hypercore

import (
	"bytes"
	"crypto/ed25519"
	"errors"
	"testing"
)

func testKey(b byte) ed25519.PrivateKey {
	return ed25519.NewKeyFromSeed(bytes.Repeat([]byte{b}, 32))
}

func TestSignVerifyRoundTrip(t *testing.T) {
	priv := testKey(9)
	pub := priv.Public().(ed25519.PublicKey)
	man := DefaultManifest(pub)
	key := ManifestKey(man)
	th := LeafHash([]byte("x"))

	sig, err := SignTree(priv, man, th[:], 10, 2)
	if err != nil {
		t.Fatal(err)
	}
	if len(sig) != SignatureSize || sig[0] != 1 || sig[1] != 0 || sig[66] != 0 || sig[67] != 0 {
		t.Fatalf("signature layout %x", sig)
	}
	if err := VerifyTreeSignature(key[:], man, th[:], 10, 2, sig); err != nil {
		t.Fatal(err)
	}
	// The inner ed25519 signature is over the 112-byte signable.
	if !ed25519.Verify(pub, Signable(key[:], th[:], 10, 2), sig[2:66]) {
		t.Fatal("inner signature does not verify")
	}

	csig, err := SignTree(priv, nil, th[:], 10, 2)
	if err != nil {
		t.Fatal(err)
	}
	if err := VerifyTreeSignature(pub, nil, th[:], 10, 2, csig); err != nil {
		t.Fatal(err)
	}
	// A v11 signature is not a compat signature and vice versa.
	if err := VerifyTreeSignature(pub, nil, th[:], 10, 2, sig); !errors.Is(err, ErrBadSignature) {
		t.Fatalf("v11 sig as compat: %v", err)
	}
	if err := VerifyTreeSignature(key[:], man, th[:], 10, 2, csig); !errors.Is(err, ErrBadSignature) {
		t.Fatalf("compat sig as v11: %v", err)
	}
	// Another writer cannot sign for this manifest.
	if _, err := SignTree(testKey(8), man, th[:], 10, 2); !errors.Is(err, ErrBadKey) {
		t.Fatalf("foreign signer: %v", err)
	}
}

func TestVerifyTreeSignatureBadSizes(t *testing.T) {
	priv := testKey(1)
	man := DefaultManifest(priv.Public().(ed25519.PublicKey))
	key := ManifestKey(man)
	th := make([]byte, 32)
	sig, _ := SignTree(priv, man, th, 1, 0)
	cases := []struct {
		name              string
		key, man, th, sig []byte
		want              error
	}{
		{"nil key", nil, man, th, sig, ErrBadKey},
		{"short key", key[:31], man, th, sig, ErrBadKey},
		{"nil tree hash", key[:], man, nil, sig, ErrBadSignature},
		{"nil sig", key[:], man, th, nil, ErrBadSignature},
		{"huge sig", key[:], man, th, make([]byte, 1<<16), ErrBadSignature},
		{"truncated manifest", manifestKeySlice(man[:40]), man[:40], th, sig, ErrBadManifest},
		{"garbage manifest", manifestKeySlice([]byte{9, 9, 9}), []byte{9, 9, 9}, th, sig, ErrBadManifest},
		{"compat nil sig", key[:], nil, th, nil, ErrBadSignature},
	}
	for _, c := range cases {
		err := VerifyTreeSignature(c.key, c.man, c.th, 1, 0, c.sig)
		if !errors.Is(err, c.want) {
			t.Errorf("%s: got %v, want %v", c.name, err, c.want)
		}
	}
	if _, err := SignTree(priv[:10], man, th, 1, 0); !errors.Is(err, ErrBadKey) {
		t.Errorf("short private key: %v", err)
	}
	if _, err := SignTree(priv, man, th[:5], 1, 0); err == nil {
		t.Error("short tree hash signed")
	}
}

func manifestKeySlice(m []byte) []byte {
	k := ManifestKey(m)
	return k[:]
}

func TestManifestEncodings(t *testing.T) {
	pub := testKey(3).Public().(ed25519.PublicKey)
	other := testKey(4).Public().(ed25519.PublicKey)
	ms := []*Manifest{
		DefaultManifestFor(pub),
		{Version: 1, Quorum: 2, AllowPatch: true, Signers: []Signer{{PublicKey: [32]byte(pub)}, {PublicKey: [32]byte(other)}}},
		{Version: 1, Quorum: 1, Signers: []Signer{{PublicKey: [32]byte(pub)}}, Prologue: &Prologue{Hash: [32]byte{1}, Length: 300}},
		{Version: 2, Quorum: 1, Signers: []Signer{{PublicKey: [32]byte(pub)}}, Linked: [][32]byte{{7}}, UserData: []byte("hi")},
		{Version: 0, Quorum: 1, Signers: []Signer{{PublicKey: [32]byte(pub)}}},
		{Version: 0, Prologue: &Prologue{Hash: [32]byte{2}}},
		{Version: 0, Quorum: 1, AllowPatch: true, Signers: []Signer{{PublicKey: [32]byte(pub)}, {PublicKey: [32]byte(other)}}},
	}
	for i, m := range ms {
		enc := m.Encode()
		got, err := DecodeManifest(enc)
		if err != nil {
			t.Fatalf("%d: %v", i, err)
		}
		if !bytes.Equal(got.Encode(), enc) {
			t.Errorf("%d: round trip %x != %x", i, got.Encode(), enc)
		}
		if _, err := DecodeManifest(append(bytes.Clone(enc), 0)); !errors.Is(err, ErrBadManifest) {
			t.Errorf("%d: trailing byte accepted: %v", i, err)
		}
		for n := 0; n < len(enc); n++ {
			if _, err := DecodeManifest(enc[:n]); err == nil {
				t.Errorf("%d: truncated to %d bytes accepted", i, n)
			}
		}
	}
	// Non-canonical uint (quorum 1 as 0xfd 01 00) is refused.
	enc := DefaultManifest(pub)
	nc := append([]byte{1, 0, 0, 0xfd, 1, 0}, enc[4:]...)
	if _, err := DecodeManifest(nc); !errors.Is(err, ErrBadManifest) {
		t.Errorf("non-canonical manifest: %v", err)
	}
}

func TestPrologueAndQuorum(t *testing.T) {
	a, b := testKey(5), testKey(6)
	th := LeafHash([]byte("p"))
	m := &Manifest{Version: 1, Quorum: 1, Signers: []Signer{{PublicKey: [32]byte(a.Public().(ed25519.PublicKey))}}, Prologue: &Prologue{Hash: th, Length: 4}}
	enc := m.Encode()
	key := ManifestKey(enc)
	if err := VerifyTreeSignature(key[:], enc, th[:], 4, 0, nil); err != nil {
		t.Errorf("prologue tree: %v", err)
	}
	if err := VerifyTreeSignature(key[:], enc, th[:], 3, 0, nil); !errors.Is(err, ErrBadSignature) {
		t.Errorf("shorter than prologue: %v", err)
	}
	sig, err := SignTree(a, enc, th[:], 5, 0)
	if err != nil {
		t.Fatal(err)
	}
	if err := VerifyTreeSignature(key[:], enc, th[:], 5, 0, sig); err != nil {
		t.Errorf("past prologue: %v", err)
	}

	// quorum 2 of 2: one signer cannot sign alone, two signatures verify.
	m2 := &Manifest{Version: 1, Quorum: 2, Signers: []Signer{
		{PublicKey: [32]byte(a.Public().(ed25519.PublicKey))}, {PublicKey: [32]byte(b.Public().(ed25519.PublicKey))}}}
	enc2 := m2.Encode()
	key2 := ManifestKey(enc2)
	if _, err := SignTree(a, enc2, th[:], 1, 0); !errors.Is(err, ErrUnsupported) {
		t.Errorf("quorum 2 single signer: %v", err)
	}
	msg := Signable(key2[:], th[:], 1, 0)
	ms := multiSignature{Proofs: []multisigProof{
		{Signer: 1, Signature: [64]byte(ed25519.Sign(b, msg))},
		{Signer: 0, Signature: [64]byte(ed25519.Sign(a, msg))},
	}}
	if err := VerifyTreeSignature(key2[:], enc2, th[:], 1, 0, ms.encode()); err != nil {
		t.Errorf("2 of 2: %v", err)
	}
	ms.Proofs[1].Signer = 1
	if err := VerifyTreeSignature(key2[:], enc2, th[:], 1, 0, ms.encode()); !errors.Is(err, ErrBadSignature) {
		t.Errorf("repeated signer: %v", err)
	}
}

// A valid signature with a junk signer proof appended (a second proof
// beyond the quorum) must not verify: every proof is checked. JS hypercore
// checks only the first quorum proofs and accepts it; before this check was
// added, so did VerifyTreeSignature.
func TestSignatureWithJunkProofAppendedIsRefused(t *testing.T) {
	priv := testKey(9)
	man := DefaultManifest(priv.Public().(ed25519.PublicKey))
	key := ManifestKey(man)
	th := LeafHash([]byte("x"))
	sig, err := SignTree(priv, man, th[:], 10, 2)
	if err != nil {
		t.Fatal(err)
	}
	ms, err := decodeMultiSignature(sig)
	if err != nil {
		t.Fatal(err)
	}
	for _, junk := range []multisigProof{
		{Signer: 1, Signature: [64]byte{1, 2, 3}},      // unknown signer
		{Signer: 0, Signature: ms.Proofs[0].Signature}, // the same signer again
	} {
		bad := &multiSignature{Proofs: append(append([]multisigProof(nil), ms.Proofs...), junk), Patch: ms.Patch}
		if err := VerifyTreeSignature(key[:], man, th[:], 10, 2, bad.encode()); !errors.Is(err, ErrBadSignature) {
			t.Fatalf("signature with an extra proof (signer %d): %v", junk.Signer, err)
		}
	}
	if err := VerifyTreeSignature(key[:], man, th[:], 10, 2, sig); err != nil {
		t.Fatal(err)
	}
}
