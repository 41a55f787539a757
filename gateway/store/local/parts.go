package local

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"sort"

	bolt "go.etcd.io/bbolt"

	"github.com/datdot/datdot/gateway/store"
)

// Parts and null versions are indexed apart from the version records:
//
//	objparts/<bucket>: entry key of the version ‖ index (4 bytes) ->
//	                   at (8 bytes, the part's offset in the object) ‖ JSON store.Part
//	nulls/<bucket>:    object key -> entry key of its "null" version
//
// A version with more than inlineParts parts keeps only PartCount in its
// record, so reading the record (HEAD, a listing entry, a GET's lookup)
// costs the same for 1 and 10,000 parts; a GET loads the parts its range
// spans (a binary search on at), a partNumber one part (LoadParts). A
// hidden version (history.go) keeps its parts under the same entry key.
// The null index lets a write in an unversioned or suspended bucket find
// the version it replaces, and a read of versionId=null its version, in
// one read instead of a walk over every version of the key.
//
// Databases written before this layout (parts inside the record, no null
// index) are converted once at open by upgradeLayout; records with their
// parts inline stay readable (metadata log frames written before carry
// them).
var (
	bObjParts = []byte("objparts")
	bNulls    = []byte("nulls")
)

// inlineParts is the most parts a record holds itself.
const inlineParts = 1

func partKeyOf(ek []byte, i int) []byte {
	k := make([]byte, len(ek)+4)
	copy(k, ek)
	binary.BigEndian.PutUint32(k[len(ek):], uint32(i))
	return k
}

// isSplit reports whether o's parts are stored apart from its record.
func isSplit(o *store.Object) bool {
	return len(o.Parts) == 0 && o.PartCount > inlineParts
}

// finishRead sets the fields a read fills in on a decoded record.
func finishRead(o *store.Object, key string, ek []byte) {
	o.Key = key // JSON cannot carry invalid UTF-8; the entry key can
	if len(o.Parts) > 0 {
		o.PartCount = len(o.Parts)
	}
	o.PartsFrom, o.PartsAt = 0, 0
	if len(ek) >= 9 {
		o.Seq = entrySeq(ek)
	}
}

// decodeObject decodes the version record v stored under entry key ek.
func decodeObject(v, ek []byte) (store.Object, error) {
	var o store.Object
	if err := json.Unmarshal(v, &o); err != nil {
		return o, fmt.Errorf("local: object %q: %w", splitEntry(ek), err)
	}
	finishRead(&o, splitEntry(ek), ek)
	return o, nil
}

// putRecord stores o's record under ek in objs, and its parts in objparts
// when there are more than inlineParts. A record whose parts are already
// stored apart (one read and updated) is stored without them.
func putRecord(tx *bolt.Tx, objs *bolt.Bucket, bucket string, ek []byte, o *store.Object) error {
	rec := *o
	switch {
	case len(rec.Parts) > inlineParts:
		if err := writeParts(tx, bucket, ek, rec.Parts); err != nil {
			return err
		}
		rec.PartCount, rec.Parts = len(rec.Parts), nil
	case rec.PartCount > inlineParts:
		rec.Parts = nil
	default:
		rec.PartCount = 0
	}
	if err := putJSON(objs, ek, rec); err != nil {
		return err
	}
	if rec.VersionID == store.NullVersion {
		nulls, err := nullsOf(tx, bucket)
		if err != nil {
			return err
		}
		return nulls.Put([]byte(splitEntry(ek)), ek)
	}
	return nil
}

func nullsOf(tx *bolt.Tx, bucket string) (*bolt.Bucket, error) {
	top, err := tx.CreateBucketIfNotExists(bNulls)
	if err != nil {
		return nil, err
	}
	return top.CreateBucketIfNotExists([]byte(bucket))
}

// unindexNull forgets ek as its key's null version.
func unindexNull(tx *bolt.Tx, bucket string, ek []byte) error {
	nulls := subBucket(tx, bNulls, bucket)
	if nulls == nil {
		return nil
	}
	key := []byte(splitEntry(ek))
	if bytes.Equal(nulls.Get(key), ek) {
		return nulls.Delete(key)
	}
	return nil
}

