// Package store defines the storage interfaces behind the S3 gateway.
//
// Metadata (buckets, object versions, multipart uploads) and data (blobs of
// bytes) are kept apart: a MetaStore records what exists and a BlobStore holds
// the bytes. An object's data is a list of parts, each one blob, so a
// multipart upload completes without copying, and a network backend can map
// each blob to extents of erasure-coded cores.
//
// Writes follow one order everywhere: the blob is written through a
// BlobWriter, registered as pending on the metadata's delete queue and made
// durable; then the metadata transaction that references it commits (and
// takes it off the queue). A crash in between leaves a queue entry, never an
// orphan that only a walk over all blobs would find. Two kinds of blob skip
// the queue: inline blobs (BlobRef.Inline), whose bytes the referencing
// commit stores, and fresh blobs (BlobRef.Fresh), which that commit records
// with the store's own accounting; a crash before it leaves bytes no record
// names, which that store counts as dead space and reclaims. Metadata counts
// references to blobs, so copies share bytes; a commit that drops the last
// reference queues the blob for deletion in the same transaction, and a
// Reaper deletes it after a grace period.
package store

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sync"
	"time"
)

// Errors returned by MetaStore implementations.
var (
	ErrNoSuchBucket      = errors.New("store: no such bucket")
	ErrBucketExists      = errors.New("store: bucket exists")
	ErrBucketNotEmpty    = errors.New("store: bucket not empty")
	ErrNoSuchKey         = errors.New("store: no such key")
	ErrNoSuchVersion     = errors.New("store: no such version")
	ErrNoSuchUpload      = errors.New("store: no such upload")
	ErrSizeMismatch      = errors.New("store: body size does not match its declared length")
	ErrPreconditionStore = errors.New("store: precondition failed")
	// ErrInvalidKey: object keys must not contain a NUL byte.
	ErrInvalidKey = errors.New("store: object key contains a NUL byte")
)

// Versioning states of a bucket.
const (
	VersioningOff       = ""
	VersioningEnabled   = "Enabled"
	VersioningSuspended = "Suspended"
)

// NullVersion is the version id of objects written while versioning is off or
// suspended.
const NullVersion = "null"

// Owner identifies the account that owns a bucket or object.
type Owner struct {
	ID          string `json:"id"`
	DisplayName string `json:"name,omitempty"`
}

// Grant gives one permission to one grantee.
type Grant struct {
	// Type is CanonicalUser, Group or AmazonCustomerByEmail.
	Type        string `json:"type"`
	ID          string `json:"id,omitempty"`
	DisplayName string `json:"name,omitempty"`
	URI         string `json:"uri,omitempty"`
	Email       string `json:"email,omitempty"`
	// Permission is FULL_CONTROL, READ, WRITE, READ_ACP or WRITE_ACP.
	Permission string `json:"perm"`
}

// ACL is an access control list.
type ACL struct {
	Owner  Owner   `json:"owner"`
	Grants []Grant `json:"grants,omitempty"`
}

// CORSRule is one rule of a bucket's CORS configuration.
type CORSRule struct {
	ID             string   `json:"id,omitempty"`
	AllowedOrigins []string `json:"origins"`
	AllowedMethods []string `json:"methods"`
	AllowedHeaders []string `json:"headers,omitempty"`
	ExposeHeaders  []string `json:"expose,omitempty"`
	MaxAgeSeconds  int      `json:"maxAge,omitempty"`
}

// Bucket is a bucket's metadata.
type Bucket struct {
	Name       string     `json:"name"`
	Created    time.Time  `json:"created"`
	Region     string     `json:"region,omitempty"`
	Owner      Owner      `json:"owner"`
	ACL        ACL        `json:"acl"`
	Versioning string     `json:"versioning,omitempty"`
	CORS       []CORSRule `json:"cors,omitempty"`
	// PublicAccessBlock, when set, limits what public ACLs can do.
	PublicAccessBlock *PublicAccessBlock `json:"pab,omitempty"`
	// Tags are the bucket's tags (nil: no tag set).
	Tags map[string]string `json:"tags,omitempty"`
	// Lifecycle is the lifecycle configuration (XML, as put); "" for none.
	Lifecycle string `json:"lifecycle,omitempty"`
	// Policy is the bucket policy document (JSON, as put); "" for none.
	Policy string `json:"policy,omitempty"`
	// Ownership is the bucket's object ownership setting
	// (BucketOwnerEnforced, BucketOwnerPreferred, ObjectWriter; "" when
	// none was set).
	Ownership string `json:"ownership,omitempty"`
	// ObjectLock is the bucket's object lock configuration (nil: object
	// lock is not enabled; once enabled it stays).
	ObjectLock *ObjectLock `json:"lock,omitempty"`
}

