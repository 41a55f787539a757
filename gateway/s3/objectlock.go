package s3

import (
	"errors"
	"hash/fnv"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/datdot/datdot/gateway/s3err"
	"github.com/datdot/datdot/gateway/s3xml"
	"github.com/datdot/datdot/gateway/sigv4"
	"github.com/datdot/datdot/gateway/store"
)

// S3 Object Lock (write once, read many).
//
// A bucket gets object lock when it is created with
// x-amz-bucket-object-lock-enabled (which turns versioning on), or by
// PutObjectLockConfiguration on a bucket whose versioning is Enabled; it
// is never turned off, and versioning can then no longer be suspended, so
// a write never replaces a version in place. Each version may carry a
// retention (GOVERNANCE or COMPLIANCE, until a date) and a legal hold. A
// version with a legal hold on, or a retention in force, cannot be deleted
// by id: not by its owner, not by the bucket owner, not by lifecycle rules
// (ApplyLifecycle skips it) and not by the hidden history's expiry (which
// keeps such a version until its date). Only a GOVERNANCE retention yields,
// to a request with x-amz-bypass-governance-retention: true from someone
// allowed s3:BypassGovernanceRetention (the bucket owner, or a policy
// grant). A COMPLIANCE retention can only be extended.
//
// Deletes by id and retention changes of one key are serialised by a
// striped mutex (keyLocks), so the check of a version's lock and the
// delete cannot be separated by a change of that lock.

// keyLocks serialises lock checks with the deletes and lock changes of a
// key.
type keyLocks struct {
	mu [64]sync.Mutex
}

func (k *keyLocks) lock(bucket, key string) func() {
	h := fnv.New32a()
	h.Write([]byte(bucket))
	h.Write([]byte{0})
	h.Write([]byte(key))
	m := &k.mu[h.Sum32()%uint32(len(k.mu))]
	m.Lock()
	return m.Unlock
}

// Object lock errors, with AWS's codes and messages.
var (
	errInvalidBucketState = &s3err.Error{Code: "InvalidBucketState", Status: http.StatusConflict,
		Message: "Object Lock configuration cannot be enabled on existing buckets"}
	errLockSuspend = &s3err.Error{Code: "InvalidBucketState", Status: http.StatusConflict,
		Message: "An Object Lock configuration is present on this bucket, so the versioning state cannot be changed."}
	errNoLockConfig = &s3err.Error{Code: "ObjectLockConfigurationNotFoundError", Status: http.StatusNotFound,
		Message: "Object Lock configuration does not exist for this bucket"}
	errBucketNotLocked = s3err.InvalidRequest.With("Bucket is missing Object Lock Configuration")
	errNoObjectLock    = &s3err.Error{Code: "NoSuchObjectLockConfiguration", Status: http.StatusNotFound,
		Message: "The specified object does not have a ObjectLock configuration"}
	errRetentionPeriod = &s3err.Error{Code: "InvalidRetentionPeriod", Status: http.StatusBadRequest,
		Message: "Default retention period must be a positive integer value."}
	errLocked        = s3err.AccessDenied.With("Access Denied because object protected by object lock.")
	errLockChecksum  = s3err.InvalidRequest.With("Content-MD5 OR x-amz-checksum- HTTP header is required for Put Object requests with Object Lock parameters")
	errPastRetention = s3err.InvalidArgument.With("The retain until date must be in the future!")
)

// Limits of a default retention, as AWS's.
const (
	maxLockDays  = 36500
	maxLockYears = 100
)

func validLockMode(m string) bool { return m == store.LockGovernance || m == store.LockCompliance }

// parseLockTime reads a retain-until date (ISO 8601, as clients send it).
func parseLockTime(v string) (time.Time, bool) {
	for _, layout := range []string{time.RFC3339Nano, "2006-01-02T15:04:05Z0700", "2006-01-02T15:04:05.999999999Z0700"} {
		if t, err := time.Parse(layout, v); err == nil {
			return t.UTC(), true
		}
	}
	return time.Time{}, false
}

// lockTime formats a retain-until date as S3 sends it.
func lockTime(t time.Time) string { return s3xml.Time(t) }

// defaultRetention returns the retention a new version of bucket b gets
// when its request names none, as of now (nil: no default).
func defaultRetention(b *store.Bucket, now time.Time) *store.Retention {
	l := b.ObjectLock
	if l == nil || l.Mode == "" {
		return nil
	}
	until := now.AddDate(l.Years, 0, l.Days)
	return &store.Retention{Mode: l.Mode, Until: until.UTC()}
}

