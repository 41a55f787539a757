package s3

import (
	"net/http"

	"github.com/datdot/datdot/gateway/s3err"
	"github.com/datdot/datdot/gateway/s3xml"
	"github.com/datdot/datdot/gateway/store"
)

// Object ownership (S3's ownership controls):
//
//	BucketOwnerEnforced   ACLs are off: the bucket owner owns every object,
//	                      ACLs grant nothing, requests that set an ACL other
//	                      than bucket-owner-full-control are refused with
//	                      AccessControlListNotSupported
//	BucketOwnerPreferred  an object written with bucket-owner-full-control
//	                      is owned by the bucket owner
//	ObjectWriter          the writer owns the object (the default)
const (
	ownershipPreferred = "BucketOwnerPreferred"
	ownershipWriter    = "ObjectWriter"
)

var errACLNotSupported = &s3err.Error{Code: "AccessControlListNotSupported", Status: http.StatusBadRequest, Message: "The bucket does not allow ACLs"}

func validOwnership(v string) bool {
	return v == ownershipEnforced || v == ownershipPreferred || v == ownershipWriter
}

// requestSetsACL reports whether the request carries an ACL other than
// bucket-owner-full-control: what BucketOwnerEnforced refuses (private too, as AWS).
func (q *request) requestSetsACL() bool {
	if v := q.r.Header.Get("x-amz-acl"); v != "" && v != "bucket-owner-full-control" {
		return true
	}
	for h := range grantHeaders {
		if q.r.Header.Get(h) != "" {
			return true
		}
	}
	return false
}

// objectOwnerFor returns who owns an object the request writes in b.
func (q *request) objectOwnerFor(b store.Bucket, writer store.Owner) store.Owner {
	switch b.Ownership {
	case ownershipEnforced:
		return b.Owner
	case ownershipPreferred:
		if q.r.Header.Get("x-amz-acl") == "bucket-owner-full-control" {
			return b.Owner
		}
	}
	return writer
}

// putOwnershipControls implements PutBucketOwnershipControls.
func (q *request) putOwnershipControls() error {
	b, err := q.ownBucket()
	if err != nil {
		return err
	}
	var doc s3xml.OwnershipControls
	if err := q.decodeXML(&doc); err != nil {
		return err
	}
	if len(doc.Rules) != 1 || !validOwnership(doc.Rules[0].ObjectOwnership) {
		return s3err.MalformedXML
	}
	own := doc.Rules[0].ObjectOwnership
	if own == ownershipEnforced && grantsBeyondOwner(b.ACL) {
		return &s3err.Error{Code: "InvalidBucketAclWithObjectOwnership", Status: http.StatusBadRequest,
			Message: "Bucket cannot have ACLs set with ObjectOwnership's BucketOwnerEnforced setting"}
	}
	if err := q.s.cfg.Meta.UpdateBucket(q.ctx, q.bucket, func(b *store.Bucket) error {
		b.Ownership = own
		return nil
	}); err != nil {
		return err
	}
	q.w.WriteHeader(http.StatusOK)
	return nil
}

// grantsBeyondOwner reports whether acl grants anything to anyone but its
// owner.
func grantsBeyondOwner(acl store.ACL) bool {
	for _, g := range acl.Grants {
		if !(g.Type == "CanonicalUser" && g.ID == acl.Owner.ID) {
			return true
		}
	}
	return false
}

// getOwnershipControls implements GetBucketOwnershipControls.
func (q *request) getOwnershipControls() error {
	b, err := q.ownBucket()
	if err != nil {
		return err
	}
	if b.Ownership == "" {
		return &s3err.Error{Code: "OwnershipControlsNotFoundError", Status: http.StatusNotFound, Message: "The bucket ownership controls were not found"}
	}
	doc := s3xml.OwnershipControls{Xmlns: s3xml.NS, Rules: []s3xml.OwnershipRule{{ObjectOwnership: b.Ownership}}}
	q.writeXML(doc)
	return nil
}

// deleteOwnershipControls implements DeleteBucketOwnershipControls.
func (q *request) deleteOwnershipControls() error {
	if _, err := q.ownBucket(); err != nil {
		return err
	}
	if err := q.s.cfg.Meta.UpdateBucket(q.ctx, q.bucket, func(b *store.Bucket) error {
		b.Ownership = ""
		return nil
	}); err != nil {
		return err
	}
	q.w.WriteHeader(http.StatusNoContent)
	return nil
}
