package hypercore

import (
	"bytes"
	"crypto/ed25519"
	"encoding/hex"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"sort"
	"testing"
)

// Test vectors made by the real JS hypercore (../shared/hypercore). Every
// *.json in the directory is checked; HYPERCORE_VECTORS names another one.

type vecNode struct {
	Index uint64 `json:"index"`
	Size  uint64 `json:"size"`
	Hash  string `json:"hash"`
}

type vecProof struct {
	Fork  uint64 `json:"fork"`
	Block *struct {
		Index uint64    `json:"index"`
		Value string    `json:"value"`
		Nodes []vecNode `json:"nodes"`
	} `json:"block"`
	Hash *struct {
		Index uint64    `json:"index"`
		Nodes []vecNode `json:"nodes"`
	} `json:"hash"`
	Seek *struct {
		Bytes uint64    `json:"bytes"`
		Nodes []vecNode `json:"nodes"`
	} `json:"seek"`
	Upgrade *struct {
		Start           uint64    `json:"start"`
		Length          uint64    `json:"length"`
		Nodes           []vecNode `json:"nodes"`
		AdditionalNodes []vecNode `json:"additionalNodes"`
		Signature       string    `json:"signature"`
	} `json:"upgrade"`
	Manifest    *string `json:"manifest"`
	WireDataHex string  `json:"wireDataHex"`
}

type vecCore struct {
	Name               string     `json:"name"`
	Compat             bool       `json:"compat"`
	Key                string     `json:"key"`
	DiscoveryKey       string     `json:"discoveryKey"`
	PublicKey          string     `json:"publicKey"`
	ManifestEncodedHex *string    `json:"manifestEncodedHex"`
	ManifestHash       *string    `json:"manifestHash"`
	Length             uint64     `json:"length"`
	ByteLength         uint64     `json:"byteLength"`
	Fork               uint64     `json:"fork"`
	Blocks             []string   `json:"blocks"`
	TreeHash           string     `json:"treeHash"`
	Roots              []vecNode  `json:"roots"`
	Signature          string     `json:"signature"`
	SignableCompat80   string     `json:"signableCompat80"`
	Signable112        string     `json:"signable112"`
	TreeNodes          []*vecNode `json:"treeNodes"`
	Proofs             map[string]struct {
		WithUpgrade     vecProof `json:"withUpgrade"`
		NoUpgrade       vecProof `json:"noUpgrade"`
		HashWithUpgrade vecProof `json:"hashWithUpgrade"`
	} `json:"proofs"`
	SeekProof                 *vecProof `json:"seekProof"`
	FullyRemoteProofBlock2Hex *string   `json:"fullyRemoteProofBlock2Hex"`
}

type vecFile struct {
	Versions   map[string]string `json:"versions"`
	Namespaces map[string]string `json:"namespaces"`
	Cores      []vecCore         `json:"cores"`
}

// vectorsDir finds the vectors: $HYPERCORE_VECTORS, else
// <repo root>/../shared/hypercore/vectors where the repo root is the
// nearest parent directory holding go.mod.
func vectorsDir(t testing.TB) string {
	if d := os.Getenv("HYPERCORE_VECTORS"); d != "" {
		return d
	}
	dir, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return filepath.Join(dir, "..", "shared", "hypercore", "vectors")
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			t.Fatal("no go.mod above the test directory; set HYPERCORE_VECTORS")
		}
		dir = parent
	}
}

// loadVectors reads every *.json in the vectors directory; a missing
// directory or an empty one fails the test.
func loadVectors(t testing.TB) map[string]*vecFile {
	dir := vectorsDir(t)
	files, err := filepath.Glob(filepath.Join(dir, "*.json"))
	if err != nil {
		t.Fatal(err)
	}
	if len(files) == 0 {
		t.Fatalf("no *.json test vectors in %s (set HYPERCORE_VECTORS)", dir)
	}
	sort.Strings(files)
	out := map[string]*vecFile{}
	for _, f := range files {
		raw, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		var v vecFile
		if err := json.Unmarshal(raw, &v); err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		if len(v.Cores) == 0 {
			t.Fatalf("%s: no cores", f)
		}
		out[filepath.Base(f)] = &v
	}
	return out
}

func unhex(t testing.TB, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(s)
	if err != nil {
		t.Fatalf("bad hex %q: %v", s, err)
	}
	return b
}

func (n vecNode) node(t testing.TB) Node {
	return Node{Index: n.Index, Size: n.Size, Hash: [32]byte(unhex(t, n.Hash))}
}

func vecNodes(t testing.TB, ns []vecNode) []Node {
	out := make([]Node, 0, len(ns))
	for _, n := range ns {
		out = append(out, n.node(t))
	}
	return out
}

