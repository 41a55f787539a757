package main

import (
	"errors"
	"fmt"
	"os"

	cmtcfg "github.com/cometbft/cometbft/config"
	dbm "github.com/cosmos/cosmos-db"
	"github.com/spf13/cobra"

	"cosmossdk.io/log/v2"

	"github.com/cosmos/cosmos-sdk/client"
	"github.com/cosmos/cosmos-sdk/client/config"
	"github.com/cosmos/cosmos-sdk/client/debug"
	"github.com/cosmos/cosmos-sdk/client/flags"
	"github.com/cosmos/cosmos-sdk/client/keys"
	"github.com/cosmos/cosmos-sdk/client/pruning"
	"github.com/cosmos/cosmos-sdk/client/rpc"
	"github.com/cosmos/cosmos-sdk/client/snapshot"
	"github.com/cosmos/cosmos-sdk/server"
	serverconfig "github.com/cosmos/cosmos-sdk/server/config"
	servertypes "github.com/cosmos/cosmos-sdk/server/types"
	"github.com/cosmos/cosmos-sdk/types/module"
	authcmd "github.com/cosmos/cosmos-sdk/x/auth/client/cli"
	authtypes "github.com/cosmos/cosmos-sdk/x/auth/types"
	genutilcli "github.com/cosmos/cosmos-sdk/x/genutil/client/cli"

	"github.com/datdot/datdot/app"
)

// NewRootCmd builds the datdotchaind command tree. A throw-away app instance
// on an in-memory database supplies the codecs and the AutoCLI descriptors.
func NewRootCmd() (*cobra.Command, error) {
	tempApp, err := app.New(log.NewNopLogger(), dbm.NewMemDB(), false, appOptions{flags.FlagHome: os.TempDir()})
	if err != nil {
		return nil, fmt.Errorf("build app for the CLI: %w", err)
	}
	enc := tempApp.EncodingConfig()

	initClientCtx := client.Context{}.
		WithCodec(enc.Codec).
		WithInterfaceRegistry(enc.InterfaceRegistry).
		WithTxConfig(enc.TxConfig).
		WithLegacyAmino(enc.Amino).
		WithInput(os.Stdin).
		WithAccountRetriever(authtypes.AccountRetriever{}).
		WithHomeDir(app.DefaultNodeHome()).
		WithViper("DATDOTCHAIND")

	rootCmd := &cobra.Command{
		Use:           "datdotchaind",
		Short:         "DatDot chain node: storage orders, hosters and escrow on a Cosmos SDK chain",
		SilenceErrors: true,
		PersistentPreRunE: func(cmd *cobra.Command, _ []string) error {
			cmd.SetOut(cmd.OutOrStdout())
			cmd.SetErr(cmd.ErrOrStderr())

			ctx := initClientCtx.WithCmdContext(cmd.Context())
			ctx, err := client.ReadPersistentCommandFlags(ctx, cmd.Flags())
			if err != nil {
				return err
			}
			ctx, err = config.ReadFromClientConfig(ctx)
			if err != nil {
				return err
			}
			if err := client.SetCmdClientContextHandler(ctx, cmd); err != nil {
				return err
			}
			appTemplate, appConfig := appConfigDefaults()
			return server.InterceptConfigsPreRunHandler(cmd, appTemplate, appConfig, cometConfigDefaults())
		},
	}

	initRootCmd(rootCmd, enc.TxConfig, tempApp.BasicModuleManager)

	autoCliOpts := tempApp.AutoCliOpts()
	autoCliOpts.ClientCtx = initClientCtx
	if err := autoCliOpts.EnhanceRootCommand(rootCmd); err != nil {
		return nil, fmt.Errorf("autocli: %w", err)
	}
	return rootCmd, nil
}

func initRootCmd(rootCmd *cobra.Command, txConfig client.TxConfig, basics module.BasicManager) {
	home := app.DefaultNodeHome()
	rootCmd.AddCommand(
		genutilcli.InitCmd(basics, home),
		debug.Cmd(),
		pruning.Cmd(newApp, home),
		snapshot.Cmd(newApp),
	)
	server.AddCommands(rootCmd, home, newApp, exportApp, func(*cobra.Command) {})
	rootCmd.AddCommand(
		server.StatusCommand(),
		genutilcli.Commands(txConfig, basics, home),
		queryCommand(),
		txCommand(),
		keys.Commands(),
	)
}