// ObjectLock is a bucket's S3 Object Lock configuration: lock enabled, and
// the default retention given to new versions that do not name their own
// (Mode "" means no default; then exactly one of Days and Years is set).
type ObjectLock struct {
	Mode  string `json:"mode,omitempty"` // GOVERNANCE or COMPLIANCE
	Days  int    `json:"days,omitempty"`
	Years int    `json:"years,omitempty"`
}

// Object lock retention modes.
const (
	LockGovernance = "GOVERNANCE"
	LockCompliance = "COMPLIANCE"
)

// Retention is an object version's retention: until Until, the version
// cannot be deleted (COMPLIANCE: by no one; GOVERNANCE: only with the
// bypass permission).
type Retention struct {
	Mode  string    `json:"mode"`
	Until time.Time `json:"until"`
}

// Active reports whether the retention still protects its version at now.
func (r *Retention) Active(now time.Time) bool {
	return r != nil && r.Mode != "" && now.Before(r.Until)
}

// PublicAccessBlock is S3's "block public access" setting of a bucket.
// BlockPublicAcls refuses requests that set public grants; IgnorePublicAcls
// makes existing public grants ineffective. The policy flags are kept for
// clients but have no effect (there are no bucket policies).
type PublicAccessBlock struct {
	BlockPublicAcls       bool `json:"blockAcls,omitempty"`
	IgnorePublicAcls      bool `json:"ignoreAcls,omitempty"`
	BlockPublicPolicy     bool `json:"blockPolicy,omitempty"`
	RestrictPublicBuckets bool `json:"restrict,omitempty"`
}

// BlobRef names a stored blob: its id, its size, where its bytes are and
// how they are encrypted. The ID is chosen by the BlobStore and unique; it
// is what metadata counts references by, so two parts (of a copy and its
// source) that share one blob share its bytes. The other fields are the
// BlobStore's: the local store names a file by ID; the network store lists
// the extents of volumes that hold the blob; an encrypting store adds the
// wrapped key.
type BlobRef struct {
	ID string `json:"id"`
	// Size is the number of bytes a reader gets (plaintext).
	Size int64 `json:"size"`
	// Extents lists where the stored bytes are, in order (network store).
	Extents []Extent `json:"ext,omitempty"`
	// Stored is the number of stored bytes when it differs from Size
	// (ciphertext is longer than plaintext).
	Stored int64 `json:"stored,omitempty"`
	// Crypt is the blob's encryption; nil for plaintext.
	Crypt *BlobCrypt `json:"crypt,omitempty"`
	// Inline marks a small blob whose bytes the metadata database holds
	// (local store): they become durable in the same commit as the
	// metadata that first references the blob, one fsync'ed commit for a
	// small PUT. Data carries those bytes from the BlobWriter to that
	// commit; it is never stored in a record.
	Inline bool   `json:"inl,omitempty"`
	Data   []byte `json:"-"`
	// Fresh marks a blob that its BlobWriter committed without a pending
	// record (the network store with its records in the metadata
	// database): the metadata commit that first references it records it
	// (local.Meta.SetFreshBlobs), so a PUT costs one metadata commit. A
	// blob that no commit references is then known to no record: its
	// bytes are dead space that the store reclaims (network: compaction).
	// It is never stored: a reference read back from metadata is not
	// fresh.
	Fresh bool `json:"-"`
}

// Extent is a run of a blob's stored bytes in the data stream of a volume.
type Extent struct {
	Volume string `json:"vol"` // volume id, hex
	Offset int64  `json:"off"` // byte offset in the volume's stream
	Length int64  `json:"len"`
	// Block is the block size of the extent's last stripe when that
	// stripe is short (docs/volume-format.md, v2: a stripe flushed before
	// it was full); 0 when it is full size, as every other stripe of the
	// extent is.
	Block int `json:"blk,omitempty"`
}

