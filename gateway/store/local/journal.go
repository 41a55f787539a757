package local

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"

	bolt "go.etcd.io/bbolt"

	"github.com/datdot/datdot/gateway/store"
)

// The metadata journal: which buckets and keys changed since their state
// was last shipped to the metadata log (gateway/metalog).
//
//	journal: kind ('k' key, 'b' bucket) bucket 0x00 key -> counter (8 bytes)
//
// A mark is written durably before (or in the same transaction as) the
// change it announces; the log writer reads marks together with the
// current state of what they name in one read transaction, ships that
// state, and then deletes each mark whose counter is unchanged. A mark
// made again meanwhile stays, so its newer state is shipped next time.
// Shipping a state twice is harmless: a change replaces the whole state of
// a key or bucket.
var bJournal = []byte("journal")

// Mark kinds.
const (
	MarkKey    byte = 'k'
	MarkBucket byte = 'b'
	// MarkConfig names the history configuration (histcfg).
	MarkConfig byte = 'c'
)

// Mark names a bucket (Key ignored) or a key of a bucket that changed.
type Mark struct {
	Kind   byte
	Bucket string
	Key    string
}

func markKey(kind byte, bucket, key string) []byte {
	k := make([]byte, 0, 2+len(bucket)+len(key))
	k = append(k, kind)
	k = append(k, bucket...)
	k = append(k, 0)
	return append(k, key...)
}

func parseMark(k []byte) (Mark, bool) {
	if len(k) < 2 {
		return Mark{}, false
	}
	b, key, ok := bytes.Cut(k[1:], []byte{0})
	return Mark{Kind: k[0], Bucket: string(b), Key: string(key)}, ok
}

func markTx(tx *bolt.Tx, kind byte, bucket, key string) error {
	j, err := tx.CreateBucketIfNotExists(bJournal)
	if err != nil {
		return err
	}
	n, err := j.NextSequence()
	if err != nil {
		return err
	}
	return j.Put(markKey(kind, bucket, key), binary.BigEndian.AppendUint64(nil, n))
}

// Mark records durably that marks are about to change (a group commit
// groups concurrent calls into one commit).
func (m *Meta) Mark(ctx context.Context, marks []Mark) error {
	return m.batch(ctx, func(tx *bolt.Tx) error {
		for _, mk := range marks {
			if err := markTx(tx, mk.Kind, mk.Bucket, mk.Key); err != nil {
				return err
			}
		}
		return nil
	})
}

// KV is one raw database entry.
type KV struct {
	K []byte `json:"k"`
	V []byte `json:"v,omitempty"`
}

// Change is the whole current state of what a mark names: a bucket's
// record (nil: the bucket is gone), a key's entries (its versions, and its
// hidden versions), or the history configuration.
type Change struct {
	Kind   byte   `json:"t"`
	Bucket string `json:"b,omitempty"`
	Key    string `json:"k,omitempty"`
	Record []byte `json:"r,omitempty"`
	// Entries are the key's versions, Hidden its hidden versions, as
	// stored (entry key, JSON record); Config the histcfg entries.
	Entries []KV `json:"e,omitempty"`
	Hidden  []KV `json:"h,omitempty"`
	// Parts are the part records of those versions (and hidden versions)
	// that keep their parts apart (parts.go); see DecodePartRecord.
	Parts []KV `json:"p,omitempty"`
}

// Size is roughly the encoded size of c.
func (c *Change) Size() int {
	n := 16 + len(c.Bucket) + len(c.Key) + len(c.Record)
	for _, kv := range c.Entries {
		n += len(kv.K) + len(kv.V) + 8
	}
	for _, kv := range c.Hidden {
		n += len(kv.K) + len(kv.V) + 8
	}
	for _, kv := range c.Parts {
		n += len(kv.K) + len(kv.V) + 8
	}
	return n
}

// JournalBatch is a set of changes taken from the journal.
type JournalBatch struct {
	Changes []Change
	// Seq is the journal's sequence when the batch was read: every mark
	// made before (counter <= Seq) is in the batch, or was cleared
	// before, unless the batch stopped at its limit or maxBytes.
	Seq   uint64
	marks [][2][]byte // mark key, counter
}

