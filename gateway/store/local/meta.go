package local

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync/atomic"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/datdot/datdot/gateway/store"
	"github.com/datdot/datdot/gateway/store/boltgroup"
)

// Meta is a store.MetaStore in a bbolt database. bbolt fsyncs every commit.
//
// Layout (top-level buckets, each with one sub-bucket per S3 bucket; the
// reference counts and the delete queue are described in refs.go):
//
//	buckets:  name -> JSON store.Bucket
//	objects/<bucket>: key 0x00 ^seq(8 bytes) -> JSON store.Object
//	          (versions of a key sorted newest first)
//	uploads/<bucket>: key 0x00 uploadID -> JSON store.Upload
//	parts/<uploadID>: part number (4 bytes) -> JSON store.Part
//	objparts/<bucket>, nulls/<bucket>: the parts of versions with more
//	          than one part and the null version of each key (parts.go)
//	volumes:  the network store's own records (its volumes' usage,
//	          gateway/store/network/usage.go), written through Update,
//	          Batch and its FreshBlobs; never read or shipped by Meta
//
// Object keys never contain 0x00: writes refuse them with
// store.ErrInvalidKey, since such a key's entries would sort among another
// key's versions and hide them.
type Meta struct {
	db    *bolt.DB
	group *boltgroup.Group
	// fresh records fresh blobs (SetFreshBlobs); nil refuses them.
	fresh atomic.Pointer[FreshBlobs]
	// ScanBound is the most records one ListObjects transaction reads
	// (0: DefaultScanBound); see store.ScanLimited.
	ScanBound int
}

// DefaultScanBound is the default of Meta.ScanBound.
const DefaultScanBound = 10000

var (
	bBuckets = []byte("buckets")
	bObjects = []byte("objects")
	bUploads = []byte("uploads")
	bParts   = []byte("parts")
)

// OpenMeta opens or creates the metadata database at path.
func OpenMeta(path string) (*Meta, error) {
	// The free page list is not written with every commit (fewer pages
	// per fsync'ed commit); bbolt rebuilds it at open.
	db, err := bolt.Open(path, 0o600, &bolt.Options{Timeout: 5 * time.Second, NoFreelistSync: true, FreelistType: bolt.FreelistMapType})
	if err != nil {
		return nil, fmt.Errorf("local: open %s: %w", path, err)
	}
	err = db.Update(func(tx *bolt.Tx) error {
		for _, name := range [][]byte{bBuckets, bObjects, bUploads, bParts, bObjParts, bInline} {
			if _, err := tx.CreateBucketIfNotExists(name); err != nil {
				return err
			}
		}
		migrate := tx.Bucket(bBlobRefs) == nil
		for _, name := range refBuckets {
			if _, err := tx.CreateBucketIfNotExists(name); err != nil {
				return err
			}
		}
		if migrate {
			if err := countRefs(tx); err != nil {
				return err
			}
		}
		if tx.Bucket(bUsage) == nil {
			if _, err := tx.CreateBucket(bUsage); err != nil {
				return err
			}
			if err := countUsage(tx); err != nil {
				return err
			}
		}
		if tx.Bucket(bNulls) == nil {
			return upgradeLayout(tx)
		}
		return nil
	})
	if err != nil {
		db.Close()
		return nil, fmt.Errorf("local: init %s: %w", path, err)
	}
	return &Meta{db: db, group: boltgroup.New(db)}, nil
}

// Close implements store.MetaStore.
func (m *Meta) Close() error { return m.db.Close() }

func (m *Meta) update(ctx context.Context, fn func(tx *bolt.Tx) error) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	return m.db.Update(fn)
}

// batch is update through a group commit (package boltgroup), which puts concurrent
// calls into one commit (one fsync) without delaying a lone one. fn may run
// more than once, so it must reset its outputs.
func (m *Meta) batch(ctx context.Context, fn func(tx *bolt.Tx) error) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	return m.group.Run(fn)
}

func (m *Meta) view(ctx context.Context, fn func(tx *bolt.Tx) error) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	return m.db.View(fn)
}

