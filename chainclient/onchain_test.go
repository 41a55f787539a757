package chainclient

import (
	"context"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"testing"
	"time"

	sdk "github.com/cosmos/cosmos-sdk/types"
	sdkerrors "github.com/cosmos/cosmos-sdk/types/errors"
	banktypes "github.com/cosmos/cosmos-sdk/x/bank/types"
	"github.com/stretchr/testify/require"

	attesttypes "github.com/datdot/datdot/x/attest/types"
)

// testChain is a real one-validator chain started by scripts/localnet.sh
// (no storage challenges).
type testChain struct{ home, grpc, rpc string }

func freePort(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer l.Close()
	return strconv.Itoa(l.Addr().(*net.TCPAddr).Port)
}

// startChain starts the chain (building datdotchaind when build/ has
// none) and stops it when the test ends.
func startChain(t *testing.T) *testChain {
	t.Helper()
	_, file, _, _ := runtime.Caller(0)
	root := filepath.Join(filepath.Dir(file), "..")
	bin := filepath.Join(root, "build", "datdotchaind")
	if _, err := os.Stat(bin); err != nil {
		bin = filepath.Join(t.TempDir(), "datdotchaind")
		cmd := exec.Command("go", "build", "-o", bin, "./cmd/datdotchaind")
		cmd.Dir = root
		out, err := cmd.CombinedOutput()
		require.NoError(t, err, "build datdotchaind: %s", out)
	}
	c := &testChain{home: t.TempDir()}
	rpcPort, grpcPort := freePort(t), freePort(t)
	c.grpc, c.rpc = "127.0.0.1:"+grpcPort, "http://127.0.0.1:"+rpcPort
	cmd := exec.Command("bash", filepath.Join(root, "scripts", "localnet.sh"), "--background")
	cmd.Env = append(os.Environ(), "LOCALNET_HOME="+c.home, "LOCALNET_BIN="+bin,
		"LOCALNET_RPC_PORT="+rpcPort, "LOCALNET_GRPC_PORT="+grpcPort,
		"LOCALNET_P2P_PORT="+freePort(t), "LOCALNET_API_PORT="+freePort(t),
		"LOCALNET_CHALLENGES_PER_BLOCK=0")
	out, err := cmd.CombinedOutput()
	require.NoError(t, err, "localnet: %s", out)
	t.Cleanup(func() {
		stop := exec.Command("bash", filepath.Join(root, "scripts", "localnet.sh"), "--stop")
		stop.Env = append(os.Environ(), "LOCALNET_HOME="+c.home)
		_ = stop.Run()
	})
	return c
}

func (c *testChain) client(t *testing.T, key string) *Client {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cl, err := New(ctx, Config{GRPC: c.grpc, RPC: c.rpc, KeyringDir: c.home, KeyringBackend: "test", KeyName: key})
	require.NoError(t, err)
	t.Cleanup(func() { cl.Close() })
	return cl
}

func (c *Client) simulations() int {
	c.gas.mu.Lock()
	defer c.gas.mu.Unlock()
	return c.gas.simulations
}

func (c *Client) gasRef(key string) *gasRef {
	c.gas.mu.Lock()
	defer c.gas.mu.Unlock()
	if r := c.gas.refs[key]; r != nil {
		cp := *r
		return &cp
	}
	return nil
}

