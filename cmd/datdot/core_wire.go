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
	"strings"

	"github.com/datdot/datdot/hypercore"
	"github.com/datdot/datdot/hypercore/replicate"
	"github.com/datdot/datdot/hypercore/secretstream"
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
func coreFetch(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("datdot core fetch", flag.ContinueOnError)
	peer := fs.String("peer", "", "peer address HOST:PORT")
	out := fs.String("out", "", "directory to keep the core in (created; an earlier copy is resumed)")
	window := fs.Int("window", 64, "block requests in flight")
	pos, err := interspersed(fs, args)
	if err != nil {
		return err
	}
	if len(pos) != 1 || *peer == "" || *out == "" {
		return errors.New("usage: datdot core fetch KEY --peer ADDR --out DIR")
	}
	raw, err := hex.DecodeString(strings.TrimSpace(pos[0]))
	if err != nil || len(raw) != 32 {
		return fmt.Errorf("KEY must be 64 hex characters")
	}
	st, err := hypercore.OpenFileStorage(*out)
	if err != nil {
		return err
	}
	defer st.Close()
	res, err := replicate.Dial(ctx, *peer, [32]byte(raw), st, replicate.FetchOptions{Window: *window, SpoolDir: *out, Log: wireLogger(false)})
	if err != nil {
		return err
	}
	fmt.Printf("downloaded and verified %d blocks (%d bytes) from %s; core %s has length %d\n",
		res.Blocks, res.Bytes, *peer, hex.EncodeToString(raw), res.Length)
	return nil
}
