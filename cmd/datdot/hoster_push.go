package main

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/spf13/pflag"

	"github.com/datdot/datdot/chainclient"
	"github.com/datdot/datdot/hoster/client"
	storagetypes "github.com/datdot/datdot/x/storage/types"
)

// corePush is `datdot core push --dir DIR --order ID`: the writer's side of
// an order without a gateway. It finds the core (by key) in the order,
// the hosters assigned to it and their endpoints, and pushes every block
// the hosters do not hold, signed with the writer key in DIR. A hoster
// that does not know its assignment yet (403) or is unreachable is retried
// until --wait passes.
func corePush(ctx context.Context, args []string) error {
	fs := pflag.NewFlagSet("datdot core push", pflag.ContinueOnError)
	dir := fs.String("dir", "", "core directory (with writer.key)")
	order := fs.Uint64("order", 0, "order id")
	grpcAddr := fs.String("chain.grpc", envOr("DATDOT_CHAIN_GRPC", "127.0.0.1:9090"), "chain gRPC address")
	rpcURL := fs.String("chain.rpc", envOr("DATDOT_CHAIN_RPC", "http://127.0.0.1:26657"), "chain RPC URL")
	wait := fs.Duration("wait", 2*time.Minute, "how long to retry hosters that refuse or fail")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *order == 0 {
		return errors.New("--order is required")
	}
	raw, err := os.ReadFile(filepath.Join(*dir, coreKeyFile))
	if err != nil {
		return fmt.Errorf("push needs the writer key: %w", err)
	}
	priv, err := hex.DecodeString(strings.TrimSpace(string(raw)))
	if err != nil || len(priv) != ed25519.PrivateKeySize {
		return fmt.Errorf("%s: not a hex ed25519 private key", coreKeyFile)
	}
	core, err := openCore(ctx, *dir)
	if err != nil {
		return err
	}
	defer core.Close()
	key := core.Key()
	chain, err := chainclient.New(ctx, chainclient.Config{GRPC: *grpcAddr, RPC: *rpcURL})
	if err != nil {
		return err
	}
	defer chain.Close()
	q := chain.Storage()
	o, err := q.Order(ctx, &storagetypes.QueryOrderRequest{Id: *order})
	if err != nil {
		return fmt.Errorf("order %d: %w", *order, err)
	}
	idx := -1
	for i, c := range o.Order.Cores {
		if bytes.Equal(c.Key, key[:]) {
			idx = i
		}
	}
	if idx < 0 {
		return fmt.Errorf("core %x is not in order %d", key, *order)
	}
	length := o.Order.Cores[idx].Length
	deadline := time.Now().Add(*wait)
	hc := &http.Client{Timeout: 2 * time.Minute}
	pushed := 0
	for _, v := range o.Assignments {
		a := v.Assignment
		if int(a.CoreIndex) != idx {
			continue
		}
		h, err := q.Hoster(ctx, &storagetypes.QueryHosterRequest{Address: a.Hoster})
		if err != nil {
			return fmt.Errorf("hoster %s: %w", a.Hoster, err)
		}
		c, err := client.New(h.Hoster.Endpoint, hc)
		if err != nil {
			return err
		}
		for {
			n, err := c.PushCore(ctx, core, ed25519.PrivateKey(priv), length, 0)
			if err == nil {
				fmt.Printf("pushed core %x to %s (%s): %d blocks held\n", key, a.Hoster, h.Hoster.Endpoint, n)
				pushed++
				break
			}
			if time.Now().After(deadline) || client.IsStatus(err, http.StatusBadRequest) {
				return fmt.Errorf("push to %s (%s): %w", a.Hoster, h.Hoster.Endpoint, err)
			}
			fmt.Fprintf(os.Stderr, "push to %s: %v (retrying)\n", h.Hoster.Endpoint, err)
			select {
			case <-ctx.Done():
				return ctx.Err()
			case <-time.After(time.Second):
			}
		}
	}
	if pushed == 0 {
		return fmt.Errorf("order %d has no hoster assigned to core %d yet", *order, idx)
	}
	return nil
}

func envOr(name, def string) string {
	if v := os.Getenv(name); v != "" {
		return v
	}
	return def
}
