package s3

import (
	"io"
	"log/slog"
	"net/http"
	"time"
)

// The access log: one line per request, written through Config.AccessLog
// (a slog.Logger: JSON or logfmt as its handler formats), with the fields
//
//	id       request id (x-amz-request-id)
//	remote   client address
//	account  canonical user id, "-" for anonymous requests
//	op       S3 operation (GetObject, PutObject, ListObjectsV2, ...)
//	bucket, key
//	status   HTTP status sent
//	error    S3 error code, if any
//	in, out  body bytes received and sent
//	ms       latency in milliseconds, until the handler returned

// accessWriter counts what the handler sends.
type accessWriter struct {
	http.ResponseWriter
	status int
	out    int64
}

func (a *accessWriter) WriteHeader(code int) {
	if a.status == 0 {
		a.status = code
	}
	a.ResponseWriter.WriteHeader(code)
}

func (a *accessWriter) Write(p []byte) (int, error) {
	if a.status == 0 {
		a.status = http.StatusOK
	}
	n, err := a.ResponseWriter.Write(p)
	a.out += int64(n)
	return n, err
}

// Unwrap lets http.ResponseController reach the connection's writer.
func (a *accessWriter) Unwrap() http.ResponseWriter { return a.ResponseWriter }

// countingBody counts the request body bytes read.
type countingBody struct {
	io.ReadCloser
	n int64
}

func (c *countingBody) Read(p []byte) (int, error) {
	n, err := c.ReadCloser.Read(p)
	c.n += int64(n)
	return n, err
}

// logAccess writes the request's access log line.
func (q *request) logAccess(log *slog.Logger, aw *accessWriter, body *countingBody, start time.Time) {
	account := "-"
	if q.user != nil {
		account = q.user.ID
	}
	status := aw.status
	if status == 0 {
		status = http.StatusOK
	}
	log.LogAttrs(q.ctx, slog.LevelInfo, "access",
		slog.String("id", q.id),
		slog.String("remote", q.r.RemoteAddr),
		slog.String("account", account),
		slog.String("op", q.operation()),
		slog.String("bucket", q.bucket),
		slog.String("key", q.key),
		slog.Int("status", status),
		slog.String("error", q.errCode),
		slog.Int64("in", body.n),
		slog.Int64("out", aw.out),
		slog.Float64("ms", float64(time.Since(start).Microseconds())/1000),
	)
}

// bucketSubresources name bucket operations by their query parameter.
var bucketSubresources = []struct{ param, name string }{
	{"versioning", "BucketVersioning"}, {"cors", "BucketCors"}, {"acl", "BucketAcl"},
	{"publicAccessBlock", "PublicAccessBlock"}, {"policyStatus", "BucketPolicyStatus"}, {"policy", "BucketPolicy"},
	{"lifecycle", "BucketLifecycleConfiguration"}, {"tagging", "BucketTagging"},
	{"ownershipControls", "BucketOwnershipControls"}, {"object-lock", "ObjectLockConfiguration"},
	{"location", "BucketLocation"}, {"website", "BucketWebsite"}, {"encryption", "BucketEncryption"},
	{"logging", "BucketLogging"}, {"notification", "BucketNotificationConfiguration"},
}

// objectSubresources name object operations by their query parameter.
var objectSubresources = []struct{ param, name string }{
	{"acl", "ObjectAcl"}, {"tagging", "ObjectTagging"}, {"retention", "ObjectRetention"},
	{"legal-hold", "ObjectLegalHold"}, {"attributes", "ObjectAttributes"},
}

var verbs = map[string]string{http.MethodGet: "Get", http.MethodPut: "Put", http.MethodDelete: "Delete", http.MethodHead: "Head", http.MethodPost: "Post"}

// operation names the S3 operation of the request for the access log.
func (q *request) operation() string {
	m := q.r.Method
	verb := verbs[m]
	switch {
	case q.bucket == "":
		if m == http.MethodGet {
			return "ListBuckets"
		}
		return verb + "Service"
	case q.key == "":
		for _, s := range bucketSubresources {
			if q.has(s.param) {
				return verb + s.name
			}
		}
		switch {
		case m == http.MethodGet && q.has("uploads"):
			return "ListMultipartUploads"
		case m == http.MethodGet && q.has("versions"):
			return "ListObjectVersions"
		case m == http.MethodGet && q.q.Get("list-type") == "2":
			return "ListObjectsV2"
		case m == http.MethodGet:
			return "ListObjects"
		case m == http.MethodPost && q.has("delete"):
			return "DeleteObjects"
		case m == http.MethodPost:
			return "PostObject"
		case m == http.MethodPut:
			return "CreateBucket"
		}
		return verb + "Bucket"
	}
	for _, s := range objectSubresources {
		if q.has(s.param) {
			return verb + s.name
		}
	}
	copySrc := q.r.Header.Get("x-amz-copy-source") != ""
	switch {
	case m == http.MethodPost && q.has("uploads"):
		return "CreateMultipartUpload"
	case m == http.MethodPost && q.has("uploadId"):
		return "CompleteMultipartUpload"
	case m == http.MethodPut && q.has("uploadId") && copySrc:
		return "UploadPartCopy"
	case m == http.MethodPut && q.has("uploadId"):
		return "UploadPart"
	case m == http.MethodGet && q.has("uploadId"):
		return "ListParts"
	case m == http.MethodDelete && q.has("uploadId"):
		return "AbortMultipartUpload"
	case m == http.MethodPut && copySrc:
		return "CopyObject"
	case m == http.MethodOptions:
		return "PreflightObject"
	}
	return verb + "Object"
}
