package gateway

import (
	"context"
	"log/slog"
	"sync"
	"time"

	"github.com/datdot/datdot/gateway/config"
	"github.com/datdot/datdot/gateway/store"
	"github.com/datdot/datdot/gateway/store/crypt"
	"github.com/datdot/datdot/gateway/store/network"
	"github.com/datdot/datdot/gateway/store/network/onchain"
)

// startVolumeUpkeep starts, on the network backend, what keeps the volumes
// paid for and compact: the renewer of their orders (every
// --renew.interval) and a compaction pass every maintenance interval
// (which, after a recovery, also gives up the orders of volumes nothing
// references: network/orphans.go).
// stop ends both.
func startVolumeUpkeep(ctx context.Context, cfg config.Config, blobs store.BlobStore, interval time.Duration, log *slog.Logger) (stop func()) {
	cb, ok := blobs.(*crypt.Blobs)
	if !ok {
		return func() {}
	}
	nb, ok := cb.Inner.(*network.Blobs)
	if !ok {
		return func() {}
	}
	ctx, cancel := context.WithCancel(ctx)
	var wg sync.WaitGroup
	if sh, ok := nb.Shipper().(*onchain.Shipper); ok && sh.Renewer() != nil {
		wg.Add(1)
		go func() { defer wg.Done(); sh.Renewer().Run(ctx, cfg.Network.RenewInterval) }()
	}
	wg.Add(1)
	go func() {
		defer wg.Done()
		t := time.NewTicker(interval)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
			}
			start := time.Now()
			st, err := nb.Compact(ctx)
			if err != nil && ctx.Err() == nil {
				log.Warn("compaction pass", "err", err)
			}
			if st.Volumes > 0 || st.Retired > 0 || st.Orphans > 0 {
				log.Info("compaction pass", "volumes", st.Volumes, "moved", st.Moved, "bytes", st.Bytes,
					"leftovers", st.Leftovers, "retired", st.Retired, "orphan_orders", st.Orphans, "took", time.Since(start).Round(time.Millisecond))
			}
		}
	}()
	return func() { cancel(); wg.Wait() }
}
