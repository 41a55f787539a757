package replicate

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"testing"

	"github.com/datdot/datdot/hypercore"
	"github.com/datdot/datdot/hypercore/flattree"
)

// rootDepth is the depth of the root of a length-block tree that holds block i.
func rootDepth(length, i uint64) uint64 {
	for _, r := range flattree.FullRoots(nil, 2*length) {
		if flattree.Contains(r, 2*i) {
			return flattree.Depth(r)
		}
	}
	return 0
}

// FuzzAnswer drives what a serving hoster does with a peer's request
// message: decode it, make the proof the server would send, encode it.
// Nothing may panic, and any block proof the server makes without an
// upgrade, asking for the nodes up to the block's root (as Fetch does), must verify against
// the core's signed head and carry the block's true bytes (a server never sends what a reader would reject).
func FuzzAnswer(f *testing.F) {
	ctx := context.Background()
	seed := bytes.Repeat([]byte{7}, ed25519.SeedSize)
	core, err := hypercore.Create(ctx, hypercore.NewMemStorage(), ed25519.NewKeyFromSeed(seed), false)
	if err != nil {
		f.Fatal(err)
	}
	for i := 0; i < 37; i++ {
		if _, err := core.Append(ctx, bytes.Repeat([]byte{byte(i)}, 1+i*13)); err != nil {
			f.Fatal(err)
		}
	}
	info := core.Info()
	head := &hypercore.Verified{Length: info.Length, Fork: info.Fork, Roots: core.Roots(), TreeHash: info.TreeHash,
		ByteLength: info.ByteLength, Signature: info.Signature, Manifest: info.Manifest}
	key := core.Key()
	for _, r := range []Request{
		{ID: 1, Block: &hypercore.BlockRequest{Index: 5, Nodes: rootDepth(37, 5)}},
		{ID: 6, Block: &hypercore.BlockRequest{Index: 5, Nodes: 2}},
		{ID: 2, Block: &hypercore.BlockRequest{Index: 36}, Upgrade: &hypercore.UpgradeRequest{Start: 0, Length: 37}},
		{ID: 3, Hash: &hypercore.BlockRequest{Index: 10, Nodes: 1}},
		{ID: 4, Seek: &hypercore.SeekRequest{Bytes: 500}},
		{ID: 5, Upgrade: &hypercore.UpgradeRequest{Start: 3, Length: 30}, Manifest: true},
	} {
		f.Add(r.Encode())
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		r, err := DecodeRequest(b)
		if err != nil {
			return
		}
		if r.Fork != info.Fork || (r.Block != nil && r.Block.Index >= info.Length) {
			return // answered with noData
		}
		pr := r.ProofRequest()
		pr.Manifest = r.Manifest
		p, err := core.Proof(ctx, pr)
		if err != nil {
			return // answered with noData (invalid request)
		}
		p.Request = r.ID
		enc := p.Encode()
		back, err := hypercore.DecodeProof(enc)
		if err != nil {
			t.Fatalf("the server's own proof does not decode: %v", err)
		}
		if !bytes.Equal(back.Encode(), enc) {
			t.Fatal("the server's proof does not round-trip")
		}
		if back.Block == nil || back.Upgrade != nil || r.Block == nil || r.Block.Nodes < rootDepth(info.Length, r.Block.Index) {
			return // an upgrade, or a proof that stops below a root (the reader has those nodes), needs more than the head
		}
		v, err := hypercore.VerifyProofFrom(key[:], info.Manifest, head, back)
		if err != nil {
			t.Fatalf("block proof for %d does not verify against the head: %v", back.Block.Index, err)
		}
		want, err := core.Get(ctx, back.Block.Index)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(v.Block.Value, want) {
			t.Fatalf("block %d: proof carries other bytes", back.Block.Index)
		}
	})
}
