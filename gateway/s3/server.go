// Package s3 is the S3 protocol layer of the gateway: an http.Handler that
// routes S3 requests (path-style and virtual-host-style), checks access and
// serves them from a store.MetaStore and a store.BlobStore.
package s3

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/xml"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"os"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/datdot/datdot/gateway/s3err"
	"github.com/datdot/datdot/gateway/s3xml"
	"github.com/datdot/datdot/gateway/sigv4"
	"github.com/datdot/datdot/gateway/store"
)

// Authenticator authenticates a request (sigv4.Verifier is one). Errors
// that implement S3Code() string and HTTPStatus() int are sent to the client
// as such.
type Authenticator interface {
	Authenticate(r *http.Request) (*sigv4.Result, error)
}

// Config configures a Server.
type Config struct {
	Meta  store.MetaStore
	Blobs store.BlobStore
	Auth  Authenticator
	// Users maps an access key to the account it acts for.
	Users map[string]store.Owner
	// Region is the only region this gateway serves (default us-east-1).
	Region string
	// Domains are base domains for virtual-host-style addressing:
	// a request to bucket.<domain> addresses bucket.
	Domains []string
	Log     *slog.Logger
	// Reaper deletes freed blobs and pins blobs being read; nil means one
	// with no grace period (freed blobs are deleted by the request that
	// freed them, or by their last reader).
	Reaper *store.Reaper
	// Limits caps what each account may hold (zero: no limit).
	Limits Limits
	// UploadExpiry is how long an incomplete multipart upload is kept
	// before ExpireUploads aborts it (0: DefaultUploadExpiry).
	UploadExpiry time.Duration
	// AccessLog, if not nil, gets one line per request.
	AccessLog *slog.Logger
	// LifecycleDay is the length of a "day" in lifecycle rules (default
	// 24h; tests shorten it).
	LifecycleDay time.Duration
}

// Server serves the S3 API.
type Server struct {
	cfg   Config
	log   *slog.Logger
	users map[string]bool // known canonical user ids
	reap  *store.Reaper

	maint    sync.Mutex // one maintenance pass at a time
	expiry   expiryCursor
	policies policyCache
	lc       lcCursor
	keyLocks keyLocks
}

func (s *Server) knownUser(id string) bool { return s.users[id] }

// New returns a Server.
func New(cfg Config) *Server {
	if cfg.Region == "" {
		cfg.Region = "us-east-1"
	}
	log := cfg.Log
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	users := map[string]bool{}
	for _, u := range cfg.Users {
		users[u.ID] = true
	}
	reap := cfg.Reaper
	if reap == nil {
		reap = store.NewReaper(cfg.Meta, cfg.Blobs, 0, log)
	}
	return &Server{cfg: cfg, log: log, users: users, reap: reap}
}

// request is one S3 request being served.
type request struct {
	s      *Server
	w      http.ResponseWriter
	r      *http.Request
	ctx    context.Context
	id     string
	bucket string
	key    string
	q      url.Values
	auth   *sigv4.Result
	user   *store.Owner // nil for anonymous requests
	// errCode is the S3 error code sent, for the access log.
	errCode string
	// newTags are the tags of the object being written.
	newTags map[string]string
	// newLock is the object lock of the object being written.
	newLock objectLockRequest
	// listPrefix, when set, is the s3:prefix a policy sees (the key, when
	// a missing key's 404 is decided by s3:ListBucket).
	listPrefix *string
}

func newRequestID() string {
	var b [8]byte
	rand.Read(b[:])
	return strings.ToUpper(hex.EncodeToString(b[:]))
}

