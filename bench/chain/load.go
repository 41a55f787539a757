package main

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"strings"
	"sync"
	"time"

	dbm "github.com/cosmos/cosmos-db"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	"cosmossdk.io/log/v2"
	sdkmath "cosmossdk.io/math"

	"github.com/cosmos/cosmos-sdk/client"
	"github.com/cosmos/cosmos-sdk/client/grpc/cmtservice"
	"github.com/cosmos/cosmos-sdk/codec"
	sdkcrypto "github.com/cosmos/cosmos-sdk/crypto"
	"github.com/cosmos/cosmos-sdk/crypto/keyring"
	"github.com/cosmos/cosmos-sdk/crypto/keys/secp256k1"
	cryptotypes "github.com/cosmos/cosmos-sdk/crypto/types"
	sdk "github.com/cosmos/cosmos-sdk/types"
	txtypes "github.com/cosmos/cosmos-sdk/types/tx"
	"github.com/cosmos/cosmos-sdk/types/tx/signing"
	authsign "github.com/cosmos/cosmos-sdk/x/auth/signing"
	authtypes "github.com/cosmos/cosmos-sdk/x/auth/types"
	banktypes "github.com/cosmos/cosmos-sdk/x/bank/types"

	"github.com/datdot/datdot/app"
)

// signer is an account the generator signs for.
type signer struct {
	priv   cryptotypes.PrivKey
	addr   sdk.AccAddress
	number uint64
	seq    uint64
}

// msgBuilder makes the i-th message of a load account, with the gas it needs.
type msgBuilder func(from *signer, i int) (sdk.Msg, uint64, error)

// result is what one run measured.
type result struct {
	kind              string
	accounts, perAcc  int
	committed, failed int
	blocks            int64
	elapsed           time.Duration
	firstFailure      string
}

func (r result) String() string {
	tps := float64(r.committed) / r.elapsed.Seconds()
	s := fmt.Sprintf("%s: %d txs (%d accounts x %d) committed in %s over %d blocks: %.0f tx/s committed end to end; %d failed",
		r.kind, r.committed, r.accounts, r.perAcc, r.elapsed.Round(time.Millisecond), r.blocks, tps, r.failed)
	if r.firstFailure != "" {
		s += "; first failure: " + r.firstFailure
	}
	return s
}

// bench holds the connections and codecs of a run.
type bench struct {
	log     *slog.Logger
	txCfg   client.TxConfig
	chainID string
	txs     txtypes.ServiceClient
	auth    authtypes.QueryClient
	cmt     cmtservice.ServiceClient
	conn    *grpc.ClientConn
	price   float64
}

func run(ctx context.Context, logger *slog.Logger, cfg config) (result, error) {
	if cfg.accounts < 1 || cfg.txsPerAcc < 1 {
		return result{}, errors.New("-accounts and -txs must be at least 1")
	}
	b, enc, closeConn, err := connect(ctx, logger, cfg)
	if err != nil {
		return result{}, err
	}
	defer closeConn()

	work, err := workloadFor(cfg.msgKind)
	if err != nil {
		return result{}, err
	}

	funder, err := loadKey(cfg.home, cfg.funder, enc)
	if err != nil {
		return result{}, err
	}
	if work.setup != nil {
		if err := work.setup(ctx, b, funder); err != nil {
			return result{}, err
		}
	}
	if err := b.refresh(ctx, funder); err != nil {
		return result{}, err
	}

	// Fresh load accounts, funded in one multi-send.
	load := make([]*signer, cfg.accounts)
	outputs := make([]banktypes.Output, cfg.accounts)
	perAccount := sdk.NewCoins(sdk.NewCoin(app.BondDenom, work.spend.MulRaw(int64(cfg.txsPerAcc)).AddRaw(10_000_000)))
	for i := range load {
		priv := secp256k1.GenPrivKey()
		load[i] = &signer{priv: priv, addr: sdk.AccAddress(priv.PubKey().Address())}
		outputs[i] = banktypes.NewOutput(load[i].addr, perAccount)
	}
	total := sdk.NewCoins()
	for range load {
		total = total.Add(perAccount...)
	}
	if err := b.deliver(ctx, funder, banktypes.NewMsgMultiSend(banktypes.NewInput(funder.addr, total), outputs), 100_000+uint64(cfg.accounts)*30_000); err != nil {
		return result{}, fmt.Errorf("fund load accounts: %w", err)
	}
	for _, s := range load {
		if err := b.refresh(ctx, s); err != nil {
			return result{}, err
		}
	}
	logger.Info("funded load accounts", "accounts", len(load), "each", perAccount.String())

	// Pre-sign everything so that the measurement is the chain, not signing.
	signed := make([][][]byte, len(load))
	for i, s := range load {
		signed[i] = make([][]byte, cfg.txsPerAcc)
		for j := range signed[i] {
			msg, gas, err := work.build(s, j)
			if err != nil {
				return result{}, err
			}
			if signed[i][j], err = b.sign(s, msg, gas); err != nil {
				return result{}, err
			}
			s.seq++
		}
	}
	logger.Info("pre-signed", "txs", cfg.accounts*cfg.txsPerAcc, "kind", cfg.msgKind)

	startHeight, err := b.height(ctx)
	if err != nil {
		return result{}, err
	}
	start := time.Now()
	hashes := make([][]string, len(load))
	errs := make([]error, len(load))
	var wg sync.WaitGroup
	for i := range load {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for _, tx := range signed[i] {
				h, err := b.broadcast(ctx, tx)
				if err != nil {
					errs[i] = err
					return
				}
				hashes[i] = append(hashes[i], h)
			}
		}()
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return result{}, fmt.Errorf("broadcast: %w", err)
	}
	// Committed when every account's on-chain sequence has caught up.
	for _, s := range load {
		want := s.seq
		for {
			if err := b.refresh(ctx, s); err != nil {
				return result{}, err
			}
			if s.seq >= want {
				break
			}
			select {
			case <-ctx.Done():
				return result{}, fmt.Errorf("waiting for commits: %w", ctx.Err())
			case <-time.After(20 * time.Millisecond):
			}
		}
	}
	elapsed := time.Since(start)
	endHeight, err := b.height(ctx)
	if err != nil {
		return result{}, err
	}

	res := result{kind: cfg.msgKind, accounts: cfg.accounts, perAcc: cfg.txsPerAcc, elapsed: elapsed, blocks: endHeight - startHeight}
	for _, hs := range hashes {
		for _, h := range hs {
			code, rawLog, err := b.waitTx(ctx, h)
			if err != nil {
				return result{}, err
			}
			res.committed++
			if code != 0 {
				res.failed++
				if res.firstFailure == "" {
					res.firstFailure = fmt.Sprintf("code %d: %s", code, rawLog)
				}
			}
		}
	}
	return res, nil
}

