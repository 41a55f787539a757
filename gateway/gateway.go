// Package gateway runs the S3 gateway: the S3 protocol layer (gateway/s3)
// over the local store (gateway/store/local), authenticated by
// gateway/sigv4.
package gateway

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"github.com/datdot/datdot/debugserve"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"time"

	"cosmossdk.io/math"
	sdk "github.com/cosmos/cosmos-sdk/types"

	"github.com/datdot/datdot/chainclient"
	"github.com/datdot/datdot/gateway/config"
	"github.com/datdot/datdot/gateway/metalog"
	"github.com/datdot/datdot/gateway/s3"
	"github.com/datdot/datdot/gateway/secret"
	"github.com/datdot/datdot/gateway/sigv4"
	"github.com/datdot/datdot/gateway/store"
	"github.com/datdot/datdot/gateway/store/crypt"
	"github.com/datdot/datdot/gateway/store/local"
	"github.com/datdot/datdot/gateway/store/network"
	"github.com/datdot/datdot/gateway/store/network/onchain"
	"github.com/datdot/datdot/volume"
)

// ErrNoChain is the network backend (the default) started without a chain
// account to pay for its volumes' orders.
var ErrNoChain = errors.New("gateway: the network backend (the default) needs a chain: give --chain.key (a key in --chain.keyring-dir that pays for orders) with --chain.grpc and --chain.rpc; for a gateway without a network use --backend local, for a whole local network run `datdot devnet`")

// MaxHeaderBytes caps the request header section; larger requests get
// 431 Request Header Fields Too Large from net/http.
const MaxHeaderBytes = 64 << 10

// NewHandler returns the S3 handler for cfg over the given stores. A client
// that sends or reads nothing for cfg.ClientTimeout (DefaultClientTimeout
// if zero) in the middle of a request is disconnected.
//
// Freed blobs are deleted by the request that frees them (no grace
// period); Run uses cfg.DeleteGrace and a background reaper instead.
func NewHandler(cfg config.Config, meta store.MetaStore, blobs store.BlobStore, log *slog.Logger) http.Handler {
	h, _ := newHandler(cfg, Options{}, meta, blobs, store.NewReaper(meta, blobs, 0, log), log)
	return h
}

// NewHandlerWith is NewHandler with the options of Options. It returns the
// S3 server too, whose upkeep (ExpireUploads, RunMaintenance) the caller
// runs.
func NewHandlerWith(cfg config.Config, opts Options, meta store.MetaStore, blobs store.BlobStore, log *slog.Logger) (http.Handler, *s3.Server) {
	return newHandler(cfg, opts, meta, blobs, store.NewReaper(meta, blobs, 0, log), log)
}

func newHandler(cfg config.Config, opts Options, meta store.MetaStore, blobs store.BlobStore, reaper *store.Reaper, log *slog.Logger) (http.Handler, *s3.Server) {
	creds := sigv4.StaticCredentials{}
	users := map[string]store.Owner{}
	for _, k := range cfg.Keys {
		creds[k.AccessKey] = k.SecretKey
		users[k.AccessKey] = store.Owner{ID: k.UserID, DisplayName: k.DisplayName}
	}
	timeout := cfg.ClientTimeout
	if timeout <= 0 {
		timeout = DefaultClientTimeout
	}
	srv := s3.New(s3.Config{
		Meta:         meta,
		Blobs:        blobs,
		Auth:         sigv4.NewVerifier(sigv4.Config{Credentials: creds, Region: cfg.Region, VirtualHostDomains: cfg.Domains}),
		Users:        users,
		Region:       cfg.Region,
		Domains:      cfg.Domains,
		Log:          log,
		Reaper:       reaper,
		Limits:       opts.Limits,
		UploadExpiry: opts.UploadExpiry,
		AccessLog:    opts.AccessLog,
		LifecycleDay: opts.LifecycleDay,
	})
	return clientTimeouts(srv, timeout), srv
}

// openStore opens the metadata and the blob store that cfg.Backend names.
func openStore(ctx context.Context, cfg config.Config, log *slog.Logger) (store.MetaStore, store.BlobStore, func(), error) {
	switch cfg.Backend {
	case "", "local":
		meta, files, err := local.Open(ctx, cfg.DataDir, log)
		if err != nil {
			return nil, nil, nil, err
		}
		var blobs store.BlobStore = files
		if cfg.Encrypt {
			master, err := loadMaster(cfg, log)
			if err != nil {
				meta.Close()
				return nil, nil, nil, err
			}
			if blobs, err = crypt.New(files, master); err != nil {
				meta.Close()
				return nil, nil, nil, err
			}
		}
		return meta, blobs, func() { meta.Close() }, nil
	case "network":
		return openNetwork(cfg, log)
	default:
		return nil, nil, nil, fmt.Errorf("gateway: backend %q is not available", cfg.Backend)
	}
}

