package s3

import (
	"errors"
	"net/http"
	"sort"
	"strings"

	"github.com/datdot/datdot/gateway/s3err"
	"github.com/datdot/datdot/gateway/s3xml"
	"github.com/datdot/datdot/gateway/store"
)

// Grantee group URIs.
const (
	allUsers  = "http://acs.amazonaws.com/groups/global/AllUsers"
	authUsers = "http://acs.amazonaws.com/groups/global/AuthenticatedUsers"
	xsiNS     = "http://www.w3.org/2001/XMLSchema-instance"
)

// Permissions.
const (
	permRead        = "READ"
	permWrite       = "WRITE"
	permReadACP     = "READ_ACP"
	permWriteACP    = "WRITE_ACP"
	permFullControl = "FULL_CONTROL"
)

func ownerGrant(o store.Owner) store.Grant {
	return store.Grant{Type: "CanonicalUser", ID: o.ID, DisplayName: o.DisplayName, Permission: permFullControl}
}

func groupGrant(uri, perm string) store.Grant {
	return store.Grant{Type: "Group", URI: uri, Permission: perm}
}

// cannedACL builds the ACL named by an x-amz-acl value. bucketOwner is used
// by the bucket-owner-* ACLs on objects.
func cannedACL(name string, owner, bucketOwner store.Owner) (store.ACL, error) {
	var grants []store.Grant
	switch name {
	case "", "private":
	case "public-read":
		grants = append(grants, groupGrant(allUsers, permRead))
	case "public-read-write":
		grants = append(grants, groupGrant(allUsers, permRead), groupGrant(allUsers, permWrite))
	case "authenticated-read":
		grants = append(grants, groupGrant(authUsers, permRead))
	case "bucket-owner-read":
		if bucketOwner.ID != owner.ID {
			g := ownerGrant(bucketOwner)
			g.Permission = permRead
			grants = append(grants, g)
		}
	case "bucket-owner-full-control":
		if bucketOwner.ID != owner.ID {
			grants = append(grants, ownerGrant(bucketOwner))
		}
	case "aws-exec-read", "log-delivery-write":
	default:
		return store.ACL{}, s3err.InvalidArgument.With("The canned ACL " + name + " is not valid.")
	}
	// The owner's grant comes last, after the public ones, as S3 lists them.
	return store.ACL{Owner: owner, Grants: append(grants, ownerGrant(owner))}, nil
}

// grantHeaders are the x-amz-grant-* headers and the permission each gives.
var grantHeaders = map[string]string{
	"X-Amz-Grant-Read":         permRead,
	"X-Amz-Grant-Write":        permWrite,
	"X-Amz-Grant-Read-Acp":     permReadACP,
	"X-Amz-Grant-Write-Acp":    permWriteACP,
	"X-Amz-Grant-Full-Control": permFullControl,
}

// requestACL returns the ACL a write request asks for: its x-amz-acl or
// x-amz-grant-* headers, private by default.
func (q *request) requestACL(owner, bucketOwner store.Owner) (store.ACL, error) {
	canned := q.r.Header.Get("x-amz-acl")
	var grants []store.Grant
	for h, perm := range grantHeaders {
		v := q.r.Header.Get(h)
		if v == "" {
			continue
		}
		for _, item := range strings.Split(v, ",") {
			k, val, ok := strings.Cut(strings.TrimSpace(item), "=")
			if !ok {
				return store.ACL{}, s3err.InvalidArgument
			}
			val = strings.Trim(val, `"`)
			switch strings.ToLower(k) {
			case "id":
				grants = append(grants, store.Grant{Type: "CanonicalUser", ID: val, Permission: perm})
			case "uri":
				grants = append(grants, store.Grant{Type: "Group", URI: val, Permission: perm})
			case "emailaddress":
				grants = append(grants, store.Grant{Type: "AmazonCustomerByEmail", Email: val, Permission: perm})
			default:
				return store.ACL{}, s3err.InvalidArgument
			}
		}
	}
	if len(grants) > 0 {
		if canned != "" {
			return store.ACL{}, s3err.InvalidRequest.With("Specifying both Canned ACLs and Header Grants is not allowed")
		}
		acl := store.ACL{Owner: owner, Grants: grants}
		return acl, q.checkGrantees(acl)
	}
	return cannedACL(canned, owner, bucketOwner)
}