// loadKey reads a private key from the node home's test keyring.
// connect dials the node and returns the bench, the app's encoding config
// and a function that closes the connection.
func connect(ctx context.Context, logger *slog.Logger, cfg config) (*bench, app.EncodingConfig, func(), error) {
	// The app itself supplies the codecs, so every module's messages encode.
	a, err := app.New(log.NewNopLogger(), dbm.NewMemDB(), false, mapOptions{})
	if err != nil {
		return nil, app.EncodingConfig{}, nil, err
	}
	enc := a.EncodingConfig()

	conn, err := grpc.NewClient(cfg.grpcAddr, grpc.WithTransportCredentials(insecure.NewCredentials()),
		// gogoproto messages (sdkmath.Int fields) need the SDK's codec.
		grpc.WithDefaultCallOptions(grpc.ForceCodec(codec.NewProtoCodec(enc.InterfaceRegistry).GRPCCodec())))
	if err != nil {
		return nil, app.EncodingConfig{}, nil, fmt.Errorf("dial %s: %w", cfg.grpcAddr, err)
	}

	b := &bench{
		log:   logger,
		txCfg: enc.TxConfig,
		txs:   txtypes.NewServiceClient(conn),
		auth:  authtypes.NewQueryClient(conn),
		cmt:   cmtservice.NewServiceClient(conn),
		conn:  conn,
		price: cfg.gasPrice,
	}
	info, err := b.cmt.GetNodeInfo(ctx, &cmtservice.GetNodeInfoRequest{})
	if err != nil {
		conn.Close()
		return nil, app.EncodingConfig{}, nil, fmt.Errorf("node info: %w", err)
	}
	b.chainID = info.DefaultNodeInfo.Network

	return b, enc, func() { conn.Close() }, nil
}

func loadKey(home, name string, enc app.EncodingConfig) (*signer, error) {
	kr, err := keyring.New("datdotchaind", keyring.BackendTest, home, nil, enc.Codec)
	if err != nil {
		return nil, fmt.Errorf("open keyring in %s: %w", home, err)
	}
	const pass = "chainbench"
	armor, err := kr.ExportPrivKeyArmor(name, pass)
	if err != nil {
		return nil, fmt.Errorf("export key %q: %w", name, err)
	}
	priv, _, err := sdkcrypto.UnarmorDecryptPrivKey(armor, pass)
	if err != nil {
		return nil, fmt.Errorf("decrypt key %q: %w", name, err)
	}
	return &signer{priv: priv, addr: sdk.AccAddress(priv.PubKey().Address())}, nil
}

// refresh reads an account's number and sequence from the chain.
func (b *bench) refresh(ctx context.Context, s *signer) error {
	res, err := b.auth.AccountInfo(ctx, &authtypes.QueryAccountInfoRequest{Address: s.addr.String()})
	if err != nil {
		return fmt.Errorf("account %s: %w", s.addr, err)
	}
	s.number, s.seq = res.Info.AccountNumber, res.Info.Sequence
	return nil
}

