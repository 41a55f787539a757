package s3

import (
	"errors"
	"net"
	"net/http"
	"reflect"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/datdot/datdot/gateway/s3err"
	"github.com/datdot/datdot/gateway/s3xml"
	"github.com/datdot/datdot/gateway/store"
)

// validBucketName follows AWS's bucket naming rules: 3 to 63 characters of
// lower-case letters, digits, '.' and '-', starting and ending with a letter
// or digit, no "..", not an IP address.
func validBucketName(name string) bool {
	if len(name) < 3 || len(name) > 63 {
		return false
	}
	for i := 0; i < len(name); i++ {
		c := name[i]
		switch {
		case 'a' <= c && c <= 'z', '0' <= c && c <= '9':
		case c == '.' || c == '-':
			if i == 0 || i == len(name)-1 {
				return false
			}
		default:
			return false
		}
	}
	if strings.Contains(name, "..") || strings.Contains(name, ".-") || strings.Contains(name, "-.") {
		return false
	}
	return net.ParseIP(name) == nil
}

func (q *request) listBuckets() error {
	if q.user == nil {
		return s3err.AccessDenied
	}
	all, err := q.s.cfg.Meta.ListBuckets(q.ctx)
	if err != nil {
		return err
	}
	sort.Slice(all, func(i, j int) bool { return all[i].Name < all[j].Name })
	max := 10000
	if v := q.q.Get("max-buckets"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > 10000 {
			return s3err.InvalidArgument.With("Argument max-buckets must be an integer between 1 and 10000.")
		}
		max = n
	}
	token := q.q.Get("continuation-token")
	prefix := q.q.Get("prefix")
	out := s3xml.ListAllMyBucketsResult{Xmlns: s3xml.NS, Owner: s3xml.Owner{ID: q.user.ID, DisplayName: q.user.DisplayName}, Prefix: prefix}
	out.Buckets = []s3xml.Bucket{}
	for _, b := range all {
		if b.Owner.ID != q.user.ID || b.Name <= token || !strings.HasPrefix(b.Name, prefix) {
			continue
		}
		if len(out.Buckets) == max {
			out.ContinuationToken = out.Buckets[len(out.Buckets)-1].Name
			break
		}
		out.Buckets = append(out.Buckets, s3xml.Bucket{Name: b.Name, CreationDate: s3xml.Time(b.Created), BucketRegion: q.s.cfg.Region})
	}
	q.writeXML(out)
	return nil
}

func (q *request) createBucket() error {
	if q.user == nil {
		return s3err.AccessDenied
	}
	if !validBucketName(q.bucket) {
		return s3err.InvalidBucketName
	}
	var cfg s3xml.CreateBucketConfiguration
	if q.r.ContentLength != 0 {
		var raw []byte
		buf := make([]byte, 512)
		for {
			n, err := q.body().Read(buf)
			raw = append(raw, buf[:n]...)
			if len(raw) > s3xml.MaxBodySize {
				return s3err.MaxMessageLengthExceeded
			}
			if err != nil {
				var ce s3Error
				if errors.As(err, &ce) {
					return err
				}
				break
			}
		}
		if strings.TrimSpace(string(raw)) != "" {
			if err := s3xml.Decode(strings.NewReader(string(raw)), &cfg); err != nil {
				return s3err.MalformedXML
			}
		}
	}
	region := cfg.LocationConstraint
	for _, c := range region {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_') {
			return s3err.InvalidLocationConstraint
		}
	}
	own := q.r.Header.Get("x-amz-object-ownership")
	if own != "" && !validOwnership(own) {
		return s3err.InvalidArgument.With("Invalid x-amz-object-ownership header: " + own)
	}
	if own == ownershipEnforced && q.requestSetsACL() {
		return &s3err.Error{Code: "InvalidBucketAclWithObjectOwnership", Status: http.StatusBadRequest,
			Message: "Bucket cannot have ACLs set with ObjectOwnership's BucketOwnerEnforced setting"}
	}
	acl, err := q.requestACL(*q.user, *q.user)
	if err != nil {
		return err
	}
	b := store.Bucket{Name: q.bucket, Created: time.Now().UTC(), Region: region, Owner: *q.user, ACL: acl, Ownership: own}
	switch v := strings.ToLower(strings.TrimSpace(q.r.Header.Get("x-amz-bucket-object-lock-enabled"))); v {
	case "true":
		// Object lock needs versioning, which then stays on.
		b.ObjectLock = &store.ObjectLock{}
		b.Versioning = store.VersioningEnabled
	case "", "false":
	default:
		return s3err.InvalidArgument.With("Invalid x-amz-bucket-object-lock-enabled header: " + v)
	}
	if err := q.checkBucketLimit(); err != nil {
		return err
	}
	err = q.s.cfg.Meta.CreateBucket(q.ctx, b)
	if errors.Is(err, store.ErrBucketExists) {
		old, gerr := q.s.cfg.Meta.GetBucket(q.ctx, q.bucket)
		if gerr == nil && old.Owner.ID == q.user.ID {
			// The region asked for: the LocationConstraint, else the
			// gateway's. Only a repeat in us-east-1 succeeds.
			east := region == "" && q.s.cfg.Region == "us-east-1" || region == "us-east-1"
			if east && reflect.DeepEqual(old.ACL, acl) {
				// us-east-1 answers a repeated create by the owner with
				// success (and changes nothing), as AWS does there.
				q.w.Header().Set("Location", "/"+q.bucket)
				q.w.WriteHeader(http.StatusOK)
				return nil
			}
			if east {
				// A repeat that asks for another ACL is refused (RGW's rule).
				return s3err.BucketAlreadyExists
			}
			return s3err.BucketAlreadyOwnedByYou
		}
		return s3err.BucketAlreadyExists
	}
	if err != nil {
		return err
	}
	q.w.Header().Set("Location", "/"+q.bucket)
	q.w.WriteHeader(http.StatusOK)
	return nil
}

