package hypercore

import (
	"bytes"
	"crypto/ed25519"
	"encoding/binary"
	"errors"
	"fmt"
)

// Errors returned (wrapped) by signing and signature verification.
var (
	ErrBadSignature = errors.New("hypercore: bad signature")
	ErrKeyMismatch  = errors.New("hypercore: key does not match manifest")
	ErrBadKey       = errors.New("hypercore: bad key")
	ErrUnsupported  = errors.New("hypercore: unsupported")
)

// Sizes of the signed messages and of a v11 single-signer signature.
const (
	SignableSize       = 112
	CompatSignableSize = 80
	SignatureSize      = 68 // 01 00 ‖ ed25519 signature ‖ 00 00
)

// maxMultisigProofs bounds the work of decoding a multi-signature.
const maxMultisigProofs = maxManifestSigners

// Signable returns the 112-byte message a v11 writer signs:
// TREE ‖ key ‖ treeHash ‖ u64le(length) ‖ u64le(fork). key and treeHash are
// 32 bytes; shorter ones are zero padded, longer ones cut.
func Signable(key, treeHash []byte, length, fork uint64) []byte {
	b := make([]byte, SignableSize)
	copy(b[0:32], nsTree[:])
	copy(b[32:64], key)
	copy(b[64:96], treeHash)
	binary.LittleEndian.PutUint64(b[96:], length)
	binary.LittleEndian.PutUint64(b[104:], fork)
	return b
}

// CompatSignable returns the 80-byte message a compat core's writer signs:
// TREE ‖ treeHash ‖ u64le(length) ‖ u64le(fork).
func CompatSignable(treeHash []byte, length, fork uint64) []byte {
	b := make([]byte, CompatSignableSize)
	copy(b[0:32], nsTree[:])
	copy(b[32:64], treeHash)
	binary.LittleEndian.PutUint64(b[64:], length)
	binary.LittleEndian.PutUint64(b[72:], fork)
	return b
}

// SignTree signs the tree hash of a core at length and fork. With a nil or
// empty manifest the core is a compat core (key = public key) and the result
// is a raw 64-byte ed25519 signature; with a v1+ manifest it is the
// multi-signature encoding (68 bytes for a single signer).
func SignTree(priv ed25519.PrivateKey, manifest []byte, treeHash []byte, length, fork uint64) ([]byte, error) {
	if len(priv) != ed25519.PrivateKeySize {
		return nil, fmt.Errorf("%w: private key is %d bytes, want %d", ErrBadKey, len(priv), ed25519.PrivateKeySize)
	}
	if len(treeHash) != 32 {
		return nil, fmt.Errorf("%w: tree hash is %d bytes, want 32", ErrBadSignature, len(treeHash))
	}
	if len(manifest) == 0 {
		return ed25519.Sign(priv, CompatSignable(treeHash, length, fork)), nil
	}
	m, err := DecodeManifest(manifest)
	if err != nil {
		return nil, err
	}
	pub := priv.Public().(ed25519.PublicKey)
	idx := -1
	for i, s := range m.Signers {
		if bytes.Equal(s.PublicKey[:], pub) {
			idx = i
			break
		}
	}
	if idx < 0 {
		return nil, fmt.Errorf("%w: public key %x is not a signer of the manifest", ErrBadKey, []byte(pub))
	}
	key := ManifestKey(manifest)
	if m.Version == 0 {
		if len(m.Signers) == 1 && bytes.Equal(key[:], pub) {
			return ed25519.Sign(priv, CompatSignable(treeHash, length, fork)), nil
		}
		if len(m.Signers) == 1 && !m.AllowPatch {
			ns := m.Signers[0].Namespace
			return ed25519.Sign(priv, Signable(ns[:], treeHash, length, fork)), nil
		}
		return nil, fmt.Errorf("%w: signing for a v0 multi-signer manifest", ErrUnsupported)
	}
	if m.Quorum != 1 {
		return nil, fmt.Errorf("%w: manifest needs %d signatures, one signer cannot sign alone", ErrUnsupported, m.Quorum)
	}
	sig := ed25519.Sign(priv, Signable(key[:], treeHash, length, fork))
	ms := multiSignature{Proofs: []multisigProof{{Signer: uint64(idx), Signature: [64]byte(sig)}}}
	return ms.encode(), nil
}

// VerifyTreeSignature checks sig, the writer's signature over treeHash at
// length and fork, for the core with key.
//
// With a non-empty manifest, key must equal ManifestKey(manifest), the
// manifest must decode, and sig must satisfy it (for a default manifest: the
// 68-byte encoding over the 112-byte signable). With an empty manifest the
// core is a compat core: key is the ed25519 public key and sig a raw 64-byte
// signature over the 80-byte signable.
//
// It is slightly stricter than JS hypercore: a signature must be in the
// canonical encoding, carry no patch unless the manifest allows patches, and
// every signer proof in it must verify, also those beyond the quorum (JS
// checks only the first quorum proofs, so junk could be appended to a valid
// signature). Junk therefore cannot be added to an accepted signature; a
// signature of a multi-signer manifest that carries more valid proofs than
// the quorum is still a different valid byte form of the same approval.
// For the default single-signer manifest the form is unique. Following JS
// hypercore, a manifest with a prologue accepts a tree of
// exactly the prologue's length and hash without any signature.
//
// The function is pure and deterministic, checks every size and never
// panics; its work is bounded by the manifest and signature limits.
func VerifyTreeSignature(key, manifest, treeHash []byte, length, fork uint64, sig []byte) error {
	if len(key) != 32 {
		return fmt.Errorf("%w: key is %d bytes, want 32", ErrBadKey, len(key))
	}
	if len(treeHash) != 32 {
		return fmt.Errorf("%w: tree hash is %d bytes, want 32", ErrBadSignature, len(treeHash))
	}
	if len(manifest) == 0 {
		return verifyEd25519(key, CompatSignable(treeHash, length, fork), sig)
	}
	if k := ManifestKey(manifest); !bytes.Equal(k[:], key) {
		return fmt.Errorf("%w: key %x, manifest hashes to %x", ErrKeyMismatch, key, k)
	}
	m, err := DecodeManifest(manifest)
	if err != nil {
		return err
	}
	return m.VerifyTree([32]byte(key), [32]byte(treeHash), length, fork, sig)
}

