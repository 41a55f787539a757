package gateway_test

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/datdot/datdot/gateway"
	"github.com/datdot/datdot/gateway/config"
)

// TestRunAndShutdown starts the gateway as `datdot gateway` does, checks it
// answers, and stops it by cancelling the context.
func TestRunAndShutdown(t *testing.T) {
	cfg, err := config.Parse([]string{"--listen", "127.0.0.1:0", "--data", t.TempDir(), "--backend", "local"}, func(string) string { return "" }, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	runCtx, cancel := context.WithCancel(context.Background())
	defer cancel()
	addr := make(chan string, 1)
	done := make(chan error, 1)
	go func() {
		done <- gateway.Run(runCtx, cfg, slog.New(slog.DiscardHandler), func(a string) { addr <- a })
	}()
	var url string
	select {
	case a := <-addr:
		url = "http://" + a
	case err := <-done:
		t.Fatalf("gateway stopped: %v", err)
	case <-time.After(10 * time.Second):
		t.Fatal("gateway did not start")
	}
	resp, err := http.Get(url + "/")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusForbidden || resp.Header.Get("x-amz-request-id") == "" {
		t.Fatalf("anonymous ListBuckets: %d %v", resp.StatusCode, resp.Header)
	}
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("shutdown: %v", err)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("gateway did not stop")
	}
	if _, err := http.Get(url + "/"); err == nil {
		t.Fatal("gateway still answers after shutdown")
	}
}

// TestRunRefusesDevKeyOnPublicAddress: Run refuses to start (and listens on
// nothing) with the development key pair on a non-loopback address, even
// for a Config not made by Parse.
func TestRunRefusesDevKeyOnPublicAddress(t *testing.T) {
	cfg := config.Config{Listen: "0.0.0.0:0", DataDir: t.TempDir(), Region: "us-east-1", Backend: "local",
		Keys: []config.Key{{AccessKey: config.DevAccessKey, SecretKey: config.DevSecretKey}}, DevKey: true}
	started := false
	err := gateway.Run(context.Background(), cfg, slog.New(slog.DiscardHandler), func(string) { started = true })
	if !errors.Is(err, config.ErrDevKeyExposed) || started {
		t.Fatalf("want ErrDevKeyExposed before listening, got %v (started %v)", err, started)
	}
	if !strings.Contains(err.Error(), "--key") {
		t.Fatalf("error does not say what to do: %v", err)
	}
}

// TestNetworkDefaultNeedsChain: the network backend is the default, and
// without a chain account the gateway refuses to start with an error that
// names --chain.key, --backend local and datdot devnet, before it writes
// anything (no master key is created).
func TestNetworkDefaultNeedsChain(t *testing.T) {
	data := t.TempDir()
	cfg, err := config.Parse([]string{"--listen", "127.0.0.1:0", "--data", data}, func(string) string { return "" }, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Backend != "network" {
		t.Fatalf("default backend %q, want network", cfg.Backend)
	}
	err = gateway.Run(context.Background(), cfg, slog.New(slog.DiscardHandler), nil)
	if !errors.Is(err, gateway.ErrNoChain) {
		t.Fatalf("start without a chain: %v, want ErrNoChain", err)
	}
	for _, want := range []string{"--chain.key", "--backend local", "datdot devnet"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not mention %s", err, want)
		}
	}
	if _, err := os.Stat(filepath.Join(data, "master.key")); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("a gateway that did not start left a master key: %v", err)
	}
}
