// Package app wires the DatDot chain application: the Cosmos SDK modules it
// runs (auth, bank, staking, distribution, slashing, gov, consensus, genutil)
// and DatDot's own x/storage, with explicit keepers and an explicit module
// manager (no depinject app config), so every dependency is visible here.
package app

import (
	"encoding/json"
	"fmt"
	"maps"
	"os"
	"path/filepath"

	abci "github.com/cometbft/cometbft/abci/types"
	dbm "github.com/cosmos/cosmos-db"

	autocliv1 "cosmossdk.io/api/cosmos/autocli/v1"
	reflectionv1 "cosmossdk.io/api/cosmos/reflection/v1"
	"cosmossdk.io/client/v2/autocli"
	"cosmossdk.io/core/appmodule"
	"cosmossdk.io/log/v2"

	"github.com/cosmos/cosmos-sdk/baseapp"
	"github.com/cosmos/cosmos-sdk/client"
	"github.com/cosmos/cosmos-sdk/client/grpc/cmtservice"
	nodeservice "github.com/cosmos/cosmos-sdk/client/grpc/node"
	"github.com/cosmos/cosmos-sdk/codec"
	codectypes "github.com/cosmos/cosmos-sdk/codec/types"
	"github.com/cosmos/cosmos-sdk/runtime"
	runtimeservices "github.com/cosmos/cosmos-sdk/runtime/services"
	"github.com/cosmos/cosmos-sdk/server"
	"github.com/cosmos/cosmos-sdk/server/api"
	"github.com/cosmos/cosmos-sdk/server/config"
	servertypes "github.com/cosmos/cosmos-sdk/server/types"
	storetypes "github.com/cosmos/cosmos-sdk/store/v2/types"
	sdk "github.com/cosmos/cosmos-sdk/types"
	"github.com/cosmos/cosmos-sdk/types/module"
	"github.com/cosmos/cosmos-sdk/version"
	"github.com/cosmos/cosmos-sdk/x/auth"
	"github.com/cosmos/cosmos-sdk/x/auth/ante"
	authkeeper "github.com/cosmos/cosmos-sdk/x/auth/keeper"
	"github.com/cosmos/cosmos-sdk/x/auth/posthandler"
	authtx "github.com/cosmos/cosmos-sdk/x/auth/tx"
	authtypes "github.com/cosmos/cosmos-sdk/x/auth/types"
	"github.com/cosmos/cosmos-sdk/x/bank"
	bankkeeper "github.com/cosmos/cosmos-sdk/x/bank/keeper"
	banktypes "github.com/cosmos/cosmos-sdk/x/bank/types"
	"github.com/cosmos/cosmos-sdk/x/consensus"
	consensuskeeper "github.com/cosmos/cosmos-sdk/x/consensus/keeper"
	consensustypes "github.com/cosmos/cosmos-sdk/x/consensus/types"
	distr "github.com/cosmos/cosmos-sdk/x/distribution"
	distrkeeper "github.com/cosmos/cosmos-sdk/x/distribution/keeper"
	distrtypes "github.com/cosmos/cosmos-sdk/x/distribution/types"
	"github.com/cosmos/cosmos-sdk/x/genutil"
	genutiltypes "github.com/cosmos/cosmos-sdk/x/genutil/types"
	"github.com/cosmos/cosmos-sdk/x/gov"
	govkeeper "github.com/cosmos/cosmos-sdk/x/gov/keeper"
	govtypes "github.com/cosmos/cosmos-sdk/x/gov/types"
	govv1beta1 "github.com/cosmos/cosmos-sdk/x/gov/types/v1beta1"
	"github.com/cosmos/cosmos-sdk/x/slashing"
	slashingkeeper "github.com/cosmos/cosmos-sdk/x/slashing/keeper"
	slashingtypes "github.com/cosmos/cosmos-sdk/x/slashing/types"
	"github.com/cosmos/cosmos-sdk/x/staking"
	stakingkeeper "github.com/cosmos/cosmos-sdk/x/staking/keeper"
	stakingtypes "github.com/cosmos/cosmos-sdk/x/staking/types"

	"github.com/datdot/datdot/x/attest"
	attestkeeper "github.com/datdot/datdot/x/attest/keeper"
	attesttypes "github.com/datdot/datdot/x/attest/types"
	"github.com/datdot/datdot/x/storage"
	storagekeeper "github.com/datdot/datdot/x/storage/keeper"
	storagetypes "github.com/datdot/datdot/x/storage/types"
)

