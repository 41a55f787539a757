package chainclient

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"math"
	"strings"
	"time"

	abci "github.com/cometbft/cometbft/abci/types"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	sdk "github.com/cosmos/cosmos-sdk/types"
	sdkerrors "github.com/cosmos/cosmos-sdk/types/errors"
	txtypes "github.com/cosmos/cosmos-sdk/types/tx"
	"github.com/cosmos/cosmos-sdk/types/tx/signing"
	authsign "github.com/cosmos/cosmos-sdk/x/auth/signing"
	authtypes "github.com/cosmos/cosmos-sdk/x/auth/types"
)

// Sent is a transaction the node accepted into its mempool: it is
// included by TimeoutHeight or never.
type Sent struct {
	Hash          string
	TimeoutHeight int64

	// sentAt is the chain's height when the tx was made (0: unknown): it
	// can be in no block up to that one, so Wait asks for it only after.
	sentAt int64
	// gasKey is the gas reference the tx's gas was estimated from ("": it
	// was simulated, or unknown).
	gasKey string
	// sig is the tx's signature, base64 ("": unknown): Wait finds the tx
	// by it in the blocks' results.
	sig string
}

// TxResult is an included transaction.
type TxResult struct {
	Hash      string
	Height    int64
	Code      uint32
	Codespace string
	Log       string
	Events    []abci.Event
	// Responses are the messages' responses (Any-packed).
	Responses [][]byte
}

// TxError is an included transaction whose messages failed: its fee was
// paid and its sequence consumed, and nothing else happened.
type TxError struct {
	Result *TxResult
}

func (e *TxError) Error() string {
	return fmt.Sprintf("tx %s failed with code %d: %s", e.Result.Hash, e.Result.Code, e.Result.Log)
}

// ErrExpired is returned by Wait for a tx that was not included by its
// timeout height: it never will be, and may be sent again.
var ErrExpired = errors.New("chainclient: tx expired without being included")

// ErrRefused wraps a tx the node refused (simulation or CheckTx failed):
// nothing was sent, nothing will happen.
var ErrRefused = errors.New("chainclient: tx refused")

// SendAndWait signs, broadcasts and waits for msgs; a tx that is included
// but fails is a *TxError.
// A tx whose estimated gas (see gas.go) ran out is sent once more,
// simulated.
func (c *Client) SendAndWait(ctx context.Context, msgs ...sdk.Msg) (*TxResult, error) {
	for retried := false; ; retried = true {
		s, err := c.Send(ctx, nil, msgs...)
		if err != nil {
			return nil, err
		}
		res, err := c.Wait(ctx, s)
		var txErr *TxError
		if !retried && s.gasKey != "" && errors.As(err, &txErr) && isOutOfGas(txErr.Result.Codespace, txErr.Result.Code) {
			c.log.Info("estimated gas ran out; sending again with simulated gas", "tx", s.Hash)
			continue
		}
		return res, err
	}
}

