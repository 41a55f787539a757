package local

import (
	"context"
	"encoding/binary"
	"fmt"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/datdot/datdot/gateway/store"
)

// Reference counts and the delete queue (see store.MetaStore):
//
//	blobrefs:  blob id -> JSON blobRec (blobs that metadata references)
//	deleteq:   due (8 bytes, unix ns, big endian) id -> JSON store.BlobRef
//	deleteqid: blob id -> its deleteq key
//	deleting:  blob id -> JSON store.BlobRef (claimed, bytes being deleted)
var (
	bBlobRefs  = []byte("blobrefs")
	bQueue     = []byte("deleteq")
	bQueueIdx  = []byte("deleteqid")
	bDeleting  = []byte("deleting")
	refBuckets = [][]byte{bBlobRefs, bQueue, bQueueIdx, bDeleting}
)

type blobRec struct {
	N   int           `json:"n"`
	Ref store.BlobRef `json:"ref"`
}

func queueKey(due time.Time, id string) []byte {
	k := make([]byte, 8, 8+len(id))
	binary.BigEndian.PutUint64(k, uint64(due.UnixNano()))
	return append(k, id...)
}

func queueDue(k []byte) time.Time {
	return time.Unix(0, int64(binary.BigEndian.Uint64(k[:8])))
}

func getRec(tx *bolt.Tx, id string) (*blobRec, error) {
	v := tx.Bucket(bBlobRefs).Get([]byte(id))
	if v == nil {
		return nil, nil
	}
	var r blobRec
	if err := decode(v, &r, "blob reference count", []byte(id)); err != nil {
		return nil, err
	}
	return &r, nil
}

// unqueue removes id from the delete queue; it reports whether it was
// there.
func unqueue(tx *bolt.Tx, id string) (bool, error) {
	idx := tx.Bucket(bQueueIdx)
	qk := idx.Get([]byte(id))
	if qk == nil {
		return false, nil
	}
	if err := tx.Bucket(bQueue).Delete(qk); err != nil {
		return false, err
	}
	return true, idx.Delete([]byte(id))
}

func enqueue(tx *bolt.Tx, ref store.BlobRef, due time.Time) error {
	if _, err := unqueue(tx, ref.ID); err != nil {
		return err
	}
	qk := queueKey(due, ref.ID)
	if err := putJSON(tx.Bucket(bQueue), qk, ref); err != nil {
		return err
	}
	return tx.Bucket(bQueueIdx).Put([]byte(ref.ID), qk)
}

// FreshBlobs records a fresh blob (store.BlobRef.Fresh: committed by a
// BlobWriter without a pending record) in the transaction of the
// metadata commit that first references it, or refuses it with an error,
// which fails that commit. The network store records the blob's usage
// there; it refuses a blob of a volume that compaction works on.
type FreshBlobs func(tx *bolt.Tx, ref store.BlobRef) error

// SetFreshBlobs sets what records fresh blobs; nil (the default) makes
// a commit that references a fresh blob fail with store.ErrNoSuchBlob.
func (m *Meta) SetFreshBlobs(fn FreshBlobs) {
	if fn == nil {
		m.fresh.Store(nil)
		return
	}
	m.fresh.Store(&fn)
}

func (m *Meta) freshBlobs() FreshBlobs {
	if p := m.fresh.Load(); p != nil {
		return *p
	}
	return nil
}

// addRefs counts one reference for each part's blob. A blob seen for the
// first time must be pending on the delete queue, which it leaves, an
// inline blob carrying its bytes, which are stored, or a fresh blob
// that the reaper has not claimed, which fresh records.
func addRefs(tx *bolt.Tx, parts []store.Part, fresh FreshBlobs) error {
	for _, p := range parts {
		if p.Blob.ID == "" {
			continue
		}
		rec, err := getRec(tx, p.Blob.ID)
		if err != nil {
			return err
		}
		if rec == nil {
			if p.Blob.Inline {
				// A new inline blob: its bytes become durable with
				// this commit.
				if err := putInline(tx, p.Blob); err != nil {
					return err
				}
			} else {
				ok, err := unqueue(tx, p.Blob.ID)
				if err != nil {
					return err
				}
				switch {
				case ok:
				case p.Blob.Fresh && fresh != nil && tx.Bucket(bDeleting).Get([]byte(p.Blob.ID)) == nil:
					// A fresh blob the reaper has claimed is not
					// fresh: it is being deleted.
					if err := fresh(tx, p.Blob); err != nil {
						return err
					}
				default:
					return fmt.Errorf("local: blob %s: %w", p.Blob.ID, store.ErrNoSuchBlob)
				}
			}
			rec = &blobRec{Ref: p.Blob}
		}
		rec.N++
		if err := putJSON(tx.Bucket(bBlobRefs), []byte(p.Blob.ID), rec); err != nil {
			return err
		}
	}
	return nil
}