// Update, Batch and View run fn in a transaction of the metadata
// database, for a store that keeps records of its own beside the metadata
// under a top-level bucket that no Meta code uses (the network store's
// volume usage, "volumes"), which its FreshBlobs (SetFreshBlobs) then
// updates in metadata commits. Update is one commit of its own; Batch
// shares a group commit with concurrent writes (fn may run more than
// once, so it must reset its outputs); View is a read transaction.
func (m *Meta) Update(ctx context.Context, fn func(tx *bolt.Tx) error) error {
	return m.update(ctx, fn)
}

// Batch: see Update.
func (m *Meta) Batch(ctx context.Context, fn func(tx *bolt.Tx) error) error {
	return m.batch(ctx, fn)
}

// View: see Update.
func (m *Meta) View(ctx context.Context, fn func(tx *bolt.Tx) error) error {
	return m.view(ctx, fn)
}

func getBucket(tx *bolt.Tx, name string) (store.Bucket, error) {
	var b store.Bucket
	v := tx.Bucket(bBuckets).Get([]byte(name))
	if v == nil {
		return b, store.ErrNoSuchBucket
	}
	if err := json.Unmarshal(v, &b); err != nil {
		return b, fmt.Errorf("local: bucket %q: %w", name, err)
	}
	return b, nil
}

// decode unmarshals a stored record, naming it in the error.
func decode(data []byte, v any, what string, key []byte) error {
	if err := json.Unmarshal(data, v); err != nil {
		return fmt.Errorf("local: decode %s %q: %w", what, key, err)
	}
	return nil
}

func putJSON(bk *bolt.Bucket, key []byte, v any) error {
	data, err := json.Marshal(v)
	if err != nil {
		return fmt.Errorf("local: encode %q: %w", key, err)
	}
	return bk.Put(key, data)
}

// CreateBucket implements store.MetaStore.
func (m *Meta) CreateBucket(ctx context.Context, b store.Bucket) error {
	return m.update(ctx, func(tx *bolt.Tx) error {
		if tx.Bucket(bBuckets).Get([]byte(b.Name)) != nil {
			return store.ErrBucketExists
		}
		objs, err := tx.Bucket(bObjects).CreateBucketIfNotExists([]byte(b.Name))
		if err != nil {
			return err
		}
		// Hidden versions of an earlier bucket of this name keep their
		// entry keys (and parts): new versions must sort above them.
		if seq := historySeq(tx, b.Name); objs.Sequence() < seq {
			if err := objs.SetSequence(seq); err != nil {
				return err
			}
		}
		if _, err := tx.Bucket(bUploads).CreateBucketIfNotExists([]byte(b.Name)); err != nil {
			return err
		}
		return putJSON(tx.Bucket(bBuckets), []byte(b.Name), b)
	})
}

// GetBucket implements store.MetaStore.
func (m *Meta) GetBucket(ctx context.Context, name string) (b store.Bucket, err error) {
	err = m.view(ctx, func(tx *bolt.Tx) error {
		b, err = getBucket(tx, name)
		return err
	})
	return b, err
}

// UpdateBucket implements store.MetaStore.
func (m *Meta) UpdateBucket(ctx context.Context, name string, fn func(*store.Bucket) error) error {
	return m.update(ctx, func(tx *bolt.Tx) error {
		b, err := getBucket(tx, name)
		if err != nil {
			return err
		}
		if err := fn(&b); err != nil {
			return err
		}
		b.Name = name
		return putJSON(tx.Bucket(bBuckets), []byte(name), b)
	})
}

