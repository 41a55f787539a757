package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/pflag"
	"github.com/spf13/viper"

	"github.com/datdot/datdot/chainclient"
	"github.com/datdot/datdot/gateway/metalog"
	"github.com/datdot/datdot/gateway/secret"
	"github.com/datdot/datdot/gateway/store/local"
)

// gatewayBackupCommands are the operator's backup subcommands of
// `datdot gateway`. They open the metadata database directly, so the
// gateway must be stopped while they run (except init and export-key,
// which do not touch it... init creates it).
func gatewayBackupCommands() map[string]func(ctx context.Context, args []string) error {
	return map[string]func(ctx context.Context, args []string) error{
		"init":       runGatewayInit,
		"export-key": runGatewayExportKey,
		"versions":   runGatewayVersions,
		"restore":    runGatewayRestore,
		"retention":  runGatewayRetention,
		"recover":    runGatewayRecover,
	}
}

// DefaultKeepVersions is the hidden-history retention `datdot gateway
// init` sets.
const DefaultKeepVersions = 30 * 24 * time.Hour

func defaultGatewayData() string {
	if home, err := os.UserHomeDir(); err == nil {
		return filepath.Join(home, ".datdot", "gateway")
	}
	return "datdot-gateway"
}

// backupFlags parses fs with DATDOT_GATEWAY_* environment defaults
// (flag name upper-cased, '-' and '.' as '_').
func backupFlags(fs *pflag.FlagSet, args []string) (*viper.Viper, error) {
	fs.String("data", defaultGatewayData(), "gateway data directory")
	fs.String("home", "", "same as --data")
	fs.String("master-secret-file", "", "file with the master secret, a 24-word phrase or hex (default DATA/master.key)")
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	if fs.NArg() > 0 {
		return nil, fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	v := viper.New()
	v.SetEnvPrefix("DATDOT_GATEWAY")
	v.SetEnvKeyReplacer(strings.NewReplacer("-", "_", ".", "_"))
	v.AutomaticEnv()
	if err := v.BindPFlags(fs); err != nil {
		return nil, err
	}
	if h := v.GetString("home"); h != "" {
		v.Set("data", h)
	}
	if v.GetString("master-secret-file") == "" {
		v.Set("master-secret-file", filepath.Join(v.GetString("data"), "master.key"))
	}
	return v, nil
}

func openGatewayMeta(dir string) (*local.Meta, error) {
	path := filepath.Join(dir, "meta.db")
	if _, err := os.Stat(path); err != nil {
		return nil, fmt.Errorf("no gateway database at %s: %w", path, err)
	}
	m, err := local.OpenMeta(path)
	if err != nil {
		return nil, fmt.Errorf("%w (is the gateway running? stop it first: these commands need its database alone)", err)
	}
	return m, nil
}

// printSecret shows the master secret's phrase (or hex) with the warning.
func printSecret(w io.Writer, master []byte) {
	phrase, err := secret.Phrase(master)
	fmt.Fprintln(w, "Master secret:")
	fmt.Fprintln(w)
	if err != nil {
		fmt.Fprintf(w, "    %x\n", master)
	} else {
		words := strings.Fields(phrase)
		for i := 0; i < len(words); i += 6 {
			fmt.Fprintf(w, "    %s\n", strings.Join(words[i:min(i+6, len(words))], " "))
		}
	}
	fmt.Fprintln(w)
	fmt.Fprintln(w, secret.Warning)
}

func runGatewayInit(ctx context.Context, args []string) error {
	fs := pflag.NewFlagSet("datdot gateway init", pflag.ContinueOnError)
	fs.Duration("keep-versions", DefaultKeepVersions, "keep overwritten and deleted versions hidden this long (0: off)")
	fs.String("chain.keyring-dir", "", "keyring to put the gateway's chain account in (default DATA/keyring)")
	fs.String("chain.keyring-backend", "test", "keyring backend")
	fs.String("chain.key", "gateway", "name of the chain account's key in the keyring")
	v, err := backupFlags(fs, args)
	if err != nil {
		return err
	}
	data, path := v.GetString("data"), v.GetString("master-secret-file")
	if _, err := os.Stat(path); err == nil {
		return fmt.Errorf("%s exists: this gateway is initialised ('datdot gateway export-key' shows its secret)", path)
	}
	if _, err := os.Stat(filepath.Join(data, "meta.db")); err == nil {
		return fmt.Errorf("%s already holds a gateway database; init makes a new one", data)
	}
	master := secret.Generate()
	if err := secret.Write(path, master); err != nil {
		return err
	}
	m, err := local.OpenMeta(filepath.Join(data, "meta.db"))
	if err != nil {
		return err
	}
	err = m.SetHistoryRetention(ctx, v.GetDuration("keep-versions"))
	if cerr := m.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return err
	}
	krDir := v.GetString("chain.keyring-dir")
	if krDir == "" {
		krDir = filepath.Join(data, "keyring")
	}
	addr, err := secret.ImportChainKey(krDir, v.GetString("chain.keyring-backend"), v.GetString("chain.key"), master)
	if err != nil {
		return err
	}
	printSecret(os.Stdout, master)
	fmt.Printf("\nSecret file:   %s\nChain account: %s (key %q in %s; fund it to pay for storage, and start the gateway with --chain.key %s --chain.keyring-dir %s)\nHidden versions kept: %v\n",
		path, addr, v.GetString("chain.key"), krDir, v.GetString("chain.key"), krDir, v.GetDuration("keep-versions"))
	return nil
}