// BlobCrypt is the per-blob encryption metadata: the blob's own random key,
// wrapped (encrypted) by a key derived from the operator's master secret.
// Dropping it makes the stored bytes unreadable (crypto-shredding).
type BlobCrypt struct {
	Alg string `json:"alg"`
	// Segment is the plaintext size of one AEAD segment.
	Segment int `json:"seg"`
	// Wrapped is the blob key sealed under the master key.
	Wrapped []byte `json:"key"`
}

// ErrNoSuchBlob reports a reference to a blob the metadata does not know:
// never committed, or already deleted.
var ErrNoSuchBlob = errors.New("store: no such blob")

// Part is one piece of an object's data: a whole single-PUT object, or one
// part of a multipart upload.
type Part struct {
	Number    int               `json:"n"`
	Size      int64             `json:"size"`
	ETag      string            `json:"etag"` // hex MD5, unquoted
	Checksums map[string]string `json:"sums,omitempty"`
	Modified  time.Time         `json:"mtime"`
	// Blob holds the part's bytes at [Offset, Offset+Size): a copy may
	// share a range of its source's blob instead of copying it.
	Blob   BlobRef `json:"blob"`
	Offset int64   `json:"boff,omitempty"`
}

// Object is one version of an object (or a delete marker).
type Object struct {
	Key          string    `json:"key"`
	VersionID    string    `json:"vid"`
	DeleteMarker bool      `json:"dm,omitempty"`
	Size         int64     `json:"size"`
	ETag         string    `json:"etag"` // unquoted; "hex" or "hex-N"
	Modified     time.Time `json:"mtime"`
	Owner        Owner     `json:"owner"`
	ACL          ACL       `json:"acl"`
	// Headers holds the stored standard headers by canonical name:
	// Content-Type, Cache-Control, Content-Disposition, Content-Encoding,
	// Content-Language, Expires.
	Headers map[string]string `json:"hdr,omitempty"`
	// Meta holds user metadata, keys lower-case without the x-amz-meta- prefix.
	Meta map[string]string `json:"meta,omitempty"`
	// Checksums maps an algorithm (CRC32, CRC32C, CRC64NVME, SHA1, SHA256)
	// to its base64 value; ChecksumType is FULL_OBJECT or COMPOSITE.
	Checksums    map[string]string `json:"sums,omitempty"`
	ChecksumType string            `json:"sumtype,omitempty"`
	// Multipart is true when the object came from a multipart upload; Parts
	// then lists its parts in order.
	Multipart bool `json:"mp,omitempty"`
	// Parts holds parts PartsFrom.. of the object's PartCount parts, those
	// a read loaded: GetObject and listings load them only when they are
	// stored with the version's record (one part); MetaStore.LoadParts
	// loads the ones a read needs. Writers set all of them (PartsFrom 0).
	Parts []Part `json:"parts,omitempty"`
	// PartCount is the number of parts (set by reads; stored when the
	// parts are stored apart from the record).
	PartCount int `json:"np,omitempty"`
	// PartsFrom is the index of Parts[0] among all parts, PartsAt the
	// offset of its first byte in the object (set by reads).
	PartsFrom int   `json:"-"`
	PartsAt   int64 `json:"-"`
	// Seq is the store's position of this version (set by reads): the
	// version LoadParts reads, and a check that a later read found the
	// same version.
	Seq uint64 `json:"-"`
	// Record is the stored record this version was read from, when the
	// MetaStore keeps one (set by GetObject): VersionChecker compares it.
	Record []byte `json:"-"`
	// UploadID is the multipart upload that created the object, so that a
	// repeated CompleteMultipartUpload succeeds as in S3.
	UploadID string `json:"upload,omitempty"`
	// Tags are the object's tags (S3 object tagging).
	Tags map[string]string `json:"tags,omitempty"`
	// Retention and LegalHold ("ON", "OFF"; "" when never set) are the
	// version's object lock settings.
	Retention *Retention `json:"ret,omitempty"`
	LegalHold string     `json:"hold,omitempty"`

	// IsLatest is set by reads, not stored.
	IsLatest bool `json:"-"`
}

// Locked reports whether the version may not be deleted at now: a legal
// hold is on, or a retention is in force (GOVERNANCE ones only when
// bypassGovernance is false).
func (o *Object) Locked(now time.Time, bypassGovernance bool) bool {
	if o.LegalHold == "ON" {
		return true
	}
	if !o.Retention.Active(now) {
		return false
	}
	return o.Retention.Mode == LockCompliance || !bypassGovernance
}