func prefixEntries(b *bolt.Bucket, key string) []KV {
	if b == nil {
		return nil
	}
	var out []KV
	pfx := keyPrefix(key)
	c := b.Cursor()
	for k, v := c.Seek(pfx); k != nil && bytes.HasPrefix(k, pfx) && len(k) == len(pfx)+8; k, v = c.Next() {
		out = append(out, KV{K: bytes.Clone(k), V: bytes.Clone(v)})
	}
	return out
}

func subBucket(tx *bolt.Tx, top []byte, name string) *bolt.Bucket {
	t := tx.Bucket(top)
	if t == nil {
		return nil
	}
	return t.Bucket([]byte(name))
}

func changeOf(tx *bolt.Tx, mk Mark) Change {
	c := Change{Kind: mk.Kind, Bucket: mk.Bucket, Key: mk.Key}
	switch mk.Kind {
	case MarkBucket:
		c.Record = bytes.Clone(tx.Bucket(bBuckets).Get([]byte(mk.Bucket)))
	case MarkKey:
		c.Entries = prefixEntries(subBucket(tx, bObjects, mk.Bucket), mk.Key)
		c.Hidden = prefixEntries(subBucket(tx, bHistory, mk.Bucket), mk.Key)
		c.Parts = partEntries(subBucket(tx, bObjParts, mk.Bucket), mk.Key)
	case MarkReloc:
		return relocChange(tx, mk.Key)
	case MarkConfig:
		if cfg := tx.Bucket(bHistCfg); cfg != nil {
			cfg.ForEach(func(k, v []byte) error {
				c.Entries = append(c.Entries, KV{K: bytes.Clone(k), V: bytes.Clone(v)})
				return nil
			})
		}
	}
	return c
}

// TakeJournal reads up to limit marks, or fewer once maxBytes of state is
// taken, with the current state of what they name, in one read
// transaction. begun, if not nil, is called as soon as that transaction
// has started (its snapshot is fixed).
func (m *Meta) TakeJournal(ctx context.Context, limit, maxBytes int, begun func()) (*JournalBatch, error) {
	if err := ctx.Err(); err != nil {
		if begun != nil {
			begun()
		}
		return nil, err
	}
	out := &JournalBatch{}
	err := m.db.View(func(tx *bolt.Tx) error {
		if begun != nil {
			begun()
			begun = nil
		}
		j := tx.Bucket(bJournal)
		if j == nil {
			return nil
		}
		out.Seq = j.Sequence()
		size := 0
		c := j.Cursor()
		for k, v := c.First(); k != nil && len(out.Changes) < limit && size < maxBytes; k, v = c.Next() {
			mk, ok := parseMark(k)
			if !ok {
				return fmt.Errorf("local: bad journal mark %q", k)
			}
			ch := changeOf(tx, mk)
			size += ch.Size()
			out.Changes = append(out.Changes, ch)
			out.marks = append(out.marks, [2][]byte{bytes.Clone(k), bytes.Clone(v)})
		}
		return nil
	})
	if begun != nil {
		begun()
	}
	return out, err
}

// ClearJournal deletes the marks of b that were not made again since b
// was taken.
func (m *Meta) ClearJournal(ctx context.Context, b *JournalBatch) error {
	if len(b.marks) == 0 {
		return nil
	}
	return m.update(ctx, func(tx *bolt.Tx) error {
		j := tx.Bucket(bJournal)
		if j == nil {
			return nil
		}
		for _, mk := range b.marks {
			if bytes.Equal(j.Get(mk[0]), mk[1]) {
				if err := j.Delete(mk[0]); err != nil {
					return err
				}
			}
		}
		return nil
	})
}

// JournalSeq returns the journal's sequence: every mark made so far has a
// counter of at most it (0: none was ever made).
func (m *Meta) JournalSeq(ctx context.Context) (seq uint64, err error) {
	err = m.view(ctx, func(tx *bolt.Tx) error {
		if j := tx.Bucket(bJournal); j != nil {
			seq = j.Sequence()
		}
		return nil
	})
	return seq, err
}

// JournalLen counts the marks not yet shipped.
func (m *Meta) JournalLen(ctx context.Context) (n int, err error) {
	err = m.view(ctx, func(tx *bolt.Tx) error {
		if j := tx.Bucket(bJournal); j != nil {
			n = j.Stats().KeyN
		}
		return nil
	})
	return n, err
}

