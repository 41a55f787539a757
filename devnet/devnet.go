// Package devnet runs a whole DatDot network on one machine, on loopback:
// a one-validator chain with short blocks, hoster daemons, the S3 gateway
// and the dashboard. It supervises them as child processes, keeps their
// state in one home directory (so a second run resumes where the first
// stopped) and writes ready-to-use client settings to <home>/devnet.env.
package devnet

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"syscall"
	"time"
)

// Params are the chain parameters the devnet sets in a new genesis.
type Params struct {
	EpochBlocks     int // storage payment epoch, in blocks
	UnbondingBlocks int // hoster unbonding period, in blocks
}

// Config is what `datdot devnet` runs.
type Config struct {
	Home    string // state of every process; resumed when it exists
	Fresh   bool   // wipe Home's state first
	Hosters int    // hoster daemons to run

	Host            string // loopback address everything listens on
	RPCPort         int
	P2PPort         int
	GRPCPort        int
	APIPort         int
	GatewayListen   string // host:port of the S3 gateway
	DashboardListen string // host:port of the dashboard
	BlockTime       time.Duration
	Bucket          string // made at the first start, for the printed settings
	Params          Params

	// Backend is the gateway's backend: "network" (volumes ordered on
	// chain, erasure-coded over the devnet's hosters, challenged by
	// x/attest) or "local" (files in the gateway's data directory).
	Backend string
	// ErasureK data and ErasureM parity cores per volume (network backend);
	// the devnet needs at least K+M hosters and waits for them to be
	// active on chain before it starts the gateway.
	ErasureK, ErasureM int
	// Order terms of each volume (network backend), paid by the genesis
	// account "gateway": highest price in udot per GiB and epoch, duration
	// in epochs, and the escrow deposited with it.
	OrderMaxPrice string
	OrderEpochs   uint64
	OrderDeposit  string

	ChainBin  string // datdotchaind
	DatdotBin string // datdot (gateway, hoster)
	// HosterCommand says whether DatdotBin has `datdot hoster`.
	HosterCommand bool
}

// Defaults returns the embedded defaults: the well-known local ports, so the
// printed settings stay the same from one run to the next.
func Defaults() Config {
	return Config{
		Home:            ".devnet",
		Hosters:         6,
		Host:            "127.0.0.1",
		RPCPort:         26657,
		P2PPort:         26656,
		GRPCPort:        9090,
		APIPort:         1317,
		GatewayListen:   "127.0.0.1:9000",
		DashboardListen: "127.0.0.1:9100",
		BlockTime:       500 * time.Millisecond,
		Bucket:          "media",
		Params:          Params{EpochBlocks: 10, UnbondingBlocks: 20},
		Backend:         "network",
		// 2 data + 2 parity cores: any two hosters may be lost and every
		// object still reads; with 6 hosters two are spares that take
		// over the slots of a hoster that is faulted out.
		ErasureK:      2,
		ErasureM:      2,
		OrderMaxPrice: "200", // the hosters ask 100..170 udot per GiB and epoch
		// At 10 blocks of 0.5 s an epoch is 5 s: 1,000,000 epochs ≈ 58
		// days, the chain's max_duration_epochs. The deposit covers it
		// for full 1 GiB cores (4 × 200 × 1e6 = 8e8); genesis gives the
		// gateway account 1e12 udot, enough for a thousand volumes.
		OrderEpochs:  1_000_000,
		OrderDeposit: "1000000000udot",
	}
}

func (c Config) addr(port int) string { return net.JoinHostPort(c.Host, strconv.Itoa(port)) }

// Paths inside the home.
func (c Config) chainHome() string   { return filepath.Join(c.Home, "chain") }
func (c Config) gatewayData() string { return filepath.Join(c.Home, "gateway") }
func (c Config) keysFile() string    { return filepath.Join(c.Home, "gateway.keys") }
func (c Config) logDir() string      { return filepath.Join(c.Home, "logs") }
func (c Config) hosterHome(i int) string {
	return filepath.Join(c.Home, "hosters", hosterName(i))
}

// EnvFile is where Run writes the client settings as shell variables.
func (c Config) EnvFile() string { return filepath.Join(c.Home, "devnet.env") }

