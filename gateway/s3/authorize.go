package s3

import (
	"net"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/datdot/datdot/gateway/store"
)

// accessFacts are what decides a request: who asks, what the bucket policy
// says, what the ACL grants, and the bucket's ownership and public access
// block settings. decide is the one place where they are combined.
type accessFacts struct {
	// Owner: the requester is the bucket owner's account.
	Owner bool
	// ACL: the ACL (object's or bucket's, public grants already dropped
	// when the bucket ignores public ACLs) grants the request.
	ACL bool
	// ACLsDisabled: ownership is BucketOwnerEnforced, ACLs grant nothing.
	ACLsDisabled bool
	// Policy is the bucket policy's effect on the request.
	Policy effect
	// PublicPolicy: the bucket policy is public (grants to everyone).
	PublicPolicy bool
	// RestrictPublic: the bucket's public access block has
	// RestrictPublicBuckets.
	RestrictPublic bool
	// PolicyAdmin: the request reads or changes the bucket policy itself.
	PolicyAdmin bool
}

// decide applies AWS's evaluation order for a request to a bucket:
//
//  1. An explicit Deny in the bucket policy refuses the request — for the
//     bucket owner too, except on the policy itself (so the owner can
//     always repair a policy that locks everyone out).
//  2. The policy's own operations (Get/Put/DeleteBucketPolicy) are the
//     bucket owner's alone.
//  3. The bucket owner's account is allowed (its own identity permissions).
//  4. A policy Allow grants the request — unless the policy is public and
//     the bucket restricts public buckets (RestrictPublicBuckets), which
//     limits a public policy to the owner's account.
//  5. Otherwise the ACL decides, unless ACLs are disabled
//     (BucketOwnerEnforced).
//  6. Nothing grants it: denied.
func decide(f accessFacts) bool {
	if f.Policy == effectDeny && !(f.PolicyAdmin && f.Owner) {
		return false
	}
	if f.PolicyAdmin {
		return f.Owner
	}
	if f.Owner {
		return true
	}
	if f.Policy == effectAllow && !(f.PublicPolicy && f.RestrictPublic) {
		return true
	}
	return f.ACL && !f.ACLsDisabled
}

// policyCache keeps parsed policies by their text.
type policyCache struct {
	mu sync.Mutex
	m  map[string]*policy
}

func (c *policyCache) get(text, bucket string) *policy {
	c.mu.Lock()
	defer c.mu.Unlock()
	key := bucket + "\x00" + text
	if p, ok := c.m[key]; ok {
		return p
	}
	p, err := parsePolicy(text, bucket)
	if err != nil {
		// Validated when stored: unreachable unless the rules changed.
		// Deny everything rather than ignore a policy.
		p = &policy{Statements: []statement{{Principals: []string{"*"}, Actions: []string{"*"}, Resources: []string{"*"}}}}
	}
	if c.m == nil || len(c.m) > 1000 {
		c.m = map[string]*policy{}
	}
	c.m[key] = p
	return p
}

// authorize decides the request's own operation on bucket b given what
// the ACL grants.
func (q *request) authorize(b store.Bucket, aclOK bool) bool {
	return q.authorizeAs(b, aclOK, q.action(), q.resource())
}

// authorizeAs decides action on resource in bucket b given what the ACL
// grants.
func (q *request) authorizeAs(b store.Bucket, aclOK bool, action, resource string) bool {
	f := accessFacts{
		Owner:          q.user != nil && q.user.ID == b.Owner.ID,
		ACL:            aclOK,
		ACLsDisabled:   b.Ownership == ownershipEnforced,
		RestrictPublic: b.PublicAccessBlock != nil && b.PublicAccessBlock.RestrictPublicBuckets,
		PolicyAdmin:    action == "s3:GetBucketPolicy" || action == "s3:PutBucketPolicy" || action == "s3:DeleteBucketPolicy",
	}
	if b.Policy != "" {
		p := q.s.policies.get(b.Policy, b.Name)
		f.Policy, _ = p.evaluate(q.accessRequest(action, resource))
		f.PublicPolicy = policyIsPublic(p)
	}
	return decide(f)
}

