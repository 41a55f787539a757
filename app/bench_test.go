package app_test

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/sha256"
	"fmt"
	"testing"

	"github.com/stretchr/testify/require"

	sdkmath "cosmossdk.io/math"

	"github.com/cosmos/cosmos-sdk/codec"
	sdk "github.com/cosmos/cosmos-sdk/types"
	banktypes "github.com/cosmos/cosmos-sdk/x/bank/types"

	"github.com/datdot/datdot/app"
	"github.com/datdot/datdot/hypercore"
	attesttypes "github.com/datdot/datdot/x/attest/types"
	storagetypes "github.com/datdot/datdot/x/storage/types"
)

// BenchmarkBlockPlaceOrder measures how many place-order transactions the
// app executes per second inside blocks (decode, ante with signature
// checks, core signature verification, hoster assignment, escrow), without
// consensus or networking: one block of txsPerBlock orders per iteration.
// bench/chain measures the same end to end on a running node.
func BenchmarkBlockPlaceOrder(b *testing.B) {
	const senders, txsPerBlock = 20, 200
	names := []string{"validator"}
	for i := range 6 {
		names = append(names, fmt.Sprintf("hoster%d", i+1))
	}
	for i := range senders {
		names = append(names, fmt.Sprintf("sender%d", i+1))
	}
	c := newChain(b, names, patchEpochs)
	regions := []string{"eu-west", "us-east", "ap-south"}
	for i := range 6 {
		h := c.accounts[fmt.Sprintf("hoster%d", i+1)]
		c.mustDeliver(h, &storagetypes.MsgRegisterHoster{
			Hoster: h.String(), Stake: udot(10_000_000), Capacity: 1 << 40,
			Endpoint: fmt.Sprintf("http://127.0.0.1:%d", 9001+i), Region: regions[i%3],
			PricePerGibEpoch: sdkmath.NewInt(int64(500 + 50*i)),
		})
	}
	core := newCore(b, "bench core", make([]byte, 4096))
	order := func(owner *account) *storagetypes.MsgPlaceOrder {
		return &storagetypes.MsgPlaceOrder{
			Owner: owner.String(), Cores: []storagetypes.Core{core}, Replicas: 3,
			MaxPrice: sdkmath.NewInt(1000), DurationEpochs: 10, Deposit: udot(30),
		}
	}

	benchBlocks(b, c, senders, txsPerBlock, "place-order", func(s *account) sdk.Msg { return order(s) })
}

// benchBlocks runs one block of txsPerBlock transactions per iteration,
// each built by msg for one of the senders in turn (signing is not timed),
// and reports executed transactions per second.
func benchBlocks(b *testing.B, c *chain, senders, txsPerBlock int, what string, msg func(*account) sdk.Msg) {
	b.Helper()
	b.ResetTimer()
	for range b.N {
		b.StopTimer()
		txs := make([][]byte, 0, txsPerBlock)
		for i := range txsPerBlock {
			s := c.accounts[fmt.Sprintf("sender%d", i%senders+1)]
			txs = append(txs, c.signTx(s, msg(s)))
			s.seq++
		}
		b.StartTimer()
		for _, res := range c.block(txs...) {
			if res.Code != 0 {
				b.Fatalf("%s failed: %s", what, res.Log)
			}
		}
	}
	b.ReportMetric(float64(b.N*txsPerBlock)/b.Elapsed().Seconds(), "tx/s")
}

// BenchmarkBlockBankSend is the same measurement for plain bank sends.
func BenchmarkBlockBankSend(b *testing.B) {
	const senders, txsPerBlock = 20, 200
	names := []string{"validator"}
	for i := range senders {
		names = append(names, fmt.Sprintf("sender%d", i+1))
	}
	c := newChain(b, names, nil)
	benchBlocks(b, c, senders, txsPerBlock, "send", func(s *account) sdk.Msg {
		return banktypes.NewMsgSend(s.addr, s.addr, sdk.NewCoins(udot(1)))
	})
}

// patchProofBench issues proofBenchChallenges challenges of 2 indices per
// block, with time to answer.
func patchProofBench(cdc codec.Codec, gs app.GenesisState) {
	patchEpochs(cdc, gs)
	var ag attesttypes.GenesisState
	cdc.MustUnmarshalJSON(gs[attesttypes.ModuleName], &ag)
	ag.Params.ChallengesPerBlock = proofBenchChallenges
	ag.Params.IndicesPerChallenge = 2
	ag.Params.ResponseBlocks = 50
	ag.Params.CheckIntervalBlocks = 0
	gs[attesttypes.ModuleName] = cdc.MustMarshalJSON(&ag)
}

// 24 challenges of two 64 KiB proofs are about 3.2 MB of answers: a block
// stays under the 4 MiB block size of the test chain.
const proofBenchChallenges = 24

