package hypercore

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"encoding/hex"
	"errors"
	"sort"
	"strconv"
	"testing"
)

// vectorCore rebuilds a JS vector core in Go (same key pair, same blocks).
func vectorCore(t testing.TB, c *vecCore) *Core {
	t.Helper()
	ctx := context.Background()
	priv := privFromSeed(t, c, ed25519.PublicKey(unhex(t, c.PublicKey)))
	core, err := Create(ctx, NewMemStorage(), priv, c.Compat)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := core.Append(ctx, c.blocks(t)...); err != nil {
		t.Fatal(err)
	}
	return core
}

func decodeHex(t testing.TB, s string) *Proof {
	t.Helper()
	raw := unhex(t, s)
	p, err := DecodeProof(raw)
	if err != nil {
		t.Fatalf("JS proof does not decode: %v", err)
	}
	if !bytes.Equal(p.Encode(), raw) {
		t.Fatalf("JS proof re-encodes differently:\n%x\n%s", p.Encode(), s)
	}
	return p
}

func sameEncoding(t testing.TB, what string, p *Proof, jsHex string) {
	t.Helper()
	if got := hex.EncodeToString(p.Encode()); got != jsHex {
		t.Errorf("%s: Go proof differs from JS\n go %s\n js %s", what, got, jsHex)
	}
}