// ServeHTTP implements http.Handler.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	req := &request{s: s, w: w, r: r, ctx: r.Context(), id: newRequestID()}
	if s.cfg.AccessLog != nil {
		start := time.Now()
		aw := &accessWriter{ResponseWriter: w}
		var body *countingBody
		if r.Body != nil {
			body = &countingBody{ReadCloser: r.Body}
			r.Body = body
		} else {
			body = &countingBody{}
		}
		req.w = aw
		// Deferred first, so it runs last: after a panic's recovery too.
		defer req.logAccess(s.cfg.AccessLog, aw, body, start)
	}
	h := req.w.Header()
	h.Set("x-amz-request-id", req.id)
	h.Set("x-amz-id-2", req.id)
	h.Set("Server", "DatDot")
	defer func() {
		if v := recover(); v != nil {
			if v == http.ErrAbortHandler {
				panic(v)
			}
			s.log.Error("panic serving request", "method", r.Method, "url", r.URL.String(), "panic", v)
			req.fail(s3err.InternalError)
		}
	}()
	req.bucket, req.key = s.splitTarget(r)
	req.q = r.URL.Query()
	if r.Method == http.MethodOptions {
		req.preflight()
		return
	}
	req.corsHeaders()
	if err := req.authenticate(); err != nil {
		req.fail(err)
		return
	}
	if err := req.dispatch(); err != nil {
		req.fail(err)
	}
	s.log.Debug("s3", "method", r.Method, "bucket", req.bucket, "key", req.key, "query", r.URL.RawQuery, "id", req.id)
}

// splitTarget returns the bucket and key a request addresses.
func (s *Server) splitTarget(r *http.Request) (bucket, key string) {
	host := r.Host
	if h, _, err := net.SplitHostPort(host); err == nil {
		host = h
	}
	host = strings.ToLower(host)
	path := r.URL.Path
	for _, d := range s.cfg.Domains {
		d = strings.ToLower(d)
		if b, ok := strings.CutSuffix(host, "."+d); ok && b != "" {
			return b, strings.TrimPrefix(path, "/")
		}
	}
	path = strings.TrimPrefix(path, "/")
	bucket, key, _ = strings.Cut(path, "/")
	return bucket, key
}

func (q *request) authenticate() error {
	if q.s.cfg.Auth == nil {
		return s3err.AccessDenied
	}
	a, err := q.s.cfg.Auth.Authenticate(q.r)
	if err != nil {
		return err
	}
	q.auth = a
	if !a.Anonymous {
		u, ok := q.s.cfg.Users[a.AccessKey]
		if !ok {
			u = store.Owner{ID: a.AccessKey, DisplayName: a.AccessKey}
		}
		q.user = &u
	}
	return nil
}

func (q *request) has(param string) bool {
	_, ok := q.q[param]
	return ok
}

// dispatch routes the request to its handler.
func (q *request) dispatch() error {
	m := q.r.Method
	if q.bucket == "" {
		if m == http.MethodGet {
			return q.listBuckets()
		}
		return s3err.MethodNotAllowed
	}
	if q.key == "" {
		return q.dispatchBucket(m)
	}
	if len(q.key) > 1024 {
		return s3err.KeyTooLong
	}
	if strings.IndexByte(q.key, 0) >= 0 {
		return s3err.InvalidArgument.With("Object key contains a NUL character.")
	}
	// Keys are UTF-8 (listing relies on it). A DELETE may still name a key
	// stored before keys were checked, so that it can be removed.
	if !validKey(q.key) && m != http.MethodDelete {
		return s3err.InvalidURI
	}
	// Customer-provided keys and KMS are not supported: refuse rather than
	// store data the client believes is encrypted under its key.
	h := q.r.Header
	if h.Get("X-Amz-Server-Side-Encryption-Customer-Algorithm") != "" || h.Get("X-Amz-Copy-Source-Server-Side-Encryption-Customer-Algorithm") != "" {
		return s3err.NotImplemented.With("Server-side encryption with customer-provided keys is not supported.")
	}
	if sse := h.Get("X-Amz-Server-Side-Encryption"); sse != "" && sse != "AES256" {
		return s3err.NotImplemented.With("Server-side encryption " + sse + " is not supported.")
	}
	// Every object is stored the same way, but a storage class S3 does not
	// know is refused as S3 refuses it.
	if sc := h.Get("X-Amz-Storage-Class"); sc != "" && (m == http.MethodPut || m == http.MethodPost) && !storageClasses[sc] {
		return s3err.InvalidStorageClass
	}
	return q.dispatchObject(m)
}