// Blobs returns the blobs that hold the object's data, one per part (a blob
// shared by two parts appears twice).
func (o *Object) Blobs() []BlobRef {
	refs := make([]BlobRef, 0, len(o.Parts))
	for _, p := range o.Parts {
		if p.Blob.ID != "" {
			refs = append(refs, p.Blob)
		}
	}
	return refs
}

// NumParts is the object's number of parts, loaded or not.
func (o *Object) NumParts() int {
	return max(o.PartCount, len(o.Parts))
}

// PartsQuery selects the parts of a version that MetaStore.LoadParts
// loads: the parts at indexes [From, To) when To > 0, else the parts that
// hold bytes [Offset, Offset+Length) of the object.
type PartsQuery struct {
	From, To       int
	Offset, Length int64
}

// Upload is an in-progress multipart upload.
type Upload struct {
	Bucket    string            `json:"bucket"`
	Key       string            `json:"key"`
	UploadID  string            `json:"id"`
	Initiated time.Time         `json:"init"`
	Owner     Owner             `json:"owner"`
	ACL       ACL               `json:"acl"`
	Headers   map[string]string `json:"hdr,omitempty"`
	Meta      map[string]string `json:"meta,omitempty"`
	// ChecksumAlgorithm and ChecksumType are what the client asked for at
	// creation (may be empty).
	ChecksumAlgorithm string `json:"sumalg,omitempty"`
	ChecksumType      string `json:"sumtype,omitempty"`
	// Tags are given to the object the upload completes.
	Tags map[string]string `json:"tags,omitempty"`
	// Retention and LegalHold are the object lock settings asked for at
	// creation, given to the object the upload completes.
	Retention *Retention `json:"ret,omitempty"`
	LegalHold string     `json:"hold,omitempty"`
}

// ListQuery selects objects, versions or uploads in key order.
type ListQuery struct {
	Prefix string
	// After: only keys strictly greater than After (object listings), or, for
	// versions and uploads, the key marker.
	After string
	// AfterID is the version-id or upload-id marker within the After key.
	AfterID string
	// Limit is the largest number of entries returned (> 0).
	Limit int
}

// ScanLimited is returned by ListObjects, together with the entries found
// so far, when it read as many records as one transaction may (delete
// markers, which it skips, can make a short page cost any number of
// reads). The caller continues with After = the error's After.
type ScanLimited struct {
	After string
}

func (e *ScanLimited) Error() string {
	return fmt.Sprintf("store: listing stopped after its read bound at %q", e.After)
}

// PutCheck is called inside the write transaction with the current latest
// version of the key (nil when there is none, or a delete marker) and may
// refuse the write by returning an error, which is returned unchanged.
type PutCheck func(current *Object) error

// VersionChecker is implemented by a MetaStore that can tell cheaply that
// a version read earlier by GetObject is still stored, unchanged.
type VersionChecker interface {
	// Unchanged reports whether obj, as GetObject returned it, is still
	// stored with the same record. false is not proof that it changed
	// (only that a full GetObject must tell).
	Unchanged(ctx context.Context, bucket string, obj *Object) (bool, error)
}

// DeleteResult describes what a delete did.
type DeleteResult struct {
	VersionID    string // version removed or delete marker created
	DeleteMarker bool   // a delete marker was created or removed
}