// bypassGovernance reports whether the request asks to bypass GOVERNANCE
// retention on key and may: the x-amz-bypass-governance-retention header
// and s3:BypassGovernanceRetention (the bucket owner has it).
func (q *request) bypassGovernance(b store.Bucket, key string) bool {
	if !strings.EqualFold(strings.TrimSpace(q.r.Header.Get("x-amz-bypass-governance-retention")), "true") {
		return false
	}
	return q.authorizeAs(b, false, "s3:BypassGovernanceRetention", "arn:aws:s3:::"+b.Name+"/"+key)
}

// lockHeaders are the object lock headers of PUT, copy and
// CreateMultipartUpload.
var lockHeaders = []string{"x-amz-object-lock-mode", "x-amz-object-lock-retain-until-date", "x-amz-object-lock-legal-hold"}

func (q *request) hasLockHeaders() bool {
	for _, h := range lockHeaders {
		if _, ok := q.r.Header[http.CanonicalHeaderKey(h)]; ok {
			return true
		}
	}
	return false
}

// objectLockRequest is what a write asks for: the retention and legal
// hold of the new version, and whether the request named them (explicit)
// or the bucket's default applies.
type objectLockRequest struct {
	retention *store.Retention
	hold      string
	explicit  bool
}

// any reports whether the write has object lock parameters (its own or
// the bucket's default retention): then AWS requires a body digest.
func (l objectLockRequest) any() bool { return l.retention != nil || l.hold != "" || l.explicit }

// requestLock reads the object lock headers of a write into bucket b and
// fills in the bucket's default retention when they name none. now is the
// new version's time.
func (q *request) requestLock(b store.Bucket, now time.Time) (objectLockRequest, error) {
	var out objectLockRequest
	h := q.r.Header
	mode, until, hold := h.Get("x-amz-object-lock-mode"), h.Get("x-amz-object-lock-retain-until-date"), h.Get("x-amz-object-lock-legal-hold")
	if !q.hasLockHeaders() {
		out.retention = defaultRetention(&b, now)
		return out, nil
	}
	out.explicit = true
	if b.ObjectLock == nil {
		return out, errBucketNotLocked.With("Bucket is missing ObjectLockConfiguration")
	}
	if (mode == "") != (until == "") {
		return out, s3err.InvalidArgument.With("x-amz-object-lock-retain-until-date and x-amz-object-lock-mode must both be supplied")
	}
	if mode != "" {
		if !validLockMode(mode) {
			return out, s3err.InvalidArgument.With("Unknown wormMode directive.")
		}
		t, ok := parseLockTime(until)
		if !ok {
			return out, s3err.InvalidArgument.With("The retain until date must be provided in ISO 8601 format")
		}
		if !t.After(now) {
			return out, errPastRetention
		}
		if !q.authorizeAs(b, false, "s3:PutObjectRetention", q.resource()) {
			return out, s3err.AccessDenied
		}
		out.retention = &store.Retention{Mode: mode, Until: t}
	} else {
		out.retention = defaultRetention(&b, now)
	}
	if hold != "" {
		if hold != "ON" && hold != "OFF" {
			return out, s3err.InvalidArgument.With("Legal Hold must be either of 'ON' or 'OFF'")
		}
		if !q.authorizeAs(b, false, "s3:PutObjectLegalHold", q.resource()) {
			return out, s3err.AccessDenied
		}
		out.hold = hold
	}
	return out, nil
}

// hasBodyDigest reports whether the request carries a digest of its body
// that the client computed and the gateway verifies, which AWS requires of
// object writes with object lock parameters: Content-MD5, an
// x-amz-checksum-* header or trailer — and, beyond AWS, a signed payload
// (x-amz-content-sha256 with the body's SHA-256, or signed streaming
// chunks), which proves the body as well and is what SDKs send over plain
// HTTP instead of a checksum. An unsigned payload without a checksum is
// refused.
func (q *request) hasBodyDigest() bool {
	h := q.r.Header
	if h.Get("Content-Md5") != "" {
		return true
	}
	if q.auth != nil && !q.auth.Anonymous {
		switch m := q.auth.PayloadMode; {
		case m == sigv4.StreamingPayload, m == sigv4.StreamingPayloadTrailer:
			return true
		case len(m) == 64 && strings.Trim(strings.ToLower(m), "0123456789abcdef") == "":
			return true
		}
	}
	for k := range h {
		lk := strings.ToLower(k)
		if strings.HasPrefix(lk, "x-amz-checksum-") && lk != "x-amz-checksum-algorithm" && lk != "x-amz-checksum-type" && lk != "x-amz-checksum-mode" {
			return true
		}
	}
	for _, t := range strings.Split(h.Get("X-Amz-Trailer"), ",") {
		if strings.HasPrefix(strings.ToLower(strings.TrimSpace(t)), "x-amz-checksum-") {
			return true
		}
	}
	return false
}

