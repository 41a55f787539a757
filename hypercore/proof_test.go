package hypercore

import (
	"bytes"
	"context"
	"errors"
	"math/rand/v2"
	"testing"

	"github.com/datdot/datdot/hypercore/flattree"
)

// TestProofShapes makes block, hash and seek proofs for every block and
// every upgrade length of a 40-block core, and checks both verifiers.
func TestProofShapes(t *testing.T) {
	ctx := context.Background()
	c, err := Create(ctx, NewMemStorage(), testKey(12), false)
	if err != nil {
		t.Fatal(err)
	}
	const n = 40
	appendTestBlocks(t, c, 0, n)
	info := c.Info()
	for l := uint64(1); l <= n; l++ {
		th, roots, err := c.TreeHashAt(ctx, l)
		if err != nil {
			t.Fatal(err)
		}
		for b := uint64(0); b < l; b++ {
			// At the head: JS semantics, additional nodes up to the head.
			p, err := c.Proof(ctx, ProofRequest{Block: &BlockRequest{Index: b}, Upgrade: &UpgradeRequest{Length: l}, Manifest: b%2 == 0})
			if err != nil {
				t.Fatal(err)
			}
			if (l < n) != (len(p.Upgrade.AdditionalNodes) > 0) {
				t.Fatalf("l=%d b=%d: %d additional nodes", l, b, len(p.Upgrade.AdditionalNodes))
			}
			v, err := VerifyProof(info.Key[:], info.Manifest, p)
			if err != nil {
				t.Fatalf("l=%d b=%d key-only: %v", l, b, err)
			}
			if v.Length != n || v.TreeHash != info.TreeHash || !bytes.Equal(v.Block.Value, testBlock(b)) {
				t.Fatalf("l=%d b=%d: verified %d %x", l, b, v.Length, v.TreeHash)
			}
			// At a committed length: what the chain checks.
			p, err = c.ProofAt(ctx, l, ProofRequest{Block: &BlockRequest{Index: b}, Upgrade: &UpgradeRequest{Length: l}})
			if err != nil {
				t.Fatal(err)
			}
			if v, err := VerifyProofAt(p, l, th); err != nil || !bytes.Equal(v.Block.Value, testBlock(b)) {
				t.Fatalf("l=%d b=%d trusted: %v", l, b, err)
			}
			// Hash proofs, and block proofs against known roots.
			p, err = c.ProofAt(ctx, l, ProofRequest{Hash: &HashRequest{Index: 2 * b}, Upgrade: &UpgradeRequest{Length: l}})
			if err != nil {
				t.Fatal(err)
			}
			if v, err := VerifyProofAt(p, l, th); err != nil || v.Nodes[0] != LeafNode(b, testBlock(b)) {
				t.Fatalf("l=%d hash %d: %v", l, 2*b, err)
			}
		}
		// Seek proofs at a few byte offsets.
		for _, off := range []uint64{0, 1, info.ByteLength / 3, info.ByteLength / 2} {
			v, err := c.view(ctx, l, false)
			if err != nil {
				t.Fatal(err)
			}
			if off >= v.byteLength {
				continue
			}
			p, err := c.ProofAt(ctx, l, ProofRequest{Seek: &SeekRequest{Bytes: off}, Upgrade: &UpgradeRequest{Length: l}})
			if err != nil {
				t.Fatalf("seek %d at %d: %v", off, l, err)
			}
			if _, err := VerifyProofAt(p, l, th); err != nil {
				t.Fatalf("seek %d at %d: %v", off, l, err)
			}
		}
		// Block proofs without upgrade, up to the block's root, checked
		// against the trusted roots.
		for b := uint64(0); b < l; b++ {
			var levels uint64
			for _, r := range roots {
				if flattree.Contains(r.Index, 2*b) {
					levels = flattree.Depth(r.Index)
				}
			}
			p, err := c.ProofAt(ctx, l, ProofRequest{Block: &BlockRequest{Index: b, Nodes: levels}})
			if err != nil {
				t.Fatalf("l=%d b=%d: %v", l, b, err)
			}
			if _, err := VerifyProofKnown(p, RootsLookup(roots)); err != nil {
				t.Fatalf("l=%d b=%d known roots: %v", l, b, err)
			}
			p.Block.Value = append(bytes.Clone(p.Block.Value), 1)
			if _, err := VerifyProofKnown(p, RootsLookup(roots)); err == nil {
				t.Fatalf("l=%d b=%d: changed block accepted", l, b)
			}
		}
	}
	if _, err := c.ProofAt(ctx, n+1, ProofRequest{}); !errors.Is(err, ErrBadRequest) {
		t.Fatalf("proof past the head: %v", err)
	}
	if _, err := VerifyProofAt(nil, 1, [32]byte{}); !errors.Is(err, ErrBadProof) {
		t.Fatalf("nil proof: %v", err)
	}
	if _, err := VerifyProof(info.Key[:], nil, nil); !errors.Is(err, ErrBadProof) {
		t.Fatalf("nil proof: %v", err)
	}
}

