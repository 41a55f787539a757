package app_test

import (
	"encoding/json"
	"testing"

	"github.com/stretchr/testify/require"

	sdkmath "cosmossdk.io/math"

	sdk "github.com/cosmos/cosmos-sdk/types"
	sdkerrors "github.com/cosmos/cosmos-sdk/types/errors"
	authtypes "github.com/cosmos/cosmos-sdk/x/auth/types"
	banktypes "github.com/cosmos/cosmos-sdk/x/bank/types"
	govtypes "github.com/cosmos/cosmos-sdk/x/gov/types"

	"github.com/datdot/datdot/app"
)

func TestDefaultGenesisUsesDatDotDenom(t *testing.T) {
	a := newChain(t, []string{"validator"}, nil).app
	gs := a.DefaultGenesis()
	require.NoError(t, a.BasicModuleManager.ValidateGenesis(a.AppCodec(), a.TxConfig(), gs))
	var staking struct {
		Params struct {
			BondDenom string `json:"bond_denom"`
		} `json:"params"`
	}
	require.NoError(t, json.Unmarshal(gs["staking"], &staking))
	require.Equal(t, app.BondDenom, staking.Params.BondDenom)
	var gov struct {
		Params struct {
			MinDeposit []sdk.Coin `json:"min_deposit"`
		} `json:"params"`
	}
	require.NoError(t, json.Unmarshal(gs["gov"], &gov))
	require.Equal(t, app.BondDenom, gov.Params.MinDeposit[0].Denom)
	require.Equal(t, "datdot", sdk.GetConfig().GetBech32AccountAddrPrefix())
}

func TestBankSendAndBlockedModuleAccounts(t *testing.T) {
	c := newChain(t, []string{"validator", "alice", "bob"}, nil)
	alice, bob := c.accounts["alice"], c.accounts["bob"]
	require.Contains(t, alice.String(), "datdot1")

	amount := sdk.NewCoins(sdk.NewCoin(app.BondDenom, sdkmath.NewInt(1234)))
	before := c.balance(bob.addr)
	c.mustDeliver(alice, banktypes.NewMsgSend(alice.addr, bob.addr, amount))
	require.Equal(t, before.AddRaw(1234), c.balance(bob.addr))

	// Module accounts refuse plain sends.
	for name := range app.ModuleAccountPermissions() {
		res := c.deliver(alice, banktypes.NewMsgSend(alice.addr, authtypes.NewModuleAddress(name), amount))
		require.NotZerof(t, res.Code, "send to module account %s accepted", name)
		require.Contains(t, res.Log, "not allowed to receive funds")
	}

	// A tx signed with a wrong sequence is refused by the ante handler and costs nothing.
	bal := c.balance(alice.addr)
	seq := alice.seq
	alice.seq += 7
	res := c.block(c.signTx(alice, banktypes.NewMsgSend(alice.addr, bob.addr, amount)))[0]
	require.Equal(t, sdkerrors.ErrWrongSequence.ABCICode(), res.Code, res.Log)
	alice.seq = seq
	require.Equal(t, bal, c.balance(alice.addr))

	require.True(t, app.BlockedAddresses()[authtypes.NewModuleAddress(govtypes.ModuleName).String()])
}