func (b *bench) height(ctx context.Context) (int64, error) {
	// The answer carries the whole block (tens of MB of proofs).
	res, err := b.cmt.GetLatestBlock(ctx, &cmtservice.GetLatestBlockRequest{}, grpc.MaxCallRecvMsgSize(256<<20))
	if err != nil {
		return 0, fmt.Errorf("latest block: %w", err)
	}
	return res.SdkBlock.Header.Height, nil
}

// sign builds one SIGN_MODE_DIRECT transaction at the signer's current
// sequence, paying gas*price.
func (b *bench) sign(s *signer, msg sdk.Msg, gas uint64) ([]byte, error) {
	tb := b.txCfg.NewTxBuilder()
	if err := tb.SetMsgs(msg); err != nil {
		return nil, err
	}
	tb.SetGasLimit(gas)
	tb.SetFeeAmount(sdk.NewCoins(sdk.NewCoin(app.BondDenom, sdkmath.NewInt(int64(math.Ceil(float64(gas)*b.price))))))
	sig := signing.SignatureV2{
		PubKey:   s.priv.PubKey(),
		Data:     &signing.SingleSignatureData{SignMode: signing.SignMode_SIGN_MODE_DIRECT},
		Sequence: s.seq,
	}
	if err := tb.SetSignatures(sig); err != nil {
		return nil, err
	}
	bytesToSign, err := authsign.GetSignBytesAdapter(context.Background(), b.txCfg.SignModeHandler(), signing.SignMode_SIGN_MODE_DIRECT,
		authsign.SignerData{Address: s.addr.String(), ChainID: b.chainID, AccountNumber: s.number, Sequence: s.seq, PubKey: s.priv.PubKey()},
		tb.GetTx())
	if err != nil {
		return nil, err
	}
	sigBytes, err := s.priv.Sign(bytesToSign)
	if err != nil {
		return nil, err
	}
	sig.Data = &signing.SingleSignatureData{SignMode: signing.SignMode_SIGN_MODE_DIRECT, Signature: sigBytes}
	if err := tb.SetSignatures(sig); err != nil {
		return nil, err
	}
	return b.txCfg.TxEncoder()(tb.GetTx())
}

// deliver signs msg at the signer's current sequence, broadcasts it and
// waits until it is committed successfully; the sequence moves on.
func (b *bench) deliver(ctx context.Context, s *signer, msg sdk.Msg, gas uint64) error {
	tx, err := b.sign(s, msg, gas)
	if err != nil {
		return err
	}
	hash, err := b.broadcast(ctx, tx)
	if err != nil {
		return err
	}
	s.seq++
	code, rawLog, err := b.waitTx(ctx, hash)
	if err != nil {
		return err
	}
	if code != 0 {
		return fmt.Errorf("tx %s failed: code %d: %s", hash, code, rawLog)
	}
	return nil
}

// broadcast submits a tx and returns its hash once CheckTx accepted it.
func (b *bench) broadcast(ctx context.Context, tx []byte) (string, error) {
	for {
		res, err := b.txs.BroadcastTx(ctx, &txtypes.BroadcastTxRequest{TxBytes: tx, Mode: txtypes.BroadcastMode_BROADCAST_MODE_SYNC})
		if err != nil {
			return "", err
		}
		r := res.TxResponse
		if r.Code == 0 {
			return r.TxHash, nil
		}
		// A full mempool is back-pressure, not failure: wait and retry.
		if strings.Contains(r.RawLog, "mempool is full") {
			select {
			case <-ctx.Done():
				return "", ctx.Err()
			case <-time.After(50 * time.Millisecond):
			}
			continue
		}
		return "", fmt.Errorf("CheckTx refused tx: code %d: %s", r.Code, r.RawLog)
	}
}

// waitTx waits until the tx with hash is in a block and returns its code.
func (b *bench) waitTx(ctx context.Context, hash string) (uint32, string, error) {
	r, err := waitTxResponse(ctx, b, hash)
	if err != nil {
		return 0, "", err
	}
	return r.Code, r.RawLog, nil
}

// waitTxResponse waits until the tx with hash is in a block and returns
// its result with events.
func waitTxResponse(ctx context.Context, b *bench, hash string) (*sdk.TxResponse, error) {
	if _, err := hex.DecodeString(hash); err != nil {
		return nil, fmt.Errorf("bad tx hash %q", hash)
	}
	for {
		res, err := b.txs.GetTx(ctx, &txtypes.GetTxRequest{Hash: hash})
		if err == nil {
			return res.TxResponse, nil
		}
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("tx %s: %w (last error: %v)", hash, ctx.Err(), err)
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// mapOptions is a servertypes.AppOptions over a map.
type mapOptions map[string]any

func (o mapOptions) Get(key string) any { return o[key] }