// storageClasses are the storage classes S3 accepts on PutObject,
// CopyObject and CreateMultipartUpload.
var storageClasses = map[string]bool{
	"STANDARD": true, "REDUCED_REDUNDANCY": true, "STANDARD_IA": true, "ONEZONE_IA": true,
	"INTELLIGENT_TIERING": true, "GLACIER": true, "DEEP_ARCHIVE": true, "OUTPOSTS": true,
	"GLACIER_IR": true, "SNOW": true, "EXPRESS_ONEZONE": true, "FSX_OPENZFS": true,
}

// Subresources the gateway does not implement: a request naming one
// answers 501 NotImplemented whatever its method, never a listing or an
// object. (Those it answers with an empty or missing configuration, such as
// ?tagging or ?policy, are handled by the dispatchers.)
var (
	unimplementedBucket = []string{"analytics", "inventory", "metrics", "intelligent-tiering",
		"metadataTable", "metadataConfiguration", "session", "torrent", "restore", "select"}
	unimplementedObject = []string{"torrent", "restore", "select",
		"select-type", "renameObject", "analytics", "inventory", "metrics"}
)

// unimplemented returns the first subresource of names the request has.
func (q *request) unimplemented(names []string) string {
	for _, n := range names {
		if q.has(n) {
			return n
		}
	}
	return ""
}

func (q *request) dispatchBucket(m string) error {
	if n := q.unimplemented(unimplementedBucket); n != "" {
		return s3err.NotImplemented.With("The ?" + n + " subresource is not implemented.")
	}
	switch m {
	case http.MethodPut:
		switch {
		case q.has("versioning"):
			return q.putVersioning()
		case q.has("cors"):
			return q.putCORS()
		case q.has("acl"):
			return q.putBucketACL()
		case q.has("publicAccessBlock"):
			return q.putPublicAccessBlock()
		case q.has("tagging"):
			return q.putBucketTagging()
		case q.has("policy"):
			return q.putBucketPolicy()
		case q.has("ownershipControls"):
			return q.putOwnershipControls()
		case q.has("lifecycle"):
			return q.putLifecycle()
		case q.has("object-lock"):
			return q.putObjectLockConfig()
		case q.has("website"), q.has("encryption"),
			q.has("replication"), q.has("notification"), q.has("logging"),
			q.has("ownershipControls"), q.has("accelerate"), q.has("requestPayment"):
			return s3err.NotImplemented
		}
		return q.createBucket()
	case http.MethodGet:
		switch {
		case q.has("location"):
			return q.getLocation()
		case q.has("versioning"):
			return q.getVersioning()
		case q.has("cors"):
			return q.getCORS()
		case q.has("acl"):
			return q.getBucketACL()
		case q.has("publicAccessBlock"):
			return q.getPublicAccessBlock()
		case q.has("uploads"):
			return q.listUploads()
		case q.has("versions"):
			return q.listVersions()
		case q.has("tagging"):
			return q.getBucketTagging()
		case q.has("policyStatus"):
			return q.getBucketPolicyStatus()
		case q.has("policy"):
			return q.getBucketPolicy()
		case q.has("ownershipControls"):
			return q.getOwnershipControls()
		case q.has("lifecycle"):
			return q.getLifecycle()
		case q.has("object-lock"):
			return q.getObjectLockConfig()
		case q.has("website"), q.has("encryption"),
			q.has("replication"), q.has("ownershipControls"), q.has("publicAccessBlock"),
			q.has("policyStatus"):
			return q.bucketConfigMissing()
		case q.has("logging"), q.has("notification"), q.has("accelerate"), q.has("requestPayment"):
			return q.bucketConfigEmpty()
		case q.q.Get("list-type") == "2":
			return q.listObjects(2)
		}
		return q.listObjects(1)
	case http.MethodHead:
		return q.headBucket()
	case http.MethodDelete:
		switch {
		case q.has("cors"):
			return q.deleteCORS()
		case q.has("publicAccessBlock"):
			return q.deletePublicAccessBlock()
		case q.has("tagging"):
			return q.deleteBucketTagging()
		case q.has("policy"):
			return q.deleteBucketPolicy()
		case q.has("ownershipControls"):
			return q.deleteOwnershipControls()
		case q.has("lifecycle"):
			return q.deleteLifecycle()
		case q.has("lifecycle"), q.has("website"), q.has("encryption"),
			q.has("replication"), q.has("ownershipControls"), q.has("publicAccessBlock"):
			if _, err := q.ownBucket(); err != nil {
				return err
			}
			q.w.WriteHeader(http.StatusNoContent)
			return nil
		}
		return q.deleteBucket()
	case http.MethodPost:
		if q.has("delete") {
			return q.deleteObjects()
		}
		if boundary, ok := formBoundary(q.r); ok {
			return q.postObject(boundary)
		}
		return &s3err.Error{Code: "PreconditionFailed", Status: http.StatusPreconditionFailed,
			Message: "Bucket POST must be of the enclosure-type multipart/form-data"}
	}
	return s3err.MethodNotAllowed
}

