package local

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/datdot/datdot/gateway/store"
)

// Hidden history (backups that survive an rm -rf): while a retention is
// set (SetHistoryRetention), every version that a commit removes from a
// bucket — a null version overwritten or deleted in an unversioned or
// suspended bucket, a version deleted by id — is moved here instead of
// being dropped. S3 clients never see it (ListObjectVersions reads only the
// objects bucket); its parts keep their blob references, so the Reaper
// keeps the bytes; ExpireHistory drops entries older than the retention,
// a bounded number per call. The operator lists it with History and
// brings a bucket back to a moment with RestoreAt.
//
//	history/<bucket>: entry key of the version (key 0x00 ^seq) -> JSON histRec
//	histexp:          retired (8 bytes, unix ns) bucket 0x00 entry key -> ""
//	histcfg:          "retention" -> int64 ns;  "bucket/"+name -> JSON store.Bucket
//	                  (the bucket's record as of its last retired version)
//
// These buckets are created by the first write that needs them.
var (
	bHistory = []byte("history")
	bHistExp = []byte("histexp")
	bHistCfg = []byte("histcfg")
)

var cfgRetention = []byte("retention")

type histRec struct {
	Obj     store.Object `json:"obj"`
	Retired time.Time    `json:"retired"`
}

// retention returns the history retention stored in tx (0: no history).
func retention(tx *bolt.Tx) time.Duration {
	cfg := tx.Bucket(bHistCfg)
	if cfg == nil {
		return 0
	}
	v := cfg.Get(cfgRetention)
	if len(v) != 8 {
		return 0
	}
	return time.Duration(binary.BigEndian.Uint64(v))
}

// retire is called by a commit that removes version e of a key from
// bucket. With a retention set it moves the version into the hidden
// history, where its parts keep their blob references, and returns true:
// the caller deletes the entry but must not drop the references. With no
// retention it returns false and the caller drops them as before.
func retire(tx *bolt.Tx, bucket string, e entry) (bool, error) {
	if retention(tx) <= 0 {
		return false, nil
	}
	now := time.Now().UTC()
	hist, err := tx.Bucket(bHistory).CreateBucketIfNotExists([]byte(bucket))
	if err != nil {
		return false, err
	}
	o := e.obj
	o.IsLatest = false
	if err := putJSON(hist, e.k, histRec{Obj: o, Retired: now}); err != nil {
		return false, err
	}
	exp, err := tx.CreateBucketIfNotExists(bHistExp)
	if err != nil {
		return false, err
	}
	if err := exp.Put(expKey(now, bucket, e.k), nil); err != nil {
		return false, err
	}
	if v := tx.Bucket(bBuckets).Get([]byte(bucket)); v != nil {
		if err := tx.Bucket(bHistCfg).Put([]byte("bucket/"+bucket), v); err != nil {
			return false, err
		}
	}
	return true, markTx(tx, MarkConfig, "", "")
}

func expKey(t time.Time, bucket string, k []byte) []byte {
	out := binary.BigEndian.AppendUint64(make([]byte, 0, 9+len(bucket)+len(k)), uint64(t.UnixNano()))
	out = append(out, bucket...)
	out = append(out, 0)
	return append(out, k...)
}

// ensureHistory creates the history buckets (in a write transaction).
func ensureHistory(tx *bolt.Tx) error {
	for _, n := range [][]byte{bHistory, bHistExp, bHistCfg} {
		if _, err := tx.CreateBucketIfNotExists(n); err != nil {
			return err
		}
	}
	return nil
}

// SetHistoryRetention sets how long removed versions are kept hidden
// (0 turns the history off for versions removed from now on; kept ones
// still expire by the last retention... and are expired by ExpireHistory
// at once when it is 0).
func (m *Meta) SetHistoryRetention(ctx context.Context, d time.Duration) error {
	if d < 0 {
		return fmt.Errorf("local: negative history retention %v", d)
	}
	return m.update(ctx, func(tx *bolt.Tx) error {
		if err := ensureHistory(tx); err != nil {
			return err
		}
		if err := tx.Bucket(bHistCfg).Put(cfgRetention, binary.BigEndian.AppendUint64(nil, uint64(d))); err != nil {
			return err
		}
		return markTx(tx, MarkConfig, "", "")
	})
}

// HistoryRetention returns the retention (0: no hidden history).
func (m *Meta) HistoryRetention(ctx context.Context) (d time.Duration, err error) {
	err = m.view(ctx, func(tx *bolt.Tx) error {
		d = retention(tx)
		return nil
	})
	return d, err
}

