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
// and Wait finds them in their block's results, with the outcome the
// node's tx index gives; a retried broadcast of the same bytes counts as
// accepted; txs of a shape whose gas may be estimated are simulated once,
// then estimated; an estimate short in CheckTx falls back to simulation
// at once; one that runs out in the block makes the tx fail, drops the
// reference, and SendAndWait sends again, simulated; a tx above the form
// limit goes as JSON-RPC.
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
	// Wait finds a tx in its block's results by its signature.
	sent, err := alice.Send(ctx, nil, &banktypes.MsgSend{FromAddress: alice.Address(), ToAddress: bob.Address(), Amount: sdk.NewCoins(sdk.NewInt64Coin("udot", 1))})
	require.NoError(t, err)
	require.NotEmpty(t, sent.sig)
	res, err := alice.Wait(ctx, sent)
	require.NoError(t, err)
	b, err := alice.recent.get(ctx, res.Height, alice.blockResults)
	require.NoError(t, err)
	found := b.findTx(sent)
	require.NotNil(t, found)
	require.Equal(t, res.Events, found.Events)

	// Bank sends may be estimated for this client (units: one per msg).
	alice.gas.units[sendKey] = func(sdk.Msg) uint64 { return 1 }

	before, sims0 := balance(), alice.simulations()
	res, err = alice.SendAndWait(ctx, send)
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
	require.Equal(t, sims0+1, alice.simulations())
	ref := alice.gasRef(sendKey)
	require.NotNil(t, ref)
	require.Positive(t, ref.gas)

	// The same shape again: estimated, not simulated.
	_, err = alice.SendAndWait(ctx, send)
	require.NoError(t, err)
	require.Equal(t, sims0+1, alice.simulations())
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

	// Proof answers: estimated by default. (The challenge does not exist,
	// so a simulation refuses them and an included tx fails.)
	proofs := func(n int) *attesttypes.MsgSubmitProofs {
		return &attesttypes.MsgSubmitProofs{Hoster: alice.Address(), Answers: []attesttypes.ChallengeAnswer{{ChallengeId: 424242, Proofs: [][]byte{make([]byte, n)}}}}
	}
	alice.cfg.GasAdjustment = 1 // the limit is the estimate + 20000
	var txErr *TxError

	// An estimate short already in CheckTx (the tx size alone costs
	// more) falls back to simulation at once.
	small := proofs(100 << 10)
	key, size, units, ok := alice.gas.shape([]sdk.Msg{small})
	require.True(t, ok)
	alice.gas.learn(key, size, units, 1, time.Now())
	sims := alice.simulations()
	_, err = alice.Send(ctx, nil, small)
	require.ErrorIs(t, err, ErrRefused)
	require.ErrorContains(t, err, "simulate")
	require.ErrorContains(t, err, "424242")
	require.Equal(t, sims+1, alice.simulations())
	require.Nil(t, alice.gasRef(key))

	// An estimate that passes CheckTx but runs out in the block: the
	// ante handler charges 10 gas per tx byte plus some 45,000; the
	// message then 2 per proof byte first. A limit of 10 per byte +
	// 270,000 leaves 200,000 to spare for the first and is 130,000 short
	// of the second with 200 KB of proofs.
	mid := proofs(200 << 10)
	key, size, units, ok = alice.gas.shape([]sdk.Msg{mid})
	require.True(t, ok)
	limit := 10*size + 270_000
	alice.gas.learn(key, size, units, limit-20_000, time.Now())
	sims = alice.simulations()
	s, err := alice.Send(ctx, nil, mid)
	require.NoError(t, err)
	require.Equal(t, key, s.gasKey)
	require.Equal(t, sims, alice.simulations())
	_, err = alice.Wait(ctx, s)
	require.ErrorAs(t, err, &txErr)
	require.True(t, isOutOfGas(txErr.Result.Codespace, txErr.Result.Code), "%+v", txErr.Result)
	got, ok = alice.getTx(ctx, s)
	require.True(t, ok)
	require.Equal(t, got.Height, txErr.Result.Height)
	require.Equal(t, got.Code, txErr.Result.Code)
	require.Equal(t, got.Codespace, txErr.Result.Codespace)
	require.Equal(t, got.Log, txErr.Result.Log)
	require.Nil(t, alice.gasRef(key), "the reference is dropped")
	// SendAndWait sends once more, simulated (which here refuses it).
	alice.gas.learn(key, size, units, limit-20_000, time.Now())
	_, err = alice.SendAndWait(ctx, mid)
	require.ErrorIs(t, err, ErrRefused)
	require.ErrorContains(t, err, "424242")
	require.Equal(t, sims+1, alice.simulations())

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