// networkConfig is the network store's configuration from the gateway's
// (without the shipper, the remote reader and the cache, which need the
// chain).
func networkConfig(cfg config.Config, master []byte, journal network.Journal, log *slog.Logger) network.Config {
	// The usage records live in the metadata database (journal, a
	// local.Meta); volumes.db is where earlier versions kept them, migrated
	// at Open.
	ncfg := network.Config{Dir: filepath.Join(cfg.DataDir, "network"), Master: master, Journal: journal, Log: log,
		UsagePath: filepath.Join(cfg.DataDir, "volumes.db"),
		Layout:    volume.Layout{K: cfg.Network.K, M: cfg.Network.M}, FlushDelay: cfg.Network.FlushDelay,
		FlushWait:    cfg.Network.FlushWait,
		MaxStripes:   cfg.Network.MaxStripes,
		BlobMemBytes: cfg.Network.PutMemBytes, MemBudgetBytes: cfg.Network.PutMemBudget,
		PushMemBytes: cfg.Network.PushMemBytes,
		Compact: network.CompactConfig{Threshold: cfg.Network.CompactThreshold, MaxBytes: cfg.Network.CompactMaxBytes,
			MinAge: cfg.Network.CompactMinAge}}
	if cfg.Network.AckLosses >= 0 {
		ncfg.AckCores = cfg.Network.K + cfg.Network.AckLosses
	}
	// 0 is the network store's "default"; here it means no memory.
	if ncfg.BlobMemBytes == 0 {
		ncfg.BlobMemBytes = -1
	}
	if ncfg.MemBudgetBytes == 0 {
		ncfg.MemBudgetBytes = -1
	}
	if ncfg.PushMemBytes == 0 {
		ncfg.PushMemBytes = -1
	}
	if ncfg.FlushWait == 0 {
		ncfg.FlushWait = -1
	}
	return ncfg
}

// openNetwork opens the network backend: bbolt metadata in DataDir and
// encrypted blobs in erasure-coded volumes under DataDir/network.
func openNetwork(cfg config.Config, log *slog.Logger) (store.MetaStore, store.BlobStore, func(), error) {
	if cfg.Network.KeyName == "" {
		return nil, nil, nil, ErrNoChain
	}
	master, err := loadMaster(cfg, log)
	if err != nil {
		return nil, nil, nil, err
	}
	if err := os.MkdirAll(cfg.DataDir, 0o755); err != nil {
		return nil, nil, nil, fmt.Errorf("gateway: %w", err)
	}
	meta, err := local.OpenMeta(filepath.Join(cfg.DataDir, "meta.db"))
	if err != nil {
		return nil, nil, nil, err
	}
	ncfg := networkConfig(cfg, master, meta, log)
	shipper, chain, err := newShipper(cfg.Network, log)
	if err != nil {
		meta.Close()
		return nil, nil, nil, err
	}
	ncfg.Shipper = shipper
	ncfg.Compact.Retirer = shipper
	// After a recovery, compaction gives up the orders of volumes nothing
	// references, but only when the chain account is the one derived
	// from the master secret: an account shared with another gateway has
	// orders this one must not touch. The metadata log's generations are
	// spared (its writer gives the older ones up); their keys are derived
	// once each, not at every compaction pass.
	if own, err := secret.ChainAddress(master); err == nil && own == chain.Address() {
		ncfg.Compact.Orders = shipper
		logDir := filepath.Join(cfg.DataDir, "metalog")
		ncfg.Compact.Spare = metalog.NewSpareKeys(master, logDir, 1024).Keys
	} else {
		log.Info("the chain account is not the one derived from the master secret: orders no volume references are not given up after a recovery", "account", chain.Address())
	}
	renewer, err := onchain.NewRenewer(onchain.RenewConfig{Chain: chain, Path: filepath.Join(cfg.DataDir, "orders.db"),
		Margin: cfg.Network.RenewMargin, Epochs: cfg.Network.Epochs, Batch: cfg.Network.RenewBatch, Log: log})
	if err != nil {
		chain.Close()
		meta.Close()
		return nil, nil, nil, err
	}
	shipper.SetRenewer(renewer)
	// Reads come from the hosters the chain assigns; the local cores are
	// the writer's working copy only.
	remote, err := network.NewRemote(network.RemoteConfig{Locator: shipper, SlowAfter: cfg.Network.SlowAfter,
		FetchTimeout: cfg.Network.FetchTimeout, HedgeAfter: cfg.Network.HedgeAfter, Log: log})
	if err != nil {
		renewer.Close()
		chain.Close()
		meta.Close()
		return nil, nil, nil, err
	}
	// The memory cache is of decrypted segments (crypt.Cache, above the
	// network store): a hit is a copy, no decryption. The network store's
	// cache of ciphertext blocks would hold the same objects again: off.
	ncfg.Remote, ncfg.CacheBytes = remote, 0
	vols, err := network.Open(ncfg)
	if err != nil {
		if chain != nil {
			renewer.Close()
			chain.Close()
		}
		meta.Close()
		return nil, nil, nil, err
	}
	if renewer != nil {
		// Orders of volumes compaction gave up are not renewed.
		renewer.SetKeep(vols.Keep)
	}
	blobs, err := crypt.New(vols, master)
	if err != nil {
		vols.Close()
		meta.Close()
		return nil, nil, nil, err
	}
	blobs.Cache = crypt.NewCache(cfg.Network.CacheBytes)
	return meta, blobs, func() {
		vols.Close()
		if chain != nil {
			renewer.Close()
			chain.Close()
		}
		meta.Close()
	}, nil
}

