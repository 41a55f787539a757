package devnet

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/datdot/datdot/gateway/config"
)

func TestSetTOML(t *testing.T) {
	p := filepath.Join(t.TempDir(), "c.toml")
	os.WriteFile(p, []byte("moniker = \"x\"\n[rpc]\nladdr = \"tcp://0.0.0.0:1\"\ncors_allowed_origins = []\n[p2p]\nladdr = \"tcp://0.0.0.0:2\"\n"), 0o644)
	if err := setTOML(p, []tomlSetting{{"rpc", "laddr", `"tcp://127.0.0.1:5"`}, {"p2p", "laddr", `"tcp://127.0.0.1:6"`}, {"", "moniker", `"y"`}}); err != nil {
		t.Fatal(err)
	}
	got, _ := os.ReadFile(p)
	want := "moniker = \"y\"\n[rpc]\nladdr = \"tcp://127.0.0.1:5\"\ncors_allowed_origins = []\n[p2p]\nladdr = \"tcp://127.0.0.1:6\"\n"
	if string(got) != want {
		t.Fatalf("got\n%s\nwant\n%s", got, want)
	}
	// A key that is not in the section is an error and leaves the file as it was.
	if err := setTOML(p, []tomlSetting{{"p2p", "cors_allowed_origins", "[]"}}); err == nil || !strings.Contains(err.Error(), "cors_allowed_origins") {
		t.Fatalf("missing key: %v", err)
	}
	if again, _ := os.ReadFile(p); string(again) != want {
		t.Fatal("file changed by a refused edit")
	}
}

func TestKeysPersist(t *testing.T) {
	p := filepath.Join(t.TempDir(), "gateway.keys")
	k1, err := loadOrMakeKeys(p)
	if err != nil {
		t.Fatal(err)
	}
	if len(k1.AccessKey) != 20 || len(k1.SecretKey) != 40 {
		t.Fatalf("key pair %+v", k1)
	}
	k2, err := loadOrMakeKeys(p)
	if err != nil || k2 != k1 {
		t.Fatalf("second load %+v %v, want %+v", k2, err, k1)
	}
	// The file is what the gateway reads with --keys-file.
	f, _ := os.Open(p)
	defer f.Close()
	ks, err := config.ReadKeys(f)
	if err != nil || len(ks) != 1 || ks[0] != k1 {
		t.Fatalf("gateway reads %+v %v", ks, err)
	}
	if st, _ := os.Stat(p); st.Mode().Perm() != 0o600 {
		t.Fatalf("keys file mode %v", st.Mode())
	}
	os.WriteFile(p, []byte("# nothing\n"), 0o600)
	if _, err := loadOrMakeKeys(p); err == nil {
		t.Fatal("an empty keys file was accepted")
	}
}

// The env file, sourced by a real shell, gives back every value exactly,
// even with quotes and spaces in the home path.
func TestEnvFileSources(t *testing.T) {
	c := Defaults()
	c.Home = "/tmp/it's a \"home\" $HOME"
	s := summary{c: c, keys: config.Key{AccessKey: "AK", SecretKey: "s'e$c`r"}, rpc: "http://127.0.0.1:1", api: "http://127.0.0.1:2", gateway: "http://127.0.0.1:9000", dashboard: "http://127.0.0.1:9100"}
	p := filepath.Join(t.TempDir(), "devnet.env")
	os.WriteFile(p, []byte(s.env()), 0o600)
	out, err := exec.Command("sh", "-c", `set -a; . "$0"; set +a; printf '%s\n' "$DATDOT_HOME" "$AWS_SECRET_ACCESS_KEY" "$S3_ALIAS_HOST" "$DASHBOARD_URL" "$RCLONE_CONFIG_DATDOT_ENDPOINT"`, p).Output()
	if err != nil {
		t.Fatal(err)
	}
	want := c.Home + "\ns'e$c`r\n127.0.0.1:9000/media\nhttp://127.0.0.1:9100\nhttp://127.0.0.1:9000\n"
	if string(out) != want {
		t.Fatalf("sourced\n%q\nwant\n%q", out, want)
	}
}

func TestLockHome(t *testing.T) {
	dir := t.TempDir()
	unlock, err := lockHome(dir)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := lockHome(dir); err == nil || !strings.Contains(err.Error(), "another devnet") {
		t.Fatalf("second lock: %v", err)
	}
	unlock()
	unlock2, err := lockHome(dir)
	if err != nil {
		t.Fatalf("lock after unlock: %v", err)
	}
	unlock2()
}

