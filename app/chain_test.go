package app_test

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"testing"
	"time"

	abci "github.com/cometbft/cometbft/abci/types"
	"github.com/cometbft/cometbft/crypto/ed25519"
	cmtproto "github.com/cometbft/cometbft/proto/tendermint/types"
	dbm "github.com/cosmos/cosmos-db"
	"github.com/stretchr/testify/require"

	"cosmossdk.io/log/v2"
	sdkmath "cosmossdk.io/math"

	"github.com/cosmos/cosmos-sdk/baseapp"
	"github.com/cosmos/cosmos-sdk/codec"
	codectypes "github.com/cosmos/cosmos-sdk/codec/types"
	cryptocodec "github.com/cosmos/cosmos-sdk/crypto/codec"
	"github.com/cosmos/cosmos-sdk/crypto/keys/secp256k1"
	cryptotypes "github.com/cosmos/cosmos-sdk/crypto/types"
	sdk "github.com/cosmos/cosmos-sdk/types"
	"github.com/cosmos/cosmos-sdk/types/tx/signing"
	authsign "github.com/cosmos/cosmos-sdk/x/auth/signing"
	authtypes "github.com/cosmos/cosmos-sdk/x/auth/types"
	banktypes "github.com/cosmos/cosmos-sdk/x/bank/types"
	stakingtypes "github.com/cosmos/cosmos-sdk/x/staking/types"

	"github.com/datdot/datdot/app"
)

const testChainID = "datdot-test"

// account is a funded test account with its signing key.
type account struct {
	name   string
	priv   cryptotypes.PrivKey
	addr   sdk.AccAddress
	number uint64
	seq    uint64
}

func (a *account) String() string { return a.addr.String() }

// chain drives a real App through ABCI (InitChain, FinalizeBlock, Commit)
// without CometBFT: every transaction is encoded, signed and checked by the
// ante handler exactly as on a node. Block hashes are derived from the height
// so that runs are reproducible.
type chain struct {
	t        testing.TB
	app      *app.App
	db       dbm.DB
	accounts map[string]*account
	valAddr  []byte // consensus address of the one validator
	height   int64
	time     time.Time
	gas      uint64 // gas limit of signed txs; 0: gasLimit
}

// accountCoins is what every test account holds at genesis.
var accountCoins = sdk.NewCoins(sdk.NewCoin(app.BondDenom, sdkmath.NewInt(1_000_000_000_000)))