// newShipper connects to the chain and returns the shipper of volumes.
func newShipper(n config.Network, log *slog.Logger) (*onchain.Shipper, *chainclient.Client, error) {
	price, ok := math.NewIntFromString(n.MaxPrice)
	if !ok {
		return nil, nil, fmt.Errorf("gateway: --order.max-price %q is not an integer", n.MaxPrice)
	}
	deposit, err := sdk.ParseCoinNormalized(n.Deposit)
	if err != nil {
		return nil, nil, fmt.Errorf("gateway: --order.deposit: %w", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	chain, err := chainclient.New(ctx, chainclient.Config{GRPC: n.ChainGRPC, RPC: n.ChainRPC,
		KeyringDir: n.KeyringDir, KeyringBackend: n.KeyringBackend, KeyName: n.KeyName, Log: log})
	if err != nil {
		return nil, nil, fmt.Errorf("gateway: chain: %w", err)
	}
	return onchain.New(onchain.Config{Chain: chain, MaxPrice: price, DurationEpochs: n.Epochs, Deposit: deposit, Log: log}), chain, nil
}

func loadMaster(cfg config.Config, log *slog.Logger) ([]byte, error) {
	key, created, err := config.LoadMasterKey(cfg.MasterKeyFile, true)
	if err != nil {
		return nil, err
	}
	if created {
		log.Warn("created a new master key: back it up, without it the stored data cannot be read", "file", cfg.MasterKeyFile)
		announceMaster(os.Stderr, key)
	}
	return key, nil
}

// Run serves the gateway until ctx ends, then shuts down gracefully.
// ready, if not nil, receives the listening address.
func Run(ctx context.Context, cfg config.Config, log *slog.Logger, ready func(addr string)) error {
	return RunWith(ctx, cfg, Options{}, log, ready)
}

// RunWith is Run with Options.
func RunWith(ctx context.Context, cfg config.Config, opts Options, log *slog.Logger, ready func(addr string)) error {
	if err := cfg.CheckDevKey(); err != nil {
		return err
	}
	var tlsCfg *tls.Config
	if opts.TLSCert != "" || opts.TLSKey != "" {
		var err error
		if tlsCfg, err = tlsConfig(opts.TLSCert, opts.TLSKey); err != nil {
			return err
		}
	}
	meta, blobs, closeStore, err := openStore(ctx, cfg, log)
	if err != nil {
		return err
	}
	defer closeStore()
	if cfg.PprofListen != "" {
		_, stop, err := debugserve.Pprof(cfg.PprofListen, log)
		if err != nil {
			return err
		}
		defer stop()
	}
	reaper := store.NewReaper(meta, blobs, cfg.DeleteGrace, log)
	rctx, stopReaper := context.WithCancel(ctx)
	reaped := make(chan struct{})
	go func() { reaper.Run(rctx); close(reaped) }()
	defer func() { stopReaper(); <-reaped }()
	ln, err := net.Listen("tcp", cfg.Listen)
	if err != nil {
		return fmt.Errorf("gateway: %w", err)
	}
	defer ln.Close()
	meta, stopBackup, err := startBackup(ctx, cfg, meta, blobs, reaper, log)
	if err != nil {
		return err
	}
	defer stopBackup()
	scheme := "http"
	if tlsCfg != nil {
		ln, scheme = tls.NewListener(ln, tlsCfg), "https"
	}
	handler, s3srv := newHandler(cfg, opts, meta, blobs, reaper, log)
	interval := opts.MaintenanceInterval
	if interval <= 0 {
		interval = DefaultMaintenanceInterval
	}
	maintained := make(chan struct{})
	go func() { s3srv.RunMaintenance(rctx, interval); close(maintained) }()
	defer func() { stopReaper(); <-maintained }()
	stopUpkeep := startVolumeUpkeep(rctx, cfg, blobs, interval, log)
	defer stopUpkeep()
	srv := &http.Server{
		Handler:           handler,
		MaxHeaderBytes:    MaxHeaderBytes,
		ReadHeaderTimeout: 30 * time.Second,
		IdleTimeout:       2 * time.Minute,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}
	if cfg.DevKey {
		log.Warn("no access key configured: using the development key pair", "access_key", config.DevAccessKey)
	}
	log.Info("S3 gateway listening", "addr", ln.Addr().String(), "scheme", scheme, "data", cfg.DataDir, "region", cfg.Region, "keys", len(cfg.Keys), "domains", cfg.Domains)
	if ready != nil {
		ready(ln.Addr().String())
	}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		return fmt.Errorf("gateway: %w", err)
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 15*time.Second)
	defer cancel()
	err = srv.Shutdown(sctx)
	if serr := <-errc; serr != nil && !errors.Is(serr, http.ErrServerClosed) {
		return serr
	}
	log.Info("S3 gateway stopped")
	return err
}
