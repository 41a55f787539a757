package main

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/spf13/pflag"
)

// TestHosterInitWritesFlags: every value `datdot hoster init` is given as
// a flag is written into hoster.toml (the usage text says "flags set its
// values"), and reading that file back without flags gives the same
// values; with no flags the file holds the defaults.
func TestHosterInitWritesFlags(t *testing.T) {
	home := t.TempDir()
	flags := map[string]string{
		"listen": "127.0.0.1:19001", "endpoint": "http://h.example:19001", "capacity": "12345", "reserve": "678",
		"region": "eu", "price": "7", "stake": "5udot", "log_level": "debug",
		"chain.grpc": "127.0.0.1:19090", "chain.rpc": "http://127.0.0.1:36657", "chain.chain_id": "testchain",
		"chain.keyring_dir": "/k", "chain.keyring_backend": "file", "chain.key": "me", "chain.gas_price": "0.01",
		"scrub.bytes_per_second": "1000", "scrub.pause": "5m0s",
		"replication.listen": "127.0.0.1:19999", "replication.address": "h.example:19999", "debug.pprof": "127.0.0.1:16061",
	}
	args := []string{"--home", home}
	for k, v := range flags {
		args = append(args, "--"+k, v)
	}
	if err := hosterInit(context.Background(), args); err != nil {
		t.Fatal(err)
	}
	v, err := hosterViper(pflag.NewFlagSet("t", pflag.ContinueOnError), []string{"--home", home})
	if err != nil {
		t.Fatal(err)
	}
	for k, want := range flags {
		got := v.GetString(k)
		if k == "scrub.pause" {
			got = v.GetDuration(k).String()
		}
		if got != want {
			t.Errorf("%s: the file says %q, init was given %q", k, got, want)
		}
	}

	// No flags: the file holds the defaults, the same as no file at all.
	home2 := t.TempDir()
	if err := hosterInit(context.Background(), []string{"--home", home2}); err != nil {
		t.Fatal(err)
	}
	fromFile, err := hosterViper(pflag.NewFlagSet("t", pflag.ContinueOnError), []string{"--home", home2})
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Remove(filepath.Join(home2, hosterConfigFile)); err != nil {
		t.Fatal(err)
	}
	noFile, err := hosterViper(pflag.NewFlagSet("t", pflag.ContinueOnError), []string{"--home", home2})
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"log_level", "chain.gas_price", "scrub.bytes_per_second", "chain.keyring_backend", "listen", "debug.pprof"} {
		if fromFile.GetString(k) != noFile.GetString(k) {
			t.Errorf("%s: default file says %q, built-in default %q", k, fromFile.GetString(k), noFile.GetString(k))
		}
	}
	if fromFile.GetDuration("scrub.pause") != time.Minute {
		t.Errorf("scrub.pause default %v", fromFile.GetDuration("scrub.pause"))
	}
}