// TestVectorProofs checks every JS proof verifies and every Go proof for
// the same request is byte-identical.
func TestVectorProofs(t *testing.T) {
	forEachCore(t, func(t *testing.T, c *vecCore) {
		ctx := context.Background()
		core := vectorCore(t, c)
		info := core.Info()
		key := unhex(t, c.Key)
		th := [32]byte(unhex(t, c.TreeHash))
		if !bytes.Equal(info.Key[:], key) || info.TreeHash != th || info.Length != c.Length || info.ByteLength != c.ByteLength {
			t.Fatalf("Go core differs: %+v", info)
		}
		if hex.EncodeToString(info.Signature) != c.Signature {
			t.Fatalf("Go core signature %x, JS %s", info.Signature, c.Signature)
		}
		manifest := c.manifest(t)
		treeNodes := map[uint64]Node{}
		for _, n := range c.TreeNodes {
			if n != nil {
				treeNodes[n.Index] = n.node(t)
			}
		}
		// The writer's stored tree is JS's, node for node.
		for i, want := range treeNodes {
			got, err := core.Node(ctx, i)
			if err != nil || got != want {
				t.Fatalf("writer's node %d = %+v (%v), JS %+v", i, got, err, want)
			}
		}
		if _, err := core.Node(ctx, 2*c.Length); !errors.Is(err, ErrNotFound) {
			t.Fatalf("node past the head: %v", err)
		}
		known := func(i uint64) (Node, bool) { n, ok := treeNodes[i]; return n, ok }
		full := &UpgradeRequest{Start: 0, Length: c.Length}

		idxs := make([]int, 0, len(c.Proofs))
		for k := range c.Proofs {
			i, err := strconv.Atoi(k)
			if err != nil {
				t.Fatal(err)
			}
			idxs = append(idxs, i)
		}
		sort.Ints(idxs)
		if len(idxs) == 0 {
			t.Fatal("no proofs in vectors")
		}
		for _, i := range idxs {
			ps := c.Proofs[strconv.Itoa(i)]
			block := unhex(t, c.Blocks[i])
			ui := uint64(i)

			// block + upgrade from 0: key-only and trusted-tree verifiers.
			p := decodeHex(t, ps.WithUpgrade.WireDataHex)
			v, err := VerifyProof(key, manifest, p)
			if err != nil {
				t.Fatalf("block %d withUpgrade: %v", i, err)
			}
			if v.Length != c.Length || v.TreeHash != th || !bytes.Equal(v.Block.Value, block) || v.ByteLength != c.ByteLength {
				t.Fatalf("block %d withUpgrade verified wrong: %+v", i, v)
			}
			if _, err := VerifyProofAt(p, c.Length, th); err != nil {
				t.Fatalf("block %d withUpgrade at trusted tree: %v", i, err)
			}
			if _, err := VerifyProofAt(p, c.Length, LeafHash(nil)); !errors.Is(err, ErrBadProof) {
				t.Fatalf("block %d withUpgrade at wrong tree hash: %v", i, err)
			}
			gp, err := core.Proof(ctx, ProofRequest{Block: &BlockRequest{Index: ui}, Upgrade: full})
			if err != nil {
				t.Fatal(err)
			}
			sameEncoding(t, "withUpgrade "+strconv.Itoa(i), gp, ps.WithUpgrade.WireDataHex)

			// block alone: verified against the known tree.
			p = decodeHex(t, ps.NoUpgrade.WireDataHex)
			if v, err := VerifyProofKnown(p, known); err != nil || !bytes.Equal(v.Block.Value, block) {
				t.Fatalf("block %d noUpgrade: %v", i, err)
			}
			gp, err = core.Proof(ctx, ProofRequest{Block: &BlockRequest{Index: ui}})
			if err != nil {
				t.Fatal(err)
			}
			sameEncoding(t, "noUpgrade "+strconv.Itoa(i), gp, ps.NoUpgrade.WireDataHex)

			// hash + upgrade.
			p = decodeHex(t, ps.HashWithUpgrade.WireDataHex)
			if _, err := VerifyProof(key, manifest, p); err != nil {
				t.Fatalf("hash %d: %v", 2*i, err)
			}
			if _, err := VerifyProofAt(p, c.Length, th); err != nil {
				t.Fatalf("hash %d at trusted tree: %v", 2*i, err)
			}
			gp, err = core.Proof(ctx, ProofRequest{Hash: &HashRequest{Index: 2 * ui}, Upgrade: full})
			if err != nil {
				t.Fatal(err)
			}
			sameEncoding(t, "hashWithUpgrade "+strconv.Itoa(i), gp, ps.HashWithUpgrade.WireDataHex)
		}

		if c.SeekProof != nil {
			p := decodeHex(t, c.SeekProof.WireDataHex)
			if _, err := VerifyProof(key, manifest, p); err != nil {
				t.Fatalf("seek: %v", err)
			}
			gp, err := core.Proof(ctx, ProofRequest{Seek: &SeekRequest{Bytes: p.Seek.Bytes}, Upgrade: full})
			if err != nil {
				t.Fatal(err)
			}
			sameEncoding(t, "seek", gp, c.SeekProof.WireDataHex)
		}

		if c.FullyRemoteProofBlock2Hex != nil {
			raw := unhex(t, *c.FullyRemoteProofBlock2Hex)
			if !bytes.Equal(raw[:32], unhex(t, c.DiscoveryKey)) {
				t.Fatal("fully remote proof does not start with the discovery key")
			}
			p := decodeHex(t, hex.EncodeToString(raw[32:]))
			if p.Manifest == nil {
				t.Fatal("fully remote proof has no manifest")
			}
			// Nothing but the key: the manifest comes from the proof.
			v, err := VerifyProof(key, nil, p)
			if err != nil {
				t.Fatalf("fully remote proof: %v", err)
			}
			if !bytes.Equal(v.Block.Value, unhex(t, c.Blocks[2])) {
				t.Fatal("fully remote proof: wrong block")
			}
			gp, err := core.Proof(ctx, ProofRequest{Block: &BlockRequest{Index: 2}, Upgrade: full, Manifest: true})
			if err != nil {
				t.Fatal(err)
			}
			sameEncoding(t, "fully remote", gp, hex.EncodeToString(raw[32:]))
			// Flip every byte (but the unsigned request id): all rejected.
			// A compat core's key is its public key, so the rest of the
			// carried manifest is not authenticated (as in JS).
			skipFrom := len(raw) - 32
			if c.Compat {
				skipFrom = len(raw) - 32 - ManifestSize
			}
			rejectAllFlips(t, key, raw[32:], skipFrom, len(raw)-32-32)
		}
	})
}