// BenchmarkBlockSubmitProofs measures how many proofs of 64 KiB blocks the
// app commits per second inside blocks with batched MsgSubmitProofs (one
// tx per hoster answering all its open challenges: decode, ante with
// signature checks and gas, DecodeProof + VerifyBlockAt per proof, the
// pass reported to x/storage), without consensus or networking. Each
// iteration is one block answering every challenge open after the
// previous one; EndBlock issues the next ones. Signing is not timed.
func BenchmarkBlockSubmitProofs(b *testing.B) {
	names := []string{"validator", "owner"}
	for i := range 6 {
		names = append(names, fmt.Sprintf("hoster%d", i+1))
	}
	c := newChain(b, names, patchProofBench)
	c.gas = 100_000_000
	regions := []string{"eu-west", "us-east", "ap-south"}
	var hosters []*account
	for i := range 6 {
		h := c.accounts[fmt.Sprintf("hoster%d", i+1)]
		hosters = append(hosters, h)
		c.mustDeliver(h, &storagetypes.MsgRegisterHoster{
			Hoster: h.String(), Stake: udot(10_000_000), Capacity: 1 << 40,
			Endpoint: fmt.Sprintf("http://127.0.0.1:%d", 9001+i), Region: regions[i%3],
			PricePerGibEpoch: sdkmath.NewInt(int64(500 + 50*i)),
		})
	}
	ctx := context.Background()
	seed := sha256.Sum256([]byte("proof bench core"))
	hc, err := hypercore.Create(ctx, hypercore.NewMemStorage(), ed25519.NewKeyFromSeed(seed[:]), false)
	require.NoError(b, err)
	defer hc.Close()
	var blocks [][]byte
	for i := range 16 {
		blocks = append(blocks, bytes.Repeat([]byte{byte(i)}, 64<<10))
	}
	_, err = hc.Append(ctx, blocks...)
	require.NoError(b, err)
	info := hc.Info()
	core := storagetypes.Core{Key: info.Key[:], Manifest: info.Manifest, Length: info.Length, Fork: info.Fork,
		ByteLength: info.ByteLength, TreeHash: info.TreeHash[:], Signature: info.Signature,
		Roots: storagetypes.RootsFromNodes(hc.Roots())}
	owner := c.accounts["owner"]
	commits := map[string][]sdk.Msg{}
	for range 40 {
		res := c.mustDeliver(owner, &storagetypes.MsgPlaceOrder{
			Owner: owner.String(), Cores: []storagetypes.Core{core}, Replicas: 3,
			MaxPrice: sdkmath.NewInt(1000), DurationEpochs: 1000, Deposit: udot(10_000_000),
		})
		var placed storagetypes.MsgPlaceOrderResponse
		requireMsgResponse(b, c, res, &placed)
		for _, a := range c.order(placed.OrderId).Assignments {
			commits[a.Assignment.Hoster] = append(commits[a.Assignment.Hoster],
				&storagetypes.MsgCommit{Hoster: a.Assignment.Hoster, OrderId: placed.OrderId, CoreIndex: 0, Length: core.Length})
		}
	}
	for _, h := range hosters {
		if msgs := commits[h.String()]; len(msgs) > 0 {
			c.mustDeliver(h, msgs...)
		}
	}

	proofs := map[uint64][]byte{} // index -> encoded proof (all challenges use one core)
	for i := range info.Length {
		p, err := hc.BlockProofAt(ctx, i, info.Length)
		require.NoError(b, err)
		proofs[i] = p.Encode()
	}
	total := 0
	b.ResetTimer()
	for range b.N {
		b.StopTimer()
		answers := map[string][]attesttypes.ChallengeAnswer{}
		n := 0
		require.NoError(b, c.app.AttestKeeper.Challenges.Walk(c.ctx(), nil, func(id uint64, ch attesttypes.Challenge) (bool, error) {
			var ps [][]byte
			for _, idx := range ch.Indices {
				ps = append(ps, proofs[idx])
			}
			answers[ch.Hoster] = append(answers[ch.Hoster], attesttypes.ChallengeAnswer{ChallengeId: id, Proofs: ps})
			n += len(ps)
			return false, nil
		}))
		if n == 0 {
			b.Fatal("no open challenges")
		}
		var txs [][]byte
		var signers []*account
		for _, h := range hosters {
			if as := answers[h.String()]; len(as) > 0 {
				txs = append(txs, c.signTx(h, &attesttypes.MsgSubmitProofs{Hoster: h.String(), Answers: as}))
				signers = append(signers, h)
				h.seq++
			}
		}
		b.StartTimer()
		res := c.finalize(txs...)
		b.StopTimer()
		for i, r := range res.TxResults {
			if r.Code != 0 {
				b.Fatalf("proofs of %s refused: %s", signers[i].name, r.Log)
			}
			var out attesttypes.MsgSubmitProofsResponse
			requireMsgResponse(b, c, r, &out)
			for _, x := range out.Results {
				if !x.Passed {
					b.Fatalf("challenge %d failed: %s", x.ChallengeId, x.Reason)
				}
			}
		}
		total += n
		b.StartTimer()
	}
	b.ReportMetric(float64(total)/b.Elapsed().Seconds(), "proofs/s")
	b.ReportMetric(float64(total)/float64(b.N), "proofs/block")
}
