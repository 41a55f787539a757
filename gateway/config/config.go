// Package config reads the configuration of `datdot gateway`: flags, the
// DATDOT_GATEWAY_* environment, a TOML config file (github.com/spf13/viper),
// an optional keys file and the DATDOT_GATEWAY_KEYS environment variable.
package config

import (
	"bufio"
	"errors"
	"flag"
	"fmt"
	"github.com/datdot/datdot/debugserve"
	"io"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/spf13/pflag"
	"github.com/spf13/viper"
)

// Development key pair used when no key is configured. It is public: never
// expose a gateway that runs with it.
const (
	DevAccessKey = "DATDOTDEVACCESSKEY"
	DevSecretKey = "datdot-dev-secret-key-change-me"
)

// Key is one access key pair and the account it acts for.
type Key struct {
	AccessKey   string
	SecretKey   string
	UserID      string // canonical user id; defaults to AccessKey
	DisplayName string // defaults to UserID
}

// Config is the gateway's configuration.
type Config struct {
	Listen   string
	DataDir  string
	Region   string
	Domains  []string
	Keys     []Key
	LogLevel string
	// ClientTimeout is how long a client may stall mid-request (send no
	// body bytes, read no response bytes) before it is disconnected.
	ClientTimeout time.Duration
	// DeleteGrace is how long the bytes of deleted or overwritten objects
	// are kept before the reaper removes them (0: at once).
	DeleteGrace time.Duration
	// ShredAfter bounds how long the metadata log on the network keeps
	// the wrapped key of a dropped object version (metalog.Config).
	ShredAfter time.Duration
	// Backend is "local" (files in DataDir) or "network" (volumes on
	// hosters, see gateway/store/network).
	Backend string
	// MasterKeyFile holds the operator's master secret (hex, at least 32
	// bytes); default DataDir/master.key, created on first start.
	MasterKeyFile string
	// Encrypt encrypts object data of the local backend too (the network
	// backend always encrypts).
	Encrypt bool
	// Network configures the network backend.
	Network Network
	// DevKey is set when no key was configured and the development key
	// pair is in use.
	DevKey bool
	// Serving settings that become gateway.Options.
	TLSCert, TLSKey     string
	MaxBuckets          int
	MaxBytes            int64
	MaxUploads          int
	UploadExpiry        time.Duration
	MaintenanceInterval time.Duration
	LifecycleDay        time.Duration
	AccessLog           bool
	// PprofListen, when set, is an address that serves the Go profiler
	// (net/http/pprof) for performance work; never expose it.
	PprofListen string
}

// Network is the configuration of the network backend.
type Network struct {
	// K data and M parity cores per volume.
	K, M int
	// FlushDelay: how long a PUT waits for others to share its stripe; 0
	// flushes adaptively (network.Config.FlushDelay).
	FlushDelay time.Duration
	// FlushWait: how long at most a flush that is ready waits for PUTs
	// expected soon to share it (0: none; network.Config.FlushWait).
	FlushWait time.Duration
	// AckLosses: a PUT is acknowledged once its data is on the hosters of
	// K+AckLosses cores, so it survives the loss of any AckLosses of
	// them; -1 (the default) means M: every core.
	AckLosses int
	// Chain node and signing key; the network backend does not start
	// without a key (gateway.ErrNoChain).
	ChainGRPC, ChainRPC                 string
	KeyringDir, KeyringBackend, KeyName string
	// Each volume's order: max price per GiB-epoch, duration, deposit.
	MaxPrice string
	Epochs   uint64
	Deposit  string
	// CacheBytes bounds the memory cache of decrypted segments of hot
	// objects (crypt.Cache; 0: off, reads then always go to the hosters).
	CacheBytes int64
	// SlowAfter: a hoster that has not answered a read within this is
	// skipped (the read decodes from the others); FetchTimeout bounds one
	// request to one hoster.
	SlowAfter, FetchTimeout time.Duration
	// HedgeAfter: when a read of whole stripes asks its extra core (0:
	// with the others; see network.RemoteConfig.HedgeAfter; the flag's
	// default is 250 ms).
	HedgeAfter time.Duration
	// RenewMargin: an order ending within this many epochs is extended
	// (by Epochs beyond the margin); RenewInterval is how often the
	// renewer looks; RenewBatch the most orders one tx extends.
	RenewMargin   uint64
	RenewInterval time.Duration
	RenewBatch    int
	// CompactThreshold is the dead share of a volume's stream from which
	// it is compacted; CompactMaxBytes bounds the bytes one maintenance
	// pass copies; CompactMinAge is how long after its last write a
	// volume may be compacted.
	CompactThreshold float64
	CompactMaxBytes  int64
	CompactMinAge    time.Duration
	// MaxStripes per volume before a new one is started.
	MaxStripes uint64
	// PutMemBytes bounds how much of one object an upload keeps in memory
	// until it is committed (a larger object is spooled to an unlinked
	// temporary file under DataDir); PutMemBudget bounds the memory of all
	// uploads together (an upload that finds it used up spools too).
	// 0 or negative: every upload spools.
	PutMemBytes, PutMemBudget int64
	// PushMemBytes bounds, per volume, the block bytes kept in memory
	// until every core's hosters hold them (pushes send them from there;
	// beyond it, pushes read the local cores). 0 or negative: none.
	PushMemBytes int64
}

