// Command datdot is the operator binary of DatDot: it runs the S3 gateway, the
// hoster daemon and the local devnet. Each subcommand lives in its own file.
package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"sort"
	"syscall"
)

// command is one subcommand of datdot.
type command struct {
	summary string
	run     func(ctx context.Context, args []string) error
}

func commands() map[string]command {
	return map[string]command{
		"version": {summary: "print the version", run: runVersion},
		"core":    {summary: "make, append to and inspect Hypercore cores", run: runCore},
		"gateway": {summary: "serve the S3 gateway", run: runGateway},
		"devnet":  {summary: "run a whole DatDot network on this machine (chain, hosters, gateway, dashboard)", run: runDevnet},
		"hoster":  {summary: "run a hoster: init, register, start, status", run: runHoster},
		"put":     {summary: "upload a file: datdot put FILE s3://BUCKET/KEY (multipart, resumable, progress bar)", run: runPut},
		"get":     {summary: "download an object: datdot get s3://BUCKET/KEY FILE (resumable, progress bar)", run: runGet},
		"status":  {summary: "the network at a glance: chain, hosters, orders, challenges", run: runStatus},
	}
}

// version is set at build time with -ldflags "-X main.version=...".
var version = "dev"

func runVersion(_ context.Context, _ []string) error {
	fmt.Println(version)
	return nil
}

func usage(cmds map[string]command) {
	fmt.Fprintln(os.Stderr, "usage: datdot <command> [flags]")
	fmt.Fprintln(os.Stderr, "commands:")
	names := make([]string, 0, len(cmds))
	for name := range cmds {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		fmt.Fprintf(os.Stderr, "  %-10s %s\n", name, cmds[name].summary)
	}
}

func main() {
	cmds := commands()
	if len(os.Args) < 2 {
		usage(cmds)
		os.Exit(2)
	}
	cmd, ok := cmds[os.Args[1]]
	if !ok {
		fmt.Fprintf(os.Stderr, "datdot: unknown command %q\n", os.Args[1])
		usage(cmds)
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := cmd.run(ctx, os.Args[2:]); err != nil && !errors.Is(err, context.Canceled) {
		fmt.Fprintf(os.Stderr, "datdot %s: %v\n", os.Args[1], err)
		os.Exit(1)
	}
}