// rejectAllFlips checks that a key-only verifier rejects the proof with
// any single byte changed, except byte 1 (the request id, which is not
// part of what is proven) and bytes in [skipFrom, skipTo).
func rejectAllFlips(t *testing.T, key, raw []byte, skipFrom, skipTo int) {
	t.Helper()
	for i := range raw {
		if i == 1 || (i >= skipFrom && i < skipTo) {
			continue
		}
		for _, mask := range []byte{0x01, 0x80} {
			bad := bytes.Clone(raw)
			bad[i] ^= mask
			p, err := DecodeProof(bad)
			if err != nil {
				continue
			}
			if _, err := VerifyProof(key, nil, p); err == nil {
				t.Fatalf("proof with byte %d ^ %#x accepted", i, mask)
			}
		}
	}
}

// TestVectorTampering changes blocks, nodes, sizes and signatures of JS
// proofs and checks both verifiers reject them.
func TestVectorTampering(t *testing.T) {
	forEachCore(t, func(t *testing.T, c *vecCore) {
		key := unhex(t, c.Key)
		th := [32]byte(unhex(t, c.TreeHash))
		manifest := c.manifest(t)
		for k, ps := range c.Proofs {
			mutations := map[string]func(p *Proof){
				"block byte": func(p *Proof) {
					if len(p.Block.Value) == 0 {
						p.Block.Value = []byte{0}
					} else {
						p.Block.Value[0] ^= 1
					}
				},
				"block grown":  func(p *Proof) { p.Block.Value = append(p.Block.Value, 0) },
				"upgrade node": func(p *Proof) { p.Upgrade.Nodes[len(p.Upgrade.Nodes)-1].Hash[3] ^= 1 },
				"upgrade size": func(p *Proof) { p.Upgrade.Nodes[0].Size++ },
				"length":       func(p *Proof) { p.Upgrade.Length++ },
				"dropped node": func(p *Proof) { p.Upgrade.Nodes = p.Upgrade.Nodes[1:] },
				"extra node":   func(p *Proof) { p.Upgrade.Nodes = append(p.Upgrade.Nodes, p.Upgrade.Nodes[0]) },
				"other index":  func(p *Proof) { p.Block.Index ^= 1 },
				"no upgrade":   func(p *Proof) { p.Upgrade = nil },
				"path node": func(p *Proof) {
					if len(p.Block.Nodes) == 0 {
						p.Block.Nodes = []Node{{Index: 1}}
					} else {
						p.Block.Nodes[0].Hash[0] ^= 1
					}
				},
			}
			for name, mutate := range mutations {
				p := decodeHex(t, ps.WithUpgrade.WireDataHex)
				if name == "upgrade node" || name == "upgrade size" || name == "dropped node" || name == "extra node" {
					if len(p.Upgrade.Nodes) == 0 {
						continue
					}
				}
				mutate(p)
				if _, err := VerifyProof(key, manifest, p); err == nil {
					t.Errorf("proof %s with %s accepted by key-only verifier", k, name)
				}
				if _, err := VerifyProofAt(p, c.Length, th); err == nil {
					t.Errorf("proof %s with %s accepted at trusted tree", k, name)
				}
			}
			p := decodeHex(t, ps.WithUpgrade.WireDataHex)
			p.Upgrade.Signature = bytes.Clone(p.Upgrade.Signature)
			p.Upgrade.Signature[10] ^= 1
			if _, err := VerifyProof(key, manifest, p); !errors.Is(err, ErrBadSignature) {
				t.Errorf("proof %s with bad signature: %v", k, err)
			}
			p.Upgrade.Signature = nil
			if _, err := VerifyProof(key, manifest, p); !errors.Is(err, ErrBadSignature) {
				t.Errorf("proof %s without signature: %v", k, err)
			}
			p.Fork = 1
			p.Upgrade.Signature = unhex(t, c.Signature)
			if _, err := VerifyProof(key, manifest, p); !errors.Is(err, ErrBadSignature) {
				t.Errorf("proof %s with other fork: %v", k, err)
			}
		}
	})
}