func (c *vecCore) blocks(t testing.TB) [][]byte {
	out := make([][]byte, len(c.Blocks))
	for i, b := range c.Blocks {
		out[i] = unhex(t, b)
	}
	return out
}

// manifest returns the core's encoded manifest, nil for a compat core.
func (c *vecCore) manifest(t testing.TB) []byte {
	if c.Compat || c.ManifestEncodedHex == nil {
		return nil
	}
	return unhex(t, *c.ManifestEncodedHex)
}

func forEachCore(t *testing.T, fn func(t *testing.T, c *vecCore)) {
	for file, v := range loadVectors(t) {
		for i := range v.Cores {
			c := &v.Cores[i]
			t.Run(file+"/"+c.Name, func(t *testing.T) { fn(t, c) })
		}
	}
}

func TestVectorNamespaces(t *testing.T) {
	want := map[string][32]byte{
		"TREE": nsTree, "REPLICATE_INITIATOR": nsReplicateInitiator, "REPLICATE_RESPONDER": nsReplicateResponder,
		"MANIFEST": nsManifest, "DEFAULT_NAMESPACE": nsDefaultNamespace, "DEFAULT_ENCRYPTION": nsDefaultEncryption,
	}
	for file, v := range loadVectors(t) {
		if len(v.Namespaces) != len(want) {
			t.Errorf("%s: %d namespaces, want %d", file, len(v.Namespaces), len(want))
		}
		for name, h := range v.Namespaces {
			w, ok := want[name]
			if !ok {
				t.Errorf("%s: unknown namespace %s", file, name)
				continue
			}
			if hex.EncodeToString(w[:]) != h {
				t.Errorf("%s: namespace %s = %x, JS %s", file, name, w, h)
			}
		}
	}
}

// TestVectorTree recomputes every tree node from the blocks with the hash
// helpers alone and compares nodes, roots and tree hash with JS.
func TestVectorTree(t *testing.T) {
	forEachCore(t, func(t *testing.T, c *vecCore) {
		blocks := c.blocks(t)
		if uint64(len(blocks)) != c.Length {
			t.Fatalf("%d blocks, length %d", len(blocks), c.Length)
		}
		nodes := map[uint64]Node{}
		var total uint64
		for i, b := range blocks {
			n := LeafNode(uint64(i), b)
			nodes[n.Index] = n
			total += uint64(len(b))
		}
		if total != c.ByteLength {
			t.Errorf("byte length %d, JS %d", total, c.ByteLength)
		}
		// Build parents depth by depth wherever both children exist.
		for depth := uint64(1); depth < 64; depth++ {
			added := false
			for off := uint64(0); ; off++ {
				idx := (1+2*off)<<depth - 1
				if idx >= 2*c.Length {
					break
				}
				l, okl := nodes[idx-(uint64(1)<<(depth-1))]
				r, okr := nodes[idx+(uint64(1)<<(depth-1))]
				if okl && okr {
					nodes[idx] = ParentNode(idx, l, r)
					added = true
				}
			}
			if !added {
				break
			}
		}
		if len(c.TreeNodes) != int(2*c.Length-1) {
			t.Fatalf("%d tree nodes in vectors, want %d", len(c.TreeNodes), 2*c.Length-1)
		}
		for i, vn := range c.TreeNodes {
			got, ok := nodes[uint64(i)]
			if vn == nil {
				if ok {
					t.Errorf("node %d exists in Go but not in JS", i)
				}
				continue
			}
			if !ok {
				t.Errorf("node %d missing in Go", i)
				continue
			}
			if got != vn.node(t) {
				t.Errorf("node %d = %+v, JS %+v", i, got, *vn)
			}
		}
		roots := vecNodes(t, c.Roots)
		th := TreeHash(roots)
		if hex.EncodeToString(th[:]) != c.TreeHash {
			t.Errorf("tree hash %x, JS %s", th, c.TreeHash)
		}
	})
}