// Usage is the help text of the key formats.
const Usage = `Access keys (several allowed, all sources are merged):
  --key ACCESS:SECRET[:USERID[:DISPLAYNAME]]   repeatable
  --keys-file FILE   one key per line in the same format; '#' starts a comment
  DATDOT_GATEWAY_KEYS="ACCESS:SECRET[:USERID[:NAME]],..."   environment
Keys sharing a USERID act for the same account (own the same buckets).
With no key configured the gateway uses the development pair
  access key ` + DevAccessKey + `, secret ` + DevSecretKey + `
which is for local testing only.
`

// ParseKey parses ACCESS:SECRET[:USERID[:DISPLAYNAME]].
func ParseKey(s string) (Key, error) {
	parts := strings.SplitN(strings.TrimSpace(s), ":", 4)
	if len(parts) < 2 || parts[0] == "" || parts[1] == "" {
		return Key{}, fmt.Errorf("config: key %q is not ACCESS:SECRET[:USERID[:DISPLAYNAME]]", redact(s))
	}
	k := Key{AccessKey: parts[0], SecretKey: parts[1]}
	if len(parts) > 2 {
		k.UserID = parts[2]
	}
	if len(parts) > 3 {
		k.DisplayName = parts[3]
	}
	if k.UserID == "" {
		k.UserID = k.AccessKey
	}
	if k.DisplayName == "" {
		k.DisplayName = k.UserID
	}
	return k, nil
}

// redact hides the secret part of a key spec in error messages.
func redact(s string) string {
	a, _, ok := strings.Cut(s, ":")
	if !ok {
		return "<malformed>"
	}
	return a + ":<secret>"
}

// ReadKeys reads a keys file: one key spec per line, '#' comments.
func ReadKeys(r io.Reader) ([]Key, error) {
	var out []Key
	sc := bufio.NewScanner(r)
	for line := 1; sc.Scan(); line++ {
		t := sc.Text()
		if i := strings.IndexByte(t, '#'); i >= 0 {
			t = t[:i]
		}
		if t = strings.TrimSpace(t); t == "" {
			continue
		}
		k, err := ParseKey(t)
		if err != nil {
			return nil, fmt.Errorf("line %d: %w", line, err)
		}
		out = append(out, k)
	}
	return out, sc.Err()
}

// EnvPrefix starts the environment variable of every setting:
// DATDOT_GATEWAY_ and the flag name in upper case with dots and dashes as
// underscores (--chain.keyring-dir is DATDOT_GATEWAY_CHAIN_KEYRING_DIR).
const EnvPrefix = "DATDOT_GATEWAY_"

// EnvName is the environment variable of the setting named by flag.
func EnvName(flag string) string {
	return EnvPrefix + strings.ToUpper(strings.NewReplacer(".", "_", "-", "_").Replace(flag))
}

// ConfigFileName is the config file looked for in the data directory when
// --config is not given.
const ConfigFileName = "gateway.toml"

