package hypercore

import (
	"context"
	"crypto/ed25519"
	"fmt"
	"syscall"
	"testing"
	"time"

	"golang.org/x/crypto/blake2b"

	"github.com/datdot/datdot/hypercore/flattree"
)

const benchBlock = 64 << 10

func benchData() []byte {
	b := make([]byte, benchBlock)
	for i := range b {
		b[i] = byte(i * 31)
	}
	return b
}

// BenchmarkBlake2b64K is the baseline: raw BLAKE2b-256 over 64 KiB.
func BenchmarkBlake2b64K(b *testing.B) {
	data := benchData()
	b.SetBytes(benchBlock)
	for b.Loop() {
		blake2b.Sum256(data)
	}
}

// discardStorage keeps the head and every tree node (in memory, as
// MemStorage does) but drops the blocks: it measures the core's own work
// on append (leaf and parent hashes, storing the nodes, the tree hash and
// the signature) without holding gigabytes of blocks or copying them.
type discardStorage struct{ MemStorage }

func newDiscardStorage() *discardStorage {
	return &discardStorage{MemStorage{nodes: map[uint64]Node{}}}
}

func (s *discardStorage) Commit(_ context.Context, c *Commit) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, n := range c.Nodes {
		s.nodes[n.Index] = n
	}
	s.head = c.Head
	return nil
}