// newChain starts a chain with one bonded validator and the named accounts,
// after applying patch (if any) to the default genesis.
func newChain(t testing.TB, names []string, patch func(codec.Codec, app.GenesisState)) *chain {
	t.Helper()
	db := dbm.NewMemDB()
	a, err := app.New(log.NewNopLogger(), db, true, appOptions{}, baseapp.SetChainID(testChainID))
	require.NoError(t, err)
	cdc := a.AppCodec()

	c := &chain{t: t, app: a, db: db, accounts: map[string]*account{}, time: time.Unix(1_800_000_000, 0).UTC()}

	var genAccs []authtypes.GenesisAccount
	var balances []banktypes.Balance
	supply := sdk.NewCoins()
	for i, name := range names {
		seed := sha256.Sum256([]byte("datdot test account " + name))
		priv := secp256k1.GenPrivKeyFromSecret(seed[:])
		addr := sdk.AccAddress(priv.PubKey().Address())
		acc := &account{name: name, priv: priv, addr: addr, number: uint64(i)}
		c.accounts[name] = acc
		genAccs = append(genAccs, authtypes.NewBaseAccount(addr, nil, acc.number, 0))
		balances = append(balances, banktypes.Balance{Address: addr.String(), Coins: accountCoins})
		supply = supply.Add(accountCoins...)
	}

	// One validator, bonded at genesis, self-delegated by the first account.
	valKey := ed25519.GenPrivKeyFromSecret([]byte("datdot test validator"))
	valPub, err := cryptocodec.FromCmtPubKeyInterface(valKey.PubKey())
	require.NoError(t, err)
	pkAny, err := codectypes.NewAnyWithValue(valPub)
	require.NoError(t, err)
	c.valAddr = valKey.PubKey().Address()
	operator := sdk.ValAddress(c.accounts[names[0]].addr)
	bonded := sdk.TokensFromConsensusPower(100, sdk.DefaultPowerReduction)
	validator := stakingtypes.Validator{
		OperatorAddress:   operator.String(),
		ConsensusPubkey:   pkAny,
		Status:            stakingtypes.Bonded,
		Tokens:            bonded,
		DelegatorShares:   sdkmath.LegacyNewDecFromInt(bonded),
		UnbondingTime:     time.Unix(0, 0).UTC(),
		Commission:        stakingtypes.NewCommission(sdkmath.LegacyZeroDec(), sdkmath.LegacyOneDec(), sdkmath.LegacyZeroDec()),
		MinSelfDelegation: sdkmath.OneInt(),
	}
	delegation := stakingtypes.NewDelegation(c.accounts[names[0]].addr.String(), operator.String(), sdkmath.LegacyNewDecFromInt(bonded))
	bondedCoins := sdk.NewCoins(sdk.NewCoin(app.BondDenom, bonded))
	balances = append(balances, banktypes.Balance{
		Address: authtypes.NewModuleAddress(stakingtypes.BondedPoolName).String(),
		Coins:   bondedCoins,
	})
	supply = supply.Add(bondedCoins...)

	gs := a.DefaultGenesis()
	gs[authtypes.ModuleName] = cdc.MustMarshalJSON(authtypes.NewGenesisState(authtypes.DefaultParams(), genAccs))
	var stakingGen stakingtypes.GenesisState
	cdc.MustUnmarshalJSON(gs[stakingtypes.ModuleName], &stakingGen)
	stakingGen.Validators = []stakingtypes.Validator{validator}
	stakingGen.Delegations = []stakingtypes.Delegation{delegation}
	gs[stakingtypes.ModuleName] = cdc.MustMarshalJSON(&stakingGen)
	gs[banktypes.ModuleName] = cdc.MustMarshalJSON(banktypes.NewGenesisState(
		banktypes.DefaultParams(), balances, supply, nil, nil))
	if patch != nil {
		patch(cdc, gs)
	}

	stateBytes, err := json.Marshal(gs)
	require.NoError(t, err)
	_, err = a.InitChain(&abci.RequestInitChain{
		ChainId:         testChainID,
		Time:            c.time,
		InitialHeight:   1,
		ConsensusParams: consensusParams(),
		AppStateBytes:   stateBytes,
	})
	require.NoError(t, err)
	c.block() // commit genesis so that queries see it
	return c
}

func consensusParams() *cmtproto.ConsensusParams {
	return &cmtproto.ConsensusParams{
		Block:     &cmtproto.BlockParams{MaxBytes: 4 << 20, MaxGas: -1},
		Evidence:  &cmtproto.EvidenceParams{MaxAgeNumBlocks: 100_000, MaxAgeDuration: 48 * time.Hour, MaxBytes: 10_000},
		Validator: &cmtproto.ValidatorParams{PubKeyTypes: []string{"ed25519"}},
	}
}

// appOptions is a servertypes.AppOptions over a map.
type appOptions map[string]any

func (o appOptions) Get(key string) any { return o[key] }

// blockHash is the deterministic stand-in for a CometBFT block hash.
func blockHash(height int64) []byte {
	var b [8]byte
	binary.BigEndian.PutUint64(b[:], uint64(height))
	h := sha256.Sum256(append([]byte("datdot test block "), b[:]...))
	return h[:]
}

// block finalises and commits one block holding txs and returns the
// per-transaction results.
func (c *chain) block(txs ...[]byte) []*abci.ExecTxResult {
	c.t.Helper()
	c.height++
	c.time = c.time.Add(time.Second)
	res, err := c.app.FinalizeBlock(&abci.RequestFinalizeBlock{
		Txs:             txs,
		Height:          c.height,
		Time:            c.time,
		Hash:            blockHash(c.height),
		ProposerAddress: c.valAddr,
	})
	require.NoError(c.t, err)
	_, err = c.app.Commit()
	require.NoError(c.t, err)
	return res.TxResults
}

