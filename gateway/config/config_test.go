package config

import (
	"bytes"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestParse(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "keys")
	os.WriteFile(file, []byte("# accounts\nAKF1:sf1:acct1:Account One\n\nAKF2:sf2 # second\n"), 0o600)
	env := map[string]string{"DATDOT_GATEWAY_KEYS": "AKE1:se1, AKE2:se2:acct1"}
	c, err := Parse([]string{"--listen", "127.0.0.1:0", "--key", "AKF0:s0", "--keys-file", file, "--domain", "s3.a,s3.b", "--domain", "s3.c"},
		func(k string) string { return env[k] }, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if c.DevKey || len(c.Keys) != 5 || strings.Join(c.Domains, " ") != "s3.a s3.b s3.c" || c.Region != "us-east-1" {
		t.Fatalf("config %+v", c)
	}
	want := map[string]Key{
		"AKF0": {"AKF0", "s0", "AKF0", "AKF0"},
		"AKF1": {"AKF1", "sf1", "acct1", "Account One"},
		"AKF2": {"AKF2", "sf2", "AKF2", "AKF2"},
		"AKE1": {"AKE1", "se1", "AKE1", "AKE1"},
		"AKE2": {"AKE2", "se2", "acct1", "acct1"},
	}
	for _, k := range c.Keys {
		if want[k.AccessKey] != k {
			t.Errorf("key %+v, want %+v", k, want[k.AccessKey])
		}
	}
}

func TestParseDefaultsAndErrors(t *testing.T) {
	none := func(string) string { return "" }
	c, err := Parse(nil, none, io.Discard)
	if err != nil || !c.DevKey || c.Keys[0].AccessKey != DevAccessKey || c.Listen != "127.0.0.1:9000" {
		t.Fatalf("defaults: %+v %v", c, err)
	}
	for _, args := range [][]string{{"--key", "nosecret"}, {"--key", ":s"}, {"--key", "A:s", "--key", "A:t"}, {"extra"}, {"--keys-file", "/nonexistent/keys"}} {
		if _, err := Parse(args, none, io.Discard); err == nil {
			t.Errorf("%v accepted", args)
		} else if strings.Contains(err.Error(), "s\"") && strings.Contains(err.Error(), ":s") {
			t.Errorf("%v: error shows the secret: %v", args, err)
		}
	}
}

// TestSingularKeyEnvRefused: DATDOT_GATEWAY_KEY (what --key's variable
// would be called) is refused with a pointer to DATDOT_GATEWAY_KEYS, not
// ignored, and its secret is not echoed.
func TestSingularKeyEnvRefused(t *testing.T) {
	env := map[string]string{"DATDOT_GATEWAY_KEY": "AKONE:topsecret"}
	_, err := Parse(nil, func(k string) string { return env[k] }, io.Discard)
	if err == nil || !strings.Contains(err.Error(), "DATDOT_GATEWAY_KEYS") || strings.Contains(err.Error(), "topsecret") {
		t.Fatalf("DATDOT_GATEWAY_KEY: %v", err)
	}
}

func TestMasterKey(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "sub", "master.key")
	if _, _, err := LoadMasterKey(p, false); err == nil {
		t.Fatal("missing key file accepted without create")
	}
	k, created, err := LoadMasterKey(p, true)
	if err != nil || !created || len(k) != MinMasterKeySize {
		t.Fatalf("create: %x %v %v", k, created, err)
	}
	if st, err := os.Stat(p); err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("key file mode: %v %v", st.Mode(), err)
	}
	again, created, err := LoadMasterKey(p, true)
	if err != nil || created || !bytes.Equal(again, k) {
		t.Fatalf("reload: %x %v %v", again, created, err)
	}
	for name, content := range map[string]string{"short": strings.Repeat("ab", 31), "nothex": strings.Repeat("zz", 32)} {
		bad := filepath.Join(dir, name)
		os.WriteFile(bad, []byte(content), 0o600)
		if _, _, err := LoadMasterKey(bad, true); err == nil {
			t.Errorf("%s key accepted", name)
		}
	}
}

// TestDevKeyOnlyOnLoopback: the development key pair (default or given
// explicitly) is refused on a listen address other machines can reach.
func TestDevKeyOnlyOnLoopback(t *testing.T) {
	none := func(string) string { return "" }
	dev := DevAccessKey + ":" + DevSecretKey
	for _, args := range [][]string{
		{"--listen", "0.0.0.0:9000"}, {"--listen", ":9000"}, {"--listen", "[::]:9000"},
		{"--listen", "192.0.2.7:9000"}, {"--listen", "gateway.example.org:9000"},
		{"--listen", "0.0.0.0:9000", "--key", dev},
		{"--listen", "0.0.0.0:9000", "--key", "AKIAOTHER:" + DevSecretKey},
	} {
		_, err := Parse(args, none, io.Discard)
		if !errors.Is(err, ErrDevKeyExposed) {
			t.Errorf("%v: want ErrDevKeyExposed, got %v", args, err)
		}
	}
	_, err := Parse([]string{"--listen", "0.0.0.0:9000"}, func(k string) string {
		if k == "DATDOT_GATEWAY_KEYS" {
			return dev
		}
		return ""
	}, io.Discard)
	if !errors.Is(err, ErrDevKeyExposed) {
		t.Errorf("dev key from the environment: %v", err)
	}
	for _, args := range [][]string{
		{"--listen", "127.0.0.1:9000"}, {"--listen", "127.0.0.2:0"}, {"--listen", "[::1]:9000"},
		{"--listen", "localhost:9000"}, {"--listen", "0.0.0.0:9000", "--key", "AKIAREAL:a-real-secret"},
	} {
		if _, err := Parse(args, none, io.Discard); err != nil {
			t.Errorf("%v: %v", args, err)
		}
	}
}