// newObjectACL returns the owner and ACL of an object that the request
// creates in bucket b (PUT, copy, multipart): the requester owns it (the
// bucket owner for anonymous writes) and its ACL comes from the request's
// headers, refused when it is public and b blocks public ACLs.
func (q *request) newObjectACL(b store.Bucket) (store.Owner, store.ACL, error) {
	owner := b.Owner
	if q.user != nil {
		owner = *q.user
	}
	if b.Ownership == ownershipEnforced && q.requestSetsACL() {
		return owner, store.ACL{}, errACLNotSupported
	}
	owner = q.objectOwnerFor(b, owner)
	acl, err := q.requestACL(owner, b.Owner)
	if err != nil {
		return owner, acl, err
	}
	return owner, acl, checkPublicBlock(b, acl)
}

// allowed reports whether user (nil: anonymous) has perm under acl.
func allowed(user *store.Owner, acl store.ACL, perm string) bool {
	if user != nil && user.ID == acl.Owner.ID {
		return true
	}
	for _, g := range acl.Grants {
		if g.Permission != perm && g.Permission != permFullControl {
			continue
		}
		switch {
		case g.Type == "Group" && g.URI == allUsers:
			return true
		case g.Type == "Group" && g.URI == authUsers && user != nil:
			return true
		case g.Type == "CanonicalUser" && user != nil && g.ID == user.ID:
			return true
		}
	}
	return false
}

// isPublic reports whether a grant is to everyone or every signed-in user.
func isPublic(g store.Grant) bool {
	return g.Type == "Group" && (g.URI == allUsers || g.URI == authUsers)
}

// effectiveACL drops public grants when the bucket ignores public ACLs.
func effectiveACL(b store.Bucket, acl store.ACL) store.ACL {
	if b.PublicAccessBlock == nil || !b.PublicAccessBlock.IgnorePublicAcls {
		return acl
	}
	out := store.ACL{Owner: acl.Owner}
	for _, g := range acl.Grants {
		if !isPublic(g) {
			out.Grants = append(out.Grants, g)
		}
	}
	return out
}

// checkPublicBlock refuses an ACL with public grants on a bucket that
// blocks public ACLs.
func checkPublicBlock(b store.Bucket, acl store.ACL) error {
	if b.PublicAccessBlock == nil || !b.PublicAccessBlock.BlockPublicAcls {
		return nil
	}
	for _, g := range acl.Grants {
		if isPublic(g) {
			return s3err.AccessDenied.With("Access Denied: the bucket blocks public ACLs")
		}
	}
	return nil
}

// loadBucket returns the bucket the request addresses, checking that the
// requester has perm on it and any x-amz-expected-bucket-owner.
func (q *request) loadBucket(perm string) (store.Bucket, error) {
	b, err := q.s.cfg.Meta.GetBucket(q.ctx, q.bucket)
	if err != nil {
		return b, err
	}
	if exp := q.r.Header.Get("x-amz-expected-bucket-owner"); exp != "" && exp != b.Owner.ID {
		return b, s3err.AccessDenied
	}
	if perm != "" && !q.authorize(b, allowed(q.user, effectiveACL(b, b.ACL), perm)) {
		return b, s3err.AccessDenied
	}
	return b, nil
}

// ownBucket returns the bucket if the requester owns it. Deleting a bucket
// and its configuration (versioning, CORS, public access block, location)
// are the owner's alone, as in S3: a FULL_CONTROL grant gives READ, WRITE,
// READ_ACP and WRITE_ACP, not the bucket itself.
func (q *request) ownBucket() (store.Bucket, error) {
	b, err := q.loadBucket("")
	if err != nil {
		return b, err
	}
	if !q.authorize(b, false) {
		return b, s3err.AccessDenied
	}
	return b, nil
}

// denyMissing returns AccessDenied when err says a key or version does not
// exist and the requester may not list bucket b: as in S3, only those who
// can list a bucket learn which keys it lacks, so keys cannot be probed.
func (q *request) denyMissing(b store.Bucket, key string, err error) error {
	if !(errors.Is(err, store.ErrNoSuchKey) || errors.Is(err, store.ErrNoSuchVersion)) {
		return nil
	}
	// A listing with the key as its prefix would tell whether the key
	// exists: a policy's s3:prefix condition sees the key.
	q.listPrefix = &key
	defer func() { q.listPrefix = nil }()
	if !q.authorizeAs(b, allowed(q.user, effectiveACL(b, b.ACL), permRead), "s3:ListBucket", "arn:aws:s3:::"+b.Name) {
		return s3err.AccessDenied
	}
	return nil
}

// canReadObject reports whether the requester may read obj in bucket b:
// the bucket owner always, others (anonymous included) when the object's
// ACL grants READ. As in S3, a public-read bucket lets anyone list it, not
// read its private objects.
func (q *request) canReadObject(b store.Bucket, obj *store.Object) bool {
	return q.authorize(b, allowed(q.user, effectiveACL(b, obj.ACL), permRead))
}

