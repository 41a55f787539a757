package gateway

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"path/filepath"
	"sync"
	"time"

	"github.com/datdot/datdot/gateway/config"
	"github.com/datdot/datdot/gateway/metalog"
	"github.com/datdot/datdot/gateway/secret"
	"github.com/datdot/datdot/gateway/store"
	"github.com/datdot/datdot/gateway/store/crypt"
	"github.com/datdot/datdot/gateway/store/local"
	"github.com/datdot/datdot/gateway/store/network"
)

// ExpireEvery is how often the hidden history is expired; each pass
// drops at most expireBatch versions per call and expirePasses calls.
const (
	ExpireEvery  = time.Minute
	expireBatch  = 1000
	expirePasses = 10
)

// startBackup starts what keeps the gateway's data recoverable: the
// expiry of the hidden history (see local.Meta.SetHistoryRetention) and,
// on the network backend, the metadata log (gateway/metalog), for which
// it returns the journaled store the S3 handler must use. stop ends both
// after a last sync of the log.
func startBackup(ctx context.Context, cfg config.Config, meta store.MetaStore, blobs store.BlobStore, reaper *store.Reaper, log *slog.Logger) (store.MetaStore, func(), error) {
	m, ok := meta.(*local.Meta)
	if !ok {
		return meta, func() {}, nil
	}
	bctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	var wg sync.WaitGroup
	served := store.MetaStore(m)
	expire := func(now time.Time, limit int) (int, []store.BlobRef, error) { return m.ExpireHistory(bctx, now, limit) }
	var w *metalog.Writer
	if cb, ok := blobs.(*crypt.Blobs); ok {
		if nb, ok := cb.Inner.(*network.Blobs); ok {
			j := metalog.NewJournaled(m)
			var err error
			w, err = metalog.Open(metalog.Config{Dir: filepath.Join(cfg.DataDir, "metalog"), Master: nb.Master(),
				Layout: nb.Layout(), Meta: j, Shipper: nb.Shipper(), ShredAfter: cfg.ShredAfter, Log: log})
			if err != nil {
				cancel()
				return nil, nil, err
			}
			served = j
			// Compaction switches blobs to their new extents through the
			// journaled store, so that the log carries it; reads resolve
			// relocated blobs through it too.
			nb.SetRelocator(j)
			expire = func(now time.Time, limit int) (int, []store.BlobRef, error) { return j.ExpireHistory(bctx, now, limit) }
			wg.Add(1)
			go func() { defer wg.Done(); w.Run(bctx) }()
		}
	}
	wg.Add(1)
	go func() {
		defer wg.Done()
		t := time.NewTicker(ExpireEvery)
		defer t.Stop()
		for {
			if _, err := expirePass(time.Now(), expire, func(freed []store.BlobRef) { reaper.Release(bctx, freed) }); err != nil && bctx.Err() == nil {
				log.Warn("expire hidden versions", "err", err)
			}
			select {
			case <-bctx.Done():
				return
			case <-t.C:
			}
		}
	}()
	return served, func() {
		cancel()
		wg.Wait()
		if w != nil {
			w.Close()
		}
	}, nil
}

// expirePass expires the hidden versions due at now, oldest first (the
// order expire takes them in): at most expirePasses calls of expireBatch,
// so at most 10,000 per pass; the rest waits for the next pass. It
// releases the blobs each call freed and returns how many it expired.
func expirePass(now time.Time, expire func(time.Time, int) (int, []store.BlobRef, error), release func([]store.BlobRef)) (int, error) {
	total := 0
	for range expirePasses {
		n, freed, err := expire(now, expireBatch)
		if err != nil {
			return total, err
		}
		release(freed)
		total += n
		if n < expireBatch {
			break
		}
	}
	return total, nil
}

// announceMaster shows a master secret created at the first start, once,
// as a phrase with the warning of what it protects.
func announceMaster(w io.Writer, key []byte) {
	phrase, err := secret.Phrase(key)
	if err != nil {
		return
	}
	fmt.Fprintf(w, "\nNew master secret (%s):\n\n    %s\n\n%s\n\n", "24-word phrase", phrase, secret.Warning)
}