// DeleteBucket implements store.MetaStore.
func (m *Meta) DeleteBucket(ctx context.Context, name string) (freed []store.BlobRef, err error) {
	err = m.update(ctx, func(tx *bolt.Tx) error {
		freed = nil
		if _, err := getBucket(tx, name); err != nil {
			return err
		}
		if k, _ := tx.Bucket(bObjects).Bucket([]byte(name)).Cursor().First(); k != nil {
			return store.ErrBucketNotEmpty
		}
		ups := tx.Bucket(bUploads).Bucket([]byte(name))
		err := ups.ForEach(func(k, v []byte) error {
			var up store.Upload
			if err := decode(v, &up, "upload", k); err != nil {
				return err
			}
			f, err := dropParts(tx, name, up.UploadID)
			freed = append(freed, f...)
			return err
		})
		if err != nil {
			return err
		}
		if err := tx.Bucket(bUploads).DeleteBucket([]byte(name)); err != nil {
			return err
		}
		if err := tx.Bucket(bObjects).DeleteBucket([]byte(name)); err != nil {
			return err
		}
		if nb := tx.Bucket(bNulls); nb != nil && nb.Bucket([]byte(name)) != nil {
			if err := nb.DeleteBucket([]byte(name)); err != nil {
				return err
			}
		}
		// The parts of hidden versions stay with them.
		if !hasHistory(tx, name) && tx.Bucket(bObjParts).Bucket([]byte(name)) != nil {
			if err := tx.Bucket(bObjParts).DeleteBucket([]byte(name)); err != nil {
				return err
			}
		}
		if err := tx.Bucket(bUsage).Delete([]byte(name)); err != nil {
			return err
		}
		return tx.Bucket(bBuckets).Delete([]byte(name))
	})
	return freed, err
}

// ListBuckets implements store.MetaStore.
func (m *Meta) ListBuckets(ctx context.Context) (out []store.Bucket, err error) {
	err = m.view(ctx, func(tx *bolt.Tx) error {
		out = nil
		return tx.Bucket(bBuckets).ForEach(func(k, v []byte) error {
			var b store.Bucket
			if err := decode(v, &b, "bucket", k); err != nil {
				return err
			}
			out = append(out, b)
			return nil
		})
	})
	return out, err
}

// checkKey refuses keys that would break the layout of entry keys.
func checkKey(key string) error {
	if strings.IndexByte(key, 0) >= 0 {
		return fmt.Errorf("local: key %q: %w", key, store.ErrInvalidKey)
	}
	return nil
}

// entryKey is key 0x00 followed by the bit-inverted sequence number, so the
// newest version of a key sorts first.
func entryKey(key string, seq uint64) []byte {
	k := make([]byte, len(key)+9)
	copy(k, key)
	binary.BigEndian.PutUint64(k[len(key)+1:], ^seq)
	return k
}

func splitEntry(k []byte) string {
	if len(k) < 9 {
		return ""
	}
	return string(k[:len(k)-9])
}

func keyPrefix(key string) []byte { return append([]byte(key), 0) }

type entry struct {
	k   []byte
	obj store.Object
	i   int // 0 for the latest version, 1 for the one before, ...
}

// selector picks versions during a scan: keep adds the i-th newest version
// to the result, stop ends the scan after it.
type selector func(i int, o *store.Object) (keep, stop bool)

func latestOnly(int, *store.Object) (bool, bool) { return true, true }

// versionIs selects one version, or the latest when id is "".
func versionIs(id string) selector {
	if id == "" {
		return latestOnly
	}
	return func(_ int, o *store.Object) (bool, bool) {
		match := o.VersionID == id
		return match, match
	}
}

// versions returns the entries of one key that sel picks, newest first.
// Records are decoded one at a time and the scan stops as soon as sel
// says so: reading the latest version of a key with many versions costs
// one record, not all of them.
func versions(objs *bolt.Bucket, bucket, key string, sel selector) ([]entry, error) {
	return versionsOf(objs, bucket, key, "", sel)
}

// versionsOf is versions with the version id sel looks for, if any: a
// positional id (position.go) and "null" (the null index, parts.go) are
// read directly.
func versionsOf(objs *bolt.Bucket, bucket, key, id string, sel selector) ([]entry, error) {
	if id == store.NullVersion {
		e, ok, err := nullEntry(objs.Tx(), objs, bucket, key)
		if err != nil || !ok {
			return nil, err
		}
		return []entry{e}, nil
	}
	if id != "" {
		e, found, ok, err := versionAt(objs, key, id)
		if err != nil {
			return nil, err
		}
		if ok {
			if !found {
				return nil, nil
			}
			return []entry{e}, nil
		}
	}
	var out []entry
	pfx := keyPrefix(key)
	c := objs.Cursor()
	i := 0
	for k, v := c.Seek(pfx); k != nil && bytes.HasPrefix(k, pfx) && len(k) == len(pfx)+8; k, v = c.Next() {
		o, err := decodeObject(v, k)
		if err != nil {
			return nil, err
		}
		keep, stop := sel(i, &o)
		if keep {
			out = append(out, entry{k: append([]byte(nil), k...), obj: o, i: i})
		}
		if stop {
			break
		}
		i++
	}
	return out, nil
}