func (q *request) headBucket() error {
	if _, err := q.loadBucket(permRead); err != nil {
		return err
	}
	q.w.Header().Set("x-amz-bucket-region", q.s.cfg.Region)
	q.w.WriteHeader(http.StatusOK)
	return nil
}

func (q *request) deleteBucket() error {
	if _, err := q.ownBucket(); err != nil {
		return err
	}
	freed, err := q.s.cfg.Meta.DeleteBucket(q.ctx, q.bucket)
	if err != nil {
		return err
	}
	q.free(freed)
	q.w.WriteHeader(http.StatusNoContent)
	return nil
}

func (q *request) getLocation() error {
	b, err := q.ownBucket()
	if err != nil {
		return err
	}
	q.writeXML(s3xml.LocationConstraint{Xmlns: s3xml.NS, Value: b.Region})
	return nil
}

func (q *request) getVersioning() error {
	b, err := q.ownBucket()
	if err != nil {
		return err
	}
	q.writeXML(s3xml.VersioningConfiguration{Xmlns: s3xml.NS, Status: b.Versioning})
	return nil
}

func (q *request) putVersioning() error {
	if _, err := q.ownBucket(); err != nil {
		return err
	}
	var cfg s3xml.VersioningConfiguration
	if err := q.decodeXML(&cfg); err != nil {
		return err
	}
	switch cfg.Status {
	case store.VersioningEnabled, store.VersioningSuspended:
	default:
		return s3err.IllegalVersioningConfig
	}
	if cfg.MfaDelete != "" && cfg.MfaDelete != "Disabled" {
		return s3err.NotImplemented.With("MFA delete is not supported.")
	}
	err := q.s.cfg.Meta.UpdateBucket(q.ctx, q.bucket, func(b *store.Bucket) error {
		if b.ObjectLock != nil && cfg.Status != store.VersioningEnabled {
			return errLockSuspend
		}
		b.Versioning = cfg.Status
		return nil
	})
	if err != nil {
		return err
	}
	q.w.WriteHeader(http.StatusOK)
	return nil
}

// bucketConfigMissing answers GET of bucket sub-resources this gateway does
// not keep (policy, lifecycle, ...) with AWS's "not configured" errors.
func (q *request) bucketConfigMissing() error {
	if _, err := q.ownBucket(); err != nil {
		return err
	}
	codes := []struct{ param, code, msg string }{
		{"policyStatus", "NoSuchBucketPolicy", "The bucket policy does not exist"},
		{"policy", "NoSuchBucketPolicy", "The bucket policy does not exist"},
		{"lifecycle", "NoSuchLifecycleConfiguration", "The lifecycle configuration does not exist"},
		{"tagging", "NoSuchTagSet", "The TagSet does not exist"},
		{"website", "NoSuchWebsiteConfiguration", "The specified bucket does not have a website configuration"},
		{"encryption", "ServerSideEncryptionConfigurationNotFoundError", "The server side encryption configuration was not found"},
		{"object-lock", "ObjectLockConfigurationNotFoundError", "Object Lock configuration does not exist for this bucket"},
		{"replication", "ReplicationConfigurationNotFoundError", "The replication configuration was not found"},
		{"ownershipControls", "OwnershipControlsNotFoundError", "The bucket ownership controls were not found"},
		{"publicAccessBlock", "NoSuchPublicAccessBlockConfiguration", "The public access block configuration was not found"},
	}
	for _, c := range codes {
		if q.has(c.param) {
			return &s3err.Error{Code: c.code, Message: c.msg, Status: http.StatusNotFound}
		}
	}
	return s3err.NotImplemented
}

// bucketConfigEmpty answers GET of sub-resources that have an empty default.
func (q *request) bucketConfigEmpty() error {
	if _, err := q.ownBucket(); err != nil {
		return err
	}
	var body string
	switch {
	case q.has("logging"):
		body = `<BucketLoggingStatus xmlns="` + s3xml.NS + `"></BucketLoggingStatus>`
	case q.has("notification"):
		body = `<NotificationConfiguration xmlns="` + s3xml.NS + `"></NotificationConfiguration>`
	case q.has("accelerate"):
		body = `<AccelerateConfiguration xmlns="` + s3xml.NS + `"></AccelerateConfiguration>`
	case q.has("requestPayment"):
		body = `<RequestPaymentConfiguration xmlns="` + s3xml.NS + `"><Payer>BucketOwner</Payer></RequestPaymentConfiguration>`
	}
	q.w.Header().Set("Content-Type", "application/xml")
	q.w.WriteHeader(http.StatusOK)
	q.w.Write([]byte(`<?xml version="1.0" encoding="UTF-8"?>` + "\n" + body))
	return nil
}