// Parse reads the configuration: flags in args beat the environment
// (getenv; EnvName of each flag), which beats a TOML config file (--config,
// DATDOT_GATEWAY_CONFIG, or DATA/gateway.toml if it exists; keys are the
// flag names, dotted ones as tables: [chain] keyring-dir = "..."), which
// beats the defaults. Access keys are merged from every source (see Usage).
// The file is read with github.com/spf13/viper; every value, whatever its
// source, goes through the flag's own parser, so a malformed one is an
// error naming its source.
func Parse(args []string, getenv func(string) string, stderr io.Writer) (Config, error) {
	var c Config
	fs := pflag.NewFlagSet("gateway", pflag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.SortFlags = false
	defData := "datdot-gateway"
	if home, err := os.UserHomeDir(); err == nil {
		defData = filepath.Join(home, ".datdot", "gateway")
	}
	var configFile string
	fs.StringVar(&configFile, "config", "", "TOML config file (default DATA/"+ConfigFileName+" if it exists)")
	fs.StringVar(&c.Listen, "listen", "127.0.0.1:9000", "address to serve S3 on")
	fs.StringVar(&c.DataDir, "data", defData, "directory for metadata and object data")
	fs.StringVar(&c.Region, "region", "us-east-1", "region the gateway serves (clients sign for it)")
	fs.StringVar(&c.LogLevel, "log-level", "info", "debug, info, warn or error")
	fs.DurationVar(&c.ClientTimeout, "client-timeout", time.Minute, "disconnect a client that sends or reads nothing for this long in the middle of a request")
	fs.DurationVar(&c.DeleteGrace, "delete-grace", 10*time.Minute, "keep the data of deleted or overwritten objects this long before removing it")
	fs.DurationVar(&c.ShredAfter, "shred-after", time.Hour, "network backend: the metadata log forgets the keys of deleted objects this long after the delete (a new generation, the older ones cancelled)")
	fs.StringVar(&c.Backend, "backend", "network", "where object data goes: network (encrypted, erasure-coded volumes on hosters; needs --chain.key) or local (files under --data, for tests and a gateway without a network)")
	fs.StringVar(&c.MasterKeyFile, "master-key-file", "", "file with the master secret that wraps object keys and derives volume keys (hex; default DATA/master.key, created if missing: back it up)")
	fs.BoolVar(&c.Encrypt, "encrypt", false, "encrypt object data of the local backend (the network backend always does)")
	fs.IntVar(&c.Network.K, "erasure-k", 4, "network backend: data cores per volume")
	fs.IntVar(&c.Network.M, "erasure-m", 2, "network backend: parity cores per volume (any m hosters may be lost)")
	fs.IntVar(&c.Network.AckLosses, "ack-losses", -1, "network backend: a PUT is acknowledged once its data is on enough hosters to survive the loss of any this many of them (0..erasure-m; -1: erasure-m, every core)")
	fs.DurationVar(&c.Network.FlushDelay, "flush-delay", 0, "network backend: how long a PUT waits for others to share its stripe (0: none when no push is in flight; PUTs that come during a push share the next flush)")
	fs.DurationVar(&c.Network.FlushWait, "flush-wait", 20*time.Millisecond, "network backend, with --flush-delay 0: the longest a flush that is ready waits for PUTs expected soon to share it (those whose bodies are still coming in, less than a stripe so far, and the next PUTs of the clients the last acknowledgement answered); it starts as soon as they are in (0: never waits)")
	fs.StringVar(&c.Network.ChainGRPC, "chain.grpc", "127.0.0.1:9090", "network backend: chain node gRPC address")
	fs.StringVar(&c.Network.ChainRPC, "chain.rpc", "http://127.0.0.1:26657", "network backend: chain node RPC URL")
	fs.StringVar(&c.Network.KeyringDir, "chain.keyring-dir", "", "network backend: keyring directory of the key that pays for orders")
	fs.StringVar(&c.Network.KeyringBackend, "chain.keyring-backend", "test", "network backend: keyring backend (test, file, os)")
	fs.StringVar(&c.Network.KeyName, "chain.key", "", "network backend: key that places and extends orders (required)")
	fs.StringVar(&c.Network.MaxPrice, "order.max-price", "1000", "network backend: highest price per GiB and epoch of a volume's order")
	fs.Uint64Var(&c.Network.Epochs, "order.epochs", 200, "network backend: duration of a volume's order in epochs")
	fs.StringVar(&c.Network.Deposit, "order.deposit", "100000000udot", "network backend: escrow deposited with each volume's order")
	fs.Int64Var(&c.Network.CacheBytes, "cache-bytes", 256<<20, "network backend: memory cache of the decrypted segments of recently written or read objects, in bytes (0: off, every read goes to the hosters)")
	fs.DurationVar(&c.Network.SlowAfter, "read.slow-after", 2*time.Second, "network backend: a hoster slower than this to answer a read is skipped and the block decoded from others")
	fs.DurationVar(&c.Network.FetchTimeout, "read.timeout", 30*time.Second, "network backend: longest wait for one hoster request")
	fs.DurationVar(&c.Network.HedgeAfter, "read.hedge-after", 250*time.Millisecond, "network backend: a read of whole stripes asks one core more than it needs only when the others have not all answered after this (0: at once, a quarter more bytes read at k=4)")
	fs.Uint64Var(&c.Network.RenewMargin, "renew.margin", 50, "network backend: an order ending within this many epochs is extended to end --order.epochs beyond the margin (orders due within twice the margin go along in the same tx)")
	fs.DurationVar(&c.Network.RenewInterval, "renew.interval", time.Minute, "network backend: how often the renewer looks for orders to extend")
	fs.IntVar(&c.Network.RenewBatch, "renew.batch", 50, "network backend: the most orders one renewal tx extends")
	fs.Float64Var(&c.Network.CompactThreshold, "compact.threshold", 0.5, "network backend: a volume whose stream is at least this share dead is compacted (its live data moved, its order cancelled) by the maintenance pass")
	fs.Int64Var(&c.Network.CompactMaxBytes, "compact.max-bytes", 256<<20, "network backend: the most bytes one maintenance pass copies during compaction")
	fs.DurationVar(&c.Network.CompactMinAge, "compact.min-age", time.Hour, "network backend: a volume is compacted only this long after its last write")
	fs.Uint64Var(&c.Network.MaxStripes, "volume.max-stripes", 16384, "network backend: stripes (k x 64 KiB each) per volume before a new volume (and order) is started")
	fs.Int64Var(&c.Network.PutMemBytes, "put.mem-bytes", 32<<20, "network backend: the most of one object an upload keeps in memory until it is stored; a larger object is spooled to a temporary file under --data (0 or negative: always spool)")
	fs.Int64Var(&c.Network.PutMemBudget, "put.mem-budget", 256<<20, "network backend: the memory all uploads together may keep; an upload that finds it used up spools to a temporary file (0 or negative: always spool)")
	fs.Int64Var(&c.Network.PushMemBytes, "put.push-mem", 128<<20, "network backend: per volume, the most block bytes kept in memory until every core's hosters hold them; pushes send them from there, and read older ones back from the local cores (0 or negative: pushes always read the local cores)")
	fs.StringVar(&c.TLSCert, "tls-cert", "", "PEM certificate (chain) file: serve HTTPS only; re-read when it changes (with --tls-key)")
	fs.StringVar(&c.TLSKey, "tls-key", "", "PEM private key file of --tls-cert")
	fs.IntVar(&c.MaxBuckets, "max-buckets", 0, "buckets per account (0: no limit; more is TooManyBuckets)")
	fs.Int64Var(&c.MaxBytes, "max-bytes", 0, "stored bytes per account, every version and uploaded part (0: no limit; more is QuotaExceeded)")
	fs.IntVar(&c.MaxUploads, "max-uploads", 0, "multipart uploads in progress per account (0: no limit; more is QuotaExceeded)")
	fs.DurationVar(&c.UploadExpiry, "upload-expiry", 7*24*time.Hour, "incomplete multipart uploads are aborted after this long when no lifecycle rule says otherwise")
	fs.DurationVar(&c.MaintenanceInterval, "maintenance-interval", time.Hour, "how often upkeep runs (expired uploads, lifecycle rules)")
	fs.DurationVar(&c.LifecycleDay, "lifecycle-day", 24*time.Hour, "length of a day in lifecycle rules (shorten only for tests)")
	fs.StringVar(&c.PprofListen, "debug.pprof", "", "serve the Go profiler (net/http/pprof) on this address, e.g. 127.0.0.1:6060 (off when empty; loopback only)")
	fs.BoolVar(&c.AccessLog, "access-log", false, "log one line per request (id, account, operation, bucket, key, status, bytes, latency) on stdout as JSON")
	var keys, domains []string
	var keysFile string
	fs.StringArrayVar(&keys, "key", nil, "access key ACCESS:SECRET[:USERID[:DISPLAYNAME]] (repeatable)")
	fs.StringVar(&keysFile, "keys-file", "", "file with one access key per line")
	fs.StringArrayVar(&domains, "domain", nil, "base domain for virtual-host-style requests, e.g. s3.localhost (repeatable, comma-separated)")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: datdot gateway [flags]\n\nServes the S3 API from a local store or from hosters on the network.\nEvery flag can also be set as "+EnvPrefix+"<FLAG> (dots and dashes as\nunderscores) or in a TOML config file (--config); flags beat the\nenvironment, which beats the file.\n\nFlags:")
		fs.PrintDefaults()
		fmt.Fprint(stderr, "\n"+Usage)
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, pflag.ErrHelp) {
			return c, flag.ErrHelp
		}
		return c, err
	}
	if fs.NArg() > 0 {
		return c, fmt.Errorf("config: unexpected argument %q", fs.Arg(0))
	}
	if err := applyEnvAndFile(fs, getenv, configFile); err != nil {
		return c, err
	}
	switch c.Backend {
	case "local", "network":
	default:
		return c, fmt.Errorf("config: --backend %q, want local or network", c.Backend)
	}
	if c.PprofListen != "" {
		if err := debugserve.CheckLoopback(c.PprofListen); err != nil {
			return c, fmt.Errorf("config: --debug.pprof %w", err)
		}
	}
	if c.Network.AckLosses < -1 || c.Network.AckLosses > c.Network.M {
		return c, fmt.Errorf("config: --ack-losses %d, want 0 to --erasure-m (%d), or -1 for erasure-m", c.Network.AckLosses, c.Network.M)
	}
	if (c.TLSCert == "") != (c.TLSKey == "") {
		return c, errors.New("config: --tls-cert and --tls-key go together")
	}
	if c.MaxBuckets < 0 || c.MaxBytes < 0 || c.MaxUploads < 0 {
		return c, errors.New("config: --max-buckets, --max-bytes and --max-uploads must not be negative")
	}
	if c.Network.MaxStripes == 0 {
		return c, errors.New("config: --volume.max-stripes must be positive")
	}
	if c.Network.RenewMargin == 0 || c.Network.RenewInterval <= 0 || c.Network.RenewBatch <= 0 {
		return c, errors.New("config: --renew.margin, --renew.interval and --renew.batch must be positive")
	}
	if !(c.Network.CompactThreshold > 0 && c.Network.CompactThreshold <= 1) || c.Network.CompactMaxBytes <= 0 || c.Network.CompactMinAge <= 0 {
		return c, errors.New("config: --compact.threshold must be in (0, 1], --compact.max-bytes and --compact.min-age positive")
	}
	if c.MaintenanceInterval <= 0 || c.LifecycleDay <= 0 || c.UploadExpiry <= 0 {
		return c, errors.New("config: --maintenance-interval, --lifecycle-day and --upload-expiry must be positive")
	}
	if c.MasterKeyFile == "" {
		c.MasterKeyFile = filepath.Join(c.DataDir, "master.key")
	}
	for _, d := range domains {
		for _, p := range strings.Split(d, ",") {
			if p = strings.TrimSpace(p); p != "" {
				c.Domains = append(c.Domains, p)
			}
		}
	}
	for _, s := range keys {
		k, err := ParseKey(s)
		if err != nil {
			return c, err
		}
		c.Keys = append(c.Keys, k)
	}
	if keysFile != "" {
		f, err := os.Open(keysFile)
		if err != nil {
			return c, fmt.Errorf("config: %w", err)
		}
		ks, err := ReadKeys(f)
		f.Close()
		if err != nil {
			return c, fmt.Errorf("config: %s: %w", keysFile, err)
		}
		c.Keys = append(c.Keys, ks...)
	}
	// --key's own variable would be DATDOT_GATEWAY_KEY; keys come from
	// DATDOT_GATEWAY_KEYS instead (a list), so the singular is refused
	// rather than silently ignored (which would start with no key of the
	// operator's).
	if getenv(EnvName("key")) != "" {
		return c, fmt.Errorf("config: %s is not read; give keys as %s=ACCESS:SECRET[,ACCESS:SECRET...]", EnvName("key"), "DATDOT_GATEWAY_KEYS")
	}
	if env := getenv("DATDOT_GATEWAY_KEYS"); env != "" {
		for _, s := range strings.FieldsFunc(env, func(r rune) bool { return r == ',' || r == ' ' || r == '\n' }) {
			k, err := ParseKey(s)
			if err != nil {
				return c, fmt.Errorf("DATDOT_GATEWAY_KEYS: %w", err)
			}
			c.Keys = append(c.Keys, k)
		}
	}
	seen := map[string]bool{}
	for _, k := range c.Keys {
		if seen[k.AccessKey] {
			return c, errors.New("config: access key " + k.AccessKey + " given twice")
		}
		seen[k.AccessKey] = true
	}
	if len(c.Keys) == 0 {
		c.Keys = []Key{{AccessKey: DevAccessKey, SecretKey: DevSecretKey, UserID: DevAccessKey, DisplayName: "datdot-dev"}}
		c.DevKey = true
	}
	if err := c.CheckDevKey(); err != nil {
		return c, err
	}
	return c, nil
}

