// Package daemon runs a hoster: the store, the HTTP API, the chain
// follower and the scrubber, until its context ends (SIGTERM), then shuts
// them down in order: the HTTP server stops taking requests and finishes
// those in flight, the follower and scrubber stop, the store closes.
package daemon

import (
	"context"
	"errors"
	"fmt"
	"github.com/datdot/datdot/debugserve"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/datdot/datdot/chainclient"
	"github.com/datdot/datdot/hoster/duty"
	"github.com/datdot/datdot/hoster/follower"
	"github.com/datdot/datdot/hoster/scrub"
	"github.com/datdot/datdot/hoster/server"
	"github.com/datdot/datdot/hoster/store"
)

// Config is a hoster's configuration (see cmd/datdot hoster init).
type Config struct {
	DataDir  string
	Listen   string // host:port of the HTTP API
	Endpoint string // public URL registered on chain
	Capacity uint64 // bytes offered (0: unlimited)
	Reserve  uint64 // bytes kept free on the disk
	// ScrubBytesPerSecond bounds the scrubber; ScrubPause is the pause
	// between passes.
	ScrubBytesPerSecond int64
	ScrubPause          time.Duration
	ResyncInterval      time.Duration
	Chain               chainclient.Config
	// ReplicationListen is the TCP address of the Hypercore replication
	// listener (hypercore/replicate): every held core is served there.
	// Empty: the hoster does not speak the protocol as a server (it still
	// fetches replicated-core orders from their peers).
	ReplicationListen string
	// PprofListen, when set, is a loopback address that serves the Go
	// profiler (net/http/pprof) for performance work.
	PprofListen string
	// ReplicationAddress is the host:port announced on chain (default:
	// the listener's address unless it is 0.0.0.0 or ::).
	ReplicationAddress string
}

// Run runs the hoster until ctx ends. ready, if not nil, is called with the
// HTTP listener's address once it accepts connections.
func Run(ctx context.Context, cfg Config, log *slog.Logger, ready func(addr string)) error {
	st, err := store.Open(cfg.DataDir, log)
	if err != nil {
		return err
	}
	defer func() {
		if err := st.Close(); err != nil {
			log.Error("close store", "err", err)
		}
	}()
	if cfg.PprofListen != "" {
		_, stop, err := debugserve.Pprof(cfg.PprofListen, log)
		if err != nil {
			return fmt.Errorf("hoster: %w", err)
		}
		defer stop()
	}
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	m := server.NewMetrics(reg)
	m.CapacityBytes.Set(float64(cfg.Capacity))
	lim := store.Limits{Capacity: cfg.Capacity, Reserve: cfg.Reserve}

	cfg.Chain.Log = log.With("part", "chain")
	chain, err := chainclient.New(ctx, cfg.Chain)
	if err != nil {
		return err
	}
	defer chain.Close()
	if chain.Address() == "" {
		return errors.New("hoster: no chain key configured (chain.key)")
	}
	var (
		wire   *wireServer
		wireLn net.Listener
	)
	if cfg.ReplicationListen != "" {
		if wireLn, err = net.Listen("tcp", cfg.ReplicationListen); err != nil {
			return fmt.Errorf("hoster: replication listen %s: %w", cfg.ReplicationListen, err)
		}
		defer wireLn.Close()
		wire = newWireServer(ctx, st, log.With("part", "wire"))
	}
	announced := replicationAddress(cfg.ReplicationAddress, wireLn)
	fcfg := follower.Config{Chain: chain, Store: st, Limits: lim, Log: log.With("part", "follower"), Metrics: m,
		ResyncInterval: cfg.ResyncInterval, Self: cfg.Endpoint, SelfReplication: announced, WireLog: log.With("part", "wire")}
	if wire != nil {
		fcfg.Watch = wire
	}
	fol := follower.New(fcfg)
	duties := duty.New(duty.Config{Chain: chain, Store: st, Log: log.With("part", "duty"), Metrics: m,
		Damaged: func(key [32]byte) { fol.RepairAsync(ctx, key) }})
	fol.AddHook(duties.Hook())
	sc := scrub.New(scrub.Config{Store: st, Log: log.With("part", "scrub"), Metrics: m, BytesPerSecond: cfg.ScrubBytesPerSecond,
		Pause: cfg.ScrubPause, Repair: fol.RepairDamaged})

	srv := server.New(server.Config{Store: st, Limits: lim, Log: log.With("part", "http"), Metrics: m, Gatherer: reg,
		Refresh: fol.Refresh, Pushed: fol.Pushed,
		Damaged: func(key [32]byte, _ uint64) { fol.RepairAsync(ctx, key) }})
	ln, err := net.Listen("tcp", cfg.Listen)
	if err != nil {
		return fmt.Errorf("hoster: listen %s: %w", cfg.Listen, err)
	}
	hs := &http.Server{Handler: srv, ReadHeaderTimeout: 10 * time.Second, IdleTimeout: 2 * time.Minute}
	log.Info("hoster started", "address", chain.Address(), "listen", ln.Addr().String(), "endpoint", cfg.Endpoint, "data", cfg.DataDir)

	runCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	var wg sync.WaitGroup
	errc := make(chan error, 5)
	if wire != nil {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := wire.srv.Serve(runCtx, wireLn); err != nil && !errors.Is(err, context.Canceled) && !errors.Is(err, net.ErrClosed) {
				errc <- fmt.Errorf("replication: %w", err)
			}
		}()
		log.Info("replication listening", "listen", wireLn.Addr().String(), "announced", announced)
		wg.Add(1)
		go func() {
			defer wg.Done()
			announceReplication(runCtx, chain, announced, log.With("part", "wire"))
		}()
	}
	wg.Add(4)
	go func() {
		defer wg.Done()
		if err := duties.Run(runCtx); err != nil && !errors.Is(err, context.Canceled) {
			errc <- fmt.Errorf("duties: %w", err)
		}
	}()
	go func() {
		defer wg.Done()
		if err := hs.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			errc <- fmt.Errorf("http: %w", err)
		}
	}()
	go func() {
		defer wg.Done()
		if err := fol.Run(runCtx); err != nil && !errors.Is(err, context.Canceled) {
			errc <- fmt.Errorf("follower: %w", err)
		}
	}()
	go func() {
		defer wg.Done()
		if err := sc.Run(runCtx); err != nil && !errors.Is(err, context.Canceled) {
			errc <- fmt.Errorf("scrubber: %w", err)
		}
	}()
	go func() {
		t := time.NewTicker(5 * time.Second)
		defer t.Stop()
		for {
			m.UsedBytes.Set(float64(st.Used()))
			if free, err := st.FreeDisk(); err == nil {
				m.FreeDiskBytes.Set(float64(free))
			}
			select {
			case <-runCtx.Done():
				return
			case <-t.C:
			}
		}
	}()
	if ready != nil {
		ready(ln.Addr().String())
	}
	var runErr error
	select {
	case <-ctx.Done():
		log.Info("hoster stopping")
	case runErr = <-errc:
		log.Error("hoster failed", "err", runErr)
	}
	sctx, scancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer scancel()
	if err := hs.Shutdown(sctx); err != nil {
		log.Warn("http shutdown", "err", err)
	}
	cancel()
	wg.Wait()
	fol.Wait()
	log.Info("hoster stopped")
	return runErr
}
