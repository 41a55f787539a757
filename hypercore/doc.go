// Package hypercore implements the Hypercore v11 data format, byte for byte
// compatible with the JS reference (hypercore 11.37.1): flat-tree merkle
// hashing with BLAKE2b-256, signed tree hashes, manifests and keys, proofs
// in the wire.data compact encoding, and a writer/reader of cores with
// pluggable storage. Layouts are documented in
// ../shared/hypercore/README.md; the flat-tree math is in package flattree.
//
// # Signatures (pure, for chain code)
//
//   - DefaultManifest, DecodeManifest, (*Manifest).Encode, ManifestKey
//   - Signable (112 bytes), CompatSignable (80 bytes)
//   - SignTree, VerifyTreeSignature: errors wrap ErrBadSignature,
//     ErrKeyMismatch, ErrBadManifest, ErrBadKey, ErrUnsupported
//   - LeafHash, ParentHash, TreeHash, DiscoveryKey
//
// # Proofs
//
// A Proof is one wire.data message (DecodeProof, (*Proof).Encode). Three
// verifiers, all pure, deterministic, bounded (MaxProofNodes nodes per
// array, 64 tree levels) and goroutine free:
//
//   - VerifyProofAt(p, length, treeHash): the caller trusts the tree hash
//     at length (the chain's committed state); p's upgrade must go from 0
//     to exactly length. The signature is not needed.
//   - VerifyBlockAt(p, index, length, treeHash): VerifyProofAt for a
//     storage challenge; it also checks that p proves exactly block index
//     (a valid proof of another block is refused) and returns its value.
//   - VerifyProof(key, manifest, p): only the key is known; the manifest
//     comes from the argument, else from the proof, else the core is a
//     compat core. The writer's signature is checked.
//   - VerifyProofKnown(p, lookup): a proof without upgrade whose top node
//     the caller already trusts (e.g. RootsLookup of verified roots).
//   - VerifyProofFrom(key, manifest, trusted, p): a replicating reader that
//     holds a tree it verified before; upgrades grow it from its length.
//
// # Cores
//
// Core is a core in a Storage (MemStorage for tests, FileStorage for disk,
// crash safe). A core created or opened with the writer key appends with
// Append or AppendFrom (an io.Reader cut into blocks; one signature per
// commit); CreateReplica and AppendSigned keep a verified copy of someone
// else's core. Get returns a block checked against its tree node;
// ByteOffset, Seek and ReaderAt read by byte offset. Proof and BlockProof
// make the proofs JS hypercore makes at the head, ProofAt the proofs
// against an older committed length, and BlockProofAt the answer to a
// chain challenge (checked with VerifyBlockAt). All Core methods are safe
// for concurrent use: readers and provers run alongside an append.
package hypercore