func newVersionID() string {
	var buf [8]byte
	rand.Read(buf[:])
	return fmt.Sprintf("%016x%s", uint64(time.Now().UnixNano()), hex.EncodeToString(buf[:]))
}

// objectsIn is objectsOf for a caller that needs only the objects: the
// bucket's record is looked up, not decoded (a GET would otherwise decode
// it once more after the S3 layer's own GetBucket).
func objectsIn(tx *bolt.Tx, bucket string) (*bolt.Bucket, error) {
	if tx.Bucket(bBuckets).Get([]byte(bucket)) == nil {
		return nil, store.ErrNoSuchBucket
	}
	return tx.Bucket(bObjects).Bucket([]byte(bucket)), nil
}

func objectsOf(tx *bolt.Tx, bucket string) (*bolt.Bucket, store.Bucket, error) {
	b, err := getBucket(tx, bucket)
	if err != nil {
		return nil, b, err
	}
	return tx.Bucket(bObjects).Bucket([]byte(bucket)), b, nil
}

// latestAndNull returns the latest version of key (nil when none) and,
// when it is another version, its null version (nil when none): two
// reads, however many versions the key has.
func latestAndNull(tx *bolt.Tx, objs *bolt.Bucket, bucket, key string) (latest, null *entry, err error) {
	vers, err := versions(objs, bucket, key, latestOnly)
	if err != nil {
		return nil, nil, err
	}
	if len(vers) > 0 {
		latest = &vers[0]
		if latest.obj.VersionID == store.NullVersion {
			return latest, latest, nil
		}
	}
	e, ok, err := nullEntry(tx, objs, bucket, key)
	if err != nil {
		return nil, nil, err
	}
	if ok {
		null = &e
	}
	return latest, null, nil
}

// putVersion stores obj as the newest version, following the versioning
// state, counts the references of its parts and returns freed blobs. It
// reads the key's latest version and, unless versioning is enabled, its
// null version (which the new one replaces); never the others.
func putVersion(tx *bolt.Tx, objs *bolt.Bucket, b store.Bucket, obj *store.Object, check store.PutCheck, fresh FreshBlobs) ([]store.BlobRef, error) {
	var latest, null *entry
	var err error
	if b.Versioning == store.VersioningEnabled {
		var vers []entry
		if vers, err = versions(objs, b.Name, obj.Key, latestOnly); err == nil && len(vers) > 0 {
			latest = &vers[0]
		}
	} else {
		latest, null, err = latestAndNull(tx, objs, b.Name, obj.Key)
	}
	if err != nil {
		return nil, err
	}
	if check != nil {
		var cur *store.Object
		if latest != nil && !latest.obj.DeleteMarker {
			cur = &latest.obj
		}
		if err := check(cur); err != nil {
			return nil, err
		}
	}
	if err := addRefs(tx, obj.Parts, fresh); err != nil {
		return nil, err
	}
	var freed []store.BlobRef
	var droppedSize int64
	seq, err := objs.NextSequence()
	if err != nil {
		return nil, err
	}
	if b.Versioning == store.VersioningEnabled {
		obj.VersionID = seqVersionID(seq)
	} else {
		obj.VersionID = store.NullVersion
		if null != nil {
			if freed, err = dropVersion(tx, objs, b.Name, *null); err != nil {
				return nil, err
			}
			droppedSize += null.obj.Size
		}
	}
	if err := addUsage(tx, b.Name, obj.Size-droppedSize); err != nil {
		return nil, err
	}
	if err := putRecord(tx, objs, b.Name, entryKey(obj.Key, seq), obj); err != nil {
		return nil, err
	}
	obj.PartCount = len(obj.Parts)
	obj.PartsFrom, obj.PartsAt, obj.Seq = 0, 0, seq
	obj.IsLatest = true
	return freed, nil
}