// TestSources: a setting comes from the flag if given, else from its
// DATDOT_GATEWAY_* variable, else from the config file, else the default;
// access keys are merged from all of them.
func TestSources(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "gw.toml")
	os.WriteFile(file, []byte(`listen = "127.0.0.1:9100"
region = "file-region"
backend = "network"
erasure-k = 3
flush-delay = "7ms"
cache-bytes = 1048576
key = ["AKFILE:sfile"]
domain = ["s3.file"]

[chain]
keyring-dir = "/file/keyring"
grpc = "file:9090"

[read]
slow-after = "3s"

[put]
mem-bytes = 4096
`), 0o600)
	env := map[string]string{
		"DATDOT_GATEWAY_CONFIG":         file,
		"DATDOT_GATEWAY_REGION":         "env-region",
		"DATDOT_GATEWAY_CHAIN_GRPC":     "env:9090",
		"DATDOT_GATEWAY_ERASURE_M":      "3",
		"DATDOT_GATEWAY_PUT_MEM_BUDGET": "-1",
	}
	c, err := Parse([]string{"--chain.grpc", "flag:9090", "--key", "AKFLAG:sflag"}, func(k string) string { return env[k] }, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	checks := []struct {
		what      string
		got, want any
	}{
		{"listen (file)", c.Listen, "127.0.0.1:9100"},
		{"region (env beats file)", c.Region, "env-region"},
		{"chain.grpc (flag beats env and file)", c.Network.ChainGRPC, "flag:9090"},
		{"chain.keyring-dir (file table)", c.Network.KeyringDir, "/file/keyring"},
		{"backend (file)", c.Backend, "network"},
		{"erasure-k (file)", c.Network.K, 3},
		{"erasure-m (env)", c.Network.M, 3},
		{"flush-delay (file)", c.Network.FlushDelay, 7 * time.Millisecond},
		{"cache-bytes (file)", c.Network.CacheBytes, int64(1 << 20)},
		{"read.slow-after (file)", c.Network.SlowAfter, 3 * time.Second},
		{"read.timeout (default)", c.Network.FetchTimeout, 30 * time.Second},
		{"read.hedge-after (default 250ms)", c.Network.HedgeAfter, 250 * time.Millisecond},
		{"put.mem-bytes (file table)", c.Network.PutMemBytes, int64(4096)},
		{"put.mem-budget (env)", c.Network.PutMemBudget, int64(-1)},
		{"domains (file)", strings.Join(c.Domains, ","), "s3.file"},
		{"keys (flag and file merged)", len(c.Keys), 2},
	}
	for _, ch := range checks {
		if ch.got != ch.want {
			t.Errorf("%s: %v, want %v", ch.what, ch.got, ch.want)
		}
	}
	// DATA/gateway.toml is read when no file is named.
	data := filepath.Join(dir, "data")
	os.MkdirAll(data, 0o755)
	os.WriteFile(filepath.Join(data, ConfigFileName), []byte("region = \"from-data-dir\"\n"), 0o600)
	c, err = Parse([]string{"--data", data}, func(string) string { return "" }, io.Discard)
	if err != nil || c.Region != "from-data-dir" {
		t.Fatalf("DATA/%s: region %q, %v", ConfigFileName, c.Region, err)
	}
}

// TestBadSources: a malformed value or an unknown setting is an error
// naming where it came from, never silently a default.
func TestBadSources(t *testing.T) {
	dir := t.TempDir()
	write := func(name, content string) string {
		p := filepath.Join(dir, name)
		os.WriteFile(p, []byte(content), 0o600)
		return p
	}
	cases := map[string]struct {
		env  map[string]string
		want string
	}{
		"env not a number":  {map[string]string{"DATDOT_GATEWAY_ERASURE_K": "four"}, "DATDOT_GATEWAY_ERASURE_K"},
		"env bad duration":  {map[string]string{"DATDOT_GATEWAY_READ_SLOW_AFTER": "soon"}, "DATDOT_GATEWAY_READ_SLOW_AFTER"},
		"file bad duration": {map[string]string{"DATDOT_GATEWAY_CONFIG": write("a.toml", "flush-delay = \"later\"\n")}, "flush-delay"},
		"file unknown key":  {map[string]string{"DATDOT_GATEWAY_CONFIG": write("b.toml", "lisen = \"x\"\n")}, "unknown setting \"lisen\""},
		"file not toml":     {map[string]string{"DATDOT_GATEWAY_CONFIG": write("c.toml", "listen = = 1\n")}, "c.toml"},
		"file missing":      {map[string]string{"DATDOT_GATEWAY_CONFIG": filepath.Join(dir, "none.toml")}, "none.toml"},
		"bad backend (env)": {map[string]string{"DATDOT_GATEWAY_BACKEND": "cloud"}, "backend"},
	}
	for name, tc := range cases {
		_, err := Parse(nil, func(k string) string { return tc.env[k] }, io.Discard)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: %v, want an error mentioning %q", name, err, tc.want)
		}
	}
}