// DefaultNodeHome is where datdotchaind keeps its config and data unless
// --home says otherwise: $HOME/.datdotchaind.
func DefaultNodeHome() string {
	home, err := os.UserHomeDir()
	if err != nil {
		return ".datdotchaind"
	}
	return filepath.Join(home, ".datdotchaind")
}

// moduleAccountPermissions lists every module account and what it may do
// with coins. All of them are also blocked from receiving plain sends.
func moduleAccountPermissions() map[string][]string {
	return map[string][]string{
		authtypes.FeeCollectorName:     nil,
		distrtypes.ModuleName:          nil,
		stakingtypes.BondedPoolName:    {authtypes.Burner, authtypes.Staking},
		stakingtypes.NotBondedPoolName: {authtypes.Burner, authtypes.Staking},
		govtypes.ModuleName:            {authtypes.Burner},
		// x/storage holds hoster stake and order escrow; slashed stake is burnt.
		storagetypes.ModuleName: {authtypes.Burner},
		// x/attest receives slashed stake, pays the owner's share on and
		// keeps the rest as the attestation pool (attestor fees).
		attesttypes.ModuleName: nil,
	}
}

// App is the DatDot chain application.
type App struct {
	*baseapp.BaseApp

	amino             *codec.LegacyAmino
	appCodec          codec.Codec
	txConfig          client.TxConfig
	interfaceRegistry codectypes.InterfaceRegistry
	encoding          EncodingConfig

	keys map[string]*storetypes.KVStoreKey

	AccountKeeper   authkeeper.AccountKeeper
	BankKeeper      bankkeeper.BaseKeeper
	StakingKeeper   *stakingkeeper.Keeper
	DistrKeeper     distrkeeper.Keeper
	SlashingKeeper  slashingkeeper.Keeper
	GovKeeper       *govkeeper.Keeper
	ConsensusKeeper consensuskeeper.Keeper
	StorageKeeper   storagekeeper.Keeper
	AttestKeeper    attestkeeper.Keeper

	ModuleManager      *module.Manager
	BasicModuleManager module.BasicManager
	configurator       module.Configurator
}

var _ servertypes.Application = (*App)(nil)