func (c Config) validate() error {
	switch {
	case c.Home == "":
		return errors.New("devnet: --home is empty")
	case c.Hosters < 0 || c.Hosters > GenesisHosterAccounts:
		return fmt.Errorf("devnet: --hosters must be between 0 and %d", GenesisHosterAccounts)
	case c.BlockTime <= 0:
		return errors.New("devnet: --block-time must be positive")
	case c.ChainBin == "" || c.DatdotBin == "":
		return errors.New("devnet: the datdotchaind and datdot binaries are not set")
	}
	switch c.Backend {
	case "local":
	case "network":
		switch {
		case c.ErasureK < 1 || c.ErasureM < 0:
			return fmt.Errorf("devnet: --erasure-k %d --erasure-m %d: want k >= 1 and m >= 0", c.ErasureK, c.ErasureM)
		case c.Hosters < c.ErasureK+c.ErasureM:
			return fmt.Errorf("devnet: the network backend needs a hoster per core: --hosters %d < --erasure-k %d + --erasure-m %d (or --backend local)", c.Hosters, c.ErasureK, c.ErasureM)
		case !c.HosterCommand:
			return errors.New("devnet: this datdot has no hoster daemon (`datdot hoster`): use --backend local")
		}
	default:
		return fmt.Errorf("devnet: --backend %q, want network or local", c.Backend)
	}
	for _, p := range []int{c.RPCPort, c.P2PPort, c.GRPCPort, c.APIPort} {
		if p <= 0 || p > 65535 {
			return fmt.Errorf("devnet: port %d out of range", p)
		}
	}
	return nil
}

// Run starts the devnet and supervises it until ctx ends (Ctrl-C), then
// stops every process. out receives the human-readable summary.
func Run(ctx context.Context, c Config, log *slog.Logger, out io.Writer) error {
	if err := c.validate(); err != nil {
		return err
	}
	home, err := filepath.Abs(c.Home)
	if err != nil {
		return fmt.Errorf("devnet: %w", err)
	}
	c.Home = home
	if err := os.MkdirAll(c.Home, 0o755); err != nil {
		return fmt.Errorf("devnet: %w", err)
	}
	unlock, err := lockHome(c.Home)
	if err != nil {
		return err
	}
	defer unlock()

	// Ports first: a start refused for a busy port changes nothing, not
	// even with --fresh.
	if err := c.checkPorts(); err != nil {
		return err
	}
	if c.Fresh {
		for _, dir := range []string{c.chainHome(), c.chainHome() + ".init", c.gatewayData(), c.keysFile(), filepath.Join(c.Home, "hosters"), c.logDir(), c.EnvFile(), filepath.Join(c.Home, "state")} {
			if err := os.RemoveAll(dir); err != nil {
				return fmt.Errorf("devnet: --fresh: %w", err)
			}
		}
	}

	// The dashboard's port is taken now, before any process picks a free
	// port of its own.
	dashLn, err := net.Listen("tcp", c.DashboardListen)
	if err != nil {
		return fmt.Errorf("devnet: dashboard: %w", err)
	}
	defer dashLn.Close()

	resumed := true
	if _, err := os.Stat(filepath.Join(c.chainHome(), "config", "genesis.json")); errors.Is(err, os.ErrNotExist) {
		resumed = false
		log.Info("making a new chain", "home", c.chainHome())
		if err := initChain(ctx, c.ChainBin, c.chainHome(), c.hosterHome, c.Params); err != nil {
			return err
		}
	}
	if err := configureChain(c.chainHome(), c); err != nil {
		return err
	}
	keys, err := loadOrMakeKeys(c.keysFile())
	if err != nil {
		return err
	}

	sup := newSupervisor(log, c.logDir())
	defer sup.stopAll(30 * time.Second)

	chain, err := sup.start("chain", true, c.ChainBin, "start", "--home", c.chainHome())
	if err != nil {
		return err
	}
	rpc := "http://" + c.addr(c.RPCPort)
	api := "http://" + c.addr(c.APIPort)
	var height int64
	if err := waitUntil(ctx, 2*time.Minute, chain, "chain", func(ctx context.Context) bool {
		h, err := latestHeight(ctx, rpc)
		height = h
		return err == nil && h >= 1
	}); err != nil {
		return err
	}
	if err := waitUntil(ctx, time.Minute, chain, "chain REST API", func(ctx context.Context) bool {
		return httpOK(ctx, api+"/cosmos/base/tendermint/v1beta1/node_info")
	}); err != nil {
		return err
	}
	log.Info("chain is making blocks", "height", height, "rpc", rpc, "resumed", resumed)

	// The hosters come first: the network backend's first write places an
	// order that needs k+m active hosters on chain.
	var hosterURLs []string
	if c.Hosters > 0 && !c.HosterCommand {
		log.Warn("this datdot has no hoster daemon (`datdot hoster`): the devnet runs without hosters", "hosters_requested", c.Hosters)
	} else if c.Hosters > 0 {
		if hosterURLs, err = startHosters(ctx, c, sup, log); err != nil {
			return err
		}
	}
	hosters := len(hosterURLs)
	owner, err := accountAddress(c.chainHome(), "gateway")
	if err != nil {
		return err
	}
	if c.Backend == "network" {
		need := c.ErasureK + c.ErasureM
		if err := waitUntil(ctx, 2*time.Minute, chain, fmt.Sprintf("%d active hosters on chain", need), func(ctx context.Context) bool {
			n, err := activeHosters(ctx, api)
			return err == nil && n >= need
		}); err != nil {
			return err
		}
		log.Info("enough hosters are active for the gateway's volumes", "need", need, "erasure_k", c.ErasureK, "erasure_m", c.ErasureM)
	}

	gw, err := sup.start("gateway", true, c.DatdotBin, c.gatewayArgs()...)
	if err != nil {
		return err
	}
	gatewayURL := "http://" + c.GatewayListen
	if err := waitUntil(ctx, time.Minute, gw, "gateway", func(ctx context.Context) bool {
		return httpAnswers(ctx, gatewayURL+"/")
	}); err != nil {
		return err
	}
	if err := ensureBucket(ctx, c, keys, filepath.Join(c.Home, "state")); err != nil {
		return err
	}

	ep := Endpoints{ChainID: ChainID, Denom: Denom, RPC: rpc, REST: api, GRPC: c.addr(c.GRPCPort), Gateway: gatewayURL, Bucket: c.Bucket, Hosters: append([]string{}, hosterURLs...),
		Backend: c.Backend, GatewayAccount: owner}
	dash, err := startDashboard(dashLn, c, ep, keys, log)
	if err != nil {
		return err
	}
	defer dash.Close()

	s := summary{c: c, keys: keys, rpc: rpc, api: api, gateway: gatewayURL, dashboard: "http://" + dash.Addr(), hosters: hosters, resumed: resumed}
	if err := writeFileAtomic(c.EnvFile(), []byte(s.env()), 0o600); err != nil {
		return err
	}
	fmt.Fprint(out, s.text())

	for {
		select {
		case <-ctx.Done():
			fmt.Fprintln(out, "\ndevnet: stopping (state kept in "+c.Home+"; run again to resume, --fresh to start over)")
			return nil
		case dead := <-sup.exits:
			if ctx.Err() != nil {
				// Ctrl-C reaches the whole process group: the child
				// stopped because of it, not on its own.
				fmt.Fprintln(out, "\ndevnet: stopping (state kept in "+c.Home+"; run again to resume, --fresh to start over)")
				return nil
			}
			fmt.Fprintf(out, "\ndevnet: %s stopped on its own (%s); last lines of %s:\n%s\n", dead.name, exitReason(dead), dead.logPath, tail(dead.logPath, 15))
			if dead.critical {
				return fmt.Errorf("devnet: %s died; stopping the devnet (it is not restarted: look at %s)", dead.name, dead.logPath)
			}
			fmt.Fprintf(out, "devnet: %s is not restarted; the rest of the network goes on without it\n", dead.name)
		case err := <-dash.Err():
			return fmt.Errorf("devnet: dashboard: %w", err)
		}
	}
}