// applyEnvAndFile sets every flag not given on the command line from its
// environment variable or, failing that, from the config file. Access keys
// (--key) from the file are added to those of the flags.
func applyEnvAndFile(fs *pflag.FlagSet, getenv func(string) string, configFile string) error {
	if configFile == "" {
		configFile = getenv(EnvName("config"))
	}
	if configFile == "" {
		data := fs.Lookup("data")
		dir := data.Value.String()
		if e := getenv(EnvName("data")); e != "" && !data.Changed {
			dir = e
		}
		if p := filepath.Join(dir, ConfigFileName); fileExists(p) {
			configFile = p
		}
	}
	v := viper.New()
	if configFile != "" {
		v.SetConfigFile(configFile)
		v.SetConfigType("toml")
		if err := v.ReadInConfig(); err != nil {
			return fmt.Errorf("config %s: %w", configFile, err)
		}
		for _, k := range v.AllKeys() {
			if fs.Lookup(k) == nil || k == "config" {
				return fmt.Errorf("config %s: unknown setting %q", configFile, k)
			}
		}
	}
	var errs []error
	fs.VisitAll(func(f *pflag.Flag) {
		if f.Name == "config" {
			return
		}
		if f.Name != "key" {
			if f.Changed {
				return
			}
			if e := getenv(EnvName(f.Name)); e != "" {
				if err := fs.Set(f.Name, e); err != nil {
					errs = append(errs, fmt.Errorf("config: %s=%q: %w", EnvName(f.Name), e, err))
				}
				return
			}
		}
		if !v.IsSet(f.Name) {
			return
		}
		vals := []string{v.GetString(f.Name)}
		if f.Value.Type() == "stringArray" {
			vals = v.GetStringSlice(f.Name)
		}
		for _, val := range vals {
			if err := fs.Set(f.Name, val); err != nil {
				errs = append(errs, fmt.Errorf("config %s: %s = %q: %w", configFile, f.Name, val, err))
			}
		}
	})
	return errors.Join(errs...)
}

