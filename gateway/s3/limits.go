package s3

import (
	"context"
	"time"

	"github.com/datdot/datdot/gateway/s3err"
	"github.com/datdot/datdot/gateway/store"
)

// Limits caps what one account may hold; zero means no limit. Buckets and
// bytes count against the bucket's owner (who pays for what is stored in
// its buckets, as in S3); bytes are every stored version plus the parts of
// open multipart uploads.
type Limits struct {
	Buckets int   // buckets per account (TooManyBuckets, 400)
	Bytes   int64 // stored bytes per account (QuotaExceeded, 403)
	Uploads int   // multipart uploads in progress per account (QuotaExceeded, 403)
}

// DefaultUploadExpiry is how long an incomplete multipart upload is kept
// when no lifecycle rule says otherwise.
const DefaultUploadExpiry = 7 * 24 * time.Hour

// ownedBuckets returns the buckets owner owns.
func (q *request) ownedBuckets(owner string) ([]store.Bucket, error) {
	all, err := q.s.cfg.Meta.ListBuckets(q.ctx)
	if err != nil {
		return nil, err
	}
	var out []store.Bucket
	for _, b := range all {
		if b.Owner.ID == owner {
			out = append(out, b)
		}
	}
	return out, nil
}

// checkBucketLimit refuses a new bucket beyond the account's limit.
func (q *request) checkBucketLimit() error {
	max := q.s.cfg.Limits.Buckets
	if max <= 0 || q.user == nil {
		return nil
	}
	owned, err := q.ownedBuckets(q.user.ID)
	if err != nil {
		return err
	}
	if len(owned) >= max {
		return s3err.TooManyBuckets
	}
	return nil
}

// checkBytesLimit refuses adding n more bytes to bucket b when its owner
// would go over the byte limit (n < 0: unknown size, refused only when the
// owner is already at the limit).
func (q *request) checkBytesLimit(b store.Bucket, n int64) error {
	max := q.s.cfg.Limits.Bytes
	ur, ok := q.s.cfg.Meta.(store.UsageReader)
	if max <= 0 || !ok {
		return nil
	}
	used, err := accountUsage(q.ctx, q.s.cfg.Meta, ur, b.Owner.ID)
	if err != nil {
		return err
	}
	if used+max64(n, 0) > max || n < 0 && used >= max {
		return s3err.QuotaExceeded
	}
	return nil
}

func max64(a, b int64) int64 {
	if a > b {
		return a
	}
	return b
}

func accountUsage(ctx context.Context, meta store.MetaStore, ur store.UsageReader, owner string) (int64, error) {
	all, err := meta.ListBuckets(ctx)
	if err != nil {
		return 0, err
	}
	var used int64
	for _, b := range all {
		if b.Owner.ID != owner {
			continue
		}
		n, err := ur.BucketUsage(ctx, b.Name)
		if err != nil {
			return 0, err
		}
		used += n
	}
	return used, nil
}

// checkUploadLimit refuses a new multipart upload in bucket b when its
// owner already has the limit's number in progress. Counting stops at the
// limit, so the cost is bounded by it.
func (q *request) checkUploadLimit(b store.Bucket) error {
	max := q.s.cfg.Limits.Uploads
	if max <= 0 {
		return nil
	}
	owned, err := q.ownedBuckets(b.Owner.ID)
	if err != nil {
		return err
	}
	n := 0
	for _, ob := range owned {
		ups, err := q.s.cfg.Meta.ListUploads(q.ctx, ob.Name, store.ListQuery{Limit: max - n + 1})
		if err != nil {
			return err
		}
		n += len(ups)
		if n >= max {
			return s3err.TooManyUploads
		}
	}
	return nil
}