// gatewayArgs are the flags of `datdot gateway`, every one given
// explicitly (the gateway's own defaults may change).
func (c Config) gatewayArgs() []string {
	args := []string{"gateway", "--listen", c.GatewayListen, "--data", c.gatewayData(), "--keys-file", c.keysFile(),
		"--backend", c.Backend}
	if c.Backend != "network" {
		return args
	}
	return append(args,
		"--erasure-k", strconv.Itoa(c.ErasureK), "--erasure-m", strconv.Itoa(c.ErasureM),
		"--chain.grpc", c.addr(c.GRPCPort), "--chain.rpc", "http://"+c.addr(c.RPCPort),
		"--chain.keyring-dir", c.chainHome(), "--chain.keyring-backend", "test", "--chain.key", "gateway",
		"--order.max-price", c.OrderMaxPrice, "--order.epochs", strconv.FormatUint(c.OrderEpochs, 10),
		"--order.deposit", c.OrderDeposit)
}

// checkPorts refuses to start when a port the devnet needs is taken, with
// the flag that moves it.
func (c Config) checkPorts() error {
	for _, p := range []struct {
		addr, flag string
	}{
		{c.addr(c.RPCPort), "--rpc-port"},
		{c.addr(c.P2PPort), "--p2p-port"},
		{c.addr(c.GRPCPort), "--grpc-port"},
		{c.addr(c.APIPort), "--api-port"},
		{c.GatewayListen, "--gateway-listen"},
		{c.DashboardListen, "--dashboard-listen"},
	} {
		ln, err := net.Listen("tcp", p.addr)
		if err != nil {
			return fmt.Errorf("devnet: %s is not free (another devnet or chain running?); choose another with %s: %w", p.addr, p.flag, err)
		}
		ln.Close()
	}
	return nil
}

// lockHome takes an exclusive lock on <home>/devnet.lock so that two devnets
// never share a home. The kernel drops the lock when the process dies, so a
// SIGKILLed devnet never blocks the next start.
func lockHome(home string) (func(), error) {
	f, err := os.OpenFile(filepath.Join(home, "devnet.lock"), os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return nil, fmt.Errorf("devnet: %w", err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		f.Close()
		return nil, fmt.Errorf("devnet: another devnet runs from %s: %w", home, err)
	}
	return func() { f.Close() }, nil
}
