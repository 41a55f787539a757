package devnet

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// Hoster offers of the devnet: every hoster offers HosterCapacity bytes at
// its own price, in a region of its own where there are enough.
const (
	HosterCapacity = 10 << 30
	HosterStake    = "5000000udot"
)

var hosterRegions = []string{"eu-west", "us-east", "ap-south", "eu-central", "us-west", "sa-east", "af-south", "ap-east"}

// hosterPrice is hoster i's price in udot per GiB per epoch.
func hosterPrice(i int) string { return strconv.Itoa(90 + 10*i) }

// startHosters runs `datdot hoster` for hosters 1..c.Hosters: init (once: a
// config in the hoster's home with a free port, kept so that the endpoint
// registered on chain stays right), register (idempotent) and start, each
// its own supervised process. It returns their endpoints.
func startHosters(ctx context.Context, c Config, sup *supervisor, log *slog.Logger) ([]string, error) {
	grpc, rpc := c.addr(c.GRPCPort), "http://"+c.addr(c.RPCPort)
	chainFlags := []string{"--chain.grpc", grpc, "--chain.rpc", rpc}
	var urls []string
	for i := 1; i <= c.Hosters; i++ {
		home := c.hosterHome(i)
		endpointFile := filepath.Join(home, "endpoint")
		if _, err := os.Stat(filepath.Join(home, "hoster.toml")); os.IsNotExist(err) {
			port, err := freeLoopbackPort(c.Host)
			if err != nil {
				return nil, err
			}
			listen := net.JoinHostPort(c.Host, strconv.Itoa(port))
			args := []string{"hoster", "init", "--home", home, "--listen", listen, "--endpoint", "http://" + listen,
				"--capacity", strconv.Itoa(HosterCapacity), "--reserve", strconv.Itoa(64 << 20),
				"--region", hosterRegions[(i-1)%len(hosterRegions)], "--price", hosterPrice(i), "--stake", HosterStake,
				"--chain.keyring_dir", home, "--chain.keyring_backend", "test", "--chain.key", hosterName(i)}
			if _, err := run(ctx, c.DatdotBin, append(args, chainFlags...)...); err != nil {
				return nil, err
			}
			if err := writeFileAtomic(endpointFile, []byte("http://"+listen+"\n"), 0o644); err != nil {
				return nil, err
			}
		}
		raw, err := os.ReadFile(endpointFile)
		if err != nil {
			return nil, fmt.Errorf("devnet: hoster %d: %w", i, err)
		}
		url := strings.TrimSpace(string(raw))
		if _, err := run(ctx, c.DatdotBin, append([]string{"hoster", "register", "--home", home}, chainFlags...)...); err != nil {
			return nil, fmt.Errorf("devnet: register %s: %w", hosterName(i), err)
		}
		ch, err := sup.start(hosterName(i), false, c.DatdotBin, append([]string{"hoster", "start", "--home", home}, chainFlags...)...)
		if err != nil {
			return nil, err
		}
		if err := waitUntil(ctx, time.Minute, ch, hosterName(i), func(ctx context.Context) bool {
			return httpOK(ctx, url+"/v1/health")
		}); err != nil {
			return nil, err
		}
		log.Info("hoster is up", "hoster", hosterName(i), "endpoint", url)
		urls = append(urls, url)
	}
	return urls, nil
}

// run runs a command to its end and returns its stdout.
func run(ctx context.Context, bin string, args ...string) ([]byte, error) {
	return chaindRaw(ctx, bin, args...)
}

func freeLoopbackPort(host string) (int, error) {
	ln, err := net.Listen("tcp", net.JoinHostPort(host, "0"))
	if err != nil {
		return 0, fmt.Errorf("devnet: %w", err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port, nil
}