func (q *request) dispatchObject(m string) error {
	if n := q.unimplemented(unimplementedObject); n != "" {
		return s3err.NotImplemented.With("The ?" + n + " subresource is not implemented.")
	}
	switch m {
	case http.MethodPut:
		switch {
		case q.has("uploadId") || q.has("partNumber"):
			if q.r.Header.Get("x-amz-copy-source") != "" {
				return q.uploadPartCopy()
			}
			return q.uploadPart()
		case q.has("acl"):
			return q.putObjectACL()
		case q.has("tagging"):
			return q.putObjectTagging()
		case q.has("retention"):
			return q.putObjectRetention()
		case q.has("legal-hold"):
			return q.putObjectLegalHold()
		case q.r.Header.Get("x-amz-copy-source") != "":
			return q.copyObject()
		}
		return q.putObject()
	case http.MethodGet:
		switch {
		case q.has("uploadId"):
			return q.listParts()
		case q.has("acl"):
			return q.getObjectACL()
		case q.has("attributes"):
			return q.getObjectAttributes()
		case q.has("tagging"):
			return q.getObjectTagging()
		case q.has("retention"):
			return q.getObjectRetention()
		case q.has("legal-hold"):
			return q.getObjectLegalHold()
		}
		return q.getObject(false)
	case http.MethodHead:
		return q.getObject(true)
	case http.MethodDelete:
		if q.has("uploadId") {
			return q.abortUpload()
		}
		if q.has("retention") || q.has("legal-hold") {
			// Never a delete of the object itself.
			return s3err.MethodNotAllowed
		}
		if q.has("tagging") {
			return q.deleteObjectTagging()
		}
		return q.deleteObject()
	case http.MethodPost:
		switch {
		case q.has("uploads"):
			return q.createUpload()
		case q.has("uploadId"):
			return q.completeUpload()
		}
	}
	return s3err.MethodNotAllowed
}

// s3Error is an error that knows its S3 code and HTTP status (s3err.Error,
// sigv4.Error).
type s3Error interface {
	S3Code() string
	HTTPStatus() int
}