// PutObject implements store.MetaStore.
func (m *Meta) PutObject(ctx context.Context, bucket string, obj store.Object, check store.PutCheck) (out store.Object, freed []store.BlobRef, err error) {
	return m.PutObjectMarked(ctx, bucket, obj, check, nil)
}

// PutObjectMarked is PutObject that also writes marks to the journal, in
// the same transaction as the new version: one commit where Mark and
// then PutObject would take two.
func (m *Meta) PutObjectMarked(ctx context.Context, bucket string, obj store.Object, check store.PutCheck, marks []Mark) (out store.Object, freed []store.BlobRef, err error) {
	fresh := m.freshBlobs()
	if err := checkKey(obj.Key); err != nil {
		return out, nil, err
	}
	err = m.batch(ctx, func(tx *bolt.Tx) error {
		for _, mk := range marks {
			if err := markTx(tx, mk.Kind, mk.Bucket, mk.Key); err != nil {
				return err
			}
		}
		objs, b, err := objectsOf(tx, bucket)
		if err != nil {
			return err
		}
		o := obj
		freed, err = putVersion(tx, objs, b, &o, check, fresh)
		out = o
		return err
	})
	return out, freed, err
}

// GetObject implements store.MetaStore.
func (m *Meta) GetObject(ctx context.Context, bucket, key, versionID string) (out store.Object, err error) {
	err = m.view(ctx, func(tx *bolt.Tx) error {
		objs, err := objectsIn(tx, bucket)
		if err != nil {
			return err
		}
		vers, err := versionsOf(objs, bucket, key, versionID, versionIs(versionID))
		if err != nil {
			return err
		}
		if versionID == "" {
			if len(vers) == 0 {
				return store.ErrNoSuchKey
			}
			out = vers[0].obj
			out.IsLatest = true
			out.Record = bytes.Clone(objs.Get(vers[0].k))
			if out.DeleteMarker {
				return store.ErrNoSuchKey
			}
			return nil
		}
		if len(vers) == 0 {
			return store.ErrNoSuchVersion
		}
		out = vers[0].obj
		out.IsLatest = vers[0].i == 0
		out.Record = bytes.Clone(objs.Get(vers[0].k))
		return nil
	})
	return out, err
}

// Unchanged implements store.VersionChecker: obj's record (as GetObject
// read it) is still stored under its key and position, byte for byte. A
// version's record never comes back once dropped (positions are not
// reused within a bucket, and a re-created bucket's records hold new blob
// ids and times), so an equal record is the same version, unchanged.
func (m *Meta) Unchanged(ctx context.Context, bucket string, obj *store.Object) (bool, error) {
	if obj.Record == nil {
		return false, nil
	}
	same := false
	err := m.view(ctx, func(tx *bolt.Tx) error {
		if objs := tx.Bucket(bObjects).Bucket([]byte(bucket)); objs != nil {
			same = bytes.Equal(objs.Get(entryKey(obj.Key, obj.Seq)), obj.Record)
		}
		return nil
	})
	return same, err
}

// UpdateObject implements store.MetaStore.
func (m *Meta) UpdateObject(ctx context.Context, bucket, key, versionID string, fn func(*store.Object) error) error {
	return m.update(ctx, func(tx *bolt.Tx) error {
		objs, _, err := objectsOf(tx, bucket)
		if err != nil {
			return err
		}
		vers, err := versionsOf(objs, bucket, key, versionID, versionIs(versionID))
		if err != nil {
			return err
		}
		if len(vers) == 0 || vers[0].obj.DeleteMarker {
			if versionID == "" {
				return store.ErrNoSuchKey
			}
			return store.ErrNoSuchVersion
		}
		o := vers[0].obj
		if err := fn(&o); err != nil {
			return err
		}
		// Only the record changes: the parts (and the part count) stay.
		o.Parts, o.PartCount, o.VersionID = vers[0].obj.Parts, vers[0].obj.PartCount, vers[0].obj.VersionID
		return putRecord(tx, objs, bucket, vers[0].k, &o)
	})
}

