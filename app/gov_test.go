package app_test

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/cosmos/cosmos-sdk/codec"
	sdk "github.com/cosmos/cosmos-sdk/types"
	authtypes "github.com/cosmos/cosmos-sdk/x/auth/types"
	govtypes "github.com/cosmos/cosmos-sdk/x/gov/types"
	govv1 "github.com/cosmos/cosmos-sdk/x/gov/types/v1"
	govv1beta1 "github.com/cosmos/cosmos-sdk/x/gov/types/v1beta1"

	"github.com/datdot/datdot/app"
	storagetypes "github.com/datdot/datdot/x/storage/types"
)

// TestGovUpdatesStorageParams checks the authority wiring: x/storage's
// MsgUpdateParams goes through a governance proposal voted by the bonded
// validator, and is refused when anyone else signs it.
func TestGovUpdatesStorageParams(t *testing.T) {
	c := newChain(t, []string{"validator", "alice"}, func(cdc codec.Codec, gs app.GenesisState) {
		var g govv1.GenesisState
		cdc.MustUnmarshalJSON(gs[govtypes.ModuleName], &g)
		voting := 3 * time.Second
		expedited := 2 * time.Second
		g.Params.VotingPeriod = &voting
		g.Params.ExpeditedVotingPeriod = &expedited
		gs[govtypes.ModuleName] = cdc.MustMarshalJSON(&g)
	})
	validator, alice := c.accounts["validator"], c.accounts["alice"]
	authority := authtypes.NewModuleAddress(govtypes.ModuleName).String()

	params, err := c.app.StorageKeeper.GetParams(c.ctx())
	require.NoError(t, err)
	params.MaxReplicas++
	update := &storagetypes.MsgUpdateParams{Authority: authority, Params: params}

	// Signed directly by a user, the update is refused.
	res := c.deliver(alice, &storagetypes.MsgUpdateParams{Authority: alice.String(), Params: params})
	require.NotZero(t, res.Code)
	require.Contains(t, res.Log, "authority")

	// Through governance it passes.
	var g govv1.GenesisState
	c.app.AppCodec().MustUnmarshalJSON(c.app.DefaultGenesis()[govtypes.ModuleName], &g)
	submit, err := govv1.NewMsgSubmitProposal([]sdk.Msg{update}, g.Params.MinDeposit, validator.String(),
		"", "raise max replicas", "one more replica allowed per order", false)
	require.NoError(t, err)
	c.mustDeliver(validator, submit)
	c.mustDeliver(validator, govv1.NewMsgVote(validator.addr, 1, govv1.OptionYes, ""))
	c.blocks(5) // one-second blocks: past the 3 s voting period

	proposal, err := c.app.GovKeeper.Proposals.Get(c.ctx(), 1)
	require.NoError(t, err)
	require.Equal(t, govv1.StatusPassed, proposal.Status, "failed: %s", proposal.FailedReason)
	got, err := c.app.StorageKeeper.GetParams(c.ctx())
	require.NoError(t, err)
	require.Equal(t, params.MaxReplicas, got.MaxReplicas)
}

// TestLegacyTextProposal checks that a v1beta1 text proposal is routed.
func TestLegacyTextProposal(t *testing.T) {
	c := newChain(t, []string{"validator"}, nil)
	validator := c.accounts["validator"]
	var g govv1.GenesisState
	c.app.AppCodec().MustUnmarshalJSON(c.app.DefaultGenesis()[govtypes.ModuleName], &g)
	content := govv1beta1.NewTextProposal("hello", "a legacy text proposal")
	msg, err := govv1beta1.NewMsgSubmitProposal(content, g.Params.MinDeposit, validator.addr)
	require.NoError(t, err)
	c.mustDeliver(validator, msg)
	proposal, err := c.app.GovKeeper.Proposals.Get(c.ctx(), 1)
	require.NoError(t, err)
	require.Equal(t, govv1.StatusVotingPeriod, proposal.Status)
}
