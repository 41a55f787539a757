package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/spf13/pflag"
	"github.com/spf13/viper"

	"cosmossdk.io/math"
	sdk "github.com/cosmos/cosmos-sdk/types"
	"github.com/cosmos/cosmos-sdk/types/query"

	"github.com/datdot/datdot/chainclient"
	"github.com/datdot/datdot/hoster/client"
	"github.com/datdot/datdot/hoster/daemon"
	attesttypes "github.com/datdot/datdot/x/attest/types"
	storagetypes "github.com/datdot/datdot/x/storage/types"
)

// hosterConfigFile is the config file name in the hoster's home.
const hosterConfigFile = "hoster.toml"

// hosterConfigTemplate is what `datdot hoster init` writes. Every key can
// also be set as DATDOT_HOSTER_<KEY> (dots become underscores, e.g.
// DATDOT_HOSTER_CHAIN_GRPC) or as a flag --<key> (e.g. --chain.grpc).
const hosterConfigTemplate = `# datdot hoster configuration.
# Every key can be overridden by the environment (DATDOT_HOSTER_<KEY>, dots
# as underscores: DATDOT_HOSTER_CHAIN_GRPC) and by flags (--chain.grpc).

# Where cores (one directory each) and the daemon's state (state.db) live.
data_dir = %q
# Address the HTTP API listens on.
listen = %q
# Public URL of the HTTP API, registered on chain: writers push to it,
# readers and attestors read from it.
endpoint = %q
# Bytes of core data offered (registered on chain; pushes beyond it are refused).
capacity = %d
# Bytes always kept free on the data disk (pushes that would eat into it are refused).
reserve = %d
# Region and price (udot per GiB per epoch) registered on chain.
region = %q
price = %q
# Stake escrowed by "datdot hoster register".
stake = %q
# Log level: debug, info, warn, error.
log_level = %q

[chain]
# The chain node: gRPC (host:port) and CometBFT RPC (URL).
grpc = %q
rpc = %q
# Chain id; empty: ask the node.
chain_id = %q
# The hoster's key, in a Cosmos keyring as "datdotchaind keys" makes it.
keyring_dir = %q
keyring_backend = %q
key = %q
# Fee: udot per gas unit.
gas_price = %v

[scrub]
# Rate of the background re-read of stored blocks, and the pause between passes.
bytes_per_second = %d
pause = %q

[replication]
# TCP address where the hoster speaks the Hypercore replication protocol
# (dat): every core it holds is served there to any Hypercore peer.
# Empty: not served (replicated-core orders are still fetched).
listen = %q
# host:port announced in the hoster's on-chain record (empty: the listen
# address, unless it is 0.0.0.0 or ::).
address = %q

[debug]
# Serve the Go profiler (net/http/pprof) on this loopback address, e.g.
# "127.0.0.1:6061". Empty: off.
pprof = %q
`

