package s3

import (
	"context"
	"encoding/xml"
	"errors"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/datdot/datdot/gateway/s3err"
	"github.com/datdot/datdot/gateway/s3xml"
	"github.com/datdot/datdot/gateway/store"
)

// Lifecycle rules (Put/Get/DeleteBucketLifecycleConfiguration) are stored
// as put and applied by the upkeep pass (RunMaintenance): Expiration
// (Days, Date, ExpiredObjectDeleteMarker), NoncurrentVersionExpiration
// (NoncurrentDays, NewerNoncurrentVersions) and
// AbortIncompleteMultipartUpload, with prefix, tag and size filters. A
// "day" is Config.LifecycleDay (24h; tests and the e2e shorten it).

const maxLifecycleRules = 1000

type lcRule struct {
	id       string
	prefix   string
	tags     map[string]string
	sizeGT   int64 // -1: none
	sizeLT   int64 // -1: none
	expDays  int
	expDate  time.Time
	expDM    bool
	ncDays   int
	ncNewer  int
	hasNC    bool
	abortDay int
}

// parseLifecycle validates a lifecycle document and returns its enabled
// rules.
func parseLifecycle(doc *s3xml.LifecycleConfiguration) ([]lcRule, error) {
	if len(doc.Rules) == 0 {
		return nil, s3err.MalformedXML
	}
	if len(doc.Rules) > maxLifecycleRules {
		return nil, s3err.InvalidArgument.With("Lifecycle configuration cannot have more than 1000 rules")
	}
	ids := map[string]bool{}
	var out []lcRule
	for _, r := range doc.Rules {
		if len(r.ID) > 255 {
			return nil, s3err.InvalidArgument.With("ID length should not exceed allowed limit of 255")
		}
		if r.ID != "" {
			if ids[r.ID] {
				return nil, s3err.InvalidArgument.With("Rule ID must be unique. Found same ID for more than one rule")
			}
			ids[r.ID] = true
		}
		if r.Status != "Enabled" && r.Status != "Disabled" {
			return nil, s3err.MalformedXML
		}
		if r.Prefix != nil && r.Filter != nil {
			return nil, s3err.MalformedXML
		}
		if len(r.Transitions) > 0 {
			return nil, s3err.NotImplemented.With("Lifecycle transitions to other storage classes are not supported.")
		}
		lr := lcRule{id: r.ID, sizeGT: -1, sizeLT: -1}
		if r.Prefix != nil {
			lr.prefix = *r.Prefix
		}
		if f := r.Filter; f != nil {
			n := 0
			if f.Prefix != nil {
				lr.prefix, n = *f.Prefix, n+1
			}
			if f.Tag != nil {
				lr.tags, n = map[string]string{f.Tag.Key: f.Tag.Value}, n+1
			}
			if f.ObjectSizeGreaterThan != nil {
				lr.sizeGT, n = *f.ObjectSizeGreaterThan, n+1
			}
			if f.ObjectSizeLessThan != nil {
				lr.sizeLT, n = *f.ObjectSizeLessThan, n+1
			}
			if a := f.And; a != nil {
				if n > 0 {
					return nil, s3err.MalformedXML
				}
				if a.Prefix != nil {
					lr.prefix = *a.Prefix
				}
				if len(a.Tags) > 0 {
					lr.tags = map[string]string{}
					for _, t := range a.Tags {
						lr.tags[t.Key] = t.Value
					}
				}
				if a.ObjectSizeGreaterThan != nil {
					lr.sizeGT = *a.ObjectSizeGreaterThan
				}
				if a.ObjectSizeLessThan != nil {
					lr.sizeLT = *a.ObjectSizeLessThan
				}
			} else if n > 1 {
				return nil, s3err.MalformedXML
			}
		}
		actions := 0
		if e := r.Expiration; e != nil {
			set := 0
			if e.Days != nil {
				if *e.Days <= 0 {
					return nil, s3err.InvalidArgument.With("'Days' for Expiration action must be a positive integer")
				}
				lr.expDays, set = *e.Days, set+1
			}
			if e.Date != nil {
				t, err := time.Parse(time.RFC3339, strings.TrimSpace(*e.Date))
				if err != nil {
					t, err = time.Parse("2006-01-02", strings.TrimSpace(*e.Date))
				}
				if err != nil || !t.Equal(t.Truncate(24*time.Hour)) {
					return nil, s3err.InvalidArgument.With("'Date' must be at midnight GMT")
				}
				lr.expDate, set = t, set+1
			}
			if e.ExpiredObjectDeleteMarker != nil {
				lr.expDM, set = *e.ExpiredObjectDeleteMarker, set+1
			}
			if set != 1 {
				return nil, s3err.MalformedXML
			}
			actions++
		}
		if nc := r.NoncurrentVersionExpiration; nc != nil {
			if nc.NoncurrentDays == nil || *nc.NoncurrentDays <= 0 {
				return nil, s3err.InvalidArgument.With("'NoncurrentDays' in NoncurrentVersionExpiration action must be a positive integer")
			}
			lr.ncDays, lr.hasNC = *nc.NoncurrentDays, true
			if nc.NewerNoncurrentVersions != nil {
				if *nc.NewerNoncurrentVersions <= 0 || *nc.NewerNoncurrentVersions > 100 {
					return nil, s3err.InvalidArgument.With("'NewerNoncurrentVersions' must be between 1 and 100")
				}
				lr.ncNewer = *nc.NewerNoncurrentVersions
			}
			actions++
		}
		if a := r.AbortIncompleteMultipartUpload; a != nil {
			if a.DaysAfterInitiation == nil || *a.DaysAfterInitiation <= 0 {
				return nil, s3err.InvalidArgument.With("'DaysAfterInitiation' for AbortIncompleteMultipartUpload action must be a positive integer")
			}
			if len(lr.tags) > 0 {
				return nil, s3err.InvalidArgument.With("AbortIncompleteMultipartUpload cannot be specified with Tags.")
			}
			lr.abortDay = *a.DaysAfterInitiation
			actions++
		}
		if actions == 0 {
			return nil, s3err.InvalidRequest.With("At least one action needs to be specified in a rule")
		}
		if r.Status == "Enabled" {
			out = append(out, lr)
		}
	}
	return out, nil
}

