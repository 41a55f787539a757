package s3

import (
	"io"
	"net/http"

	"github.com/datdot/datdot/gateway/s3err"
	"github.com/datdot/datdot/gateway/s3xml"
	"github.com/datdot/datdot/gateway/store"
)

var errNoSuchBucketPolicy = &s3err.Error{Code: "NoSuchBucketPolicy", Status: http.StatusNotFound, Message: "The bucket policy does not exist"}

// putBucketPolicy implements PutBucketPolicy.
func (q *request) putBucketPolicy() error {
	b, err := q.ownBucket()
	if err != nil {
		return err
	}
	if q.auth.ContentLength > maxPolicySize {
		return malformed("Policies must be no larger than 20480 bytes")
	}
	raw, err := io.ReadAll(io.LimitReader(q.body(), maxPolicySize+1))
	if err != nil {
		return err
	}
	p, err := parsePolicy(string(raw), b.Name)
	if err != nil {
		return err
	}
	if b.PublicAccessBlock != nil && b.PublicAccessBlock.BlockPublicPolicy && policyIsPublic(p) {
		return s3err.AccessDenied.With("Access Denied: the bucket blocks public policies")
	}
	if err := q.s.cfg.Meta.UpdateBucket(q.ctx, q.bucket, func(b *store.Bucket) error {
		b.Policy = string(raw)
		return nil
	}); err != nil {
		return err
	}
	q.w.WriteHeader(http.StatusNoContent)
	return nil
}

// getBucketPolicy implements GetBucketPolicy: the policy as it was put.
func (q *request) getBucketPolicy() error {
	b, err := q.ownBucket()
	if err != nil {
		return err
	}
	if b.Policy == "" {
		return errNoSuchBucketPolicy
	}
	q.w.Header().Set("Content-Type", "application/json")
	q.w.WriteHeader(http.StatusOK)
	io.WriteString(q.w, b.Policy)
	return nil
}

// deleteBucketPolicy implements DeleteBucketPolicy.
func (q *request) deleteBucketPolicy() error {
	if _, err := q.ownBucket(); err != nil {
		return err
	}
	if err := q.s.cfg.Meta.UpdateBucket(q.ctx, q.bucket, func(b *store.Bucket) error {
		b.Policy = ""
		return nil
	}); err != nil {
		return err
	}
	q.w.WriteHeader(http.StatusNoContent)
	return nil
}

// getBucketPolicyStatus implements GetBucketPolicyStatus.
func (q *request) getBucketPolicyStatus() error {
	b, err := q.ownBucket()
	if err != nil {
		return err
	}
	// Public when the policy is public or, as RGW reports it, when the
	// bucket's effective ACL grants to everyone or every signed-in user.
	public := b.Policy != "" && policyIsPublic(q.s.policies.get(b.Policy, b.Name))
	for _, g := range effectiveACL(b, b.ACL).Grants {
		if isPublic(g) && b.Ownership != ownershipEnforced {
			public = true
		}
	}
	q.writeXML(s3xml.PolicyStatus{Xmlns: s3xml.NS, IsPublic: public})
	return nil
}
