package chainclient

import (
	"context"
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
}

// TxResult is an included transaction.
type TxResult struct {
	Hash   string
	Height int64
	Code   uint32
	Log    string
	Events []abci.Event
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
func (c *Client) SendAndWait(ctx context.Context, msgs ...sdk.Msg) (*TxResult, error) {
	s, err := c.Send(ctx, nil, msgs...)
	if err != nil {
		return nil, err
	}
	return c.Wait(ctx, s)
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
		gas, err := c.simulate(ctx, msgs, timeout)
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
		raw, hash, err := c.sign(ctx, msgs, gas, timeout)
		if err != nil {
			return Sent{}, err
		}
		s := Sent{Hash: hash, TimeoutHeight: timeout}
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
		default:
			return Sent{}, fmt.Errorf("%w: CheckTx code %d (%s): %s", ErrRefused, r.Code, r.Codespace, r.RawLog)
		}
	}
	return Sent{}, fmt.Errorf("chainclient: send failed after retries: %w", lastErr)
}

// Wait waits until s is included (a failed tx is a *TxError) or its
// timeout height passed (ErrExpired).
func (c *Client) Wait(ctx context.Context, s Sent) (*TxResult, error) {
	for {
		res, err := c.txService().GetTx(ctx, &txtypes.GetTxRequest{Hash: s.Hash})
		if err == nil && res.TxResponse != nil {
			r := res.TxResponse
			out := &TxResult{Hash: r.TxHash, Height: r.Height, Code: r.Code, Log: r.RawLog, Events: r.Events}
			if r.Code != 0 {
				return out, &TxError{Result: out}
			}
			return out, nil
		}
		if err != nil && status.Code(err) != codes.NotFound && !strings.Contains(err.Error(), "not found") {
			c.log.Debug("get tx", "hash", s.Hash, "err", err)
		}
		if h, herr := c.Height(ctx); herr == nil && h > s.TimeoutHeight {
			// One more look: the tx may have landed in the last block.
			if res, err := c.txService().GetTx(ctx, &txtypes.GetTxRequest{Hash: s.Hash}); err == nil && res.TxResponse != nil {
				continue
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
	return uint64(float64(res.GasInfo.GasUsed)*c.cfg.GasAdjustment) + 20_000, nil
}

// Txs go to the node over CometBFT's RPC, not the SDK's gRPC service: the
// SDK's gRPC interceptor formats every request with %#v before its debug
// log (whatever the log level), which for a tx of proofs (tens of KB of
// bytes formatted one by one) cost the node more CPU than running the tx.

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
	res, err := c.rpc.BroadcastTxSync(ctx, raw)
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
	q, err := c.rpc.ABCIQuery(ctx, "/cosmos.tx.v1beta1.Service/Simulate", req)
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

func (c *Client) sign(ctx context.Context, msgs []sdk.Msg, gas uint64, timeout int64) ([]byte, string, error) {
	b := c.txCfg.NewTxBuilder()
	if err := b.SetMsgs(msgs...); err != nil {
		return nil, "", err
	}
	b.SetGasLimit(gas)
	b.SetFeeAmount(sdk.NewCoins(sdk.NewInt64Coin(c.cfg.Denom, int64(math.Ceil(float64(gas)*c.cfg.GasPrice)))))
	b.SetTimeoutHeight(uint64(timeout))
	pub := c.pub
	sig := signing.SignatureV2{PubKey: pub, Data: &signing.SingleSignatureData{SignMode: signing.SignMode_SIGN_MODE_DIRECT}, Sequence: c.seq}
	if err := b.SetSignatures(sig); err != nil {
		return nil, "", err
	}
	signBytes, err := authsign.GetSignBytesAdapter(ctx, c.txCfg.SignModeHandler(), signing.SignMode_SIGN_MODE_DIRECT, authsign.SignerData{
		Address: c.Address(), ChainID: c.chainID, AccountNumber: c.accNum, Sequence: c.seq, PubKey: pub,
	}, b.GetTx())
	if err != nil {
		return nil, "", fmt.Errorf("chainclient: sign bytes: %w", err)
	}
	var sigBytes []byte
	if c.priv != nil {
		sigBytes, err = c.priv.Sign(signBytes)
	} else {
		sigBytes, _, err = c.kr.Sign(c.cfg.KeyName, signBytes, signing.SignMode_SIGN_MODE_DIRECT)
	}
	if err != nil {
		return nil, "", fmt.Errorf("chainclient: sign: %w", err)
	}
	sig.Data = &signing.SingleSignatureData{SignMode: signing.SignMode_SIGN_MODE_DIRECT, Signature: sigBytes}
	if err := b.SetSignatures(sig); err != nil {
		return nil, "", err
	}
	raw, err := c.txCfg.TxEncoder()(b.GetTx())
	if err != nil {
		return nil, "", err
	}
	return raw, txHash(raw), nil
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
