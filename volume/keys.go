package volume

import (
	"crypto/ed25519"
	"crypto/hkdf"
	"crypto/sha256"
	"encoding/binary"
	"fmt"

	"github.com/datdot/datdot/hypercore"
)

// MinSecretSize is the shortest master secret CoreKey accepts.
const MinSecretSize = 32

// MaxVolumeIDSize bounds a volume id.
const MaxVolumeIDSize = 64

// coreKeySalt separates this derivation from every other use of the
// master secret.
const coreKeySalt = "datdot/volume/core-key/v1"

// CoreKey derives the writer key pair of core j of a volume:
//
//	seed = HKDF-SHA256(secret = master, salt = "datdot/volume/core-key/v1",
//	                   info = uint8(len(volumeID)) || volumeID || uint32be(j),
//	                   length = 32)
//	key  = ed25519.NewKeyFromSeed(seed)
//
// so a gateway that lost everything but its master secret and the volume
// ids (which the chain's orders list) re-derives every core's key.
func CoreKey(master, volumeID []byte, j int) (ed25519.PrivateKey, error) {
	if len(master) < MinSecretSize {
		return nil, fmt.Errorf("volume: master secret of %d bytes, want at least %d", len(master), MinSecretSize)
	}
	if len(volumeID) == 0 || len(volumeID) > MaxVolumeIDSize {
		return nil, fmt.Errorf("volume: volume id of %d bytes, want 1..%d", len(volumeID), MaxVolumeIDSize)
	}
	if j < 0 || j >= MaxShards {
		return nil, fmt.Errorf("volume: core index %d outside 0..%d", j, MaxShards-1)
	}
	info := make([]byte, 0, 1+len(volumeID)+4)
	info = append(info, byte(len(volumeID)))
	info = append(info, volumeID...)
	info = binary.BigEndian.AppendUint32(info, uint32(j))
	seed, err := hkdf.Key(sha256.New, master, []byte(coreKeySalt), string(info), ed25519.SeedSize)
	if err != nil {
		return nil, fmt.Errorf("volume: derive core key: %w", err)
	}
	return ed25519.NewKeyFromSeed(seed), nil
}

// CoreKeys derives the n = l.N() key pairs of a volume, core 0 first.
func CoreKeys(master, volumeID []byte, l Layout) ([]ed25519.PrivateKey, error) {
	if err := l.Validate(); err != nil {
		return nil, err
	}
	keys := make([]ed25519.PrivateKey, l.N())
	for j := range keys {
		k, err := CoreKey(master, volumeID, j)
		if err != nil {
			return nil, err
		}
		keys[j] = k
	}
	return keys, nil
}

// PublicCoreKey is the Hypercore key of the default v11 core that priv
// writes: the hash of its default single-signer manifest.
func PublicCoreKey(priv ed25519.PrivateKey) [32]byte {
	return hypercore.ManifestKey(hypercore.DefaultManifest(priv.Public().(ed25519.PublicKey)))
}