// toS3 maps an error to the S3 error sent to the client.
func (q *request) toS3(err error) *s3err.Error {
	var se *s3err.Error
	if errors.As(err, &se) {
		return se
	}
	var ve *sigv4.Error
	if errors.As(err, &ve) {
		return &s3err.Error{Code: ve.Code, Status: ve.Status, Message: ve.Message}
	}
	var ce s3Error
	if errors.As(err, &ce) {
		return &s3err.Error{Code: ce.S3Code(), Status: ce.HTTPStatus(), Message: err.Error()}
	}
	switch {
	case errors.Is(err, store.ErrNoSuchBucket):
		return s3err.NoSuchBucket
	case errors.Is(err, store.ErrNoSuchKey):
		return s3err.NoSuchKey
	case errors.Is(err, store.ErrNoSuchVersion):
		return s3err.NoSuchVersion
	case errors.Is(err, store.ErrNoSuchUpload):
		return s3err.NoSuchUpload
	case errors.Is(err, store.ErrBucketNotEmpty):
		return s3err.BucketNotEmpty
	case errors.Is(err, store.ErrInvalidKey):
		return s3err.InvalidArgument.With("Object key contains a NUL character.")
	case errors.Is(err, store.ErrSizeMismatch):
		return s3err.IncompleteBody
	case errors.Is(err, s3xml.ErrTooLarge):
		return s3err.MaxMessageLengthExceeded
	case errors.Is(err, syscall.ENOSPC), errors.Is(err, syscall.EDQUOT):
		q.s.log.Error("storage full", "method", q.r.Method, "bucket", q.bucket, "key", q.key, "err", err, "id", q.id)
		return s3err.InsufficientStorage
	case errors.Is(err, store.ErrDataShort):
		q.s.log.Error("object data lost or truncated", "method", q.r.Method, "bucket", q.bucket, "key", q.key, "err", err, "id", q.id)
		return s3err.InternalError
	case errors.Is(err, os.ErrDeadlineExceeded):
		return s3err.RequestTimeout
	case errors.Is(err, io.ErrUnexpectedEOF):
		return s3err.IncompleteBody
	case errors.Is(err, context.Canceled):
		return s3err.IncompleteBody
	}
	q.s.log.Error("internal error", "method", q.r.Method, "bucket", q.bucket, "key", q.key, "err", err, "id", q.id)
	return s3err.InternalError
}

// fail writes err as an S3 error response.
func (q *request) fail(err error) {
	e := q.toS3(err)
	q.errCode = e.Code
	body := s3err.Body{RequestID: q.id, HostID: q.id, Resource: q.r.URL.Path}
	switch e.Code {
	case "NoSuchKey":
		body.Key = q.key
	case "NoSuchBucket":
		body.BucketName = q.bucket
	}
	s3err.Write(q.w, q.r, e, body)
}

// writeXML sends v as a 200 XML response.
func (q *request) writeXML(v any) {
	out, err := xml.Marshal(v)
	if err != nil {
		q.fail(err)
		return
	}
	q.w.Header().Set("Content-Type", "application/xml")
	q.w.WriteHeader(http.StatusOK)
	q.w.Write([]byte(xml.Header))
	q.w.Write(out)
}

// decodeXML parses a request body (capped at s3xml.MaxBodySize, or
// s3xml.MaxCompleteSize for CompleteMultipartUpload).
func (q *request) decodeXML(v any) error {
	body := q.body()
	limit := int64(s3xml.MaxBodySize)
	if _, ok := v.(*s3xml.CompleteMultipartUpload); ok {
		limit = s3xml.MaxCompleteSize
	}
	if q.auth.ContentLength > limit {
		return s3err.MaxMessageLengthExceeded
	}
	if err := s3xml.DecodeLimit(body, v, limit); err != nil {
		var ce s3Error
		if errors.As(err, &ce) || errors.Is(err, s3xml.ErrTooLarge) || errors.Is(err, io.ErrUnexpectedEOF) {
			return err
		}
		return s3err.MalformedXML
	}
	return nil
}

// body returns the verified request body.
func (q *request) body() io.Reader {
	if q.auth != nil && q.auth.Body != nil {
		return q.auth.Body
	}
	return q.r.Body
}