// rulesOf returns the enabled rules of a bucket (nil if none or invalid).
func rulesOf(b *store.Bucket) []lcRule {
	if b.Lifecycle == "" {
		return nil
	}
	var doc s3xml.LifecycleConfiguration
	if err := s3xml.Decode(strings.NewReader(b.Lifecycle), &doc); err != nil {
		return nil
	}
	rules, _ := parseLifecycle(&doc)
	return rules
}

// applies reports whether rule r covers obj (key, tags, size).
func (r *lcRule) applies(obj *store.Object) bool {
	if !strings.HasPrefix(obj.Key, r.prefix) {
		return false
	}
	for k, v := range r.tags {
		if obj.Tags[k] != v {
			return false
		}
	}
	if r.sizeGT >= 0 && !(obj.Size > r.sizeGT) || r.sizeLT >= 0 && !(obj.Size < r.sizeLT) {
		return false
	}
	return true
}

// readLimited reads all of r, refusing more than max bytes.
func readLimited(r io.Reader, max int) ([]byte, error) {
	raw, err := io.ReadAll(io.LimitReader(r, int64(max)+1))
	if err != nil {
		return nil, err
	}
	if len(raw) > max {
		return nil, s3err.MaxMessageLengthExceeded
	}
	return raw, nil
}

func (q *request) putLifecycle() error {
	if _, err := q.ownBucket(); err != nil {
		return err
	}
	raw, err := readLimited(q.body(), s3xml.MaxBodySize)
	if err != nil {
		return err
	}
	var doc s3xml.LifecycleConfiguration
	if err := s3xml.Decode(strings.NewReader(string(raw)), &doc); err != nil {
		return s3err.MalformedXML
	}
	if _, err := parseLifecycle(&doc); err != nil {
		return err
	}
	// A rule without an ID gets one, as S3 gives it (read back by GET).
	named := false
	for i := range doc.Rules {
		if doc.Rules[i].ID == "" {
			doc.Rules[i].ID, named = newRequestID(), true
		}
	}
	if named {
		if raw, err = xml.Marshal(doc); err != nil {
			return err
		}
	}
	if err := q.s.cfg.Meta.UpdateBucket(q.ctx, q.bucket, func(b *store.Bucket) error {
		b.Lifecycle = string(raw)
		return nil
	}); err != nil {
		return err
	}
	q.w.WriteHeader(http.StatusOK)
	return nil
}