func queryCommand() *cobra.Command {
	cmd := &cobra.Command{
		Use:                        "query",
		Aliases:                    []string{"q"},
		Short:                      "Querying subcommands",
		DisableFlagParsing:         false,
		SuggestionsMinimumDistance: 2,
		RunE:                       client.ValidateCmd,
	}
	cmd.AddCommand(
		rpc.QueryEventForTxCmd(),
		rpc.WaitTxCmd(),
		rpc.ValidatorCommand(),
		server.QueryBlockCmd(),
		server.QueryBlocksCmd(),
		server.QueryBlockResultsCmd(),
		authcmd.QueryTxsByEventsCmd(),
		authcmd.QueryTxCmd(),
	)
	return cmd
}

func txCommand() *cobra.Command {
	cmd := &cobra.Command{
		Use:                        "tx",
		Short:                      "Transactions subcommands",
		DisableFlagParsing:         false,
		SuggestionsMinimumDistance: 2,
		RunE:                       client.ValidateCmd,
	}
	cmd.AddCommand(
		authcmd.GetSignCommand(),
		authcmd.GetSignBatchCommand(),
		authcmd.GetMultiSignCommand(),
		authcmd.GetMultiSignBatchCmd(),
		authcmd.GetValidateSignaturesCommand(),
		authcmd.GetBroadcastCommand(),
		authcmd.GetEncodeCommand(),
		authcmd.GetDecodeCommand(),
		authcmd.GetSimulateCmd(),
	)
	return cmd
}

// newApp is the server's AppCreator: the app on the node's database, with
// the base-app options (pruning, min gas prices, snapshots...) from app.toml.
func newApp(logger log.Logger, db dbm.DB, appOpts servertypes.AppOptions) servertypes.Application {
	a, err := app.New(logger, db, true, appOpts, server.DefaultBaseappOptions(appOpts)...)
	if err != nil {
		// The server's AppCreator has no error return; a node that cannot
		// build its app must not start.
		panic(fmt.Errorf("datdotchaind: %w", err))
	}
	return a
}

// exportApp is the server's AppExporter (`datdotchaind export`).
func exportApp(
	logger log.Logger, db dbm.DB, height int64, forZeroHeight bool,
	jailAllowedAddrs []string, appOpts servertypes.AppOptions, modulesToExport []string,
) (servertypes.ExportedApp, error) {
	homePath, ok := appOpts.Get(flags.FlagHome).(string)
	if !ok || homePath == "" {
		return servertypes.ExportedApp{}, errors.New("application home is not set")
	}
	// Every export reads state, it never writes: load the requested height
	// (or the latest) and export it.
	a, err := app.New(logger, db, height == -1, appOpts)
	if err != nil {
		return servertypes.ExportedApp{}, err
	}
	if height != -1 {
		if err := a.LoadHeight(height); err != nil {
			return servertypes.ExportedApp{}, fmt.Errorf("load height %d: %w", height, err)
		}
	}
	return a.ExportAppStateAndValidators(forZeroHeight, jailAllowedAddrs, modulesToExport)
}

// appConfigDefaults is the app.toml written by `init`: the REST gateway and
// gRPC are on, and a node refuses zero-fee transactions by default.
func appConfigDefaults() (string, any) {
	cfg := serverconfig.DefaultConfig()
	cfg.MinGasPrices = "0.001" + app.BondDenom
	cfg.API.Enable = true
	cfg.GRPC.Enable = true
	return serverconfig.DefaultConfigTemplate, cfg
}

// cometConfigDefaults is the config.toml written by `init`: CometBFT's
// defaults, with the SDK's 5 s commit timeout (scripts/localnet.sh
// shortens it to 200 ms).
func cometConfigDefaults() *cmtcfg.Config {
	return cmtcfg.DefaultConfig()
}

// appOptions is a minimal servertypes.AppOptions over a map.
type appOptions map[string]any

func (o appOptions) Get(key string) any { return o[key] }