// nullEntry reads the null version of key, if any.
func nullEntry(tx *bolt.Tx, objs *bolt.Bucket, bucket, key string) (e entry, ok bool, err error) {
	nulls := subBucket(tx, bNulls, bucket)
	if nulls == nil {
		return e, false, nil
	}
	ek := nulls.Get([]byte(key))
	if ek == nil {
		return e, false, nil
	}
	v := objs.Get(ek)
	if v == nil {
		return e, false, nil
	}
	if e.obj, err = decodeObject(v, ek); err != nil {
		return e, false, err
	}
	if e.obj.VersionID != store.NullVersion {
		return e, false, nil
	}
	e.k = bytes.Clone(ek)
	if !isFirstVersion(objs, key, ek) {
		e.i = 1
	}
	return e, true, nil
}

func writeParts(tx *bolt.Tx, bucket string, ek []byte, parts []store.Part) error {
	top, err := tx.CreateBucketIfNotExists(bObjParts)
	if err != nil {
		return err
	}
	bk, err := top.CreateBucketIfNotExists([]byte(bucket))
	if err != nil {
		return err
	}
	at := int64(0)
	for i, p := range parts {
		data, err := json.Marshal(p)
		if err != nil {
			return fmt.Errorf("local: encode part %d of %q: %w", i, ek, err)
		}
		v := binary.BigEndian.AppendUint64(make([]byte, 0, 8+len(data)), uint64(at))
		if err := bk.Put(partKeyOf(ek, i), append(v, data...)); err != nil {
			return err
		}
		at += p.Size
	}
	return nil
}

func decodePart(v, k []byte) (int64, store.Part, error) {
	var p store.Part
	if len(v) < 8 {
		return 0, p, fmt.Errorf("local: part record %q too short", k)
	}
	if err := json.Unmarshal(v[8:], &p); err != nil {
		return 0, p, fmt.Errorf("local: part record %q: %w", k, err)
	}
	return int64(binary.BigEndian.Uint64(v[:8])), p, nil
}

// DecodePartRecord decodes an entry of Change.Parts.
func DecodePartRecord(kv KV) (store.Part, error) {
	_, p, err := decodePart(kv.V, kv.K)
	return p, err
}

// entryParts returns all parts of version o stored under ek.
func entryParts(tx *bolt.Tx, bucket string, ek []byte, o *store.Object) ([]store.Part, error) {
	if !isSplit(o) {
		return o.Parts, nil
	}
	bk := subBucket(tx, bObjParts, bucket)
	if bk == nil {
		return nil, fmt.Errorf("local: parts of %q are missing", ek)
	}
	out := make([]store.Part, 0, o.PartCount)
	c := bk.Cursor()
	for k, v := c.Seek(ek); k != nil && len(k) == len(ek)+4 && bytes.HasPrefix(k, ek); k, v = c.Next() {
		_, p, err := decodePart(v, k)
		if err != nil {
			return nil, err
		}
		out = append(out, p)
	}
	if len(out) != o.PartCount {
		return nil, fmt.Errorf("local: %d of the %d parts of %q are stored", len(out), o.PartCount, ek)
	}
	return out, nil
}

// deleteParts deletes the part records of the version o stored under ek.
func deleteParts(tx *bolt.Tx, bucket string, ek []byte, o *store.Object) error {
	if !isSplit(o) {
		return nil
	}
	bk := subBucket(tx, bObjParts, bucket)
	if bk == nil {
		return nil
	}
	for i := range o.PartCount {
		if err := bk.Delete(partKeyOf(ek, i)); err != nil {
			return err
		}
	}
	return nil
}

