package app_test

import (
	"fmt"
	"testing"

	sdkmath "cosmossdk.io/math"

	sdk "github.com/cosmos/cosmos-sdk/types"
	banktypes "github.com/cosmos/cosmos-sdk/x/bank/types"

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