func runGatewayExportKey(_ context.Context, args []string) error {
	fs := pflag.NewFlagSet("datdot gateway export-key", pflag.ContinueOnError)
	fs.Bool("address", false, "print only the chain account's address")
	v, err := backupFlags(fs, args)
	if err != nil {
		return err
	}
	master, err := secret.Load(v.GetString("master-secret-file"))
	if err != nil {
		return err
	}
	addr, err := secret.ChainAddress(master)
	if err != nil {
		return err
	}
	if v.GetBool("address") {
		fmt.Println(addr)
		return nil
	}
	printSecret(os.Stdout, master)
	fmt.Printf("\nChain account: %s\n", addr)
	return nil
}

func runGatewayRetention(ctx context.Context, args []string) error {
	fs := pflag.NewFlagSet("datdot gateway retention", pflag.ContinueOnError)
	fs.String("set", "", "new retention of hidden versions (e.g. 720h; 0 turns the history off)")
	v, err := backupFlags(fs, args)
	if err != nil {
		return err
	}
	m, err := openGatewayMeta(v.GetString("data"))
	if err != nil {
		return err
	}
	defer m.Close()
	if s := v.GetString("set"); s != "" {
		d, err := time.ParseDuration(s)
		if err != nil {
			return err
		}
		if err := m.SetHistoryRetention(ctx, d); err != nil {
			return err
		}
	}
	d, err := m.HistoryRetention(ctx)
	if err != nil {
		return err
	}
	fmt.Println(d)
	return nil
}

func runGatewayVersions(ctx context.Context, args []string) error {
	fs := pflag.NewFlagSet("datdot gateway versions", pflag.ContinueOnError)
	fs.String("bucket", "", "bucket (required)")
	fs.String("prefix", "", "only keys with this prefix")
	fs.Int("limit", 1000, "at most this many keys")
	fs.Bool("json", false, "one JSON object per version")
	v, err := backupFlags(fs, args)
	if err != nil {
		return err
	}
	if v.GetString("bucket") == "" {
		return errors.New("--bucket is required")
	}
	m, err := openGatewayMeta(v.GetString("data"))
	if err != nil {
		return err
	}
	defer m.Close()
	vs, next, err := m.History(ctx, v.GetString("bucket"), v.GetString("prefix"), "", v.GetInt("limit"))
	if err != nil {
		return err
	}
	if v.GetBool("json") {
		enc := json.NewEncoder(os.Stdout)
		for _, x := range vs {
			if err := enc.Encode(versionJSON(x)); err != nil {
				return err
			}
		}
		return nil
	}
	tw := tabwriter.NewWriter(os.Stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "KEY\tVERSION\tSTATE\tMODIFIED\tREMOVED\tSIZE\tETAG")
	for _, x := range vs {
		j := versionJSON(x)
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%d\t%s\n", j.Key, j.VersionID, j.State, j.Modified.Format(time.RFC3339Nano), j.Removed, j.Size, j.ETag)
	}
	if next != "" {
		fmt.Fprintf(tw, "(more keys after %q)\n", next)
	}
	return tw.Flush()
}

type versionOut struct {
	Key       string    `json:"key"`
	VersionID string    `json:"version_id"`
	State     string    `json:"state"` // current, older, hidden, delete-marker
	Modified  time.Time `json:"modified"`
	Removed   string    `json:"removed,omitempty"`
	Size      int64     `json:"size"`
	ETag      string    `json:"etag"`
}

func versionJSON(x local.Version) versionOut {
	o := versionOut{Key: x.Key, VersionID: x.VersionID, Modified: x.Modified, Size: x.Size, ETag: x.ETag}
	switch {
	case x.Hidden:
		o.State = "hidden"
		o.Removed = x.Retired.Format(time.RFC3339Nano)
	case x.IsLatest:
		o.State = "current"
	default:
		o.State = "older"
	}
	if x.DeleteMarker {
		o.State += ",delete-marker"
	}
	return o
}

// parseMoment reads RFC 3339 (with or without fractional seconds), unix
// seconds, or a duration meaning that long ago ("15m").
func parseMoment(s string, now time.Time) (time.Time, error) {
	if t, err := time.Parse(time.RFC3339Nano, s); err == nil {
		return t, nil
	}
	if n, err := strconv.ParseInt(s, 10, 64); err == nil {
		return time.Unix(n, 0), nil
	}
	if d, err := time.ParseDuration(s); err == nil && d >= 0 {
		return now.Add(-d), nil
	}
	return time.Time{}, fmt.Errorf("--at %q: want RFC 3339 (2026-11-29T22:00:00Z), unix seconds, or a duration ago (15m)", s)
}

