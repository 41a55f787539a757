// Package chainclient talks to a DatDot chain node as a client: it signs
// transactions with a key from a Cosmos keyring (the same backends and
// directory layout as `datdotchaind keys`), broadcasts them over CometBFT's
// RPC with account-sequence handling and retries, waits for their inclusion
// (found in the block results it follows), queries
// x/storage, and follows the chain's blocks and events (CometBFT websocket,
// with a polling fallback, resumable from any height).
//
// A Client is safe for concurrent use; its transactions are serialised so
// that account sequences stay in order.
package chainclient

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	rpchttp "github.com/cometbft/cometbft/rpc/client/http"
	"github.com/cosmos/gogoproto/proto"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/cosmos/cosmos-sdk/client"
	"github.com/cosmos/cosmos-sdk/codec"
	codectypes "github.com/cosmos/cosmos-sdk/codec/types"
	"github.com/cosmos/cosmos-sdk/crypto/keyring"
	cryptotypes "github.com/cosmos/cosmos-sdk/crypto/types"
	"github.com/cosmos/cosmos-sdk/std"
	sdk "github.com/cosmos/cosmos-sdk/types"
	txtypes "github.com/cosmos/cosmos-sdk/types/tx"
	authcodec "github.com/cosmos/cosmos-sdk/x/auth/codec"
	"github.com/cosmos/cosmos-sdk/x/auth/signing"
	authtx "github.com/cosmos/cosmos-sdk/x/auth/tx"
	authtypes "github.com/cosmos/cosmos-sdk/x/auth/types"
	banktypes "github.com/cosmos/cosmos-sdk/x/bank/types"

	attesttypes "github.com/datdot/datdot/x/attest/types"
	storagetypes "github.com/datdot/datdot/x/storage/types"
)

// Bech32Prefix is the chain's account address prefix.
const Bech32Prefix = "datdot"

// Config says where the node is and which key signs.
type Config struct {
	// GRPC is the node's gRPC address, host:port (plaintext).
	GRPC string
	// RPC is the node's CometBFT RPC URL, e.g. http://127.0.0.1:26657.
	RPC string
	// ChainID; empty means ask the node.
	ChainID string

	// KeyringDir is the keyring's home (the directory that holds
	// keyring-test/ or keyring-file/, e.g. the chain home), KeyringBackend
	// one of test, file, os, memory (default test), KeyName the key.
	// Without KeyName the client can query and follow but not sign.
	KeyringDir     string
	KeyringBackend string
	KeyName        string
	// KeyringService is the keyring's service name (os backend; default
	// the SDK's, as datdotchaind uses).
	KeyringService string

	// GasPrice in udot per gas unit (default 0.002, twice the localnet
	// minimum); GasAdjustment multiplies the simulated gas (default 1.4).
	GasPrice      float64
	GasAdjustment float64
	Denom         string // fee denom (default udot)
	// TimeoutBlocks: a tx not included within this many blocks is dropped
	// by the chain (tx timeout height), so a caller knows for sure that
	// it will never land (default 40).
	TimeoutBlocks int64
	// PollInterval of the polling fallback and of waiting for a tx
	// (default 500ms).
	PollInterval time.Duration
	// AlwaysSimulate simulates every tx; by default the gas of a hoster's
	// proof answers is estimated from an earlier simulation (gas.go).
	AlwaysSimulate bool

	Log *slog.Logger
}

