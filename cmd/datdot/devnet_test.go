package main

import (
	"os"
	"path/filepath"
	"testing"
	"time"
)

// Flags win over DATDOT_DEVNET_* variables, which win over devnet.toml in
// the home, which wins over the defaults.
func TestDevnetConfigSources(t *testing.T) {
	home := t.TempDir()
	os.WriteFile(filepath.Join(home, "devnet.toml"), []byte("block-time = \"2s\"\nhosters = 7\nbucket = \"fromfile\"\n"), 0o644)
	t.Setenv("DATDOT_DEVNET_HOSTERS", "2")
	t.Setenv("DATDOT_DEVNET_GATEWAY_LISTEN", "127.0.0.1:19000")
	t.Setenv("DATDOT_DEVNET_BACKEND", "local")
	t.Setenv("DATDOT_DEVNET_ERASURE_M", "1")
	c, err := devnetConfig([]string{"--home", home, "--bucket", "fromflag", "--chain-bin", "/bin/true", "--erasure-k", "3", "--order-deposit", "5udot"})
	if err != nil {
		t.Fatal(err)
	}
	if c.BlockTime != 2*time.Second || c.Hosters != 2 || c.Bucket != "fromflag" || c.GatewayListen != "127.0.0.1:19000" || c.RPCPort != 26657 || c.ChainBin != "/bin/true" {
		t.Fatalf("config %+v", c)
	}
	if c.Backend != "local" || c.ErasureK != 3 || c.ErasureM != 1 || c.OrderDeposit != "5udot" || c.OrderEpochs != 1_000_000 {
		t.Fatalf("backend config %+v", c)
	}
	if !c.HosterCommand {
		t.Fatal("datdot has a hoster command but the devnet does not know it")
	}
	if _, err := devnetConfig([]string{"--home", home, "extra"}); err == nil {
		t.Fatal("an extra argument was accepted")
	}
	os.WriteFile(filepath.Join(home, "devnet.toml"), []byte("hosters = [\n"), 0o644)
	if _, err := devnetConfig([]string{"--home", home}); err == nil {
		t.Fatal("a broken devnet.toml was accepted")
	}
}

func TestParseS3URL(t *testing.T) {
	if b, k, err := parseS3URL("s3://media/a/b.jpg"); err != nil || b != "media" || k != "a/b.jpg" {
		t.Fatalf("%q %q %v", b, k, err)
	}
	for _, bad := range []string{"media/a", "s3://media", "s3://media/", "s3:///k", "http://x/y"} {
		if _, _, err := parseS3URL(bad); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}
