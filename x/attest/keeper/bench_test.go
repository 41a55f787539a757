package keeper_test

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/sha256"
	"errors"
	"fmt"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/datdot/datdot/hypercore"
	"github.com/datdot/datdot/hypercore/flattree"
	storagetypes "github.com/datdot/datdot/x/storage/types"

	"github.com/datdot/datdot/x/attest/keeper"
	"github.com/datdot/datdot/x/attest/types"
)

// BenchmarkEndBlock measures x/attest's EndBlock (sampling and issuing
// challenges_per_block challenges, settling due deadlines) with 1k to 1M
// live assignments behind the storage keeper: the work must not grow with
// the number of assignments.
func BenchmarkEndBlock(b *testing.B) {
	for _, n := range []int{1_000, 10_000, 100_000, 1_000_000} {
		b.Run(fmt.Sprintf("assignments=%d", n), func(b *testing.B) {
			f := newFixture(b)
			h := addr("hoster")
			_, c := f.newCore("core", 64, 64)
			f.addOrder(1, addr("owner"), c, h)
			proto := f.st.slots[0]
			f.st.slots = make([]storagetypes.Assignment, n)
			for i := range f.st.slots {
				a := proto
				a.Replica = uint32(i) // distinct slots of one order
				f.st.slots[i] = a
			}
			f.st.index = make(map[[3]uint64]int, n)
			for i, a := range f.st.slots {
				f.st.index[[3]uint64{a.OrderId, uint64(a.CoreIndex), uint64(a.Replica)}] = i
			}
			f.setParams(func(p *types.Params) { p.ResponseBlocks = 10 })
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				f.setHeight(int64(i + 2))
				require.NoError(b, f.k.EndBlocker(f.ctx))
			}
		})
	}
}

// uniformCoreStorage is a read-only hypercore.Storage holding a real tree
// of n identical 64 KiB blocks. Every node of a full subtree at depth d has
// the same hash (only its index differs), so the whole 1,000,000-block tree
// costs one hash per level to build instead of 64 GiB of appends; proofs
// drawn from it and their verification walk the same path as for any core
// of that length (the proof size and the hashing do not depend on the
// block contents).
type uniformCoreStorage struct {
	header hypercore.Header
	head   hypercore.Head
	block  []byte
	level  [64]hypercore.Node
}

func newUniformCoreStorage(b *testing.B, n uint64, blockSize int) *uniformCoreStorage {
	s := &uniformCoreStorage{block: bytes.Repeat([]byte{0xd7}, blockSize)}
	s.level[0] = hypercore.LeafNode(0, s.block)
	for d := 1; d < 64; d++ {
		l := s.level[d-1]
		s.level[d] = hypercore.Node{Size: 2 * l.Size, Hash: hypercore.ParentHash(
			hypercore.Node{Index: 0, Size: l.Size, Hash: l.Hash},
			hypercore.Node{Index: 1, Size: l.Size, Hash: l.Hash})}
	}
	seed := sha256.Sum256([]byte("bench uniform core"))
	priv := ed25519.NewKeyFromSeed(seed[:])
	man := hypercore.DefaultManifest(priv.Public().(ed25519.PublicKey))
	s.header = hypercore.Header{Key: hypercore.ManifestKey(man), Manifest: man}
	var roots []hypercore.Node
	for _, r := range flattree.FullRoots(nil, 2*n) {
		nd, _ := s.Node(context.Background(), r)
		roots = append(roots, nd)
	}
	th := hypercore.TreeHash(roots)
	sig, err := hypercore.SignTree(priv, man, th[:], n, 0)
	if err != nil {
		b.Fatal(err)
	}
	s.head = hypercore.Head{Length: n, ByteLength: n * uint64(blockSize), Signature: sig}
	return s
}

func (s *uniformCoreStorage) Init(context.Context, hypercore.Header) error {
	return errors.New("read-only benchmark storage")
}

func (s *uniformCoreStorage) Load(context.Context) (hypercore.Header, hypercore.Head, error) {
	return s.header, s.head, nil
}

func (s *uniformCoreStorage) Node(_ context.Context, index uint64) (hypercore.Node, error) {
	nd := s.level[flattree.Depth(index)]
	nd.Index = index
	return nd, nil
}

func (s *uniformCoreStorage) Block(context.Context, uint64) ([]byte, error) {
	return bytes.Clone(s.block), nil
}

func (s *uniformCoreStorage) Commit(context.Context, *hypercore.Commit) error {
	return errors.New("read-only benchmark storage")
}

func (s *uniformCoreStorage) Close() error { return nil }

// BenchmarkVerifyProof1M measures what MsgSubmitProofs does per answer
// (CheckAnswer: size check, hypercore.DecodeProof, VerifyBlockAt against
// the committed length and tree hash) for 64 KiB blocks of a
// 1,000,000-block core, with one index per challenge (time per proof) and
// with the default indices_per_challenge. It reports the proof bytes per
// challenge and per proof.
func BenchmarkVerifyProof1M(b *testing.B) {
	const n, blockSize = 1_000_000, 64 << 10
	ctx := context.Background()
	core, err := hypercore.Open(ctx, newUniformCoreStorage(b, n, blockSize), nil)
	require.NoError(b, err)
	info := core.Info()
	require.Equal(b, uint64(n), info.Length)
	p := types.DefaultParams()
	for _, k := range []int{1, int(p.IndicesPerChallenge)} {
		b.Run(fmt.Sprintf("indices=%d", k), func(b *testing.B) {
			c := types.Challenge{Id: 1, Length: n, TreeHash: info.TreeHash[:]}
			for i := 0; i < k; i++ {
				// Spread over the tree: the deepest and the last blocks.
				c.Indices = append(c.Indices, uint64(777_777+i*222_221))
			}
			proofs := make([][]byte, k)
			total := 0
			for i, idx := range c.Indices {
				pr, err := core.BlockProofAt(ctx, idx, n)
				require.NoError(b, err)
				proofs[i] = pr.Encode()
				total += len(proofs[i])
			}
			// A wrong tree hash must fail: the benchmark measures a real check.
			bad := c
			bad.TreeHash = bytes.Repeat([]byte{1}, 32)
			ok, _, err := keeper.CheckAnswer(bad, proofs, p.MaxProofBytes)
			require.NoError(b, err)
			require.False(b, ok)
			for b.Loop() {
				ok, reason, err := keeper.CheckAnswer(c, proofs, p.MaxProofBytes)
				if err != nil || !ok {
					b.Fatalf("answer refused: %v %s", err, reason)
				}
			}
			// After the loop: b.Loop's timer reset drops earlier metrics.
			b.ReportMetric(float64(total), "proof-bytes/challenge")
			b.ReportMetric(float64(total)/float64(k), "proof-bytes/proof")
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*k), "ns/proof")
		})
	}
}
