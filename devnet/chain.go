package devnet

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
)

// Chain-wide defaults of the devnet. Every account gets AccountCoins; the
// validator bonds SelfStake of it.
const (
	ChainID      = "datdot-devnet"
	Denom        = "udot"
	AccountCoins = "1000000000000udot"
	SelfStake    = "100000000000udot"
	// GenesisHosterAccounts is how many hoster accounts genesis funds, so
	// that a devnet restarted with more hosters still has keys for them.
	GenesisHosterAccounts = 8
)

// chainAccounts are the keys genesis creates in the chain home's test
// keyring: the validator, two users and the gateway's account. Each hoster's
// key is made in its own home (see initChain).
func chainAccounts() []string {
	return []string{"validator", "alice", "bob", "gateway"}
}

func hosterName(i int) string { return "hoster" + strconv.Itoa(i) }

// chaind runs the node binary with --home and returns its stdout; a failure
// carries the command's stderr.
func chaind(ctx context.Context, bin, home string, args ...string) ([]byte, error) {
	return chaindRaw(ctx, bin, append(args, "--home", home)...)
}

// chaindRaw runs bin with args to its end and returns its stdout; a failure
// carries the command's stderr.
func chaindRaw(ctx context.Context, bin string, args ...string) ([]byte, error) {
	cmd := exec.CommandContext(ctx, bin, args...)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Run(); err != nil {
		return nil, fmt.Errorf("devnet: %s %v: %w: %s", filepath.Base(bin), args, err, bytes.TrimSpace(errb.Bytes()))
	}
	return out.Bytes(), nil
}

// initChain makes a new one-validator chain home at home: genesis with the
// funded accounts of chainAccounts, short storage epochs and governance
// periods, and the validator's gentx. It builds everything in a temporary
// directory and renames it into place, so an interrupted init leaves no
// half-made home that a later start would take for a chain.
//
// The hosters' keys are made in their own homes (hosterHome(i), keyring
// backend test), funded in genesis like the other accounts.
func initChain(ctx context.Context, bin, home string, hosterHome func(int) string, p Params) error {
	tmp := home + ".init"
	if err := os.RemoveAll(tmp); err != nil {
		return fmt.Errorf("devnet: %w", err)
	}
	if err := os.RemoveAll(filepath.Dir(hosterHome(1))); err != nil {
		return fmt.Errorf("devnet: %w", err)
	}
	if _, err := chaind(ctx, bin, tmp, "init", "devnet", "--chain-id", ChainID); err != nil {
		return err
	}
	keyDir := filepath.Join(tmp, "keys")
	if err := os.MkdirAll(keyDir, 0o700); err != nil {
		return fmt.Errorf("devnet: %w", err)
	}
	for _, name := range chainAccounts() {
		// The test keyring stores the keys; the mnemonics are kept beside
		// it (mode 0600) for wallets such as Keplr or CosmJS scripts.
		out, err := chaind(ctx, bin, tmp, "keys", "add", name, "--keyring-backend", "test", "--output", "json")
		if err != nil {
			return err
		}
		if err := writeFileAtomic(filepath.Join(keyDir, name+".json"), out, 0o600); err != nil {
			return err
		}
		if _, err := chaind(ctx, bin, tmp, "genesis", "add-genesis-account", name, AccountCoins, "--keyring-backend", "test"); err != nil {
			return err
		}
	}
	for i := 1; i <= GenesisHosterAccounts; i++ {
		h := hosterHome(i)
		if err := os.MkdirAll(h, 0o700); err != nil {
			return fmt.Errorf("devnet: %w", err)
		}
		out, err := chaind(ctx, bin, tmp, "keys", "add", hosterName(i), "--keyring-backend", "test", "--keyring-dir", h, "--output", "json")
		if err != nil {
			return err
		}
		var key struct {
			Address string `json:"address"`
		}
		if err := json.Unmarshal(out, &key); err != nil || key.Address == "" {
			return fmt.Errorf("devnet: keys add %s: no address in %q", hosterName(i), out)
		}
		if err := writeFileAtomic(filepath.Join(h, "key.json"), out, 0o600); err != nil {
			return err
		}
		if _, err := chaind(ctx, bin, tmp, "genesis", "add-genesis-account", key.Address, AccountCoins); err != nil {
			return err
		}
	}
	genesis := filepath.Join(tmp, "config", "genesis.json")
	if err := editGenesis(genesis, p); err != nil {
		return err
	}
	if _, err := chaind(ctx, bin, tmp, "genesis", "gentx", "validator", SelfStake, "--chain-id", ChainID, "--keyring-backend", "test"); err != nil {
		return err
	}
	if _, err := chaind(ctx, bin, tmp, "genesis", "collect-gentxs"); err != nil {
		return err
	}
	if _, err := chaind(ctx, bin, tmp, "genesis", "validate"); err != nil {
		return err
	}
	if err := os.Rename(tmp, home); err != nil {
		return fmt.Errorf("devnet: %w", err)
	}
	return nil
}

