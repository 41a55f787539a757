package main

import (
	"context"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"os"
	"slices"
	"sort"
	"strings"

	"github.com/cosmos/cosmos-sdk/types/query"

	"github.com/datdot/datdot/chainclient"
	"github.com/datdot/datdot/hypercore"
	"github.com/datdot/datdot/hypercore/replicate"
	"github.com/datdot/datdot/hypercore/secretstream"
	storagetypes "github.com/datdot/datdot/x/storage/types"
)

// addWireCommands adds the replication commands to `datdot core`.
func addWireCommands(sub map[string]func(context.Context, []string) error) {
	sub["serve"] = coreServe
	sub["fetch"] = coreFetch
}

// interspersed parses flags that may come after positional arguments.
func interspersed(fs *flag.FlagSet, args []string) ([]string, error) {
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			return nil, err
		}
		args = fs.Args()
		if len(args) == 0 {
			return pos, nil
		}
		pos = append(pos, args[0])
		args = args[1:]
	}
}

func wireLogger(verbose bool) *slog.Logger {
	level := slog.LevelInfo
	if verbose {
		level = slog.LevelDebug
	}
	return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level}))
}

// coreServe serves the cores in the given directories over the Hypercore
// replication protocol until interrupted. It prints "serving KEY on ADDR"
// for each core once it listens.
func coreServe(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("datdot core serve", flag.ContinueOnError)
	listen := fs.String("listen", "127.0.0.1:0", "TCP address to listen on")
	dir := fs.String("dir", "", "core directory (or give directories as arguments)")
	verbose := fs.Bool("v", false, "log every peer")
	dirs, err := interspersed(fs, args)
	if err != nil {
		return err
	}
	if *dir != "" {
		dirs = append(dirs, *dir)
	}
	if len(dirs) == 0 {
		return errors.New("usage: datdot core serve DIR... [--listen ADDR]")
	}
	cores := map[[32]byte]*hypercore.Core{}
	for _, d := range dirs {
		c, err := openCore(ctx, d)
		if err != nil {
			return fmt.Errorf("%s: %w", d, err)
		}
		defer c.Close()
		cores[c.DiscoveryKey()] = c
	}
	ln, err := net.Listen("tcp", *listen)
	if err != nil {
		return err
	}
	srv := replicate.NewServer(func(dk [32]byte) (*hypercore.Core, bool) {
		c, ok := cores[dk]
		return c, ok
	}, secretstream.Config{}, wireLogger(*verbose))
	for _, c := range cores {
		k := c.Key()
		fmt.Printf("serving %s on %s\n", hex.EncodeToString(k[:]), ln.Addr())
	}
	return srv.Serve(ctx, ln)
}

// coreFetch downloads a core from one peer into a directory, verifying the
// writer's signature and every block, and says how many blocks it got.
// Without --peer it asks the chain who holds the core (x/storage
// CoreHolders) and tries the hosters' replication addresses, those that
// committed the longest first, then the peers the orders name.
func coreFetch(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("datdot core fetch", flag.ContinueOnError)
	peer := fs.String("peer", "", "peer address HOST:PORT (empty: ask the chain who holds the core)")
	out := fs.String("out", "", "directory to keep the core in (created; an earlier copy is resumed)")
	window := fs.Int("window", 64, "block requests in flight")
	grpcAddr := fs.String("chain.grpc", envOr("DATDOT_CHAIN_GRPC", "127.0.0.1:9090"), "chain gRPC address (peer discovery without --peer)")
	rpcURL := fs.String("chain.rpc", envOr("DATDOT_CHAIN_RPC", "http://127.0.0.1:26657"), "chain RPC URL")
	pos, err := interspersed(fs, args)
	if err != nil {
		return err
	}
	if len(pos) != 1 || *out == "" {
		return errors.New("usage: datdot core fetch KEY --out DIR [--peer ADDR | --chain.grpc HOST:PORT]")
	}
	raw, err := hex.DecodeString(strings.TrimSpace(pos[0]))
	if err != nil || len(raw) != 32 {
		return fmt.Errorf("KEY must be 64 hex characters")
	}
	peers := []string{*peer}
	if *peer == "" {
		if peers, err = chainPeers(ctx, *grpcAddr, *rpcURL, pos[0]); err != nil {
			return err
		}
		if len(peers) == 0 {
			return fmt.Errorf("the chain knows no replication address for core %s", pos[0])
		}
		fmt.Fprintf(os.Stderr, "peers from the chain: %s\n", strings.Join(peers, " "))
	}
	st, err := hypercore.OpenFileStorage(*out)
	if err != nil {
		return err
	}
	defer st.Close()
	var errs []error
	for _, p := range peers {
		res, err := replicate.Dial(ctx, p, [32]byte(raw), st, replicate.FetchOptions{Window: *window, SpoolDir: *out, Log: wireLogger(false)})
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", p, err))
			continue
		}
		fmt.Printf("downloaded and verified %d blocks (%d bytes) from %s; core %s has length %d\n",
			res.Blocks, res.Bytes, p, hex.EncodeToString(raw), res.Length)
		return nil
	}
	return errors.Join(errs...)
}

// chainPeers asks the chain for the replication addresses of core key's
// holders: hosters that committed the most first, then hosters that have
// not committed, then the peers the orders name.
func chainPeers(ctx context.Context, grpcAddr, rpcURL, key string) ([]string, error) {
	c, err := chainclient.New(ctx, chainclient.Config{GRPC: grpcAddr, RPC: rpcURL, KeyringBackend: "memory"})
	if err != nil {
		return nil, err
	}
	defer c.Close()
	var holders []storagetypes.CoreHolder
	var orderPeers []string
	var next []byte
	for {
		res, err := c.Storage().CoreHolders(ctx, &storagetypes.QueryCoreHoldersRequest{Key: strings.ToLower(strings.TrimSpace(key)), Pagination: &query.PageRequest{Key: next, Limit: 100}})
		if err != nil {
			return nil, fmt.Errorf("ask the chain who holds %s: %w", key, err)
		}
		holders = append(holders, res.Holders...)
		orderPeers = append(orderPeers, res.Peers...)
		if res.Pagination == nil || len(res.Pagination.NextKey) == 0 {
			break
		}
		next = res.Pagination.NextKey
	}
	return peerOrder(holders, orderPeers), nil
}

// peerOrder is the order in which `core fetch` tries a core's peers: the
// hosters' replication addresses, those that committed the most blocks
// first (ties keep the chain's order), then the peers the orders name;
// each address once, hosters without a replication address left out.
func peerOrder(holders []storagetypes.CoreHolder, orderPeers []string) []string {
	holders = slices.Clone(holders)
	sort.SliceStable(holders, func(i, j int) bool { return holders[i].CommittedLength > holders[j].CommittedLength })
	var out []string
	seen := map[string]bool{}
	for _, h := range holders {
		if h.ReplicationAddress != "" && !seen[h.ReplicationAddress] {
			seen[h.ReplicationAddress] = true
			out = append(out, h.ReplicationAddress)
		}
	}
	for _, p := range orderPeers {
		if !seen[p] {
			seen[p] = true
			out = append(out, p)
		}
	}
	return out
}