// Client is a connection to one node, with one signing key.
type Client struct {
	cfg  Config
	conn *grpc.ClientConn
	rpc  *rpchttp.HTTP
	// rpcURL is the RPC's base URL (no trailing slash), rpcHTTP the client
	// of plain requests to it (block_results).
	rpcURL  string
	rpcHTTP *http.Client
	cdc     codec.Codec
	reg     codectypes.InterfaceRegistry
	txCfg   client.TxConfig
	kr      keyring.Keyring
	// pub and priv are the signing key, read from the keyring once at
	// New (a file keyring's read runs a deliberately slow key derivation:
	// three of them per transaction were a large share of a hoster's
	// CPU). priv is nil for a key the keyring holds no private part of
	// (ledger, offline): Sign then asks the keyring every time.
	pub     cryptotypes.PubKey
	priv    cryptotypes.PrivKey
	addr    sdk.AccAddress
	chainID string
	log     *slog.Logger

	gas gasModel
	// recent are the blocks Follow and Wait read last.
	recent recentBlocks

	txMu     sync.Mutex // serialises signing and broadcasting
	seqKnown bool
	accNum   uint64
	seq      uint64
}

// Encoding is the codec set the client uses (x/storage, x/attest and the
// SDK's standard types registered). RegisterInterfaces adds more modules.
type Encoding struct {
	Registry codectypes.InterfaceRegistry
	Codec    codec.Codec
	TxConfig client.TxConfig
}

// NewEncoding builds the codecs; extra registers other modules' interfaces
// (e.g. x/attest's RegisterInterfaces).
func NewEncoding(extra ...func(codectypes.InterfaceRegistry)) (Encoding, error) {
	ac := authcodec.NewBech32Codec(Bech32Prefix)
	vc := authcodec.NewBech32Codec(Bech32Prefix + "valoper")
	reg, err := codectypes.NewInterfaceRegistryWithOptions(codectypes.InterfaceRegistryOptions{
		ProtoFiles:     proto.HybridResolver,
		SigningOptions: signingOptions(ac, vc),
	})
	if err != nil {
		return Encoding{}, fmt.Errorf("chainclient: interface registry: %w", err)
	}
	std.RegisterInterfaces(reg)
	authtypes.RegisterInterfaces(reg)
	banktypes.RegisterInterfaces(reg)
	storagetypes.RegisterInterfaces(reg)
	attesttypes.RegisterInterfaces(reg)
	for _, f := range extra {
		f(reg)
	}
	cdc := codec.NewProtoCodec(reg)
	return Encoding{Registry: reg, Codec: cdc, TxConfig: authtx.NewTxConfig(cdc, authtx.DefaultSignModes)}, nil
}