// BenchmarkAppend64K appends 64 KiB blocks to a core whose storage keeps
// the tree nodes and drops the blocks, 16 per Append (one signature per
// MiB; AppendFrom and the gateway sign once per batch like this) and 1 per
// Append (one signature per block, the worst case).
func BenchmarkAppend64K(b *testing.B) {
	for _, per := range []int{16, 1} {
		b.Run(fmt.Sprintf("per-append=%d", per), func(b *testing.B) {
			ctx := context.Background()
			c, err := Create(ctx, newDiscardStorage(), testKey(30), false)
			if err != nil {
				b.Fatal(err)
			}
			data := benchData()
			batch := make([][]byte, per)
			for i := range batch {
				batch[i] = data
			}
			b.SetBytes(int64(benchBlock * per))
			b.ReportAllocs()
			for b.Loop() {
				if _, err := c.Append(ctx, batch...); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkAppendVsHash interleaves raw BLAKE2b-256 over 16 blocks of 64
// KiB with appending the same 16 blocks (one Append, one signature, tree
// nodes stored) and
// reports append throughput as a percentage of raw hashing throughput;
// interleaving keeps the ratio meaningful on a loaded machine.
func BenchmarkAppendVsHash(b *testing.B) {
	ctx := context.Background()
	c, err := Create(ctx, newDiscardStorage(), testKey(33), false)
	if err != nil {
		b.Fatal(err)
	}
	data := benchData()
	batch := make([][]byte, 16)
	for i := range batch {
		batch[i] = data
	}
	var hashT, appendT time.Duration
	for b.Loop() {
		t0 := time.Now()
		for _, blk := range batch {
			blake2b.Sum256(blk)
		}
		t1 := time.Now()
		if _, err := c.Append(ctx, batch...); err != nil {
			b.Fatal(err)
		}
		t2 := time.Now()
		hashT += t1.Sub(t0)
		appendT += t2.Sub(t1)
	}
	mb := float64(b.N) * float64(len(batch)*benchBlock) / 1e6
	b.ReportMetric(mb/hashT.Seconds(), "hash-MB/s")
	b.ReportMetric(mb/appendT.Seconds(), "append-MB/s")
	b.ReportMetric(100*hashT.Seconds()/appendT.Seconds(), "append-%-of-hash")
}

// BenchmarkAppendFile64K appends 64 KiB blocks, 64 per commit (4 MiB), to
// the durable file storage (fsync on every commit).
func BenchmarkAppendFile64K(b *testing.B) {
	ctx := context.Background()
	st, err := OpenFileStorage(b.TempDir())
	if err != nil {
		b.Fatal(err)
	}
	c, err := Create(ctx, st, testKey(31), false)
	if err != nil {
		b.Fatal(err)
	}
	defer c.Close()
	data := benchData()
	batch := make([][]byte, 64)
	for i := range batch {
		batch[i] = data
	}
	b.SetBytes(int64(benchBlock * len(batch)))
	for b.Loop() {
		if _, err := c.Append(ctx, batch...); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkCommitFile64K commits one 64 KiB block at a time to the
// durable file storage (what a hoster does per push of a small object)
// and reports the process CPU per commit (fsyncs included), with the
// offsets file synced as the storage does it ("lazy") and with every
// commit ("every", as before it was derived on open).
func BenchmarkCommitFile64K(b *testing.B) {
	for _, mode := range []string{"lazy", "every"} {
		b.Run(mode, func(b *testing.B) {
			ctx := context.Background()
			st, err := OpenFileStorage(b.TempDir())
			if err != nil {
				b.Fatal(err)
			}
			if mode == "every" {
				st.offsetsEvery = 1
			}
			c, err := Create(ctx, st, testKey(33), false)
			if err != nil {
				b.Fatal(err)
			}
			defer c.Close()
			data := benchData()
			b.SetBytes(benchBlock)
			c0 := processCPU()
			for b.Loop() {
				if _, err := c.Append(ctx, data); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64((processCPU()-c0).Microseconds())/float64(b.N), "cpu-us/commit")
		})
	}
}

func processCPU() time.Duration {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// uniformStorage is a read-only synthetic core of n identical 64 KiB
// blocks: every node of a full subtree at depth d is the same except for
// its index, so a 1,000,000-block tree costs 20 hashes to build.
type uniformStorage struct {
	MemStorage
	block []byte
	level [64]Node
}

func newUniformCore(b *testing.B, n uint64) *Core {
	ctx := context.Background()
	s := &uniformStorage{block: benchData()}
	s.nodes = map[uint64]Node{}
	s.level[0] = LeafNode(0, s.block)
	for d := 1; d < 64; d++ {
		l := s.level[d-1]
		s.level[d] = Node{Size: 2 * l.Size, Hash: ParentHash(Node{Index: 0, Size: l.Size, Hash: l.Hash}, Node{Index: 1, Size: l.Size, Hash: l.Hash})}
	}
	priv := testKey(32)
	man := DefaultManifest(priv.Public().(ed25519.PublicKey))
	if err := s.Init(ctx, Header{Key: ManifestKey(man), Manifest: man}); err != nil {
		b.Fatal(err)
	}
	var roots []Node
	for _, r := range flattree.FullRoots(nil, 2*n) {
		nd, _ := s.Node(ctx, r)
		roots = append(roots, nd)
	}
	th := TreeHash(roots)
	sig, err := SignTree(priv, man, th[:], n, 0)
	if err != nil {
		b.Fatal(err)
	}
	s.head = Head{Length: n, ByteLength: n * benchBlock, Signature: sig}
	c, err := Open(ctx, s, nil)
	if err != nil {
		b.Fatal(err)
	}
	return c
}

func (s *uniformStorage) Node(_ context.Context, index uint64) (Node, error) {
	n := s.level[flattree.Depth(index)]
	n.Index = index
	return n, nil
}

func (s *uniformStorage) Block(context.Context, uint64) ([]byte, error) { return s.block, nil }

// BenchmarkVerifyProof1M verifies the proof of one 64 KiB block in a core
// of 1,000,000 blocks: with only the key (signature checked), and against
// a trusted tree hash (what the chain does: BlockProofAt, VerifyBlockAt).
// Both include decoding. It reports the proof size.
func BenchmarkVerifyProof1M(b *testing.B) {
	const n = 1_000_000
	ctx := context.Background()
	c := newUniformCore(b, n)
	info := c.Info()
	p, err := c.BlockProof(ctx, 777_777)
	if err != nil {
		b.Fatal(err)
	}
	trusted, err := c.BlockProofAt(ctx, 777_777, n) // a chain challenge
	if err != nil {
		b.Fatal(err)
	}
	for _, tc := range []struct {
		name   string
		raw    []byte
		verify func(*Proof) error
	}{
		{"key-only", p.Encode(), func(p *Proof) error { _, err := VerifyProof(info.Key[:], nil, p); return err }},
		{"trusted-tree", trusted.Encode(), func(p *Proof) error { _, err := VerifyBlockAt(p, 777_777, n, info.TreeHash); return err }},
	} {
		b.Run(tc.name, func(b *testing.B) {
			for b.Loop() {
				dp, err := DecodeProof(tc.raw)
				if err != nil {
					b.Fatal(err)
				}
				if err := tc.verify(dp); err != nil {
					b.Fatal(err)
				}
			}
			// After the loop: b.Loop's timer reset drops earlier metrics.
			b.ReportMetric(float64(len(tc.raw)), "proof-bytes")
			b.ReportMetric(float64(len(tc.raw)-benchBlock), "proof-overhead-bytes")
		})
	}
}
