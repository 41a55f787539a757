package hypercore

import (
	"crypto/ed25519"
	"errors"
	"fmt"
)

// ErrBadManifest is wrapped by every manifest decoding or validation error.
var ErrBadManifest = errors.New("hypercore: bad manifest")

// ManifestSize is the length of an encoded default single-signer manifest.
const ManifestSize = 70

// Limits that keep decoding bounded; JS hypercore has no such limits, but
// no real manifest comes near them.
const (
	maxManifestSigners = 64
	maxManifestLinked  = 64
)

// Signer is one signer of a manifest. Only ed25519 (signature type 0) exists.
type Signer struct {
	Namespace [32]byte
	PublicKey [32]byte
}

// Prologue lets a core start with a tree that is trusted by hash.
type Prologue struct {
	Hash   [32]byte
	Length uint64
}

// Manifest describes who may sign a core (lib/messages.js manifest). Only
// the blake2b hash and ed25519 signatures exist, so they have no fields.
type Manifest struct {
	Version    uint64 // 0..3; 1 is what hypercore 11 makes
	AllowPatch bool
	Quorum     uint64
	Signers    []Signer
	Prologue   *Prologue
	Linked     [][32]byte // version >= 2
	UserData   []byte     // version >= 2
}

// DefaultManifestFor returns the v11 single-signer manifest of pub.
func DefaultManifestFor(pub ed25519.PublicKey) *Manifest {
	s := Signer{Namespace: nsDefaultNamespace}
	copy(s.PublicKey[:], pub)
	return &Manifest{Version: 1, Quorum: 1, Signers: []Signer{s}}
}

// DefaultManifest returns the 70-byte encoding of pub's v11 single-signer
// manifest: 01 00 00 01 01 00 ‖ DEFAULT_NAMESPACE ‖ pub.
func DefaultManifest(pub ed25519.PublicKey) []byte {
	return DefaultManifestFor(pub).Encode()
}

// ManifestKey returns the key of the core with this encoded manifest,
// H(MANIFEST ‖ manifest).
func ManifestKey(manifest []byte) [32]byte {
	h := newHash()
	h.Write(nsManifest[:])
	h.Write(manifest)
	var out [32]byte
	h.Sum(out[:0])
	return out
}

// Key returns the key of the core with this manifest.
func (m *Manifest) Key() [32]byte { return ManifestKey(m.Encode()) }

// Encode returns the compact encoding of m, as JS hypercore writes it.
func (m *Manifest) Encode() []byte { return m.appendTo(nil) }

func (m *Manifest) appendTo(b []byte) []byte {
	b = appendUint(b, m.Version)
	if m.Version == 0 {
		return m.appendV0(b)
	}
	var flags uint64
	if m.AllowPatch {
		flags |= 1
	}
	if m.Prologue != nil {
		flags |= 2
	}
	if m.Linked != nil {
		flags |= 4
	}
	if m.UserData != nil {
		flags |= 8
	}
	b = appendUint(b, flags)
	b = appendUint(b, 0) // blake2b
	b = appendUint(b, m.Quorum)
	b = appendUint(b, uint64(len(m.Signers)))
	for _, s := range m.Signers {
		b = appendSigner(b, s)
	}
	if m.Prologue != nil {
		b = append(b, m.Prologue.Hash[:]...)
		b = appendUint(b, m.Prologue.Length)
	}
	if m.Linked != nil {
		b = appendUint(b, uint64(len(m.Linked)))
		for _, k := range m.Linked {
			b = append(b, k[:]...)
		}
	}
	if m.UserData != nil {
		b = appendBuffer(b, m.UserData)
	}
	return b
}

func appendSigner(b []byte, s Signer) []byte {
	b = appendUint(b, 0) // ed25519
	b = append(b, s.Namespace[:]...)
	return append(b, s.PublicKey[:]...)
}