// checkGrantees refuses grants to accounts this gateway does not know, and
// puts group grants first, the order in which S3 lists canned ACLs.
func (q *request) checkGrantees(acl store.ACL) error {
	sort.SliceStable(acl.Grants, func(i, j int) bool {
		return acl.Grants[i].Type == "Group" && acl.Grants[j].Type != "Group"
	})
	for _, g := range acl.Grants {
		switch g.Type {
		case "CanonicalUser":
			if !q.s.knownUser(g.ID) {
				return s3err.InvalidArgument.With("Invalid id")
			}
		case "AmazonCustomerByEmail":
			return &s3err.Error{Code: "UnresolvableGrantByEmailAddress", Status: 400,
				Message: "The e-mail address you provided does not match any account on record."}
		}
	}
	return nil
}

func aclXML(acl store.ACL) s3xml.AccessControlPolicy {
	out := s3xml.AccessControlPolicy{Xmlns: s3xml.NS, Owner: s3xml.Owner{ID: acl.Owner.ID, DisplayName: acl.Owner.DisplayName}}
	for _, g := range acl.Grants {
		out.Grants = append(out.Grants, s3xml.Grant{
			Grantee: s3xml.Grantee{
				XMLNSXSI: xsiNS, Type: g.Type, ID: g.ID, DisplayName: g.DisplayName,
				URI: g.URI, EmailAddress: g.Email,
			},
			Permission: g.Permission,
		})
	}
	return out
}

var validPerms = map[string]bool{permRead: true, permWrite: true, permReadACP: true, permWriteACP: true, permFullControl: true}

// parseACLBody reads an AccessControlPolicy request body.
func (q *request) parseACLBody(owner store.Owner) (store.ACL, error) {
	var p s3xml.AccessControlPolicy
	if err := q.decodeXML(&p); err != nil {
		if errors.Is(err, s3err.MalformedXML) {
			return store.ACL{}, s3err.MalformedACL
		}
		return store.ACL{}, err
	}
	acl := store.ACL{Owner: owner}
	for _, g := range p.Grants {
		t := g.Grantee.TypeIn
		if t == "" {
			t = g.Grantee.Type
		}
		if !validPerms[g.Permission] {
			return acl, s3err.MalformedACL
		}
		switch t {
		case "CanonicalUser":
			if g.Grantee.ID == "" {
				return acl, s3err.MalformedACL
			}
		case "Group":
			if g.Grantee.URI != allUsers && g.Grantee.URI != authUsers {
				return acl, s3err.MalformedACL
			}
		case "AmazonCustomerByEmail":
		default:
			return acl, s3err.MalformedACL
		}
		acl.Grants = append(acl.Grants, store.Grant{
			Type: t, ID: g.Grantee.ID, DisplayName: g.Grantee.DisplayName,
			URI: g.Grantee.URI, Email: g.Grantee.EmailAddress, Permission: g.Permission,
		})
	}
	return acl, q.checkGrantees(acl)
}

// newACLFromRequest reads the ACL of a Put*Acl request: canned header,
// grant headers or an XML body.
func (q *request) newACLFromRequest(owner, bucketOwner store.Owner) (store.ACL, error) {
	hasHeaders := q.r.Header.Get("x-amz-acl") != ""
	for h := range grantHeaders {
		if q.r.Header.Get(h) != "" {
			hasHeaders = true
		}
	}
	if hasHeaders {
		return q.requestACL(owner, bucketOwner)
	}
	return q.parseACLBody(owner)
}

func (q *request) getBucketACL() error {
	b, err := q.loadBucket(permReadACP)
	if err != nil {
		return err
	}
	q.writeXML(aclXML(b.ACL))
	return nil
}

func (q *request) putBucketACL() error {
	b, err := q.loadBucket(permWriteACP)
	if err != nil {
		return err
	}
	if b.Ownership == ownershipEnforced && (q.requestSetsACL() || q.r.Header.Get("x-amz-acl") == "" && !q.hasGrantHeaders()) {
		return errACLNotSupported
	}
	acl, err := q.newACLFromRequest(b.Owner, b.Owner)
	if err != nil {
		return err
	}
	if err := checkPublicBlock(b, acl); err != nil {
		return err
	}
	err = q.s.cfg.Meta.UpdateBucket(q.ctx, q.bucket, func(b *store.Bucket) error {
		b.ACL = acl
		return nil
	})
	if err != nil {
		return err
	}
	q.w.WriteHeader(http.StatusOK)
	return nil
}

