package s3

import (
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/datdot/datdot/gateway/s3err"
	"github.com/datdot/datdot/gateway/s3xml"
	"github.com/datdot/datdot/gateway/store"
)

// Tagging limits, as S3's.
const (
	maxObjectTags = 10
	maxBucketTags = 50
	maxTagKey     = 128
	maxTagValue   = 256
)

// checkTags validates a tag set.
func checkTags(tags []s3xml.Tag, max int) (map[string]string, error) {
	if len(tags) > max {
		if max == maxObjectTags {
			return nil, s3err.InvalidTag.With("Object tags cannot be greater than 10")
		}
		return nil, s3err.InvalidTag.With("Bucket tag count cannot be greater than 50")
	}
	out := make(map[string]string, len(tags))
	for _, t := range tags {
		switch {
		case t.Key == "" || utf8.RuneCountInString(t.Key) > maxTagKey || !utf8.ValidString(t.Key):
			return nil, s3err.InvalidTag.With("The TagKey you have provided is invalid")
		case utf8.RuneCountInString(t.Value) > maxTagValue || !utf8.ValidString(t.Value):
			return nil, s3err.InvalidTag.With("The TagValue you have provided is invalid")
		case strings.HasPrefix(strings.ToLower(t.Key), "aws:"):
			return nil, s3err.InvalidTag.With("Your TagKey cannot be prefixed with aws:")
		}
		if _, dup := out[t.Key]; dup {
			return nil, s3err.InvalidTag.With("Cannot provide multiple Tags with the same key")
		}
		out[t.Key] = t.Value
	}
	return out, nil
}

// tagsXML returns a tag set as S3's document, keys sorted.
func tagsXML(tags map[string]string) s3xml.Tagging {
	doc := s3xml.Tagging{Xmlns: s3xml.NS}
	keys := make([]string, 0, len(tags))
	for k := range tags {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		doc.TagSet.Tags = append(doc.TagSet.Tags, s3xml.Tag{Key: k, Value: tags[k]})
	}
	return doc
}

// headerTags parses the x-amz-tagging header (a URL query string) of PUT,
// copy and CreateMultipartUpload; nil when absent.
func (q *request) headerTags() (map[string]string, error) {
	v, ok := q.r.Header["X-Amz-Tagging"]
	if !ok {
		return nil, nil
	}
	vals, err := url.ParseQuery(strings.Join(v, "&"))
	if err != nil {
		return nil, s3err.InvalidArgument.With("The header 'x-amz-tagging' shall be encoded as UTF-8 then URLEncoded URL query parameters without tag name duplicates.")
	}
	var tags []s3xml.Tag
	for k, vs := range vals {
		if len(vs) > 1 {
			return nil, s3err.InvalidTag.With("Cannot provide multiple Tags with the same key")
		}
		tags = append(tags, s3xml.Tag{Key: k, Value: vs[0]})
	}
	m, err := checkTags(tags, maxObjectTags)
	if err != nil || len(m) == 0 {
		return nil, err
	}
	return m, nil
}

// setTagCount sets x-amz-tagging-count on GET and HEAD.
func setTagCount(h http.Header, obj *store.Object) {
	if len(obj.Tags) > 0 {
		h.Set("x-amz-tagging-count", strconv.Itoa(len(obj.Tags)))
	}
}

// getObjectTagging implements GetObjectTagging.
func (q *request) getObjectTagging() error {
	b, err := q.loadBucket("")
	if err != nil {
		return err
	}
	obj, err := q.lookupObject(b, q.key, q.versionID())
	if err != nil {
		return err
	}
	if q.versionID() != "" || obj.VersionID != store.NullVersion {
		q.w.Header().Set("x-amz-version-id", obj.VersionID)
	}
	q.writeXML(tagsXML(obj.Tags))
	return nil
}

// putObjectTagging implements PutObjectTagging: the requester needs WRITE
// on the bucket, as for writing the object.
func (q *request) putObjectTagging() error {
	b, err := q.loadBucket(permWrite)
	if err != nil {
		return err
	}
	var doc s3xml.Tagging
	if err := q.decodeXML(&doc); err != nil {
		return err
	}
	tags, err := checkTags(doc.TagSet.Tags, maxObjectTags)
	if err != nil {
		return err
	}
	return q.updateTags(b, tags, http.StatusOK)
}

// deleteObjectTagging implements DeleteObjectTagging.
func (q *request) deleteObjectTagging() error {
	b, err := q.loadBucket(permWrite)
	if err != nil {
		return err
	}
	return q.updateTags(b, nil, http.StatusNoContent)
}

func (q *request) updateTags(b store.Bucket, tags map[string]string, status int) error {
	var vid string
	err := q.s.cfg.Meta.UpdateObject(q.ctx, b.Name, q.key, q.versionID(), func(o *store.Object) error {
		if err := q.checkLockedTags(o); err != nil {
			return err
		}
		if len(tags) == 0 {
			tags = nil
		}
		o.Tags = tags
		vid = o.VersionID
		return nil
	})
	if err != nil {
		return q.objectErr(err)
	}
	if vid != store.NullVersion {
		q.w.Header().Set("x-amz-version-id", vid)
	}
	q.w.WriteHeader(status)
	return nil
}

// checkLockedTags: tags may change on any version (object lock protects
// data and retention, not tags).
func (q *request) checkLockedTags(*store.Object) error { return nil }

// getBucketTagging implements GetBucketTagging.
func (q *request) getBucketTagging() error {
	b, err := q.ownBucket()
	if err != nil {
		return err
	}
	if b.Tags == nil {
		return &s3err.Error{Code: "NoSuchTagSet", Message: "The TagSet does not exist", Status: http.StatusNotFound}
	}
	q.writeXML(tagsXML(b.Tags))
	return nil
}

// putBucketTagging implements PutBucketTagging.
func (q *request) putBucketTagging() error {
	if _, err := q.ownBucket(); err != nil {
		return err
	}
	var doc s3xml.Tagging
	if err := q.decodeXML(&doc); err != nil {
		return err
	}
	tags, err := checkTags(doc.TagSet.Tags, maxBucketTags)
	if err != nil {
		return err
	}
	if err := q.s.cfg.Meta.UpdateBucket(q.ctx, q.bucket, func(b *store.Bucket) error {
		b.Tags = tags
		return nil
	}); err != nil {
		return err
	}
	q.w.WriteHeader(http.StatusNoContent)
	return nil
}

// deleteBucketTagging implements DeleteBucketTagging.
func (q *request) deleteBucketTagging() error {
	if _, err := q.ownBucket(); err != nil {
		return err
	}
	if err := q.s.cfg.Meta.UpdateBucket(q.ctx, q.bucket, func(b *store.Bucket) error {
		b.Tags = nil
		return nil
	}); err != nil {
		return err
	}
	q.w.WriteHeader(http.StatusNoContent)
	return nil
}