// dropVersion removes version e (its entry deleted by the caller or not:
// see del) from the bucket: into the hidden history when one is kept, else
// with its parts, whose blob references it drops. It returns freed blobs.
func dropVersion(tx *bolt.Tx, objs *bolt.Bucket, bucket string, e entry) ([]store.BlobRef, error) {
	kept, err := retire(tx, bucket, e)
	if err != nil {
		return nil, err
	}
	var freed []store.BlobRef
	if !kept {
		parts, err := entryParts(tx, bucket, e.k, &e.obj)
		if err != nil {
			return nil, err
		}
		if freed, err = dropRefs(tx, parts); err != nil {
			return nil, err
		}
		if err := deleteParts(tx, bucket, e.k, &e.obj); err != nil {
			return nil, err
		}
	}
	if err := unindexNull(tx, bucket, e.k); err != nil {
		return nil, err
	}
	return freed, objs.Delete(e.k)
}

// LoadParts implements store.MetaStore.
func (m *Meta) LoadParts(ctx context.Context, bucket string, obj *store.Object, q store.PartsQuery) error {
	n := obj.NumParts()
	if obj.PartsFrom == 0 && len(obj.Parts) == n {
		// All there (the record held them): select in memory.
		from, to := q.From, q.To
		at := int64(0)
		if to <= 0 {
			from, to = n, n
			pos := int64(0)
			for i, p := range obj.Parts {
				if pos+p.Size > q.Offset && pos < q.Offset+q.Length {
					if i < from {
						from, at = i, pos
					}
					to = i + 1
				}
				pos += p.Size
			}
		} else {
			for _, p := range obj.Parts[:min(from, n)] {
				at += p.Size
			}
		}
		from, to = min(from, n), min(to, n)
		obj.Parts, obj.PartsFrom, obj.PartsAt = obj.Parts[from:to:to], from, at
		return nil
	}
	return m.view(ctx, func(tx *bolt.Tx) error {
		bk := subBucket(tx, bObjParts, bucket)
		if bk == nil {
			return store.ErrNoSuchVersion
		}
		ek := entryKey(obj.Key, obj.Seq)
		atOf := func(i int) (int64, bool) {
			v := bk.Get(partKeyOf(ek, i))
			if len(v) < 8 {
				return 0, false
			}
			return int64(binary.BigEndian.Uint64(v[:8])), true
		}
		from, to := q.From, q.To
		if to <= 0 {
			if q.Length <= 0 {
				obj.Parts, obj.PartsFrom, obj.PartsAt = nil, n, obj.Size
				return nil
			}
			// The last part starting at or before Offset holds it.
			missing := false
			from = sort.Search(n, func(i int) bool {
				at, ok := atOf(i)
				missing = missing || !ok
				return at > q.Offset
			}) - 1
			if missing {
				return store.ErrNoSuchVersion
			}
			from = max(from, 0)
			to = n
		}
		from, to = min(from, n), min(to, n)
		var parts []store.Part
		partsAt := int64(-1)
		c := bk.Cursor()
		i := from
		for k, v := c.Seek(partKeyOf(ek, from)); i < to; k, v = c.Next() {
			if k == nil || !bytes.Equal(k, partKeyOf(ek, i)) {
				return store.ErrNoSuchVersion // the version went (and its parts)
			}
			at, p, err := decodePart(v, k)
			if err != nil {
				return err
			}
			if q.To <= 0 && at >= q.Offset+q.Length {
				break
			}
			if partsAt < 0 {
				partsAt = at
			}
			parts = append(parts, p)
			i++
		}
		if partsAt < 0 {
			partsAt = obj.Size
		}
		obj.Parts, obj.PartsFrom, obj.PartsAt = parts, from, partsAt
		return nil
	})
}