// Send signs msgs with the client's key and broadcasts them (sync mode:
// it returns once the node's CheckTx accepted the tx). before, if not nil,
// is called with the tx's hash and timeout height before each broadcast
// attempt, so a caller can record it durably and, after a crash, Wait for
// it instead of sending again. An account-sequence mismatch re-reads the
// sequence and re-signs (up to 5 times); a transport error is retried
// with the same bytes.
func (c *Client) Send(ctx context.Context, before func(Sent) error, msgs ...sdk.Msg) (Sent, error) {
	if c.kr == nil {
		return Sent{}, errors.New("chainclient: no signing key configured")
	}
	c.txMu.Lock()
	defer c.txMu.Unlock()
	var lastErr error
	for attempt := 0; attempt < 6; attempt++ {
		if attempt > 0 {
			if err := sleep(ctx, time.Duration(attempt)*c.cfg.PollInterval); err != nil {
				return Sent{}, err
			}
		}
		if !c.seqKnown {
			if err := c.refreshSequence(ctx); err != nil {
				lastErr = err
				continue
			}
		}
		height, err := c.Height(ctx)
		if err != nil {
			lastErr = err
			continue
		}
		timeout := height + c.cfg.TimeoutBlocks
		gas, gasKey, err := c.gasFor(ctx, msgs, timeout)
		if err != nil {
			if isSequenceError(err) {
				c.seqKnown = false
				lastErr = err
				continue
			}
			if status.Code(err) == codes.Unavailable || errors.Is(err, errUnreachable) {
				lastErr = err
				continue
			}
			return Sent{}, fmt.Errorf("%w: simulate: %w", ErrRefused, err)
		}
		raw, hash, sig, err := c.sign(ctx, msgs, gas, timeout)
		if err != nil {
			return Sent{}, err
		}
		s := Sent{Hash: hash, TimeoutHeight: timeout, sentAt: height, gasKey: gasKey, sig: base64.StdEncoding.EncodeToString(sig)}
		if before != nil {
			if err := before(s); err != nil {
				return Sent{}, err
			}
		}
		res, err := c.broadcast(ctx, raw)
		if err != nil {
			// The node may or may not have the tx: retrying the same bytes
			// is safe (the chain includes a tx once).
			lastErr = err
			for retry := 0; retry < 3 && err != nil; retry++ {
				if err := sleep(ctx, c.cfg.PollInterval); err != nil {
					return Sent{}, err
				}
				res, err = c.broadcast(ctx, raw)
			}
			if err != nil {
				c.seqKnown = false
				return s, fmt.Errorf("chainclient: broadcast (the tx may still be included; wait for it): %w", err)
			}
		}
		r := res
		switch {
		case r.Code == 0 || (r.Codespace == sdkerrors.RootCodespace && r.Code == sdkerrors.ErrTxInMempoolCache.ABCICode()):
			c.seq++
			return s, nil
		case r.Codespace == sdkerrors.RootCodespace && r.Code == sdkerrors.ErrWrongSequence.ABCICode():
			c.seqKnown = false
			lastErr = fmt.Errorf("CheckTx: %s", r.RawLog)
			continue
		case gasKey != "" && isOutOfGas(r.Codespace, r.Code):
			// The estimate was short: nothing was sent; simulate.
			c.gas.forget(gasKey)
			lastErr = fmt.Errorf("CheckTx with estimated gas %d: %s", gas, r.RawLog)
			continue
		default:
			return Sent{}, fmt.Errorf("%w: CheckTx code %d (%s): %s", ErrRefused, r.Code, r.Codespace, r.RawLog)
		}
	}
	return Sent{}, fmt.Errorf("chainclient: send failed after retries: %w", lastErr)
}

// Wait waits until s is included (a failed tx is a *TxError) or its
// timeout height passed (ErrExpired).
//
// A tx this client sent is looked for in the results of each new block
// (by its signature), which the client reads once for Follow and Wait
// alike; the node is asked for the tx itself (GetTx: it loads the tx's
// block and answers with the whole tx) only every few blocks, for a tx
// included with no events (refused by the ante handler in the block),
// and for a tx known only by its hash (e.g. recorded before a restart).
func (c *Client) Wait(ctx context.Context, s Sent) (*TxResult, error) {
	scan := s.sig != "" && s.sentAt > 0
	next := s.sentAt + 1 // the next block to look in
	asked := s.sentAt    // the chain's height at the last GetTx
	for {
		h, herr := c.Height(ctx)
		if scan {
			for herr == nil && next <= h {
				b, err := c.recent.get(ctx, next, c.blockResults)
				if err != nil {
					break // results can lag the block a moment
				}
				if out := b.findTx(s); out != nil {
					return c.waited(s, out)
				}
				next++
			}
		}
		if herr != nil || h > asked && (!scan || h >= asked+waitGetTxBlocks) {
			if out, ok := c.getTx(ctx, s); ok {
				return c.waited(s, out)
			}
			if herr == nil {
				asked = h
			}
		}
		if herr == nil && h > s.TimeoutHeight {
			// One more look: the tx may have landed in the last block.
			if out, ok := c.getTx(ctx, s); ok {
				return c.waited(s, out)
			}
			c.txMu.Lock()
			c.seqKnown = false
			c.txMu.Unlock()
			return nil, fmt.Errorf("%w: %s (timeout height %d, chain at %d)", ErrExpired, s.Hash, s.TimeoutHeight, h)
		}
		if err := sleep(ctx, c.cfg.PollInterval); err != nil {
			return nil, err
		}
	}
}

