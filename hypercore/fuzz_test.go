package hypercore

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"testing"
)

// fuzzCore is a small core whose proofs seed the fuzz targets; state6 is
// what a key-only reader verified when the core had 6 blocks.
func fuzzCore(f *testing.F) (c *Core, blocks [][]byte, state6 *Verified) {
	ctx := context.Background()
	c, err := Create(ctx, NewMemStorage(), testKey(21), false)
	if err != nil {
		f.Fatal(err)
	}
	for i := uint64(0); i < 13; i++ {
		blocks = append(blocks, bytes.Repeat([]byte{byte(i)}, int(i*3)))
	}
	if _, err := c.Append(ctx, blocks[:6]...); err != nil {
		f.Fatal(err)
	}
	p, err := c.BlockProof(ctx, 3)
	if err != nil {
		f.Fatal(err)
	}
	key := c.Key()
	if state6, err = VerifyProof(key[:], nil, p); err != nil {
		f.Fatal(err)
	}
	if _, err := c.Append(ctx, blocks[6:]...); err != nil {
		f.Fatal(err)
	}
	return c, blocks, state6
}

func fuzzSeeds(f *testing.F, c *Core) {
	ctx := context.Background()
	up := &UpgradeRequest{Length: c.Length()}
	reqs := []ProofRequest{
		{Block: &BlockRequest{Index: 0}, Upgrade: up, Manifest: true},
		{Block: &BlockRequest{Index: 12}, Upgrade: up},
		{Block: &BlockRequest{Index: 5}},
		{Hash: &HashRequest{Index: 7}, Upgrade: up},
		{Seek: &SeekRequest{Bytes: 40}, Upgrade: up},
		{Block: &BlockRequest{Index: 2}, Upgrade: &UpgradeRequest{Length: 6}},
		{Block: &BlockRequest{Index: 9}, Upgrade: &UpgradeRequest{Start: 6, Length: 7}},
		{Block: &BlockRequest{Index: 1, Nodes: 2}, Upgrade: &UpgradeRequest{Start: 6, Length: 7}},
	}
	for _, r := range reqs {
		p, err := c.Proof(ctx, r)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(p.Encode())
	}
	f.Add([]byte{})
	f.Add([]byte{0x1f, 0, 0})
}

// FuzzDecodeProof: decoding never panics, and whatever decodes encodes to
// bytes that decode to the same encoding again.
func FuzzDecodeProof(f *testing.F) {
	c, _, _ := fuzzCore(f)
	fuzzSeeds(f, c)
	f.Fuzz(func(t *testing.T, raw []byte) {
		p, err := DecodeProof(raw)
		if err != nil {
			return
		}
		enc := p.Encode()
		p2, err := DecodeProof(enc)
		if err != nil {
			t.Fatalf("re-encoded proof does not decode: %v", err)
		}
		if !bytes.Equal(p2.Encode(), enc) {
			t.Fatal("encoding is not stable")
		}
	})
}

// FuzzVerifyProof: the verifiers never panic, and whatever they accept is
// true of the real core: its blocks and its signed tree.
func FuzzVerifyProof(f *testing.F) {
	c, blocks, state6 := fuzzCore(f)
	fuzzSeeds(f, c)
	info := c.Info()
	roots := c.Roots()
	f.Fuzz(func(t *testing.T, raw []byte) {
		p, err := DecodeProof(raw)
		if err != nil {
			return
		}
		check := func(name string, v *Verified) {
			if v.Block != nil && (v.Block.Index >= uint64(len(blocks)) || !bytes.Equal(v.Block.Value, blocks[v.Block.Index])) {
				t.Fatalf("%s accepted a block that is not in the core", name)
			}
		}
		if v, err := VerifyProof(info.Key[:], nil, p); err == nil {
			if v.Length == info.Length && v.TreeHash != info.TreeHash {
				t.Fatal("key-only verifier accepted a foreign tree")
			}
			check("key-only verifier", v)
		}
		if v, err := VerifyProofAt(p, info.Length, info.TreeHash); err == nil {
			check("trusted verifier", v)
		}
		if p.Block != nil {
			if val, err := VerifyBlockAt(p, p.Block.Index, info.Length, info.TreeHash); err == nil && !bytes.Equal(val, blocks[p.Block.Index]) {
				t.Fatal("challenge verifier accepted a block that is not in the core")
			}
		}
		if v, err := VerifyProofKnown(p, RootsLookup(roots)); err == nil {
			check("known-roots verifier", v)
		}
		if v, err := VerifyProofFrom(info.Key[:], nil, state6, p); err == nil {
			if v.Length == info.Length && v.TreeHash != info.TreeHash {
				t.Fatal("upgrading verifier accepted a foreign tree")
			}
			check("upgrading verifier", v)
		}
	})
}

// FuzzVerifyTreeSignature: never panics on any input, and accepts only
// the one real signature of the seed (a forgery would be a finding).
func FuzzVerifyTreeSignature(f *testing.F) {
	priv := testKey(22)
	man := DefaultManifest(priv.Public().(ed25519.PublicKey))
	key := ManifestKey(man)
	th := LeafHash([]byte("tree"))
	sig, err := SignTree(priv, man, th[:], 7, 0)
	if err != nil {
		f.Fatal(err)
	}
	csig, _ := SignTree(priv, nil, th[:], 7, 0)
	f.Add(key[:], man, th[:], uint64(7), uint64(0), sig)
	f.Add([]byte(priv.Public().(ed25519.PublicKey)), []byte{}, th[:], uint64(7), uint64(0), csig)
	f.Fuzz(func(t *testing.T, k, m, h []byte, length, fork uint64, s []byte) {
		if err := VerifyTreeSignature(k, m, h, length, fork, s); err != nil {
			return
		}
		if !bytes.Equal(h, th[:]) || length != 7 || fork != 0 {
			// Only a prologue manifest accepts without a signature, and
			// its key must then be the hash of that manifest.
			dm, derr := DecodeManifest(m)
			if derr != nil || dm.Prologue == nil || ManifestKey(m) != [32]byte(k) {
				t.Fatalf("accepted a signature over another tree: key %x manifest %x", k, m)
			}
		}
	})
}