// hosterViper reads the configuration: defaults < file < environment < flags.
func hosterViper(fs *pflag.FlagSet, args []string) (*viper.Viper, error) {
	fs.String("home", defaultHosterHome(), "hoster home (holds "+hosterConfigFile+")")
	fs.String("data_dir", "", "data directory (default HOME/data)")
	fs.String("listen", "", "HTTP API listen address")
	fs.String("endpoint", "", "public URL of the HTTP API")
	fs.Uint64("capacity", 0, "bytes of core data offered")
	fs.Uint64("reserve", 0, "bytes kept free on disk")
	fs.String("region", "", "region registered on chain")
	fs.String("price", "", "price in udot per GiB per epoch")
	fs.String("stake", "", "stake to escrow, e.g. 1000000udot")
	fs.String("log_level", "", "debug, info, warn or error")
	fs.String("chain.grpc", "", "chain gRPC address host:port")
	fs.String("chain.rpc", "", "chain CometBFT RPC URL")
	fs.String("chain.chain_id", "", "chain id (empty: ask the node)")
	fs.String("chain.keyring_dir", "", "keyring directory")
	fs.String("chain.keyring_backend", "", "keyring backend: test, file, os")
	fs.String("chain.key", "", "key name in the keyring")
	fs.Float64("chain.gas_price", 0, "udot per gas unit")
	fs.Int64("scrub.bytes_per_second", 0, "scrubber rate")
	fs.Duration("scrub.pause", 0, "pause between scrub passes")
	fs.String("replication.listen", "", "TCP address of the Hypercore replication listener (empty: off)")
	fs.String("debug.pprof", "", "serve the Go profiler (net/http/pprof) on this loopback address, e.g. 127.0.0.1:6061 (off when empty)")
	fs.String("replication.address", "", "replication host:port announced on chain (default: the listen address)")
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	v := viper.New()
	v.SetDefault("listen", "127.0.0.1:9001")
	v.SetDefault("endpoint", "http://127.0.0.1:9001")
	v.SetDefault("reserve", 256<<20)
	v.SetDefault("region", "local")
	v.SetDefault("price", "100")
	v.SetDefault("stake", "1000000udot")
	v.SetDefault("log_level", "info")
	v.SetDefault("chain.grpc", "127.0.0.1:9090")
	v.SetDefault("chain.rpc", "http://127.0.0.1:26657")
	v.SetDefault("chain.keyring_backend", "test")
	v.SetDefault("chain.gas_price", 0.002)
	v.SetDefault("scrub.bytes_per_second", 8<<20)
	v.SetDefault("scrub.pause", "1m")
	v.SetEnvPrefix("DATDOT_HOSTER")
	v.SetEnvKeyReplacer(strings.NewReplacer(".", "_"))
	v.AutomaticEnv()
	// Flags override only when given.
	var bindErr error
	fs.Visit(func(f *pflag.Flag) {
		if err := v.BindPFlag(f.Name, f); err != nil {
			bindErr = err
		}
	})
	if bindErr != nil {
		return nil, bindErr
	}
	home := v.GetString("home")
	if home == "" {
		home, _ = fs.GetString("home")
		v.Set("home", home)
	}
	v.SetConfigFile(filepath.Join(home, hosterConfigFile))
	v.SetConfigType("toml")
	if err := v.ReadInConfig(); err != nil && !errors.Is(err, os.ErrNotExist) {
		var nf viper.ConfigFileNotFoundError
		if !errors.As(err, &nf) && !os.IsNotExist(unwrapPathError(err)) {
			return nil, fmt.Errorf("config %s: %w", v.ConfigFileUsed(), err)
		}
	}
	if v.GetString("data_dir") == "" {
		v.Set("data_dir", filepath.Join(home, "data"))
	}
	return v, nil
}

func unwrapPathError(err error) error {
	var pe *os.PathError
	if errors.As(err, &pe) {
		return pe
	}
	return err
}

func defaultHosterHome() string {
	if h := os.Getenv("DATDOT_HOSTER_HOME"); h != "" {
		return h
	}
	if d, err := os.UserHomeDir(); err == nil {
		return filepath.Join(d, ".datdot-hoster")
	}
	return ".datdot-hoster"
}

func runHoster(ctx context.Context, args []string) error {
	sub := map[string]func(context.Context, []string) error{
		"init":     hosterInit,
		"register": hosterRegister,
		"start":    hosterStart,
		"status":   hosterStatus,
	}
	if len(args) == 0 || sub[args[0]] == nil {
		return errors.New(`usage: datdot hoster <command> [--home DIR] [flags]
  init      write a commented config file HOME/hoster.toml (flags set its values)
  register  register on chain: stake, capacity, endpoint, region, price
  start     run the daemon (HTTP API, chain follower, scrubber) until SIGTERM
  status    print what the hoster holds and owes (JSON)
every config key is also DATDOT_HOSTER_<KEY> and --<key>; see hoster/README.md`)
	}
	return sub[args[0]](ctx, args[1:])
}

func hosterInit(_ context.Context, args []string) error {
	fs := pflag.NewFlagSet("datdot hoster init", pflag.ContinueOnError)
	force := fs.Bool("force", false, "overwrite an existing config file")
	v, err := hosterViper(fs, args)
	if err != nil {
		return err
	}
	home := v.GetString("home")
	path := filepath.Join(home, hosterConfigFile)
	if _, err := os.Stat(path); err == nil && !*force {
		return fmt.Errorf("%s exists (use --force to overwrite)", path)
	}
	if err := os.MkdirAll(home, 0o755); err != nil {
		return err
	}
	body := fmt.Sprintf(hosterConfigTemplate, v.GetString("data_dir"), v.GetString("listen"), v.GetString("endpoint"),
		v.GetUint64("capacity"), v.GetUint64("reserve"), v.GetString("region"), v.GetString("price"), v.GetString("stake"),
		v.GetString("log_level"),
		v.GetString("chain.grpc"), v.GetString("chain.rpc"), v.GetString("chain.chain_id"),
		v.GetString("chain.keyring_dir"), v.GetString("chain.keyring_backend"), v.GetString("chain.key"), v.GetFloat64("chain.gas_price"),
		v.GetInt64("scrub.bytes_per_second"), v.GetDuration("scrub.pause").String(),
		v.GetString("replication.listen"), v.GetString("replication.address"), v.GetString("debug.pprof"))
	if err := os.WriteFile(path, []byte(body), 0o644); err != nil {
		return err
	}
	fmt.Println(path)
	return nil
}