func (q *request) getLifecycle() error {
	b, err := q.ownBucket()
	if err != nil {
		return err
	}
	if b.Lifecycle == "" {
		return &s3err.Error{Code: "NoSuchLifecycleConfiguration", Status: http.StatusNotFound, Message: "The lifecycle configuration does not exist"}
	}
	var doc s3xml.LifecycleConfiguration
	if err := s3xml.Decode(strings.NewReader(b.Lifecycle), &doc); err != nil {
		return err
	}
	doc.Xmlns = s3xml.NS
	q.writeXML(doc)
	return nil
}

func (q *request) deleteLifecycle() error {
	if _, err := q.ownBucket(); err != nil {
		return err
	}
	if err := q.s.cfg.Meta.UpdateBucket(q.ctx, q.bucket, func(b *store.Bucket) error {
		b.Lifecycle = ""
		return nil
	}); err != nil {
		return err
	}
	q.w.WriteHeader(http.StatusNoContent)
	return nil
}

// lifecycleDay is the length of a lifecycle "day".
func (s *Server) lifecycleDay() time.Duration {
	if s.cfg.LifecycleDay > 0 {
		return s.cfg.LifecycleDay
	}
	return 24 * time.Hour
}

// lifecycleUploadExpiry is the bucket's lifecycle rule for incomplete
// uploads of key (0: none).
func (s *Server) lifecycleUploadExpiry(b *store.Bucket, key string) time.Duration {
	var best time.Duration
	for _, r := range rulesOf(b) {
		if r.abortDay > 0 && strings.HasPrefix(key, r.prefix) {
			d := time.Duration(r.abortDay) * s.lifecycleDay()
			if best == 0 || d < best {
				best = d
			}
		}
	}
	return best
}

// lcCursor is where the lifecycle walk over versions resumes, with the
// state of the key it is in the middle of.
type lcCursor struct {
	bucket, key, id string
	// Per key: the version seen last (the successor of the next one) and
	// how many noncurrent versions were seen.
	curKey     string
	succMod    time.Time
	noncurrent int
	versions   int
	unknown    bool
}

// ApplyLifecycle looks at up to budget object versions, continuing where
// the last call stopped, and applies the lifecycle rules of their buckets
// as of now. It returns how many versions it deleted or expired and
// whether the walk wrapped around.
func (s *Server) ApplyLifecycle(ctx context.Context, now time.Time, budget int) (acted int, wrapped bool, err error) {
	s.maint.Lock()
	defer s.maint.Unlock()
	buckets, err := s.cfg.Meta.ListBuckets(ctx)
	if err != nil {
		return 0, false, err
	}
	cur := s.lc
	seen := 0
	day := s.lifecycleDay()
	for _, b := range buckets {
		if b.Name < cur.bucket {
			continue
		}
		if b.Name != cur.bucket {
			cur = lcCursor{bucket: b.Name}
		}
		rules := rulesOf(&b)
		if len(rules) == 0 {
			continue
		}
		for {
			limit := min(budget-seen, 1000)
			if limit <= 0 {
				s.lc = cur
				return acted, false, nil
			}
			vers, err := s.cfg.Meta.ListVersions(ctx, b.Name, store.ListQuery{After: cur.key, AfterID: cur.id, Limit: limit})
			if errors.Is(err, store.ErrNoSuchBucket) {
				break
			}
			if err != nil {
				return acted, false, err
			}
			for i := range vers {
				v := &vers[i]
				seen++
				cur.key, cur.id = v.Key, v.VersionID
				switch {
				case v.IsLatest:
					cur.curKey, cur.noncurrent, cur.versions, cur.unknown = v.Key, 0, 0, false
				case v.Key != cur.curKey:
					// The newer versions of this key were not seen (the
					// walk restarted): no successor time, act on none.
					cur.curKey, cur.noncurrent, cur.versions, cur.unknown = v.Key, 0, 0, true
				}
				n, err := s.lifecycleVersion(ctx, &b, rules, v, &cur, now, day)
				if err != nil {
					return acted, false, err
				}
				acted += n
				cur.versions++
				cur.succMod = v.Modified
			}
			if len(vers) < limit {
				break
			}
		}
		cur = lcCursor{}
	}
	s.lc = lcCursor{}
	return acted, true, nil
}