// ExpireHistory drops up to limit hidden versions retired longer than the
// retention before now (all of them when the retention is 0), oldest
// first — except versions that object lock still protects (a legal hold,
// or a retention until a later date), which stay until a retention after
// their lock ends — and returns how many it dropped and the blobs that lost their
// last reference (already on the delete queue). Each dropped key is marked
// in the metadata journal.
func (m *Meta) ExpireHistory(ctx context.Context, now time.Time, limit int) (n int, freed []store.BlobRef, err error) {
	err = m.update(ctx, func(tx *bolt.Tx) error {
		n, freed = 0, nil
		exp := tx.Bucket(bHistExp)
		if exp == nil {
			return nil
		}
		cutoff := now.Add(-retention(tx))
		var keys [][]byte
		c := exp.Cursor()
		for k, _ := c.First(); k != nil && len(keys) < limit; k, _ = c.Next() {
			if len(k) < 9 || time.Unix(0, int64(binary.BigEndian.Uint64(k[:8]))).After(cutoff) {
				break
			}
			keys = append(keys, append([]byte(nil), k...))
		}
		for _, k := range keys {
			if err := exp.Delete(k); err != nil {
				return err
			}
			bucket, ek, ok := bytes.Cut(k[8:], []byte{0})
			if !ok {
				continue
			}
			hist := tx.Bucket(bHistory).Bucket(bucket)
			if hist == nil {
				continue
			}
			v := hist.Get(ek)
			if v == nil {
				continue
			}
			var r histRec
			if err := decode(v, &r, "hidden version", ek); err != nil {
				return err
			}
			if r.Obj.Locked(now, false) {
				// Object lock outlives the history's retention: the
				// version is kept until its retention ends (a retention
				// later, like a version retired then).
				until := now
				if r.Obj.Retention.Active(now) {
					until = r.Obj.Retention.Until
				}
				if err := exp.Put(expKey(until, string(bucket), ek), nil); err != nil {
					return err
				}
				continue
			}
			parts, err := entryParts(tx, string(bucket), ek, &r.Obj)
			if err != nil {
				return err
			}
			f, err := dropRefs(tx, parts)
			if err != nil {
				return err
			}
			freed = append(freed, f...)
			if err := deleteParts(tx, string(bucket), ek, &r.Obj); err != nil {
				return err
			}
			if err := hist.Delete(ek); err != nil {
				return err
			}
			if err := markTx(tx, MarkKey, string(bucket), splitEntry(ek)); err != nil {
				return err
			}
			n++
		}
		return nil
	})
	return n, freed, err
}

// Version is one version of an object as the operator sees it: a current
// S3 version, or a hidden one (Retired is when it was removed).
type Version struct {
	store.Object
	Hidden  bool
	Retired time.Time
	seq     uint64
	k       []byte
}

func entrySeq(k []byte) uint64 { return ^binary.BigEndian.Uint64(k[len(k)-8:]) }

// keyVersions returns every version of key, live and hidden, newest
// (highest sequence) first.
func keyVersions(tx *bolt.Tx, bucket, key string) ([]Version, error) {
	var out []Version
	pfx := keyPrefix(key)
	if objs := tx.Bucket(bObjects).Bucket([]byte(bucket)); objs != nil {
		c := objs.Cursor()
		first := true
		for k, v := c.Seek(pfx); k != nil && bytes.HasPrefix(k, pfx) && len(k) == len(pfx)+8; k, v = c.Next() {
			o, err := decodeObject(v, k)
			if err != nil {
				return nil, err
			}
			if o.Parts, err = entryParts(tx, bucket, k, &o); err != nil {
				return nil, err
			}
			o.IsLatest = first
			first = false
			out = append(out, Version{Object: o, seq: entrySeq(k), k: append([]byte(nil), k...)})
		}
	}
	if hb := tx.Bucket(bHistory); hb != nil {
		if hist := hb.Bucket([]byte(bucket)); hist != nil {
			c := hist.Cursor()
			for k, v := c.Seek(pfx); k != nil && bytes.HasPrefix(k, pfx) && len(k) == len(pfx)+8; k, v = c.Next() {
				var r histRec
				if err := decode(v, &r, "hidden version", k); err != nil {
					return nil, err
				}
				finishRead(&r.Obj, key, k)
				parts, err := entryParts(tx, bucket, k, &r.Obj)
				if err != nil {
					return nil, err
				}
				r.Obj.Parts = parts
				out = append(out, Version{Object: r.Obj, Hidden: true, Retired: r.Retired, seq: entrySeq(k), k: append([]byte(nil), k...)})
			}
		}
	}
	slices.SortStableFunc(out, func(a, b Version) int {
		switch {
		case a.seq > b.seq:
			return -1
		case a.seq < b.seq:
			return 1
		}
		return 0
	})
	return out, nil
}

