// Package gateway runs the S3 gateway: the S3 protocol layer (gateway/s3)
// over the local store (gateway/store/local), authenticated by
// gateway/sigv4.
package gateway

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"time"

	"github.com/datdot/datdot/gateway/config"
	"github.com/datdot/datdot/gateway/s3"
	"github.com/datdot/datdot/gateway/sigv4"
	"github.com/datdot/datdot/gateway/store"
	"github.com/datdot/datdot/gateway/store/crypt"
	"github.com/datdot/datdot/gateway/store/local"
)

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
	return newHandler(cfg, meta, blobs, store.NewReaper(meta, blobs, 0, log), log)
}

func newHandler(cfg config.Config, meta store.MetaStore, blobs store.BlobStore, reaper *store.Reaper, log *slog.Logger) http.Handler {
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
	return clientTimeouts(s3.New(s3.Config{
		Meta:    meta,
		Blobs:   blobs,
		Auth:    sigv4.NewVerifier(sigv4.Config{Credentials: creds, Region: cfg.Region, VirtualHostDomains: cfg.Domains}),
		Users:   users,
		Region:  cfg.Region,
		Domains: cfg.Domains,
		Log:     log,
		Reaper:  reaper,
	}), timeout)
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
	default:
		return nil, nil, nil, fmt.Errorf("gateway: backend %q is not available", cfg.Backend)
	}
}

func loadMaster(cfg config.Config, log *slog.Logger) ([]byte, error) {
	key, created, err := config.LoadMasterKey(cfg.MasterKeyFile, true)
	if err != nil {
		return nil, err
	}
	if created {
		log.Warn("created a new master key: back it up, without it the stored data cannot be read", "file", cfg.MasterKeyFile)
	}
	return key, nil
}

// Run serves the gateway until ctx ends, then shuts down gracefully.
// ready, if not nil, receives the listening address.
func Run(ctx context.Context, cfg config.Config, log *slog.Logger, ready func(addr string)) error {
	if err := cfg.CheckDevKey(); err != nil {
		return err
	}
	meta, blobs, closeStore, err := openStore(ctx, cfg, log)
	if err != nil {
		return err
	}
	defer closeStore()
	reaper := store.NewReaper(meta, blobs, cfg.DeleteGrace, log)
	rctx, stopReaper := context.WithCancel(ctx)
	reaped := make(chan struct{})
	go func() { reaper.Run(rctx); close(reaped) }()
	defer func() { stopReaper(); <-reaped }()
	ln, err := net.Listen("tcp", cfg.Listen)
	if err != nil {
		return fmt.Errorf("gateway: %w", err)
	}
	srv := &http.Server{
		Handler:           newHandler(cfg, meta, blobs, reaper, log),
		MaxHeaderBytes:    MaxHeaderBytes,
		ReadHeaderTimeout: 30 * time.Second,
		IdleTimeout:       2 * time.Minute,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}
	if cfg.DevKey {
		log.Warn("no access key configured: using the development key pair", "access_key", config.DevAccessKey)
	}
	log.Info("S3 gateway listening", "addr", ln.Addr().String(), "data", cfg.DataDir, "region", cfg.Region, "keys", len(cfg.Keys), "domains", cfg.Domains)
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