func (m *Manifest) appendV0(b []byte) []byte {
	b = appendUint(b, 0) // blake2b
	switch {
	case m.Prologue != nil && len(m.Signers) == 0:
		b = appendUint(b, 0)
		return append(b, m.Prologue.Hash[:]...)
	case m.Quorum == 1 && len(m.Signers) == 1 && !m.AllowPatch:
		b = appendUint(b, 1)
		return appendSigner(b, m.Signers[0])
	default:
		b = appendUint(b, 2)
		if m.AllowPatch {
			b = appendUint(b, 1)
		} else {
			b = appendUint(b, 0)
		}
		b = appendUint(b, m.Quorum)
		b = appendUint(b, uint64(len(m.Signers)))
		for _, s := range m.Signers {
			b = appendSigner(b, s)
		}
		return b
	}
}

// DecodeManifest decodes an encoded manifest. It rejects trailing bytes and
// encodings that JS hypercore would not produce (so that the key, which is
// the hash of these exact bytes, is unambiguous).
func DecodeManifest(b []byte) (*Manifest, error) {
	d := &decoder{b: b}
	m := decodeManifest(d)
	if err := d.end(); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrBadManifest, err)
	}
	if err := m.validate(); err != nil {
		return nil, err
	}
	if enc := m.Encode(); string(enc) != string(b) {
		return nil, fmt.Errorf("%w: not in canonical encoding", ErrBadManifest)
	}
	return m, nil
}

func decodeSigner(d *decoder) Signer {
	if t := d.uint(); t != 0 && d.err == nil {
		d.fail("unknown signature type %d", t)
	}
	return Signer{Namespace: d.fixed32(), PublicKey: d.fixed32()}
}

func decodeSigners(d *decoder) []Signer {
	n := d.count(65)
	if n > maxManifestSigners {
		d.fail("%d signers is more than %d", n, maxManifestSigners)
		return nil
	}
	s := make([]Signer, 0, n)
	for i := 0; i < n && d.err == nil; i++ {
		s = append(s, decodeSigner(d))
	}
	return s
}

// decodeManifest reads a manifest from d; errors stick in d.err.
func decodeManifest(d *decoder) *Manifest {
	m := &Manifest{Version: d.uint()}
	if d.err != nil {
		return nil
	}
	if m.Version == 0 {
		if h := d.uint(); h != 0 && d.err == nil {
			d.fail("unknown hash %d", h)
		}
		switch t := d.uint(); {
		case d.err != nil:
		case t == 0:
			m.Prologue = &Prologue{Hash: d.fixed32()}
		case t == 1:
			m.Quorum = 1
			m.Signers = []Signer{decodeSigner(d)}
		case t == 2:
			m.AllowPatch = d.uint()&1 != 0
			m.Quorum = d.uint()
			m.Signers = decodeSigners(d)
		default:
			d.fail("unknown v0 manifest type %d", t)
		}
		return m
	}
	if m.Version > 3 {
		d.fail("unknown manifest version %d", m.Version)
		return nil
	}
	flags := d.uint()
	if h := d.uint(); h != 0 && d.err == nil {
		d.fail("unknown hash %d", h)
	}
	m.AllowPatch = flags&1 != 0
	m.Quorum = d.uint()
	m.Signers = decodeSigners(d)
	if flags&2 != 0 {
		m.Prologue = &Prologue{Hash: d.fixed32(), Length: d.uint()}
	}
	if flags&4 != 0 {
		n := d.count(32)
		if n > maxManifestLinked {
			d.fail("%d linked cores is more than %d", n, maxManifestLinked)
			return nil
		}
		m.Linked = make([][32]byte, 0, n)
		for i := 0; i < n && d.err == nil; i++ {
			m.Linked = append(m.Linked, d.fixed32())
		}
	}
	if flags&8 != 0 {
		m.UserData = append([]byte{}, d.buffer()...)
	}
	if flags&^15 != 0 && d.err == nil {
		d.fail("unknown manifest flags %#x", flags)
	}
	return m
}

func (m *Manifest) validate() error {
	if m.Quorum > uint64(len(m.Signers)) {
		return fmt.Errorf("%w: quorum %d with %d signers", ErrBadManifest, m.Quorum, len(m.Signers))
	}
	if m.Version < 2 && (m.Linked != nil || m.UserData != nil) {
		return fmt.Errorf("%w: linked/userData need version 2", ErrBadManifest)
	}
	return nil
}