// DeleteObject implements store.MetaStore.
func (m *Meta) DeleteObject(ctx context.Context, bucket, key, versionID string) (res store.DeleteResult, freed []store.BlobRef, err error) {
	if err := checkKey(key); err != nil {
		return res, nil, err
	}
	// A missing version is reported after the transaction, not by failing
	// it: a failed function makes bbolt's Batch roll back and rerun the
	// whole group.
	missing := false
	err = m.batch(ctx, func(tx *bolt.Tx) error {
		res, freed, missing = store.DeleteResult{}, nil, false
		objs, b, err := objectsOf(tx, bucket)
		if err != nil {
			return err
		}
		if versionID != "" {
			vers, err := versionsOf(objs, bucket, key, versionID, versionIs(versionID))
			if err != nil {
				return err
			}
			if len(vers) == 0 || vers[0].obj.VersionID != versionID {
				missing = true
				return nil
			}
			e := vers[0]
			res = store.DeleteResult{VersionID: versionID, DeleteMarker: e.obj.DeleteMarker}
			if freed, err = dropVersion(tx, objs, b.Name, e); err != nil {
				return err
			}
			return addUsage(tx, bucket, -e.obj.Size)
		}
		if b.Versioning == store.VersioningOff {
			e, ok, err := nullEntry(tx, objs, bucket, key)
			if err != nil || !ok {
				return err
			}
			if freed, err = dropVersion(tx, objs, b.Name, e); err != nil {
				return err
			}
			return addUsage(tx, bucket, -e.obj.Size)
		}
		marker := store.Object{Key: key, DeleteMarker: true, Modified: time.Now().UTC()}
		vers, err := versions(objs, bucket, key, latestOnly) // for the delete marker's owner
		if err != nil {
			return err
		}
		if len(vers) > 0 {
			marker.Owner = vers[0].obj.Owner
		}
		freed, err = putVersion(tx, objs, b, &marker, nil, nil)
		res = store.DeleteResult{VersionID: marker.VersionID, DeleteMarker: true}
		return err
	})
	if err == nil && missing {
		return res, nil, store.ErrNoSuchVersion
	}
	return res, freed, err
}

func seekStart(prefix, after string) []byte {
	start := prefix
	if after != "" && after+"\x01" > start {
		start = after + "\x01"
	}
	return []byte(start)
}

// ListObjects implements store.MetaStore.
func (m *Meta) ListObjects(ctx context.Context, bucket string, q store.ListQuery) (out []store.Object, err error) {
	err = m.view(ctx, func(tx *bolt.Tx) error {
		out = nil
		objs, err := objectsIn(tx, bucket)
		if err != nil {
			return err
		}
		prevKey := ""
		bound := m.ScanBound
		if bound <= 0 {
			bound = DefaultScanBound
		}
		scanned := 0
		c := objs.Cursor()
		for k, v := c.Seek(seekStart(q.Prefix, q.After)); k != nil && len(out) < q.Limit; {
			key := splitEntry(k)
			if !strings.HasPrefix(key, q.Prefix) {
				break
			}
			if scanned == bound {
				return &store.ScanLimited{After: prevKey}
			}
			scanned++
			prevKey = key
			o, err := decodeObject(v, k)
			if err != nil {
				return err
			}
			if !o.DeleteMarker {
				o.IsLatest = true
				out = append(out, o)
			}
			k, v = c.Seek([]byte(key + "\x01"))
		}
		return nil
	})
	return out, err
}