// dropRefs removes one reference for each part's blob and queues the
// blobs that lose their last one, returning them.
func dropRefs(tx *bolt.Tx, parts []store.Part) ([]store.BlobRef, error) {
	var freed []store.BlobRef
	now := time.Now()
	for _, p := range parts {
		if p.Blob.ID == "" {
			continue
		}
		rec, err := getRec(tx, p.Blob.ID)
		if err != nil {
			return nil, err
		}
		if rec == nil {
			return nil, fmt.Errorf("local: dropping a reference to blob %s, which has none", p.Blob.ID)
		}
		rec.N--
		if rec.N > 0 {
			if err := putJSON(tx.Bucket(bBlobRefs), []byte(p.Blob.ID), rec); err != nil {
				return nil, err
			}
			continue
		}
		if err := tx.Bucket(bBlobRefs).Delete([]byte(p.Blob.ID)); err != nil {
			return nil, err
		}
		if err := dropReloc(tx, p.Blob.ID); err != nil {
			return nil, err
		}
		// The queue keeps no key: once this commits, the blob's
		// wrapped key is in no live record (crypto-shredding).
		gone := rec.Ref
		gone.Crypt = nil
		if err := enqueue(tx, gone, now); err != nil {
			return nil, err
		}
		freed = append(freed, gone)
	}
	return freed, nil
}

// AddPending implements store.MetaStore. A group commit groups the pending
// records of concurrent writes into one commit.
func (m *Meta) AddPending(ctx context.Context, refs []store.BlobRef, due time.Time) error {
	return m.batch(ctx, func(tx *bolt.Tx) error {
		for _, r := range refs {
			if rec, err := getRec(tx, r.ID); err != nil || rec != nil {
				if err == nil {
					err = fmt.Errorf("local: pending blob %s is already referenced", r.ID)
				}
				return err
			}
			if err := enqueue(tx, r, due); err != nil {
				return err
			}
		}
		return nil
	})
}

// ClaimDeletes implements store.MetaStore.
func (m *Meta) ClaimDeletes(ctx context.Context, before time.Time, only []string, limit int, keep func(string) bool) (out []store.BlobRef, err error) {
	err = m.update(ctx, func(tx *bolt.Tx) error {
		out = nil
		q, idx, del := tx.Bucket(bQueue), tx.Bucket(bQueueIdx), tx.Bucket(bDeleting)
		claim := func(qk []byte, v []byte) error {
			var ref store.BlobRef
			if err := decode(v, &ref, "delete queue entry", qk); err != nil {
				return err
			}
			if err := q.Delete(qk); err != nil {
				return err
			}
			if err := idx.Delete([]byte(ref.ID)); err != nil {
				return err
			}
			out = append(out, ref)
			return del.Put([]byte(ref.ID), v)
		}
		if only != nil {
			for _, id := range only {
				qk := idx.Get([]byte(id))
				if qk == nil || queueDue(qk).After(before) || (keep != nil && keep(id)) {
					continue
				}
				qk = append([]byte(nil), qk...)
				if err := claim(qk, q.Get(qk)); err != nil {
					return err
				}
			}
			return nil
		}
		err := del.ForEach(func(k, v []byte) error {
			if len(out) >= limit {
				return nil
			}
			var ref store.BlobRef
			if err := decode(v, &ref, "deleting entry", k); err != nil {
				return err
			}
			out = append(out, ref)
			return nil
		})
		if err != nil {
			return err
		}
		var claims [][2][]byte
		c := q.Cursor()
		for k, v := c.First(); k != nil && len(out)+len(claims) < limit; k, v = c.Next() {
			if queueDue(k).After(before) {
				break
			}
			if keep != nil && keep(string(k[8:])) {
				continue
			}
			claims = append(claims, [2][]byte{append([]byte(nil), k...), append([]byte(nil), v...)})
		}
		for _, cl := range claims {
			if err := claim(cl[0], cl[1]); err != nil {
				return err
			}
		}
		return nil
	})
	return out, err
}