// MetaStore records buckets, object versions and multipart uploads. Every
// method is one atomic, durable transaction.
//
// It also counts the references of parts to blobs. A part that references
// a blob adds one; a blob seen for the first time must be pending (it
// leaves the delete queue), inline (its bytes are stored with the
// commit) or fresh (BlobRef.Fresh: the store that wrote it records it in
// the commit, and may refuse it, e.g. while compaction works on its
// volume), else the write fails with ErrNoSuchBlob; a part dropped
// removes one. A blob whose last
// reference a transaction drops is put on the delete queue in that same
// transaction and returned to the caller as "freed"; the Reaper deletes
// its bytes once the grace period has passed and no reader holds it. So a
// crash never loses a delete, and nothing ever walks all blobs.
type MetaStore interface {
	CreateBucket(ctx context.Context, b Bucket) error // ErrBucketExists
	GetBucket(ctx context.Context, name string) (Bucket, error)
	UpdateBucket(ctx context.Context, name string, fn func(*Bucket) error) error
	// DeleteBucket removes an empty bucket (ErrBucketNotEmpty otherwise),
	// aborting its multipart uploads and returning their blobs.
	DeleteBucket(ctx context.Context, name string) ([]BlobRef, error)
	ListBuckets(ctx context.Context) ([]Bucket, error)

	// PutObject stores obj as the newest version of obj.Key. The version id
	// follows the bucket's versioning state (a new id when Enabled, "null"
	// otherwise, replacing an earlier null version). It returns the stored
	// object and the blobs no longer referenced.
	PutObject(ctx context.Context, bucket string, obj Object, check PutCheck) (Object, []BlobRef, error)
	// GetObject returns a version; versionID "" means the latest, which may
	// be a delete marker (returned with ErrNoSuchKey). Its parts are loaded
	// only when the record holds them (see Object.Parts): reading a version
	// costs the same whatever its number of parts.
	GetObject(ctx context.Context, bucket, key, versionID string) (Object, error)
	// LoadParts sets obj.Parts (with PartsFrom and PartsAt) to the parts
	// of the version obj (from GetObject) that q selects. It returns
	// ErrNoSuchVersion when that version is gone.
	LoadParts(ctx context.Context, bucket string, obj *Object, q PartsQuery) error
	// UpdateObject changes a stored version in place (ACLs).
	UpdateObject(ctx context.Context, bucket, key, versionID string, fn func(*Object) error) error
	// DeleteObject deletes the latest version (versionID "") following the
	// bucket's versioning state, or removes one version permanently.
	DeleteObject(ctx context.Context, bucket, key, versionID string) (DeleteResult, []BlobRef, error)
	// ListObjects returns latest versions that are not delete markers, with
	// keys having q.Prefix and greater than q.After.
	ListObjects(ctx context.Context, bucket string, q ListQuery) ([]Object, error)
	// ListVersions returns versions and delete markers in key order, newest
	// first within a key, after the (q.After, q.AfterID) marker.
	ListVersions(ctx context.Context, bucket string, q ListQuery) ([]Object, error)

	CreateUpload(ctx context.Context, up Upload) error
	GetUpload(ctx context.Context, bucket, key, uploadID string) (Upload, error)
	// PutPart records a part, returning the blob of a replaced part.
	PutPart(ctx context.Context, bucket, key, uploadID string, p Part) ([]BlobRef, error)
	ListParts(ctx context.Context, bucket, key, uploadID string) ([]Part, error)
	// CompleteUpload builds the object from the upload's parts with build,
	// stores it like PutObject and removes the upload. Parts not used by the
	// object are returned as freed.
	CompleteUpload(ctx context.Context, bucket, key, uploadID string, build func(Upload, []Part) (Object, error), check PutCheck) (Object, []BlobRef, error)
	AbortUpload(ctx context.Context, bucket, key, uploadID string) ([]BlobRef, error)
	ListUploads(ctx context.Context, bucket string, q ListQuery) ([]Upload, error)

	// AddPending puts durable blobs that no metadata references yet on the
	// delete queue, due at due: a BlobWriter calls it before its bytes
	// become visible, and the commit that references a blob takes it off
	// the queue. A crash in between leaves only a queue entry, which the
	// Reaper deletes when due.
	AddPending(ctx context.Context, refs []BlobRef, due time.Time) error
	// ClaimDeletes moves queue entries due at or before before to the
	// deleting set and returns them: up to limit entries in due order, or,
	// with only set, just those ids. Entries for which keep returns true
	// (blobs being read) stay queued. Blobs of the deleting set that an
	// earlier claim left (a crash while deleting) are returned first when
	// only is nil.
	ClaimDeletes(ctx context.Context, before time.Time, only []string, limit int, keep func(id string) bool) ([]BlobRef, error)
	// FinishDeletes forgets claimed blobs whose bytes are gone.
	FinishDeletes(ctx context.Context, ids []string) error
	Close() error
}

// UsageReader is implemented by a MetaStore that keeps each bucket's
// stored bytes (every version and every part of its open uploads) up to
// date, for per-account limits.
type UsageReader interface {
	BucketUsage(ctx context.Context, bucket string) (int64, error)
}

// BlobStore holds the bytes.
type BlobStore interface {
	// Create starts a new blob. The caller writes its bytes and then
	// commits or aborts the writer.
	Create(ctx context.Context) (BlobWriter, error)
	// Open reads length bytes of a blob starting at offset.
	Open(ctx context.Context, ref BlobRef, offset, length int64) (io.ReadCloser, error)
	// Delete removes blobs; missing blobs are not an error.
	Delete(ctx context.Context, refs ...BlobRef) error
}

