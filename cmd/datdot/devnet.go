package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strings"

	"github.com/spf13/pflag"
	"github.com/spf13/viper"

	"github.com/datdot/datdot/devnet"
)

// runDevnet starts a whole DatDot network on this machine (see package
// devnet). Flags, DATDOT_DEVNET_* environment variables and an optional
// <home>/devnet.toml set its configuration, in that order of precedence.
func runDevnet(ctx context.Context, args []string) error {
	c, err := devnetConfig(args)
	if errors.Is(err, pflag.ErrHelp) {
		return nil
	}
	if err != nil {
		return err
	}
	return devnet.Run(ctx, c, slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelInfo})), os.Stdout)
}

func devnetConfig(args []string) (devnet.Config, error) {
	d := devnet.Defaults()
	fs := pflag.NewFlagSet("devnet", pflag.ContinueOnError)
	fs.String("home", d.Home, "directory holding the devnet's state (chain, gateway, hosters, logs, devnet.env)")
	fs.Bool("fresh", false, "wipe the state in --home and start a new network")
	fs.Int("hosters", d.Hosters, "hoster daemons to run")
	fs.Int("rpc-port", d.RPCPort, "chain RPC port (CometBFT)")
	fs.Int("p2p-port", d.P2PPort, "chain P2P port")
	fs.Int("grpc-port", d.GRPCPort, "chain gRPC port")
	fs.Int("api-port", d.APIPort, "chain REST port")
	fs.String("gateway-listen", d.GatewayListen, "address of the S3 gateway")
	fs.String("dashboard-listen", d.DashboardListen, "address of the dashboard")
	fs.Duration("block-time", d.BlockTime, "target time between blocks (CometBFT timeout_commit)")
	fs.String("bucket", d.Bucket, "bucket made at the first start and named in the printed settings")
	fs.Int("epoch-blocks", d.Params.EpochBlocks, "storage payment epoch in blocks (new chains only)")
	fs.String("backend", d.Backend, "the gateway's backend: network (volumes ordered on chain, erasure-coded over the hosters, challenged) or local (files under <home>/gateway)")
	fs.Int("erasure-k", d.ErasureK, "network backend: data cores per volume")
	fs.Int("erasure-m", d.ErasureM, "network backend: parity cores per volume (needs --hosters >= k+m; the rest are spares)")
	fs.String("order-max-price", d.OrderMaxPrice, "network backend: highest price of a volume's order, udot per GiB and epoch")
	fs.Uint64("order-epochs", d.OrderEpochs, "network backend: duration of a volume's order in epochs")
	fs.String("order-deposit", d.OrderDeposit, "network backend: escrow deposited with each volume's order")
	fs.String("chain-bin", "", "datdotchaind binary (default: beside datdot, then $PATH)")
	fs.Usage = func() {
		fmt.Fprint(os.Stderr, "usage: datdot devnet [flags]\n\nRuns a whole DatDot network on 127.0.0.1: a one-validator chain, hosters, the S3\ngateway and the dashboard. Ctrl-C stops it; running it again resumes.\nEvery flag can also be set as DATDOT_DEVNET_<FLAG> (dashes as underscores)\nor in <home>/devnet.toml.\n\nFlags:\n")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return d, err
	}
	if fs.NArg() > 0 {
		return d, fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	v := viper.New()
	v.SetEnvPrefix("DATDOT_DEVNET")
	v.SetEnvKeyReplacer(strings.NewReplacer("-", "_"))
	v.AutomaticEnv()
	if err := v.BindPFlags(fs); err != nil {
		return d, err
	}
	v.SetConfigFile(filepath.Join(v.GetString("home"), "devnet.toml"))
	if err := v.ReadInConfig(); err != nil && !errors.Is(err, os.ErrNotExist) {
		var nf viper.ConfigFileNotFoundError
		if !errors.As(err, &nf) {
			return d, fmt.Errorf("devnet.toml: %w", err)
		}
	}
	c := d
	c.Home = v.GetString("home")
	c.Fresh = v.GetBool("fresh")
	c.Hosters = v.GetInt("hosters")
	c.RPCPort = v.GetInt("rpc-port")
	c.P2PPort = v.GetInt("p2p-port")
	c.GRPCPort = v.GetInt("grpc-port")
	c.APIPort = v.GetInt("api-port")
	c.GatewayListen = v.GetString("gateway-listen")
	c.DashboardListen = v.GetString("dashboard-listen")
	c.BlockTime = v.GetDuration("block-time")
	c.Bucket = v.GetString("bucket")
	c.Params.EpochBlocks = v.GetInt("epoch-blocks")
	c.Backend = v.GetString("backend")
	c.ErasureK = v.GetInt("erasure-k")
	c.ErasureM = v.GetInt("erasure-m")
	c.OrderMaxPrice = v.GetString("order-max-price")
	c.OrderEpochs = v.GetUint64("order-epochs")
	c.OrderDeposit = v.GetString("order-deposit")

	self, err := os.Executable()
	if err != nil {
		return c, err
	}
	c.DatdotBin = self
	c.ChainBin = v.GetString("chain-bin")
	if c.ChainBin == "" {
		c.ChainBin = filepath.Join(filepath.Dir(self), "datdotchaind")
		if _, err := os.Stat(c.ChainBin); err != nil {
			p, err := exec.LookPath("datdotchaind")
			if err != nil {
				return c, errors.New("datdotchaind not found beside datdot nor in $PATH (make build, or --chain-bin)")
			}
			c.ChainBin = p
		}
	}
	_, c.HosterCommand = commands()["hoster"]
	return c, nil
}