// nextKeys returns up to n distinct keys with prefix, greater than after,
// that have live or hidden versions in bucket, in order.
func nextKeys(tx *bolt.Tx, bucket, prefix, after string, n int) []string {
	var cursors []*bolt.Cursor
	if objs := tx.Bucket(bObjects).Bucket([]byte(bucket)); objs != nil {
		cursors = append(cursors, objs.Cursor())
	}
	if hb := tx.Bucket(bHistory); hb != nil {
		if hist := hb.Bucket([]byte(bucket)); hist != nil {
			cursors = append(cursors, hist.Cursor())
		}
	}
	seen := map[string]bool{}
	var keys []string
	for _, c := range cursors {
		got := 0
		for k, _ := c.Seek(seekStart(prefix, after)); k != nil && got < n; {
			key := splitEntry(k)
			if !strings.HasPrefix(key, prefix) {
				break
			}
			if !seen[key] {
				seen[key] = true
				keys = append(keys, key)
			}
			got++
			k, _ = c.Seek([]byte(key + "\x01"))
		}
	}
	slices.Sort(keys)
	if len(keys) > n {
		keys = keys[:n]
	}
	return keys
}

// History returns the versions of keys with prefix in bucket, live and
// hidden, keys in order and newest first within a key, starting after
// key after; at most limit keys.
func (m *Meta) History(ctx context.Context, bucket, prefix, after string, limit int) (out []Version, next string, err error) {
	err = m.view(ctx, func(tx *bolt.Tx) error {
		out, next = nil, ""
		keys := nextKeys(tx, bucket, prefix, after, limit+1)
		if len(keys) > limit {
			keys, next = keys[:limit], keys[limit-1]
		}
		if len(keys) == 0 {
			if _, err := getBucket(tx, bucket); err != nil && !hasHistory(tx, bucket) {
				return err
			}
		}
		for _, k := range keys {
			vs, err := keyVersions(tx, bucket, k)
			if err != nil {
				return err
			}
			out = append(out, vs...)
		}
		return nil
	})
	return out, next, err
}

func hasHistory(tx *bolt.Tx, bucket string) bool {
	hb := tx.Bucket(bHistory)
	return hb != nil && hb.Bucket([]byte(bucket)) != nil
}

// RestoreStats counts what RestoreAt did.
type RestoreStats struct {
	Keys      int // keys looked at
	Restored  int // keys given back the version they had at the moment
	Deleted   int // keys that did not exist at the moment, deleted now
	Unchanged int
}

// stateAt returns the version of a key that was current at moment at:
// among the versions written at or before at and not yet removed then,
// the newest. nil means the key did not exist (or was a delete marker).
func stateAt(vs []Version, at time.Time) *Version {
	for i := range vs {
		v := &vs[i]
		if v.Modified.After(at) {
			continue
		}
		if v.Hidden && !v.Retired.After(at) {
			continue
		}
		if v.DeleteMarker {
			return nil
		}
		return v
	}
	return nil
}

func sameContent(a, b *store.Object) bool {
	if a.ETag != b.ETag || a.Size != b.Size || len(a.Parts) != len(b.Parts) {
		return false
	}
	for i := range a.Parts {
		if a.Parts[i].Blob.ID != b.Parts[i].Blob.ID || a.Parts[i].Offset != b.Parts[i].Offset || a.Parts[i].Size != b.Parts[i].Size {
			return false
		}
	}
	return true
}

// restoreBatch is how many keys one RestoreAt transaction handles.
const restoreBatch = 256

