package hypercore

import (
	"encoding/binary"
	"hash"

	"golang.org/x/crypto/blake2b"
)

// Node is one node of a core's merkle tree: Index in flat-tree numbering,
// Size the number of bytes of the blocks under it, Hash its BLAKE2b-256.
type Node struct {
	Index uint64
	Size  uint64
	Hash  [32]byte
}

// Namespaces, H(H("hypercore") ‖ byte(i)) as in hypercore's lib/caps.js.
var (
	nsTree               = namespace(0)
	nsReplicateInitiator = namespace(1)
	nsReplicateResponder = namespace(2)
	nsManifest           = namespace(3)
	nsDefaultNamespace   = namespace(4)
	nsDefaultEncryption  = namespace(5)
)

func namespace(i byte) [32]byte {
	base := blake2b.Sum256([]byte("hypercore"))
	return blake2b.Sum256(append(base[:], i))
}

// The namespace functions return copies, so callers cannot change the
// package's values.

// TreeNamespace is TREE, the prefix of every signed tree (namespace 0).
func TreeNamespace() [32]byte { return nsTree }

// ReplicateInitiatorNamespace is REPLICATE_INITIATOR (namespace 1).
func ReplicateInitiatorNamespace() [32]byte { return nsReplicateInitiator }

// ReplicateResponderNamespace is REPLICATE_RESPONDER (namespace 2).
func ReplicateResponderNamespace() [32]byte { return nsReplicateResponder }

// ManifestNamespace is MANIFEST, the prefix of a manifest key (namespace 3).
func ManifestNamespace() [32]byte { return nsManifest }

// DefaultNamespace is DEFAULT_NAMESPACE, the signer namespace of a default
// manifest (namespace 4).
func DefaultNamespace() [32]byte { return nsDefaultNamespace }

// DefaultEncryptionNamespace is DEFAULT_ENCRYPTION (namespace 5).
func DefaultEncryptionNamespace() [32]byte { return nsDefaultEncryption }

func newHash() hash.Hash {
	h, err := blake2b.New256(nil)
	if err != nil { // only fails for a key longer than 64 bytes
		panic(err)
	}
	return h
}

// LeafHash returns H(0x00 ‖ u64le(len(data)) ‖ data), the hash of a block.
func LeafHash(data []byte) [32]byte {
	h := newHash()
	var hdr [9]byte
	binary.LittleEndian.PutUint64(hdr[1:], uint64(len(data)))
	h.Write(hdr[:])
	h.Write(data)
	var out [32]byte
	h.Sum(out[:0])
	return out
}

// LeafNode returns the tree node of block index holding data.
func LeafNode(index uint64, data []byte) Node {
	return Node{Index: 2 * index, Size: uint64(len(data)), Hash: LeafHash(data)}
}

// ParentHash returns H(0x01 ‖ u64le(a.Size+b.Size) ‖ left.Hash ‖ right.Hash),
// where left is whichever of a, b has the lower index.
func ParentHash(a, b Node) [32]byte {
	if a.Index > b.Index {
		a, b = b, a
	}
	var buf [1 + 8 + 32 + 32]byte
	buf[0] = 1
	binary.LittleEndian.PutUint64(buf[1:], a.Size+b.Size)
	copy(buf[9:], a.Hash[:])
	copy(buf[41:], b.Hash[:])
	return blake2b.Sum256(buf[:])
}

// ParentNode returns the node at index whose children are a and b.
func ParentNode(index uint64, a, b Node) Node {
	return Node{Index: index, Size: a.Size + b.Size, Hash: ParentHash(a, b)}
}

// TreeHash returns H(0x02 ‖ for each root: hash ‖ u64le(index) ‖ u64le(size)),
// the value a core's writer signs.
func TreeHash(roots []Node) [32]byte {
	buf := make([]byte, 1, 1+48*len(roots))
	buf[0] = 2
	for _, r := range roots {
		buf = append(buf, r.Hash[:]...)
		buf = binary.LittleEndian.AppendUint64(buf, r.Index)
		buf = binary.LittleEndian.AppendUint64(buf, r.Size)
	}
	return blake2b.Sum256(buf)
}

// DiscoveryKey returns BLAKE2b-256 keyed with key over "hypercore". Keys
// longer than 64 bytes (never valid core keys) are first hashed, so the
// function never fails.
func DiscoveryKey(key []byte) [32]byte {
	if len(key) > blake2b.Size {
		k := blake2b.Sum256(key)
		key = k[:]
	}
	h, _ := blake2b.New256(key)
	h.Write([]byte("hypercore"))
	var out [32]byte
	h.Sum(out[:0])
	return out
}
