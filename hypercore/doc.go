// Package hypercore implements the Hypercore v11 data format, byte for byte
// compatible with the JS reference (hypercore 11.37.1): flat-tree merkle
// hashing with BLAKE2b-256, signed tree hashes, manifests and keys, proofs
// in the wire.data compact encoding, and a writer/reader of cores with
// pluggable storage.
//
// Layouts are documented in ../shared/hypercore/README.md. The signing and
// verification helpers (VerifyTreeSignature, VerifyProofTrusted, ...) are
// pure, deterministic and bounded in work so that chain code can call them.
package hypercore