// SpanReader is implemented by a reader of BlobStore.Open that can lend
// its next bytes where they already are in memory instead of copying them
// into a buffer of the caller's (a reader that decrypts them, for one).
type SpanReader interface {
	io.Reader
	// Span returns the next bytes of the stream, at most n, and consumes
	// them; they stay valid and unchanged until the next call of Read,
	// Span or Close, and must not be written to. It returns fewer than n
	// bytes when the next n are not contiguous in memory (the caller
	// reads the rest), and no bytes only with an error (io.EOF at the
	// end).
	Span(n int) ([]byte, error)
}

// BlobWriter streams one new blob into a BlobStore.
type BlobWriter interface {
	io.Writer
	// Commit makes the written bytes durable and returns the blob. The
	// blob is pending (see MetaStore.AddPending) until a metadata commit
	// references it, unless it is fresh (BlobRef.Fresh). An inline blob (BlobRef.Inline, with Data) is not
	// stored yet: the metadata commit that first references it stores its
	// bytes; if none does, nothing remains.
	Commit(ctx context.Context) (BlobRef, error)
	// Abort discards the blob. It is a no-op after Commit or Abort.
	Abort()
}

// WriteBlob streams r into a new blob of blobs and commits it. size is the
// expected length, or -1 when unknown; a body of another length fails
// with ErrSizeMismatch. verify, if not nil, is called once all of r is
// written and before the commit; its error aborts the blob. On any error
// nothing is left behind.
func WriteBlob(ctx context.Context, blobs BlobStore, r io.Reader, size int64, verify func() error) (BlobRef, error) {
	w, err := blobs.Create(ctx)
	if err != nil {
		return BlobRef{}, err
	}
	// Abort is a no-op after Commit: deferred, it ends the writer on
	// every way out (an open writer holds the network store's group
	// commits back, --flush-wait).
	defer w.Abort()
	src := io.Reader(ctxReader{ctx, r})
	if size >= 0 {
		src = io.LimitReader(src, size+1)
	}
	// Writers do not keep what they are given (io.Writer): the buffer goes
	// back for the next body, so even a small body costs no new buffer.
	n, err := CopyBuffered(w, src)
	if err != nil {
		w.Abort()
		return BlobRef{}, fmt.Errorf("store: write blob: %w", err)
	}
	if size >= 0 && n != size {
		w.Abort()
		return BlobRef{}, ErrSizeMismatch
	}
	if verify != nil {
		if err := verify(); err != nil {
			w.Abort()
			return BlobRef{}, err
		}
	}
	ref, err := w.Commit(ctx)
	if err != nil {
		w.Abort()
		return BlobRef{}, err
	}
	return ref, nil
}

const copyBufSize = 256 << 10

// copyBufs recycles the copy buffers of CopyBuffered.
var copyBufs = sync.Pool{New: func() any {
	b := make([]byte, copyBufSize)
	return &b
}}

// CopyBuffered is io.CopyBuffer with a recycled 256 KiB buffer: a fresh
// one per body would be zeroed and collected for nothing.
func CopyBuffered(dst io.Writer, src io.Reader) (int64, error) {
	pb := copyBufs.Get().(*[]byte)
	defer copyBufs.Put(pb)
	return io.CopyBuffer(dst, src, *pb)
}

// ctxReader stops a copy when the context ends.
type ctxReader struct {
	ctx context.Context
	r   io.Reader
}

func (c ctxReader) Read(p []byte) (int, error) {
	if err := c.ctx.Err(); err != nil {
		return 0, err
	}
	return c.r.Read(p)
}

type verifyKey struct{}

// WithVerify returns a context that asks a BlobStore to check every block
// it reads against its writer's signature instead of trusting what its
// source served, and to bypass caches. A reader whose bytes failed
// authentication reopens the range with it: slower, and it tells which
// stored block is bad so that the read can go around it.
func WithVerify(ctx context.Context) context.Context {
	return context.WithValue(ctx, verifyKey{}, true)
}

// Verifying reports whether ctx came from WithVerify.
func Verifying(ctx context.Context) bool {
	v, _ := ctx.Value(verifyKey{}).(bool)
	return v
}