// actionNames maps operation names (operation()) to policy actions where
// they differ from "s3:" + the name.
var actionNames = map[string]string{
	"HeadObject": "s3:GetObject", "CopyObject": "s3:PutObject", "CreateMultipartUpload": "s3:PutObject",
	"UploadPart": "s3:PutObject", "UploadPartCopy": "s3:PutObject", "CompleteMultipartUpload": "s3:PutObject",
	"PostObject": "s3:PutObject", "DeleteObjects": "s3:DeleteObject",
	"ListParts": "s3:ListMultipartUploadParts", "ListObjects": "s3:ListBucket", "ListObjectsV2": "s3:ListBucket",
	"HeadBucket": "s3:ListBucket", "ListObjectVersions": "s3:ListBucketVersions",
	"ListMultipartUploads": "s3:ListBucketMultipartUploads", "ListBuckets": "s3:ListAllMyBuckets",
	"GetBucketCors": "s3:GetBucketCORS", "PutBucketCors": "s3:PutBucketCORS", "DeleteBucketCors": "s3:PutBucketCORS",
	"DeleteBucketTagging":             "s3:PutBucketTagging",
	"GetBucketLifecycleConfiguration": "s3:GetLifecycleConfiguration", "PutBucketLifecycleConfiguration": "s3:PutLifecycleConfiguration",
	"DeleteBucketLifecycleConfiguration": "s3:PutLifecycleConfiguration",
	"GetPublicAccessBlock":               "s3:GetBucketPublicAccessBlock", "PutPublicAccessBlock": "s3:PutBucketPublicAccessBlock",
	"DeletePublicAccessBlock":       "s3:PutBucketPublicAccessBlock",
	"DeleteBucketOwnershipControls": "s3:PutBucketOwnershipControls",
	"GetObjectLockConfiguration":    "s3:GetBucketObjectLockConfiguration", "PutObjectLockConfiguration": "s3:PutBucketObjectLockConfiguration",
	"GetObjectAttributes": "s3:GetObjectAttributes", "HeadObjectVersion": "s3:GetObjectVersion",
}

// action is the policy action of the request's operation.
func (q *request) action() string {
	op := q.operation()
	a, ok := actionNames[op]
	if !ok {
		a = "s3:" + op
	}
	if q.versionID() != "" {
		switch a {
		case "s3:GetObject", "s3:DeleteObject", "s3:GetObjectAcl", "s3:PutObjectAcl",
			"s3:GetObjectTagging", "s3:PutObjectTagging", "s3:DeleteObjectTagging", "s3:GetObjectAttributes":
			a = strings.Replace(a, "Object", "ObjectVersion", 1)
		}
	}
	return a
}

// resource is the ARN the request addresses.
func (q *request) resource() string {
	if q.key == "" {
		return "arn:aws:s3:::" + q.bucket
	}
	return "arn:aws:s3:::" + q.bucket + "/" + q.key
}

// accessRequest gathers the condition keys of the request.
func (q *request) accessRequest(action, resource string) accessRequest {
	r := accessRequest{Action: action, Resource: resource, Context: map[string][]string{}}
	set := func(k, v string) { r.Context[k] = []string{v} }
	if q.user != nil {
		r.Principal = q.user.ID
		set("aws:userid", q.user.ID)
		set("aws:username", q.user.DisplayName)
		set("aws:principalaccount", q.user.ID)
		set("aws:principaltype", "Account")
	} else {
		set("aws:principaltype", "Anonymous")
	}
	if host, _, err := net.SplitHostPort(q.r.RemoteAddr); err == nil {
		set("aws:sourceip", host)
	}
	set("aws:securetransport", strconv.FormatBool(q.r.TLS != nil))
	now := time.Now().UTC()
	set("aws:currenttime", now.Format(time.RFC3339))
	set("aws:epochtime", strconv.FormatInt(now.Unix(), 10))
	if v := q.r.UserAgent(); v != "" {
		set("aws:useragent", v)
	}
	if v := q.r.Referer(); v != "" {
		set("aws:referer", v)
	}
	for _, p := range []string{"prefix", "delimiter", "max-keys"} {
		if v, ok := q.q[p]; ok && len(v) > 0 {
			set("s3:"+p, v[0])
		}
	}
	if q.listPrefix != nil {
		set("s3:prefix", *q.listPrefix)
	}
	if v := q.versionID(); v != "" {
		set("s3:versionid", v)
	}
	for _, h := range []string{"x-amz-acl", "x-amz-server-side-encryption", "x-amz-storage-class", "x-amz-copy-source",
		"x-amz-metadata-directive", "x-amz-content-sha256", "x-amz-grant-read", "x-amz-grant-full-control"} {
		if v := q.r.Header.Get(h); v != "" {
			set("s3:"+h, v)
		}
	}
	for h, k := range map[string]string{"x-amz-object-lock-mode": "s3:object-lock-mode",
		"x-amz-object-lock-retain-until-date": "s3:object-lock-retain-until-date",
		"x-amz-object-lock-legal-hold":        "s3:object-lock-legal-hold"} {
		if v := q.r.Header.Get(h); v != "" {
			set(k, v)
		}
	}
	if v := q.r.Header.Get("x-amz-object-lock-retain-until-date"); v != "" {
		if t, ok := parseLockTime(v); ok {
			set("s3:object-lock-remaining-retention-days", strconv.Itoa(int(time.Until(t).Hours()/24)))
		}
	}
	if q.auth != nil && !q.auth.Anonymous {
		set("s3:authtype", "REST-HEADER")
		if q.q.Get("X-Amz-Signature") != "" || q.q.Get("Signature") != "" {
			set("s3:authtype", "REST-QUERY-STRING")
		}
		set("s3:signatureversion", "AWS4-HMAC-SHA256")
		if q.r.Header.Get("X-Amz-Date") == "" && q.q.Get("X-Amz-Date") == "" {
			set("s3:signatureversion", "AWS")
		}
	}
	return r
}

// ownershipEnforced is the BucketOwnerEnforced object ownership: ACLs off.
const ownershipEnforced = "BucketOwnerEnforced"