// upgradeLayout converts records written before the parts and null
// indexes: parts moved out of records with more than inlineParts, null
// versions indexed (the index is rebuilt from scratch). It runs in one
// transaction, at open when the nulls bucket does not exist yet, and after
// a rebuild from the metadata log.
func upgradeLayout(tx *bolt.Tx) error {
	if err := tx.DeleteBucket(bNulls); err != nil && err != bolt.ErrBucketNotFound {
		return err
	}
	if _, err := tx.CreateBucket(bNulls); err != nil {
		return err
	}
	type rewrite struct{ k, v []byte }
	objsTop := tx.Bucket(bObjects)
	err := objsTop.ForEachBucket(func(name []byte) error {
		bucket := string(name)
		objs := objsTop.Bucket(name)
		var todo []rewrite
		err := objs.ForEach(func(k, v []byte) error {
			if len(k) < 9 {
				return nil
			}
			o, err := decodeObject(v, k)
			if err != nil {
				return err
			}
			if o.VersionID == store.NullVersion {
				nulls, err := nullsOf(tx, bucket)
				if err != nil {
					return err
				}
				if err := nulls.Put([]byte(o.Key), bytes.Clone(k)); err != nil {
					return err
				}
			}
			if len(o.Parts) > inlineParts {
				if err := writeParts(tx, bucket, k, o.Parts); err != nil {
					return err
				}
				o.PartCount, o.Parts = len(o.Parts), nil
				data, err := json.Marshal(o)
				if err != nil {
					return err
				}
				todo = append(todo, rewrite{bytes.Clone(k), data})
			}
			return nil
		})
		if err != nil {
			return err
		}
		for _, r := range todo {
			if err := objs.Put(r.k, r.v); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return err
	}
	hb := tx.Bucket(bHistory)
	if hb == nil {
		return nil
	}
	return hb.ForEachBucket(func(name []byte) error {
		hist := hb.Bucket(name)
		var todo []rewrite
		err := hist.ForEach(func(k, v []byte) error {
			var r histRec
			if err := decode(v, &r, "hidden version", k); err != nil {
				return err
			}
			if len(r.Obj.Parts) <= inlineParts {
				return nil
			}
			if err := writeParts(tx, string(name), k, r.Obj.Parts); err != nil {
				return err
			}
			r.Obj.PartCount, r.Obj.Parts = len(r.Obj.Parts), nil
			data, err := json.Marshal(r)
			if err != nil {
				return err
			}
			todo = append(todo, rewrite{bytes.Clone(k), data})
			return nil
		})
		if err != nil {
			return err
		}
		for _, r := range todo {
			if err := hist.Put(r.k, r.v); err != nil {
				return err
			}
		}
		return nil
	})
}

// partEntries returns the part records of every version of key (live or
// hidden) in b.
func partEntries(b *bolt.Bucket, key string) []KV {
	if b == nil {
		return nil
	}
	var out []KV
	pfx := keyPrefix(key)
	c := b.Cursor()
	for k, v := c.Seek(pfx); k != nil && bytes.HasPrefix(k, pfx); k, v = c.Next() {
		if len(k) == len(pfx)+12 {
			out = append(out, KV{K: bytes.Clone(k), V: bytes.Clone(v)})
		}
	}
	return out
}

// replaceParts replaces the part records of every version of key in
// bucket (a change from the metadata log).
func replaceParts(tx *bolt.Tx, bucket, key string, kvs []KV) error {
	top := tx.Bucket(bObjParts)
	bk := top.Bucket([]byte(bucket))
	if bk == nil {
		if len(kvs) == 0 {
			return nil
		}
		var err error
		if bk, err = top.CreateBucket([]byte(bucket)); err != nil {
			return err
		}
	}
	for _, old := range partEntries(bk, key) {
		if err := bk.Delete(old.K); err != nil {
			return err
		}
	}
	pfx := keyPrefix(key)
	for _, kv := range kvs {
		if len(kv.K) != len(pfx)+12 || !bytes.HasPrefix(kv.K, pfx) {
			return fmt.Errorf("part record %q is not one of key %q", kv.K, key)
		}
		if err := bk.Put(kv.K, kv.V); err != nil {
			return err
		}
	}
	return nil
}

// indexNulls sets the null index of key from its entries (a change from
// the metadata log).
func indexNulls(tx *bolt.Tx, bucket, key string, entries []KV) error {
	nulls, err := nullsOf(tx, bucket)
	if err != nil {
		return err
	}
	if err := nulls.Delete([]byte(key)); err != nil {
		return err
	}
	for _, kv := range entries {
		var o struct {
			VersionID string `json:"vid"`
		}
		if json.Unmarshal(kv.V, &o) == nil && o.VersionID == store.NullVersion {
			return nulls.Put([]byte(key), kv.K)
		}
	}
	return nil
}