// blocks commits n empty blocks.
func (c *chain) blocks(n int) {
	c.t.Helper()
	for range n {
		c.block()
	}
}

// fee is generous enough for any test transaction.
var fee = sdk.NewCoins(sdk.NewCoin(app.BondDenom, sdkmath.NewInt(2_000)))

const gasLimit = 2_000_000

// signTx builds and signs (SIGN_MODE_DIRECT) a transaction from signer.
func (c *chain) signTx(signer *account, msgs ...sdk.Msg) []byte {
	c.t.Helper()
	txCfg := c.app.TxConfig()
	b := txCfg.NewTxBuilder()
	require.NoError(c.t, b.SetMsgs(msgs...))
	b.SetFeeAmount(fee)
	if c.gas != 0 {
		b.SetGasLimit(c.gas)
	} else {
		b.SetGasLimit(gasLimit)
	}
	sig := signing.SignatureV2{
		PubKey:   signer.priv.PubKey(),
		Data:     &signing.SingleSignatureData{SignMode: signing.SignMode_SIGN_MODE_DIRECT},
		Sequence: signer.seq,
	}
	require.NoError(c.t, b.SetSignatures(sig))
	signBytes, err := authsign.GetSignBytesAdapter(context.Background(), txCfg.SignModeHandler(), signing.SignMode_SIGN_MODE_DIRECT,
		authsign.SignerData{
			Address:       signer.addr.String(),
			ChainID:       testChainID,
			AccountNumber: signer.number,
			Sequence:      signer.seq,
			PubKey:        signer.priv.PubKey(),
		}, b.GetTx())
	require.NoError(c.t, err)
	sigBytes, err := signer.priv.Sign(signBytes)
	require.NoError(c.t, err)
	sig.Data = &signing.SingleSignatureData{SignMode: signing.SignMode_SIGN_MODE_DIRECT, Signature: sigBytes}
	require.NoError(c.t, b.SetSignatures(sig))
	txBytes, err := txCfg.TxEncoder()(b.GetTx())
	require.NoError(c.t, err)
	return txBytes
}

// deliver signs msgs as signer, commits them in their own block and returns
// the result. The signer's sequence is re-read from state afterwards: a tx
// whose message fails still consumes it, one refused by the ante handler
// does not.
func (c *chain) deliver(signer *account, msgs ...sdk.Msg) *abci.ExecTxResult {
	c.t.Helper()
	res := c.block(c.signTx(signer, msgs...))[0]
	acc := c.app.AccountKeeper.GetAccount(c.ctx(), signer.addr)
	require.NotNil(c.t, acc)
	signer.seq = acc.GetSequence()
	return res
}

// mustDeliver is deliver that fails the test on a non-zero result code.
func (c *chain) mustDeliver(signer *account, msgs ...sdk.Msg) *abci.ExecTxResult {
	c.t.Helper()
	res := c.deliver(signer, msgs...)
	require.Equalf(c.t, uint32(0), res.Code, "tx failed: %s", res.Log)
	return res
}

// ctx is a read-only context on the last committed state.
func (c *chain) ctx() sdk.Context {
	return c.app.NewContextLegacy(true, cmtproto.Header{Height: c.height, Time: c.time, ChainID: testChainID})
}

func (c *chain) balance(addr sdk.AccAddress) sdkmath.Int {
	return c.app.BankKeeper.GetBalance(c.ctx(), addr, app.BondDenom).Amount
}

// event returns the attributes of the first event of type typ in res.
func event(res *abci.ExecTxResult, typ string) (map[string]string, bool) {
	for _, ev := range res.Events {
		if ev.Type != typ {
			continue
		}
		attrs := map[string]string{}
		for _, a := range ev.Attributes {
			attrs[a.Key] = a.Value
		}
		return attrs, true
	}
	return nil, false
}

func (c *chain) String() string { return fmt.Sprintf("chain@%d", c.height) }