// applyLock sets the new version's object lock settings.
func applyLock(obj *store.Object, l objectLockRequest) {
	obj.Retention, obj.LegalHold = l.retention, l.hold
}

// setLockHeaders adds the object lock headers of GET and HEAD, for
// requesters who may read them.
func (q *request) setLockHeaders(b store.Bucket, obj *store.Object) {
	if obj.Retention == nil && obj.LegalHold == "" {
		return
	}
	h := q.w.Header()
	if obj.Retention != nil && q.authorizeAs(b, false, "s3:GetObjectRetention", q.resource()) {
		h.Set("x-amz-object-lock-mode", obj.Retention.Mode)
		h.Set("x-amz-object-lock-retain-until-date", lockTime(obj.Retention.Until))
	}
	if obj.LegalHold != "" && q.authorizeAs(b, false, "s3:GetObjectLegalHold", q.resource()) {
		h.Set("x-amz-object-lock-legal-hold", obj.LegalHold)
	}
}

// checkDeleteLock refuses the permanent delete of a version of key in
// bucket b that object lock protects. It must be called with the key's
// lock held (keyLocks), for a delete by version id.
func (q *request) checkDeleteLock(b store.Bucket, key, versionID string) error {
	obj, err := q.s.cfg.Meta.GetObject(q.ctx, b.Name, key, versionID)
	if err != nil {
		// Missing versions and delete markers have no lock: the delete
		// itself answers.
		return nil
	}
	if !obj.Locked(time.Now(), false) {
		return nil
	}
	if obj.Locked(time.Now(), true) || !q.bypassGovernance(b, key) {
		return errLocked
	}
	return nil
}

// putObjectLockConfig implements PutObjectLockConfiguration.
func (q *request) putObjectLockConfig() error {
	b, err := q.ownBucket()
	if err != nil {
		return err
	}
	var doc s3xml.ObjectLockConfiguration
	if err := q.decodeXML(&doc); err != nil {
		return err
	}
	if doc.ObjectLockEnabled != "Enabled" {
		return s3err.MalformedXML
	}
	cfg := store.ObjectLock{}
	if doc.Rule != nil {
		d := doc.Rule.DefaultRetention
		if d == nil || !validLockMode(d.Mode) || (d.Days == nil) == (d.Years == nil) {
			return s3err.MalformedXML
		}
		cfg.Mode = d.Mode
		switch {
		case d.Days != nil:
			if *d.Days <= 0 || *d.Days > maxLockDays {
				return errRetentionPeriod
			}
			cfg.Days = *d.Days
		default:
			if *d.Years <= 0 || *d.Years > maxLockYears {
				return errRetentionPeriod
			}
			cfg.Years = *d.Years
		}
	}
	if b.ObjectLock == nil && b.Versioning != store.VersioningEnabled {
		return errInvalidBucketState
	}
	err = q.s.cfg.Meta.UpdateBucket(q.ctx, q.bucket, func(b *store.Bucket) error {
		if b.ObjectLock == nil && b.Versioning != store.VersioningEnabled {
			return errInvalidBucketState
		}
		b.ObjectLock = &cfg
		return nil
	})
	if err != nil {
		return err
	}
	q.w.WriteHeader(http.StatusOK)
	return nil
}

// getObjectLockConfig implements GetObjectLockConfiguration.
func (q *request) getObjectLockConfig() error {
	b, err := q.ownBucket()
	if err != nil {
		return err
	}
	if b.ObjectLock == nil {
		return errNoLockConfig
	}
	doc := s3xml.ObjectLockConfiguration{Xmlns: s3xml.NS, ObjectLockEnabled: "Enabled"}
	if l := b.ObjectLock; l.Mode != "" {
		d := &s3xml.DefaultRetention{Mode: l.Mode}
		if l.Days > 0 {
			d.Days = &l.Days
		} else {
			d.Years = &l.Years
		}
		doc.Rule = &s3xml.ObjectLockRule{DefaultRetention: d}
	}
	q.writeXML(doc)
	return nil
}