// objectForACL loads the bucket and the object version an ACL request
// addresses and checks that the requester owns the bucket or has perm
// (READ_ACP or WRITE_ACP) on the object.
func (q *request) objectForACL(perm string) (store.Bucket, store.Object, error) {
	b, err := q.loadBucket("")
	if err != nil {
		return b, store.Object{}, err
	}
	obj, err := q.s.cfg.Meta.GetObject(q.ctx, q.bucket, q.key, q.versionID())
	if err != nil {
		if derr := q.denyMissing(b, q.key, err); derr != nil {
			return b, obj, derr
		}
		return b, obj, q.objectErr(err)
	}
	if !q.authorize(b, allowed(q.user, effectiveACL(b, obj.ACL), perm)) {
		return b, obj, s3err.AccessDenied
	}
	return b, obj, nil
}

func (q *request) getObjectACL() error {
	b, obj, err := q.objectForACL(permReadACP)
	if err != nil {
		return err
	}
	if b.Ownership == ownershipEnforced {
		// ACLs are off: the bucket owner owns and fully controls it.
		obj.ACL = store.ACL{Owner: b.Owner, Grants: []store.Grant{ownerGrant(b.Owner)}}
	}
	if obj.VersionID != store.NullVersion || q.versionID() != "" {
		q.w.Header().Set("x-amz-version-id", obj.VersionID)
	}
	q.writeXML(aclXML(obj.ACL))
	return nil
}

func (q *request) putObjectACL() error {
	b, obj, err := q.objectForACL(permWriteACP)
	if err != nil {
		return err
	}
	if b.Ownership == ownershipEnforced && (q.requestSetsACL() || q.r.Header.Get("x-amz-acl") == "" && !q.hasGrantHeaders()) {
		return errACLNotSupported
	}
	acl, err := q.newACLFromRequest(obj.Owner, b.Owner)
	if err != nil {
		return err
	}
	if err := checkPublicBlock(b, acl); err != nil {
		return err
	}
	err = q.s.cfg.Meta.UpdateObject(q.ctx, q.bucket, q.key, obj.VersionID, func(o *store.Object) error {
		o.ACL = acl
		return nil
	})
	if err != nil {
		return q.objectErr(err)
	}
	if obj.VersionID != store.NullVersion {
		q.w.Header().Set("x-amz-version-id", obj.VersionID)
	}
	q.w.WriteHeader(http.StatusOK)
	return nil
}

func (q *request) putPublicAccessBlock() error {
	if _, err := q.ownBucket(); err != nil {
		return err
	}
	var c s3xml.PublicAccessBlockConfiguration
	if err := q.decodeXML(&c); err != nil {
		return err
	}
	err := q.s.cfg.Meta.UpdateBucket(q.ctx, q.bucket, func(b *store.Bucket) error {
		b.PublicAccessBlock = &store.PublicAccessBlock{
			BlockPublicAcls: c.BlockPublicAcls, IgnorePublicAcls: c.IgnorePublicAcls,
			BlockPublicPolicy: c.BlockPublicPolicy, RestrictPublicBuckets: c.RestrictPublicBuckets,
		}
		return nil
	})
	if err != nil {
		return err
	}
	q.w.WriteHeader(http.StatusOK)
	return nil
}

func (q *request) getPublicAccessBlock() error {
	b, err := q.ownBucket()
	if err != nil {
		return err
	}
	p := b.PublicAccessBlock
	if p == nil {
		return &s3err.Error{Code: "NoSuchPublicAccessBlockConfiguration", Status: http.StatusNotFound, Message: "The public access block configuration was not found"}
	}
	q.writeXML(s3xml.PublicAccessBlockConfiguration{Xmlns: s3xml.NS, BlockPublicAcls: p.BlockPublicAcls, IgnorePublicAcls: p.IgnorePublicAcls,
		BlockPublicPolicy: p.BlockPublicPolicy, RestrictPublicBuckets: p.RestrictPublicBuckets})
	return nil
}

func (q *request) deletePublicAccessBlock() error {
	if _, err := q.ownBucket(); err != nil {
		return err
	}
	err := q.s.cfg.Meta.UpdateBucket(q.ctx, q.bucket, func(b *store.Bucket) error {
		b.PublicAccessBlock = nil
		return nil
	})
	if err != nil {
		return err
	}
	q.w.WriteHeader(http.StatusNoContent)
	return nil
}

// hasGrantHeaders reports whether the request has x-amz-grant-* headers.
func (q *request) hasGrantHeaders() bool {
	for h := range grantHeaders {
		if q.r.Header.Get(h) != "" {
			return true
		}
	}
	return false
}