// ListVersions implements store.MetaStore.
func (m *Meta) ListVersions(ctx context.Context, bucket string, q store.ListQuery) (out []store.Object, err error) {
	err = m.view(ctx, func(tx *bolt.Tx) error {
		out = nil
		objs, err := objectsIn(tx, bucket)
		if err != nil {
			return err
		}
		c := objs.Cursor()
		var k, v []byte
		prev := ""
		first := true
		if q.After != "" && q.AfterID != "" && strings.HasPrefix(q.After, q.Prefix) {
			// Resume from the marker's position (position.go), not by
			// finding its id: that version may be gone by now.
			k, v = resumeVersions(c, subBucket(tx, bNulls, bucket), q.After, q.AfterID)
		} else {
			k, v = c.Seek(seekStart(q.Prefix, q.After))
		}
		for ; k != nil && len(out) < q.Limit; k, v = c.Next() {
			key := splitEntry(k)
			if !strings.HasPrefix(key, q.Prefix) {
				break
			}
			latest := key != prev
			if first {
				latest = isFirstVersion(objs, key, k)
			}
			first, prev = false, key
			o, err := decodeObject(v, k)
			if err != nil {
				return err
			}
			o.IsLatest = latest
			out = append(out, o)
		}
		return nil
	})
	return out, err
}

func uploadKey(key, id string) []byte { return []byte(key + "\x00" + id) }

// CreateUpload implements store.MetaStore.
func (m *Meta) CreateUpload(ctx context.Context, up store.Upload) error {
	if err := checkKey(up.Key); err != nil {
		return err
	}
	return m.update(ctx, func(tx *bolt.Tx) error {
		if _, err := getBucket(tx, up.Bucket); err != nil {
			return err
		}
		if _, err := tx.Bucket(bParts).CreateBucket([]byte(up.UploadID)); err != nil {
			return fmt.Errorf("local: upload %s: %w", up.UploadID, err)
		}
		return putJSON(tx.Bucket(bUploads).Bucket([]byte(up.Bucket)), uploadKey(up.Key, up.UploadID), up)
	})
}

func getUpload(tx *bolt.Tx, bucket, key, id string) (store.Upload, error) {
	var up store.Upload
	if _, err := getBucket(tx, bucket); err != nil {
		return up, err
	}
	v := tx.Bucket(bUploads).Bucket([]byte(bucket)).Get(uploadKey(key, id))
	if v == nil {
		return up, store.ErrNoSuchUpload
	}
	return up, decode(v, &up, "upload", uploadKey(key, id))
}

// GetUpload implements store.MetaStore.
func (m *Meta) GetUpload(ctx context.Context, bucket, key, uploadID string) (up store.Upload, err error) {
	err = m.view(ctx, func(tx *bolt.Tx) error {
		up, err = getUpload(tx, bucket, key, uploadID)
		return err
	})
	return up, err
}

func partKey(n int) []byte {
	var k [4]byte
	binary.BigEndian.PutUint32(k[:], uint32(n))
	return k[:]
}

// PutPart implements store.MetaStore.
func (m *Meta) PutPart(ctx context.Context, bucket, key, uploadID string, p store.Part) (freed []store.BlobRef, err error) {
	fresh := m.freshBlobs()
	err = m.update(ctx, func(tx *bolt.Tx) error {
		freed = nil
		if _, err := getUpload(tx, bucket, key, uploadID); err != nil {
			return err
		}
		parts := tx.Bucket(bParts).Bucket([]byte(uploadID))
		if err := addRefs(tx, []store.Part{p}, fresh); err != nil {
			return err
		}
		delta := p.Size
		if old := parts.Get(partKey(p.Number)); old != nil {
			var op store.Part
			if err := decode(old, &op, "part of upload "+uploadID, partKey(p.Number)); err != nil {
				return err
			}
			if freed, err = dropRefs(tx, []store.Part{op}); err != nil {
				return err
			}
			delta -= op.Size
		}
		if err := addUsage(tx, bucket, delta); err != nil {
			return err
		}
		return putJSON(parts, partKey(p.Number), p)
	})
	return freed, err
}

func readParts(tx *bolt.Tx, uploadID string) ([]store.Part, error) {
	var out []store.Part
	bk := tx.Bucket(bParts).Bucket([]byte(uploadID))
	if bk == nil {
		return nil, store.ErrNoSuchUpload
	}
	err := bk.ForEach(func(k, v []byte) error {
		var p store.Part
		if err := decode(v, &p, "part of upload "+uploadID, k); err != nil {
			return err
		}
		out = append(out, p)
		return nil
	})
	return out, err
}