// lockedBucket loads the request's bucket for an object lock operation
// on an object: the requester needs the operation's permission (policy or
// bucket owner) and the bucket needs object lock.
func (q *request) lockedBucket() (store.Bucket, error) {
	b, err := q.loadBucket("")
	if err != nil {
		return b, err
	}
	if !q.authorize(b, false) {
		return b, s3err.AccessDenied
	}
	if b.ObjectLock == nil {
		return b, errBucketNotLocked
	}
	return b, nil
}

// lockTarget maps the store's errors of a version lookup for an object
// lock operation.
func (q *request) lockTarget(err error) error {
	if errors.Is(err, store.ErrNoSuchVersion) && q.versionID() == "" {
		return store.ErrNoSuchKey
	}
	return q.objectErr(err)
}

// putObjectRetention implements PutObjectRetention.
func (q *request) putObjectRetention() error {
	b, err := q.lockedBucket()
	if err != nil {
		return err
	}
	var doc s3xml.Retention
	if err := q.decodeXML(&doc); err != nil {
		return err
	}
	now := time.Now()
	var want *store.Retention
	switch {
	case doc.Mode == "" && doc.RetainUntilDate == "":
		// An empty Retention removes it (GOVERNANCE with bypass only).
	case !validLockMode(doc.Mode) || doc.RetainUntilDate == "":
		return s3err.MalformedXML
	default:
		t, ok := parseLockTime(doc.RetainUntilDate)
		if !ok {
			return s3err.MalformedXML
		}
		if !t.After(now) {
			return errPastRetention
		}
		want = &store.Retention{Mode: doc.Mode, Until: t}
	}
	bypass := q.bypassGovernance(b, q.key)
	defer q.s.keyLocks.lock(b.Name, q.key)()
	err = q.s.cfg.Meta.UpdateObject(q.ctx, b.Name, q.key, q.versionID(), func(o *store.Object) error {
		if err := retentionChange(o.Retention, want, now, bypass); err != nil {
			return err
		}
		o.Retention = want
		return nil
	})
	if err != nil {
		return q.lockTarget(err)
	}
	q.w.WriteHeader(http.StatusOK)
	return nil
}

// retentionChange decides whether a version's retention may change from
// cur to want at now: an expired or absent retention may become anything;
// one in force may be extended in its mode; a GOVERNANCE one may be
// shortened, removed or made COMPLIANCE only with bypass; a COMPLIANCE one
// only extended.
func retentionChange(cur, want *store.Retention, now time.Time, bypass bool) error {
	if !cur.Active(now) {
		return nil
	}
	if want != nil && want.Mode == cur.Mode && !want.Until.Before(cur.Until) {
		return nil
	}
	if cur.Mode == store.LockGovernance && bypass {
		return nil
	}
	return errLocked
}

// getObjectRetention implements GetObjectRetention.
func (q *request) getObjectRetention() error {
	b, err := q.lockedBucket()
	if err != nil {
		return err
	}
	obj, err := q.s.cfg.Meta.GetObject(q.ctx, b.Name, q.key, q.versionID())
	if err != nil {
		return q.lockTarget(err)
	}
	if obj.Retention == nil {
		return errNoObjectLock
	}
	q.writeXML(s3xml.Retention{Xmlns: s3xml.NS, Mode: obj.Retention.Mode, RetainUntilDate: lockTime(obj.Retention.Until)})
	return nil
}

// putObjectLegalHold implements PutObjectLegalHold.
func (q *request) putObjectLegalHold() error {
	b, err := q.lockedBucket()
	if err != nil {
		return err
	}
	var doc s3xml.LegalHold
	if err := q.decodeXML(&doc); err != nil {
		return err
	}
	if doc.Status != "ON" && doc.Status != "OFF" {
		return s3err.MalformedXML
	}
	defer q.s.keyLocks.lock(b.Name, q.key)()
	err = q.s.cfg.Meta.UpdateObject(q.ctx, b.Name, q.key, q.versionID(), func(o *store.Object) error {
		o.LegalHold = doc.Status
		return nil
	})
	if err != nil {
		return q.lockTarget(err)
	}
	q.w.WriteHeader(http.StatusOK)
	return nil
}

// getObjectLegalHold implements GetObjectLegalHold.
func (q *request) getObjectLegalHold() error {
	b, err := q.lockedBucket()
	if err != nil {
		return err
	}
	obj, err := q.s.cfg.Meta.GetObject(q.ctx, b.Name, q.key, q.versionID())
	if err != nil {
		return q.lockTarget(err)
	}
	if obj.LegalHold == "" {
		return errNoObjectLock
	}
	q.writeXML(s3xml.LegalHold{Xmlns: s3xml.NS, Status: obj.LegalHold})
	return nil
}