// TestTxPathOnChain: on a real chain, txs go to the node as form posts
// and come back included; a retried broadcast of the same bytes counts as
// accepted; a simulation's failure is the tx's refusal, for a small tx
// (form post) as for one above the form limit (JSON-RPC); txs of a shape
// whose gas may be estimated are simulated once, then estimated; an
// estimate that is short in CheckTx falls back to simulation at once,
// and one that runs out in the block makes the tx fail, drops the
// reference, and SendAndWait sends it again, simulated, so that the
// transfer happens exactly once.
func TestTxPathOnChain(t *testing.T) {
	c := startChain(t)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	alice, bob := c.client(t, "alice"), c.client(t, "bob")
	bank := banktypes.NewQueryClient(alice.Conn())
	balance := func() int64 {
		r, err := bank.Balance(ctx, &banktypes.QueryBalanceRequest{Address: bob.Address(), Denom: "udot"})
		require.NoError(t, err)
		return r.Balance.Amount.Int64()
	}
	send := &banktypes.MsgSend{FromAddress: alice.Address(), ToAddress: bob.Address(), Amount: sdk.NewCoins(sdk.NewInt64Coin("udot", 7))}
	sendKey := sdk.MsgTypeURL(send)
	// Bank sends may be estimated for this client (units: one per msg).
	alice.gas.units[sendKey] = func(sdk.Msg) uint64 { return 1 }

	before := balance()
	res, err := alice.SendAndWait(ctx, send)
	require.NoError(t, err)
	require.Equal(t, uint32(0), res.Code)
	require.Positive(t, res.Height)
	// What Wait read from the block's results is what the node's tx
	// index says of the tx.
	got, ok := alice.getTx(ctx, Sent{Hash: res.Hash})
	require.True(t, ok)
	require.Equal(t, got.Height, res.Height)
	require.Equal(t, got.Log, res.Log)
	require.Equal(t, got.Events, res.Events)
	require.Equal(t, 1, alice.simulations())
	ref := alice.gasRef(sendKey)
	require.NotNil(t, ref)
	require.Positive(t, ref.gas)

	// The same shape again: estimated, not simulated.
	_, err = alice.SendAndWait(ctx, send)
	require.NoError(t, err)
	require.Equal(t, 1, alice.simulations())
	require.Equal(t, before+14, balance())

	// A retried broadcast of the same bytes is accepted (the node has it).
	alice.txMu.Lock()
	h, err := alice.Height(ctx)
	require.NoError(t, err)
	raw, hash, _, err := alice.sign(ctx, []sdk.Msg{send}, 200_000, h+alice.cfg.TimeoutBlocks)
	require.NoError(t, err)
	for range 2 {
		r, err := alice.broadcast(ctx, raw)
		require.NoError(t, err)
		require.True(t, r.Code == 0 || (r.Codespace == sdkerrors.RootCodespace && r.Code == sdkerrors.ErrTxInMempoolCache.ABCICode()), "%+v", r)
	}
	alice.seq++
	alice.txMu.Unlock()
	_, err = alice.Wait(ctx, Sent{Hash: hash, TimeoutHeight: h + alice.cfg.TimeoutBlocks})
	require.NoError(t, err)
	require.Equal(t, before+21, balance())

	// An estimate that runs out in the block: the first tx fails (fee
	// paid, nothing transferred), the reference goes, the second tx is
	// simulated and transfers once.
	alice.cfg.GasAdjustment = 1 // the limit is the estimate + 20000
	alice.gas.learn(sendKey, ref.size, ref.units, ref.gas-23_000, time.Now())
	sims := alice.simulations()
	s, err := alice.Send(ctx, nil, send)
	require.NoError(t, err)
	require.Equal(t, sendKey, s.gasKey)
	_, err = alice.Wait(ctx, s)
	var txErr *TxError
	require.ErrorAs(t, err, &txErr)
	require.True(t, isOutOfGas(txErr.Result.Codespace, txErr.Result.Code), "%+v", txErr.Result)
	got, ok = alice.getTx(ctx, s)
	require.True(t, ok)
	require.Equal(t, got.Height, txErr.Result.Height)
	require.Equal(t, got.Code, txErr.Result.Code)
	require.Equal(t, got.Codespace, txErr.Result.Codespace)
	require.Equal(t, got.Log, txErr.Result.Log)
	require.Nil(t, alice.gasRef(sendKey), "the reference is dropped")
	require.Equal(t, before+21, balance())
	alice.gas.learn(sendKey, ref.size, ref.units, ref.gas-23_000, time.Now())
	res, err = alice.SendAndWait(ctx, send)
	require.NoError(t, err)
	require.Equal(t, uint32(0), res.Code)
	require.Equal(t, sims+1, alice.simulations())
	require.Equal(t, before+28, balance())
	require.NotNil(t, alice.gasRef(sendKey), "a fresh reference")

	// Proof answers: estimated by default. An estimate short already in
	// CheckTx (the tx size alone costs more) falls back to simulation at
	// once; here the simulation refuses the tx (no such challenge).
	proofs := func(n int) *attesttypes.MsgSubmitProofs {
		return &attesttypes.MsgSubmitProofs{Hoster: alice.Address(), Answers: []attesttypes.ChallengeAnswer{{ChallengeId: 424242, Proofs: [][]byte{make([]byte, n)}}}}
	}
	small := proofs(100 << 10)
	key, size, units, ok := alice.gas.shape([]sdk.Msg{small})
	require.True(t, ok)
	alice.gas.learn(key, size, units, 1, time.Now())
	sims = alice.simulations()
	_, err = alice.Send(ctx, nil, small)
	require.ErrorIs(t, err, ErrRefused)
	require.ErrorContains(t, err, "simulate")
	require.ErrorContains(t, err, "424242")
	require.Equal(t, sims+1, alice.simulations())
	require.Nil(t, alice.gasRef(key))

	// A tx above the form limit is broadcast as JSON-RPC: accepted, and
	// included (failed: no such challenge).
	big := proofs(maxFormTx + (64 << 10))
	key, size, units, ok = alice.gas.shape([]sdk.Msg{big})
	require.True(t, ok)
	alice.gas.learn(key, size, units, 10_000_000, time.Now())
	s, err = alice.Send(ctx, nil, big)
	require.NoError(t, err)
	_, err = alice.Wait(ctx, s)
	require.ErrorAs(t, err, &txErr)
	require.False(t, isOutOfGas(txErr.Result.Codespace, txErr.Result.Code), "%+v", txErr.Result)
	require.Contains(t, txErr.Result.Log, "424242")
}