// lifecycleVersion applies the rules to one version; cur holds what came
// before it in its key (newer versions).
func (s *Server) lifecycleVersion(ctx context.Context, b *store.Bucket, rules []lcRule, v *store.Object, cur *lcCursor, now time.Time, day time.Duration) (int, error) {
	if v.IsLatest {
		if v.DeleteMarker {
			// An expired delete marker: the only version left of its key.
			for _, r := range rules {
				if r.expDM && strings.HasPrefix(v.Key, r.prefix) && s.onlyVersion(ctx, b.Name, v) {
					return s.lcDelete(ctx, b, v.Key, v.VersionID)
				}
			}
			return 0, nil
		}
		for _, r := range rules {
			if !r.applies(v) {
				continue
			}
			due := r.expDays > 0 && now.Sub(v.Modified) >= time.Duration(r.expDays)*day ||
				!r.expDate.IsZero() && !now.Before(r.expDate)
			if !due {
				continue
			}
			if b.Versioning == store.VersioningOff {
				return s.lcDelete(ctx, b, v.Key, v.VersionID)
			}
			// Versioned: the current version becomes noncurrent under a
			// delete marker.
			return s.lcDelete(ctx, b, v.Key, "")
		}
		return 0, nil
	}
	// Noncurrent since its successor was written.
	cur.noncurrent++
	if cur.unknown {
		return 0, nil
	}
	for _, r := range rules {
		if !r.hasNC || !r.applies(v) {
			continue
		}
		if r.ncNewer > 0 && cur.noncurrent <= r.ncNewer {
			continue
		}
		if now.Sub(cur.succMod) >= time.Duration(r.ncDays)*day {
			return s.lcDelete(ctx, b, v.Key, v.VersionID)
		}
	}
	return 0, nil
}

// onlyVersion reports whether v is the only version of its key.
func (s *Server) onlyVersion(ctx context.Context, bucket string, v *store.Object) bool {
	vers, err := s.cfg.Meta.ListVersions(ctx, bucket, store.ListQuery{Prefix: v.Key, Limit: 2})
	if err != nil {
		return false
	}
	n := 0
	for _, o := range vers {
		if o.Key == v.Key {
			n++
		}
	}
	return n == 1
}

// lcDelete deletes a version (or, with versionID "", the current one
// under a delete marker) for a lifecycle rule. A version that object lock
// protects is left alone.
func (s *Server) lcDelete(ctx context.Context, b *store.Bucket, key, versionID string) (int, error) {
	bucket := b.Name
	if versionID != "" && b.ObjectLock != nil {
		defer s.keyLocks.lock(bucket, key)()
		if o, err := s.cfg.Meta.GetObject(ctx, bucket, key, versionID); err == nil && o.Locked(time.Now(), false) {
			s.log.Debug("lifecycle: version kept by object lock", "bucket", bucket, "key", key, "version", versionID)
			return 0, nil
		}
	}
	_, freed, err := s.cfg.Meta.DeleteObject(ctx, bucket, key, versionID)
	if errors.Is(err, store.ErrNoSuchVersion) || errors.Is(err, store.ErrNoSuchKey) {
		return 0, nil
	}
	if err != nil {
		return 0, err
	}
	s.reap.Release(ctx, freed)
	s.log.Info("lifecycle", "bucket", bucket, "key", key, "version", versionID)
	return 1, nil
}