// TestVerifyProofFrom follows a growing core the way a replicating reader
// does: one key-only proof, then upgrades from the length it trusts.
func TestVerifyProofFrom(t *testing.T) {
	ctx := context.Background()
	for _, compat := range []bool{false, true} {
		c, err := Create(ctx, NewMemStorage(), testKey(13), compat)
		if err != nil {
			t.Fatal(err)
		}
		appendTestBlocks(t, c, 0, 3)
		key := c.Key()
		p, err := c.BlockProof(ctx, 1)
		if err != nil {
			t.Fatal(err)
		}
		state, err := VerifyProof(key[:], nil, p)
		if err != nil {
			t.Fatal(err)
		}
		for _, next := range []uint64{4, 5, 8, 13, 16, 17, 31, 33} {
			appendTestBlocks(t, c, state.Length, next)
			info := c.Info()
			for _, b := range []uint64{0, state.Length - 1, state.Length, next - 1} {
				req := ProofRequest{Block: &BlockRequest{Index: b}, Upgrade: &UpgradeRequest{Start: state.Length, Length: next - state.Length}}
				if b < state.Length {
					for _, r := range state.Roots {
						if flattree.Contains(r.Index, 2*b) {
							req.Block.Nodes = flattree.Depth(r.Index)
						}
					}
				}
				p, err := c.Proof(ctx, req)
				if err != nil {
					t.Fatalf("%d->%d block %d: %v", state.Length, next, b, err)
				}
				v, err := VerifyProofFrom(key[:], nil, state, p)
				if err != nil {
					t.Fatalf("%d->%d block %d: %v", state.Length, next, b, err)
				}
				if v.Length != next || v.TreeHash != info.TreeHash || !bytes.Equal(v.Block.Value, testBlock(b)) {
					t.Fatalf("%d->%d block %d: wrong result", state.Length, next, b)
				}
				p.Block.Value = append(bytes.Clone(p.Block.Value), 0)
				if _, err := VerifyProofFrom(key[:], nil, state, p); err == nil {
					t.Fatalf("%d->%d block %d: changed block accepted", state.Length, next, b)
				}
			}
			// A proof from a length the reader does not have is refused.
			p, _ := c.Proof(ctx, ProofRequest{Upgrade: &UpgradeRequest{Start: 1, Length: next - 1}})
			if _, err := VerifyProofFrom(key[:], nil, state, p); !errors.Is(err, ErrBadProof) {
				t.Fatalf("upgrade from the wrong length: %v", err)
			}
			p, _ = c.Proof(ctx, ProofRequest{Upgrade: &UpgradeRequest{Start: state.Length, Length: next - state.Length}})
			if state, err = VerifyProofFrom(key[:], nil, state, p); err != nil {
				t.Fatal(err)
			}
			if state.Length != next || state.TreeHash != info.TreeHash {
				t.Fatal("upgrade-only proof: wrong tree")
			}
		}
	}
}