// waitGetTxBlocks: while it looks for its tx in the blocks, Wait also
// asks the node for it every this many blocks.
const waitGetTxBlocks = 8

// waited returns the outcome of the included tx s.
func (c *Client) waited(s Sent, out *TxResult) (*TxResult, error) {
	if out.Code != 0 {
		if isOutOfGas(out.Codespace, out.Code) {
			c.gas.forget(s.gasKey)
		}
		return out, &TxError{Result: out}
	}
	return out, nil
}

// getTx asks the node for the included tx s, ok false if it has none.
func (c *Client) getTx(ctx context.Context, s Sent) (*TxResult, bool) {
	res, err := c.txService().GetTx(ctx, &txtypes.GetTxRequest{Hash: s.Hash})
	if err == nil && res.TxResponse != nil {
		r := res.TxResponse
		return &TxResult{Hash: r.TxHash, Height: r.Height, Code: r.Code, Codespace: r.Codespace, Log: r.RawLog, Events: r.Events}, true
	}
	if err != nil && status.Code(err) != codes.NotFound && !strings.Contains(err.Error(), "not found") {
		c.log.Debug("get tx", "hash", s.Hash, "err", err)
	}
	return nil, false
}

func (c *Client) refreshSequence(ctx context.Context) error {
	res, err := authtypes.NewQueryClient(c.conn).AccountInfo(ctx, &authtypes.QueryAccountInfoRequest{Address: c.Address()})
	if err != nil {
		return fmt.Errorf("chainclient: account %s: %w", c.Address(), err)
	}
	c.accNum, c.seq, c.seqKnown = res.Info.AccountNumber, res.Info.Sequence, true
	return nil
}

func isSequenceError(err error) bool {
	return err != nil && strings.Contains(err.Error(), "account sequence mismatch")
}

// gasFor returns the gas limit of a tx of msgs: estimated from an earlier
// simulation of the same shape (gasKey names it) or simulated (gasKey
// "").
func (c *Client) gasFor(ctx context.Context, msgs []sdk.Msg, timeout int64) (limit uint64, gasKey string, err error) {
	key, size, units, reusable := c.gas.shape(msgs)
	reusable = reusable && !c.cfg.AlwaysSimulate
	if reusable {
		if used, ok := c.gas.estimate(key, size, units, time.Now()); ok {
			return c.gasLimit(used), key, nil
		}
	}
	used, err := c.simulate(ctx, msgs, timeout)
	c.gas.simulated()
	if err != nil {
		return 0, "", err
	}
	if reusable {
		c.gas.learn(key, size, units, used, time.Now())
	}
	return c.gasLimit(used), "", nil
}

// gasLimit is the limit set on a tx that uses gas used in simulation.
func (c *Client) gasLimit(used uint64) uint64 {
	return uint64(float64(used)*c.cfg.GasAdjustment) + 20_000
}

// simulate returns the gas a tx of msgs uses.
func (c *Client) simulate(ctx context.Context, msgs []sdk.Msg, timeout int64) (uint64, error) {
	b := c.txCfg.NewTxBuilder()
	if err := b.SetMsgs(msgs...); err != nil {
		return 0, err
	}
	b.SetTimeoutHeight(uint64(timeout))
	if err := b.SetSignatures(signing.SignatureV2{PubKey: c.pub, Data: &signing.SingleSignatureData{SignMode: signing.SignMode_SIGN_MODE_DIRECT}, Sequence: c.seq}); err != nil {
		return 0, err
	}
	raw, err := c.txCfg.TxEncoder()(b.GetTx())
	if err != nil {
		return 0, err
	}
	res, err := c.simulateRaw(ctx, raw)
	if err != nil {
		return 0, err
	}
	return res.GasInfo.GasUsed, nil
}

// Txs go to the node over CometBFT's RPC (as form posts, rpcform.go), not
// the SDK's gRPC service: the SDK's gRPC interceptor formats every request
// with %#v before its debug log (whatever the log level), which for a tx
// of proofs (tens of KB of bytes formatted one by one) cost the node more
// CPU than running the tx.

// errUnreachable marks a failure to reach the node (worth a retry).
var errUnreachable = errors.New("chainclient: node unreachable")