// editGenesis sets the devnet's module parameters: storage epochs of a few
// blocks so that escrow visibly moves, a short hoster unbonding, short
// governance periods, and (when the chain has x/attest) frequent challenges.
func editGenesis(path string, p Params) error {
	data, err := os.ReadFile(path)
	if err != nil {
		return fmt.Errorf("devnet: %w", err)
	}
	var g map[string]any
	if err := json.Unmarshal(data, &g); err != nil {
		return fmt.Errorf("devnet: %s: %w", path, err)
	}
	state, _ := g["app_state"].(map[string]any)
	if state == nil {
		return fmt.Errorf("devnet: %s has no app_state", path)
	}
	set := func(module string, kv map[string]any) {
		m, _ := state[module].(map[string]any)
		if m == nil {
			return
		}
		params, _ := m["params"].(map[string]any)
		if params == nil {
			return
		}
		for k, v := range kv {
			if _, ok := params[k]; ok {
				params[k] = v
			}
		}
	}
	set("storage", map[string]any{
		"epoch_blocks":     strconv.Itoa(p.EpochBlocks),
		"unbonding_blocks": strconv.Itoa(p.UnbondingBlocks),
	})
	set("gov", map[string]any{"voting_period": "20s", "expedited_voting_period": "10s"})
	// Performance checks every few seconds rather than every minute.
	set("attest", map[string]any{"check_interval_blocks": "20"})
	out, err := json.MarshalIndent(g, "", "  ")
	if err != nil {
		return fmt.Errorf("devnet: %w", err)
	}
	return writeFileAtomic(path, out, 0o644)
}

// configureChain writes the listen addresses and the devnet's settings into
// the node's config files. It runs at every start, so --*-port flags apply
// to an existing home too.
func configureChain(home string, c Config) error {
	cfg := filepath.Join(home, "config", "config.toml")
	if err := setTOML(cfg, []tomlSetting{
		{"rpc", "laddr", strconv.Quote("tcp://" + c.addr(c.RPCPort))},
		{"rpc", "cors_allowed_origins", `["*"]`},
		{"rpc", "pprof_laddr", `""`},
		{"p2p", "laddr", strconv.Quote("tcp://" + c.addr(c.P2PPort))},
		{"p2p", "addr_book_strict", "false"},
		{"consensus", "timeout_commit", strconv.Quote(c.BlockTime.String())},
	}); err != nil {
		return err
	}
	app := filepath.Join(home, "config", "app.toml")
	if err := setTOML(app, []tomlSetting{
		{"", "minimum-gas-prices", `"0.001udot"`},
		{"api", "enable", "true"},
		{"api", "enabled-unsafe-cors", "true"},
		{"api", "address", strconv.Quote("tcp://" + c.addr(c.APIPort))},
		{"grpc", "enable", "true"},
		{"grpc", "address", strconv.Quote(c.addr(c.GRPCPort))},
	}); err != nil {
		return err
	}
	client := filepath.Join(home, "config", "client.toml")
	return setTOML(client, []tomlSetting{
		{"", "chain-id", strconv.Quote(ChainID)},
		{"", "keyring-backend", `"test"`},
		{"", "node", strconv.Quote("tcp://" + c.addr(c.RPCPort))},
		{"", "output", `"json"`},
	})
}