// TestVerifyBlockAt is the chain's check of a storage challenge: only a
// proof of exactly the challenged block at exactly the trusted tree is
// accepted.
func TestVerifyBlockAt(t *testing.T) {
	ctx := context.Background()
	c, err := Create(ctx, NewMemStorage(), testKey(13), false)
	if err != nil {
		t.Fatal(err)
	}
	appendTestBlocks(t, c, 0, 20)
	const length, index = 13, 7
	th, _, err := c.TreeHashAt(ctx, length)
	if err != nil {
		t.Fatal(err)
	}
	th12, _, err := c.TreeHashAt(ctx, length-1)
	if err != nil {
		t.Fatal(err)
	}
	proofAt := func(l, b uint64) *Proof {
		p, err := c.BlockProofAt(ctx, b, l)
		if err != nil {
			t.Fatal(err)
		}
		return p
	}
	p := proofAt(length, index)
	val, err := VerifyBlockAt(p, index, length, th)
	if err != nil || !bytes.Equal(val, testBlock(index)) {
		t.Fatalf("honest proof: %v", err)
	}
	// At the head too, and without the signature the chain does not need.
	head := c.Length()
	thHead := c.Info().TreeHash
	ph := proofAt(head, index)
	if ph.Upgrade.Signature != nil || ph.Manifest != nil {
		t.Fatal("challenge proof at the head carries a signature or manifest")
	}
	if _, err := VerifyBlockAt(ph, index, head, thHead); err != nil {
		t.Fatalf("challenge proof at the head: %v", err)
	}
	if _, err := c.BlockProofAt(ctx, index, head+1); !errors.Is(err, ErrBadRequest) {
		t.Fatalf("challenge proof past the head: %v", err)
	}
	hashProof, err := c.ProofAt(ctx, length, ProofRequest{Hash: &HashRequest{Index: 2 * index}, Upgrade: &UpgradeRequest{Length: length}})
	if err != nil {
		t.Fatal(err)
	}
	headProof, err := c.Proof(ctx, ProofRequest{Block: &BlockRequest{Index: index}, Upgrade: &UpgradeRequest{Length: length}})
	if err != nil {
		t.Fatal(err)
	}
	forged := proofAt(length, index)
	forged.Block.Value = testBlock(index + 1)
	for name, tc := range map[string]struct {
		p        *Proof
		index, l uint64
		th       [32]byte
	}{
		"valid proof of another block": {proofAt(length, index+1), index, length, th},
		"proof at a shorter length":    {proofAt(length-1, index), index, length, th},
		"trusted hash of another tree": {p, index, length, th12},
		"hash proof":                   {hashProof, index, length, th},
		"head proof, extra nodes":      {headProof, index, length, th},
		"forged value":                 {forged, index, length, th},
		"index beyond length":          {proofAt(length, index), length, length, th},
		"nil proof":                    {nil, index, length, th},
	} {
		if _, err := VerifyBlockAt(tc.p, tc.index, tc.l, tc.th); !errors.Is(err, ErrBadProof) {
			t.Errorf("%s: %v", name, err)
		}
	}
}

// TestProofRequestsFromStrangers makes proofs for random, mostly bad,
// requests (a hoster answers untrusted readers): none may panic, and every
// proof made from scratch (upgrade from 0, no levels skipped) verifies.
func TestProofRequestsFromStrangers(t *testing.T) {
	ctx := context.Background()
	c, err := Create(ctx, NewMemStorage(), testKey(50), false)
	if err != nil {
		t.Fatal(err)
	}
	appendTestBlocks(t, c, 0, 23)
	info := c.Info()
	r := rand.New(rand.NewPCG(1, 2))
	pick := func() uint64 {
		switch r.IntN(10) {
		case 0:
			return r.Uint64()
		case 1:
			return 1<<uint(r.IntN(64)) - uint64(r.IntN(3))
		default:
			return uint64(r.IntN(30))
		}
	}
	verified := 0
	for range 100_000 {
		var req ProofRequest
		switch r.IntN(3) {
		case 0:
			req.Block = &BlockRequest{Index: pick(), Nodes: pick() % 3}
		case 1:
			req.Hash = &HashRequest{Index: pick(), Nodes: pick() % 3}
		}
		if r.IntN(2) == 0 {
			req.Seek = &SeekRequest{Bytes: pick() * 1000, Padding: pick() % 2}
		}
		if r.IntN(3) != 0 {
			req.Upgrade = &UpgradeRequest{Start: pick() % 3, Length: pick()}
		}
		l := 1 + uint64(r.IntN(23))
		atHead := r.IntN(2) == 0
		var p *Proof
		if atHead {
			p, err = c.Proof(ctx, req)
		} else {
			p, err = c.ProofAt(ctx, l, req)
		}
		fromScratch := req.Upgrade != nil && req.Upgrade.Start == 0 &&
			(req.Block == nil || req.Block.Nodes == 0) && (req.Hash == nil || req.Hash.Nodes == 0)
		if err != nil || !fromScratch {
			continue
		}
		if atHead {
			_, err = VerifyProof(info.Key[:], info.Manifest, p)
		} else if req.Upgrade.Length == l {
			th, _, _ := c.TreeHashAt(ctx, l)
			_, err = VerifyProofAt(p, l, th)
		} else {
			continue
		}
		if err != nil {
			t.Fatalf("proof for %+v %+v %+v %+v (head %v, l %d) does not verify: %v", req.Block, req.Hash, req.Seek, req.Upgrade, atHead, l, err)
		}
		verified++
	}
	t.Logf("%d proofs verified", verified)
	if verified < 1000 {
		t.Fatalf("only %d proofs verified; the request mix is off", verified)
	}
}