// broadcastResult is what CheckTx said of a broadcast tx.
type broadcastResult struct {
	Code      uint32
	Codespace string
	RawLog    string
}

// broadcast hands raw to the node's mempool (CheckTx) and returns its
// verdict.
func (c *Client) broadcast(ctx context.Context, raw []byte) (broadcastResult, error) {
	res, err := c.broadcastSync(ctx, raw)
	if err != nil && strings.Contains(err.Error(), "tx already exists in cache") {
		// A retried broadcast of a tx the node already has (the gRPC
		// service reports it as ErrTxInMempoolCache).
		return broadcastResult{Code: sdkerrors.ErrTxInMempoolCache.ABCICode(), Codespace: sdkerrors.RootCodespace}, nil
	}
	if err != nil {
		return broadcastResult{}, fmt.Errorf("%w: broadcast_tx_sync: %w", errUnreachable, err)
	}
	return broadcastResult{Code: res.Code, Codespace: res.Codespace, RawLog: res.Log}, nil
}

// simulateRaw runs raw without committing it (the node's ABCI query route
// of cosmos.tx.v1beta1.Service/Simulate).
func (c *Client) simulateRaw(ctx context.Context, raw []byte) (*txtypes.SimulateResponse, error) {
	req, err := (&txtypes.SimulateRequest{TxBytes: raw}).Marshal()
	if err != nil {
		return nil, err
	}
	q, err := c.abciQuery(ctx, "/cosmos.tx.v1beta1.Service/Simulate", req)
	if err != nil {
		return nil, fmt.Errorf("%w: simulate: %w", errUnreachable, err)
	}
	if q.Response.Code != 0 {
		return nil, fmt.Errorf("simulate: code %d (%s): %s", q.Response.Code, q.Response.Codespace, q.Response.Log)
	}
	var res txtypes.SimulateResponse
	if err := res.Unmarshal(q.Response.Value); err != nil {
		return nil, fmt.Errorf("simulate: %w", err)
	}
	if res.GasInfo == nil {
		return nil, errors.New("simulate: no gas info in the answer")
	}
	return &res, nil
}

func (c *Client) sign(ctx context.Context, msgs []sdk.Msg, gas uint64, timeout int64) (raw []byte, hash string, sig []byte, err error) {
	b := c.txCfg.NewTxBuilder()
	if err := b.SetMsgs(msgs...); err != nil {
		return nil, "", nil, err
	}
	b.SetGasLimit(gas)
	b.SetFeeAmount(sdk.NewCoins(sdk.NewInt64Coin(c.cfg.Denom, int64(math.Ceil(float64(gas)*c.cfg.GasPrice)))))
	b.SetTimeoutHeight(uint64(timeout))
	pub := c.pub
	sv := signing.SignatureV2{PubKey: pub, Data: &signing.SingleSignatureData{SignMode: signing.SignMode_SIGN_MODE_DIRECT}, Sequence: c.seq}
	if err := b.SetSignatures(sv); err != nil {
		return nil, "", nil, err
	}
	signBytes, err := authsign.GetSignBytesAdapter(ctx, c.txCfg.SignModeHandler(), signing.SignMode_SIGN_MODE_DIRECT, authsign.SignerData{
		Address: c.Address(), ChainID: c.chainID, AccountNumber: c.accNum, Sequence: c.seq, PubKey: pub,
	}, b.GetTx())
	if err != nil {
		return nil, "", nil, fmt.Errorf("chainclient: sign bytes: %w", err)
	}
	var sigBytes []byte
	if c.priv != nil {
		sigBytes, err = c.priv.Sign(signBytes)
	} else {
		sigBytes, _, err = c.kr.Sign(c.cfg.KeyName, signBytes, signing.SignMode_SIGN_MODE_DIRECT)
	}
	if err != nil {
		return nil, "", nil, fmt.Errorf("chainclient: sign: %w", err)
	}
	sv.Data = &signing.SingleSignatureData{SignMode: signing.SignMode_SIGN_MODE_DIRECT, Signature: sigBytes}
	if err := b.SetSignatures(sv); err != nil {
		return nil, "", nil, err
	}
	raw, err = c.txCfg.TxEncoder()(b.GetTx())
	if err != nil {
		return nil, "", nil, err
	}
	return raw, txHash(raw), sigBytes, nil
}

func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}
