package app

import (
	"encoding/json"
	"errors"
	"fmt"

	cmtproto "github.com/cometbft/cometbft/proto/tendermint/types"

	servertypes "github.com/cosmos/cosmos-sdk/server/types"
	"github.com/cosmos/cosmos-sdk/x/staking"
)

// ErrZeroHeightExport is returned for `export --for-zero-height`. Restarting
// a chain from height zero needs every module's state rebased to the new
// heights: besides the SDK's own (rewards withdrawn, unbonding heights
// reset), x/storage keys its epochs, unbonding periods, retries and expiry
// queues to block heights, and has no rebasing yet. Exporting at the current
// height (the chain continues from initial_height) is fully supported.
var ErrZeroHeightExport = errors.New("export --for-zero-height is not supported by datdotchaind; export at the current height instead")

// ExportAppStateAndValidators exports the state of every module (or only
// modulesToExport) at the last committed height, with the validator set and
// consensus params, as a genesis that a new chain can start from.
func (app *App) ExportAppStateAndValidators(forZeroHeight bool, jailAllowedAddrs, modulesToExport []string) (servertypes.ExportedApp, error) {
	if forZeroHeight {
		return servertypes.ExportedApp{}, ErrZeroHeightExport
	}
	_ = jailAllowedAddrs // only meaningful for zero-height exports

	height := app.LastBlockHeight() + 1
	ctx := app.NewContextLegacy(true, cmtproto.Header{Height: height})

	gs, err := app.ModuleManager.ExportGenesisForModules(ctx, app.appCodec, modulesToExport)
	if err != nil {
		return servertypes.ExportedApp{}, fmt.Errorf("export module genesis: %w", err)
	}
	appState, err := json.MarshalIndent(gs, "", "  ")
	if err != nil {
		return servertypes.ExportedApp{}, fmt.Errorf("encode app state: %w", err)
	}
	validators, err := staking.WriteValidators(ctx, app.StakingKeeper)
	if err != nil {
		return servertypes.ExportedApp{}, fmt.Errorf("export validators: %w", err)
	}
	return servertypes.ExportedApp{
		AppState:        appState,
		Validators:      validators,
		Height:          height,
		ConsensusParams: app.GetConsensusParams(ctx),
	}, nil
}