// TestServingSettings: TLS, limits, upkeep and access-log settings come
// from flags and the environment, and bad combinations are refused.
func TestServingSettings(t *testing.T) {
	env := map[string]string{"DATDOT_GATEWAY_MAX_BYTES": "1000", "DATDOT_GATEWAY_ACCESS_LOG": "true"}
	c, err := Parse([]string{"--data", t.TempDir(), "--tls-cert", "c.pem", "--tls-key", "k.pem", "--max-buckets", "3",
		"--max-uploads", "7", "--upload-expiry", "2h", "--maintenance-interval", "1m", "--lifecycle-day", "1s"},
		func(k string) string { return env[k] }, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if c.TLSCert != "c.pem" || c.TLSKey != "k.pem" || c.MaxBuckets != 3 || c.MaxBytes != 1000 || c.MaxUploads != 7 ||
		c.UploadExpiry != 2*time.Hour || c.MaintenanceInterval != time.Minute || c.LifecycleDay != time.Second || !c.AccessLog {
		t.Fatalf("config %+v", c)
	}
	for _, args := range [][]string{
		{"--tls-cert", "c.pem"},
		{"--tls-key", "k.pem"},
		{"--max-bytes", "-1"},
		{"--maintenance-interval", "0s"},
		{"--ack-losses", "3"}, // more than --erasure-m (2)
		{"--ack-losses", "-2"},
		{"--debug.pprof", "0.0.0.0:6060"},
		{"--debug.pprof", "example.com:6060"},
	} {
		if _, err := Parse(append([]string{"--data", t.TempDir()}, args...), func(string) string { return "" }, io.Discard); err == nil {
			t.Errorf("%v accepted", args)
		}
	}
}

// TestAckLossesAndPprof: --ack-losses defaults to -1 (every core) and
// takes 0..erasure-m; --debug.pprof takes a loopback address.
func TestAckLossesAndPprof(t *testing.T) {
	c, err := Parse([]string{"--data", t.TempDir()}, func(string) string { return "" }, io.Discard)
	if err != nil || c.Network.AckLosses != -1 || c.PprofListen != "" {
		t.Fatalf("defaults: ack-losses %d, pprof %q, %v", c.Network.AckLosses, c.PprofListen, err)
	}
	c, err = Parse([]string{"--data", t.TempDir(), "--erasure-m", "3", "--ack-losses", "3", "--debug.pprof", "127.0.0.1:0"},
		func(string) string { return "" }, io.Discard)
	if err != nil || c.Network.AckLosses != 3 || c.PprofListen != "127.0.0.1:0" {
		t.Fatalf("ack-losses %d, pprof %q, %v", c.Network.AckLosses, c.PprofListen, err)
	}
}

// TestUpkeepSettings: the renewal and compaction settings from the TOML
// example of docs/gateway.md, from the environment and from flags; bad
// values are refused.
func TestUpkeepSettings(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "gw.toml")
	toml := `backend = "network"
[order]
epochs = 200          # each renewal pays this many epochs beyond the margin
[renew]
margin = 50           # extend orders ending within 50 epochs
interval = "1m"
[compact]
threshold = 0.5       # compact volumes at least half dead
max-bytes = 268435456 # per maintenance pass (--maintenance-interval)
`
	if err := os.WriteFile(file, []byte(toml), 0o600); err != nil {
		t.Fatal(err)
	}
	env := map[string]string{"DATDOT_GATEWAY_RENEW_BATCH": "7", "DATDOT_GATEWAY_COMPACT_MIN_AGE": "5m"}
	c, err := Parse([]string{"--config", file, "--data", dir, "--volume.max-stripes", "64"}, func(k string) string { return env[k] }, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	n := c.Network
	if n.Epochs != 200 || n.RenewMargin != 50 || n.RenewInterval != time.Minute || n.RenewBatch != 7 ||
		n.CompactThreshold != 0.5 || n.CompactMaxBytes != 256<<20 || n.CompactMinAge != 5*time.Minute || n.MaxStripes != 64 {
		t.Fatalf("parsed %+v", n)
	}
	for _, args := range [][]string{
		{"--compact.threshold", "0"}, {"--compact.threshold", "1.5"}, {"--renew.margin", "0"},
		{"--renew.batch", "0"}, {"--volume.max-stripes", "0"}, {"--compact.max-bytes", "-1"},
	} {
		if _, err := Parse(append(args, "--data", dir), func(string) string { return "" }, io.Discard); err == nil {
			t.Fatalf("%v accepted", args)
		}
	}
}