// RestoreAt brings the keys with prefix of bucket back to what they were
// at moment at, as new current versions: a key whose version then differs
// from its current one gets a copy of that version (sharing its blobs),
// and a key that did not exist then is deleted as a client's DELETE would
// (a delete marker, or, in an unversioned bucket, its null version moved
// to the hidden history). Nothing is destroyed: what is current now stays
// as an older or hidden version. A bucket that was deleted is created
// again from its last record. It works in transactions of restoreBatch
// keys, each marked in the journal, and returns blobs freed (only when a
// bucket keeps no history).
func (m *Meta) RestoreAt(ctx context.Context, bucket, prefix string, at time.Time) (st RestoreStats, freed []store.BlobRef, err error) {
	if err := m.recreateBucket(ctx, bucket); err != nil {
		return st, nil, err
	}
	after := ""
	for {
		var done bool
		var batch RestoreStats
		var bf []store.BlobRef
		err := m.update(ctx, func(tx *bolt.Tx) error {
			batch, bf, done = RestoreStats{}, nil, false
			objs, b, err := objectsOf(tx, bucket)
			if err != nil {
				return err
			}
			keys := nextKeys(tx, bucket, prefix, after, restoreBatch)
			if len(keys) < restoreBatch {
				done = true
			}
			now := time.Now().UTC()
			for _, key := range keys {
				after = key
				batch.Keys++
				vs, err := keyVersions(tx, bucket, key)
				if err != nil {
					return err
				}
				want := stateAt(vs, at)
				var cur *Version
				if len(vs) > 0 && !vs[0].Hidden && !vs[0].DeleteMarker {
					cur = &vs[0]
				}
				switch {
				case want == nil && cur == nil:
					batch.Unchanged++
					continue
				case want != nil && cur != nil && sameContent(&want.Object, &cur.Object):
					batch.Unchanged++
					continue
				case want == nil:
					f, err := deleteCurrent(tx, objs, b, key, now)
					if err != nil {
						return err
					}
					bf = append(bf, f...)
					batch.Deleted++
				default:
					o := want.Object
					o.Modified, o.IsLatest, o.UploadID, o.VersionID = now, false, "", ""
					f, err := putVersion(tx, objs, b, &o, nil, nil)
					if err != nil {
						return err
					}
					bf = append(bf, f...)
					batch.Restored++
				}
				if err := markTx(tx, MarkKey, bucket, key); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			return st, freed, err
		}
		st.Keys += batch.Keys
		st.Restored += batch.Restored
		st.Deleted += batch.Deleted
		st.Unchanged += batch.Unchanged
		freed = append(freed, bf...)
		if done {
			return st, freed, nil
		}
	}
}

// deleteCurrent deletes a key's current version as DeleteObject with no
// version id does.
func deleteCurrent(tx *bolt.Tx, objs *bolt.Bucket, b store.Bucket, key string, now time.Time) ([]store.BlobRef, error) {
	if b.Versioning != store.VersioningOff {
		marker := store.Object{Key: key, DeleteMarker: true, Modified: now}
		return putVersion(tx, objs, b, &marker, nil, nil)
	}
	e, ok, err := nullEntry(tx, objs, b.Name, key)
	if err != nil || !ok {
		return nil, err
	}
	freed, err := dropVersion(tx, objs, b.Name, e)
	if err != nil {
		return nil, err
	}
	return freed, addUsage(tx, b.Name, -e.obj.Size)
}

// historySeq returns the highest sequence of bucket's hidden versions.
func historySeq(tx *bolt.Tx, bucket string) uint64 {
	var seq uint64
	if hist := subBucket(tx, bHistory, bucket); hist != nil {
		hist.ForEach(func(k, _ []byte) error {
			if len(k) >= 9 {
				seq = max(seq, entrySeq(k))
			}
			return nil
		})
	}
	return seq
}

// recreateBucket creates bucket again from the record the history kept,
// if it was deleted.
func (m *Meta) recreateBucket(ctx context.Context, bucket string) error {
	return m.update(ctx, func(tx *bolt.Tx) error {
		if _, err := getBucket(tx, bucket); err == nil {
			return nil
		}
		cfg := tx.Bucket(bHistCfg)
		var rec []byte
		if cfg != nil {
			rec = cfg.Get([]byte("bucket/" + bucket))
		}
		if rec == nil {
			return store.ErrNoSuchBucket
		}
		var b store.Bucket
		if err := json.Unmarshal(rec, &b); err != nil {
			return fmt.Errorf("local: kept record of bucket %q: %w", bucket, err)
		}
		objs, err := tx.Bucket(bObjects).CreateBucketIfNotExists([]byte(bucket))
		if err != nil {
			return err
		}
		// New versions must sort above the hidden ones.
		if seq := historySeq(tx, bucket); objs.Sequence() < seq {
			if err := objs.SetSequence(seq); err != nil {
				return err
			}
		}
		if _, err := tx.Bucket(bUploads).CreateBucketIfNotExists([]byte(bucket)); err != nil {
			return err
		}
		if err := putJSON(tx.Bucket(bBuckets), []byte(bucket), b); err != nil {
			return err
		}
		return markTx(tx, MarkBucket, bucket, "")
	})
}