// New builds the application on db. appOpts carries the node's app.toml and
// flags (min gas prices, pruning, home...). loadLatest loads the last
// committed state; tests that want a fresh chain pass true on an empty db.
func New(
	logger log.Logger,
	db dbm.DB,
	loadLatest bool,
	appOpts servertypes.AppOptions,
	baseAppOptions ...func(*baseapp.BaseApp),
) (*App, error) {
	// The bank keeper's blocked-address list and many SDK helpers format
	// addresses through the SDK's global bech32 config.
	SetAddressPrefixes()
	enc, err := NewEncodingConfig()
	if err != nil {
		return nil, err
	}

	bApp := baseapp.NewBaseApp(Name, logger, db, enc.TxConfig.TxDecoder(), baseAppOptions...)
	bApp.SetVersion(version.Version)
	bApp.SetInterfaceRegistry(enc.InterfaceRegistry)
	bApp.SetTxEncoder(enc.TxConfig.TxEncoder())

	keys := storetypes.NewKVStoreKeys(
		authtypes.StoreKey, banktypes.StoreKey, stakingtypes.StoreKey,
		distrtypes.StoreKey, slashingtypes.StoreKey, govtypes.StoreKey,
		consensustypes.StoreKey, storagetypes.StoreKey, attesttypes.StoreKey,
	)
	if err := bApp.RegisterStreamingServices(appOpts, keys); err != nil {
		return nil, fmt.Errorf("streaming services: %w", err)
	}

	app := &App{
		BaseApp:           bApp,
		amino:             enc.Amino,
		appCodec:          enc.Codec,
		txConfig:          enc.TxConfig,
		interfaceRegistry: enc.InterfaceRegistry,
		encoding:          enc,
		keys:              keys,
	}

	// gov is the authority of every module's MsgUpdateParams.
	authority, err := enc.AddressCodec.BytesToString(authtypes.NewModuleAddress(govtypes.ModuleName))
	if err != nil {
		return nil, err
	}

	app.ConsensusKeeper = consensuskeeper.NewKeeper(
		enc.Codec, runtime.NewKVStoreService(keys[consensustypes.StoreKey]), authority, runtime.EventService{},
	)
	bApp.SetParamStore(app.ConsensusKeeper.ParamsStore)

	app.AccountKeeper = authkeeper.NewAccountKeeper(
		enc.Codec, runtime.NewKVStoreService(keys[authtypes.StoreKey]), authtypes.ProtoBaseAccount,
		moduleAccountPermissions(), enc.AddressCodec, Bech32Prefix, authority,
	)
	app.BankKeeper = bankkeeper.NewBaseKeeper(
		enc.Codec, runtime.NewKVStoreService(keys[banktypes.StoreKey]), app.AccountKeeper,
		BlockedAddresses(), authority, logger,
	)
	app.StakingKeeper = stakingkeeper.NewKeeper(
		enc.Codec, runtime.NewKVStoreService(keys[stakingtypes.StoreKey]), app.AccountKeeper, app.BankKeeper,
		authority, enc.ValidatorAddressCodec, enc.ConsensusAddressCodec,
	)
	app.DistrKeeper = distrkeeper.NewKeeper(
		enc.Codec, runtime.NewKVStoreService(keys[distrtypes.StoreKey]), app.AccountKeeper, app.BankKeeper,
		app.StakingKeeper, authtypes.FeeCollectorName, authority,
	)
	app.SlashingKeeper = slashingkeeper.NewKeeper(
		enc.Codec, enc.Amino, runtime.NewKVStoreService(keys[slashingtypes.StoreKey]), app.StakingKeeper, authority,
	)
	app.StakingKeeper.SetHooks(stakingtypes.NewMultiStakingHooks(app.DistrKeeper.Hooks(), app.SlashingKeeper.Hooks()))

	app.GovKeeper = govkeeper.NewKeeper(
		enc.Codec, runtime.NewKVStoreService(keys[govtypes.StoreKey]), app.AccountKeeper, app.BankKeeper,
		app.DistrKeeper, app.MsgServiceRouter(), govtypes.DefaultConfig(), authority,
		govkeeper.NewDefaultCalculateVoteResultsAndVotingPower(app.StakingKeeper),
	)
	// Legacy (v1beta1) text proposals, still sent by some wallets.
	legacyGovRouter := govv1beta1.NewRouter()
	legacyGovRouter.AddRoute(govtypes.RouterKey, govv1beta1.ProposalHandler)
	app.GovKeeper.SetLegacyRouter(legacyGovRouter)

	app.StorageKeeper = storagekeeper.NewKeeper(
		enc.Codec, runtime.NewKVStoreService(keys[storagetypes.StoreKey]), logger, authority,
		app.AccountKeeper, app.BankKeeper,
	)
	app.AttestKeeper = attestkeeper.NewKeeper(
		enc.Codec, runtime.NewKVStoreService(keys[attesttypes.StoreKey]), logger, authority,
		app.AccountKeeper, app.BankKeeper, app.StorageKeeper, proposerAccounts{app.StakingKeeper},
	)

	app.ModuleManager = module.NewManager(
		genutil.NewAppModule(app.AccountKeeper, app.StakingKeeper, app, enc.TxConfig),
		auth.NewAppModule(enc.Codec, app.AccountKeeper, nil, nil),
		bank.NewAppModule(enc.Codec, app.BankKeeper, app.AccountKeeper, nil),
		staking.NewAppModule(enc.Codec, app.StakingKeeper, app.AccountKeeper, app.BankKeeper, nil),
		distr.NewAppModule(enc.Codec, app.DistrKeeper, app.AccountKeeper, app.BankKeeper, app.StakingKeeper, nil),
		slashing.NewAppModule(enc.Codec, app.SlashingKeeper, app.AccountKeeper, app.BankKeeper, app.StakingKeeper, nil, enc.InterfaceRegistry),
		gov.NewAppModule(enc.Codec, app.GovKeeper, app.AccountKeeper, app.BankKeeper, nil),
		consensus.NewAppModule(enc.Codec, app.ConsensusKeeper),
		storage.NewAppModule(enc.Codec, app.StorageKeeper, app.AccountKeeper, app.BankKeeper),
		attest.NewAppModule(enc.Codec, app.AttestKeeper),
	)

	// The basic manager drives genesis defaults, validation and the CLI.
	// staking, gov and storage get wrappers so that default genesis uses udot.
	app.BasicModuleManager = module.NewBasicManagerFromManager(app.ModuleManager, map[string]module.AppModuleBasic{
		genutiltypes.ModuleName: genutil.NewAppModuleBasic(genutiltypes.DefaultMessageValidator),
		stakingtypes.ModuleName: stakingBasic{},
		govtypes.ModuleName:     govBasic{AppModuleBasic: gov.NewAppModuleBasic(nil)},
		storagetypes.ModuleName: storageBasic{AppModule: storage.NewAppModule(enc.Codec, app.StorageKeeper, app.AccountKeeper, app.BankKeeper)},
	})
	app.BasicModuleManager.RegisterLegacyAminoCodec(enc.Amino)
	app.BasicModuleManager.RegisterInterfaces(enc.InterfaceRegistry)

	// x/auth's pre-blocker prunes expired unordered-tx nonces.
	app.ModuleManager.SetOrderPreBlockers(authtypes.ModuleName)
	// Distribution pays out the previous block's fees before slashing
	// looks at missed signatures; staking updates the validator set.
	app.ModuleManager.SetOrderBeginBlockers(
		distrtypes.ModuleName, slashingtypes.ModuleName, stakingtypes.ModuleName,
	)
	// Bank must come first (its EndBlock finalises object-store writes).
	app.ModuleManager.SetOrderEndBlockers(
		banktypes.ModuleName, govtypes.ModuleName, stakingtypes.ModuleName,
		storagetypes.ModuleName, attesttypes.ModuleName,
	)
	// genutil runs after staking and bank so that gentxs see funded accounts
	// and the staking pools.
	genesisOrder := []string{
		consensustypes.ModuleName, authtypes.ModuleName, banktypes.ModuleName,
		distrtypes.ModuleName, stakingtypes.ModuleName, slashingtypes.ModuleName,
		govtypes.ModuleName, storagetypes.ModuleName, attesttypes.ModuleName, genutiltypes.ModuleName,
	}
	app.ModuleManager.SetOrderInitGenesis(genesisOrder...)
	app.ModuleManager.SetOrderExportGenesis(genesisOrder...)

	app.configurator = module.NewConfigurator(enc.Codec, app.MsgServiceRouter(), app.GRPCQueryRouter())
	if err := app.ModuleManager.RegisterServices(app.configurator); err != nil {
		return nil, fmt.Errorf("register module services: %w", err)
	}

	autocliv1.RegisterQueryServer(app.GRPCQueryRouter(), runtimeservices.NewAutoCLIQueryService(app.ModuleManager.Modules))
	reflectionSvc, err := runtimeservices.NewReflectionService()
	if err != nil {
		return nil, fmt.Errorf("reflection service: %w", err)
	}
	reflectionv1.RegisterReflectionServiceServer(app.GRPCQueryRouter(), reflectionSvc)

	app.MountKVStores(keys)

	app.SetInitChainer(app.InitChainer)
	app.SetPreBlocker(app.PreBlocker)
	app.SetBeginBlocker(app.BeginBlocker)
	app.SetEndBlocker(app.EndBlocker)

	anteHandler, err := ante.NewAnteHandler(ante.HandlerOptions{
		AccountKeeper:   app.AccountKeeper,
		BankKeeper:      app.BankKeeper,
		SignModeHandler: enc.TxConfig.SignModeHandler(),
		SigGasConsumer:  ante.DefaultSigVerificationGasConsumer,
	})
	if err != nil {
		return nil, fmt.Errorf("ante handler: %w", err)
	}
	app.SetAnteHandler(anteHandler)
	postHandler, err := posthandler.NewPostHandler(posthandler.HandlerOptions{})
	if err != nil {
		return nil, fmt.Errorf("post handler: %w", err)
	}
	app.SetPostHandler(postHandler)

	if loadLatest {
		if err := app.LoadLatestVersion(); err != nil {
			return nil, fmt.Errorf("load latest version: %w", err)
		}
	}
	return app, nil
}