func TestVectorKeysAndSignatures(t *testing.T) {
	forEachCore(t, func(t *testing.T, c *vecCore) {
		pub := ed25519.PublicKey(unhex(t, c.PublicKey))
		key := unhex(t, c.Key)
		treeHash := unhex(t, c.TreeHash)
		sig := unhex(t, c.Signature)

		dk := DiscoveryKey(key)
		if hex.EncodeToString(dk[:]) != c.DiscoveryKey {
			t.Errorf("discovery key %x, JS %s", dk, c.DiscoveryKey)
		}
		if c.ManifestEncodedHex != nil {
			enc := DefaultManifest(pub)
			if hex.EncodeToString(enc) != *c.ManifestEncodedHex {
				t.Errorf("manifest %x, JS %s", enc, *c.ManifestEncodedHex)
			}
			if len(enc) != ManifestSize {
				t.Errorf("manifest is %d bytes", len(enc))
			}
			m, err := DecodeManifest(enc)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(m.Encode(), enc) || m.Quorum != 1 || len(m.Signers) != 1 || !bytes.Equal(m.Signers[0].PublicKey[:], pub) {
				t.Errorf("manifest round trip: %+v", m)
			}
			if mk := ManifestKey(enc); hex.EncodeToString(mk[:]) != *c.ManifestHash {
				t.Errorf("manifest key %x, JS %s", mk, *c.ManifestHash)
			}
		}
		if c.Compat {
			if !bytes.Equal(key, pub) {
				t.Errorf("compat key %x is not the public key", key)
			}
		} else if mk := ManifestKey(c.manifest(t)); !bytes.Equal(mk[:], key) {
			t.Errorf("key %x, manifest key %x", key, mk)
		}
		if got := CompatSignable(treeHash, c.Length, c.Fork); hex.EncodeToString(got) != c.SignableCompat80 {
			t.Errorf("compat signable %x, JS %s", got, c.SignableCompat80)
		}
		if got := Signable(key, treeHash, c.Length, c.Fork); hex.EncodeToString(got) != c.Signable112 {
			t.Errorf("signable %x, JS %s", got, c.Signable112)
		}

		manifest := c.manifest(t)
		if err := VerifyTreeSignature(key, manifest, treeHash, c.Length, c.Fork, sig); err != nil {
			t.Errorf("JS signature rejected: %v", err)
		}
		// ed25519 is deterministic, so Go's signature equals JS's.
		priv := privFromSeed(t, c, pub)
		mine, err := SignTree(priv, manifest, treeHash, c.Length, c.Fork)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(mine, sig) {
			t.Errorf("Go signature %x, JS %x", mine, sig)
		}
		wantLen := SignatureSize
		if c.Compat {
			wantLen = ed25519.SignatureSize
		}
		if len(sig) != wantLen {
			t.Errorf("signature is %d bytes, want %d", len(sig), wantLen)
		}

		// Tampering with anything is rejected with the right error.
		for i := range sig {
			bad := bytes.Clone(sig)
			bad[i] ^= 0x40
			if err := VerifyTreeSignature(key, manifest, treeHash, c.Length, c.Fork, bad); !errors.Is(err, ErrBadSignature) {
				t.Fatalf("signature with byte %d flipped: %v", i, err)
			}
		}
		badTree := bytes.Clone(treeHash)
		badTree[0] ^= 1
		if err := VerifyTreeSignature(key, manifest, badTree, c.Length, c.Fork, sig); !errors.Is(err, ErrBadSignature) {
			t.Errorf("wrong tree hash: %v", err)
		}
		if err := VerifyTreeSignature(key, manifest, treeHash, c.Length+1, c.Fork, sig); !errors.Is(err, ErrBadSignature) {
			t.Errorf("wrong length: %v", err)
		}
		if err := VerifyTreeSignature(key, manifest, treeHash, c.Length, c.Fork+1, sig); !errors.Is(err, ErrBadSignature) {
			t.Errorf("wrong fork: %v", err)
		}
		if err := VerifyTreeSignature(key, manifest, treeHash, c.Length, c.Fork, sig[:len(sig)-1]); !errors.Is(err, ErrBadSignature) {
			t.Errorf("short signature: %v", err)
		}
		if err := VerifyTreeSignature(key, manifest, treeHash, c.Length, c.Fork, append(bytes.Clone(sig), 0)); !errors.Is(err, ErrBadSignature) {
			t.Errorf("long signature: %v", err)
		}
		if manifest != nil {
			otherKey := bytes.Clone(key)
			otherKey[5] ^= 1
			if err := VerifyTreeSignature(otherKey, manifest, treeHash, c.Length, c.Fork, sig); !errors.Is(err, ErrKeyMismatch) {
				t.Errorf("wrong key: %v", err)
			}
			badMan := bytes.Clone(manifest)
			badMan[len(badMan)-1] ^= 1
			if err := VerifyTreeSignature(key, badMan, treeHash, c.Length, c.Fork, sig); !errors.Is(err, ErrKeyMismatch) {
				t.Errorf("tampered manifest: %v", err)
			}
		}
	})
}

// privFromSeed recreates the JS key pair: make-vectors.js seeds it with 32
// bytes of one value; try all 256 and keep the one matching pub.
func privFromSeed(t testing.TB, c *vecCore, pub ed25519.PublicKey) ed25519.PrivateKey {
	for s := 0; s < 256; s++ {
		priv := ed25519.NewKeyFromSeed(bytes.Repeat([]byte{byte(s)}, 32))
		if bytes.Equal(priv.Public().(ed25519.PublicKey), pub) {
			return priv
		}
	}
	t.Fatalf("core %s: no one-byte seed gives public key %x", c.Name, pub)
	return nil
}