func fileExists(p string) bool {
	_, err := os.Stat(p)
	return err == nil
}

// ErrDevKeyExposed: the development key pair, whose secret is published,
// is configured on a listen address other machines can reach.
var ErrDevKeyExposed = errors.New("config: the development key pair " + DevAccessKey + " (its secret is public) is only allowed on a loopback listen address; give a key with --key, --keys-file or DATDOT_GATEWAY_KEYS, or listen on 127.0.0.1")

// CheckDevKey refuses the development key pair (whether defaulted or given
// explicitly) unless Listen is a loopback address: 127.0.0.0/8, ::1 or
// localhost. An empty host (":9000") listens on every interface.
func (c Config) CheckDevKey() error {
	dev := c.DevKey
	for _, k := range c.Keys {
		if k.AccessKey == DevAccessKey || k.SecretKey == DevSecretKey {
			dev = true
		}
	}
	if !dev || LoopbackListen(c.Listen) {
		return nil
	}
	return fmt.Errorf("%w (--listen %q)", ErrDevKeyExposed, c.Listen)
}

// LoopbackListen reports whether the listen address addr only accepts
// connections from this machine.
func LoopbackListen(addr string) bool {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		host = addr
	}
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip, err := netip.ParseAddr(host)
	return err == nil && ip.IsLoopback()
}