// BlockedAddresses returns the module accounts that may not receive coins
// through MsgSend and friends: every module account of the app.
func BlockedAddresses() map[string]bool {
	blocked := make(map[string]bool)
	for name := range moduleAccountPermissions() {
		blocked[authtypes.NewModuleAddress(name).String()] = true
	}
	return blocked
}

// ModuleAccountPermissions returns a copy of the module account permissions.
func ModuleAccountPermissions() map[string][]string {
	return maps.Clone(moduleAccountPermissions())
}

// Name returns the app's name.
func (app *App) Name() string { return app.BaseApp.Name() }

// PreBlocker runs the modules' pre-blockers.
func (app *App) PreBlocker(ctx sdk.Context, _ *abci.RequestFinalizeBlock) (*sdk.ResponsePreBlock, error) {
	return app.ModuleManager.PreBlock(ctx)
}

// BeginBlocker runs the modules' begin-blockers.
func (app *App) BeginBlocker(ctx sdk.Context) (sdk.BeginBlock, error) {
	return app.ModuleManager.BeginBlock(ctx)
}

// EndBlocker runs the modules' end-blockers.
func (app *App) EndBlocker(ctx sdk.Context) (sdk.EndBlock, error) {
	return app.ModuleManager.EndBlock(ctx)
}