// New connects to the node (gRPC and RPC) and opens the keyring. extra
// registers other modules' interfaces (messages the client will sign).
func New(ctx context.Context, cfg Config, extra ...func(codectypes.InterfaceRegistry)) (*Client, error) {
	if cfg.GRPC == "" || cfg.RPC == "" {
		return nil, errors.New("chainclient: both the gRPC address and the RPC URL are required")
	}
	if cfg.KeyringBackend == "" {
		cfg.KeyringBackend = keyring.BackendTest
	}
	if cfg.GasPrice == 0 {
		cfg.GasPrice = 0.002
	}
	if cfg.GasAdjustment == 0 {
		cfg.GasAdjustment = 1.4
	}
	if cfg.Denom == "" {
		cfg.Denom = "udot"
	}
	if cfg.TimeoutBlocks == 0 {
		cfg.TimeoutBlocks = 40
	}
	if cfg.PollInterval == 0 {
		cfg.PollInterval = 500 * time.Millisecond
	}
	if cfg.KeyringService == "" {
		cfg.KeyringService = sdk.KeyringServiceName()
	}
	log := cfg.Log
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	enc, err := NewEncoding(extra...)
	if err != nil {
		return nil, err
	}
	c := &Client{cfg: cfg, cdc: enc.Codec, reg: enc.Registry, txCfg: enc.TxConfig, log: log, gas: gasModel{units: defaultGasUnits()}}
	// gogoproto types need the SDK's codec on the wire (protobuf v2 cannot
	// reflect over custom types such as math.Int).
	c.conn, err = grpc.NewClient(cfg.GRPC, grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithDefaultCallOptions(grpc.ForceCodec(codec.NewProtoCodec(enc.Registry).GRPCCodec())))
	if err != nil {
		return nil, fmt.Errorf("chainclient: grpc %s: %w", cfg.GRPC, err)
	}
	u, err := url.Parse(cfg.RPC)
	if err != nil || u.Host == "" {
		c.conn.Close()
		return nil, fmt.Errorf("chainclient: rpc URL %q is not a URL", cfg.RPC)
	}
	c.rpcURL, c.rpcHTTP = strings.TrimRight(cfg.RPC, "/"), &http.Client{Timeout: 30 * time.Second}
	if c.rpc, err = rpchttp.New(c.rpcURL, "/websocket"); err != nil {
		c.conn.Close()
		return nil, fmt.Errorf("chainclient: rpc %s: %w", cfg.RPC, err)
	}
	if cfg.KeyName != "" {
		c.kr, err = keyring.New(cfg.KeyringService, cfg.KeyringBackend, cfg.KeyringDir, strings.NewReader(""), c.cdc)
		if err != nil {
			c.Close()
			return nil, fmt.Errorf("chainclient: keyring: %w", err)
		}
		rec, err := c.kr.Key(cfg.KeyName)
		if err != nil {
			c.Close()
			return nil, fmt.Errorf("chainclient: key %q in %s keyring at %s: %w", cfg.KeyName, cfg.KeyringBackend, cfg.KeyringDir, err)
		}
		if c.addr, err = rec.GetAddress(); err != nil {
			c.Close()
			return nil, fmt.Errorf("chainclient: key %q: %w", cfg.KeyName, err)
		}
		if c.pub, err = rec.GetPubKey(); err != nil {
			c.Close()
			return nil, fmt.Errorf("chainclient: key %q: %w", cfg.KeyName, err)
		}
		if l := rec.GetLocal(); l != nil && l.PrivKey != nil {
			c.priv, _ = l.PrivKey.GetCachedValue().(cryptotypes.PrivKey)
		}
	}
	c.chainID = cfg.ChainID
	if c.chainID == "" {
		st, err := c.rpc.Status(ctx)
		if err != nil {
			c.Close()
			return nil, fmt.Errorf("chainclient: node status: %w", err)
		}
		c.chainID = st.NodeInfo.Network
	}
	return c, nil
}

// Close closes the connections.
func (c *Client) Close() error {
	if c.rpc != nil && c.rpc.IsRunning() {
		_ = c.rpc.Stop()
	}
	return c.conn.Close()
}

// Address returns the signing key's address (bech32), "" without a key.
func (c *Client) Address() string {
	if c.addr == nil {
		return ""
	}
	s, _ := sdk.Bech32ifyAddressBytes(Bech32Prefix, c.addr)
	return s
}

// ChainID returns the chain id.
func (c *Client) ChainID() string { return c.chainID }

// Conn returns the gRPC connection (for other modules' query clients).
func (c *Client) Conn() *grpc.ClientConn { return c.conn }

// Codec returns the client's codec.
func (c *Client) Codec() codec.Codec { return c.cdc }

// Storage returns an x/storage query client.
func (c *Client) Storage() storagetypes.QueryClient { return storagetypes.NewQueryClient(c.conn) }

// Height returns the node's latest block height.
func (c *Client) Height(ctx context.Context) (int64, error) {
	st, err := c.rpc.Status(ctx)
	if err != nil {
		return 0, fmt.Errorf("chainclient: status: %w", err)
	}
	return st.SyncInfo.LatestBlockHeight, nil
}

// Balance returns the address's balance of the fee denom.
func (c *Client) Balance(ctx context.Context, addr string) (sdk.Coin, error) {
	r, err := banktypes.NewQueryClient(c.conn).Balance(ctx, &banktypes.QueryBalanceRequest{Address: addr, Denom: c.cfg.Denom})
	if err != nil {
		return sdk.Coin{}, fmt.Errorf("chainclient: balance: %w", err)
	}
	return *r.Balance, nil
}

// txService returns the tx service client.
func (c *Client) txService() txtypes.ServiceClient { return txtypes.NewServiceClient(c.conn) }

var _ = signing.SignerData{}