// VerifyTree checks sig against this manifest for the core with key (the
// caller has checked that key belongs to the manifest, or that the core is
// a compat core whose key is its only signer's public key).
func (m *Manifest) VerifyTree(key, treeHash [32]byte, length, fork uint64, sig []byte) error {
	if m.Version == 0 {
		if len(m.Signers) == 1 && key == m.Signers[0].PublicKey {
			return verifyEd25519(key[:], CompatSignable(treeHash[:], length, fork), sig)
		}
		if len(m.Signers) == 1 && !m.AllowPatch {
			ns := m.Signers[0].Namespace
			return verifyEd25519(m.Signers[0].PublicKey[:], Signable(ns[:], treeHash[:], length, fork), sig)
		}
		return fmt.Errorf("%w: v0 multi-signer manifests", ErrUnsupported)
	}
	if p := m.Prologue; p != nil && length <= p.Length {
		if length == p.Length && treeHash == p.Hash {
			return nil
		}
		return fmt.Errorf("%w: tree at length %d does not match the prologue", ErrBadSignature, length)
	}
	if m.Quorum == 0 {
		return fmt.Errorf("%w: manifest has quorum 0", ErrBadSignature)
	}
	ms, err := decodeMultiSignature(sig)
	if err != nil {
		return err
	}
	if uint64(len(ms.Proofs)) < m.Quorum {
		return fmt.Errorf("%w: %d signatures, quorum is %d", ErrBadSignature, len(ms.Proofs), m.Quorum)
	}
	if len(ms.Patch) != 0 && !m.AllowPatch {
		return fmt.Errorf("%w: patch nodes in a signature of a manifest without patches", ErrBadSignature)
	}
	signable := Signable(key[:], treeHash[:], length, fork)
	tried := make([]bool, len(m.Signers))
	for _, p := range ms.Proofs {
		if p.Patch != 0 {
			if m.AllowPatch {
				return fmt.Errorf("%w: patched multi-signatures", ErrUnsupported)
			}
			// JS ignores the patch here; we refuse it so that a signature
			// has exactly one encoding.
			return fmt.Errorf("%w: patch in a signature of a manifest without patches", ErrBadSignature)
		}
		if p.Signer >= uint64(len(m.Signers)) || tried[p.Signer] {
			return fmt.Errorf("%w: signer %d is unknown or repeated", ErrBadSignature, p.Signer)
		}
		tried[p.Signer] = true
		if err := verifyEd25519(m.Signers[p.Signer].PublicKey[:], signable, p.Signature[:]); err != nil {
			return fmt.Errorf("signer %d: %w", p.Signer, err)
		}
	}
	return nil
}

func verifyEd25519(pub, msg, sig []byte) error {
	if len(pub) != ed25519.PublicKeySize {
		return fmt.Errorf("%w: public key is %d bytes", ErrBadKey, len(pub))
	}
	if len(sig) != ed25519.SignatureSize {
		return fmt.Errorf("%w: signature is %d bytes, want %d", ErrBadSignature, len(sig), ed25519.SignatureSize)
	}
	if !ed25519.Verify(ed25519.PublicKey(pub), msg, sig) {
		return fmt.Errorf("%w: ed25519 verification failed", ErrBadSignature)
	}
	return nil
}

// multiSignature is lib/messages.js multiSignature (manifest version >= 1).
type multiSignature struct {
	Proofs []multisigProof
	Patch  []Node
}

type multisigProof struct {
	Signer    uint64
	Signature [64]byte
	Patch     uint64
}

func (ms *multiSignature) encode() []byte {
	b := appendUint(nil, uint64(len(ms.Proofs)))
	for _, p := range ms.Proofs {
		b = appendUint(b, p.Signer)
		b = append(b, p.Signature[:]...)
		b = appendUint(b, p.Patch)
	}
	return appendNodes(b, ms.Patch)
}

func decodeMultiSignature(sig []byte) (*multiSignature, error) {
	d := &decoder{b: sig}
	ms := &multiSignature{}
	n := d.count(66)
	if n > maxMultisigProofs {
		return nil, fmt.Errorf("%w: %d signatures is too many", ErrBadSignature, n)
	}
	for i := 0; i < n && d.err == nil; i++ {
		var p multisigProof
		p.Signer = d.uint()
		copy(p.Signature[:], d.take(64))
		p.Patch = d.uint()
		ms.Proofs = append(ms.Proofs, p)
	}
	ms.Patch = decodeNodes(d)
	if err := d.end(); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrBadSignature, err)
	}
	if !bytes.Equal(ms.encode(), sig) {
		return nil, fmt.Errorf("%w: signature not in canonical encoding", ErrBadSignature)
	}
	return ms, nil
}
