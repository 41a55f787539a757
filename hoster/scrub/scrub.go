// Package scrub re-reads a hoster's stored blocks at a bounded rate and
// checks each against its tree node (hypercore.Core.Get does); a block
// that fails is recorded as damaged (the HTTP server never serves it: its
// reads fail the same check) and handed to Repair.
package scrub

import (
	"context"
	"encoding/hex"
	"errors"
	"log/slog"
	"time"

	"github.com/datdot/datdot/hoster/server"
	"github.com/datdot/datdot/hoster/store"
	"github.com/datdot/datdot/hypercore"
)

// Config configures a Scrubber.
type Config struct {
	Store   *store.Store
	Log     *slog.Logger
	Metrics *server.Metrics
	// BytesPerSecond bounds the re-read rate (default 8 MiB/s).
	BytesPerSecond int64
	// Pause between full passes (default 1 minute).
	Pause time.Duration
	// Repair is called for a core with damaged blocks (may be nil).
	Repair func(ctx context.Context, key [32]byte) error
}

// Scrubber is the background checker.
type Scrubber struct {
	cfg Config
}

// New returns a scrubber.
func New(cfg Config) *Scrubber {
	if cfg.BytesPerSecond <= 0 {
		cfg.BytesPerSecond = 8 << 20
	}
	if cfg.Pause <= 0 {
		cfg.Pause = time.Minute
	}
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.DiscardHandler)
	}
	return &Scrubber{cfg: cfg}
}

// Run scrubs until ctx ends.
func (s *Scrubber) Run(ctx context.Context) error {
	for {
		if _, err := s.Pass(ctx); err != nil && ctx.Err() == nil {
			s.cfg.Log.Warn("scrub pass", "err", err)
		}
		t := time.NewTimer(s.cfg.Pause)
		select {
		case <-ctx.Done():
			t.Stop()
			return ctx.Err()
		case <-t.C:
		}
	}
}

// Pass checks every block of every assigned core once and repairs the
// cores with damage; it returns the number of damaged blocks found.
func (s *Scrubber) Pass(ctx context.Context) (int, error) {
	as, err := s.cfg.Store.Assignments()
	if err != nil {
		return 0, err
	}
	seen := map[[32]byte]bool{}
	damaged := 0
	start := time.Now()
	var read int64
	for _, a := range as {
		if seen[a.Key] {
			continue
		}
		seen[a.Key] = true
		c, err := s.cfg.Store.Core(ctx, a.Key)
		if errors.Is(err, store.ErrUnknownCore) {
			continue
		}
		if err != nil {
			return damaged, err
		}
		bad := 0
		for i := uint64(0); i < c.Length(); i++ {
			b, err := c.Get(ctx, i)
			switch {
			case errors.Is(err, hypercore.ErrCorrupt), errors.Is(err, hypercore.ErrNotFound):
				bad++
				s.cfg.Log.Error("scrub: damaged block", "core", hex.EncodeToString(a.Key[:]), "index", i, "err", err)
				if s.cfg.Metrics != nil {
					s.cfg.Metrics.DamagedBlocks.Inc()
				}
				if err := s.cfg.Store.MarkDamaged(a.Key, i); err != nil {
					return damaged, err
				}
			case errors.Is(err, hypercore.ErrClosed):
				i = c.Length() // swapped by a repair: next pass
				continue
			case err != nil:
				return damaged, err
			}
			if s.cfg.Metrics != nil {
				s.cfg.Metrics.ScrubbedBlocks.Inc()
			}
			read += int64(len(b))
			// Rate limit: never ahead of BytesPerSecond since the pass began.
			if ahead := time.Duration(float64(read)/float64(s.cfg.BytesPerSecond)*float64(time.Second)) - time.Since(start); ahead > 0 {
				t := time.NewTimer(ahead)
				select {
				case <-ctx.Done():
					t.Stop()
					return damaged, ctx.Err()
				case <-t.C:
				}
			}
		}
		damaged += bad
		if bad > 0 && s.cfg.Repair != nil {
			if err := s.cfg.Repair(ctx, a.Key); err != nil {
				s.cfg.Log.Error("scrub: repair failed; the damaged blocks stay unserved", "core", hex.EncodeToString(a.Key[:]), "err", err)
			} else {
				s.cfg.Log.Info("scrub: core repaired", "core", hex.EncodeToString(a.Key[:]))
			}
		}
	}
	return damaged, nil
}