func runGatewayRestore(ctx context.Context, args []string) error {
	fs := pflag.NewFlagSet("datdot gateway restore", pflag.ContinueOnError)
	fs.String("bucket", "", "bucket (required)")
	fs.String("prefix", "", "only keys with this prefix")
	fs.String("at", "", "the moment to bring the bucket back to (required)")
	v, err := backupFlags(fs, args)
	if err != nil {
		return err
	}
	if v.GetString("bucket") == "" || v.GetString("at") == "" {
		return errors.New("--bucket and --at are required")
	}
	at, err := parseMoment(v.GetString("at"), time.Now())
	if err != nil {
		return err
	}
	m, err := openGatewayMeta(v.GetString("data"))
	if err != nil {
		return err
	}
	defer m.Close()
	st, _, err := m.RestoreAt(ctx, v.GetString("bucket"), v.GetString("prefix"), at)
	if err != nil {
		return err
	}
	fmt.Printf("restored bucket %s to %s: %d keys looked at, %d given back their version, %d deleted (written later, kept as older versions), %d unchanged\n",
		v.GetString("bucket"), at.UTC().Format(time.RFC3339Nano), st.Keys, st.Restored, st.Deleted, st.Unchanged)
	return nil
}

func runGatewayRecover(ctx context.Context, args []string) error {
	fs := pflag.NewFlagSet("datdot gateway recover", pflag.ContinueOnError)
	fs.String("chain.grpc", "127.0.0.1:9090", "chain node gRPC address")
	fs.String("chain.rpc", "http://127.0.0.1:26657", "chain node RPC URL")
	fs.String("chain.keyring-dir", "", "keyring to put the gateway's chain account in (default DATA/keyring)")
	fs.String("chain.keyring-backend", "test", "keyring backend")
	fs.String("chain.key", "gateway", "name of the chain account's key in the keyring")
	fs.String("owner", "", "account that placed the orders (default: the account derived from the master secret)")
	fs.Uint64("max-gen", metalog.DefaultMaxGen, "generations of the metadata log looked for: 0 to this (and on while the last few thousand held one)")
	fs.Bool("fetch-data", false, "also copy k cores of every data volume from the hosters into DATA/network (a full local copy); without it the gateway reads object data from the hosters on demand")
	fs.String("log-level", "info", "debug, info, warn or error")
	v, err := backupFlags(fs, args)
	if err != nil {
		return err
	}
	var level slog.Level
	if err := level.UnmarshalText([]byte(v.GetString("log-level"))); err != nil {
		return err
	}
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level}))
	data := v.GetString("data")
	master, err := secret.Load(v.GetString("master-secret-file"))
	if err != nil {
		return err
	}
	if entries, err := os.ReadDir(data); err == nil {
		for _, e := range entries {
			if e.Name() != "master.key" {
				return fmt.Errorf("%s is not empty (%s): recover into an empty directory", data, e.Name())
			}
		}
	}
	cctx, cancel := context.WithTimeout(ctx, time.Minute)
	chain, err := chainclient.New(cctx, chainclient.Config{GRPC: v.GetString("chain.grpc"), RPC: v.GetString("chain.rpc"), Log: log})
	cancel()
	if err != nil {
		return err
	}
	defer chain.Close()
	st, err := metalog.Recover(ctx, metalog.RecoverConfig{Master: master, Chain: chain, Owner: v.GetString("owner"),
		DataDir: data, FetchData: v.GetBool("fetch-data"), MaxGen: v.GetUint64("max-gen"), Log: log})
	if err != nil {
		return err
	}
	keyFile := filepath.Join(data, "master.key")
	if _, err := os.Stat(keyFile); err != nil {
		if err := secret.Write(keyFile, master); err != nil {
			return err
		}
	}
	krDir := v.GetString("chain.keyring-dir")
	if krDir == "" {
		krDir = filepath.Join(data, "keyring")
	}
	addr, err := secret.ImportChainKey(krDir, v.GetString("chain.keyring-backend"), v.GetString("chain.key"), master)
	if err != nil {
		return err
	}
	out, _ := json.Marshal(st)
	fmt.Println(string(out))
	fmt.Fprintf(os.Stderr, "recovered into %s in %v: generation %d of the metadata log (%d bytes fetched), %d buckets, %d versions, %d data volumes (%d bytes fetched). Chain account %s is key %q in %s.\n",
		data, st.Took.Round(time.Millisecond), st.Gen, st.LogBytes, st.Buckets, st.Versions, st.Volumes, st.DataBytes, addr, v.GetString("chain.key"), krDir)
	return nil
}