// ListParts implements store.MetaStore.
func (m *Meta) ListParts(ctx context.Context, bucket, key, uploadID string) (out []store.Part, err error) {
	err = m.view(ctx, func(tx *bolt.Tx) error {
		if _, err := getUpload(tx, bucket, key, uploadID); err != nil {
			return err
		}
		out, err = readParts(tx, uploadID)
		return err
	})
	return out, err
}

// dropParts removes an upload's parts, returning the blobs freed.
func dropParts(tx *bolt.Tx, bucket, uploadID string) ([]store.BlobRef, error) {
	parts, err := readParts(tx, uploadID)
	if err != nil {
		if errors.Is(err, store.ErrNoSuchUpload) {
			return nil, nil
		}
		return nil, err
	}
	freed, err := dropRefs(tx, parts)
	if err != nil {
		return nil, err
	}
	if err := addUsage(tx, bucket, -partsSize(parts)); err != nil {
		return nil, err
	}
	return freed, tx.Bucket(bParts).DeleteBucket([]byte(uploadID))
}

// CompleteUpload implements store.MetaStore.
func (m *Meta) CompleteUpload(ctx context.Context, bucket, key, uploadID string, build func(store.Upload, []store.Part) (store.Object, error), check store.PutCheck) (out store.Object, freed []store.BlobRef, err error) {
	fresh := m.freshBlobs()
	err = m.update(ctx, func(tx *bolt.Tx) error {
		freed = nil
		up, err := getUpload(tx, bucket, key, uploadID)
		if err != nil {
			return err
		}
		parts, err := readParts(tx, uploadID)
		if err != nil {
			return err
		}
		obj, err := build(up, parts)
		if err != nil {
			return err
		}
		objs, b, err := objectsOf(tx, bucket)
		if err != nil {
			return err
		}
		freed, err = putVersion(tx, objs, b, &obj, check, fresh)
		if err != nil {
			return err
		}
		// The object's parts counted their references; the upload's go.
		f, err := dropRefs(tx, parts)
		if err != nil {
			return err
		}
		if err := addUsage(tx, bucket, -partsSize(parts)); err != nil {
			return err
		}
		freed = append(freed, f...)
		if err := tx.Bucket(bParts).DeleteBucket([]byte(uploadID)); err != nil {
			return err
		}
		out = obj
		return tx.Bucket(bUploads).Bucket([]byte(bucket)).Delete(uploadKey(key, uploadID))
	})
	return out, freed, err
}

// AbortUpload implements store.MetaStore.
func (m *Meta) AbortUpload(ctx context.Context, bucket, key, uploadID string) (freed []store.BlobRef, err error) {
	err = m.update(ctx, func(tx *bolt.Tx) error {
		if _, err := getUpload(tx, bucket, key, uploadID); err != nil {
			return err
		}
		freed, err = dropParts(tx, bucket, uploadID)
		if err != nil {
			return err
		}
		return tx.Bucket(bUploads).Bucket([]byte(bucket)).Delete(uploadKey(key, uploadID))
	})
	return freed, err
}

// ListUploads implements store.MetaStore.
func (m *Meta) ListUploads(ctx context.Context, bucket string, q store.ListQuery) (out []store.Upload, err error) {
	err = m.view(ctx, func(tx *bolt.Tx) error {
		out = nil
		if _, err := getBucket(tx, bucket); err != nil {
			return err
		}
		c := tx.Bucket(bUploads).Bucket([]byte(bucket)).Cursor()
		var start []byte
		switch {
		case q.After != "" && q.AfterID != "":
			start = append(uploadKey(q.After, q.AfterID), 0)
		default:
			start = seekStart(q.Prefix, q.After)
		}
		if string(start) < q.Prefix {
			start = []byte(q.Prefix)
		}
		for k, v := c.Seek(start); k != nil && len(out) < q.Limit; k, v = c.Next() {
			var up store.Upload
			if err := decode(v, &up, "upload", k); err != nil {
				return err
			}
			if i := bytes.IndexByte(k, 0); i >= 0 {
				up.Key = string(k[:i]) // the record's JSON cannot carry invalid UTF-8
			}
			if !strings.HasPrefix(up.Key, q.Prefix) {
				break
			}
			out = append(out, up)
		}
		return nil
	})
	return out, err
}