func hosterLogger(v *viper.Viper) (*slog.Logger, error) {
	var level slog.Level
	if err := level.UnmarshalText([]byte(v.GetString("log_level"))); err != nil {
		return nil, fmt.Errorf("log_level: %w", err)
	}
	return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level})), nil
}

func chainConfig(v *viper.Viper) chainclient.Config {
	return chainclient.Config{
		GRPC: v.GetString("chain.grpc"), RPC: v.GetString("chain.rpc"), ChainID: v.GetString("chain.chain_id"),
		KeyringDir: v.GetString("chain.keyring_dir"), KeyringBackend: v.GetString("chain.keyring_backend"), KeyName: v.GetString("chain.key"),
		GasPrice: v.GetFloat64("chain.gas_price"),
	}
}

func hosterStart(ctx context.Context, args []string) error {
	v, err := hosterViper(pflag.NewFlagSet("datdot hoster start", pflag.ContinueOnError), args)
	if err != nil {
		return err
	}
	log, err := hosterLogger(v)
	if err != nil {
		return err
	}
	cfg := daemon.Config{
		DataDir: v.GetString("data_dir"), Listen: v.GetString("listen"), Endpoint: v.GetString("endpoint"),
		Capacity: v.GetUint64("capacity"), Reserve: v.GetUint64("reserve"),
		ScrubBytesPerSecond: v.GetInt64("scrub.bytes_per_second"), ScrubPause: v.GetDuration("scrub.pause"),
		Chain:             chainConfig(v),
		ReplicationListen: v.GetString("replication.listen"), ReplicationAddress: v.GetString("replication.address"),
		PprofListen: v.GetString("debug.pprof"),
	}
	return daemon.Run(ctx, cfg, log, func(addr string) { log.Info("listening", "addr", addr) })
}

func hosterRegister(ctx context.Context, args []string) error {
	v, err := hosterViper(pflag.NewFlagSet("datdot hoster register", pflag.ContinueOnError), args)
	if err != nil {
		return err
	}
	c, err := chainclient.New(ctx, chainConfig(v))
	if err != nil {
		return err
	}
	defer c.Close()
	stake, err := sdk.ParseCoinNormalized(v.GetString("stake"))
	if err != nil {
		return fmt.Errorf("stake: %w", err)
	}
	price, ok := math.NewIntFromString(v.GetString("price"))
	if !ok {
		return fmt.Errorf("price %q: want an integer (udot per GiB per epoch)", v.GetString("price"))
	}
	if h, err := c.Storage().Hoster(ctx, &storagetypes.QueryHosterRequest{Address: c.Address()}); err == nil {
		fmt.Printf("%s is already registered (endpoint %s, capacity %d, status %s)\n", c.Address(), h.Hoster.Endpoint, h.Hoster.Capacity, h.Hoster.Status)
		return nil
	}
	res, err := c.SendAndWait(ctx, &storagetypes.MsgRegisterHoster{
		Hoster: c.Address(), Stake: stake, Capacity: v.GetUint64("capacity"), Endpoint: v.GetString("endpoint"),
		Region: v.GetString("region"), PricePerGibEpoch: price, ReplicationAddress: announcedReplication(v),
	})
	if err != nil {
		return err
	}
	fmt.Printf("registered %s at height %d (tx %s)\n", c.Address(), res.Height, res.Hash)
	return nil
}

