package app

import (
	"encoding/json"

	"github.com/cosmos/cosmos-sdk/codec"
	sdk "github.com/cosmos/cosmos-sdk/types"
	"github.com/cosmos/cosmos-sdk/x/gov"
	govv1 "github.com/cosmos/cosmos-sdk/x/gov/types/v1"
	"github.com/cosmos/cosmos-sdk/x/staking"
	stakingtypes "github.com/cosmos/cosmos-sdk/x/staking/types"

	"github.com/datdot/datdot/x/storage"
	storagetypes "github.com/datdot/datdot/x/storage/types"
)

// GenesisState is the application genesis: module name to module genesis JSON.
type GenesisState map[string]json.RawMessage

// The SDK's staking and gov modules (and x/storage, which follows them) take their default denomination from a
// process-wide variable (sdk.DefaultBondDenom, "stake"). Rather than change
// that global, the app's basic manager uses these wrappers so that
// `datdotchaind init` writes a genesis in udot from the start.

// stakingBasic is staking.AppModuleBasic with BondDenom set to udot.
type stakingBasic struct{ staking.AppModuleBasic }

// DefaultGenesis returns staking's default genesis with the DatDot bond denom.
func (stakingBasic) DefaultGenesis(cdc codec.JSONCodec) json.RawMessage {
	gs := stakingtypes.DefaultGenesisState()
	gs.Params.BondDenom = BondDenom
	return cdc.MustMarshalJSON(gs)
}

// govBasic is gov.AppModuleBasic with deposits in udot.
type govBasic struct{ gov.AppModuleBasic }

// DefaultGenesis returns gov's default genesis with udot deposits.
func (govBasic) DefaultGenesis(cdc codec.JSONCodec) json.RawMessage {
	gs := govv1.DefaultGenesisState()
	gs.Params.MinDeposit = sdk.NewCoins(sdk.NewCoin(BondDenom, govv1.DefaultMinDepositTokens))
	gs.Params.ExpeditedMinDeposit = sdk.NewCoins(sdk.NewCoin(BondDenom, govv1.DefaultMinExpeditedDepositTokens))
	return cdc.MustMarshalJSON(gs)
}

// storageBasic is x/storage's basic module with its escrow and stake denom
// set to udot.
type storageBasic struct{ storage.AppModule }

// DefaultGenesis returns x/storage's default genesis with the DatDot denom.
func (storageBasic) DefaultGenesis(cdc codec.JSONCodec) json.RawMessage {
	gs := storagetypes.DefaultGenesis()
	gs.Params.Denom = BondDenom
	return cdc.MustMarshalJSON(gs)
}
