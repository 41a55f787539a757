package app_test

import (
	"fmt"
	"testing"

	"github.com/stretchr/testify/require"

	sdkmath "cosmossdk.io/math"

	sdk "github.com/cosmos/cosmos-sdk/types"
	banktypes "github.com/cosmos/cosmos-sdk/x/bank/types"

	storagetypes "github.com/datdot/datdot/x/storage/types"
)

// The assignment seed is the previous block's hash, known before the block:
// gas simulation draws the same hosters as the block and estimates exactly
// the gas the block uses. With 40 hosters (above the scan threshold) the
// selection samples, so its store reads depend on the seed. Before, the
// seed was the current block's hash, which simulation does not know.
func TestPlaceOrderSimulatedGasMatchesTheBlock(t *testing.T) {
	names := []string{"validator", "alice"}
	for i := range 40 {
		names = append(names, fmt.Sprintf("hoster%d", i+1))
	}
	c := newChain(t, names, patchEpochs)
	regions := []string{"eu-west", "us-east", "ap-south", "sa-east", "af-south"}
	for i := range 40 {
		h := c.accounts[fmt.Sprintf("hoster%d", i+1)]
		c.mustDeliver(h, &storagetypes.MsgRegisterHoster{
			Hoster: h.String(), Stake: udot(1_000_000 + int64(i)*100_000), Capacity: 1 << 40,
			Endpoint: fmt.Sprintf("http://127.0.0.1:%d", 9001+i), Region: regions[i%len(regions)],
			PricePerGibEpoch: sdkmath.NewInt(int64(1 + i%7)),
		})
	}
	alice := c.accounts["alice"]
	// The ante handler's own gas differs a little between simulation and
	// the block (a constant of the SDK, seen with a plain bank send); the
	// storage module must add no difference of its own.
	send := c.signTx(alice, &banktypes.MsgSend{FromAddress: alice.String(), ToAddress: c.accounts["hoster1"].String(),
		Amount: sdk.NewCoins(udot(1))})
	sendSim, _, err := c.app.Simulate(send)
	require.NoError(t, err)
	sendRes := c.block(send)[0]
	require.Equalf(t, uint32(0), sendRes.Code, "send failed: %s", sendRes.Log)
	alice.seq++
	anteDiff := int64(sendSim.GasUsed) - sendRes.GasUsed
	t.Logf("bank send: simulated %d, used %d", sendSim.GasUsed, sendRes.GasUsed)
	for i := range 5 {
		core := newCore(t, fmt.Sprint("seed core ", i), make([]byte, 4096))
		tx := c.signTx(alice, &storagetypes.MsgPlaceOrder{
			Owner: alice.String(), Cores: []storagetypes.Core{core}, Replicas: 5,
			MaxPrice: sdkmath.NewInt(4), DurationEpochs: 10, Deposit: udot(1000),
		})
		sim, _, err := c.app.Simulate(tx)
		require.NoError(t, err)
		res := c.block(tx)[0]
		require.Equalf(t, uint32(0), res.Code, "tx failed: %s", res.Log)
		alice.seq++
		require.Equal(t, anteDiff, int64(sim.GasUsed)-res.GasUsed, "order %d: simulated gas %d, block used %d", i, sim.GasUsed, res.GasUsed)
		t.Logf("order %d: simulated %d, used %d", i, sim.GasUsed, res.GasUsed)
	}
}
