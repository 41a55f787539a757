package devnet

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
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
// its own supervised process. The inits run one after the other (each picks
// a free port); register, start and the wait for /v1/health run for all
// hosters at once. It returns their endpoints, in hoster order.
func startHosters(ctx context.Context, c Config, sup *supervisor, log *slog.Logger) ([]string, error) {
	grpc, rpc := c.addr(c.GRPCPort), "http://"+c.addr(c.RPCPort)
	chainFlags := []string{"--chain.grpc", grpc, "--chain.rpc", rpc}
	urls := make([]string, c.Hosters)
	for i := 1; i <= c.Hosters; i++ {
		url, err := initHoster(ctx, c, i, chainFlags)
		if err != nil {
			return nil, err
		}
		urls[i-1] = url
	}
	errs := make([]error, c.Hosters)
	var wg sync.WaitGroup
	for i := 1; i <= c.Hosters; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i-1] = runHoster(ctx, c, sup, log, i, urls[i-1], chainFlags)
		}()
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	return urls, nil
}

// initHoster makes hoster i's home the first time and returns its endpoint.
func initHoster(ctx context.Context, c Config, i int, chainFlags []string) (string, error) {
	home := c.hosterHome(i)
	endpointFile := filepath.Join(home, "endpoint")
	if _, err := os.Stat(filepath.Join(home, "hoster.toml")); os.IsNotExist(err) {
		port, err := freeLoopbackPort(c.Host)
		if err != nil {
			return "", err
		}
		listen := net.JoinHostPort(c.Host, strconv.Itoa(port))
		args := []string{"hoster", "init", "--home", home, "--listen", listen, "--endpoint", "http://" + listen,
			"--capacity", strconv.Itoa(HosterCapacity), "--reserve", strconv.Itoa(64 << 20),
			"--region", hosterRegions[(i-1)%len(hosterRegions)], "--price", hosterPrice(i), "--stake", HosterStake,
			"--chain.keyring_dir", home, "--chain.keyring_backend", "test", "--chain.key", hosterName(i)}
		if _, err := run(ctx, c.DatdotBin, append(args, chainFlags...)...); err != nil {
			return "", err
		}
		if err := writeFileAtomic(endpointFile, []byte("http://"+listen+"\n"), 0o644); err != nil {
			return "", err
		}
	}
	raw, err := os.ReadFile(endpointFile)
	if err != nil {
		return "", fmt.Errorf("devnet: hoster %d: %w", i, err)
	}
	return strings.TrimSpace(string(raw)), nil
}

// runHoster registers hoster i (idempotent), starts its daemon and waits
// until it answers.
func runHoster(ctx context.Context, c Config, sup *supervisor, log *slog.Logger, i int, url string, chainFlags []string) error {
	home := c.hosterHome(i)
	if _, err := run(ctx, c.DatdotBin, append([]string{"hoster", "register", "--home", home}, chainFlags...)...); err != nil {
		return fmt.Errorf("devnet: register %s: %w", hosterName(i), err)
	}
	ch, err := sup.start(hosterName(i), false, c.DatdotBin, append([]string{"hoster", "start", "--home", home}, chainFlags...)...)
	if err != nil {
		return err
	}
	if err := waitUntil(ctx, 2*time.Minute, ch, hosterName(i), func(ctx context.Context) bool {
		return httpOK(ctx, url+"/v1/health")
	}); err != nil {
		return err
	}
	log.Info("hoster is up", "hoster", hosterName(i), "endpoint", url)
	return nil
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