// Snapshot calls fn with the whole state, as changes, from one read
// transaction: the history configuration, every bucket, then every key
// with versions or hidden versions, bucket by bucket. Multipart uploads in
// progress are not part of it.
func (m *Meta) Snapshot(ctx context.Context, fn func(Change) error) error {
	return m.view(ctx, func(tx *bolt.Tx) error {
		if err := fn(changeOf(tx, Mark{Kind: MarkConfig})); err != nil {
			return err
		}
		if err := snapshotRelocs(tx, fn); err != nil {
			return err
		}
		names := map[string]bool{}
		err := tx.Bucket(bBuckets).ForEach(func(k, v []byte) error {
			names[string(k)] = true
			return fn(Change{Kind: MarkBucket, Bucket: string(k), Record: bytes.Clone(v)})
		})
		if err != nil {
			return err
		}
		if hb := tx.Bucket(bHistory); hb != nil {
			hb.ForEachBucket(func(k []byte) error { names[string(k)] = true; return nil })
		}
		for name := range names {
			after := ""
			for {
				if err := ctx.Err(); err != nil {
					return err
				}
				keys := nextKeys(tx, name, "", after, 512)
				for _, key := range keys {
					if err := fn(changeOf(tx, Mark{Kind: MarkKey, Bucket: name, Key: key})); err != nil {
						return err
					}
					after = key
				}
				if len(keys) < 512 {
					break
				}
			}
		}
		return nil
	})
}

// ErrNotEmpty: a rebuild needs a database with no buckets.
var ErrNotEmpty = errors.New("local: the metadata database is not empty")

// ApplyChanges writes changes (from a snapshot or the log, in order) into
// the database in one transaction: each replaces the whole state of what
// it names. It is for rebuilding a database from the metadata log; call
// FinishRebuild after the last one.
func (m *Meta) ApplyChanges(ctx context.Context, changes []Change) error {
	return m.update(ctx, func(tx *bolt.Tx) error {
		if err := ensureHistory(tx); err != nil {
			return err
		}
		for _, c := range changes {
			if err := applyChange(tx, c); err != nil {
				return fmt.Errorf("local: apply %c %q %q: %w", c.Kind, c.Bucket, c.Key, err)
			}
		}
		return nil
	})
}

func replaceEntries(top *bolt.Bucket, bucket, key string, kvs []KV) error {
	sub := top.Bucket([]byte(bucket))
	if sub == nil {
		if len(kvs) == 0 {
			return nil
		}
		var err error
		if sub, err = top.CreateBucket([]byte(bucket)); err != nil {
			return err
		}
	}
	for _, old := range prefixEntries(sub, key) {
		if err := sub.Delete(old.K); err != nil {
			return err
		}
	}
	pfx := keyPrefix(key)
	for _, kv := range kvs {
		if len(kv.K) != len(pfx)+8 || !bytes.HasPrefix(kv.K, pfx) {
			return fmt.Errorf("entry %q is not an entry of key %q", kv.K, key)
		}
		if err := sub.Put(kv.K, kv.V); err != nil {
			return err
		}
	}
	return nil
}

func applyChange(tx *bolt.Tx, c Change) error {
	switch c.Kind {
	case MarkConfig:
		cfg := tx.Bucket(bHistCfg)
		for _, kv := range c.Entries {
			if err := cfg.Put(kv.K, kv.V); err != nil {
				return err
			}
		}
		return nil
	case MarkBucket:
		if c.Record == nil {
			if err := tx.Bucket(bBuckets).Delete([]byte(c.Bucket)); err != nil {
				return err
			}
			tops := [][]byte{bObjects, bUploads, bNulls}
			if !hasHistory(tx, c.Bucket) {
				tops = append(tops, bObjParts)
			}
			for _, top := range tops {
				if t := tx.Bucket(top); t != nil && t.Bucket([]byte(c.Bucket)) != nil {
					if err := t.DeleteBucket([]byte(c.Bucket)); err != nil {
						return err
					}
				}
			}
			return nil
		}
		for _, top := range [][]byte{bObjects, bUploads} {
			if _, err := tx.Bucket(top).CreateBucketIfNotExists([]byte(c.Bucket)); err != nil {
				return err
			}
		}
		return tx.Bucket(bBuckets).Put([]byte(c.Bucket), c.Record)
	case MarkKey:
		if err := replaceEntries(tx.Bucket(bObjects), c.Bucket, c.Key, c.Entries); err != nil {
			return err
		}
		if err := replaceEntries(tx.Bucket(bHistory), c.Bucket, c.Key, c.Hidden); err != nil {
			return err
		}
		if err := replaceParts(tx, c.Bucket, c.Key, c.Parts); err != nil {
			return err
		}
		return indexNulls(tx, c.Bucket, c.Key, c.Entries)
	case MarkReloc:
		return applyReloc(tx, c)
	default:
		return fmt.Errorf("unknown change kind %q", c.Kind)
	}
}