func TestBusyPortRefused(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	c := Defaults()
	c.Home = t.TempDir()
	c.ChainBin, c.DatdotBin = "/bin/false", "/bin/false"
	c.HosterCommand = true
	c.GatewayListen = ln.Addr().String()
	for _, p := range []*int{&c.RPCPort, &c.P2PPort, &c.GRPCPort, &c.APIPort} {
		*p = freePort(t)
	}
	c.DashboardListen = "127.0.0.1:" + itoa(freePort(t))
	err = Run(context.Background(), c, slog.New(slog.NewTextHandler(io.Discard, nil)), io.Discard)
	if err == nil || !strings.Contains(err.Error(), "--gateway-listen") {
		t.Fatalf("busy gateway port: %v", err)
	}
	if _, err := os.Stat(filepath.Join(c.Home, "chain")); !os.IsNotExist(err) {
		t.Fatal("a chain was made although the devnet could not start")
	}

	// With --fresh too, the refused start wipes nothing of the devnet
	// that is already there.
	keep := filepath.Join(c.Home, "gateway", "kept")
	if err := os.MkdirAll(filepath.Dir(keep), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(keep, []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	c.Fresh = true
	err = Run(context.Background(), c, slog.New(slog.NewTextHandler(io.Discard, nil)), io.Discard)
	if err == nil || !strings.Contains(err.Error(), "--gateway-listen") {
		t.Fatalf("busy gateway port with --fresh: %v", err)
	}
	if _, err := os.Stat(keep); err != nil {
		t.Fatalf("a start refused for a busy port wiped the devnet's data: %v", err)
	}
}

// A child that dies is reported once, with its log, and not restarted.
func TestSupervisorReportsDeath(t *testing.T) {
	sup := newSupervisor(slog.New(slog.NewTextHandler(io.Discard, nil)), t.TempDir())
	c, err := sup.start("short", false, "/bin/sh", "-c", "echo going away; exit 3")
	if err != nil {
		t.Fatal(err)
	}
	long, err := sup.start("long", true, "/bin/sh", "-c", "sleep 60")
	if err != nil {
		t.Fatal(err)
	}
	select {
	case dead := <-sup.exits:
		if dead != c || exitReason(dead) != "exit status 3" || !strings.Contains(tail(dead.logPath, 5), "going away") {
			t.Fatalf("reported %s %s %q", dead.name, exitReason(dead), tail(dead.logPath, 5))
		}
	case <-time.After(30 * time.Second):
		t.Fatal("no report of the dead child")
	}
	sup.stopAll(10 * time.Second)
	select {
	case <-long.done:
	default:
		t.Fatal("stopAll returned with a child running")
	}
	select {
	case dead := <-sup.exits:
		t.Fatalf("a child stopped by the supervisor was reported as dead: %s", dead.name)
	default:
	}
}

func freePort(t *testing.T) int {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

func itoa(i int) string { return strconv.Itoa(i) }

// The devnet's HTTP server gives the page its endpoints, the registry
// files with the devnet's endpoints, and a clear JSON error when the
// gateway cannot be reached.
func TestDashboardHandler(t *testing.T) {
	c := Defaults()
	c.GatewayListen = "127.0.0.1:" + itoa(freePort(t)) // nothing listens there
	ep := Endpoints{ChainID: ChainID, Denom: Denom, RPC: "http://127.0.0.1:1", REST: "http://127.0.0.1:2", GRPC: "127.0.0.1:3", Gateway: "http://" + c.GatewayListen, Bucket: "media", Hosters: []string{}}
	h, err := dashboardHandler(ep, "http://127.0.0.1:4", c, config.Key{AccessKey: "AKDASH", SecretKey: "topsecret-dashboard-value"}, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(h)
	defer srv.Close()
	get := func(path string, v any) int {
		resp, err := http.Get(srv.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		if err := json.NewDecoder(resp.Body).Decode(v); err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		return resp.StatusCode
	}
	var got Endpoints
	if get("/devnet.json", &got) != 200 || got.REST != ep.REST || got.ChainID != ChainID {
		t.Fatalf("devnet.json %+v", got)
	}
	var reg struct {
		ChainID string `json:"chain_id"`
		APIs    struct {
			RPC []struct{ Address string } `json:"rpc"`
		} `json:"apis"`
	}
	if get("/chain.json", &reg) != 200 || reg.ChainID != ChainID || reg.APIs.RPC[0].Address != ep.RPC {
		t.Fatalf("chain.json %+v", reg)
	}
	var keplr map[string]any
	if get("/keplr.json", &keplr) != 200 || keplr["rest"] != ep.REST {
		t.Fatalf("keplr.json %v", keplr)
	}
	var e map[string]string
	if code := get("/gateway/buckets", &e); code != http.StatusBadGateway || !strings.HasPrefix(e["error"], "gateway: ") {
		t.Fatalf("buckets with the gateway down: %d %v", code, e)
	}
	if strings.Contains(e["error"], "topsecret-dashboard-value") {
		t.Fatalf("error shows the secret: %v", e)
	}
}

// The network backend needs a hoster per core and the hoster daemon; the
// refusals name the flags that fix them.
func TestValidateBackend(t *testing.T) {
	base := Defaults()
	base.ChainBin, base.DatdotBin, base.HosterCommand = "/bin/false", "/bin/false", true
	if err := base.validate(); err != nil {
		t.Fatalf("defaults refused: %v", err)
	}
	if base.Backend != "network" || base.Hosters < base.ErasureK+base.ErasureM+2 {
		t.Fatalf("defaults: backend %s, %d hosters for %d+%d cores: want network with two spares", base.Backend, base.Hosters, base.ErasureK, base.ErasureM)
	}
	for _, tc := range []struct {
		edit func(*Config)
		want string
	}{
		{func(c *Config) { c.Hosters = 3 }, "--hosters 3 < --erasure-k 2 + --erasure-m 2"},
		{func(c *Config) { c.ErasureK = 0 }, "want k >= 1"},
		{func(c *Config) { c.ErasureM = -1 }, "want k >= 1 and m >= 0"},
		{func(c *Config) { c.HosterCommand = false }, "use --backend local"},
		{func(c *Config) { c.Backend = "s3" }, `--backend "s3"`},
	} {
		c := base
		tc.edit(&c)
		if err := c.validate(); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("want an error with %q, got %v", tc.want, err)
		}
	}
	local := base
	local.Backend, local.Hosters, local.HosterCommand = "local", 0, false
	if err := local.validate(); err != nil {
		t.Fatalf("local backend without hosters refused: %v", err)
	}
}

// The gateway gets every flag of its backend explicitly: the chain the
// devnet runs, the genesis account "gateway", the erasure code and the
// order terms.
func TestGatewayArgs(t *testing.T) {
	c := Defaults()
	c.Home = "/h"
	flags := func(args []string) map[string]string {
		m := map[string]string{}
		for i := 1; i+1 < len(args); i += 2 {
			if !strings.HasPrefix(args[i], "--") {
				t.Fatalf("args %q: %q is not a flag", args, args[i])
			}
			m[args[i]] = args[i+1]
		}
		return m
	}
	args := c.gatewayArgs()
	if args[0] != "gateway" {
		t.Fatalf("args %q", args)
	}
	got := flags(args)
	want := map[string]string{
		"--listen": "127.0.0.1:9000", "--data": "/h/gateway", "--keys-file": "/h/gateway.keys", "--backend": "network",
		"--erasure-k": "2", "--erasure-m": "2", "--chain.grpc": "127.0.0.1:9090", "--chain.rpc": "http://127.0.0.1:26657",
		"--chain.keyring-dir": "/h/chain", "--chain.keyring-backend": "test", "--chain.key": "gateway",
		"--order.max-price": "200", "--order.epochs": "1000000", "--order.deposit": "1000000000udot",
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s = %q, want %q", k, got[k], v)
		}
	}
	if len(got) != len(want) {
		t.Errorf("args %q: %d flags, want %d", args, len(got), len(want))
	}
	c.Backend = "local"
	got = flags(c.gatewayArgs())
	if got["--backend"] != "local" || got["--chain.key"] != "" || len(got) != 4 {
		t.Fatalf("local args %q", c.gatewayArgs())
	}
}

// The hosters' asking prices stay under the order's max price, or the
// gateway's orders would find no hoster.
func TestHosterPricesUnderMaxPrice(t *testing.T) {
	max, err := strconv.Atoi(Defaults().OrderMaxPrice)
	if err != nil {
		t.Fatal(err)
	}
	for i := 1; i <= GenesisHosterAccounts; i++ {
		if p, _ := strconv.Atoi(hosterPrice(i)); p > max {
			t.Errorf("hoster %d asks %d > max price %d", i, p, max)
		}
	}
}