// FinishDeletes implements store.MetaStore.
func (m *Meta) FinishDeletes(ctx context.Context, ids []string) error {
	return m.batch(ctx, func(tx *bolt.Tx) error {
		for _, id := range ids {
			if err := tx.Bucket(bDeleting).Delete([]byte(id)); err != nil {
				return err
			}
		}
		return nil
	})
}

// countRefs builds the reference counts of a database written before they
// existed; it runs once, when the blobrefs bucket is created.
func countRefs(tx *bolt.Tx) error {
	var parts []store.Part
	err := tx.Bucket(bObjects).ForEachBucket(func(name []byte) error {
		return tx.Bucket(bObjects).Bucket(name).ForEach(func(k, v []byte) error {
			var o store.Object
			if err := decode(v, &o, "object", k); err != nil {
				return err
			}
			parts = append(parts, o.Parts...)
			return nil
		})
	})
	if err != nil {
		return err
	}
	err = tx.Bucket(bParts).ForEachBucket(func(name []byte) error {
		ps, err := readParts(tx, string(name))
		parts = append(parts, ps...)
		return err
	})
	if err != nil {
		return err
	}
	counts := map[string]*blobRec{}
	for _, p := range parts {
		if p.Blob.ID == "" {
			continue
		}
		if counts[p.Blob.ID] == nil {
			counts[p.Blob.ID] = &blobRec{Ref: p.Blob}
		}
		counts[p.Blob.ID].N++
	}
	for id, rec := range counts {
		if err := putJSON(tx.Bucket(bBlobRefs), []byte(id), rec); err != nil {
			return err
		}
	}
	return nil
}

// ReferencedBlobs calls fn, in tx (a transaction of the metadata
// database), with every blob the metadata references (objects, hidden
// versions, parts of uploads), once each, with the extents it has now
// (relocations applied). A store whose own records are derived from the
// metadata (the network store's usage records) rebuilds them from these.
func ReferencedBlobs(tx *bolt.Tx, fn func(store.BlobRef) error) error {
	b := tx.Bucket(bBlobRefs)
	if b == nil {
		return nil
	}
	return b.ForEach(func(k, v []byte) error {
		var r blobRec
		if err := decode(v, &r, "blob reference count", k); err != nil {
			return err
		}
		if r.Ref.ID == "" {
			r.Ref.ID = string(k)
		}
		return fn(r.Ref)
	})
}

// QueuedBlobs calls fn, in tx, with every blob on the delete queue or
// being deleted (freed, its bytes not yet removed: kept through the
// delete grace period), with the extents recorded when it was freed.
func QueuedBlobs(tx *bolt.Tx, fn func(store.BlobRef) error) error {
	for _, name := range [][]byte{bQueue, bDeleting} {
		b := tx.Bucket(name)
		if b == nil {
			continue
		}
		err := b.ForEach(func(k, v []byte) error {
			var ref store.BlobRef
			if err := decode(v, &ref, "queued blob", k); err != nil {
				return err
			}
			return fn(ref)
		})
		if err != nil {
			return err
		}
	}
	return nil
}

// ReferencedBlobsAfter is ReferencedBlobs for at most limit blobs whose
// ids sort after after ("" starts at the first): it returns the last id
// it called fn with and whether blobs are left after it, so that a
// caller can go through every referenced blob in transactions of its
// own (the metadata must not change in between).
func ReferencedBlobsAfter(tx *bolt.Tx, after string, limit int, fn func(store.BlobRef) error) (last string, more bool, err error) {
	b := tx.Bucket(bBlobRefs)
	if b == nil {
		return "", false, nil
	}
	c := b.Cursor()
	k, v := c.First()
	if after != "" {
		k, v = c.Seek([]byte(after))
		if k != nil && string(k) == after {
			k, v = c.Next()
		}
	}
	n := 0
	for ; k != nil; k, v = c.Next() {
		if n == limit {
			return last, true, nil
		}
		var r blobRec
		if err := decode(v, &r, "blob reference count", k); err != nil {
			return last, false, err
		}
		if r.Ref.ID == "" {
			r.Ref.ID = string(k)
		}
		if err := fn(r.Ref); err != nil {
			return last, false, err
		}
		last = string(k)
		n++
	}
	return last, false, nil
}
