package s3

import (
	"context"
	"errors"
	"time"

	"github.com/datdot/datdot/gateway/store"
)

// Background upkeep: multipart uploads that were never completed (a client
// that crashed or gave up) are aborted once older than the expiry, so their
// parts do not hold disk forever. Each pass does bounded work and
// remembers where it stopped; all state is in the metadata, so a restart
// only starts the walk over.

// expiryCursor is where the walk over uploads resumes.
type expiryCursor struct {
	bucket, key, id string
}

// uploadExpiry returns how long incomplete uploads of bucket b are kept.
func (s *Server) uploadExpiry(b *store.Bucket, key string) time.Duration {
	if d := s.lifecycleUploadExpiry(b, key); d > 0 {
		return d
	}
	if s.cfg.UploadExpiry > 0 {
		return s.cfg.UploadExpiry
	}
	return DefaultUploadExpiry
}

// ExpireUploads looks at up to budget uploads, continuing where the last
// call stopped, and aborts those initiated longer ago than their bucket's
// expiry. It returns how many it aborted and whether the walk wrapped
// around (every upload was looked at since it last did).
func (s *Server) ExpireUploads(ctx context.Context, now time.Time, budget int) (aborted int, wrapped bool, err error) {
	s.maint.Lock()
	defer s.maint.Unlock()
	buckets, err := s.cfg.Meta.ListBuckets(ctx)
	if err != nil {
		return 0, false, err
	}
	cur := s.expiry
	seen := 0
	for _, b := range buckets {
		if b.Name < cur.bucket {
			continue
		}
		after, afterID := "", ""
		if b.Name == cur.bucket {
			after, afterID = cur.key, cur.id
		}
		for {
			limit := min(budget-seen, 1000)
			if limit <= 0 {
				s.expiry = expiryCursor{b.Name, after, afterID}
				return aborted, false, nil
			}
			ups, err := s.cfg.Meta.ListUploads(ctx, b.Name, store.ListQuery{After: after, AfterID: afterID, Limit: limit})
			if errors.Is(err, store.ErrNoSuchBucket) {
				break
			}
			if err != nil {
				return aborted, false, err
			}
			for _, up := range ups {
				seen++
				after, afterID = up.Key, up.UploadID
				if now.Sub(up.Initiated) < s.uploadExpiry(&b, up.Key) {
					continue
				}
				freed, err := s.cfg.Meta.AbortUpload(ctx, b.Name, up.Key, up.UploadID)
				if err != nil && !errors.Is(err, store.ErrNoSuchUpload) {
					return aborted, false, err
				}
				if err == nil {
					s.reap.Release(ctx, freed)
					aborted++
					s.log.Info("aborted an expired multipart upload", "bucket", b.Name, "key", up.Key, "upload", up.UploadID, "initiated", up.Initiated)
				}
			}
			if len(ups) < limit {
				break
			}
		}
	}
	s.expiry = expiryCursor{}
	return aborted, true, nil
}

// MaintenanceBudget is the number of entries one maintenance pass looks at.
const MaintenanceBudget = 1000

// RunMaintenance runs the background upkeep every interval until ctx ends.
func (s *Server) RunMaintenance(ctx context.Context, interval time.Duration) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		s.maintainOnce(ctx, time.Now())
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

func (s *Server) maintainOnce(ctx context.Context, now time.Time) {
	if _, _, err := s.ExpireUploads(ctx, now, MaintenanceBudget); err != nil && ctx.Err() == nil {
		s.log.Warn("expire multipart uploads", "err", err)
	}
	if _, _, err := s.ApplyLifecycle(ctx, now, MaintenanceBudget); err != nil && ctx.Err() == nil {
		s.log.Warn("lifecycle", "err", err)
	}
}