// InitChainer loads the genesis state into the modules.
func (app *App) InitChainer(ctx sdk.Context, req *abci.RequestInitChain) (*abci.ResponseInitChain, error) {
	var gs GenesisState
	if err := json.Unmarshal(req.AppStateBytes, &gs); err != nil {
		return nil, fmt.Errorf("decode genesis app state: %w", err)
	}
	return app.ModuleManager.InitGenesis(ctx, app.appCodec, gs)
}

// LoadHeight loads the state at a past height.
func (app *App) LoadHeight(height int64) error { return app.LoadVersion(height) }

// DefaultGenesis returns the default genesis of every module (in udot).
func (app *App) DefaultGenesis() GenesisState {
	return GenesisState(app.BasicModuleManager.DefaultGenesis(app.appCodec))
}

// LegacyAmino returns the amino codec (still needed by a few CLI paths).
func (app *App) LegacyAmino() *codec.LegacyAmino { return app.amino }

// AppCodec returns the protobuf codec.
func (app *App) AppCodec() codec.Codec { return app.appCodec }

// InterfaceRegistry returns the interface registry.
func (app *App) InterfaceRegistry() codectypes.InterfaceRegistry { return app.interfaceRegistry }

// TxConfig returns the tx encoding config.
func (app *App) TxConfig() client.TxConfig { return app.txConfig }

// EncodingConfig returns all codecs together.
func (app *App) EncodingConfig() EncodingConfig { return app.encoding }

// GetKey returns the KV store key of a module (for tests and tools).
func (app *App) GetKey(name string) *storetypes.KVStoreKey { return app.keys[name] }

// StoreKeys returns every KV store key, keyed by store name.
func (app *App) StoreKeys() map[string]*storetypes.KVStoreKey { return maps.Clone(app.keys) }

// AutoCliOpts returns the AutoCLI options for the app's modules, so that
// `datdotchaind tx` and `query` get a command for every Msg and Query.
func (app *App) AutoCliOpts() autocli.AppOptions {
	modules := make(map[string]appmodule.AppModule, len(app.ModuleManager.Modules))
	for name, m := range app.ModuleManager.Modules {
		if am, ok := m.(appmodule.AppModule); ok {
			modules[name] = am
		}
	}
	return autocli.AppOptions{
		Modules:               modules,
		ModuleOptions:         runtimeservices.ExtractAutoCLIOptions(app.ModuleManager.Modules),
		AddressCodec:          app.encoding.AddressCodec,
		ValidatorAddressCodec: app.encoding.ValidatorAddressCodec,
		ConsensusAddressCodec: app.encoding.ConsensusAddressCodec,
	}
}

// RegisterAPIRoutes registers the REST gateway routes of the tx service,
// CometBFT, the node service and every module.
func (app *App) RegisterAPIRoutes(apiSvr *api.Server, _ config.APIConfig) {
	clientCtx := apiSvr.ClientCtx
	authtx.RegisterGRPCGatewayRoutes(clientCtx, apiSvr.GRPCGatewayRouter)
	cmtservice.RegisterGRPCGatewayRoutes(clientCtx, apiSvr.GRPCGatewayRouter)
	nodeservice.RegisterGRPCGatewayRoutes(clientCtx, apiSvr.GRPCGatewayRouter)
	app.BasicModuleManager.RegisterGRPCGatewayRoutes(clientCtx, apiSvr.GRPCGatewayRouter)
}

// RegisterTxService registers the gRPC tx service (simulate, broadcast, get).
func (app *App) RegisterTxService(clientCtx client.Context) {
	authtx.RegisterTxService(app.GRPCQueryRouter(), clientCtx, app.Simulate, app.interfaceRegistry)
}

// RegisterTendermintService registers the gRPC CometBFT service.
func (app *App) RegisterTendermintService(clientCtx client.Context) {
	cmtApp := server.NewCometABCIWrapper(app)
	cmtservice.RegisterTendermintService(clientCtx, app.GRPCQueryRouter(), app.interfaceRegistry, cmtApp.Query)
}

// RegisterNodeService registers the gRPC node service.
func (app *App) RegisterNodeService(clientCtx client.Context, cfg config.Config) {
	nodeservice.RegisterNodeService(clientCtx, app.GRPCQueryRouter(), cfg, func() int64 {
		return app.CommitMultiStore().EarliestVersion()
	})
}