// hosterStatusJSON is what `datdot hoster status` prints.
type hosterStatusJSON struct {
	Address     string               `json:"address"`
	Registered  bool                 `json:"registered"`
	Hoster      *storagetypes.Hoster `json:"hoster,omitempty"`
	Accrued     string               `json:"accrued,omitempty"`
	Daemon      string               `json:"daemon"` // "up" or the error reaching the HTTP API
	Assignments []slotStatusJSON     `json:"assignments"`
	// Record is the hoster's x/attest record (passes, faults, slashed, ...).
	Record *attesttypes.HosterRecord `json:"record,omitempty"`
	// Challenges are the storage challenges the hoster owes an answer to.
	Challenges []attesttypes.Challenge `json:"open_challenges"`
}

type slotStatusJSON struct {
	OrderID         uint64 `json:"order_id"`
	CoreIndex       uint32 `json:"core_index"`
	Replica         uint32 `json:"replica"`
	Key             string `json:"key"`
	Length          uint64 `json:"length"`           // the order's length for the core
	CommittedLength uint64 `json:"committed_length"` // what this hoster committed
	HeldLength      uint64 `json:"held_length"`      // what the daemon holds durably
	Accrued         string `json:"accrued"`
}

func hosterStatus(ctx context.Context, args []string) error {
	v, err := hosterViper(pflag.NewFlagSet("datdot hoster status", pflag.ContinueOnError), args)
	if err != nil {
		return err
	}
	c, err := chainclient.New(ctx, chainConfig(v))
	if err != nil {
		return err
	}
	defer c.Close()
	out := hosterStatusJSON{Address: c.Address(), Assignments: []slotStatusJSON{}}
	q := c.Storage()
	if h, err := q.Hoster(ctx, &storagetypes.QueryHosterRequest{Address: c.Address()}); err == nil {
		out.Registered, out.Hoster, out.Accrued = true, &h.Hoster, h.Accrued.String()
	}
	hc, err := client.New(v.GetString("endpoint"), &http.Client{Timeout: 10 * time.Second})
	if err != nil {
		return err
	}
	out.Daemon = "up"
	if err := hc.Health(ctx); err != nil {
		out.Daemon = err.Error()
	}
	var key []byte
	for {
		res, err := q.AssignmentsByHoster(ctx, &storagetypes.QueryAssignmentsByHosterRequest{Hoster: c.Address(), Pagination: &query.PageRequest{Key: key, Limit: 200}})
		if err != nil {
			return err
		}
		for _, a := range res.Assignments {
			o, err := q.Order(ctx, &storagetypes.QueryOrderRequest{Id: a.Assignment.OrderId})
			if err != nil {
				return err
			}
			core := o.Order.Cores[a.Assignment.CoreIndex]
			s := slotStatusJSON{OrderID: a.Assignment.OrderId, CoreIndex: a.Assignment.CoreIndex, Replica: a.Assignment.Replica,
				Key: fmt.Sprintf("%x", core.Key), Length: core.Length, CommittedLength: a.Assignment.CommittedLength, Accrued: a.Accrued.String()}
			var k [32]byte
			copy(k[:], core.Key)
			if info, err := hc.Info(ctx, k); err == nil {
				s.HeldLength = info.Length
			}
			out.Assignments = append(out.Assignments, s)
		}
		if res.Pagination == nil || len(res.Pagination.NextKey) == 0 {
			break
		}
		key = res.Pagination.NextKey
	}
	aq := attesttypes.NewQueryClient(c.Conn())
	if r, err := aq.HosterRecord(ctx, &attesttypes.QueryHosterRecordRequest{Hoster: c.Address()}); err == nil {
		out.Record = &r.Record
	}
	out.Challenges = []attesttypes.Challenge{}
	if r, err := aq.ChallengesByHoster(ctx, &attesttypes.QueryChallengesByHosterRequest{Hoster: c.Address(), Pagination: &query.PageRequest{Limit: 1000}}); err == nil {
		out.Challenges = r.Challenges
	}
	enc := json.NewEncoder(os.Stdout)
	enc.SetIndent("", "  ")
	return enc.Encode(out)
}

// announcedReplication is the replication address `hoster register`
// puts on chain: replication.address, else replication.listen when it
// names a host and a port (not 0.0.0.0, ::, or port 0).
func announcedReplication(v *viper.Viper) string {
	if a := v.GetString("replication.address"); a != "" {
		return a
	}
	host, port, err := net.SplitHostPort(v.GetString("replication.listen"))
	if err != nil || port == "0" || host == "" {
		return ""
	}
	if ip := net.ParseIP(host); ip != nil && ip.IsUnspecified() {
		return ""
	}
	return net.JoinHostPort(host, port)
}