// FinishRebuild completes a database written by ApplyChanges: it counts
// the blob references of every version and hidden version, indexes the
// hidden versions for expiry, and sets each bucket's version sequence
// above every sequence in use.
func (m *Meta) FinishRebuild(ctx context.Context) error {
	return m.update(ctx, func(tx *bolt.Tx) error {
		if err := ensureHistory(tx); err != nil {
			return err
		}
		counts := map[string]*blobRec{}
		count := func(parts []store.Part) {
			for _, p := range parts {
				if p.Blob.ID == "" {
					continue
				}
				if counts[p.Blob.ID] == nil {
					counts[p.Blob.ID] = &blobRec{Ref: p.Blob}
				}
				counts[p.Blob.ID].N++
			}
		}
		err := tx.Bucket(bObjParts).ForEachBucket(func(name []byte) error {
			return tx.Bucket(bObjParts).Bucket(name).ForEach(func(k, v []byte) error {
				_, p, err := decodePart(v, k)
				if err != nil {
					return err
				}
				count([]store.Part{p})
				return nil
			})
		})
		if err != nil {
			return err
		}
		maxSeq := map[string]uint64{}
		err = tx.Bucket(bObjects).ForEachBucket(func(name []byte) error {
			return tx.Bucket(bObjects).Bucket(name).ForEach(func(k, v []byte) error {
				var o store.Object
				if err := decode(v, &o, "object", k); err != nil {
					return err
				}
				count(o.Parts)
				if len(k) >= 9 {
					maxSeq[string(name)] = max(maxSeq[string(name)], entrySeq(k))
				}
				return nil
			})
		})
		if err != nil {
			return err
		}
		exp := tx.Bucket(bHistExp)
		err = tx.Bucket(bHistory).ForEachBucket(func(name []byte) error {
			return tx.Bucket(bHistory).Bucket(name).ForEach(func(k, v []byte) error {
				var r histRec
				if err := decode(v, &r, "hidden version", k); err != nil {
					return err
				}
				count(r.Obj.Parts)
				if len(k) >= 9 {
					maxSeq[string(name)] = max(maxSeq[string(name)], entrySeq(k))
				}
				return exp.Put(expKey(r.Retired, string(name), k), nil)
			})
		})
		if err != nil {
			return err
		}
		refs := tx.Bucket(bBlobRefs)
		if err := refs.ForEach(func(k, _ []byte) error { return errors.New("not empty") }); err != nil {
			return fmt.Errorf("%w: blob references exist", ErrNotEmpty)
		}
		if err := relocateCounts(tx, counts); err != nil {
			return err
		}
		for id, rec := range counts {
			if err := putJSON(refs, []byte(id), rec); err != nil {
				return err
			}
		}
		// The per-bucket usage counts (per-account limits) are derived
		// state: count them again from the rebuilt versions and uploads.
		if err := tx.DeleteBucket(bUsage); err != nil && !errors.Is(err, bolt.ErrBucketNotFound) {
			return err
		}
		if _, err := tx.CreateBucket(bUsage); err != nil {
			return err
		}
		if err := countUsage(tx); err != nil {
			return err
		}
		for name, seq := range maxSeq {
			objs := tx.Bucket(bObjects).Bucket([]byte(name))
			if objs != nil && objs.Sequence() < seq {
				if err := objs.SetSequence(seq); err != nil {
					return err
				}
			}
		}
		// Records of frames written before parts were stored apart are
		// split now; the null index is built again.
		return upgradeLayout(tx)
	})
}

// Empty reports whether the database holds no bucket, version or hidden
// version (a rebuild target).
func (m *Meta) Empty(ctx context.Context) (empty bool, err error) {
	err = m.view(ctx, func(tx *bolt.Tx) error {
		k, _ := tx.Bucket(bBuckets).Cursor().First()
		empty = k == nil
		if hb := tx.Bucket(bHistory); hb != nil && empty {
			k, _ := hb.Cursor().First()
			empty = k == nil
		}
		return nil
	})
	return empty, err
}
